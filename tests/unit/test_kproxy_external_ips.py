"""Tests for ``spec.externalIPs`` in both kproxy modes, traced through the rendered rules.

kube-proxy captures each external IP and Service port like a LoadBalancer
IP (pkg/proxy/nftables/proxier.go and pkg/proxy/iptables/proxier.go,
"Capture externalIPs"): to the Service's external chain, which under
``externalTrafficPolicy: Cluster`` masquerades and picks any endpoint, and
under Local keeps the client IP and picks a local endpoint (pods and the
node itself short-circuit to any endpoint); with no endpoints, reject.
Whether a packet reaches a node at all is routing, not kproxy's business:
here it has arrived (``prerouting``) or the node sends it (``output``).
"""
from __future__ import annotations

import dataclasses

import pytest
from iptables_tracer import ACCEPT, DROP, REJECT
from iptables_tracer import load as ipt_load
from iptables_tracer import trace as ipt_trace
from nft_tracer import check_jump_targets
from nft_tracer import trace as nft_trace
from service_alloc import Allocator

from k8snet.api.convert import service_from
from k8snet.api.service import Service, ServicePort
from kproxy import iptables, nft
from kproxy.state import Endpoint, NodeProxyState, ServicePortState, external_ips

SERVICE_CIDR, LB_POOL, POD_CIDR = "10.96.0.0/12", "198.51.100.0/24", "10.244.0.0/16"
NODE_IPS = {"node1": "172.18.0.11", "node2": "172.18.0.12"}
NODE1, NODE2 = NODE_IPS["node1"], NODE_IPS["node2"]
OUTSIDE = "192.0.2.50"
CLIENT_POD = "10.244.1.100"      # a pod on node1 that is no endpoint
EIP, EIP_LOCAL, EIP_REMOTE, EIP_EMPTY, EIP_STICKY, EIP_NP = (
    f"203.0.113.{n}" for n in range(80, 86))


def _eps(*addrs: str) -> tuple[Endpoint, ...]:
    out = []
    for addr in addrs:
        ip, port = addr.rsplit(":", 1)
        node = "node1" if ip.startswith("10.244.1.") else "node2"
        out.append(Endpoint(ip, int(port), node, pod=f"pod-{ip}"))
    return tuple(out)


def build_cluster() -> list[ServicePortState]:
    alloc = Allocator(SERVICE_CIDR, LB_POOL)

    def port_state(name: str, cluster_ip: str, port: ServicePort, eps: tuple[str, ...],
                   **kw) -> ServicePortState:
        svc = alloc.allocate(Service(name=name, cluster_ip=cluster_ip, ports=(port,),
                                     selector=(("app", name),), **kw))
        return ServicePortState(svc, svc.ports[0], _eps(*eps))

    return [
        # The live test's shape: a node's own IP as external IP, 8123 -> 8080.
        port_state("eip", "10.96.0.80", ServicePort(8123, 8080), ("10.244.1.81:8080",
                   "10.244.2.81:8080"), external_ips=(NODE2, EIP)),
        port_state("eip-local", "10.96.0.81", ServicePort(80, 8080), ("10.244.1.82:8080",
                   "10.244.2.82:8080"), external_ips=(EIP_LOCAL,),
                   external_traffic_policy="Local"),
        port_state("eip-remote", "10.96.0.82", ServicePort(80, 8080), ("10.244.2.83:8080",),
                   external_ips=(EIP_REMOTE,), external_traffic_policy="Local"),
        port_state("eip-empty", "10.96.0.83", ServicePort(80, 8080), (),
                   external_ips=(EIP_EMPTY,)),
        port_state("eip-sticky", "10.96.0.84", ServicePort(80, 8080), ("10.244.1.85:8080",
                   "10.244.2.85:8080"), external_ips=(EIP_STICKY,),
                   session_affinity="ClientIP", affinity_timeout=600),
        port_state("eip-np", "10.96.0.85", ServicePort(80, 8080, node_port=30200),
                   ("10.244.1.86:8080", "10.244.2.86:8080"), type="NodePort",
                   external_ips=(EIP_NP,)),
    ]


CLUSTER = build_cluster()


def node_state(node: str, ports=CLUSTER) -> NodeProxyState:
    return NodeProxyState(node, NODE_IPS[node], POD_CIDR, SERVICE_CIDR, tuple(ports))


NFT = {node: nft.render(node_state(node), fresh=True)[0] for node in NODE_IPS}
IPT = {node: ipt_load(iptables.render(node_state(node))[0]) for node in NODE_IPS}


@dataclasses.dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    dport: int
    path: str = "prerouting"      # arrives at the node, or "output": the node sends it
    node: str = "node1"


@dataclasses.dataclass(frozen=True)
class Expect:
    verdict: str = ACCEPT
    dnat: frozenset[str] = frozenset()
    masq: bool = False


