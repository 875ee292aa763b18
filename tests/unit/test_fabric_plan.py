"""Tests for controllers.fabric_plan: packets pushed through a fake OpenFlow pipeline.

The fake (``fake_table``) runs the planned flows, so these tests say what the
fabric *does* (answers ARP, routes one hop, picks shortest paths) rather than
which flows it holds.
"""

from __future__ import annotations

import dataclasses

import pytest
from fake_table import AmbiguousMatch, FakeFabric, FakeSwitch, ForwardingLoop

from controllers.fabric_plan import (
    ETH_ARP,
    ETH_IPV4,
    FORWARD_TABLE,
    Flow,
    diff_flows,
    plan_switch,
)
from controllers.fabric_state import FabricHost, FabricLink, FabricState, Vip

GW_IP = "172.18.0.1"
GW_MAC = "02:00:00:00:ff:01"
BROADCAST = "ff:ff:ff:ff:ff:ff"
OUTSIDE = "203.0.113.0/24"
LEAF1, LEAF2, SPINE1, SPINE2 = 1, 2, 101, 102


def node(i: int, dpid: int, port: int) -> FabricHost:
    return FabricHost(f"node{i}", f"172.18.0.{10 + i}", f"02:00:00:00:00:{i:02x}",
                      dpid, port, (f"10.244.{i}.0/24",))


def gateway(dpid: int, port: int, routes: tuple[str, ...] = (OUTSIDE,)) -> FabricHost:
    return FabricHost("gw", "172.18.0.2", "02:00:00:00:fe:01", dpid, port, routes)


def single_state(**changes) -> FabricState:
    """One switch: node1..node3 on ports 1..3, the gateway router on port 4."""
    state = FabricState(GW_IP, GW_MAC, (1,),
                        (node(1, 1, 1), node(2, 1, 2), node(3, 1, 3), gateway(1, 4)))
    return dataclasses.replace(state, **changes)


def leafspine_state(**changes) -> FabricState:
    """2 leaves x 2 spines; node1, node2, gw on leaf1, node3, node4 on leaf2.

    Uplinks: port 10 to spine1, port 11 to spine2; spines use port = leaf number.
    """
    links = tuple(FabricLink(leaf, 10 + s, spine, leaf)
                  for leaf in (LEAF1, LEAF2)
                  for s, spine in enumerate((SPINE1, SPINE2)))
    hosts = (node(1, LEAF1, 1), node(2, LEAF1, 2), node(3, LEAF2, 1),
             node(4, LEAF2, 2), gateway(LEAF1, 3))
    state = FabricState(GW_IP, GW_MAC, (LEAF1, LEAF2, SPINE1, SPINE2), hosts, links)
    return dataclasses.replace(state, **changes)


def host(state: FabricState, name: str) -> FabricHost:
    return next(h for h in state.hosts if h.name == name)


def nodes(state: FabricState) -> list[FabricHost]:
    return [h for h in state.hosts if h.name.startswith("node")]


def pod_ip(h: FabricHost, last: int = 5) -> str:
    return h.routes[0].replace(".0/24", f".{last}")


def arp_request(sender: FabricHost, target_ip: str) -> dict:
    return {"eth_src": sender.mac, "eth_dst": BROADCAST, "eth_type": ETH_ARP,
            "arp_op": 1, "arp_spa": sender.ip, "arp_sha": sender.mac,
            "arp_tpa": target_ip, "arp_tha": "00:00:00:00:00:00"}


def ip_packet(sender: FabricHost, dst: str, src: str | None = None, ttl: int = 64,
              eth_dst: str = GW_MAC) -> dict:
    return {"eth_src": sender.mac, "eth_dst": eth_dst, "eth_type": ETH_IPV4,
            "ipv4_src": src or sender.ip, "ipv4_dst": dst, "ip_ttl": ttl}


def assert_routed(state: FabricState, sent: dict, got: dict, to: FabricHost) -> None:
    """One routed hop: MACs rewritten as the gateway, TTL -1, IPs untouched."""
    assert got["eth_src"] == GW_MAC
    assert got["eth_dst"] == to.mac
    assert got["ip_ttl"] == sent["ip_ttl"] - 1
    assert (got["ipv4_src"], got["ipv4_dst"]) == (sent["ipv4_src"], sent["ipv4_dst"])


