"""kproxy's ``cluster-ips`` set and ``cluster-ips-check`` chain (nftables mode).

After kube-proxy's nftables proxier (pkg/proxy/nftables/proxier.go: the
``clusterIPsSet`` and ``clusterIPsCheckChain`` constants, ``setupNFTables``
and ``nftablesJumpChains``): a new connection still addressed to a ClusterIP
after DNAT is to a port its Service does not have and is rejected; one
addressed elsewhere in the service CIDR is dropped.  The checks run after
DNAT, from filter-forward and from filter-output-post-dnat, so they never
see a packet a Service port took.  Tested as kube-proxy tests its rules:
packets through the rendered text (``nft_tracer``), then the explanations
of ``trace --simulate`` and of the live trace's verdict.
"""
from __future__ import annotations

import re

from nft_tracer import DROP, REJECT, load, trace
from test_kproxy_nft import CLIENT_POD, NODE1, RENDERS, node_state
from test_trace_simulate import CLIENT, inputs, lines, target, titles

from k8snet.apiserver.store import Store
from k8snet.trace import story
from k8snet.trace.model import Endpoint, Hop, Target, TraceResult
from k8snet.trace.simulate import simulate
from kproxy import nft

TEXT = RENDERS["node1"]
T = "ip kproxy"


def rules_of(chain: str, text: str = TEXT) -> list[str]:
    return re.findall(rf"^add rule {T} {re.escape(chain)} (.*)$", text, re.M)


def packet(dst: str, dport: int, src: str = CLIENT_POD, path: str = "prerouting",
           proto: str = "tcp"):
    return trace(TEXT, src_ip=src, dst_ip=dst, proto=proto, dport=dport, hook_path=path,
                 local_ips=[NODE1], node_ip=NODE1)


# ------------------------------------------------------------- the rendered rules

def test_the_set_chain_and_rules_are_kube_proxys() -> None:
    assert f'add set {T} cluster-ips {{ type ipv4_addr; comment "Active ClusterIPs"; }}' \
        in TEXT
    assert rules_of("cluster-ips-check") == [
        'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
        'ip daddr 10.96.0.0/12 drop comment "Drop traffic to unallocated ClusterIPs"']
    # A filter chain after nat-output's DNAT (-100), as kube-proxy's dstnat + 10.
    assert f"add chain {T} filter-output-post-dnat {{ type filter hook output priority -90; " \
           "policy accept; }" in TEXT
    jump = ('ct state new jump cluster-ips-check comment "reject undeclared ClusterIP ports, '
            'drop unallocated service IPs"')
    # filter-forward: behind the endpoints check, so a Service port without
    # endpoints is still rejected as such.
    forward = rules_of("filter-forward")
    assert forward[-1] == jump and "service-endpoints-check" in forward[0]
    assert rules_of("filter-output-post-dnat") == [jump]
    # Never before DNAT, never on input: node ports, LB IPs and local delivery
    # are not its business.
    for chain in ("filter-input", "filter-output", "nat-prerouting", "nat-output"):
        assert not any("cluster-ips" in r for r in rules_of(chain)), chain


def test_the_set_holds_every_proxied_clusterip_once() -> None:
    table = load(TEXT)
    held = {str(n.network_address) for n in table.sets["cluster-ips"].elements}
    want = {sp.service.cluster_ip for sp in node_state("node1").ports if sp.service.proxied}
    assert held == want and "10.96.0.30" in held        # endpointless "empty" too
    assert "None" not in TEXT.split("cluster-ips {", 1)[1]
    # dns has two ports: its ClusterIP is one element.
    assert re.findall(rf"^add element {T} cluster-ips .*$", TEXT, re.M)[0].count(
        "10.96.0.10") == 1
    assert not load(nft.render(node_state("node1", ports=()), fresh=True)[0]) \
        .sets["cluster-ips"].elements


# ------------------------------------------------------------- packets

def test_a_served_port_passes_the_check_after_dnat() -> None:
    r = packet("10.96.0.20", 80)
    assert r.dnat and r.chains.index("cluster-ips-check") > r.chains.index("services")
    assert not [m for m in r.rules if m.chain == "cluster-ips-check"]
    node = packet("10.96.0.20", 80, src=NODE1, path="output")
    assert node.dnat and "cluster-ips-check" in node.chains
    assert not [m for m in node.rules if m.chain == "cluster-ips-check"]


def test_an_undeclared_port_is_rejected_by_the_check() -> None:
    for r in (packet("10.96.0.20", 81), packet("10.96.0.20", 81, src=NODE1, path="output"),
              packet("10.96.0.10", 53)):                # dns serves 53 over UDP only
        assert r.verdict == REJECT and r.dnat is None
        assert [(m.chain, m.verdict) for m in r.rules][-1] == ("cluster-ips-check", "reject")
    assert packet("10.96.0.10", 53, proto="udp").dnat


