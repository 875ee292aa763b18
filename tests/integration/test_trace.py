"""trace and draw on a live cluster: every path of the guide, drops explained,
the verdict agreeing with real connections, and the pictures."""
from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET

import pytest

from k8snet import naming
from k8snet.cli import trace as tc
from k8snet.netpol.live import LiveLab
from k8snet.trace import draw
from k8snet.trace.target import run_probe
from tests.integration.conftest import apply_yaml, settle, wait_for

COOKIE = "6b380001"          # the fabric controller's flows (controllers/fabric_plan.py)


def run(cluster, *words: str):
    lines: list[str] = []
    result = tc.trace_command(cluster, list(words), lines.append)
    return result, "".join(lines)


def answered_by(result) -> str:
    """The pod name the built-in server put in its reply."""
    return result.reply.split("|", 1)[1].strip() if "|" in result.reply else ""


def test_pod_to_service_hops(cluster):
    settle(cluster)
    result, text = run(cluster, "client", "web")
    assert result.delivered, text
    assert "answered by kube-system/kube-dns-" in text          # the DNS pod, via conntrack
    assert "web.default.svc.cluster.local: NOERROR" in text
    client = cluster.pods.find("client")
    assert f"-> veth {naming.host_veth(cluster.spec.name, 'default', 'client')} on " \
        f"{client['spec']['nodeName']}, which routes it" in text
    # kproxy's shared pick chain DNATs through a map; conntrack names the endpoint.
    assert re.search(r'kproxy cluster-ip-\d+: "one of \d+ ready endpoints"', text), text
    dnat = re.search(r"DNAT: [\d.]+:80 -> ([\d.]+):8080", text)
    assert dnat, text
    backend = cluster.store.list("Pod", where=lambda p: (p.get("status") or {})
                                 .get("podIP") == dnat.group(1))[0]
    assert backend["metadata"]["name"] == answered_by(result)   # DNAT chose who answered
    assert result.backend == f"default/{answered_by(result)}"


def test_pod_to_pod_across_nodes_shows_the_fabric_flows(cluster):
    client = cluster.pods.find("client")
    other = next(p for p in cluster.store.list("Pod", "default")
                 if p["spec"].get("nodeName") != client["spec"]["nodeName"]
                 and p["metadata"]["name"].startswith("web-"))
    result, text = run(cluster, "client", f"{other['metadata']['name']}:8080")
    assert result.delivered and answered_by(result) == other["metadata"]["name"], text
    assert f"cookie 0x1{COOKIE}" in text or f"cookie 0x{COOKIE}" in text
    assert "set_field" in text and "dec_ttl" in text
    assert f"-> {other['spec']['nodeName']}" in text
    veth = naming.host_veth(cluster.spec.name, "default", other["metadata"]["name"])
    assert f"ip route get {other['status']['podIP']}: {other['status']['podIP']} dev {veth}" \
        in text


def test_pod_to_pod_same_node_is_routed_by_the_node(cluster):
    pods = cluster.store.list("Pod", "default")
    by_node: dict[str, list] = {}
    for p in pods:
        if p["metadata"]["name"].startswith("web-") or p["metadata"]["name"] == "client":
            by_node.setdefault(p["spec"]["nodeName"], []).append(p)
    pair = next((ps for ps in by_node.values() if len(ps) >= 2), None)
    if pair is None:
        pytest.fail("the demo has no two pods on one node")
    a, b = pair[0], pair[1]
    result, text = run(cluster, a["metadata"]["name"], f"{b['metadata']['name']}:8080")
    assert result.delivered, text
    assert "switch" not in text                                # never left the node
    veth = naming.host_veth(cluster.spec.name, "default", b["metadata"]["name"])
    assert f"dev {veth}" in text                               # b's /32 on its veth


def test_ext_to_load_balancer_shows_ecmp_and_snat(cluster):
    lb = wait_for(lambda: ((cluster.store.get("Service", "default", "web-lb").get("status")
                            or {}).get("loadBalancer") or {}).get("ingress"), 15, "LB IP")
    result, text = run(cluster, "ext", lb[0]["ip"])
    assert result.delivered, text
    assert "ECMP select group" in text
    assert "the bucket is chosen by the hash below" in text and "no live bucket" not in text
    assert "Cluster policy masquerades" in text
    assert "SNAT: the source becomes" in text
    assert result.backend.startswith("default/web-")


def test_ext_through_ingress_to_the_backend(cluster):
    result, text = run(cluster, "ext", "http://a.example/")
    assert result.delivered, text
    assert "Ingress host" in text and "ingress-nginx proxies to default/" in text
    assert result.backend == f"default/{answered_by(result)}"


def test_pod_to_internet_is_masqueraded_to_the_node(cluster):
    client = cluster.pods.find("client")
    node_ip = cluster.network.nodes[client["spec"]["nodeName"]].ip
    result, text = run(cluster, "client", cluster.spec.network.ext_ip)
    assert result.delivered and result.backend == "ext", text
    assert f"SNAT: the source becomes {node_ip}:" in text
    assert "pod traffic leaving the cluster" in text or "egress" in text


