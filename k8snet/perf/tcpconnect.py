"""TCP connect time: a tiny server and a bounded connect loop, run inside a netns.

    python -m k8snet.perf.tcpconnect serve PORT [--idle S]
    python -m k8snet.perf.tcpconnect probe IP PORT COUNT [--warmup N] [--timeout S]

The probe prints one JSON line: ``{"ms": [...], "failures": N, "error": "..."}``.
Each process lives in the namespace it was started in (``ip netns exec``), so
the measured connect crosses exactly the path under test.  Both ends are
bounded: the server exits when idle, the probe after COUNT attempts.
"""
from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import time

GIVE_UP = 5  # consecutive failures: the path is down, stop (bounds the run)


def serve(port: int, idle: float, bind: str = "0.0.0.0") -> int:
    """Accept and close, until no one connects for ``idle`` seconds."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((bind, port))
    srv.listen(1024)
    srv.settimeout(idle)
    while True:
        try:
            conn, _ = srv.accept()
        except TimeoutError:
            return 0
        conn.close()


def probe(ip: str, port: int, count: int, warmup: int, timeout: float) -> dict:
    """``count`` timed connects after ``warmup`` untimed ones (ARP, conntrack).

    Gives up after ``GIVE_UP`` failures in a row, counting the rest as failed.
    """
    ms: list[float] = []
    failures, error, streak = 0, "", 0
    for i in range(warmup + count):
        if streak >= GIVE_UP:
            failures += warmup + count - max(i, warmup)
            break
        t0 = time.perf_counter()
        try:
            sock = socket.create_connection((ip, port), timeout=timeout)
        except OSError as exc:
            streak += 1
            failures += i >= warmup
            error = error or f"connect {ip}:{port}: {exc.strerror or exc}"
            continue
        elapsed = time.perf_counter() - t0
        streak = 0
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST, not FIN: no TIME_WAIT pile-up over many connects
        if i >= warmup:
            ms.append(elapsed * 1e3)
    return {"ms": ms, "failures": failures, "error": error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tcpconnect")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("port", type=int)
    s.add_argument("--idle", type=float, default=120.0)
    s.add_argument("--bind", default="0.0.0.0")
    p = sub.add_parser("probe")
    p.add_argument("ip")
    p.add_argument("port", type=int)
    p.add_argument("count", type=int)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        return serve(args.port, args.idle, args.bind)
    print(json.dumps(probe(args.ip, args.port, args.count, args.warmup, args.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
