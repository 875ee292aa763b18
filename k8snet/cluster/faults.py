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
- ``node NODE down|up``: every link between the node and the fabric down
  (both ends, as Mininet's ``link A B down``), so its kubelet can no longer
  reach the API server (``uplink_check``) and the node lifecycle controller
  makes it NotReady; up again, with the routes the kernel dropped with the
  link (the default route) put back.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

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


# --- node NODE down|up -------------------------------------------------------------

def node_uplinks(network, node: str) -> list[tuple[str, str]]:
    """``[(node_intf, switch_intf)]``: the node's links to the fabric
    (``[("eth0", "tor1-eth1")]``)."""
    out = []
    for link in network.net.links:
        for a, b in ((link.intf1, link.intf2), (link.intf2, link.intf1)):
            if a.node.name == node and b.node in network.net.switches:
                out.append((a.name, b.name))
    return out


def uplink_check(ports: list[str], sys_net: Path = Path("/sys/class/net")
                 ) -> Callable[[], bool]:
    """A ``reachable()`` for the node's kubelet: True while any of the switch
    ports facing the node is operationally up (a veth is "up" only when both
    its ends are), read from sysfs in the root namespace where the switch
    ports live."""
    def reachable() -> bool:
        for port in ports:
            try:
                if (sys_net / port / "operstate").read_text().strip() == "up":
                    return True
            except OSError:
                continue
        return False
    return reachable


def route_commands(routes: list, netns: str, devs: set[str]) -> list[list[str]]:
    """``ip route replace`` argument lists that put back the routes of
    ``ip -j route show`` over ``devs`` that the kernel drops when a link goes
    down (all but its own connected ``proto kernel`` routes)."""
    out = []
    for route in routes:
        if not isinstance(route, dict) or route.get("dev") not in devs \
                or route.get("protocol") == "kernel" or not route.get("dst"):
            continue
        argv = ["ip", "-n", netns, "route", "replace", str(route["dst"])]
        if route.get("gateway"):
            argv += ["via", str(route["gateway"])]
        argv += ["dev", str(route["dev"])]
        for key, word in (("protocol", "proto"), ("metric", "metric"), ("prefsrc", "src")):
            if route.get(key) not in (None, ""):
                argv += [word, str(route[key])]
        if "onlink" in (route.get("flags") or []):
            argv.append("onlink")
        out.append(argv)
    return out


def _ip(argv: list[str]) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        raise K8snetError(f"node: {' '.join(argv)}: {res.stderr.strip()}")
    return res.stdout


def set_node_links(network, cluster: str, node: str, up: bool, state_dir: Path,
                   gateway: str) -> list[tuple[str, str]]:
    """Take the node's fabric links down or up (both ends); returns them.
    Down keeps the node's routes over them in ``state_dir``; up puts them back
    (no record: the default route via ``gateway``)."""
    links = node_uplinks(network, node)
    if not links:
        raise K8snetError(f"node: {node} has no link to a switch")
    netns = naming.node_netns(cluster, node)
    devs = {intf for intf, _ in links}
    saved = state_dir / f"{node}-routes.json"
    if not up:
        routes = json.loads(_ip(["ip", "-n", netns, "-j", "route", "show"]) or "[]")
        if route_commands(routes, netns, devs):
            state_dir.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(routes))
    state = "up" if up else "down"
    for intf, port in links:
        _ip(["ip", "-n", netns, "link", "set", intf, state])
        _ip(["ip", "link", "set", port, state])
    if up:
        try:
            routes = json.loads(saved.read_text())
        except (OSError, ValueError):
            routes = [{"dst": "default", "gateway": gateway, "dev": links[0][0]}]
        for argv in route_commands(routes, netns, devs):
            _ip(argv)
        saved.unlink(missing_ok=True)
    return links


# --- what is set now (the trace names it) ------------------------------------------

def _loss_comment(netns: str) -> str:
    """The loss rule's comment in the node's fault table, or ""."""
    res = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "table", "ip",
                          FAULT_TABLE], capture_output=True, text=True)
    found = [line.split('comment "', 1)[1].rstrip('"').strip()
             for line in res.stdout.splitlines() if 'comment "' in line]
    return found[0] if found else ""


def _mtu_requests() -> dict[str, int]:
    """Switch interface -> its ``mtu_request``, where one is set."""
    res = subprocess.run(["ovs-vsctl", "--timeout=5", "--format=csv", "--no-headings",
                          "--columns=name,mtu_request", "list", "Interface"],
                         capture_output=True, text=True)
    out = {}
    for line in res.stdout.splitlines():
        name, _, mtu = line.partition(",")
        if mtu.strip().isdigit():
            out[name.strip('"')] = int(mtu)
    return out


def active(network, cluster: str) -> list[str]:
    """The faults set in the lab now, each with the command that undoes it:
    ``["loss 100% on eth0 of node2 (loss node2 0)", "node3's links down (node
    node3 up)", "the OpenFlow controller is stopped (controller start)"]``."""
    out = []
    mtus = _mtu_requests()
    for node in sorted(network.nodes):
        comment = _loss_comment(naming.node_netns(cluster, node))
        if comment:
            out.append(f"{comment} of {node} (loss {node} 0)")
        ports = [port for _, port in node_uplinks(network, node)]
        if ports and not uplink_check(ports)():
            out.append(f"{node}'s links to the fabric down (node {node} up)")
        for port in ports:
            if mtus.get(port, DEFAULT_MTU) != DEFAULT_MTU:
                out.append(f"{port}, facing {node}, takes frames of {mtus[port]} bytes "
                           f"at most (mtu {node} {DEFAULT_MTU})")
    if network.controller is not None and not controller_running(network):
        out.append("the OpenFlow controller is stopped: no new flows (controller start)")
    return out