# --- ARP ---------------------------------------------------------------------


@pytest.mark.parametrize("make_state", [single_state, leafspine_state])
def test_arp_for_gateway_answered_out_of_in_port(make_state) -> None:
    state = make_state()
    fabric = FakeFabric(state, plan_switch)
    for asker in state.hosts:
        to, reply, path = fabric.send(asker.name, arp_request(asker, GW_IP))
        assert to == asker.name
        assert path == [asker.dpid]  # answered by the first switch
        assert reply == {"eth_src": GW_MAC, "eth_dst": asker.mac, "eth_type": ETH_ARP,
                         "arp_op": 2, "arp_sha": GW_MAC, "arp_spa": GW_IP,
                         "arp_tha": asker.mac, "arp_tpa": asker.ip}


def test_arp_for_node_ip_answered_with_its_mac() -> None:
    state = leafspine_state()
    fabric = FakeFabric(state, plan_switch)
    for asker in state.hosts:
        for target in state.hosts:
            if target is asker:
                continue
            to, reply, _ = fabric.send(asker.name, arp_request(asker, target.ip))
            assert to == asker.name
            assert reply["arp_op"] == 2
            assert (reply["arp_sha"], reply["arp_spa"]) == (target.mac, target.ip)
            assert reply["eth_src"] == target.mac
            assert (reply["arp_tha"], reply["arp_tpa"]) == (asker.mac, asker.ip)


def test_arp_for_unknown_ip_dropped() -> None:
    state = single_state()
    node1 = host(state, "node1")
    flows, groups = plan_switch(state, 1)
    switch = FakeSwitch(flows, groups)
    assert switch.process({**arp_request(node1, "172.18.0.99"), "in_port": node1.port}) == []
    to, _, _ = FakeFabric(state, plan_switch).send("node1", arp_request(node1, "172.18.0.99"))
    assert to is None
    # Nothing ever goes to the controller: ARP is answered by flows alone.
    for flow in flows:
        for action in flow.actions:
            if action[0] == "output":
                assert isinstance(action[1], int) or action[1] == "in_port", flow


# --- routing -----------------------------------------------------------------


def test_routed_to_pod_cidr_one_hop_no_nat() -> None:
    state = single_state()
    fabric = FakeFabric(state, plan_switch)
    node1, node2 = host(state, "node1"), host(state, "node2")
    sent = ip_packet(node1, "10.244.2.5", src="10.244.1.7")
    to, got, path = fabric.send("node1", sent)
    assert (to, path) == ("node2", [1])
    assert_routed(state, sent, got, node2)


def test_routed_ttl_expiry_dropped() -> None:
    state = single_state()
    fabric = FakeFabric(state, plan_switch)
    node1 = host(state, "node1")
    assert fabric.send("node1", ip_packet(node1, "10.244.2.5", ttl=2))[0] == "node2"
    assert fabric.send("node1", ip_packet(node1, "10.244.2.5", ttl=1))[0] is None


def test_longest_prefix_wins() -> None:
    # The gateway router also claims the whole pod range and a default route;
    # the more specific node /32 and pod /24 must still win.
    gw = gateway(1, 4, routes=(OUTSIDE, "10.244.0.0/16", "172.18.0.0/24", "0.0.0.0/0"))
    state = single_state(hosts=single_state().hosts[:3] + (gw,))
    fabric = FakeFabric(state, plan_switch)
    node1 = host(state, "node1")
    cases = {
        "172.18.0.12": "node2",   # node IP /32 beats 172.18.0.0/24
        "172.18.0.77": "gw",      # no /32: the /24
        "10.244.3.9": "node3",    # pod /24 beats 10.244.0.0/16
        "10.244.9.9": "gw",       # unassigned pod CIDR: the /16
        "203.0.113.10": "gw",
        "8.8.8.8": "gw",          # default route
    }
    for dst, want in cases.items():
        sent = ip_packet(node1, dst)
        to, got, _ = fabric.send("node1", sent)
        assert to == want, dst
        assert_routed(state, sent, got, host(state, want))


