"""Discovery benchmarks: time from ``kubectl apply`` to ready endpoints, and
cluster-DNS queries per second from a pod against the same server from its node.

    python -m k8snet.perf.discobench [--replicas 100] [--dns-seconds 3] [--json FILE]

Both run on one fresh default cluster.  Apply times are measured until every
service of the applied set lists all of its pods as ready endpoints, which is
when traffic can reach them.  DNS load comes from k8snet.perf.dnsbench (pipelined
UDP, bounded in time), run in the client pod against kube-dns's ClusterIP and
in a pod on the DNS pod's node (the same, without the fabric), and in the DNS
pod's node against the pod IP: the ratios between them are what the fabric,
the service hop and the pod's veth cost.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from k8snet.addons import system as addons
from k8snet.api.model import Container, Pod
from k8snet.cluster import apply
from k8snet.cluster.cluster import Cluster
from k8snet.load import manifests, topofile

GUESTBOOK = Path(__file__).resolve().parents[2] / "examples" / "guestbook.yaml"
NAMES = ("web.default.svc.cluster.local,kubernetes.default.svc.cluster.local,"
         "kube-dns.kube-system.svc.cluster.local")

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


def endpoints_ready(cluster, services: list[str]) -> bool:
    """Every selected, non-terminating pod is a ready endpoint of each service."""
    with cluster.lock:
        for key in services:
            svc = cluster.services.services[key]
            selected = {s.pod.key for s in cluster.pods.values()
                        if not s.terminating and s.pod.namespace == svc.namespace
                        and svc.selector and all(dict(s.pod.labels).get(k) == v
                                                 for k, v in svc.selector)}
            ready = {e.pod for eps in cluster.services.endpoints.get(key, {}).values()
                     for e in eps if e.ready}
            if not selected or not selected <= ready:
                return False
    return True


def time_apply(cluster, mset: manifests.ManifestSet, timeout: float = 300) -> float:
    """Seconds from apply to every service's endpoints ready."""
    keys = [svc.key for svc in mset.services]
    t0 = time.perf_counter()
    apply.apply(cluster, mset, out=lambda _: None, wait=0)
    while not endpoints_ready(cluster, keys):
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"endpoints not ready after {timeout}s")
        time.sleep(0.02)
    return time.perf_counter() - t0


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


def run(replicas: int = 100, dns_seconds: float = 3.0) -> dict:
    results: dict = {"replicas": replicas}
    with Cluster(topofile.load("single")) as cluster:
        progress("apply the guestbook (6 pods, 3 services)")
        guestbook = manifests.load_paths([str(GUESTBOOK)])
        results["guestbook_ready_s"] = time_apply(cluster, guestbook)
        apply.delete(cluster, guestbook, out=lambda _: None)
        progress(f"apply a {replicas}-pod Deployment")
        mset = manifests.parse_documents(DEPLOYMENT.format(replicas=replicas), "scale.yaml")
        results["deployment_ready_s"] = time_apply(cluster, mset)
        apply.delete(cluster, mset, out=lambda _: None)
        client = cluster.find_pod("client")
        dns_pod = cluster.find_pod(f"{addons.DNS_NAMESPACE}/{addons.DNS_POD}")
        progress(f"DNS load from pod {client.pod.name} to kube-dns {addons.dns_ip(cluster)} "
                 f"({dns_seconds:g}s)")
        results["dns_from_pod"] = dns_load(client.netns, addons.dns_ip(cluster), dns_seconds)
        near = cluster.add_pod(Pod("dnsbench", node_name=dns_pod.node,
                                   containers=(Container("c"),)))
        progress(f"DNS load from pod dnsbench on {dns_pod.node} (the DNS pod's node) to "
                 f"kube-dns ({dns_seconds:g}s)")
        results["dns_from_pod_same_node"] = dns_load(near.netns, addons.dns_ip(cluster),
                                                     dns_seconds)
        progress(f"DNS load from node {dns_pod.node} to the DNS pod {dns_pod.ip} "
                 f"({dns_seconds:g}s)")
        results["dns_from_node"] = dns_load(dns_pod.node_netns, dns_pod.ip, dns_seconds)
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
