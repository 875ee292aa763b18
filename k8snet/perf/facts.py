"""Machine facts for the reports: what the numbers were measured on.

Every fact is read from the machine at run time; one that cannot be read
is recorded as "unknown", never guessed.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

from k8snet.cluster import ovs_rx

REPO = Path(__file__).resolve().parents[2]
OFFLOADS = ("tcp-segmentation-offload", "generic-segmentation-offload",
            "generic-receive-offload", "tx-checksumming", "rx-checksumming",
            "scatter-gather")


def _out(argv: list[str], timeout: float = 10) -> str:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (res.stdout or res.stderr).strip()


def _first_line(argv: list[str]) -> str:
    return (_out(argv).splitlines() or ["unknown"])[0]


def cpu_model() -> str:
    for line in _out(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def git_rev() -> str:
    rev = _out(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    if not rev or " " in rev:
        return "unknown"
    dirty = _out(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
    return rev + ("+dirty" if dirty else "")


def ovs_setting(key: str) -> str:
    value = _out(["ovs-vsctl", "--timeout=5", "get", "Open_vSwitch", ".",
                  f"other_config:{key}"])
    return value.strip('"') or "unset"


def machine() -> dict:
    """CPU, kernel, load and tool versions, for results.json and the reports."""
    return {
        "cpu_model": cpu_model(),
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "os": _first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "loadavg_start": _first_line(["cat", "/proc/loadavg"]),
        "versions": {
            "ovs-vswitchd": _first_line(["ovs-vswitchd", "--version"]),
            "iperf3": _first_line(["iperf3", "--version"]),
            "nft": _first_line(["nft", "--version"]),
            "iptables": _first_line(["iptables", "--version"]),
            "python": platform.python_version(),
            "mininet": _first_line(["mn", "--version"]),
            "k8snet": git_rev(),
        },
        "ovs_userspace_tso": ovs_setting("userspace-tso-enable"),
        # what k8snet.cluster.ovs_rx gives the switch's sockets on every veth port,
        # the baselines' and the clusters' alike
        "ovs_rx_buffer_bytes": ovs_rx.RX_BUFFER,
        "ip_vs": os.path.exists("/proc/net/ip_vs"),
    }


def link_facts(netns: str, dev: str) -> dict:
    """MTU and the offloads that matter for throughput, of ``dev`` in ``netns``."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    text = _out([*prefix, "ip", "-o", "link", "show", dev])
    match = re.search(r"\bmtu (\d+)", text)
    features = {}
    for line in _out([*prefix, "ethtool", "-k", dev]).splitlines():
        name, _, state = line.partition(":")
        if name.strip() in OFFLOADS:
            features[name.strip()] = state.split()[0] if state.split() else "unknown"
    return {"mtu": int(match.group(1)) if match else None, "offloads": features}
