"""Pure flow planning for the fabric: state in, flow list per switch out.

Two tables, as a router in front of a switch:

* table 0 (ROUTE) answers ARP from flows (no packet-in), and routes packets
  addressed to the fabric gateway's MAC by longest prefix: rewrite MACs,
  decrement TTL, then hand over to table 1.
* table 1 (FORWARD) sends a frame by destination MAC along a shortest path
  over the switch graph, or out of the host port on the last switch.

Routing once at the first switch and switching by MAC after it keeps transit
switches simple and the TTL right (one routed hop, as one gateway).
Nothing here touches os-ken; ``controllers.fabric_app`` converts the flows.
"""
from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass

from controllers.fabric_state import FabricHost, FabricState

ROUTE_TABLE = 0
FORWARD_TABLE = 1
COOKIE = 0x6B38_0001  # "k8", fabric flows: ownership mark for reconcile

ETH_ARP = 0x0806
ETH_IPV4 = 0x0800
ARP_REQUEST = 1
ARP_REPLY = 2

PRIO_ARP = 300
PRIO_ROUTE_BASE = 100  # + prefix length: longest prefix wins
PRIO_SWITCHED = 10
PRIO_FORWARD = 100


@dataclass(frozen=True)
class Flow:
    """One OpenFlow 1.3 flow, as data.

    ``match`` is a sorted tuple of (OXM field, value); an ``ipv4_dst`` value
    may be a prefix ``a.b.c.d/len``.  ``actions`` are tuples:
    ``("set_field", field, value)``, ``("move", src, dst, bits)``,
    ``("dec_nw_ttl",)``, ``("output", port|"in_port")``,
    ``("group", group_id)``.
    """

    table: int
    priority: int
    match: tuple[tuple[str, object], ...]
    actions: tuple[tuple, ...] = ()
    goto: int | None = None
    cookie: int = COOKIE

    @property
    def key(self) -> tuple:
        """What OpenFlow treats as the flow's identity (table, priority, match)."""
        return (self.table, self.priority, self.match)


@dataclass(frozen=True)
class Group:
    """A select group: ECMP over buckets, each a list of actions."""

    group_id: int
    buckets: tuple[tuple[tuple, ...], ...]


def _match(**fields: object) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(fields.items()))


def arp_responder(ip: str, mac: str) -> Flow:
    """Answer ``who-has ip`` with ``mac`` straight from the switch."""
    return Flow(
        table=ROUTE_TABLE, priority=PRIO_ARP,
        match=_match(eth_type=ETH_ARP, arp_op=ARP_REQUEST, arp_tpa=ip),
        actions=(
            ("move", "eth_src", "eth_dst", 48),
            ("set_field", "eth_src", mac),
            ("set_field", "arp_op", ARP_REPLY),
            ("move", "arp_sha", "arp_tha", 48),
            ("move", "arp_spa", "arp_tpa", 32),
            ("set_field", "arp_sha", mac),
            ("set_field", "arp_spa", ip),
            ("output", "in_port"),
        ))


def route_flow(prefix: str, host: FabricHost, gateway_mac: str) -> Flow:
    """Route ``prefix`` (sent to the gateway MAC) to ``host``: one L3 hop."""
    net = ipaddress.ip_network(prefix, strict=False)
    return Flow(
        table=ROUTE_TABLE, priority=PRIO_ROUTE_BASE + net.prefixlen,
        match=_match(eth_type=ETH_IPV4, eth_dst=gateway_mac,
                     ipv4_dst=str(net)),
        actions=(
            ("set_field", "eth_src", gateway_mac),
            ("set_field", "eth_dst", host.mac),
            ("dec_nw_ttl",),
        ),
        goto=FORWARD_TABLE)


def _neighbours(state: FabricState) -> dict[int, list[tuple[int, int]]]:
    """dpid -> sorted [(local port, peer dpid)]."""
    adj: dict[int, list[tuple[int, int]]] = {d: [] for d in state.switches}
    for link in state.links:
        adj.setdefault(link.a_dpid, []).append((link.a_port, link.b_dpid))
        adj.setdefault(link.b_dpid, []).append((link.b_port, link.a_dpid))
    return {d: sorted(n) for d, n in adj.items()}


