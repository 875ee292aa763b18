"""One bounded measurement each: iperf3 TCP/UDP, ping RTT, TCP connect time.

Every runner returns a ``Result``; a run that did not produce its number is
``status="failed"`` with the error text, never a zero.  Servers are one-off
(``iperf3 -1``) or idle-bounded, started here and killed by PID in
``finally``; every client has a subprocess timeout.  Each runs in its own session, so
Ctrl-C reaches only the harness, which then stops them in order.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field

from k8snet.perf import cpu, stats

OK, FAILED = "ok", "failed"
KINDS = ("tcp1", "tcp4", "udp", "ping", "connect")
# The number each kind is judged by, and whether higher is better.
PRIMARY = {"tcp1": ("gbps", True), "tcp4": ("gbps", True), "udp": ("lost_percent", False),
           "ping": ("p50_ms", False), "connect": ("p50_ms", False)}


@dataclass
class Result:
    kind: str
    status: str
    values: dict[str, float] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict:
        return asdict(self)


def failed(kind: str, error: str, seconds: float = 0.0) -> Result:
    return Result(kind, FAILED, {}, error.strip() or "failed with no message", seconds)


def in_ns(netns: str, argv: list[str]) -> list[str]:
    """``argv`` inside ``netns`` (``ip netns exec`` execs, so the PID is argv's)."""
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def wait_listening(netns: str, port: int, proc: subprocess.Popen,
                   timeout: float = 5.0) -> None:
    """Poll ``ss`` until something listens on TCP ``port`` (a connect would use up
    a one-off iperf3 server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening "
                               f"on port {port}")
        out = subprocess.run(in_ns(netns, ["ss", "-Hltn", f"sport = :{port}"]),
                             capture_output=True, text=True, timeout=5).stdout
        if out.strip():
            return
        time.sleep(0.02)
    raise RuntimeError(f"no server listening on port {port} after {timeout:.0f} s")


@contextmanager
def _server(netns: str, port: int, argv: list[str]) -> Iterator[subprocess.Popen]:
    """A server in ``netns``, up once ``port`` listens; killed by PID on the way out."""
    proc = subprocess.Popen(in_ns(netns, argv), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_listening(netns, port, proc)
        yield proc
    finally:
        _stop(proc)


def iperf_server(netns: str, port: int) -> AbstractContextManager[subprocess.Popen]:
    """A one-off iperf3 server in ``netns``."""
    return _server(netns, port, ["iperf3", "-s", "-1", "-p", str(port)])


def connect_server(netns: str, port: int,
                   idle: float = 60.0) -> AbstractContextManager[subprocess.Popen]:
    """The accept-and-close server for connect times."""
    return _server(netns, port, [sys.executable, "-m", "k8snet.perf.tcpconnect", "serve",
                                 str(port), "--idle", str(idle)])


def parse_iperf(kind: str, text: str, returncode: int, stderr: str = "") -> Result:
    """A Result from ``iperf3 -J`` output; anything short of a full report fails."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        return failed(kind, f"iperf3 printed no JSON ({exc.msg}): {stderr or text[:200]}")
    if not isinstance(data, dict):
        return failed(kind, "iperf3 JSON is not an object")
    if data.get("error"):
        return failed(kind, f"iperf3: {data['error']}")
    end = data.get("end") or {}
    try:
        if kind == "udp":
            s = end["sum"]
            lost = float(s["lost_percent"])
            values = {"gbps": float(s["bits_per_second"]) * (1 - lost / 100) / 1e9,
                      "sent_gbps": float(s["bits_per_second"]) / 1e9,
                      "lost_percent": lost, "jitter_ms": float(s["jitter_ms"]),
                      "packets": float(s["packets"])}
        else:
            received = end["sum_received"]
            values = {"gbps": float(received["bits_per_second"]) / 1e9,
                      "retransmits": float(end.get("sum_sent", {}).get("retransmits", 0))}
    except (KeyError, TypeError, ValueError) as exc:
        return failed(kind, f"iperf3 report lacks {exc}; exit {returncode}: {stderr[:200]}")
    if returncode != 0:
        return failed(kind, f"iperf3 exited {returncode}: {stderr[:200]}")
    if kind != "udp" and values["gbps"] <= 0:
        return failed(kind, "iperf3 received no data")
    if kind == "udp" and values["packets"] <= 0:
        return failed(kind, "iperf3 UDP: no datagrams sent")
    return Result(kind, OK, values)


def iperf(kind: str, client_ns: str, ip: str, port: int, duration: float,
          udp_rate: str = "200M", udp_length: int = 1448) -> Result:
    """One iperf3 client run against a server already listening at ``ip:port``."""
    argv = ["iperf3", "-c", ip, "-p", str(port), "-t", f"{duration:g}", "-J",
            "--connect-timeout", "3000"]
    if kind == "tcp4":
        argv += ["-P", "4"]
    elif kind == "udp":
        argv += ["-u", "-b", udp_rate, "-l", str(udp_length)]
    t0 = time.monotonic()
    before = cpu.snapshot()
    try:
        res = subprocess.run(in_ns(client_ns, argv), capture_output=True, text=True,
                             timeout=duration + 15, start_new_session=True)
    except subprocess.TimeoutExpired:
        return failed(kind, f"iperf3 gave no result within {duration + 15:g} s",
                      time.monotonic() - t0)
    load = cpu.usage(before, cpu.snapshot())
    result = parse_iperf(kind, res.stdout, res.returncode, res.stderr.strip())
    if result.ok:
        result.values.update(load)
    result.seconds = time.monotonic() - t0
    return result


PING_TIME = re.compile(r"time=([\d.]+) ms")


def parse_ping(text: str, count: int) -> Result:
    rtts = [float(x) for x in PING_TIME.findall(text)]
    if not rtts:
        tail = text.strip().splitlines()[-1:] or ["no output"]
        return failed("ping", f"no echo reply out of {count}: {tail[0]}")
    return Result("ping", OK, {"p50_ms": stats.percentile(rtts, 50),
                               "p99_ms": stats.percentile(rtts, 99),
                               "received": float(len(rtts)), "sent": float(count),
                               "lost_percent": 100.0 * (count - len(rtts)) / count})


def ping(client_ns: str, ip: str, count: int = 30, interval: float = 0.05) -> Result:
    deadline = int(count * interval + 3)
    argv = ["ping", "-n", "-c", str(count), "-i", f"{interval:g}", "-W", "1",
            "-w", str(deadline), ip]
    t0 = time.monotonic()
    try:
        res = subprocess.run(in_ns(client_ns, argv), capture_output=True, text=True,
                             timeout=deadline + 5, start_new_session=True)
    except subprocess.TimeoutExpired:
        return failed("ping", f"ping gave no result within {deadline + 5} s")
    result = parse_ping(res.stdout + res.stderr, count)
    result.seconds = time.monotonic() - t0
    return result


def parse_connect(text: str, count: int) -> Result:
    try:
        data = json.loads(text)
        ms = [float(x) for x in data["ms"]]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return failed("connect", f"connect probe printed no result: {text[:200]}")
    if not ms:
        return failed("connect", data.get("error") or "no connect succeeded")
    return Result("connect", OK, {"p50_ms": stats.percentile(ms, 50),
                                  "p99_ms": stats.percentile(ms, 99),
                                  "connects": float(len(ms)),
                                  "failures": float(data.get("failures", count - len(ms)))})


def connect_times(client_ns: str, ip: str, port: int, count: int = 200,
                  warmup: int = 5) -> Result:
    argv = [sys.executable, "-m", "k8snet.perf.tcpconnect", "probe", ip, str(port),
            str(count), "--warmup", str(warmup)]
    # Bounded: connects take < 1 ms; the probe gives up after 5 failures in a row.
    budget = 15 + (count + warmup) / 10
    t0 = time.monotonic()
    try:
        res = subprocess.run(in_ns(client_ns, argv), capture_output=True, text=True,
                             timeout=budget, start_new_session=True)
    except subprocess.TimeoutExpired:
        return failed("connect", f"connect probe gave no result within {budget:g} s")
    if res.returncode != 0:
        return failed("connect", f"connect probe exited {res.returncode}: "
                      f"{res.stderr.strip()[-200:]}")
    result = parse_connect(res.stdout, count)
    result.seconds = time.monotonic() - t0
    return result
