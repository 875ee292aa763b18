"""The fabric agent's LoadBalancer targets: every healthy node, or with
externalTrafficPolicy Local those with a ready endpoint; a NotReady or
excluded node gets nothing (pure: objects in, Vips out)."""
from __future__ import annotations

from k8snet.cluster.fabric_agent import EXCLUDE_LABEL, healthy, vips


def node(name: str, ready: str = "True", labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def lb(name: str, ip: str, policy: str = "Cluster") -> dict:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy,
                     "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}


def slice_of(svc: str, *where: tuple[str, str]) -> dict:
    return {"metadata": {"name": f"{svc}-x", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": [{"port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "nodeName": n, "conditions": {"ready": True}}
                          for ip, n in where]}


def test_not_ready_and_excluded_nodes_are_not_health_checked_in():
    assert healthy(node("node1"))
    assert not healthy(node("node2", "Unknown"))
    assert not healthy(node("node3", labels={EXCLUDE_LABEL: ""}))


def test_targets_follow_health_and_the_local_policy():
    nodes = [n["metadata"]["name"] for n in (node("node1"), node("node2", "Unknown"),
                                              node("node3")) if healthy(n)]
    services = [lb("web", "198.51.100.2"), lb("api", "198.51.100.3", "Local")]
    slices = [slice_of("api", ("10.244.1.5", "node1"), ("10.244.2.5", "node2"))]
    got = {v.ip: v.targets for v in vips(services, slices, nodes)}
    assert got == {"198.51.100.2": ("node1", "node3"), "198.51.100.3": ("node1",)}