def test_outside_prefix_goes_to_gateway_router() -> None:
    state = single_state()
    fabric = FakeFabric(state, plan_switch)
    for sender in nodes(state):
        sent = ip_packet(sender, "203.0.113.10", src=pod_ip(sender))
        to, got, _ = fabric.send(sender.name, sent)
        assert to == "gw"
        assert_routed(state, sent, got, host(state, "gw"))


def test_unrouted_prefix_dropped() -> None:
    state = single_state()
    fabric = FakeFabric(state, plan_switch)
    node1 = host(state, "node1")
    for dst in ("198.51.100.7", "10.244.9.1", GW_IP):
        assert fabric.send("node1", ip_packet(node1, dst))[0] is None, dst
    # Sanity: the same packet to a routed prefix does get through.
    assert fabric.send("node1", ip_packet(node1, "10.244.3.1"))[0] == "node3"


@pytest.mark.parametrize("make_state", [single_state, leafspine_state])
def test_l2_between_hosts_switched_not_routed(make_state) -> None:
    state = make_state()
    fabric = FakeFabric(state, plan_switch)
    for sender in state.hosts:
        for target in state.hosts:
            if target is sender:
                continue
            sent = ip_packet(sender, target.ip, eth_dst=target.mac)
            to, got, _ = fabric.send(sender.name, sent)
            assert to == target.name
            assert got == sent  # untouched: same MACs, same TTL


def test_frame_to_unknown_mac_dropped() -> None:
    state = single_state()
    node1 = host(state, "node1")
    sent = ip_packet(node1, "172.18.0.12", eth_dst="02:00:00:00:00:99")
    assert FakeFabric(state, plan_switch).send("node1", sent)[0] is None


# --- leaf-spine ----------------------------------------------------------------


def test_leafspine_every_node_reaches_every_pod_cidr_on_a_shortest_path() -> None:
    state = leafspine_state()
    fabric = FakeFabric(state, plan_switch)
    for sender in nodes(state):
        for target in nodes(state):
            if target is sender:
                continue
            sent = ip_packet(sender, pod_ip(target), src=pod_ip(sender))
            to, got, path = fabric.send(sender.name, sent)
            assert to == target.name, (sender.name, target.name)
            assert_routed(state, sent, got, target)
            if sender.dpid == target.dpid:
                assert path == [sender.dpid]
            else:
                assert len(path) == 3 and path[0] == sender.dpid
                assert path[1] in (SPINE1, SPINE2) and path[2] == target.dpid


def test_leafspine_outside_and_back() -> None:
    state = leafspine_state()
    fabric = FakeFabric(state, plan_switch)
    gw = host(state, "gw")
    for n in nodes(state):
        sent = ip_packet(n, "203.0.113.10", src=pod_ip(n))
        to, got, path = fabric.send(n.name, sent)
        assert to == "gw"
        assert_routed(state, sent, got, gw)
        assert len(path) == (1 if n.dpid == gw.dpid else 3)
        back = ip_packet(gw, pod_ip(n), src="203.0.113.10")
        to, got, path = fabric.send("gw", back)
        assert to == n.name
        assert_routed(state, back, got, n)
        assert len(path) == (1 if n.dpid == gw.dpid else 3)


def test_leafspine_ecmp_spreads_destinations_over_both_spines() -> None:
    state = leafspine_state()
    fabric = FakeFabric(state, plan_switch)
    spines: dict[int, set[int]] = {LEAF1: set(), LEAF2: set()}
    for sender in state.hosts:
        for target in state.hosts:
            if target.dpid == sender.dpid:
                continue
            to, _, path = fabric.send(sender.name, ip_packet(sender, target.ip))
            assert to == target.name
            spines[sender.dpid].add(path[1])
    # Both directions use both spines.
    assert spines == {LEAF1: {SPINE1, SPINE2}, LEAF2: {SPINE1, SPINE2}}


