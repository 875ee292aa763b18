"""A bounded DNS load generator: queries per second and latency from one pod.

    python -m k8snet.perf.dnsbench --server 10.96.0.10 [--port 53] [--duration 3]
        --names web.default.svc.cluster.local,kubernetes.default.svc.cluster.local
        [--type A] [--concurrency 16] [--timeout 0.5] [--max-queries N] [--json]

One UDP socket keeps ``--concurrency`` queries in flight (pipelined, matched
by ID, cycling through the names), so the number measures the server and
the kernel rather than a lock-step client.  Nothing is re-sent: a query
without a reply after ``--timeout`` is an error, and so is a reply with a
bad rcode (SERVFAIL, REFUSED, ...) or for another question.  NXDOMAIN and
NODATA count as answered.

Bounded: new queries stop at ``--duration`` or after ``--max-queries``, and
the run ends at most ``--timeout`` later, when the last replies are due.
Only the standard library is used, so it runs in any pod netns.

Output: ``{"queries", "answered", "errors", "qps", "p50_ms", "p99_ms",
"duration_s", ...}`` with ``--json`` (``qps`` is answered / duration_s), or
one line.  Exit status 0, 1 if nothing was answered, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import select
import socket
import sys
import time
from collections import deque
from typing import NoReturn

PROG = "dnsbench"
MAX_QUERIES = 5_000_000
MAX_DURATION = 600.0
MAX_CONCURRENCY = 4096
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
          "AAAA": 28, "SRV": 33, "ANY": 255}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
          5: "REFUSED"}


def encode_question(name: str, qtype: int = 1) -> bytes:
    """The question section for ``name`` (class IN); ValueError if invalid."""
    labels = name.rstrip(".").split(".")
    if not name.strip(".") or any(not label for label in labels):
        raise ValueError(f"invalid name {name!r}")
    out = bytearray()
    for label in labels:
        raw = label.encode("ascii", "strict") if label.isascii() else b""
        if not raw or len(raw) > 63:
            raise ValueError(f"invalid label {label!r} in {name!r}")
        out += bytes([len(raw)]) + raw
    if len(out) + 1 > 255:
        raise ValueError(f"name too long: {name!r}")
    return bytes(out) + b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None if empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def run(server: str, port: int, names: list[str], duration: float, concurrency: int = 16,
        qtype: str = "A", timeout: float = 0.5, max_queries: int = MAX_QUERIES) -> dict:
    """Send pipelined queries for ``duration`` seconds; the statistics as a dict."""
    if not names:
        raise ValueError("no names to query")
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration must be in (0, {MAX_DURATION:g}] seconds")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be in [1, {MAX_CONCURRENCY}]")
    if not 0 < timeout <= 10:
        raise ValueError("timeout must be in (0, 10] seconds")
    max_queries = max(1, min(int(max_queries), MAX_QUERIES))
    kind = QTYPES.get(qtype.upper()) if not qtype.isdigit() else int(qtype)
    if kind is None or not 0 < kind < 65536:
        raise ValueError(f"unknown query type {qtype!r}")
    ip = ipaddress.ip_address(server)
    # Header after the ID: RD set, one question.
    header = b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    questions = [encode_question(name, kind) for name in names]
    templates = [header + question for question in questions]
    lowered = [question.lower() for question in questions]

    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.connect((str(ip), port))
        sock.setblocking(False)
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return _loop(sock, poller, templates, lowered, duration, concurrency, timeout,
                     max_queries)
    finally:
        sock.close()


def _loop(sock: socket.socket, poller: select.poll, templates: list[bytes],
          questions: list[bytes], duration: float, concurrency: int, timeout: float,
          max_queries: int) -> dict:
    clock = time.perf_counter
    inflight: dict[int, tuple[float, int]] = {}   # ID -> (sent at, name index)
    order: deque[tuple[float, int]] = deque()     # (sent at, ID), oldest first
    latencies: list[float] = []
    rcodes: dict[str, int] = {}
    sent = timeouts = bad = refused = 0
    next_id = 0
    which = 0
    count = len(templates)
    start = clock()
    stop_sending = start + duration
    hard_end = stop_sending + timeout
    while True:
        now = clock()
        while order and order[0][0] + timeout <= now:
            sent_at, qid = order.popleft()
            entry = inflight.get(qid)
            if entry is not None and entry[0] == sent_at:
                del inflight[qid]
                timeouts += 1
        sending = now < stop_sending and sent < max_queries
        if not sending and (not inflight or now >= hard_end):
            break
        while sending and len(inflight) < concurrency and sent < max_queries:
            next_id = (next_id + 1) & 0xFFFF
            while next_id in inflight:
                next_id = (next_id + 1) & 0xFFFF
            try:
                sock.send(next_id.to_bytes(2, "big") + templates[which])
            except BlockingIOError:
                break  # the send buffer is full: wait for replies
            except ConnectionRefusedError:
                refused += 1  # an earlier query's ICMP error, reported now
                break
            sent_at = clock()
            inflight[next_id] = (sent_at, which)
            order.append((sent_at, next_id))
            sent += 1
            which = which + 1 if which + 1 < count else 0
        deadline = order[0][0] + timeout if order else hard_end
        if sending:
            deadline = min(deadline, stop_sending)
        wait_ms = max(0, math.ceil((min(deadline, hard_end) - clock()) * 1000))
        if not poller.poll(wait_ms if inflight or not sending else 0):
            continue
        while True:
            try:
                data = sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionRefusedError:
                refused += 1  # ICMP port unreachable: the queries will time out
                break
            received = clock()
            if len(data) < 12:
                continue
            entry = inflight.pop((data[0] << 8) | data[1], None)
            if entry is None:
                continue  # late (already counted as a timeout) or not ours
            question = questions[entry[1]]
            rcode = data[3] & 0x0F
            name = RCODES.get(rcode, str(rcode))
            rcodes[name] = rcodes.get(name, 0) + 1
            if (not data[2] & 0x80 or rcode not in (0, 3)
                    or data[12:12 + len(question)].lower() != question):
                bad += 1
                continue
            latencies.append(received - entry[0])
    elapsed = clock() - start
    timeouts += len(inflight)
    latencies.sort()
    p50 = percentile(latencies, 0.50)
    p99 = percentile(latencies, 0.99)
    return {
        "queries": sent,
        "answered": len(latencies),
        "errors": timeouts + bad,
        "timeouts": timeouts,
        "bad_replies": bad,
        "refused": refused,
        "rcodes": rcodes,
        "qps": round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(p50 * 1000, 3) if p50 is not None else None,
        "p99_ms": round(p99 * 1000, 3) if p99 is not None else None,
        "max_ms": round(latencies[-1] * 1000, 3) if latencies else None,
        "duration_s": round(elapsed, 3),
        "concurrency": concurrency,
    }


def summary(result: dict) -> str:
    """One line for people."""
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f} ms"

    return (f"{PROG}: {result['queries']} queries, {result['answered']} answered, "
            f"{result['errors']} errors ({result['timeouts']} timeouts) in "
            f"{result['duration_s']:.2f} s: {result['qps']:.0f} qps, "
            f"p50 {ms(result['p50_ms'])}, p99 {ms(result['p99_ms'])}")


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = _ArgumentParser(prog=PROG, description="Pipelined UDP DNS load, bounded in "
                             "time and queries.")
    parser.add_argument("--server", required=True, help="DNS server IP")
    parser.add_argument("--port", type=int, default=53, help="UDP port (default 53)")
    parser.add_argument("--names", required=True,
                        help="comma-separated names, queried in turn")
    parser.add_argument("--type", default="A", help="query type (default A)")
    parser.add_argument("--duration", type=float, default=3.0,
                        help="seconds of sending (default 3)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="queries in flight (default 16)")
    parser.add_argument("--timeout", type=float, default=0.5,
                        help="seconds before an unanswered query is an error (default 0.5)")
    parser.add_argument("--max-queries", type=int, default=MAX_QUERIES,
                        help=f"stop after this many queries (default and cap {MAX_QUERIES})")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.names.split(",") if name.strip()]
    if not 0 < args.port < 65536:
        parser.error(f"invalid port {args.port}")
    try:
        ipaddress.ip_address(args.server)
    except ValueError:
        parser.error(f"--server must be an IP address, not {args.server!r}")
    try:
        result = run(args.server, args.port, names, args.duration, args.concurrency,
                     args.type, args.timeout, args.max_queries)
    except ValueError as exc:
        parser.error(str(exc))
    except OSError as exc:
        print(f"{PROG}: error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else summary(result), flush=True)
    return 0 if result["answered"] else 1


if __name__ == "__main__":
    sys.exit(main())
