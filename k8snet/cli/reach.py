"""Reachability checks: the pod ping matrix behind ``pingpods`` and ``--test pingall``.

Each source pings all its targets at once with fping when it is installed
(one process per source instead of one per pair), else with ping.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from k8snet.node.netns import exec_argv as netns_exec_argv


@dataclass(frozen=True)
class Probe:
    source: str        # display name
    netns: str         # where the ping runs
    targets: tuple[tuple[str, str], ...]  # (display name, ip)


@dataclass
class ProbeResult:
    source: str
    reached: dict[str, bool]


def _fping(netns: str, ips: list[str], timeout_ms: int) -> set[str]:
    """One fping for every target: 1 ms between targets (fping's default is
    10 ms, which made checking 1,000 pods take seconds), one retry."""
    out = subprocess.run(
        netns_exec_argv(netns, ["fping", "-a", "-r", "1", "-i", "1",
                                "-t", str(timeout_ms), *ips]),
        capture_output=True, text=True)
    return set(out.stdout.split())


def _ping(netns: str, ips: list[str], timeout_ms: int) -> set[str]:
    ok = set()
    wait = max(1, timeout_ms // 1000)
    for ip in ips:
        res = subprocess.run(netns_exec_argv(netns, ["ping", "-c1", f"-W{wait}", ip]),
                             capture_output=True)
        if res.returncode == 0:
            ok.add(ip)
    return ok


def run_probe(probe: Probe, timeout_ms: int = 1000) -> ProbeResult:
    ips = [ip for _, ip in probe.targets]
    pinger = _fping if shutil.which("fping") else _ping
    ok = pinger(probe.netns, ips, timeout_ms) if ips else set()
    return ProbeResult(probe.source,
                       {name: ip in ok for name, ip in probe.targets})


def summary(results: list[ProbeResult]) -> tuple[float, int, int]:
    """(percent dropped, received, sent), as Mininet's pingall reports."""
    sent = sum(len(r.reached) for r in results)
    received = sum(sum(r.reached.values()) for r in results)
    dropped = 100.0 * (sent - received) / sent if sent else 0.0
    return dropped, received, sent


def format_line(result: ProbeResult) -> str:
    """``src -> a b X c``, Mininet style: X marks an unreachable target."""
    marks = [name if ok else "X" for name, ok in result.reached.items()]
    return f"{result.source} -> " + " ".join(marks)