def _distances(adj: dict[int, list[tuple[int, int]]], target: int) -> dict[int, int]:
    dist = {target: 0}
    queue = deque([target])
    while queue:
        here = queue.popleft()
        for _, peer in adj.get(here, ()):
            if peer not in dist:
                dist[peer] = dist[here] + 1
                queue.append(peer)
    return dist


def next_hop_port(state: FabricState, dpid: int, host_index: int,
                  host: FabricHost,
                  adj: dict | None = None, dist: dict | None = None) -> int | None:
    """Port on ``dpid`` toward ``host``: its own port, or a shortest-path uplink.

    Equal-cost uplinks are spread by a value stable per host (its MAC), so
    different destinations use different spines (static ECMP) and adding or
    removing one host never moves another host's path.
    """
    host_index = int(host.mac.replace(":", ""), 16)
    if dpid == host.dpid:
        return host.port
    adj = adj if adj is not None else _neighbours(state)
    dist = dist if dist is not None else _distances(adj, host.dpid)
    if dpid not in dist:
        return None
    choices = [port for port, peer in adj.get(dpid, ())
               if dist.get(peer, -1) == dist[dpid] - 1]
    if not choices:
        return None
    return choices[host_index % len(choices)]


def vip_group_id(index: int) -> int:
    return 1000 + index


def plan_switch(state: FabricState, dpid: int) -> tuple[list[Flow], list[Group]]:
    """Every flow and group switch ``dpid`` should hold for ``state``."""
    flows: list[Flow] = [arp_responder(state.gateway_ip, state.gateway_mac)]
    groups: list[Group] = []
    by_name = {h.name: h for h in state.hosts}
    host_index = {h.name: i for i, h in enumerate(state.hosts)}
    adj = _neighbours(state)
    for index, host in enumerate(state.hosts):
        flows.append(arp_responder(host.ip, host.mac))
        flows.append(route_flow(f"{host.ip}/32", host, state.gateway_mac))
        for prefix in host.routes:
            flows.append(route_flow(prefix, host, state.gateway_mac))
        port = next_hop_port(state, dpid, index, host, adj,
                             _distances(adj, host.dpid))
        if port is not None:
            flows.append(Flow(
                table=FORWARD_TABLE, priority=PRIO_FORWARD,
                match=_match(eth_dst=host.mac), actions=(("output", port),)))
    for index, vip in enumerate(state.vips):
        buckets = []
        for name in vip.targets:
            if name not in by_name:
                continue
            target = by_name[name]
            port = next_hop_port(state, dpid, host_index[name], target, adj,
                                 _distances(adj, target.dpid))
            if port is not None:
                buckets.append((("set_field", "eth_dst", target.mac),
                                ("output", port)))
        if not buckets:
            continue
        group = Group(vip_group_id(index), tuple(buckets))
        groups.append(group)
        flows.append(Flow(
            table=ROUTE_TABLE, priority=PRIO_ROUTE_BASE + 33,
            match=_match(eth_type=ETH_IPV4, eth_dst=state.gateway_mac,
                         ipv4_dst=f"{vip.ip}/32"),
            actions=(("set_field", "eth_src", state.gateway_mac),
                     ("dec_nw_ttl",), ("group", group.group_id))))
    # Frames between hosts on the node network are switched, not routed.
    flows.append(Flow(table=ROUTE_TABLE, priority=PRIO_SWITCHED,
                      match=(), goto=FORWARD_TABLE))
    return _dedupe(flows), groups


def _dedupe(flows: list[Flow]) -> list[Flow]:
    """Keep the first flow per key: a later duplicate would overwrite it."""
    seen: dict[tuple, Flow] = {}
    for flow in flows:
        seen.setdefault(flow.key, flow)
    return list(seen.values())


def diff_flows(have: list[Flow], want: list[Flow]) -> tuple[list[Flow], list[Flow]]:
    """(to add or modify, to delete) turning ``have`` into ``want``."""
    have_by_key = {f.key: f for f in have}
    want_keys = {f.key for f in want}
    add = [f for f in want if have_by_key.get(f.key) != f]
    delete = [f for f in have if f.key not in want_keys]
    return add, delete
