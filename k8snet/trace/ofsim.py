"""A small fake OpenFlow 1.3 pipeline for the planner's ``Flow``/``Group`` values.

In the spirit of FAUCET's ``fakeoftable``: instead of checking that the planner
emits particular flows, tests push packets through the flows it emits and check
where they come out and what they look like.  That tests behaviour (ARP is
answered, TTL drops by one, paths are shortest) and survives refactors of the
flow layout.  ``trace --simulate`` (``k8snet.trace.simulate``) walks the
fabric's planned flows with it, switch by switch (``FakeFabric.walk``);
``tests/unit/fake_table.py`` re-exports it for the planner's tests.

A packet is a plain dict of header fields: ``eth_src``, ``eth_dst``,
``eth_type``, ``arp_op``, ``arp_spa``, ``arp_tpa``, ``arp_sha``, ``arp_tha``,
``ipv4_src``, ``ipv4_dst``, ``ip_ttl`` and, on the way into a switch only,
``in_port`` (switch metadata, not a header: it is not in output packets).

What is modelled, and why:

* Matching: a flow matches when every ``(field, value)`` equals the packet's,
  or, for an IPv4 field whose value is ``a.b.c.d/len``, contains it.  A field
  the packet lacks never matches (an ARP frame has no ``ipv4_dst``).
* Lookup takes the highest priority match.  Two overlapping matches at the same
  priority are undefined in OpenFlow, so the fake raises rather than guess.
* Apply-actions run in order on the packet; ``output`` emits a copy of the
  packet *as it is at that point*.  Output to the ingress port by number is
  suppressed, as on a real switch (only ``"in_port"`` hairpins).
* ``dec_nw_ttl`` drops the packet when the TTL would reach 0 (no
  invalid-TTL-to-controller: nothing here sends packet-ins).
* A select group picks one bucket by a stable hash of ``ipv4_src`` so tests can
  steer ECMP by varying the source address; the bucket runs on a clone.
* ``goto`` continues in a later table with the rewritten packet; a table miss
  drops (OpenFlow 1.3 has no implicit flood or packet-in).

Flows are sanity-checked on load like a switch would reject them: duplicate
keys (the second would silently overwrite the first), a backwards ``goto``,
a missing match prerequisite (``ipv4_*`` needs ``eth_type`` IPv4, ``arp_*``
needs ``eth_type`` ARP) and references to unknown groups.
"""
from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import field as _field

from controllers.fabric_plan import ETH_ARP, ETH_IPV4, Flow, Group, plan_switch
from controllers.fabric_state import FabricState

Packet = dict[str, object]

MAX_HOPS = 16

FIELD_BITS = {
    "eth_src": 48, "eth_dst": 48, "arp_sha": 48, "arp_tha": 48,
    "arp_spa": 32, "arp_tpa": 32, "ipv4_src": 32, "ipv4_dst": 32,
}
IPV4_FIELDS = {"arp_spa", "arp_tpa", "ipv4_src", "ipv4_dst"}
PREREQUISITE = {
    "ipv4_src": ETH_IPV4, "ipv4_dst": ETH_IPV4, "ip_ttl": ETH_IPV4,
    "arp_op": ETH_ARP, "arp_spa": ETH_ARP, "arp_tpa": ETH_ARP,
    "arp_sha": ETH_ARP, "arp_tha": ETH_ARP,
}


class AmbiguousMatch(AssertionError):
    """Two flows of equal priority match one packet: the switch may pick either."""


class ForwardingLoop(AssertionError):
    """A packet crossed more than ``MAX_HOPS`` switches."""


def field_matches(field: str, want: object, have: object) -> bool:
    if field in IPV4_FIELDS and isinstance(want, str) and "/" in want:
        return ipaddress.ip_address(have) in ipaddress.ip_network(want)
    return want == have


def flow_matches(flow: Flow, packet: Packet) -> bool:
    return all(field in packet and field_matches(field, value, packet[field])
               for field, value in flow.match)


def bucket_index(packet: Packet, count: int) -> int:
    """Deterministic stand-in for a switch's select-group hash."""
    return zlib.crc32(str(packet.get("ipv4_src", "")).encode()) % count


@dataclass
class SwitchHop:
    """What one switch did with a packet: the flows it hit in table order, the
    select group (ECMP) it went through and the bucket the fake picked, and
    what came out."""

    dpid: int
    in_port: int
    packet: Packet
    flows: list[Flow] = _field(default_factory=list)
    group: Group | None = None
    bucket: int | None = None
    outputs: list[tuple[object, Packet]] = _field(default_factory=list)


