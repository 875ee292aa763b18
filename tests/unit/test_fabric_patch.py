"""Switch-to-switch links as OVS patch ports, without a lab: the topology's
link classes, cutting a patch link (``link A B down|up``) through a fake
``ovs-ofctl``, and the trace of one datapath pass across several bridges
(``ovs-appctl ofproto/trace`` output captured on a live leafspine cluster)."""
from __future__ import annotations

import subprocess

import pytest
from mininet.link import OVSIntf

from k8snet.trace import ovstrace
from topologies import links
from topologies.links import PatchIntf, PatchLink
from topologies.nodes import K8sSwitch
from topologies.topos import LeafSpineTopo, SingleTopo

# --- captured in the lab: client (node3, leaf2) to web-1 (node1, leaf1) ---------

FLOW = ("tcp,in_port=3,vlan_tci=0x0000,dl_src=02:00:00:00:00:03,dl_dst=02:00:00:00:ff:01,"
        "nw_src=10.244.3.3,nw_dst=10.244.1.3,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,"
        "tp_src=40000,tp_dst=8080,tcp_flags=0")
LEAF2_HEAD = """\
bridge("leaf2")
---------------
 0. ip,dl_dst=02:00:00:00:ff:01,nw_dst=10.244.1.0/24, priority 124, cookie 0x16b380001
    set_field:02:00:00:00:ff:01->eth_src
    set_field:02:00:00:00:00:01->eth_dst
    dec_ttl
    goto_table:1
 1. dl_dst=02:00:00:00:00:01, priority 100, cookie 0x16b380001
    output:2
"""
FINAL = ("Final flow: tcp,in_port=3,vlan_tci=0x0000,dl_src=02:00:00:00:ff:01,"
         "dl_dst=02:00:00:00:00:01,nw_src=10.244.3.3,nw_dst=10.244.1.3,nw_tos=0,nw_ecn=0,"
         "nw_ttl=63,nw_frag=no,tp_src=40000,tp_dst=8080,tcp_flags=0\n"
         "Megaflow: recirc_id=0,eth,tcp,in_port=3,dl_src=02:00:00:00:00:03,"
         "dl_dst=02:00:00:00:ff:01,nw_dst=10.244.1.0/24,nw_ttl=64,nw_frag=no\n")
PASS_ACTIONS = "set(eth(src=02:00:00:00:ff:01,dst=02:00:00:00:00:01)),set(ipv4(ttl=63)),1"
ACROSS = f"""\
Flow: {FLOW}

{LEAF2_HEAD}
bridge("spine2")
----------------
 0. priority 10, cookie 0x16b380001
    goto_table:1
 1. dl_dst=02:00:00:00:00:01, priority 100, cookie 0x16b380001
    output:1

bridge("leaf1")
---------------
 0. priority 10, cookie 0x16b380001
    goto_table:1
 1. dl_dst=02:00:00:00:00:01, priority 100, cookie 0x16b380001
    output:3

{FINAL}Datapath actions: {PASS_ACTIONS}
"""
CUT = f"""\
Flow: {FLOW}

{LEAF2_HEAD}     -> OFPPC_NO_FWD set, skipping output

{FINAL}Datapath actions: drop
"""


# --- the topology -------------------------------------------------------------


def _link_classes(topo) -> dict[tuple[str, str], object]:
    return {(a, b): info.get("cls") for a, b, info in topo.links(withInfo=True)}


def test_leafspine_joins_switches_by_patch_links_and_hosts_by_veth() -> None:
    topo = LeafSpineTopo(nodes=4, spines=2, leaves=2)
    classes = _link_classes(topo)
    between = {k: v for k, v in classes.items() if all(topo.isSwitch(n) for n in k)}
    assert sorted(between) == [("leaf1", "spine1"), ("leaf1", "spine2"),
                               ("leaf2", "spine1"), ("leaf2", "spine2")]
    assert set(between.values()) == {PatchLink}
    to_hosts = [v for k, v in classes.items() if k not in between]
    assert len(to_hosts) == 6 and PatchLink not in to_hosts   # 4 nodes, gw twice (leaf1, ext)


