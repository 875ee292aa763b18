"""Discovery benchmarks: time from ``kubectl apply`` to ready endpoints, and
cluster-DNS queries per second from a pod against the same server from its node.

    python -m k8snet.perf.discobench [--replicas 100] [--dns-seconds 3] [--json FILE]

Both run on one fresh default cluster with examples/demo applied.  Apply
times are measured from the apply into the API store until every Service of
the applied set lists all of its pods (the replicas the manifests ask for)
as ready endpoints in its EndpointSlices, which is when traffic can reach
them.  DNS load comes from k8snet.perf.dnsbench (pipelined UDP, bounded in
time), run in the demo's client pod (or a pod on another node than kube-dns)
against kube-dns's ClusterIP, in a pod on the DNS pod's node (the same,
without the fabric), and in the DNS pod's node against the pod IP: the
ratios between them are what the fabric, the service hop and the pod's veth
cost.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from k8snet import naming
from k8snet.addons import system as addons
from k8snet.apiserver import apply
from k8snet.cluster.cluster import Cluster
from k8snet.load import documents, topofile
from k8snet.perf import workload

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GUESTBOOK, DEMO = EXAMPLES / "guestbook.yaml", EXAMPLES / "demo"
NAMES = ("web.default.svc.cluster.local,kubernetes.default.svc.cluster.local,"
         "kube-dns.kube-system.svc.cluster.local")
READY_TIMEOUT = 300.0
GONE_TIMEOUT = 120.0

DEPLOYMENT = """\
apiVersion: v1
kind: Service
metadata: {{name: scale}}
spec: {{selector: {{app: scale}}, ports: [{{port: 80, targetPort: 8080}}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: scale}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: scale}}}}
  template:
    metadata: {{labels: {{app: scale}}}}
    spec:
      containers: [{{name: web, image: x, ports: [{{containerPort: 8080}}]}}]