class FakeSwitch:
    """One switch's tables and groups; ``process`` runs a packet through them."""

    def __init__(self, flows: Iterable[Flow], groups: Iterable[Group] = ()):
        self.flows = list(flows)
        self.groups = {group.group_id: group for group in groups}
        self._validate()

    def _validate(self) -> None:
        keys = [flow.key for flow in self.flows]
        duplicates = {key for key in keys if keys.count(key) > 1}
        if duplicates:
            raise ValueError(f"duplicate flow keys: {sorted(duplicates, key=str)}")
        for flow in self.flows:
            if flow.goto is not None and flow.goto <= flow.table:
                raise ValueError(f"goto must move forward: {flow}")
            fields = dict(flow.match)
            for field in fields:
                need = PREREQUISITE.get(field)
                if need is not None and fields.get("eth_type") != need:
                    raise ValueError(f"{field} needs eth_type {need:#06x}: {flow}")
            for action in flow.actions:
                if action[0] == "group" and action[1] not in self.groups:
                    raise ValueError(f"unknown group {action[1]}: {flow}")

    def lookup(self, table: int, packet: Packet) -> Flow | None:
        hits = [f for f in self.flows if f.table == table and flow_matches(f, packet)]
        if not hits:
            return None
        best = max(f.priority for f in hits)
        top = [f for f in hits if f.priority == best]
        if len(top) > 1:
            raise AmbiguousMatch(f"table {table}, priority {best}: {top}")
        return top[0]

    def process(self, packet: Packet,
                seen: SwitchHop | None = None) -> list[tuple[object, Packet]]:
        """Run ``packet`` (with ``in_port``) from table 0; return (port, packet) outputs.

        ``seen``, when given, records the flows hit and the select group used."""
        pkt = dict(packet)
        if "in_port" not in pkt:
            raise ValueError("packet needs an in_port")
        out: list[tuple[object, Packet]] = []
        table: int | None = 0
        while table is not None:
            flow = self.lookup(table, pkt)
            if flow is None:  # table miss: drop
                break
            if seen is not None:
                seen.flows.append(flow)
            if not self._apply(flow.actions, pkt, out, seen):
                break
            table = flow.goto
        return out

    def _apply(self, actions: Iterable[tuple], pkt: Packet,
               out: list[tuple[object, Packet]], seen: SwitchHop | None = None) -> bool:
        """Apply ``actions`` to ``pkt`` in place; False when the packet was dropped."""
        for action in actions:
            kind = action[0]
            if kind == "set_field":
                pkt[action[1]] = action[2]
            elif kind == "move":
                _, src, dst, bits = action
                if not FIELD_BITS[src] == FIELD_BITS[dst] == bits:
                    raise NotImplementedError(f"partial move {action}")
                pkt[dst] = pkt[src]
            elif kind == "dec_nw_ttl":
                if pkt["ip_ttl"] <= 1:
                    return False
                pkt["ip_ttl"] -= 1
            elif kind == "output":
                port = pkt["in_port"] if action[1] == "in_port" else action[1]
                if action[1] == "in_port" or port != pkt["in_port"]:
                    emitted = {k: v for k, v in pkt.items() if k != "in_port"}
                    out.append((port, emitted))
            elif kind == "group":
                buckets = self.groups[action[1]].buckets
                if buckets:
                    index = bucket_index(pkt, len(buckets))
                    if seen is not None:
                        seen.group, seen.bucket = self.groups[action[1]], index
                    self._apply(buckets[index], dict(pkt), out)
            else:
                raise ValueError(f"unknown action {action!r}")
        return True


class FakeFabric:
    """Every switch of a ``FabricState``, wired by its links, with its hosts."""

    def __init__(self, state: FabricState,
                 plan_switch: Callable[[FabricState, int],
                                       tuple[list[Flow], list[Group]]] = plan_switch):
        self.state = state
        self.switches = {dpid: FakeSwitch(*plan_switch(state, dpid))
                         for dpid in state.switches}
        self.host_at = {(h.dpid, h.port): h.name for h in state.hosts}
        self.hosts = {h.name: h for h in state.hosts}
        self.peer: dict[tuple[int, int], tuple[int, int]] = {}
        for link in state.links:
            self.peer[(link.a_dpid, link.a_port)] = (link.b_dpid, link.b_port)
            self.peer[(link.b_dpid, link.b_port)] = (link.a_dpid, link.a_port)

    def send(self, host: str, packet: Packet) -> tuple[str | None, Packet, list[int]]:
        """``trace`` a packet sent by ``host`` out of its interface."""
        where = self.hosts[host]
        return self.trace(where.dpid, where.port, packet)

    def trace(self, dpid: int, in_port: int,
              packet: Packet) -> tuple[str | None, Packet, list[int]]:
        """Follow ``packet`` from ``dpid``/``in_port`` to the host it is delivered to.

        Returns (host name or None when dropped, last packet, dpids traversed).
        The fabric never floods, so a switch emitting two copies is a failure.
        """
        reached, pkt, hops = self.walk(dpid, in_port, packet)
        return reached, pkt, [hop.dpid for hop in hops]

    def walk(self, dpid: int, in_port: int,
             packet: Packet) -> tuple[str | None, Packet, list[SwitchHop]]:
        """``trace``, telling what each switch did: (host or None, last packet, hops)."""
        hops: list[SwitchHop] = []
        pkt = {k: v for k, v in packet.items() if k != "in_port"}
        for _ in range(MAX_HOPS):
            hop = SwitchHop(dpid, in_port, dict(pkt))
            hops.append(hop)
            outputs = self.switches[dpid].process({**pkt, "in_port": in_port}, hop)
            hop.outputs = outputs
            if not outputs:
                return None, pkt, hops
            if len(outputs) > 1:
                raise AssertionError(f"switch {dpid} emitted {len(outputs)} copies: {outputs}")
            port, pkt = outputs[0]
            if (dpid, port) in self.host_at:
                return self.host_at[(dpid, port)], pkt, hops
            if (dpid, port) not in self.peer:  # unwired port, or the controller
                return None, pkt, hops
            dpid, in_port = self.peer[(dpid, port)]
        raise ForwardingLoop(f"more than {MAX_HOPS} hops: {[h.dpid for h in hops]}")
