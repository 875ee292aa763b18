"""Real connections from inside one pod's network namespace.

Run there as ``ip netns exec <pod-netns> python3 -m k8snet.netpol.prober``;
it reads one JSON object from stdin::

    {"timeout": 1.0,
     "targets": [{"id": "x/b 80/TCP", "ip": "10.244.1.3", "port": 80,
                  "protocol": "TCP"}, ...]}

and prints one JSON object to stdout::

    {"results": {"x/b 80/TCP": {"connected": true, "error": "", "ms": 1.23},
                 "x/c 81/UDP": {"connected": false, "error": "timed out",
                                "ms": 1000.4}, ...},
     "unsupported": ["SCTP"]}           # only when the kernel lacks SCTP

Every target is probed at once (at most ``MAX_PARALLEL`` in flight), each
within ``timeout`` seconds (default 1.0):

* TCP: connected when the three-way handshake completes (``connect()``).
* UDP: ``hostname\\n`` is sent on a connected socket; connected when any
  reply arrives (netexec answers with its pod name, which a UDP result
  carries as ``reply``).  An ICMP error ends the wait at once.
* SCTP: the association is set up (``connect()`` on a SOCK_STREAM SCTP
  socket).  Without SCTP in the kernel every SCTP target fails with
  "sctp: not supported by this kernel".

Errors are words: "connection refused" (the target answered that nothing
listens: a TCP reset, an SCTP abort, to UDP an ICMP port unreachable),
"rejected: ICMP port unreachable" (a TCP connection refused by an ICMP
error, which a pod's kernel never sends for TCP: something on the way
rejected it, such as kproxy for a Service without endpoints),
"administratively prohibited" (ICMP admin-prohibited, what the lab's
NetworkPolicy sends; read with IP_RECVERR from the socket's error queue since
Linux reports it as EHOSTUNREACH; or EACCES/EPERM), "host unreachable", "no
route to host", "timed out", ...
Malformed input exits 2 with one ``prober: error: ...`` line on stderr.
Standard library only, so that it starts fast inside a pod's namespace.
"""
from __future__ import annotations

import errno
import ipaddress
import json
import socket
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor

PROG = "prober"
MAX_PARALLEL = 64
DEFAULT_TIMEOUT = 1.0
PROTOCOLS = ("TCP", "UDP", "SCTP")
UDP_PAYLOAD = b"hostname\n"
IPPROTO_SCTP = getattr(socket, "IPPROTO_SCTP", 132)
SCTP_UNSUPPORTED = "sctp: not supported by this kernel"
REFUSED = "connection refused"          # the target answered: nothing listens there
ICMP_REJECTED = "rejected: ICMP port unreachable"     # to TCP: not the target's answer
_NO_PROTOCOL = {errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT, errno.EAFNOSUPPORT}
# Linux's IP_RECVERR queues each ICMP error with its type and code (``struct
# sock_extended_err``): the errno alone cannot tell "administratively prohibited"
# (what an nftables ``reject with icmp type admin-prohibited`` sends; EHOSTUNREACH
# for IPv4) from "host unreachable".
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3
_ICMP_UNREACH = {0: "network is unreachable", 1: "host unreachable", 2: "protocol unreachable",
                 3: "connection refused", 4: "fragmentation needed", 9: "administratively "
                 "prohibited", 10: "administratively prohibited",
                 13: "administratively prohibited"}
_ICMP6_UNREACH = {0: "no route to host", 1: "administratively prohibited",
                  3: "host unreachable", 4: "connection refused", 5: "administratively prohibited",
                  6: "administratively prohibited"}

_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network is unreachable",
    errno.ETIMEDOUT: "timed out",
    errno.EACCES: "administratively prohibited",
    errno.EPERM: "administratively prohibited",
    errno.EHOSTDOWN: "host is down",
    errno.ENOPROTOOPT: "protocol unreachable",
    errno.EMSGSIZE: "message too long",
    errno.EADDRNOTAVAIL: "address not available",
}


class InputError(ValueError):
    """Input that is not a probe request; the message says what is wrong."""


def describe_error(exc: OSError) -> str:
    """An OSError in words: ``connection refused``, ``timed out``, ..."""
    if isinstance(exc, TimeoutError) and not exc.errno:
        return "timed out"
    if exc.errno in _WORDS:
        return _WORDS[exc.errno]
    if exc.errno:
        return (exc.strerror or errno.errorcode.get(exc.errno, str(exc.errno))).lower()
    return str(exc) or type(exc).__name__


