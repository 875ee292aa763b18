"""The NetworkPolicy compiler and its nftables text, through the packet tracer."""
from __future__ import annotations

import ipaddress

from k8snet.netpol import nft
from k8snet.netpol.compile import Compiler, disjoint, ip_block
from k8snet.netpol.snapshot import PodInfo, PodPort, Snapshot
from tests.unit.netpol_tracer import forwarded, tables

NS = {"x": {"ns": "x", "kubernetes.io/metadata.name": "x"},
      "y": {"ns": "y", "kubernetes.io/metadata.name": "y"}}


def pod(ns: str, name: str, ip: str, node: str, **labels: str) -> PodInfo:
    ports = (PodPort("serve-80-tcp", 80, "TCP"), PodPort("serve-81-udp", 81, "UDP"))
    return PodInfo(ns, name, {"pod": name, **labels}, ip, node, ports)


PODS = (pod("x", "a", "10.244.1.2", "n1"), pod("x", "b", "10.244.2.2", "n2"),
        pod("y", "a", "10.244.1.3", "n1"), pod("y", "b", "10.244.2.3", "n2"))


def policy(name: str, ns: str, spec: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns, "uid": name, "resourceVersion": "1"},
            "spec": spec}


def snap(*policies: dict, pods=PODS) -> Snapshot:
    return Snapshot(NS, pods, policies)


def ok(s: Snapshot, src: PodInfo, dst: PodInfo, port: int = 80, proto: str = "TCP") -> bool:
    return forwarded(tables(s, ["n1", "n2"]), src.ip, src.node, dst.ip, dst.node, proto, port)


XA, XB, YA, YB = PODS


def test_no_policy_is_open():
    s = snap()
    assert all(ok(s, a, b) for a in PODS for b in PODS)