def test_disconnected_switch_gets_no_forward_flow_to_unreachable_hosts() -> None:
    # Switch 2 has no link at all: node2 on it is unreachable from switch 1.
    state = FabricState(GW_IP, GW_MAC, (1, 2), (node(1, 1, 1), node(2, 2, 1)))
    flows, _ = plan_switch(state, 1)
    forwarded_macs = {dict(f.match).get("eth_dst") for f in flows if f.table == FORWARD_TABLE}
    assert forwarded_macs == {node(1, 1, 1).mac}
    fabric = FakeFabric(state, plan_switch)
    node1 = host(state, "node1")
    assert fabric.send("node1", ip_packet(node1, "10.244.2.5"))[0] is None
    assert fabric.send("node1", ip_packet(node1, node1.ip, eth_dst=node(2, 2, 1).mac))[0] is None
    # Each island still works on its own: ARP for the gateway is answered.
    assert fabric.send("node2", arp_request(host(state, "node2"), GW_IP))[0] == "node2"


# --- VIPs ----------------------------------------------------------------------


def vip_deliveries(fabric: FakeFabric, state: FabricState, vip: str,
                   sender: str = "gw") -> dict[str, str | None]:
    """Source address -> host that got the packet to ``vip``."""
    who = host(state, sender)
    out = {}
    for last in range(1, 33):
        src = f"203.0.113.{last}"
        sent = ip_packet(who, vip, src=src)
        to, got, _ = fabric.send(sender, sent)
        if to is not None:
            assert_routed(state, sent, got, host(state, to))
        out[src] = to
    return out


@pytest.mark.parametrize("make_state", [single_state, leafspine_state])
def test_vip_select_group_spreads_over_targets_by_source(make_state) -> None:
    vip = "198.51.100.10"
    state = make_state(vips=(Vip(vip, ("node1", "node3")),))
    for dpid in state.switches:
        _, groups = plan_switch(state, dpid)
        assert [len(g.buckets) for g in groups] == [2]
    fabric = FakeFabric(state, plan_switch)
    first = vip_deliveries(fabric, state, vip)
    assert set(first.values()) == {"node1", "node3"}
    assert vip_deliveries(fabric, state, vip) == first  # same source, same target
    # Without the VIP the address is not routed at all.
    assert set(vip_deliveries(FakeFabric(make_state(), plan_switch),
                              state, vip).values()) == {None}


def test_vip_with_unknown_targets_creates_nothing() -> None:
    base_flows, _ = plan_switch(single_state(), 1)
    state = single_state(vips=(Vip("198.51.100.11", ("nope", "gone")),))
    flows, groups = plan_switch(state, 1)
    assert groups == []
    assert flows == base_flows
    fabric = FakeFabric(state, plan_switch)
    assert set(vip_deliveries(fabric, state, "198.51.100.11").values()) == {None}


def test_vip_unknown_targets_skipped_known_kept() -> None:
    state = single_state(vips=(Vip("198.51.100.12", ("nope", "node2")),))
    _, groups = plan_switch(state, 1)
    assert [len(g.buckets) for g in groups] == [1]
    fabric = FakeFabric(state, plan_switch)
    assert set(vip_deliveries(fabric, state, "198.51.100.12").values()) == {"node2"}


# --- plan properties and diffs ------------------------------------------------------


def test_plan_is_deterministic_with_unique_keys() -> None:
    state = leafspine_state(vips=(Vip("198.51.100.10", ("node1", "node4")),))
    for dpid in state.switches:
        flows, groups = plan_switch(state, dpid)
        again = plan_switch(FabricState.from_json(state.to_json()), dpid)
        assert (flows, groups) == again
        keys = [f.key for f in flows]
        assert len(keys) == len(set(keys))


def test_overlapping_routes_do_not_produce_duplicate_keys() -> None:
    # node2 claims node3's pod CIDR and its own /32 again: same keys twice.
    hosts = list(single_state().hosts)
    n2 = hosts[1]
    hosts[1] = dataclasses.replace(n2, routes=n2.routes + ("10.244.3.0/24", f"{n2.ip}/32"))
    state = single_state(hosts=tuple(hosts))
    flows, _ = plan_switch(state, 1)
    keys = [f.key for f in flows]
    assert len(keys) == len(set(keys))
    FakeSwitch(flows)  # a switch would accept it (the fake rejects duplicates)