def test_no_endpoints_is_still_told_as_such() -> None:
    r = packet("10.96.0.30", 80)
    assert r.verdict == REJECT and "reject-chain" in r.chains
    assert "cluster-ips-check" not in r.chains


def test_an_unallocated_service_ip_is_dropped() -> None:
    r = packet("10.96.0.99", 80)
    assert r.verdict == DROP
    assert [(m.chain, m.verdict) for m in r.rules][-1] == ("cluster-ips-check", "drop")


def test_node_ports_lb_ips_and_the_node_itself_are_untouched() -> None:
    assert packet(NODE1, 30080, src="192.0.2.50").dnat           # node port
    assert packet(NODE1, 22).verdict == "ACCEPT"                 # local delivery
    assert packet("198.51.100.1", 80, src="192.0.2.50").verdict == "ACCEPT"   # LB, other port
    assert packet("203.0.113.10", 443, src=NODE1, path="output").verdict == "ACCEPT"


# ------------------------------------------------------------- trace --simulate

def test_simulated_trace_names_the_missing_port_and_stops_on_the_node() -> None:
    result = simulate(inputs(), CLIENT, target("10.96.0.20", 81))
    assert titles(result) == ["pod default/client", "node1: netfilter"]   # no default route
    nf = lines(result, "node1: netfilter")
    assert 'kproxy cluster-ips-check: "Reject traffic to invalid ports of ClusterIPs" ' \
           "(reject)" in nf
    assert result.verdict == ("simulated: stopped: reject: Service default/web has no port "
                              "81/TCP (it serves 80/TCP) (ICMP port unreachable)")
    assert not result.delivered


def test_simulated_trace_from_the_node_uses_the_post_dnat_chain() -> None:
    node = Endpoint("node", "node2", "172.18.0.12", "ns-node2", node="node2", element="node2")
    result = simulate(inputs(), node, target("10.96.0.20", 81))
    nf = lines(result, "node2: netfilter")
    assert any(line.startswith("kproxy filter-output-post-dnat: ") and
               line.endswith("(jump cluster-ips-check)") for line in nf)
    assert result.verdict.endswith("has no port 81/TCP (it serves 80/TCP) "
                                   "(ICMP port unreachable)")


def test_simulated_trace_of_an_unallocated_service_ip() -> None:
    result = simulate(inputs(), CLIENT, target("10.96.0.99", 80))
    assert result.verdict == ("simulated: stopped: drop: 10.96.0.99 is in the service CIDR "
                              "but no Service has it (an unallocated ClusterIP)")


def test_iptables_mode_is_unchanged_in_the_simulation() -> None:
    result = simulate(inputs(mode="iptables"), CLIENT, target("10.96.0.20", 81))
    assert "not supported" in result.verdict and "reject" not in result.verdict


# ------------------------------------------------------------- the live trace's verdict

def _store() -> Store:
    s = Store()
    s.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    s.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
              "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}})
    return s


def _verdict(netfilter: list[str], error: str) -> str:
    lab = type("Lab", (), {"store": _store(), "host_ips": {}, "faults": [], "node_ips": {}})()
    result = TraceResult(Endpoint("pod", "default/client", "10.244.1.10", "ns", node="node1"),
                         Target("web:9999", "10.96.0.20", 9999, "web"), "TCP",
                         [Hop("node1: netfilter", netfilter)], delivered=False, error=error)
    story._destination(lab, result, "10.96.0.20", 9999, ["node1"], reached=False)
    return result.verdict


def test_live_verdict_says_kproxy_rejected_the_undeclared_port() -> None:
    reject = 'kproxy cluster-ips-check: "Reject traffic to invalid ports of ClusterIPs" (reject)'
    assert story.rejected_port(reject)
    assert not story.rejected_port('kproxy reject-chain: "no endpoints: ICMP port '
                                   'unreachable" (reject)')
    assert _verdict(['kproxy nat-prerouting: "service portals" (jump services)', reject],
                    "connection refused") == (
        f"stopped: connection refused; {reject}; the Service default/web has no port "
        "9999/TCP (it serves 80/TCP): kproxy rejects a ClusterIP's other ports (ICMP port "
        "unreachable)")
    # iptables mode: no rule met, the connection times out; the words stay.
    assert _verdict([], "timed out") == (
        "stopped: timed out; the Service default/web has no port 9999/TCP (it serves "
        "80/TCP): kproxy has no rule for it, so nothing forwards the packet")
