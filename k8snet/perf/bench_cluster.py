"""Cluster benchmarks: bring-up, per-pod set-up at 10 and 200 pods, discovery.

Each brings its own cluster up (named ``bench-*``, so its namespaces are
``k8snet-bench-*``) and always tears it down.  Every figure is measured in
this run; one that could not be measured is reported failed with the reason.
"""
from __future__ import annotations

import importlib.util
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace

from k8snet import naming
from k8snet.cli import reach
from k8snet.load import topofile
from k8snet.perf import interrupts, stats

Say = Callable[[str], None]


def _start(spec):
    from k8snet.cluster.cluster import Cluster

    t0 = time.perf_counter()
    cluster = Cluster(spec).start()
    return cluster, time.perf_counter() - t0


def _stop(cluster) -> float:
    t0 = time.perf_counter()
    with interrupts.shielded():
        cluster.stop()
    return time.perf_counter() - t0


def ping_rtts(netns: str, ip: str, count: int) -> list[float]:
    out = subprocess.run(["ip", "netns", "exec", netns, "ping", "-n", "-c", str(count),
                          "-i", "0.2", "-W", "1", ip],
                         capture_output=True, text=True, timeout=count + 10).stdout
    return [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]


def bringup(say: Say) -> dict:
    """The default cluster (topologies/single.yaml): start, cold vs steady ping, stop."""
    from k8snet.api.model import Container, Pod

    spec = topofile.load("single")
    spec = replace(spec, name="bench-single")
    say(f"bring-up: default cluster ({len(spec.nodes)} nodes, {len(spec.pods)} pods)")
    cluster, up = _start(spec)
    res: dict = {"up_s": up, "nodes": len(spec.nodes), "pods": len(cluster.pods)}
    try:
        # First packet across nodes between fresh pods (cold ARP everywhere) vs steady.
        a = cluster.add_pod(Pod("rtt-a", node_name="node1", containers=(Container("c"),)))
        b = cluster.add_pod(Pod("rtt-b", node_name="node2", containers=(Container("c"),)))
        rtts = ping_rtts(a.netns, b.ip, 11)
        res["first_ping_ms"] = rtts[0] if rtts else None
        res["steady_ping_ms"] = statistics.median(rtts[1:]) if len(rtts) > 1 else None
        flows = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "tor1"],
                               capture_output=True, text=True, timeout=10).stdout
        res["flows"] = sum(1 for line in flows.splitlines() if "actions=" in line)
        res["flows_to_controller"] = sum(1 for line in flows.splitlines()
                                         if "CONTROLLER" in line)
    finally:
        res["down_s"] = _stop(cluster)
    say(f"  -> up {res['up_s']:.2f} s, down {res['down_s']:.2f} s, first ping "
        f"{res['first_ping_ms']} ms, steady {res['steady_ping_ms']} ms")
    return res


def pod_setup(total: int, nodes: int, say: Say) -> dict:
    """``total`` pods over ``nodes`` nodes: set-up time per pod, all reachable?"""
    name = f"bench-pods{total}"
    spec = topofile.parse({"name": name, "nodes": nodes,
                           "pods": [{"name": f"p{i}"} for i in range(total)]},
                          source=f"{total}-pod benchmark")
    say(f"pods: {nodes} nodes, {total} pods")
    cluster, up = _start(spec)
    try:
        # Only the benchmark's own pods (add-ons such as kube-dns start with the cluster).
        wanted = {p.key for p in spec.pods}
        pods = [s for s in cluster.pods.values() if s.pod.key in wanted]
        setup = [s.setup_ms for s in pods]
        t1 = time.perf_counter()
        # Every pod from a pod on node1, and each node's pods from the node.
        src = next(s for s in pods if s.node == "node1")
        probes = [reach.Probe(src.pod.name, src.netns,
                              tuple((s.pod.name, s.ip) for s in pods if s is not src))]
        for node in cluster.nodes:
            probes.append(reach.Probe(node, naming.node_netns(name, node),
                                      tuple((s.pod.name, s.ip) for s in pods
                                            if s.node == node)))
        results = [reach.run_probe(p, timeout_ms=2000) for p in probes]
        dropped, received, sent = reach.summary(results)
        reach_s = time.perf_counter() - t1
    finally:
        down = _stop(cluster)
    res = {"pods": total, "nodes": nodes, "up_s": up, "down_s": down,
           "reach_check_s": reach_s, "reached": received, "probed": sent,
           "dropped_pct": dropped, "setup_ms": sorted(setup),
           "setup_p50_ms": stats.percentile(setup, 50),
           "setup_p99_ms": stats.percentile(setup, 99)}
    say(f"  -> up {up:.2f} s; per pod p50 {res['setup_p50_ms']:.1f} ms, p99 "
        f"{res['setup_p99_ms']:.1f} ms; reachable {received}/{sent}")
    return res


def discovery_missing() -> str:
    """"" when this checkout has cluster DNS and its benchmark, else why not."""
    for module, what in (("k8snet.addons.dns", "cluster DNS (the discovery issue)"),
                         ("k8snet.perf.dnsbench", "the DNS load generator"),
                         ("k8snet.perf.discobench", "the discovery benchmark")):
        if importlib.util.find_spec(module) is None:
            return f"{what} ({module}) is not in this checkout"
    return ""


def discovery(replicas: int, seconds: float, say: Say) -> dict:
    """Apply-to-ready times and DNS queries/s (k8snet.perf.discobench, on its own cluster).

    DNS load is pipelined UDP from a pod to kube-dns's ClusterIP, from a pod on
    the DNS pod's node, and from that node to the DNS pod's IP.
    """
    why = discovery_missing()
    if why:
        return {"skipped": why}
    from k8snet.perf import discobench

    say(f"dns: apply-to-ready ({replicas}-pod Deployment) and {seconds:g} s of DNS "
        "queries per client")
    res = discobench.run(replicas, seconds)
    for where in ("dns_from_pod", "dns_from_pod_same_node", "dns_from_node"):
        r = res.get(where) or {}
        if r.get("status") == "ok":
            say(f"  -> {where}: {r['qps']:.0f} q/s, p50 {r['p50_ms']:.2f} ms")
        else:
            say(f"  -> {where}: failed: {r.get('error', 'no result')}")
    return res
