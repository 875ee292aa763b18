"""The DNS 5-second delay lab: parallel A/AAAA queries through the DNS ClusterIP.

glibc's resolver sends the A and the AAAA query of one ``getaddrinfo`` back
to back from one UDP socket.  Both packets are new to conntrack and both
are DNATed (ClusterIP -> a DNS pod) by the node's kube-proxy rules; on older
kernels the second one could lose the race to insert its conntrack entry,
be dropped (``conntrack -S``: ``insert_failed`` grows), and the lookup then
waited the resolver's timeout (5 s, resolv.conf(5)) before retrying.
``options single-request-reopen`` sends them one after the other, from a new
socket, and avoids it.  Linux 5.0 and later resolve most such clashes
(``clash_resolve`` counts them), so on a recent kernel the delay may never
show: this module then says so, and never makes one up.

Source: https://kubernetes.io/docs/tasks/administer-cluster/dns-debugging-resolution/
(Known issues), resolv.conf(5) (``single-request-reopen``, ``RES_OPTIONS``).

The lookups are glibc's own: ``getent ahosts NAME`` (getaddrinfo with
AF_UNSPEC) in the pod's network namespace with the pod's resolv.conf
(``ip netns exec`` mounts /etc/netns/POD/resolv.conf); the variant adds
``single-request-reopen`` through the ``RES_OPTIONS`` environment variable,
which glibc reads on top of resolv.conf.
"""
from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from k8snet.errors import K8snetError

SLOW_SECONDS = 1.0          # a lookup slower than this waited for a retry
COUNTERS = ("insert_failed", "drop", "clash_resolve")
PARALLEL = ("parallel A+AAAA", "")
REOPEN = ("single-request-reopen", "single-request-reopen")


@dataclass(frozen=True)
class Lookup:
    """One ``getent ahosts``: wall seconds (process start included), the
    addresses it printed, whether it ran out of time."""

    seconds: float
    addresses: tuple[str, ...] = ()
    timed_out: bool = False


@dataclass
class Variant:
    """One run of N lookups with ``res_options`` ("" for resolv.conf as is),
    and the node's conntrack counters before and after (None: unreadable)."""

    label: str
    res_options: str
    lookups: list[Lookup] = field(default_factory=list)
    before: dict[str, int] | None = None
    after: dict[str, int] | None = None

    def delta(self, counter: str) -> int | None:
        if self.before is None or self.after is None or counter not in self.after:
            return None
        return self.after[counter] - self.before.get(counter, 0)


# --- pure parts ------------------------------------------------------------------------

def parse_conntrack_stats(text: str) -> dict[str, int]:
    """``conntrack -S`` (one ``cpu=N key=value ...`` line per CPU) summed over
    the CPUs: ``{"insert_failed": 3, "drop": 0, ...}``.  Raises K8snetError
    when no line has counters."""
    totals: dict[str, int] = {}
    lines = 0
    for line in text.splitlines():
        pairs = [w.split("=", 1) for w in line.split() if "=" in w]
        counters = {k: v for k, v in pairs if k != "cpu" and v.isdigit()}
        if not counters:
            continue
        lines += 1
        for key, value in counters.items():
            totals[key] = totals.get(key, 0) + int(value)
    if not lines:
        raise K8snetError(f"conntrack -S printed no counters: {text.strip()[:80]!r}")
    return totals


def parse_ahosts(text: str) -> tuple[str, ...]:
    """The addresses of ``getent ahosts`` output (``10.96.0.1 STREAM name``),
    each once, in order."""
    out: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] not in out:
            out.append(words[0])
    return tuple(out)


def resolv_options(text: str) -> tuple[str, list[str]]:
    """(first nameserver, options) of a resolv.conf text."""
    nameserver, options = "", []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver" and not nameserver:
            nameserver = words[1]
        elif words and words[0] == "options":
            options += words[1:]
    return nameserver, options


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile ``p`` (0-100) of ``values``; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * p / 100)) - 1]


def summary(variant: Variant) -> dict:
    """lookups, resolved, slow (> SLOW_SECONDS), timed_out, p50/p99 (seconds)."""
    times = [lk.seconds for lk in variant.lookups]
    return {"lookups": len(variant.lookups),
            "resolved": sum(1 for lk in variant.lookups if lk.addresses),
            "slow": sum(1 for lk in variant.lookups if lk.seconds > SLOW_SECONDS),
            "timed_out": sum(1 for lk in variant.lookups if lk.timed_out),
            "p50": percentile(times, 50), "p99": percentile(times, 99)}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _signed(value: int | None) -> str:
    return "n/a" if value is None else f"{value:+d}"


