"""Mininet's ``link`` between a node and its switch is ``node NODE up|down``
(k8snet.cli.faults.node_link): the node's routes come back with the link."""
from __future__ import annotations

from types import SimpleNamespace as NS

from k8snet.cli import faults


def _cluster():
    tor1, node1, gw = NS(name="tor1"), NS(name="node1"), NS(name="gw")
    links = [NS(intf1=NS(name="eth0", node=node1), intf2=NS(name="tor1-eth1", node=tor1)),
             NS(intf1=NS(name="gw-eth0", node=gw), intf2=NS(name="tor1-eth4", node=tor1))]
    net = NS(links=links, switches=[tor1])
    return NS(network=NS(nodes={"node1": object()}, net=net))


def test_a_nodes_uplink_is_done_as_node_up_or_down(monkeypatch) -> None:
    done = []
    monkeypatch.setattr(faults, "node_command", lambda c, words, out: done.append(words))
    cluster = _cluster()
    assert faults.node_link(cluster, ["node1", "tor1", "down"], print)
    assert faults.node_link(cluster, ["tor1", "node1", "up"], print)
    assert done == [["node1", "down"], ["node1", "up"]]


def test_any_other_link_is_left_to_mininet(monkeypatch) -> None:
    done = []
    monkeypatch.setattr(faults, "node_command", lambda c, words, out: done.append(words))
    cluster = _cluster()
    assert not faults.node_link(cluster, ["gw", "tor1", "down"], print)       # not a node
    assert not faults.node_link(cluster, ["node1", "spine1", "down"], print)  # not its switch
    assert not faults.node_link(cluster, ["node1", "tor1"], print)            # Mininet says
    assert not faults.node_link(cluster, ["node1", "tor1", "sideways"], print)
    assert done == []
