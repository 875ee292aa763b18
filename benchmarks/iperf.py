"""One bounded iperf3 measurement between two network namespaces."""
from __future__ import annotations

import json
import subprocess
import time


def tcp_gbps(client_ns: str, server_ns: str, server_ip: str,
             seconds: int = 10, port: int = 5299) -> float | None:
    """Single-stream TCP throughput in Gbit/s, or None when the run failed.

    The server serves one test (``-1``) and is killed after the client ends,
    so nothing outlives the measurement.
    """
    server = subprocess.Popen(
        ["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = subprocess.run(
            ["ip", "netns", "exec", client_ns, "iperf3", "-c", server_ip, "-p",
             str(port), "-t", str(seconds), "-J"],
            capture_output=True, text=True, timeout=seconds + 20)
        data = json.loads(out.stdout or "{}")
        if "error" in data or "end" not in data:
            return None
        return data["end"]["sum_received"]["bits_per_second"] / 1e9
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    finally:
        server.kill()
        server.wait()


def tcp_gbps_to(client_ns: str, ip: str, port: int, seconds: int = 10) -> float | None:
    """Like tcp_gbps, against a server that is already running (a service's)."""
    try:
        out = subprocess.run(
            ["ip", "netns", "exec", client_ns, "iperf3", "-c", ip, "-p", str(port),
             "-t", str(seconds), "-J"], capture_output=True, text=True, timeout=seconds + 20)
        data = json.loads(out.stdout or "{}")
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    if "error" in data or "end" not in data:
        return None
    return data["end"]["sum_received"]["bits_per_second"] / 1e9