def test_single_has_no_switch_to_switch_link() -> None:
    assert PatchLink not in _link_classes(SingleTopo(nodes=3)).values()


# --- cutting a patch link -----------------------------------------------------


class FakeSwitch(K8sSwitch):
    """A K8sSwitch that never runs a shell (no Mininet node process)."""

    def __init__(self, name: str) -> None:      # noqa: D107 - skip Node.__init__
        self.name = name
        self.intfs, self.ports, self.nameToIntf = {}, {}, {}

    def addIntf(self, intf, port=None, moveIntfFn=None):  # noqa: N802, N803 - Mininet's API
        port = len(self.ports) + 1 if port is None else port
        self.intfs[port], self.ports[intf], self.nameToIntf[intf.name] = intf, port, intf

    def delIntf(self, intf):  # noqa: N802 - Mininet's API
        del self.intfs[self.ports.pop(intf)], self.nameToIntf[intf.name]


@pytest.fixture
def ofctl(monkeypatch):
    """Record every ``ovs-ofctl`` call; ``fail`` makes the next ones fail."""
    calls: list[list[str]] = []
    state = {"fail": ""}

    def run(argv, **_kw):
        calls.append(list(argv))
        if state["fail"]:
            return subprocess.CompletedProcess(argv, 1, "", state["fail"])
        return subprocess.CompletedProcess(argv, 0, "", "")
    monkeypatch.setattr(links.subprocess, "run", run)
    return calls, state


def _link() -> PatchLink:
    return PatchLink(FakeSwitch("leaf1"), FakeSwitch("spine1"))


def test_a_patch_link_is_two_patch_interfaces_and_starts_up_without_a_command(ofctl) -> None:
    calls, _ = ofctl
    link = _link()
    assert isinstance(link.intf1, PatchIntf) and isinstance(link.intf1, OVSIntf)
    assert (link.intf1.name, link.intf2.name) == ("leaf1-eth1", "spine1-eth1")
    assert calls == []                       # the bridge does not exist yet at creation
    assert link.intf1.isUp() and link.status() == "(OK OK)"


def test_down_stops_receiving_and_forwarding_and_up_restores(ofctl) -> None:
    calls, _ = ofctl
    link = _link()
    assert link.intf1.ifconfig("down") == ""
    assert calls == [["ovs-ofctl", "-O", "OpenFlow13", "mod-port", "leaf1", "leaf1-eth1",
                      "no-receive"],
                     ["ovs-ofctl", "-O", "OpenFlow13", "mod-port", "leaf1", "leaf1-eth1",
                      "no-forward"]]
    assert not link.intf1.isUp() and link.intf1.status() == "DOWN"
    calls.clear()
    assert link.intf1.ifconfig("up") == ""
    assert [c[-1] for c in calls] == ["receive", "forward"]
    assert link.intf1.isUp() and link.intf1.status() == "OK"


def test_a_failed_cut_says_why_and_up_still_undoes_it(ofctl) -> None:
    calls, state = ofctl
    link = _link()
    state["fail"] = "ovs-ofctl: leaf1: failed to connect to socket"
    assert link.intf2.ifconfig("down") == "ovs-ofctl: leaf1: failed to connect to socket"
    state["fail"] = ""
    calls.clear()
    assert link.intf2.ifconfig("up") == ""
    assert [c[-1] for c in calls] == ["receive", "forward"]


def test_anything_but_up_or_down_is_refused_without_a_command(ofctl) -> None:
    calls, _ = ofctl
    link = _link()
    message = link.intf1.ifconfig("mtu", "9000")
    assert message == "leaf1-eth1: a patch port takes only up or down, not 'mtu 9000'"
    assert calls == []


def test_a_patch_link_needs_two_ovs_switches() -> None:
    class NotASwitch:
        name = "node1"
    with pytest.raises(ValueError, match="joins two OVS switches"):
        PatchLink(NotASwitch(), FakeSwitch("leaf1"))


