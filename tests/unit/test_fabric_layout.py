"""The switch layout a fabric baseline copies: bridges, loop-free patches, ports."""
from __future__ import annotations

from dataclasses import replace

import pytest

from k8snet.perf import cluster_spec, fabric_layout


def test_single_is_one_bridge_with_every_node_and_the_gateway() -> None:
    shape = fabric_layout.layout(cluster_spec.load("single"))
    assert shape.switches == ("tor1",)
    assert shape.patches == ()
    assert shape.ports == (("node1", "tor1"), ("node2", "tor1"), ("node3", "tor1"),
                           ("gw", "tor1"))
    assert (shape.client, shape.server, shape.idle_ports) == ("tor1", "tor1", 2)


def test_leafspine_keeps_every_bridge_and_drops_only_loop_closing_patches() -> None:
    shape = fabric_layout.layout(cluster_spec.load("leafspine"))
    assert set(shape.switches) == {"leaf1", "leaf2", "spine1", "spine2"}
    # 4 leaf-spine links, 4 bridges: a spanning tree keeps 3, so NORMAL cannot loop.
    assert len(shape.patches) == len(shape.switches) - 1
    joined = {s for pair in shape.patches for s in pair}
    assert joined == set(shape.switches)
    assert [h for h, _ in shape.ports] == ["node1", "node2", "node3", "node4", "gw"]
    # The perf workload's client is on the first node, its server on the last.
    assert (shape.client, shape.server) == ("leaf1", "leaf2")


def test_a_fabric_with_one_node_has_no_baseline() -> None:
    spec = cluster_spec.load("single")
    one = replace(spec, nodes=spec.nodes[:1])
    with pytest.raises(ValueError, match="needs two nodes"):
        fabric_layout.layout(one)