def sctp_supported() -> bool:
    """Whether this kernel (and namespace) can open an SCTP socket."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_SCTP).close()
    except OSError as exc:
        return exc.errno not in _NO_PROTOCOL    # other errors: each probe reports its own
    return True


def icmp_words(origin: int, icmp_type: int, code: int) -> str | None:
    """An ICMP(v6) destination-unreachable in words, or None for anything else.

    ``origin`` is ``sock_extended_err.ee_origin`` (2 ICMP, 3 ICMPv6)."""
    if origin == SO_EE_ORIGIN_ICMP and icmp_type == 3:
        return _ICMP_UNREACH.get(code, f"destination unreachable (code {code})")
    if origin == SO_EE_ORIGIN_ICMP6 and icmp_type == 1:
        return _ICMP6_UNREACH.get(code, f"destination unreachable (code {code})")
    return None


def _queued_icmp(sock: socket.socket) -> str | None:
    """The ICMP error queued on ``sock`` (IP_RECVERR) in words, if there is one."""
    try:
        sock.setblocking(False)     # else Python polls for data first, up to the timeout
        _, ancillary, _, _ = sock.recvmsg(1, 1024, socket.MSG_ERRQUEUE)
    except OSError:
        return None
    for _, _, data in ancillary:
        if len(data) >= 8:      # u32 ee_errno, u8 ee_origin, u8 ee_type, u8 ee_code, ...
            _, origin, icmp_type, code = struct.unpack_from("=IBBB", data)
            words = icmp_words(origin, icmp_type, code)
            if words:
                return words
    return None


def _connect(target: dict, timeout: float) -> tuple[bool, str, str | None]:
    """One probe: ``(connected, error, reply)``; reply is UDP's answer."""
    ip, port, protocol = target["ip"], target["port"], target["protocol"]
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol == "UDP" else socket.SOCK_STREAM
    try:
        sock = socket.socket(family, kind, IPPROTO_SCTP if protocol == "SCTP" else 0)
    except OSError as exc:
        if protocol == "SCTP" and exc.errno in _NO_PROTOCOL:
            return False, SCTP_UNSUPPORTED, None
        return False, describe_error(exc), None
    with sock:
        try:
            if family == socket.AF_INET:
                sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        except OSError:
            pass                # then the errno alone describes an ICMP error
        sock.settimeout(timeout)
        try:
            sock.connect((ip, port))
            if protocol != "UDP":
                return True, "", None
            sock.send(UDP_PAYLOAD)
            data = sock.recv(2048)
        except OSError as exc:
            timed_out = isinstance(exc, TimeoutError) and not exc.errno
            icmp = None if timed_out else _queued_icmp(sock)
            if icmp == REFUSED and protocol == "TCP":
                icmp = ICMP_REJECTED    # a pod's kernel refuses TCP with a reset
            return False, icmp or describe_error(exc), None
        return True, "", data.decode("utf-8", "replace").strip()[:200]


def _probe_one(target: dict, timeout: float) -> dict:
    start = time.monotonic()
    connected, error, reply = _connect(target, timeout)
    out: dict = {"connected": connected, "error": error,
                 "ms": round((time.monotonic() - start) * 1000, 2)}
    if reply is not None:
        out["reply"] = reply
    return out


def check_targets(targets: object, timeout: object) -> tuple[list[dict], float]:
    """Validated copies of ``targets`` (protocol upper-cased) and the timeout.

    Raises InputError naming the first problem."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or not 0 < timeout <= 60:
        raise InputError(f"timeout must be a number of seconds in (0, 60], not {timeout!r}")
    if not isinstance(targets, list):
        raise InputError("targets must be a list")
    seen: set[str] = set()
    out = []
    for i, t in enumerate(targets):
        where = f"targets[{i}]"
        if not isinstance(t, dict):
            raise InputError(f"{where}: a target is an object with id, ip, port, protocol")
        tid, ip, port = t.get("id"), t.get("ip"), t.get("port")
        if not isinstance(tid, str) or not tid:
            raise InputError(f"{where}: id must be a non-empty string")
        if tid in seen:
            raise InputError(f"{where}: id {tid!r} given twice")
        seen.add(tid)
        try:
            ipaddress.ip_address(ip if isinstance(ip, str) else "")
        except ValueError:
            raise InputError(f"{where}: ip must be an IP address, not {ip!r}") from None
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InputError(f"{where}: port must be a number 1-65535, not {port!r}")
        protocol = t.get("protocol", "TCP")
        if not isinstance(protocol, str) or protocol.upper() not in PROTOCOLS:
            raise InputError(f"{where}: protocol must be TCP, UDP or SCTP, not {protocol!r}")
        out.append({"id": tid, "ip": ip, "port": port, "protocol": protocol.upper()})
    return out, float(timeout)


def probe(targets: list[dict], timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Probe every target concurrently; the stdout object of the module docstring.

    ``targets``: ``[{"id", "ip", "port", "protocol"}]``.  Raises InputError
    for malformed targets or timeout."""
    ordered, timeout = check_targets(targets, timeout)
    results: dict[str, dict] = {}
    out: dict = {"results": results}
    checked = ordered
    sctp = [t for t in checked if t["protocol"] == "SCTP"]
    if sctp and not sctp_supported():
        out["unsupported"] = ["SCTP"]
        for t in sctp:
            results[t["id"]] = {"connected": False, "error": SCTP_UNSUPPORTED, "ms": 0.0}
        checked = [t for t in checked if t["protocol"] != "SCTP"]
    if checked:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(checked))) as pool:
            answers = list(pool.map(lambda t: _probe_one(t, timeout), checked))
        for t, answer in zip(checked, answers, strict=True):
            results[t["id"]] = answer
    out["results"] = {t["id"]: results[t["id"]] for t in ordered}
    return out


def main(argv: list[str] | None = None) -> int:
    """Read the request from stdin, print the results; 2 for malformed input."""
    if argv:
        print(f"{PROG}: error: no arguments expected (the request comes on stdin)",
              file=sys.stderr)
        return 2
    try:
        request = json.loads(sys.stdin.read())
        if not isinstance(request, dict):
            raise InputError("the request must be a JSON object")
        unknown = set(request) - {"timeout", "targets"}
        if unknown:
            raise InputError(f"unknown keys {sorted(unknown)}")
        if "targets" not in request:
            raise InputError("the request needs targets")
        result = probe(request["targets"], request.get("timeout", DEFAULT_TIMEOUT))
    except json.JSONDecodeError as exc:
        print(f"{PROG}: error: stdin is not JSON: {exc}", file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