def test_deleting_a_patch_interface_runs_nothing_in_the_kernel(ofctl) -> None:
    calls, _ = ofctl
    link = _link()
    switch = link.intf1.node
    link.delete()
    assert calls == [] and switch.intfs == {}


# --- the trace of one datapath pass -------------------------------------------


def test_one_trace_crosses_leaf_spine_leaf_over_patch_ports() -> None:
    steps = ovstrace.parse_pass("leaf2", 3, ACROSS)
    assert [(s.bridge, s.in_port, s.patch_to) for s in steps] == [
        ("leaf2", 3, "spine2"), ("spine2", 0, "leaf1"), ("leaf1", 0, "")]
    assert [s.output_ports for s in steps] == [[2], [1], [3]]
    assert [len(s.flows) for s in steps] == [2, 2, 2]
    assert steps[1].flows[0] == ovstrace.OfFlow(0, 10, "0x16b380001", "", ["goto_table:1"])
    # the pass's result belongs to its last bridge only
    assert [s.datapath_actions for s in steps] == ["", "", PASS_ACTIONS]
    assert steps[-1].final["dl_dst"] == "02:00:00:00:00:01"
    assert steps[-1].final["nw_ttl"] == "63"
    assert not steps[-1].dropped
    assert ovstrace.parse("leaf2", 3, ACROSS) == steps[0]


def test_a_cut_patch_port_ends_the_pass_on_the_first_bridge() -> None:
    (step,) = ovstrace.parse_pass("leaf2", 3, CUT)
    assert step.flows[-1].actions == ["output:2", "-> OFPPC_NO_FWD set, skipping output"]
    assert step.dropped and step.patch_to == ""


# The links of the lab above, as ``lab_of`` builds them, and the OpenFlow port
# of each switch interface (``ovs-vsctl get Interface NAME ofport``).
LAB_LINKS = {
    "leaf2-eth3": ("node3", "eth0"), "leaf1-eth3": ("node1", "eth0"),
    "leaf2-eth2": ("spine2", "spine2-eth2"), "spine2-eth2": ("leaf2", "leaf2-eth2"),
    "spine2-eth1": ("leaf1", "leaf1-eth2"), "leaf1-eth2": ("spine2", "spine2-eth1"),
}
OFPORTS = {"leaf2-eth3": 3, "leaf1-eth3": 3, "leaf2-eth2": 2, "spine2-eth2": 2,
           "spine2-eth1": 1, "leaf1-eth2": 2}


def test_trace_fabric_runs_one_trace_and_names_each_bridges_in_port(monkeypatch) -> None:
    traced = []

    def trace_pass(bridge, in_port, fields):
        traced.append((bridge, in_port))
        return ovstrace.parse_pass(bridge, in_port, ACROSS)
    monkeypatch.setattr(ovstrace, "ofport", OFPORTS.get)
    monkeypatch.setattr(ovstrace, "trace_pass", trace_pass)
    steps, reached = ovstrace.trace_fabric("leaf2", "leaf2-eth3", {"proto": "tcp"}, LAB_LINKS)
    assert traced == [("leaf2", 3)]                       # one datapath pass, one trace
    assert [(s.bridge, s.in_port) for s in steps] == [("leaf2", 3), ("spine2", 2),
                                                      ("leaf1", 2)]
    assert reached == "node1"


def test_trace_fabric_stops_where_a_cut_link_drops(monkeypatch) -> None:
    monkeypatch.setattr(ovstrace, "ofport", OFPORTS.get)
    monkeypatch.setattr(ovstrace, "trace_pass",
                        lambda b, p, f: ovstrace.parse_pass(b, p, CUT))
    steps, reached = ovstrace.trace_fabric("leaf2", "leaf2-eth3", {"proto": "tcp"}, LAB_LINKS)
    assert [s.bridge for s in steps] == ["leaf2"] and reached == ""