def eps(*addrs: str) -> frozenset[str]:
    return frozenset(addrs)


EIP_EPS = eps("10.244.1.81:8080", "10.244.2.81:8080")
LOCAL_EPS = eps("10.244.1.82:8080", "10.244.2.82:8080")
STICKY_EPS = eps("10.244.1.85:8080", "10.244.2.85:8080")
NP_EPS = eps("10.244.1.86:8080", "10.244.2.86:8080")

CASES: list[tuple[str, Packet, Expect]] = [
    # Cluster policy: any endpoint, masqueraded (kube-proxy: "masquerade
    # traffic for ... external destinations"), from anywhere.
    ("node IP as external IP, from a pod on another node",
     Packet(CLIENT_POD, NODE2, 8123), Expect(dnat=EIP_EPS, masq=True)),
    ("node IP as external IP, from that node itself",
     Packet(NODE2, NODE2, 8123, path="output", node="node2"), Expect(dnat=EIP_EPS, masq=True)),
    ("node IP as external IP, from outside to that node",
     Packet(OUTSIDE, NODE2, 8123, node="node2"), Expect(dnat=EIP_EPS, masq=True)),
    ("node IP as external IP, from a pod on that node",
     Packet("10.244.2.100", NODE2, 8123, node="node2"), Expect(dnat=EIP_EPS, masq=True)),
    ("external IP from outside", Packet(OUTSIDE, EIP, 8123), Expect(dnat=EIP_EPS, masq=True)),
    ("external IP from another node's own address",
     Packet(NODE1, EIP, 8123, path="output"), Expect(dnat=EIP_EPS, masq=True)),
    ("external IP, a port the Service does not have: untouched",
     Packet(OUTSIDE, EIP, 8080), Expect()),
    ("external IP service's clusterIP from a pod: not masqueraded",
     Packet(CLIENT_POD, "10.96.0.80", 8123), Expect(dnat=EIP_EPS)),
    ("hairpin: an endpoint reaching itself through the external IP",
     Packet("10.244.1.81", EIP, 8123), Expect(dnat=EIP_EPS, masq=True)),
    # Local policy: client IP kept, local endpoints only, from outside.
    ("ETP Local, outside: the local endpoint, client IP kept",
     Packet(OUTSIDE, EIP_LOCAL, 80), Expect(dnat=eps("10.244.1.82:8080"))),
    ("ETP Local on node2: node2's endpoint",
     Packet(OUTSIDE, EIP_LOCAL, 80, node="node2"), Expect(dnat=eps("10.244.2.82:8080"))),
    ("ETP Local, from a pod: any endpoint, not masqueraded",
     Packet(CLIENT_POD, EIP_LOCAL, 80), Expect(dnat=LOCAL_EPS)),
    ("ETP Local, from the node itself: any endpoint, masqueraded",
     Packet(NODE1, EIP_LOCAL, 80, path="output"), Expect(dnat=LOCAL_EPS, masq=True)),
    ("ETP Local, no local endpoint: outside dropped",
     Packet(OUTSIDE, EIP_REMOTE, 80), Expect(DROP)),
    ("ETP Local, no local endpoint: a pod reaches the remote one",
     Packet(CLIENT_POD, EIP_REMOTE, 80), Expect(dnat=eps("10.244.2.83:8080"))),
    ("ETP Local on the node with the endpoint",
     Packet(OUTSIDE, EIP_REMOTE, 80, node="node2"), Expect(dnat=eps("10.244.2.83:8080"))),
    # No endpoints: rejected, from everywhere.
    ("no endpoints: external IP from outside rejected", Packet(OUTSIDE, EIP_EMPTY, 80),
     Expect(REJECT)),
    ("no endpoints: external IP from a pod rejected", Packet(CLIENT_POD, EIP_EMPTY, 80),
     Expect(REJECT)),
    ("no endpoints: external IP from the node rejected",
     Packet(NODE1, EIP_EMPTY, 80, path="output"), Expect(REJECT)),
    # With session affinity, and on a NodePort Service.
    ("sessionAffinity: external IP from outside", Packet(OUTSIDE, EIP_STICKY, 80),
     Expect(dnat=STICKY_EPS, masq=True)),
    ("NodePort Service's external IP", Packet(OUTSIDE, EIP_NP, 80),
     Expect(dnat=NP_EPS, masq=True)),
    ("NodePort Service's node port still served", Packet(OUTSIDE, NODE1, 30200),
     Expect(dnat=NP_EPS, masq=True)),
]
IDS = [c[0] for c in CASES]


def _check(results: list, packet: Packet, want: Expect) -> None:
    first = results[0]
    assert {r.verdict for r in results} == {want.verdict}, first.chains
    assert {r.dnat for r in results} - {None} == want.dnat, first.chains
    if want.dnat:
        assert all(r.dnat for r in results), "some numgen values do not DNAT"
    for r in results:
        assert r.masqueraded == want.masq, (r.dnat, r.chains)
        if want.masq:
            assert r.src_ip == NODE_IPS[packet.node]


