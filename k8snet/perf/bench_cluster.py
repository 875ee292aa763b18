"""Cluster benchmarks: bring-up, per-pod set-up at 10 and 200 pods, discovery.

Each brings its own cluster up (named ``bench-*``, so its namespaces are
``k8snet-bench-*``) and always tears it down.  Workloads go into the API
store as objects; the figures are read from the store's watch (when each pod
was created, bound and Running) and from the kubelets (how long each pod's
set-up took).  Every figure is measured in this run; one that could not be
measured is reported failed with the reason.
"""
from __future__ import annotations

import importlib.util
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from k8snet import naming
from k8snet.cli import reach
from k8snet.load import topofile
from k8snet.perf import interrupts, stats, workload

Say = Callable[[str], None]
DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"
READY_TIMEOUT = 120.0


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


def _pod_keys(store, namespaces: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in store.list("Pod")
            if not namespaces or p["metadata"]["namespace"] in namespaces]


def bringup(say: Say) -> dict:
    """The default cluster (topologies/single.yaml with examples/demo applied):
    start, demo Ready, cold vs steady ping, stop."""
    from k8snet.apiserver import apply
    from k8snet.load import documents

    spec = replace(topofile.load("single"), name="bench-single")
    docs = documents.load_paths([str(DEMO)])
    say(f"bring-up: default cluster ({len(spec.nodes)} nodes) and examples/demo "
        f"({sum(d.kind == 'Pod' for d in docs)} pods)")
    cluster, up = _start(spec)
    res: dict = {"cluster_up_s": up, "nodes": len(spec.nodes)}
    try:
        store = cluster.store
        t0 = time.perf_counter()
        apply.apply(store, docs)
        keys = _pod_keys(store)
        workload.wait_for(lambda: workload.not_ready(store, keys) + cluster.not_ready(),
                          READY_TIMEOUT, "demo pods Ready")
        res["demo_ready_s"] = time.perf_counter() - t0
        res["up_s"] = up + res["demo_ready_s"]
        res["pods"] = len(store.list("Pod"))
        res["demo_pods"] = sum(d.kind == "Pod" for d in docs)
        # First packet across nodes between fresh pods (cold ARP everywhere) vs steady.
        workload.create_all(store, [workload.pod("rtt-a", "node1"),
                                    workload.pod("rtt-b", "node2")])
        pair = [("default", "rtt-a"), ("default", "rtt-b")]
        workload.wait_for(lambda: workload.not_ready(store, pair, workload.is_running), 30,
                          "rtt pods Running")
        a = cluster.pods.runtime(store.get("Pod", "default", "rtt-a"))
        b_ip = store.get("Pod", "default", "rtt-b")["status"]["podIP"]
        rtts = ping_rtts(a.netns, b_ip, 11)
        res["first_ping_ms"] = rtts[0] if rtts else None
        res["steady_ping_ms"] = statistics.median(rtts[1:]) if len(rtts) > 1 else None
        flows = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "tor1"],
                               capture_output=True, text=True, timeout=10).stdout
        res["flows"] = sum(1 for line in flows.splitlines() if "actions=" in line)
        res["flows_to_controller"] = sum(1 for line in flows.splitlines()
                                         if "CONTROLLER" in line)
    finally:
        res["down_s"] = _stop(cluster)
    say(f"  -> up {res['up_s']:.2f} s (cluster {up:.2f} s + demo Ready "
        f"{res['demo_ready_s']:.2f} s), down {res['down_s']:.2f} s, first ping "
        f"{res['first_ping_ms']} ms, steady {res['steady_ping_ms']} ms")
    return res


def pod_setup(total: int, nodes: int, say: Say) -> dict:
    """``total`` pods (built-in server, placed by the binder) over ``nodes`` nodes:
    from their creation until all are Running with an IP; set-up time per pod
    in its kubelet; all reachable?"""
    name = f"bench-pods{total}"
    spec = topofile.parse({"name": name, "nodes": nodes}, source=f"{total}-pod benchmark")
    say(f"pods: {nodes} nodes, {total} pods")
    cluster, cluster_up = _start(spec)
    try:
        store = cluster.store
        timer = workload.SetupTimer(cluster.kubelets.values())
        names = {f"p{i}" for i in range(total)}
        clock = workload.PodClock(store, lambda p: p["metadata"]["name"] in names
                                  and p["metadata"]["namespace"] == "default")
        keys = {("default", n) for n in names}
        t0 = time.perf_counter()
        workload.create_all(store, [workload.pod(f"p{i}", containers=(("app", ()),))
                                    for i in range(total)])
        try:
            last = clock.wait(keys, "running", READY_TIMEOUT, f"{total} pods Running")
        finally:
            clock.stop()
        up = last - t0
        setup = [timer.ms[k] for k in keys if k in timer.ms]
        sandbox = [timer.sandbox_ms[k] for k in keys if k in timer.sandbox_ms]
        to_running = [(clock.running[k] - clock.added[k]) * 1000 for k in keys]
        pods = [store.get("Pod", ns, n) for ns, n in sorted(keys)]
        t1 = time.perf_counter()
        # Every pod from a pod on node1, and each node's pods from the node.
        src = next(p for p in pods if workload.pod_node(p) == "node1")
        ip = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
        src_ns = cluster.pods.runtime(src).netns
        probes = [reach.Probe(src["metadata"]["name"], src_ns,
                              tuple((n, i) for n, i in ip.items()
                                    if n != src["metadata"]["name"]))]
        for node in spec.nodes:
            probes.append(reach.Probe(node.name, naming.node_netns(name, node.name),
                                      tuple((p["metadata"]["name"], p["status"]["podIP"])
                                            for p in pods
                                            if workload.pod_node(p) == node.name)))
        results = [reach.run_probe(p, timeout_ms=2000) for p in probes]
        dropped, received, sent = reach.summary(results)
        reach_s = time.perf_counter() - t1
    finally:
        down = _stop(cluster)
    res = {"pods": total, "nodes": nodes, "up_s": up, "cluster_up_s": cluster_up,
           "down_s": down, "reach_check_s": reach_s, "reached": received, "probed": sent,
           "dropped_pct": dropped, "setup_ms": sorted(setup),
           "setup_p50_ms": stats.percentile(setup, 50),
           "setup_p99_ms": stats.percentile(setup, 99),
           "sandbox_p50_ms": stats.percentile(sandbox, 50),
           "pods_per_s": total / up if up > 0 else None,
           "create_to_running_p50_ms": stats.percentile(to_running, 50),
           "create_to_running_p99_ms": stats.percentile(to_running, 99)}
    if len(setup) < total:
        raise RuntimeError(f"set-up timed for {len(setup)} of {total} pods only")
    say(f"  -> all Running {up:.2f} s after creation; per pod set-up p50 "
        f"{res['setup_p50_ms']:.1f} ms (sandbox {res['sandbox_p50_ms']:.1f} ms), p99 "
        f"{res['setup_p99_ms']:.1f} ms; creation to "
        f"Running p50 {res['create_to_running_p50_ms']:.0f} ms; reachable {received}/{sent}")
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
    res = discobench.run(replicas, seconds, progress=lambda m: say(f"  {m}"))
    for where in ("dns_from_pod", "dns_from_pod_same_node", "dns_from_node"):
        r = res.get(where) or {}
        if r.get("status") == "ok":
            say(f"  -> {where}: {r['qps']:.0f} q/s, p50 {r['p50_ms']:.2f} ms")
        else:
            say(f"  -> {where}: failed: {r.get('error', 'no result')}")
    return res
