"""Where the time goes during a run: machine CPU split and ovs-vswitchd's share.

Read from /proc before and after a measurement.  With netdev (non-DPDK)
ports, OVS forwards every packet in one thread, so ``ovs_cpu_pct`` near 100
(of one core) means the userspace datapath is the limit; ``steal_pct`` shows
the hypervisor taking time from this shared machine.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OVS_PIDFILE = Path("/var/run/openvswitch/ovs-vswitchd.pid")


@dataclass(frozen=True)
class Snapshot:
    total: int
    idle: int
    softirq: int
    steal: int
    ovs: int | None


def _ovs_ticks() -> int | None:
    try:
        pid = OVS_PIDFILE.read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def snapshot() -> Snapshot:
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    return Snapshot(total=sum(values[:8]), idle=values[3] + values[4], softirq=values[6],
                    steal=values[7], ovs=_ovs_ticks())


def usage(before: Snapshot, after: Snapshot, ncpu: int | None = None) -> dict[str, float]:
    """Percentages over the interval; ``{}`` if the interval is too short to tell."""
    ncpu = ncpu or os.cpu_count() or 1
    total = after.total - before.total
    if total <= 0:
        return {}
    out = {"cpu_busy_pct": 100.0 * (total - (after.idle - before.idle)) / total,
           "softirq_pct": 100.0 * (after.softirq - before.softirq) / total,
           "steal_pct": 100.0 * (after.steal - before.steal) / total}
    if before.ovs is not None and after.ovs is not None:
        out["ovs_cpu_pct"] = 100.0 * (after.ovs - before.ovs) / (total / ncpu)
    return out


SETTLE_BUSY_PCT = 30.0    # machine CPU busy (%, over SETTLE_WINDOW) under which it counts as quiet
SETTLE_WINDOW = 0.5       # seconds
SETTLE_MAX = 15.0         # seconds waited at most


def settle(sleep: Callable[[float], None] = time.sleep, max_s: float | None = None) -> float:
    """Wait until the machine is quiet: CPU busy under 30% over half a second
    (what was just started has finished starting), ``max_s`` (15 s) at most on
    a busy shared machine.  Returns the seconds waited."""
    limit = SETTLE_MAX if max_s is None else max_s
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        before = snapshot()
        sleep(SETTLE_WINDOW)
        if usage(before, snapshot()).get("cpu_busy_pct", 100.0) < SETTLE_BUSY_PCT:
            break
    return time.perf_counter() - t0