@pytest.mark.parametrize(("packet", "want"), [c[1:] for c in CASES], ids=IDS)
def test_nftables(packet: Packet, want: Expect) -> None:
    node_ip = NODE_IPS[packet.node]
    _check([nft_trace(NFT[packet.node], src_ip=packet.src, dst_ip=packet.dst, proto="tcp",
                      dport=packet.dport, hook_path=packet.path, local_ips=[node_ip],
                      node_ip=node_ip, numgen=n) for n in range(4)], packet, want)


@pytest.mark.parametrize(("packet", "want"), [c[1:] for c in CASES], ids=IDS)
def test_iptables(packet: Packet, want: Expect) -> None:
    node_ip = NODE_IPS[packet.node]
    _check([ipt_trace(IPT[packet.node], src_ip=packet.src, dst_ip=packet.dst, proto="tcp",
                      dport=packet.dport, path=packet.path, local_ips=[node_ip],
                      node_ip=node_ip, numgen=n) for n in range(4)], packet, want)


def test_every_render_passes_check_jump_targets() -> None:
    for text in NFT.values():
        check_jump_targets(text)


def _element(text: str, key: str, comment: str, value: str) -> bool:
    return f'{key} comment "{comment}" : {value}' in text


def test_external_ips_are_elements_and_rules_like_the_lb_ip() -> None:
    text = NFT["node1"]
    assert _element(text, f"{EIP} . tcp . 8123", "default/eip external IP",
                    "goto external-ip-2")
    assert _element(text, f"{NODE2} . tcp . 8123", "default/eip external IP",
                    "goto external-ip-2")
    assert _element(text, f"{EIP_EMPTY} . tcp . 80", "default/eip-empty has no endpoints",
                    "goto reject-chain")
    rules = iptables.render(node_state("node1"))[0]
    assert f'"default/eip external IP" -d {EIP}/32 -p tcp -m tcp --dport 8123 -j ' \
           f'KPROXY-EXT-' in rules
    assert f"-d {EIP_EMPTY}/32 -p tcp -m tcp --dport 80 -j REJECT" in rules


def test_an_external_ip_that_is_the_cluster_or_lb_ip_is_captured_once() -> None:
    svc = Service("x", cluster_ip="10.96.0.9", load_balancer_ip="198.51.100.9",
                  external_ips=("10.96.0.9", "203.0.113.9", "198.51.100.9", "203.0.113.9", ""))
    assert external_ips(svc) == ["203.0.113.9"]


def test_service_from_reads_spec_external_ips() -> None:
    obj = {"metadata": {"name": "web"},
           "spec": {"clusterIP": "10.96.0.5", "externalIPs": [NODE2, EIP],
                    "ports": [{"port": 8123, "targetPort": 8080}]}}
    assert service_from(obj).external_ips == (NODE2, EIP)
    assert service_from({"metadata": {"name": "web"}, "spec": {}}).external_ips == ()


def _many(n: int, with_eip: int = -1) -> list[ServicePortState]:
    out = []
    for i in range(n):
        svc = Service(name=f"svc-{i}", cluster_ip=f"10.96.{1 + i // 200}.{i % 200 + 10}",
                      ports=(ServicePort(80, 8080),),
                      external_ips=(f"203.0.113.{i % 250}",) if i in (0, with_eip) else ())
        out.append(ServicePortState(svc, svc.ports[0], (
            Endpoint(f"10.244.{10 + i // 250}.{i % 250 + 2}", 8080, "node1"),
            Endpoint(f"10.244.{100 + i // 250}.{i % 250 + 2}", 8080, "node2"))))
    return out


def test_adding_an_external_ip_to_one_service_among_hundreds_is_a_few_elements() -> None:
    _, applied = nft.render(node_state("node1", _many(300)), fresh=True)
    text, _ = nft.render(node_state("node1", _many(300, with_eip=150)), applied)
    lines = text.splitlines()
    assert all(line.startswith("add element ip kproxy ") for line in lines), lines
    assert len(lines) == 2, lines   # its dispatch, its endpoints under that key
    assert _element(text, "203.0.113.150 . tcp . 80", "default/svc-150 external IP",
                    "goto external-ip-2")
    _, ipt_applied = iptables.render(node_state("node1", _many(300)))
    text, _ = iptables.render(node_state("node1", _many(300, with_eip=150)), ipt_applied)
    assert "svc-150" in text and "svc-149" not in text
    assert [line for line in text.splitlines() if line.startswith("-I KPROXY-SERVICES 1 ")] \
        == [line for line in text.splitlines() if "203.0.113.150" in line]