def table(variants: list[Variant], node: str) -> list[str]:
    """The side-by-side table, one line per figure."""
    sums = [summary(v) for v in variants]
    rows = [("", [v.label for v in variants])]
    for key in ("lookups", "resolved", "slow", "timed_out"):
        name = {"slow": f"slow (>{SLOW_SECONDS:g} s)", "timed_out": "timed out"}.get(key, key)
        rows.append((name, [str(s[key]) for s in sums]))
    rows += [("p50", [_ms(s["p50"]) for s in sums]), ("p99", [_ms(s["p99"]) for s in sums])]
    for counter in COUNTERS:
        rows.append((f"{counter} ({node})", [_signed(v.delta(counter)) for v in variants]))
    width = max(len(r[0]) for r in rows) + 2
    cols = [max(len(r[1][i]) for r in rows) + 3 for i in range(len(variants))]
    return ["".join([name.ljust(width)]
                    + [c.ljust(w) for c, w in zip(cells, cols, strict=True)]).rstrip()
            for name, cells in rows]


def verdict(variants: list[Variant], kernel: str) -> str:
    """What the figures say, honestly: the race showed, something else was
    slow, or nothing happened on this kernel."""
    plain = variants[0]
    slow, failed = summary(plain)["slow"], plain.delta("insert_failed")
    clashes = plain.delta("clash_resolve")
    reopen = summary(variants[1])["slow"] if len(variants) > 1 else 0
    if failed is None:
        counters = "the conntrack counters could not be read"
    else:
        counters = f"insert_failed {failed:+d}"
    if slow and failed:
        return (f"the race showed: {slow} of {len(plain.lookups)} lookups waited for the "
                f"resolver's retry, {counters}; with single-request-reopen {reopen} were slow")
    if slow:
        return (f"{slow} lookups were slow but no conntrack insert failed ({counters}): "
                "the delay came from elsewhere (packet loss, a DNS pod away)")
    resolved = f", clash_resolve {clashes:+d}" if clashes else ""
    return (f"the race did not show on kernel {kernel}: 0 of {len(plain.lookups)} lookups slow, "
            f"{counters}{resolved}. Linux 5.0 and later resolve most clashes of the A and "
            "AAAA packets (netfilter's conntrack clash resolution); on older kernels one was "
            "dropped and glibc waited its 5 s timeout")


# --- running it --------------------------------------------------------------------------

def conntrack_stats(node_netns: str) -> dict[str, int] | None:
    """The node namespace's conntrack counters summed over CPUs; None when
    ``conntrack -S`` cannot run there (the caller says so)."""
    try:
        res = subprocess.run(["ip", "netns", "exec", node_netns, "conntrack", "-S"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    try:
        return parse_conntrack_stats(res.stdout)
    except K8snetError:
        return None


def one_lookup(pod_netns: str, name: str, res_options: str, timeout: float) -> Lookup:
    """``getent ahosts NAME`` in the pod's namespace, at most ``timeout`` s."""
    env = {k: v for k, v in os.environ.items() if k not in ("RES_OPTIONS", "LOCALDOMAIN")}
    if res_options:
        env["RES_OPTIONS"] = res_options
    start = time.monotonic()
    try:
        res = subprocess.run(["ip", "netns", "exec", pod_netns, "getent", "ahosts", name],
                             capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return Lookup(time.monotonic() - start, timed_out=True)
    return Lookup(time.monotonic() - start, parse_ahosts(res.stdout))


def run_variant(variant: Variant, pod_netns: str, node_netns: str, name: str, count: int,
                parallel: int, timeout: float) -> Variant:
    """``count`` lookups, ``parallel`` at a time, between two counter reads."""
    variant.before = conntrack_stats(node_netns)
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        variant.lookups = list(pool.map(
            lambda _: one_lookup(pod_netns, name, variant.res_options, timeout), range(count)))
    variant.after = conntrack_stats(node_netns)
    return variant


def run(pod_netns: str, node_netns: str, name: str, count: int, parallel: int,
        timeout: float) -> list[Variant]:
    """Both variants, plain first: ``[parallel A+AAAA, single-request-reopen]``."""
    return [run_variant(Variant(*PARALLEL), pod_netns, node_netns, name, count, parallel,
                        timeout),
            run_variant(Variant(*REOPEN), pod_netns, node_netns, name, count, parallel,
                        timeout)]


def kernel() -> str:
    """The running kernel's release (``6.1.0-18-amd64``)."""
    return platform.release()
