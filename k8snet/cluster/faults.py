"""Faults as lab commands: each visible, each reversible.

- ``loss``: random loss on a node's uplink without netem (this kernel has
  none): an nftables table ``ip k8snet-fault`` in the node drops that share
  of the packets entering and leaving eth0 (``numgen random mod 100``).
- ``mtu``: an MTU mismatch on a node's uplink: the switch's port towards the
  node takes only frames up to BYTES while the node still sends 1500-byte
  ones, so small requests work and large transfers stall (the classic
  "TLS hangs" lab).  ``mtu NODE 1500`` restores it.
- ``controller stop|start``: the OpenFlow controller killed (the switches
  keep their flows, fail-secure) and started again with the fabric state as
  it is now, so changes made meanwhile are applied then.
"""
from __future__ import annotations

import subprocess

from k8snet import naming
from k8snet.errors import K8snetError
from k8snet.node.nftables import NftSession

FAULT_TABLE = "k8snet-fault"
DEFAULT_MTU = 1500
MIN_MTU = 576           # RFC 791: every IPv4 host must accept 576-byte datagrams


def loss_text(percent: int) -> str:
    """The fault table for ``percent`` % loss on eth0, both directions (0: none)."""
    lines = [f"add table ip {FAULT_TABLE}", f"delete table ip {FAULT_TABLE}"]
    if percent > 0:
        lines.append(f"add table ip {FAULT_TABLE}")
        for chain, hook, dev in (("in", "prerouting", "iifname"), ("out", "postrouting",
                                                                   "oifname")):
            lines.append(f"add chain ip {FAULT_TABLE} {chain} {{ type filter hook {hook} "
                         "priority -500; }")
            pick = f"numgen random mod 100 < {percent} " if percent < 100 else ""
            lines.append(f'add rule ip {FAULT_TABLE} {chain} {dev} "eth0" {pick}counter drop '
                         f'comment "loss {percent}% on eth0"')
    return "\n".join(lines) + "\n"


def parse_percent(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 100:
        raise K8snetError(f"loss: PERCENT must be a whole number from 0 to 100, not '{text}'")
    return int(text)


def set_loss(cluster: str, node: str, percent: int) -> None:
    session = NftSession(naming.node_netns(cluster, node))
    try:
        session.run(loss_text(percent))
    finally:
        session.close()


def parse_mtu(text: str) -> int:
    if not text.isdigit() or not MIN_MTU <= int(text) <= 9000:
        raise K8snetError(f"mtu: BYTES must be a number from {MIN_MTU} to 9000, not '{text}'")
    return int(text)


def uplink_port(network, node: str) -> str:
    """The switch interface facing ``node`` (``tor1-eth2``)."""
    for link in network.net.links:
        for a, b in ((link.intf1, link.intf2), (link.intf2, link.intf1)):
            if a.node.name == node and b.node in network.net.switches:
                return b.name
    raise K8snetError(f"mtu: {node} has no link to a switch")


def set_mtu(network, node: str, mtu: int) -> str:
    """Set the switch port facing ``node`` to ``mtu``; returns the port's name."""
    port = uplink_port(network, node)
    res = subprocess.run(["ovs-vsctl", "--timeout=5", "set", "Interface", port,
                          f"mtu_request={mtu}"], capture_output=True, text=True)
    if res.returncode != 0:
        raise K8snetError(f"mtu: ovs-vsctl: {res.stderr.strip()}")
    return port


def controller_running(network) -> bool:
    proc = network.controller.proc if network.controller else None
    return proc is not None and proc.poll() is None
