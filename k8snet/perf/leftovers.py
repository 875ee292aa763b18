"""After a run: prove nothing was left behind, and remove it if something was.

Looks for exactly what the perf and bench harnesses create: namespaces
``k8snet-perf-*`` and ``k8snet-bench-*`` (their clusters are named ``perf-*``
and ``bench-*``; baselines and kproxy scratch namespaces are ``bench-*``),
OVS bridges tagged with those cluster names or ``bench``, and the OVS
baseline's root links.
"""
from __future__ import annotations

from k8snet.cluster.cleanup import clean, our_bridges, our_netns
from k8snet.cluster.rundir import cluster_dirs
from k8snet.perf import baselines

NETNS_PREFIXES = ("k8snet-perf-", "k8snet-bench-")
CLUSTER_PREFIXES = ("perf-", "bench-")


def cluster_names() -> list[str]:
    """Our clusters that still have a run directory (``/run/k8snet/NAME``)."""
    return [d.name for d in cluster_dirs() if d.name.startswith(CLUSTER_PREFIXES)]


def find() -> list[str]:
    found = {f"netns {ns}" for ns in our_netns() if ns.startswith(NETNS_PREFIXES)}
    for tag in ("bench", *cluster_names()):
        found |= {f"ovs bridge {br}" for br in our_bridges(tag)}
    found |= set(baselines.leftovers())
    found |= {f"run dir {name}" for name in cluster_names()}
    return sorted(found)


def sweep() -> list[str]:
    """What was left (empty after a clean run); removes it before returning."""
    found = find()
    if found:
        baselines.teardown()
        for name in cluster_names():
            clean(cluster=name, verbose=False)
        # Namespaces whose run directory is gone: "perf"/"bench" match as prefixes.
        for tag in ("perf", "bench"):
            clean(cluster=tag, verbose=False)
    return found