def test_diff_of_identical_plans_is_empty() -> None:
    state = leafspine_state()
    for dpid in state.switches:
        flows, _ = plan_switch(state, dpid)
        assert diff_flows(flows, flows) == ([], [])


def touches(flow: Flow, h: FabricHost) -> bool:
    """Whether ``flow`` exists because of host ``h`` (matches its IP, MAC or routes)."""
    values = {str(v) for _, v in flow.match}
    return bool(values & {h.ip, f"{h.ip}/32", h.mac, *h.routes})


def test_diff_adding_a_node_adds_its_flows_on_every_switch() -> None:
    before = leafspine_state()
    node5 = node(5, LEAF2, 3)
    after = leafspine_state(hosts=before.hosts + (node5,))
    for dpid in before.switches:
        add, delete = diff_flows(plan_switch(before, dpid)[0], plan_switch(after, dpid)[0])
        assert delete == []
        assert add and all(touches(f, node5) for f in add), add
        # ARP responder, /32 route, pod route and a forward flow.
        assert len(add) == 4
    fabric = FakeFabric(after, plan_switch)
    assert fabric.send("node1", ip_packet(host(after, "node1"), "10.244.5.1"))[0] == "node5"


def test_diff_removing_a_node_deletes_exactly_its_flows() -> None:
    after = single_state()
    before = single_state(hosts=after.hosts + (node(5, 1, 5),))
    node5 = host(before, "node5")
    have, _ = plan_switch(before, 1)
    add, delete = diff_flows(have, plan_switch(after, 1)[0])
    assert add == []
    assert sorted(delete, key=str) == sorted((f for f in have if touches(f, node5)), key=str)
    assert len(delete) == 4


def test_diff_reports_modified_flow_as_add() -> None:
    before = single_state()
    hosts = list(before.hosts)
    hosts[1] = dataclasses.replace(hosts[1], port=7)  # node2 moved to port 7
    add, delete = diff_flows(plan_switch(before, 1)[0],
                             plan_switch(single_state(hosts=tuple(hosts)), 1)[0])
    assert delete == []
    assert [f.actions for f in add] == [(("output", 7),)]


def test_state_json_round_trip_is_lossless() -> None:
    state = leafspine_state(vips=(Vip("198.51.100.10", ("node1", "node4")),
                                  Vip("198.51.100.11", ())))
    text = state.to_json()
    back = FabricState.from_json(text)
    assert back == state
    assert isinstance(back.hosts[0].routes, tuple) and isinstance(back.switches, tuple)
    assert back.to_json() == text


# --- the fake itself: it must be able to fail ----------------------------------


def test_fake_detects_ambiguous_priority_and_loops() -> None:
    same = Flow(table=0, priority=5, match=(), actions=(("output", 2),))
    other = Flow(table=0, priority=5, match=(("eth_dst", "x"),), actions=(("output", 3),))
    with pytest.raises(AmbiguousMatch):
        FakeSwitch([same, other]).process({"eth_dst": "x", "in_port": 1})
    with pytest.raises(ValueError):
        FakeSwitch([same, same])
    with pytest.raises(ValueError):  # ipv4_dst without eth_type IPv4
        FakeSwitch([Flow(table=0, priority=1, match=(("ipv4_dst", "10.0.0.0/8"),))])
    # Two switches bouncing every frame to each other.
    state = FabricState(GW_IP, GW_MAC, (1, 2), (), (FabricLink(1, 1, 2, 1),))
    bounce = Flow(table=0, priority=1, match=(), actions=(("output", "in_port"),))
    with pytest.raises(ForwardingLoop):
        FakeFabric(state, lambda s, d: ([bounce], [])).trace(1, 1, {"eth_dst": "x"})


def test_fake_does_not_hairpin_by_port_number() -> None:
    out_same = Flow(table=0, priority=1, match=(), actions=(("output", 1), ("output", 2)))
    assert FakeSwitch([out_same]).process({"in_port": 1}) == [(2, {})]