def test_deny_all_ingress_isolates_only_its_namespace():
    s = snap(policy("deny", "x", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    assert not ok(s, YA, XA) and not ok(s, XB, XA)
    assert ok(s, XA, YB)                   # egress from x is untouched
    assert ok(s, XA, XA)                   # a pod reaching itself


def test_namespace_and_pod_selector_in_one_peer_is_and():
    peer = {"namespaceSelector": {"matchLabels": {"ns": "y"}},
            "podSelector": {"matchLabels": {"pod": "b"}}}
    s = snap(policy("p", "x", {"podSelector": {"matchLabels": {"pod": "a"}},
                               "ingress": [{"from": [peer]}]}))
    assert ok(s, YB, XA) and not ok(s, YA, XA) and not ok(s, XB, XA)


def test_two_peers_are_or():
    peers = [{"namespaceSelector": {"matchLabels": {"ns": "y"}}},
             {"podSelector": {"matchLabels": {"pod": "b"}}}]
    s = snap(policy("p", "x", {"podSelector": {"matchLabels": {"pod": "a"}},
                               "ingress": [{"from": peers}]}))
    assert ok(s, YB, XA) and ok(s, YA, XA) and ok(s, XB, XA)


def test_ports_by_number_name_and_range():
    s = snap(policy("p", "x", {"podSelector": {}, "ingress": [{"ports": [
        {"port": "serve-81-udp", "protocol": "UDP"}, {"port": 80, "endPort": 82}]}]}))
    assert ok(s, YA, XA, 81, "UDP") and not ok(s, YA, XA, 80, "UDP")
    assert ok(s, YA, XA, 82) and not ok(s, YA, XA, 83)


def test_egress_named_port_resolves_on_the_destination_pod():
    s = snap(policy("p", "x", {"podSelector": {"matchLabels": {"pod": "a"}},
                               "policyTypes": ["Egress"],
                               "egress": [{"ports": [{"port": "serve-80-tcp"}]}]}))
    assert ok(s, XA, YB, 80) and not ok(s, XA, YB, 81)


def test_ip_block_except():
    s = snap(policy("p", "x", {"podSelector": {}, "ingress": [{"from": [
        {"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}}]}]}))
    assert ok(s, YA, XA) and not ok(s, YB, XA)


def test_union_of_overlapping_policies_is_disjoint_in_the_sets():
    a = policy("a", "x", {"podSelector": {}, "ingress": [{"ports": [{"port": 80,
                                                                     "endPort": 90}]}]})
    b = policy("b", "x", {"podSelector": {}, "ingress": [{"from": [
        {"ipBlock": {"cidr": "10.244.1.0/24"}}], "ports": [{"port": 85, "endPort": 100}]}]})
    s = snap(a, b)
    assert ok(s, YB, XA, 90) and not ok(s, YB, XA, 95) and ok(s, YA, XA, 95)


def test_disjoint_merges_neighbours():
    n = ipaddress.IPv4Network
    boxes, _ = disjoint([("TCP", 80, 80, (n("10.0.0.0/25"),)),
                         ("TCP", 80, 80, (n("10.0.0.128/25"),)),
                         ("TCP", 81, 81, (n("10.0.0.0/24"),))])
    assert boxes == {("TCP", 80, 81, "10.0.0.0/24")}


def test_ip_block_except_outside_is_ignored():
    assert [str(n) for n in ip_block({"cidr": "10.0.0.0/24", "except": ["10.1.0.0/24"]})] \
        == ["10.0.0.0/24"]


def test_partial_compile_touches_only_selected_pods():
    c = Compiler("n1")
    base = [policy(f"p{i}", "y", {"podSelector": {"matchLabels": {"pod": "a"}}})
            for i in range(5)]
    c.compile(snap(*base))
    extra = policy("new", "x", {"podSelector": {"matchLabels": {"pod": "a"}}})
    rules = c.compile(snap(*base, extra))
    assert c.last_changed_targets == 1
    assert rules.ingress_isolated == {"10.244.1.2", "10.244.1.3"}
    rules = c.compile(snap(*base))
    assert rules.ingress_isolated == {"10.244.1.3"}
    fresh = Compiler("n1").compile(snap(*base))
    assert nft.state(rules) == nft.state(fresh)


def test_label_change_recompiles():
    c = Compiler("n1")
    p = policy("p", "x", {"podSelector": {}, "ingress": [{"from": [
        {"podSelector": {"matchLabels": {"role": "client"}}}]}]})
    c.compile(snap(p))
    relabelled = (XA, pod("x", "b", "10.244.2.2", "n2", role="client"), YA, YB)
    rules = c.compile(snap(p, pods=relabelled))
    boxes, anys = rules.targets[("ingress", "10.244.1.2")]
    assert "10.244.2.2/32" in anys and not boxes


def _state(ingress: dict) -> nft.State:
    st = nft.State()
    st.pods["ingress"] = {ip: (frozenset(), frozenset(p), frozenset(), frozenset(a))
                          for ip, (p, a) in ingress.items()}
    return st


def test_delta_touches_only_changed_pods():
    old = _state({"10.0.0.1": ({"10.0.0.0/8 . tcp . 80"}, set()),
                  "10.0.0.2": ({"10.0.0.0/8 . tcp . 80"}, set())})
    new = _state({"10.0.0.1": ({"10.0.0.0/9 . tcp . 80"}, set()),
                  "10.0.0.3": (set(), {"0.0.0.0/0"})})
    text = nft.render_delta(old, new)
    assert "flush set ip k8snet-netpol ingress-10-0-0-1-port-ranges" in text
    assert "ingress-10-0-0-1-any" not in text              # unchanged
    assert "delete chain ip k8snet-netpol ingress-10-0-0-2" in text
    assert text.index("delete element ip k8snet-netpol ingress-pods { 10.0.0.2 }") < \
        text.index("delete chain ip k8snet-netpol ingress-10-0-0-2")
    assert "ingress-pods { 10.0.0.3 : goto ingress-10-0-0-3 }" in text
    assert nft.render_delta(new, new) == ""


def test_full_render_declares_the_forward_chain_and_maps():
    text = nft.render_full(_state({"10.0.0.1": ({"10.0.0.0/8 . tcp . 80"}, set())}))
    for needle in ("add map ip k8snet-netpol ingress-pods", "add map ip k8snet-netpol "
                   "egress-pods", "hook forward priority filter", "ip daddr vmap @ingress-pods",
                   "add set ip k8snet-netpol ingress-10-0-0-1-ports",
                   "add element ip k8snet-netpol ingress-10-0-0-1-port-ranges "
                   "{ 10.0.0.0/8 . tcp . 80 }"):
        assert needle in text


def test_every_interval_set_is_a_concatenation():
    """nft fetches every element of a table's non-concatenated interval sets
    before any element change (one pod's change then costs more with every
    pod), so none may exist."""
    text = nft.render_full(_state({"10.0.0.1": ({"10.0.0.0/8 . tcp . 80"}, {"10.1.0.0/16"})}))
    sets = [line for line in text.splitlines() if line.startswith("add set")]
    assert len(sets) == 5                    # loopback and the pod's four
    for line in sets:
        if "interval" in line:
            assert " . " in line.split("type", 1)[1], line


def test_prefix_peers_without_ports_are_keyed_by_the_pod():
    old = _state({"10.0.0.1": (set(), {"10.1.0.0/16"})})
    text = nft.render_full(old)
    assert "add element ip k8snet-netpol ingress-10-0-0-1-any-ranges " \
           "{ 10.0.0.1 . 10.1.0.0/16 }" in text
    assert "ip daddr . ip saddr @ingress-10-0-0-1-any-ranges accept" in text
    new = _state({"10.0.0.1": (set(), {"10.2.0.0/16", "0.0.0.0/1"})})
    delta = nft.render_delta(old, new)
    assert "flush set ip k8snet-netpol ingress-10-0-0-1-any-ranges" in delta
    assert "{ 10.0.0.1 . 0.0.0.0/1, 10.0.0.1 . 10.2.0.0/16 }" in delta


def test_egress_prefixes_are_keyed_by_the_source_pod():
    st = nft.State()
    st.pods["egress"] = {"10.0.0.1": (frozenset(), frozenset(), frozenset(),
                                      frozenset({"203.0.113.0/24"}))}
    text = nft.render_full(st)
    assert "ip saddr . ip daddr @egress-10-0-0-1-any-ranges return" in text
    assert "{ 10.0.0.1 . 203.0.113.0/24 }" in text