"""


def progress(message: str) -> None:
    print(f"*** {message}", flush=True)


def time_apply(cluster, docs: list[documents.Document], timeout: float = READY_TIMEOUT) -> float:
    """Seconds from apply until every Service of ``docs`` lists all its pods
    (the replicas and Pods of ``docs`` it selects) as ready endpoints."""
    want = workload.expected_endpoints(docs)
    t0 = time.perf_counter()
    apply.apply(cluster.store, docs)
    workload.wait_for(lambda: workload.endpoint_gaps(cluster.store, want), timeout,
                      "endpoints ready")
    return time.perf_counter() - t0


def delete_all(cluster, docs: list[documents.Document], timeout: float = GONE_TIMEOUT) -> None:
    """``kubectl delete -f``, then wait until the pods it owned are gone."""
    selectors = [((d.obj.get("metadata") or {}).get("namespace") or "default",
                  (d.obj.get("spec") or {}).get("selector") or {})
                 for d in docs if d.kind in ("Deployment", "ReplicaSet", "StatefulSet")]
    apply.delete(cluster.store, docs)
    workload.wait_for(lambda: [f"{ns}/{p['metadata']['name']}" for ns, sel in selectors
                               for p in workload.selected_pods(cluster.store, ns, sel)],
                      timeout, "deleted pods gone")


def _pod_on(cluster, name: str, node: str) -> dict:
    """A pinned idle pod, Running; its stored object."""
    cluster.store.create(workload.pod(name, node))
    workload.wait_for(lambda: workload.not_ready(cluster.store, [("default", name)],
                                                 workload.is_running), 60, f"pod {name}")
    return cluster.store.get("Pod", "default", name)


def dns_load(netns: str, server: str, seconds: float) -> dict:
    argv = ["ip", "netns", "exec", netns, sys.executable, "-m", "k8snet.perf.dnsbench",
            "--server", server, "--names", NAMES, "--duration", str(seconds),
            "--concurrency", "32", "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"status": "failed", "error": (done.stderr or done.stdout).strip()[-300:]}
    result["status"] = "ok" if result.get("answered") else "failed"
    return result


def run(replicas: int = 100, dns_seconds: float = 3.0,
        progress=progress) -> dict:
    results: dict = {"replicas": replicas}
    with Cluster(replace(topofile.load("single"), name="bench-dns")) as cluster:
        progress("apply examples/demo and wait for it")
        demo = documents.load_paths([str(DEMO)])
        apply.apply(cluster.store, demo)
        demo_pods = [("default", d.name) for d in demo if d.kind == "Pod"]
        workload.wait_for(lambda: workload.not_ready(cluster.store, demo_pods),
                          READY_TIMEOUT, "demo pods Ready")
        progress("apply the guestbook (6 pods, 3 services)")
        guestbook = documents.load_paths([str(GUESTBOOK)])
        results["guestbook_ready_s"] = time_apply(cluster, guestbook)
        delete_all(cluster, guestbook)
        progress(f"apply a {replicas}-pod Deployment")
        scale = documents.parse_text(DEPLOYMENT.format(replicas=replicas), "scale.yaml")
        results["deployment_ready_s"] = time_apply(cluster, scale)
        delete_all(cluster, scale)
        store = cluster.store
        dns_pod = next((p for p in workload.selected_pods(
            store, addons.DNS_NAMESPACE, {"matchLabels": addons.DNS_LABELS})
            if workload.is_ready(p)), None)
        if dns_pod is None:
            raise RuntimeError("no kube-dns pod is Ready")
        dns_node = workload.pod_node(dns_pod)
        dns_ip = addons.dns_ip(cluster.spec.network)
        client = store.get("Pod", "default", "client")
        if workload.pod_node(client) == dns_node:
            far = next(n.name for n in reversed(cluster.spec.nodes) if n.name != dns_node)
            client = _pod_on(cluster, "dnsclient", far)
        progress(f"DNS load from pod {client['metadata']['name']} on "
                 f"{workload.pod_node(client)} to kube-dns {dns_ip} ({dns_seconds:g}s)")
        results["dns_from_pod"] = dns_load(cluster.pods.runtime(client).netns, dns_ip,
                                           dns_seconds)
        near = _pod_on(cluster, "dnsbench", dns_node)
        progress(f"DNS load from pod dnsbench on {dns_node} (the DNS pod's node) to "
                 f"kube-dns ({dns_seconds:g}s)")
        results["dns_from_pod_same_node"] = dns_load(cluster.pods.runtime(near).netns, dns_ip,
                                                     dns_seconds)
        pod_ip = dns_pod["status"]["podIP"]
        progress(f"DNS load from node {dns_node} to the DNS pod {pod_ip} ({dns_seconds:g}s)")
        results["dns_from_node"] = dns_load(naming.node_netns(cluster.spec.name, dns_node),
                                            pod_ip, dns_seconds)
    pod, node = results["dns_from_pod"], results["dns_from_node"]
    if pod["status"] == "ok" and node["status"] == "ok":
        results["dns_pod_vs_node_qps_ratio"] = pod["qps"] / node["qps"]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="discobench", description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--dns-seconds", type=float, default=3.0)
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args(argv)
    from mininet.log import setLogLevel
    setLogLevel("warning")
    results = run(args.replicas, args.dns_seconds)
    print(f"guestbook: endpoints ready {results['guestbook_ready_s']:.2f} s")
    print(f"{args.replicas}-pod Deployment: endpoints ready "
          f"{results['deployment_ready_s']:.2f} s")
    for where in ("dns_from_pod", "dns_from_pod_same_node", "dns_from_node"):
        r = results[where]
        if r["status"] == "ok":
            print(f"{where}: {r['qps']:.0f} q/s, p50 {r['p50_ms']:.2f} ms, "
                  f"p99 {r['p99_ms']:.2f} ms, errors {r['errors']}")
        else:
            print(f"{where}: failed: {r.get('error', '')}")
    if "dns_pod_vs_node_qps_ratio" in results:
        print(f"pod/node q/s ratio: {results['dns_pod_vs_node_qps_ratio']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
