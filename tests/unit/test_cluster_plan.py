"""Cluster.plan_pods refuses to over-fill a node before anything is allocated.

Cluster(spec) only builds in-memory IPAM, so no root, kernel or Mininet runs here.
"""

from __future__ import annotations

import pytest

from k8snet.api.model import Pod
from k8snet.cluster.cluster import Cluster
from k8snet.errors import K8snetError
from k8snet.load.topofile import parse


def tiny_spec(pinned: int):
    # /30 per node: network, gateway, broadcast -> one pod address per node.
    return parse({
        "name": "tiny",
        "nodes": 2,
        "network": {"nodeCIDRMaskSize": 30},
        "pods": [{"name": f"p{i}", "node": "node1"} for i in range(pinned)],
    })


def test_tiny_spec_capacity() -> None:
    cluster = Cluster(tiny_spec(0))
    assert {name: ipam.capacity for name, ipam in cluster.ipam.items()} == {
        "node1": 1, "node2": 1}


def test_plan_pods_refuses_to_overfill_a_node() -> None:
    spec = tiny_spec(3)
    cluster = Cluster(spec)
    with pytest.raises(K8snetError) as info:
        cluster.plan_pods(spec.pods)
    message = str(info.value)
    assert "exhausted" in message
    assert "node1" in message
    assert spec.node("node1").pod_cidr in message
    assert "\n" not in message
    assert all(ipam.in_use() == {} for ipam in cluster.ipam.values())
    assert cluster.pods == {}


def test_plan_pods_fits_when_spread() -> None:
    spec = tiny_spec(0)
    cluster = Cluster(spec)
    placed = cluster.plan_pods((Pod("a"), Pod("b")))
    assert [(pod.name, node.name) for pod, node in placed] == [("a", "node1"), ("b", "node2")]
    assert all(ipam.in_use() == {} for ipam in cluster.ipam.values())


def test_plan_pods_counts_existing_allocations() -> None:
    cluster = Cluster(tiny_spec(0))
    cluster.ipam["node1"].allocate("default/old")
    with pytest.raises(K8snetError, match="exhausted"):
        cluster.plan_pods((Pod("new", node_name="node1"),))
    assert cluster.ipam["node1"].in_use() == {"10.244.0.6": "default/old"}


def test_plan_pods_unknown_node() -> None:
    cluster = Cluster(tiny_spec(0))
    with pytest.raises(K8snetError, match="unknown node 'node9'"):
        cluster.plan_pods((Pod("a", node_name="node9"),))
