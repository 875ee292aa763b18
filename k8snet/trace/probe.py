"""The trace's probe: run inside the source's network namespace.

``python3 -m k8snet.trace.probe`` reads one JSON request on stdin and prints
one JSON answer:

- ``{"action": "resolve", "name": "web", "resolv_conf": "/etc/resolv.conf"}``
  walks the resolver's search path as glibc does (``ndots``: a name with
  fewer dots than ndots is tried with each search domain first), sending A
  queries (dnslib wire format) to the first nameserver from a fixed source
  port; answers ``{"server": ip, "sport": n, "tries": [{"name", "rcode",
  "answers"}], "address": ip or null}``.
- ``{"action": "connect", "ip", "port", "protocol": "TCP"|"UDP", "sport",
  "http": {"host", "path"} or null, "timeout"}`` makes one real connection
  from source port ``sport``; answers ``{"connected", "error", "reply"}``
  where ``reply`` is the first line the server sent (the built-in server's
  ``/hostname`` names the pod that answered).  To port 53 it sends a DNS
  query instead (``DNS NOERROR kubernetes.default.svc.cluster.local A
  10.96.0.1``); ``connected`` is the TCP handshake, or any UDP reply.

Sources: resolv.conf(5) for the search path and ndots; RFC 1035 4.2 (DNS
over UDP, and over TCP with a two-byte length).
"""
from __future__ import annotations

import json
import socket
import sys

from dnslib import QTYPE, RCODE, DNSError, DNSRecord

RECV = 4096
DNS_PORT = 53
DNS_NAME = "kubernetes.default.svc.cluster.local"


def read_resolv_conf(path: str) -> tuple[list[str], list[str], int]:
    """``(nameservers, search domains, ndots)`` from a resolv.conf."""
    servers, search, ndots = [], [], 1
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return servers, search, ndots
    for line in lines:
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            for opt in words[1:]:
                if opt.startswith("ndots:") and opt[6:].isdigit():
                    ndots = min(int(opt[6:]), 15)      # "silently capped to 15"
    return servers, search, ndots


def candidates(name: str, search: list[str], ndots: int) -> list[str]:
    """The names the resolver tries, in order (resolv.conf(5))."""
    if name.endswith("."):
        return [name.rstrip(".")]
    searched = [f"{name}.{domain}" for domain in search]
    if name.count(".") >= ndots:
        return [name, *searched]
    return [*searched, name]


def resolve(req: dict) -> dict:
    servers, search, ndots = read_resolv_conf(req.get("resolv_conf", "/etc/resolv.conf"))
    if not servers:
        return {"error": "no nameserver in resolv.conf", "tries": [], "address": None}
    server = servers[0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", int(req.get("sport", 0))))
    sock.settimeout(float(req.get("timeout", 2.0)))
    tries, address = [], None
    try:
        for cand in candidates(req["name"], search, ndots):
            query = DNSRecord.question(cand, "A")
            sock.sendto(query.pack(), (server, 53))
            try:
                reply = DNSRecord.parse(sock.recv(RECV))
            except (TimeoutError, OSError) as exc:
                tries.append({"name": cand, "rcode": f"no answer ({exc})", "answers": []})
                continue
            answers = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
            tries.append({"name": cand, "rcode": RCODE.get(reply.header.rcode),
                          "answers": answers})
            if answers:
                address = answers[0]
                break
    finally:
        sport = sock.getsockname()[1]
        sock.close()
    return {"server": server, "sport": sport, "tries": tries, "address": address}


def _dns_query(tcp: bool) -> bytes:
    """An A query for the API server's Service, framed for UDP or TCP (RFC 1035 4.2.2)."""
    wire = DNSRecord.question(DNS_NAME, "A").pack()
    return len(wire).to_bytes(2, "big") + wire if tcp else wire


def _dns_answer(data: bytes, tcp: bool) -> str:
    reply = DNSRecord.parse(data[2:] if tcp else data)
    answers = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
    return f"DNS {RCODE.get(reply.header.rcode)} {DNS_NAME} A {' '.join(answers) or '-'}"


def connect(req: dict) -> dict:
    """One connection; to port 53 a DNS query (a DNS server ignores anything
    else), to another TCP port an HTTP GET, to a UDP port ``hostname``.
    ``connected``: the TCP handshake completed, or a UDP reply came."""
    proto = req.get("protocol", "TCP").upper()
    kind = socket.SOCK_STREAM if proto == "TCP" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.settimeout(float(req.get("timeout", 1.0)))
    out: dict = {"connected": False, "error": "", "reply": ""}
    dns = int(req["port"]) == DNS_PORT
    try:
        sock.bind(("0.0.0.0", int(req["sport"])))
        sock.connect((req["ip"], int(req["port"])))
        out["connected"] = proto == "TCP"
        http = req.get("http")
        if dns:
            sock.sendall(_dns_query(proto == "TCP"))
        elif proto == "UDP":
            sock.send(b"hostname\n")
        elif http:
            sock.sendall(f"GET {http['path']} HTTP/1.0\r\nHost: {http['host']}\r\n"
                         "User-Agent: k8snet-trace\r\n\r\n".encode())
        if proto == "UDP" or http or dns:
            data = sock.recv(RECV)
            while dns and proto == "TCP" and len(data) < 2 + int.from_bytes(data[:2], "big"):
                more = sock.recv(RECV)        # a DNS answer over TCP may come in pieces
                if not more:
                    break
                data += more
            if dns:
                out["reply"] = _dns_answer(data, proto == "TCP")
            elif http and data.startswith(b"HTTP/"):
                head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
                status = head.splitlines()[0] if head else ""
                out["reply"] = f"{status} | {body.strip().splitlines()[0] if body.strip() else ''}"
            elif http and data:                  # a server of another protocol spoke
                out["reply"] = f"{len(data)} bytes, not an HTTP answer"
            else:
                text = data.decode(errors="replace").strip()
                out["reply"] = text.splitlines()[0] if text else ""
        out["connected"] = True
    except (DNSError, ValueError) as exc:
        if not dns:
            raise
        out["connected"], out["error"] = True, f"not a DNS answer: {exc}"
    except OSError as exc:
        out["error"] = exc.strerror or str(exc) if not isinstance(exc, TimeoutError) \
            else "timed out"
    finally:
        sock.close()
    return out


def main() -> int:
    try:
        req = json.loads(sys.stdin.read())
        action = {"resolve": resolve, "connect": connect}[req["action"]]
    except (ValueError, KeyError) as exc:
        print(f"probe: bad request: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(action(req)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