def test_no_endpoints_is_explained(cluster):
    apply_yaml(cluster, """
apiVersion: v1
kind: Service
metadata: {name: nobody, namespace: default}
spec:
  selector: {app: nobody-here}
  ports: [{port: 80, targetPort: 8080}]
""")
    ip = wait_for(lambda: cluster.store.get("Service", "default", "nobody")["spec"]
                  .get("clusterIP"), 10, "ClusterIP")

    def traced():
        result, text = run(cluster, "client", f"{ip}:80")
        return (result, text) if "no endpoints" in text else None
    result, text = wait_for(traced, 10, "kproxy's reject rule")
    assert not result.delivered
    assert result.verdict.startswith("stopped:") and "no endpoints" in result.verdict, text
    cluster.store.delete("Service", "default", "nobody")


def test_a_port_the_service_does_not_have_is_explained(cluster):
    result, text = run(cluster, "client", "web:81")
    assert not result.delivered
    assert "the Service default/web has no port 81/TCP (it serves 80/TCP)" in result.verdict, \
        text


def test_external_traffic_policy_local_drop_is_explained(cluster):
    apply_yaml(cluster, """
apiVersion: v1
kind: Service
metadata: {name: only-local, namespace: default}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: sidecar-demo}
  ports: [{port: 80, targetPort: 8080, nodePort: 30099}]
""")
    host = {p["spec"]["nodeName"] for p in cluster.store.list("Pod", "default")
            if (p["metadata"].get("labels") or {}).get("app") == "sidecar-demo"}
    assert host, "the demo's sidecar pod is running"
    empty = next(n for n in cluster.network.nodes if n not in host)
    ip = cluster.network.nodes[empty].ip

    def traced():
        result, text = run(cluster, "ext", f"{ip}:30099")
        return (result, text) if "no endpoint on this node" in text else None
    result, text = wait_for(traced, 10, "the Local policy drop")
    assert not result.delivered and "Local policy" in result.verdict, text
    cluster.store.delete("Service", "default", "only-local")


def test_network_policy_deny_is_named(cluster):
    apply_yaml(cluster, """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-deny-all, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
""")
    LiveLab(cluster.store, lambda p: "", list(cluster.netpols.values())).wait_synced()
    result, text = run(cluster, "client", "web-1:8080")
    try:
        assert not result.delivered, text
        assert "no policy allows it" in text
        assert "default/web-deny-all" in result.verdict, result.verdict
    finally:
        cluster.store.delete("NetworkPolicy", "default", "web-deny-all")


def test_trace_agrees_with_real_connections(cluster):
    """100 random (source, destination) pairs: delivered iff a connection made
    right after from the same source succeeds, and the backend is who answered."""
    pods = [p["metadata"]["name"] for p in cluster.store.list("Pod", "default")
            if (p.get("status") or {}).get("podIP")]
    targets = [f"{p}:8080" for p in pods] + ["web", "web-lb", "sidecar", "web-1:9999"]
    rng = random.Random(4)
    agreed = 0
    for _ in range(100):
        src, dst = rng.choice(pods), rng.choice(targets)
        result, text = run(cluster, src, dst)
        netns = cluster.pods.runtime(cluster.pods.find(src)).netns
        real = run_probe(netns, {"action": "connect", "ip": result.target.ip,
                                 "port": result.target.port, "protocol": "TCP",
                                 "sport": rng.randint(30000, 39999), "http": None,
                                 "timeout": 1.0})
        assert result.delivered == real["connected"], (src, dst, text, real)
        if result.delivered and answered_by(result):
            assert result.backend.endswith("/" + answered_by(result)), text
        agreed += 1
    assert agreed == 100


def test_draw_and_trace_svg(cluster, tmp_path):
    lines: list[str] = []
    svg = tc.draw_command(cluster, [str(tmp_path / "cluster.svg")], lines.append)
    root = ET.fromstring(svg.read_text())
    assert root.tag.endswith("svg")
    png = tc.draw_command(cluster, [str(tmp_path / "cluster.png")], lines.append)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "path.svg"
    result = tc.trace_command(cluster, ["client", "web", "--svg", str(out)], lines.append)
    from k8snet.trace import picture
    pic = picture.picture_from(cluster.store, picture.fabric_from(cluster.network))
    assert draw.highlighted_edges(out.read_text()) == tc.path_of(result, pic).pairs()
    assert tc.path_of(result, pic).hops, "the path has hops to highlight"


def test_container_to_container_stays_in_the_pod(cluster):
    result, text = run(cluster, "app-sidecar", "127.0.0.1:9000")
    assert result.delivered, text
    assert "share one network namespace" in text and "veth" not in text
    assert result.backend == "default/app-sidecar"
    result, text = run(cluster, "client", "127.0.0.1:9000")
    assert not result.delivered and "nothing listens" in result.verdict
    result, text = run(cluster, "web-1", "web-1:8080")          # its own pod IP: lo too
    assert result.delivered, text
    assert "is the pod's own address" in text and "veth" not in text
    assert result.backend == "default/web-1"


def test_simulate_agrees_with_the_live_trace(cluster):
    """--simulate sends nothing; its possible backends include the one a
    real connection reached, and both agree on delivered."""
    for words in (["client", "web"], ["client", "web-1:8080"], ["client", "web-lb"]):
        live, _ = run(cluster, *words)
        sim, text = run(cluster, *words, "--simulate")
        assert sim.verdict.startswith("simulated: "), text
        assert sim.delivered == live.delivered, text
        assert live.backend in sim.backend.split(", "), (live.backend, sim.backend)
