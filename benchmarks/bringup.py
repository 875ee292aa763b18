"""Bring-up benchmark: cluster start time, pod set-up at scale, data-path ratios.

    .venv/bin/python benchmarks/bringup.py [--duration 10] [--pods-per-node 25]
        [--nodes 8] [--out results]

Every figure is measured in this run; throughput is reported as a ratio to a
baseline built in the same run (raw veth, Linux bridge, bare OVS netdev).
Writes OUT/bringup.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import baselines  # noqa: E402
from iperf import tcp_gbps, tcp_gbps_to  # noqa: E402
from mininet.log import setLogLevel  # noqa: E402

from k8snet import naming, reach, topofile  # noqa: E402
from k8snet.cleanup import clean  # noqa: E402
from k8snet.cluster import Cluster  # noqa: E402
from k8snet.model import Container, Pod  # noqa: E402


def progress(msg: str) -> None:
    print(f"*** {msg}", flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ping_rtts(netns: str, ip: str, count: int) -> list[float]:
    out = subprocess.run(["ip", "netns", "exec", netns, "ping", "-c", str(count),
                          "-i", "0.2", "-W", "1", ip],
                         capture_output=True, text=True).stdout
    return [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]


def bench_default(duration: int) -> dict:
    progress("bring-up of the default cluster (single, 3 nodes, 6 pods)")
    t0 = time.perf_counter()
    cluster = Cluster(topofile.load("single")).start()
    result = {"bringup_s": time.perf_counter() - t0}
    try:
        # First packet across nodes on fresh pods (cold ARP everywhere) vs steady.
        a = cluster.add_pod(Pod("rtt-a", node_name="node1", containers=(Container("c"),)))
        b = cluster.add_pod(Pod("rtt-b", node_name="node2", containers=(Container("c"),)))
        rtts = ping_rtts(a.netns, b.ip, 11)
        result["first_ping_ms"] = rtts[0] if rtts else None
        result["steady_ping_ms"] = statistics.median(rtts[1:]) if len(rtts) > 1 else None
        packet_ins = subprocess.run(
            "ovs-ofctl -O OpenFlow13 dump-flows tor1 | grep -c CONTROLLER",
            shell=True, capture_output=True, text=True).stdout.strip()
        result["flows_to_controller"] = int(packet_ins or 0)
        for name, src, dst in (("pod_pod_same_node", "web-1", "app-sidecar"),
                               ("pod_pod_cross_node", "web-1", "web-2")):
            progress(f"iperf3 {name} ({duration}s)")
            s, d = cluster.find_pod(src), cluster.find_pod(dst)
            result[name + "_gbps"] = tcp_gbps(s.netns, d.netns, d.ip, duration)
        client = cluster.find_pod("client")
        server = cluster.find_pod("iperf-server")
        svc_ip = cluster.services.find("iperf").cluster_ip
        for name, ip in (("direct_pod_ip", server.ip), ("cluster_ip", svc_ip)):
            progress(f"iperf3 client -> {name} ({duration}s)")
            result[name + "_gbps"] = tcp_gbps_to(client.netns, ip, 5201, duration)
        ext_ip = cluster.spec.network.ext_ip
        progress(f"iperf3 client -> ext with egress SNAT ({duration}s)")
        result["egress_snat_gbps"] = tcp_gbps_to(client.netns, ext_ip, 5201, duration)
        node_ns = naming.node_netns(cluster.spec.name, client.node)
        subprocess.run(["ip", "netns", "exec", node_ns, "nft", "flush", "chain", "ip",
                        "kproxy", "egress"], check=True)
        progress(f"iperf3 client -> ext without SNAT ({duration}s)")
        result["egress_no_snat_gbps"] = tcp_gbps_to(client.netns, ext_ip, 5201, duration)
        cluster.services.sync()
    finally:
        cluster.stop()
    return result


def bench_baselines(duration: int) -> dict:
    out = {}
    for name, ctx in (("veth", baselines.veth_pair), ("linux_bridge", baselines.linux_bridge),
                      ("ovs_netdev", baselines.ovs_bridge)):
        progress(f"iperf3 baseline {name} ({duration}s)")
        with ctx() as (ns_a, ns_b, ip_b):
            out[name + "_gbps"] = tcp_gbps(ns_a, ns_b, ip_b, duration)
    return out


def bench_scale(nodes: int, per_node: int) -> dict:
    total = nodes * per_node
    progress(f"scale: {nodes} nodes x {per_node} pods = {total} pods")
    spec = topofile.parse({"name": "scale", "nodes": nodes,
                           "pods": [{"name": f"p{i}"} for i in range(total)]},
                          source="scale benchmark")
    t0 = time.perf_counter()
    cluster = Cluster(spec).start()
    up = time.perf_counter() - t0
    try:
        setup = [s.setup_ms for s in cluster.pods.values()]
        pods = list(cluster.pods.values())
        t1 = time.perf_counter()
        # Every pod from a pod on another node, and from its own node.
        probe_src = next(s for s in pods if s.node == "node1")
        probes = [reach.Probe(probe_src.pod.name, probe_src.netns,
                              tuple((s.pod.name, s.ip) for s in pods if s is not probe_src))]
        for node in cluster.nodes:
            probes.append(reach.Probe(node, naming.node_netns("scale", node),
                                      tuple((s.pod.name, s.ip) for s in pods
                                            if s.node == node)))
        results = [reach.run_probe(p, timeout_ms=2000) for p in probes]
        dropped, received, sent = reach.summary(results)
        reach_s = time.perf_counter() - t1
    finally:
        t2 = time.perf_counter()
        cluster.stop()
        down = time.perf_counter() - t2
    return {"pods": total, "nodes": nodes, "up_s": up, "reach_check_s": reach_s,
            "reachable": f"{received}/{sent}", "dropped_pct": dropped,
            "pod_setup_p50_ms": pct(setup, 0.5), "pod_setup_p99_ms": pct(setup, 0.99),
            "teardown_s": down}


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def fmt(value, unit="") -> str:
    if value is None:
        return "FAILED"
    if isinstance(value, float):
        return f"{value:.2f}{unit}"
    return f"{value}{unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--pods-per-node", type=int, default=25)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    setLogLevel("warning")
    clean(verbose=False)
    res = {"machine": {"kernel": platform.release(), "cpus": os.cpu_count(),
                       "python": platform.python_version()}}
    try:
        res["default"] = bench_default(args.duration)
        res["baselines"] = bench_baselines(args.duration)
        res["scale"] = bench_scale(args.nodes, args.pods_per_node)
    finally:
        clean(verbose=False)
    d, b, s = res["default"], res["baselines"], res["scale"]
    res["ratios"] = {
        "same_node_vs_linux_bridge": ratio(d["pod_pod_same_node_gbps"], b["linux_bridge_gbps"]),
        "cross_node_vs_bare_ovs": ratio(d["pod_pod_cross_node_gbps"], b["ovs_netdev_gbps"]),
        "same_node_vs_veth": ratio(d["pod_pod_same_node_gbps"], b["veth_gbps"]),
        "cross_node_vs_veth": ratio(d["pod_pod_cross_node_gbps"], b["veth_gbps"]),
        "cluster_ip_vs_pod_ip": ratio(d["cluster_ip_gbps"], d["direct_pod_ip_gbps"]),
        "egress_snat_vs_no_snat": ratio(d["egress_snat_gbps"], d["egress_no_snat_gbps"]),
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "bringup.json")
    with open(path, "w") as fh:
        json.dump(res, fh, indent=2)
    rows = [
        ("bring-up, default cluster", fmt(d["bringup_s"], " s")),
        ("first ping across nodes (cold)", fmt(d["first_ping_ms"], " ms")),
        ("steady ping across nodes (median)", fmt(d["steady_ping_ms"], " ms")),
        ("flows punting to controller", fmt(d["flows_to_controller"])),
        (f"scale: {s['pods']} pods up", fmt(s["up_s"], " s")),
        ("scale: pods reachable", s["reachable"]),
        ("scale: per-pod set-up p50 / p99",
         f"{s['pod_setup_p50_ms']:.1f} / {s['pod_setup_p99_ms']:.1f} ms (target p50 <= 30)"),
        ("iperf3 veth pair", fmt(b["veth_gbps"], " Gbit/s")),
        ("iperf3 Linux bridge", fmt(b["linux_bridge_gbps"], " Gbit/s")),
        ("iperf3 bare OVS netdev", fmt(b["ovs_netdev_gbps"], " Gbit/s")),
        ("iperf3 pod->pod same node", fmt(d["pod_pod_same_node_gbps"], " Gbit/s")),
        ("iperf3 pod->pod across nodes", fmt(d["pod_pod_cross_node_gbps"], " Gbit/s")),
        ("iperf3 pod->pod IP (client->iperf-server)", fmt(d["direct_pod_ip_gbps"], " Gbit/s")),
        ("iperf3 pod->ClusterIP (same pair)", fmt(d["cluster_ip_gbps"], " Gbit/s")),
        ("iperf3 pod->ext with SNAT", fmt(d["egress_snat_gbps"], " Gbit/s")),
        ("iperf3 pod->ext without SNAT", fmt(d["egress_no_snat_gbps"], " Gbit/s")),
    ]
    for key, target in (("same_node_vs_linux_bridge", 0.9), ("cross_node_vs_bare_ovs", 0.8),
                        ("same_node_vs_veth", None), ("cross_node_vs_veth", None),
                        ("cluster_ip_vs_pod_ip", 0.95), ("egress_snat_vs_no_snat", 0.9)):
        value = res["ratios"][key]
        verdict = "" if target is None or value is None else (
            f" (target >= {target}: {'met' if value >= target else 'NOT met'})")
        rows.append((f"ratio {key}", fmt(value, "x") + verdict))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'MEASUREMENT'.ljust(width)}   RESULT")
    for name, value in rows:
        print(f"{name.ljust(width)}   {value}")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
