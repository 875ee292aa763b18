"""The NetworkPolicy oracle: one test per semantic rule, each able to fail."""
from __future__ import annotations

import pytest

from k8snet.netpol.modelsnap import model_snapshot
from k8snet.netpol.oracle import (
    Connection,
    Peer,
    RuleRef,
    evaluate,
    peer,
    policy_types,
    truth_table,
)
from k8snet.netpol.snapshot import PodInfo, PodPort, Snapshot

EXTERNAL = "192.0.2.7"


def np(ns: str, name: str, selector: dict | None = None, **spec) -> dict:
    spec = {"podSelector": {} if selector is None else selector, **spec}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def sel(**labels) -> dict:
    return {"matchLabels": labels}


def model(*policies, **kw) -> Snapshot:
    return model_snapshot(policies=policies, **kw)


def allowed(snap: Snapshot, src: str, dst: str, port: int = 80, protocol: str = "TCP") -> bool:
    return evaluate(snap, Connection(peer(snap, src), peer(snap, dst), port, protocol)).allowed


def verdict(snap: Snapshot, src: str, dst: str, port: int = 80, protocol: str = "TCP"):
    return evaluate(snap, Connection(peer(snap, src), peer(snap, dst), port, protocol))


DENY_INGRESS = np("x", "deny", policyTypes=["Ingress"], ingress=[])


# ---------------------------------------------------------------- isolation


def test_no_policy_means_not_isolated():
    v = verdict(model(), "y/a", "x/a")
    assert v.allowed and not v.ingress.isolated and not v.egress.isolated
    assert v.ingress.reason == "x/a is not isolated for ingress"
    assert v.egress.reason == "y/a is not isolated for egress"


def test_ingress_policy_without_rules_denies_all_ingress_to_selected_pods():
    snap = model(np("x", "deny-a", sel(pod="a"), policyTypes=["Ingress"], ingress=[]))
    assert not allowed(snap, "y/a", "x/a") and not allowed(snap, "x/b", "x/a")
    assert allowed(snap, "y/a", "x/b")                  # not selected
    assert allowed(snap, "x/a", "y/a")                  # egress not isolated


def test_policies_select_only_in_their_namespace():
    snap = model(DENY_INGRESS)
    assert not allowed(snap, "z/a", "x/c")
    assert allowed(snap, "z/a", "y/c")


def test_egress_is_judged_by_the_source_namespace_policies():
    snap = model(np("x", "deny-out", policyTypes=["Egress"], egress=[]))
    assert not allowed(snap, "x/a", "y/a")
    assert allowed(snap, "y/a", "x/a")
    v = verdict(snap, "x/a", "y/a")
    assert not v.egress.allowed and v.egress.isolated and v.ingress.allowed
    assert v.egress.policies == ("x/deny-out",)


def test_both_directions_must_allow():
    snap = model(np("x", "out", policyTypes=["Egress"], egress=[{}]),
                 np("y", "in", policyTypes=["Ingress"], ingress=[]))
    v = verdict(snap, "x/a", "y/a")
    assert v.egress.allowed and not v.ingress.allowed and not v.allowed


def test_union_of_policies_and_every_allowing_rule_is_named():
    snap = model(np("x", "only-80", policyTypes=["Ingress"], ingress=[{"ports": [{"port": 80}]}]),
                 np("x", "from-b", policyTypes=["Ingress"],
                    ingress=[{"from": [{"podSelector": sel(pod="c")}]},
                             {"from": [{"podSelector": sel(pod="b")}]}]))
    v = verdict(snap, "x/b", "x/a", 80)
    assert v.ingress.allowed_by == (RuleRef("x/from-b", "ingress", 1),
                                    RuleRef("x/only-80", "ingress", 0))
    assert v.ingress.reason == "allowed by x/from-b ingress[1], x/only-80 ingress[0]"
    assert allowed(snap, "x/b", "x/a", 81)              # from-b, any port
    assert allowed(snap, "y/a", "x/a", 80)              # only-80, any source
    assert not allowed(snap, "y/a", "x/a", 81)          # neither


def test_deny_reason_names_every_selecting_policy():
    snap = model(np("x", "zz", sel(pod="a"), policyTypes=["Ingress"], ingress=[]),
                 np("x", "aa", policyTypes=["Ingress"],
                    ingress=[{"from": [{"podSelector": sel(pod="b")}]}]))
    v = verdict(snap, "y/a", "x/a")
    assert v.ingress.policies == ("x/aa", "x/zz")
    assert v.ingress.reason == "no rule of x/aa, x/zz allows it"
    assert v.reason == "y/a -> x/a TCP/80: ingress denied: no rule of x/aa, x/zz allows it"


