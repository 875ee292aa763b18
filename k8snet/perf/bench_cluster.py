"""Cluster benchmarks: bring-up, pod set-up and teardown at 10 to 1,000 pods, discovery.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from k8snet import naming
from k8snet.cli import reach
from k8snet.load import topofile
from k8snet.perf import cpu, interrupts, pod_goals, stats, workload

Say = Callable[[str], None]
DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"
READY_TIMEOUT = 120.0
PER_POD_TIMEOUT = 0.3     # seconds per pod, for the largest sizes
ONE_AT_A_TIME = 16        # pods set up and torn down one by one, the workload present
ONE_AT_A_TIME_GAP = 0.05  # seconds between them, for the cluster's reactions to settle


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


class ChurnTimer:
    """Per pod, in its kubelet: the teardown's wall time (containers stopped,
    the sandbox's network removed, resolver files, IP released) and the CPU
    time (the kubelet thread's, kernel included) of the set-up (sandbox and
    first start of each container) and of the teardown: the work, without
    the waits for other threads of the lab."""

    def __init__(self, kubelets) -> None:
        self.teardown_ms: dict[tuple[str, str], float] = {}
        self.setup_cpu_ms: dict[tuple[str, str], float] = {}
        self.teardown_cpu_ms: dict[tuple[str, str], float] = {}
        for kubelet in kubelets:
            self._wrap(kubelet)

    def _wrap(self, kubelet) -> None:
        sandbox, start = kubelet._sandbox, kubelet._start
        teardown = kubelet._teardown

        def timed_sandbox(key, obj):
            c0 = time.thread_time()
            try:
                return sandbox(key, obj)
            finally:
                self.setup_cpu_ms[tuple(key)] = (time.thread_time() - c0) * 1000

        def timed_start(obj, rt, c):
            first, c0 = c.proc is None, time.thread_time()
            try:
                return start(obj, rt, c)
            finally:
                if first:
                    key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
                    self.setup_cpu_ms[key] = self.setup_cpu_ms.get(key, 0.0) \
                        + (time.thread_time() - c0) * 1000

        def timed_teardown(key, rt):
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return teardown(key, rt)
            finally:
                self.teardown_ms[tuple(key)] = (time.perf_counter() - t0) * 1000
                self.teardown_cpu_ms[tuple(key)] = (time.thread_time() - c0) * 1000

        kubelet._sandbox, kubelet._start = timed_sandbox, timed_start
        kubelet._teardown = timed_teardown


def _reach(cluster, spec, pods: list[dict]) -> tuple[float, int, int, float]:
    """Every pod from a pod on node1 and each node's pods from the node, all
    probes at once (one fping per source and node): (dropped %, received,
    sent, seconds)."""
    t0 = time.perf_counter()
    src = next(p for p in pods if workload.pod_node(p) == "node1")
    src_ns = cluster.pods.runtime(src).netns
    probes = []
    for node in spec.nodes:
        mine = tuple((p["metadata"]["name"], p["status"]["podIP"]) for p in pods
                     if workload.pod_node(p) == node.name)
        probes.append(reach.Probe(node.name, naming.node_netns(spec.name, node.name), mine))
        probes.append(reach.Probe(src["metadata"]["name"], src_ns,
                                  tuple(t for t in mine if t[0] != src["metadata"]["name"])))
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda p: reach.run_probe(p, timeout_ms=2000), probes))
    dropped, received, sent = reach.summary(results)
    return dropped, received, sent, time.perf_counter() - t0


def _one_at_a_time(store, clock, setup: workload.SetupTimer, churn: ChurnTimer,
                   count: int) -> dict[str, list[float]]:
    """``count`` more pods, each created and waited for (Running), then each
    deleted and waited for (gone): their set-up and teardown in the kubelets
    (wall and CPU), with the rest of the workload present."""
    keys = [("default", f"one{i}") for i in range(count)]
    for ns, name in keys:
        workload.create_all(store, [workload.pod(name, containers=(("app", ()),))])
        clock.wait({(ns, name)}, "running", READY_TIMEOUT, f"pod {name} Running")
        time.sleep(ONE_AT_A_TIME_GAP)
    for ns, name in keys:
        store.delete("Pod", ns, name)
        clock.wait({(ns, name)}, "gone", READY_TIMEOUT, f"pod {name} removed")
        time.sleep(ONE_AT_A_TIME_GAP)
    tables = {"setup": setup.ms, "setup_cpu": churn.setup_cpu_ms,
              "teardown": churn.teardown_ms, "teardown_cpu": churn.teardown_cpu_ms}
    missing = [k for k in keys if any(k not in t for t in tables.values())]
    if missing:
        raise RuntimeError(f"one at a time: {len(missing)} of {count} pods not timed")
    return {what: [t[k] for k in keys] for what, t in tables.items()}


def _timeout(pods: int) -> float:
    """Seconds to wait for ``pods`` to start or go: long enough that a slow
    run is measured (and judged) rather than cut off."""
    return max(READY_TIMEOUT, PER_POD_TIMEOUT * pods)


def pod_setup(total: int, nodes: int, say: Say, one_at_a_time: int = ONE_AT_A_TIME) -> dict:
    """``total`` pods (built-in server, placed by the binder) over ``nodes`` nodes.

    1. All created at once: from creation until all are Running with an IP,
       each pod's set-up in its kubelet (under load: every kubelet at once),
       then all reachable (from a pod on node1 and from each node).
    2. Once the burst is over (``cpu.settle``), with those present,
       ``one_at_a_time`` more pods created and deleted one by one: per-pod
       set-up and teardown in the kubelet (issue 14's goals: set-up p50
       ≤ 5 ms at any size, teardown ≤ set-up: k8snet.perf.pod_goals).
    3. All deleted at once: until the last is gone."""
    name = f"bench-pods{total}"
    spec = topofile.parse({"name": name, "nodes": nodes}, source=f"{total}-pod benchmark")
    say(f"pods: {nodes} nodes, {total} pods")
    cluster, cluster_up = _start(spec)
    try:
        store = cluster.store
        timer = workload.SetupTimer(cluster.kubelets.values())
        churn = ChurnTimer(cluster.kubelets.values())
        names = {f"p{i}" for i in range(total)} | {f"one{i}" for i in range(one_at_a_time)}
        clock = workload.PodClock(store, lambda p: p["metadata"]["name"] in names
                                  and p["metadata"]["namespace"] == "default")
        keys = {("default", f"p{i}") for i in range(total)}
        try:
            t0 = time.perf_counter()
            workload.create_all(store, [workload.pod(f"p{i}", containers=(("app", ()),))
                                        for i in range(total)])
            last = clock.wait(keys, "running", _timeout(total), f"{total} pods Running")
            up = last - t0
            setup = [timer.ms[k] for k in keys if k in timer.ms]
            sandbox = [timer.sandbox_ms[k] for k in keys if k in timer.sandbox_ms]
            to_running = [(clock.running[k] - clock.added[k]) * 1000 for k in keys]
            pods = [store.get("Pod", ns, n) for ns, n in sorted(keys)]
            dropped, received, sent, reach_s = _reach(cluster, spec, pods)
            settled = cpu.settle()    # "with N present": beside N pods, not N still starting
            one = _one_at_a_time(store, clock, timer, churn, one_at_a_time)
            t1 = time.perf_counter()
            for ns, n in sorted(keys):
                store.delete("Pod", ns, n)
            gone = clock.wait(keys, "gone", _timeout(total), f"{total} pods removed") - t1
            teardown_all = [churn.teardown_ms[k] for k in keys if k in churn.teardown_ms]
        finally:
            clock.stop()
    finally:
        down = _stop(cluster)
    one_p50 = stats.percentile(one["setup"], 50)
    one_down_p50 = stats.percentile(one["teardown"], 50)
    res = {"pods": total, "nodes": nodes, "up_s": up, "cluster_up_s": cluster_up,
           "down_s": down, "reach_check_s": reach_s, "reached": received, "probed": sent,
           "dropped_pct": dropped, "setup_ms": sorted(setup),
           "setup_p50_ms": stats.percentile(setup, 50),
           "setup_p99_ms": stats.percentile(setup, 99),
           "sandbox_p50_ms": stats.percentile(sandbox, 50),
           "pods_per_s": total / up if up > 0 else None,
           "create_to_running_p50_ms": stats.percentile(to_running, 50),
           "create_to_running_p99_ms": stats.percentile(to_running, 99),
           "up_reachable_s": up + reach_s if received == sent else None,
           "delete_all_s": gone, "teardown_p50_ms": stats.percentile(teardown_all, 50),
           "one_at_a_time": one_at_a_time, "settled_s": settled,
           "one_setup_ms": sorted(one["setup"]), "one_setup_p50_ms": one_p50,
           "one_setup_cpu_p50_ms": stats.percentile(one["setup_cpu"], 50),
           "one_teardown_ms": sorted(one["teardown"]), "one_teardown_p50_ms": one_down_p50,
           "one_teardown_cpu_p50_ms": stats.percentile(one["teardown_cpu"], 50)}
    res["targets"] = pod_goals.targets(res)
    if len(setup) < total:
        raise RuntimeError(f"set-up timed for {len(setup)} of {total} pods only")
    say(f"  -> all Running {up:.2f} s after creation, reachable {received}/{sent} "
        f"(checked in {reach_s:.2f} s); per pod set-up p50 {res['setup_p50_ms']:.1f} ms "
        f"(sandbox {res['sandbox_p50_ms']:.1f} ms), p99 {res['setup_p99_ms']:.1f} ms; "
        f"creation to Running p50 {res['create_to_running_p50_ms']:.0f} ms")
    say(f"  -> one at a time with {total} present: set-up p50 {one_p50:.2f} ms (CPU "
        f"{res['one_setup_cpu_p50_ms']:.2f}), teardown p50 {one_down_p50:.2f} ms (CPU "
        f"{res['one_teardown_cpu_p50_ms']:.2f}); all {total} deleted in {gone:.2f} s")
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