# ---------------------------------------------------------------- policyTypes


def test_policy_types_default_like_the_api():
    assert policy_types({}) == ["Ingress"]
    assert policy_types({"egress": []}) == ["Ingress"]
    assert policy_types({"egress": [{}]}) == ["Ingress", "Egress"]
    assert policy_types({"policyTypes": ["Egress"], "ingress": [{}]}) == ["Egress"]


def test_undefaulted_policy_with_only_egress_rules_also_isolates_ingress():
    raw = np("x", "egress-only", egress=[{"ports": [{"port": 53, "protocol": "UDP"}]}])
    snap = Snapshot(model().namespaces, model().pods, (raw,))   # as stored, not defaulted
    assert not allowed(snap, "y/a", "x/a")              # Ingress defaulted in, no rules
    assert not allowed(snap, "x/a", "y/a", 80)          # Egress: only UDP 53
    assert allowed(snap, "x/a", "y/a", 53, "UDP")


def test_undefaulted_policy_without_egress_rules_leaves_egress_open():
    raw = np("x", "in", ingress=[{}])
    snap = Snapshot(model().namespaces, model().pods, (raw,))
    v = verdict(snap, "x/a", "y/a")
    assert v.allowed and not v.egress.isolated


# ---------------------------------------------------------------- peers


def test_empty_from_allows_every_source_including_external_addresses():
    snap = model(np("x", "all", policyTypes=["Ingress"], ingress=[{"ports": [{"port": 80}]}]))
    assert allowed(snap, EXTERNAL, "x/a")


def test_pod_selector_alone_selects_in_the_policy_namespace():
    snap = model(np("x", "p", policyTypes=["Ingress"],
                    ingress=[{"from": [{"podSelector": sel(pod="b")}]}]))
    assert allowed(snap, "x/b", "x/a")
    assert not allowed(snap, "y/b", "x/a")


def test_namespace_selector_alone_selects_every_pod_of_matching_namespaces():
    snap = model(np("x", "p", policyTypes=["Ingress"],
                    ingress=[{"from": [{"namespaceSelector": sel(ns="y")}]}]))
    assert all(allowed(snap, f"y/{p}", "x/a") for p in "abc")
    assert not allowed(snap, "x/b", "x/a") and not allowed(snap, "z/b", "x/a")


def test_selectors_in_one_peer_are_anded_in_two_peers_ored():
    both = {"namespaceSelector": sel(ns="y"), "podSelector": sel(pod="b")}
    either = [{"namespaceSelector": sel(ns="y")}, {"podSelector": sel(pod="b")}]
    and_snap = model(np("x", "and", policyTypes=["Ingress"], ingress=[{"from": [both]}]))
    or_snap = model(np("x", "or", policyTypes=["Ingress"], ingress=[{"from": either}]))
    assert [allowed(and_snap, s, "x/a") for s in ("y/b", "y/a", "x/b", "z/b")] == [
        True, False, False, False]
    assert [allowed(or_snap, s, "x/a") for s in ("y/b", "y/a", "x/b", "z/b")] == [
        True, True, True, False]


def test_selectors_match_pods_only():
    snap = model(np("x", "p", policyTypes=["Ingress"],
                    ingress=[{"from": [{"namespaceSelector": {}, "podSelector": {}}]}]))
    assert allowed(snap, "z/c", "x/a")
    assert not allowed(snap, EXTERNAL, "x/a")


def test_match_expressions_in_pod_and_namespace_selectors():
    peer_sel = {"namespaceSelector": {"matchExpressions": [
        {"key": "ns", "operator": "NotIn", "values": ["x"]}]},
        "podSelector": {"matchExpressions": [
            {"key": "pod", "operator": "In", "values": ["b", "c"]},
            {"key": "tier", "operator": "DoesNotExist"}]}}
    snap = model(np("x", "p", policyTypes=["Ingress"], ingress=[{"from": [peer_sel]}]),
                 pod_labels={"y/c": {"pod": "c", "tier": "db"}})
    assert [allowed(snap, s, "x/a") for s in ("y/b", "y/c", "z/c", "z/a", "x/b")] == [
        True, False, True, False, False]
    exists = model(np("x", "p", {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                      policyTypes=["Ingress"], ingress=[]),
                   pod_labels={"x/b": {"pod": "b", "tier": "web"}})
    assert allowed(exists, "y/a", "x/a") and not allowed(exists, "y/a", "x/b")


def test_namespace_name_label_is_implied_as_the_api_sets_it():
    snap = model(np("x", "p", policyTypes=["Ingress"], ingress=[{"from": [
        {"namespaceSelector": sel(**{"kubernetes.io/metadata.name": "y"})}]}]),
        namespace_labels={"y": {"team": "blue"}})
    assert allowed(snap, "y/a", "x/a") and not allowed(snap, "z/a", "x/a")


def test_ip_block_with_except_matches_pods_and_other_addresses():
    # x/a 10.244.1.10, x/b 10.244.2.11, y/b 10.244.1.14 in the model
    block = {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24", "10.244.1.14/32"]}
    snap = model(np("x", "p", sel(pod="a"), policyTypes=["Egress"],
                    egress=[{"to": [{"ipBlock": block}]}]))
    assert allowed(snap, "x/a", "x/c")                  # 10.244.1.12
    assert not allowed(snap, "x/a", "x/b")              # in except 10.244.2.0/24
    assert not allowed(snap, "x/a", "y/b")              # in except /32
    assert allowed(snap, "x/a", "10.244.7.1")           # no pod, inside cidr
    assert not allowed(snap, "x/a", EXTERNAL)


def test_ip_block_cidr_with_host_bits_is_read_as_go_does():
    snap = model(np("x", "p", sel(pod="a"), policyTypes=["Egress"],
                    egress=[{"to": [{"ipBlock": {"cidr": "10.244.1.10/4"}}]}]))
    assert allowed(snap, "x/a", "y/a") and not allowed(snap, "x/a", EXTERNAL)


# ---------------------------------------------------------------- ports


def test_empty_ports_match_every_port_and_protocol():
    snap = model(np("x", "p", policyTypes=["Ingress"],
                    ingress=[{"from": [{"podSelector": {}}]}]))
    assert allowed(snap, "x/b", "x/a", 9999, "UDP") and allowed(snap, "x/b", "x/a", 1, "SCTP")


def test_port_protocol_defaults_to_tcp():
    snap = model(np("x", "p", policyTypes=["Ingress"], ingress=[{"ports": [{"port": 80}]}]))
    assert allowed(snap, "y/a", "x/a", 80, "TCP")
    assert not allowed(snap, "y/a", "x/a", 80, "UDP")
    assert not allowed(snap, "y/a", "x/a", 81, "TCP")


def test_protocol_only_entry_matches_every_port_of_that_protocol():
    snap = model(np("x", "p", policyTypes=["Ingress"], ingress=[{"ports": [{"protocol": "UDP"}]}]))
    assert allowed(snap, "y/a", "x/a", 81, "UDP") and allowed(snap, "y/a", "x/a", 5353, "UDP")
    assert not allowed(snap, "y/a", "x/a", 81, "TCP")
    assert not allowed(snap, "y/a", "x/a", 81, "SCTP")


def test_end_port_is_an_inclusive_range():
    snap = model(np("x", "p", policyTypes=["Ingress"],
                    ingress=[{"ports": [{"port": 8000, "endPort": 8080, "protocol": "TCP"}]}]))
    assert [allowed(snap, "y/a", "x/a", p) for p in (7999, 8000, 8042, 8080, 8081)] == [
        False, True, True, True, False]


def _named_snapshot(*policies) -> Snapshot:
    ns = {"x": {"ns": "x"}, "y": {"ns": "y"}}
    pods = (PodInfo("x", "web1", {"app": "web"}, "10.244.1.2", "node1",
                    (PodPort("http", 8080), PodPort("dns", 53, "UDP"))),
            PodInfo("x", "web2", {"app": "web"}, "10.244.2.2", "node2",
                    (PodPort("http", 9090),)),
            PodInfo("y", "client", {"app": "client"}, "10.244.1.3", "node1"))
    return Snapshot(ns, pods, policies)


def test_ingress_named_port_resolves_on_each_destination_pod():
    snap = _named_snapshot(np("x", "http", sel(app="web"), policyTypes=["Ingress"],
                              ingress=[{"ports": [{"port": "http"}]}]))
    assert allowed(snap, "y/client", "x/web1", 8080)
    assert not allowed(snap, "y/client", "x/web1", 9090)
    assert allowed(snap, "y/client", "x/web2", 9090)
    assert not allowed(snap, "y/client", "x/web2", 8080)


def test_named_port_needs_the_protocol_too():
    snap = _named_snapshot(np("x", "dns", sel(app="web"), policyTypes=["Ingress"],
                              ingress=[{"ports": [{"port": "dns"}]}]))    # TCP by default
    assert not allowed(snap, "y/client", "x/web1", 53, "UDP")
    snap = _named_snapshot(np("x", "dns", sel(app="web"), policyTypes=["Ingress"],
                              ingress=[{"ports": [{"port": "dns", "protocol": "UDP"}]}]))
    assert allowed(snap, "y/client", "x/web1", 53, "UDP")


def test_egress_named_port_resolves_on_the_destination_pod_only():
    snap = _named_snapshot(np("y", "out", sel(app="client"), policyTypes=["Egress"],
                              egress=[{"ports": [{"port": "http"}]}]))
    assert allowed(snap, "y/client", "x/web1", 8080)
    assert allowed(snap, "y/client", "x/web2", 9090)
    assert not allowed(snap, "y/client", "x/web2", 8080)
    assert not allowed(snap, "y/client", EXTERNAL, 8080)   # not a pod: nothing to resolve


def test_truth_table_resolves_a_named_port_per_destination():
    snap = _named_snapshot(np("x", "http", sel(app="web"), policyTypes=["Ingress"],
                              ingress=[{"ports": [{"port": 8080}]}]))
    table = truth_table(snap, ["y/client"], ["x/web1", "x/web2", "y/client"], "http", "tcp")
    assert table == {("y/client", "x/web1"): True,      # http is 8080 there
                     ("y/client", "x/web2"): False,     # 9090 there, policy allows 8080
                     ("y/client", "y/client"): False}   # no port named http: no connection
    numeric = truth_table(snap, ["y/client"], ["x/web2"], 9090, "TCP")
    assert numeric == {("y/client", "x/web2"): False}


def test_truth_table_on_the_model():
    snap = model(DENY_INGRESS)
    table = truth_table(snap, ["y/a", EXTERNAL], ["x/a", "y/b"], 80, "TCP")
    assert table == {("y/a", "x/a"): False, ("y/a", "y/b"): True,
                     (EXTERNAL, "x/a"): False, (EXTERNAL, "y/b"): True}


# ---------------------------------------------------------------- exceptions


def test_the_pods_own_node_may_always_reach_it():
    snap = model(np("x", "deny", policyTypes=["Ingress", "Egress"], ingress=[], egress=[]))
    pod = snap.pod("x/a")                                       # on node1
    own = Peer("192.168.56.11", node="node1")
    other = Peer("192.168.56.12", node="node2")
    v = evaluate(snap, Connection(own, Peer(pod.ip, pod), 8080))
    assert v.allowed and v.ingress.isolated
    assert v.ingress.reason == "from x/a's own node node1: always allowed"
    assert not evaluate(snap, Connection(other, Peer(pod.ip, pod), 8080)).allowed
    assert not evaluate(snap, Connection(Peer("192.168.56.11"), Peer(pod.ip, pod), 80)).allowed
    assert evaluate(snap, Connection(Peer(pod.ip, pod), own, 10250)).allowed
    assert not evaluate(snap, Connection(Peer(pod.ip, pod), other, 10250)).allowed


def test_a_pod_cannot_block_access_to_itself():
    snap = model(np("x", "deny", policyTypes=["Ingress", "Egress"], ingress=[], egress=[]))
    v = verdict(snap, "x/a", "x/a")
    assert v.allowed and v.ingress.isolated and v.egress.isolated
    assert "cannot block access to itself" in v.ingress.reason
    assert not allowed(snap, "x/b", "x/a")


def test_non_pod_ends_are_not_judged():
    snap = model(DENY_INGRESS)
    v = evaluate(snap, Connection(peer(snap, "x/a"), Peer(EXTERNAL), 443))
    assert v.allowed and v.ingress.reason == "the destination is not a pod"
    v = evaluate(snap, Connection(Peer(EXTERNAL), peer(snap, "y/a"), 443))
    assert v.egress.reason == "the source is not a pod"


# ---------------------------------------------------------------- peer()


def test_peer_by_name_and_by_address():
    snap = model()
    a = peer(snap, "x/a")
    assert a.pod is snap.pod("x/a") and a.ip == "10.244.1.10"
    assert peer(snap, "10.244.1.10").pod is snap.pod("x/a")
    assert peer(snap, EXTERNAL) == Peer(EXTERNAL)


def test_peer_errors_name_the_reference():
    with pytest.raises(ValueError, match="unknown pod 'x/nope'"):
        peer(model(), "x/nope")
    with pytest.raises(ValueError, match="'web' is neither"):
        peer(model(), "web")
    with pytest.raises(ValueError, match="unknown pod"):
        truth_table(model(), ["x/a"], ["q/q"], 80, "TCP")
