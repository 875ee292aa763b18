"""Tests for kproxy.nft: packets traced through the rendered ``nft -f`` text.

Table-driven like kube-proxy's nftables proxier_test.go: one cluster's
services are rendered for a node, and every case pushes one new-connection
packet through the *text* (``nft_tracer``) and says what comes out: the
verdict, every endpoint a random pick can DNAT to, and whether the packet is
masqueraded.  Each case is traced once per ``numgen`` value, so the tests
also check that each random index picks a distinct endpoint and that all
endpoints are reachable.
"""
from __future__ import annotations

import dataclasses
import re

import pytest
from nft_tracer import (
    ACCEPT,
    DROP,
    REJECT,
    NftSyntaxError,
    NftTraceError,
    NftTransactionError,
    check_jump_targets,
    load,
    trace,
)
from service_alloc import Allocator

from k8snet.api.service import Service, ServicePort
from kproxy import nft
from kproxy.state import Endpoint, NodeProxyState, ServicePortState, endpoint_id

SERVICE_CIDR = "10.96.0.0/12"
LB_POOL = "198.51.100.0/24"
POD_CIDR = "10.244.0.0/16"
NODE_IPS = {"node1": "172.18.0.11", "node2": "172.18.0.12"}
NODE1, NODE2 = NODE_IPS["node1"], NODE_IPS["node2"]
OUTSIDE = "192.0.2.50"        # a client outside the cluster
CLIENT_POD = "10.244.1.100"   # a pod on node1 that is no endpoint
REMOTE_POD = "10.244.2.100"   # a pod on node2 that is no endpoint
INTERNET = "203.0.113.10"
MASQ_MARK = 0x4000


# ---------------------------------------------------------------- the cluster

def _endpoint(addr: str, ready: bool = True) -> Endpoint:
    ip, port = addr.rsplit(":", 1)
    node = {"10.244.1.": "node1", "10.244.2.": "node2"}[ip.rsplit(".", 1)[0] + "."]
    return Endpoint(ip, int(port), node, pod=f"pod-{ip}", ready=ready)


def _ports(svc: Service, endpoints: dict[str, list[str]] | list[str],
           unready: tuple[str, ...] = ()) -> list[ServicePortState]:
    """One ServicePortState per port; ``endpoints`` by port name for multi-port."""
    out = []
    for port in svc.ports:
        addrs = endpoints[port.name] if isinstance(endpoints, dict) else endpoints
        eps = tuple(_endpoint(a) for a in addrs) + tuple(_endpoint(a, False) for a in unready)
        out.append(ServicePortState(svc, port, eps))
    return out


def build_cluster() -> tuple[Allocator, list[ServicePortState]]:
    alloc = Allocator(SERVICE_CIDR, LB_POOL)

    def service(name: str, cluster_ip: str, *ports: ServicePort, **kw) -> Service:
        return alloc.allocate(Service(name=name, cluster_ip=cluster_ip, ports=ports,
                                      selector=(("app", name),), **kw))

    web = service("web", "10.96.0.20", ServicePort(80, 8080))
    np = service("np", "10.96.0.21", ServicePort(80, 8080, node_port=30080), type="NodePort")
    lb = service("lb", "10.96.0.22", ServicePort(443, 8443, node_port=30443),
                 type="LoadBalancer")
    empty = service("empty", "10.96.0.30", ServicePort(80, 8080, node_port=30090),
                    type="LoadBalancer")
    unready = service("unready", "10.96.0.31", ServicePort(80, 8080))
    etp_local = service("etp-local", "10.96.0.40", ServicePort(80, 8080, node_port=30100),
                        type="LoadBalancer", external_traffic_policy="Local")
    etp_remote = service("etp-remote", "10.96.0.41", ServicePort(80, 8080, node_port=30110),
                         type="NodePort", external_traffic_policy="Local")
    itp_local = service("itp-local", "10.96.0.50", ServicePort(80, 8080),
                        internal_traffic_policy="Local")
    itp_remote = service("itp-remote", "10.96.0.51", ServicePort(80, 8080),
                         internal_traffic_policy="Local")
    sticky = service("sticky", "10.96.0.60", ServicePort(80, 8080),
                     session_affinity="ClientIP", affinity_timeout=600)
    dns = service("dns", "10.96.0.10", ServicePort(53, protocol="UDP", name="dns"),
                  ServicePort(9153, name="metrics"))
    headless = service("headless", "None", ServicePort(80, 8080))
    assert (lb.load_balancer_ip, empty.load_balancer_ip, etp_local.load_balancer_ip) == (
        "198.51.100.1", "198.51.100.2", "198.51.100.3")
    ports = [
        *_ports(web, ["10.244.1.5:8080", "10.244.2.7:8080"], unready=("10.244.2.8:8080",)),
        *_ports(np, ["10.244.1.11:8080", "10.244.2.11:8080"]),
        *_ports(lb, ["10.244.1.21:8443", "10.244.2.21:8443", "10.244.2.22:8443"]),
        *_ports(empty, []),
        *_ports(unready, [], unready=("10.244.1.32:8080",)),
        *_ports(etp_local, ["10.244.1.31:8080", "10.244.2.31:8080"]),
        *_ports(etp_remote, ["10.244.2.41:8080"]),
        *_ports(itp_local, ["10.244.1.51:8080", "10.244.2.51:8080"]),
        *_ports(itp_remote, ["10.244.2.52:8080"]),
        *_ports(sticky, ["10.244.1.61:8080", "10.244.2.61:8080"]),
        *_ports(dns, {"dns": ["10.244.1.53:53", "10.244.2.53:53"],
                      "metrics": ["10.244.1.53:9153", "10.244.2.53:9153"]}),
        *_ports(headless, ["10.244.1.70:8080"]),
    ]
    return alloc, ports


ALLOC, CLUSTER = build_cluster()
LB_IP, EMPTY_LB_IP, ETP_LB_IP = "198.51.100.1", "198.51.100.2", "198.51.100.3"


def node_state(node: str, ports=None) -> NodeProxyState:
    return NodeProxyState(node, NODE_IPS[node], POD_CIDR, SERVICE_CIDR,
                          tuple(CLUSTER if ports is None else ports))


RENDERS = {node: nft.render(node_state(node), fresh=True)[0] for node in NODE_IPS}


def affinity_set(target: str, ports=CLUSTER) -> str:
    """The affinity set of the endpoint ``ip:port``."""
    hits = [f"affinity-{endpoint_id(sp, ep)}" for sp in ports for ep in sp.endpoints
            if f"{ep.ip}:{ep.port}" == target]
    assert len(hits) == 1, target
    return hits[0]


# ---------------------------------------------------------------------- cases

@dataclasses.dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    dport: int
    proto: str = "tcp"
    path: str = "prerouting"      # "prerouting": arrives at the node; "output": sent by it
    node: str = "node1"           # whose ruleset
    affinity: tuple[tuple[str, str], ...] = ()  # (endpoint, client) already remembered


@dataclasses.dataclass(frozen=True)
class Expect:
    verdict: str = ACCEPT
    dnat: frozenset[str] = frozenset()  # every endpoint some numgen value reaches; {} = none
    masq: bool | frozenset[str] = False  # or: the DNAT targets that are masqueraded


def eps(*addrs: str) -> frozenset[str]:
    return frozenset(addrs)


UNTOUCHED = Expect()
WEB = eps("10.244.1.5:8080", "10.244.2.7:8080")
NP = eps("10.244.1.11:8080", "10.244.2.11:8080")
LB = eps("10.244.1.21:8443", "10.244.2.21:8443", "10.244.2.22:8443")
ETP = eps("10.244.1.31:8080", "10.244.2.31:8080")
STICKY = eps("10.244.1.61:8080", "10.244.2.61:8080")

CASES: list[tuple[str, Packet, Expect]] = [
    # ClusterIP
    ("clusterIP from a pod: any ready endpoint",
     Packet(CLIENT_POD, "10.96.0.20", 80), Expect(dnat=WEB)),
    ("clusterIP from a pod on another node",
     Packet(REMOTE_POD, "10.96.0.20", 80), Expect(dnat=WEB)),
    ("clusterIP from the node itself: masqueraded",
     Packet(NODE1, "10.96.0.20", 80, path="output"), Expect(dnat=WEB, masq=True)),
    ("clusterIP from outside the pod network: masqueraded",
     Packet(OUTSIDE, "10.96.0.20", 80), Expect(dnat=WEB, masq=True)),
    # cluster-ips-check (kube-proxy's): what no Service port took, after DNAT
    ("clusterIP, a port the service does not have: rejected",
     Packet(CLIENT_POD, "10.96.0.20", 81), Expect(REJECT)),
    ("clusterIP, the other protocol: rejected",
     Packet(CLIENT_POD, "10.96.0.20", 80, proto="udp"), Expect(REJECT)),
    ("clusterIP, a port it does not have, from the node itself: rejected",
     Packet(NODE1, "10.96.0.20", 81, path="output"), Expect(REJECT)),
    ("clusterIP, a port it does not have, from outside the pod network: rejected",
     Packet(OUTSIDE, "10.96.0.20", 81), Expect(REJECT)),
    ("clusterIP, a port it does not have, on node2's ruleset: rejected",
     Packet(REMOTE_POD, "10.96.0.20", 81, node="node2"), Expect(REJECT)),
    ("unallocated service IP: dropped",
     Packet(CLIENT_POD, "10.96.0.99", 80), Expect(DROP)),
    ("unallocated service IP from the node itself: dropped",
     Packet(NODE1, "10.96.0.99", 80, path="output"), Expect(DROP)),
    ("the last address of the service CIDR, unallocated: dropped",
     Packet(CLIENT_POD, "10.111.255.254", 443), Expect(DROP)),
    ("just past the service CIDR: not checked, only egress SNAT",
     Packet(CLIENT_POD, "10.112.0.1", 80), Expect(masq=True)),
    ("a headless Service's port on some service IP: dropped, it has no ClusterIP",
     Packet(CLIENT_POD, "10.96.0.70", 80), Expect(DROP)),
    ("hairpin: an endpoint reaching itself through its clusterIP is masqueraded",
     Packet("10.244.1.5", "10.96.0.20", 80),
     Expect(dnat=WEB, masq=eps("10.244.1.5:8080"))),
    # NodePort, externalTrafficPolicy Cluster
    ("nodePort on the node IP from outside: DNAT and masquerade",
     Packet(OUTSIDE, NODE1, 30080), Expect(dnat=NP, masq=True)),
    ("nodePort from a pod: masqueraded under Cluster policy",
     Packet(CLIENT_POD, NODE1, 30080), Expect(dnat=NP, masq=True)),
    ("nodePort from the node itself",
     Packet(NODE1, NODE1, 30080, path="output"), Expect(dnat=NP, masq=True)),
    ("nodePort on node2's IP is not node1's business",
     Packet(OUTSIDE, NODE2, 30080), UNTOUCHED),
    ("nodePort on localhost is not served",
     Packet("127.0.0.1", "127.0.0.1", 30080, path="output"), UNTOUCHED),
    ("nodePort, the other protocol: untouched",
     Packet(OUTSIDE, NODE1, 30080, proto="udp"), UNTOUCHED),
    ("nodePort service's clusterIP from a pod",
     Packet(CLIENT_POD, "10.96.0.21", 80), Expect(dnat=NP)),
    ("nodePort on node2's ruleset",
     Packet(OUTSIDE, NODE2, 30080, node="node2"), Expect(dnat=NP, masq=True)),
    # LoadBalancer, Cluster
    ("LB IP from outside: DNAT and masquerade",
     Packet(OUTSIDE, LB_IP, 443), Expect(dnat=LB, masq=True)),
    ("LB IP from a pod: masqueraded under Cluster policy",
     Packet(CLIENT_POD, LB_IP, 443), Expect(dnat=LB, masq=True)),
    ("LB service's nodePort",
     Packet(OUTSIDE, NODE1, 30443), Expect(dnat=LB, masq=True)),
    ("LB service's clusterIP from a pod",
     Packet(CLIENT_POD, "10.96.0.22", 443), Expect(dnat=LB)),
    ("LB IP, a port the service does not have: untouched (not a ClusterIP)",
     Packet(OUTSIDE, LB_IP, 80), UNTOUCHED),
    ("LB IP, a port the service does not have, from a pod: not rejected, egress SNAT",
     Packet(CLIENT_POD, LB_IP, 80), Expect(masq=True)),
    # No endpoints
    ("no endpoints: clusterIP rejected",
     Packet(CLIENT_POD, "10.96.0.30", 80), Expect(REJECT)),
    ("no endpoints: clusterIP from the node itself rejected",
     Packet(NODE1, "10.96.0.30", 80, path="output"), Expect(REJECT)),
    ("no endpoints: nodePort from outside rejected",
     Packet(OUTSIDE, NODE1, 30090), Expect(REJECT)),
    ("no endpoints: nodePort from a pod rejected",
     Packet(CLIENT_POD, NODE1, 30090), Expect(REJECT)),
    ("no endpoints: nodePort from the node itself rejected (on loopback input)",
     Packet(NODE1, NODE1, 30090, path="output"), Expect(REJECT)),
    ("no endpoints: LB IP rejected",
     Packet(OUTSIDE, EMPTY_LB_IP, 80), Expect(REJECT)),
    ("no endpoints: another port of that IP is rejected too (not a port of the service)",
     Packet(CLIENT_POD, "10.96.0.30", 81), Expect(REJECT)),
    ("only unready endpoints: rejected",
     Packet(CLIENT_POD, "10.96.0.31", 80), Expect(REJECT)),
    # externalTrafficPolicy Local
    ("ETP Local, outside to nodePort, local endpoint: only it, client IP kept",
     Packet(OUTSIDE, NODE1, 30100), Expect(dnat=eps("10.244.1.31:8080"))),
    ("ETP Local, outside to LB IP: local endpoint only, not masqueraded",
     Packet(OUTSIDE, ETP_LB_IP, 80), Expect(dnat=eps("10.244.1.31:8080"))),
    ("ETP Local on node2: node2's endpoint",
     Packet(OUTSIDE, NODE2, 30100, node="node2"), Expect(dnat=eps("10.244.2.31:8080"))),
    ("ETP Local, pod to nodePort: any endpoint, not masqueraded",
     Packet(CLIENT_POD, NODE1, 30100), Expect(dnat=ETP)),
    ("ETP Local, pod to LB IP: any endpoint",
     Packet(CLIENT_POD, ETP_LB_IP, 80), Expect(dnat=ETP)),
    ("ETP Local, the node itself to its nodePort: any endpoint, masqueraded",
     Packet(NODE1, NODE1, 30100, path="output"), Expect(dnat=ETP, masq=True)),
    ("ETP Local, clusterIP from a pod: any endpoint",
     Packet(CLIENT_POD, "10.96.0.40", 80), Expect(dnat=ETP)),
    ("ETP Local, hairpin through the LB IP",
     Packet("10.244.1.31", ETP_LB_IP, 80), Expect(dnat=ETP, masq=eps("10.244.1.31:8080"))),
    ("ETP Local, no local endpoint: outside client dropped",
     Packet(OUTSIDE, NODE1, 30110), Expect(DROP)),
    ("ETP Local, no local endpoint: a pod still reaches the remote endpoint",
     Packet(CLIENT_POD, NODE1, 30110), Expect(dnat=eps("10.244.2.41:8080"))),
    ("ETP Local, no local endpoint: clusterIP still works",
     Packet(CLIENT_POD, "10.96.0.41", 80), Expect(dnat=eps("10.244.2.41:8080"))),
    ("ETP Local on the node that has the endpoint",
     Packet(OUTSIDE, NODE2, 30110, node="node2"), Expect(dnat=eps("10.244.2.41:8080"))),
    # internalTrafficPolicy Local
    ("ITP Local: only the local endpoint",
     Packet(CLIENT_POD, "10.96.0.50", 80), Expect(dnat=eps("10.244.1.51:8080"))),
    ("ITP Local on node2: node2's endpoint",
     Packet(REMOTE_POD, "10.96.0.50", 80, node="node2"), Expect(dnat=eps("10.244.2.51:8080"))),
    ("ITP Local, no local endpoint: dropped",
     Packet(CLIENT_POD, "10.96.0.51", 80), Expect(DROP)),
    ("ITP Local, no local endpoint here, one on node2",
     Packet(REMOTE_POD, "10.96.0.51", 80, node="node2"), Expect(dnat=eps("10.244.2.52:8080"))),
    # Session affinity
    ("affinity: a new client is spread by numgen",
     Packet(CLIENT_POD, "10.96.0.60", 80), Expect(dnat=STICKY)),
    ("affinity: a remembered client sticks to its endpoint whatever numgen says",
     Packet(CLIENT_POD, "10.96.0.60", 80, affinity=(("10.244.2.61:8080", CLIENT_POD),)),
     Expect(dnat=eps("10.244.2.61:8080"))),
    ("affinity: the other endpoint remembered",
     Packet(CLIENT_POD, "10.96.0.60", 80, affinity=(("10.244.1.61:8080", CLIENT_POD),)),
     Expect(dnat=eps("10.244.1.61:8080"))),
    ("affinity: another client's entry does not apply",
     Packet(REMOTE_POD, "10.96.0.60", 80, affinity=(("10.244.2.61:8080", CLIENT_POD),)),
     Expect(dnat=STICKY)),
    # UDP
    ("UDP service: DNAT",
     Packet(CLIENT_POD, "10.96.0.10", 53, proto="udp"),
     Expect(dnat=eps("10.244.1.53:53", "10.244.2.53:53"))),
    ("UDP port over TCP: rejected",
     Packet(CLIENT_POD, "10.96.0.10", 53), Expect(REJECT)),
    ("TCP port of the same service",
     Packet(CLIENT_POD, "10.96.0.10", 9153),
     Expect(dnat=eps("10.244.1.53:9153", "10.244.2.53:9153"))),
    # Not service traffic
    ("egress: pod to the internet is masqueraded, not DNATed",
     Packet("10.244.1.5", INTERNET, 80), Expect(masq=True)),
    ("pod to pod across nodes: neither DNAT nor masquerade",
     Packet("10.244.1.5", "10.244.2.7", 8080), UNTOUCHED),
    ("the node itself to the internet: not masqueraded",
     Packet(NODE1, INTERNET, 443, path="output"), UNTOUCHED),
    ("outside to a pod: untouched",
     Packet(OUTSIDE, "10.244.1.5", 8080), UNTOUCHED),
    ("pod to its node on a port that is no nodePort: local delivery, untouched",
     Packet(CLIENT_POD, NODE1, 22), UNTOUCHED),
]


def run(packet: Packet, text: str | None = None, ports=CLUSTER, picks: int = 6):
    """Trace ``packet`` once per numgen value 0..picks-1."""
    text = RENDERS[packet.node] if text is None else text
    affinity: dict[str, list[str]] = {}
    for target, client in packet.affinity:
        affinity.setdefault(affinity_set(target, ports), []).append(client)
    return [trace(text, src_ip=packet.src, dst_ip=packet.dst, proto=packet.proto,
                  dport=packet.dport, hook_path=packet.path, local_ips=[NODE_IPS[packet.node]],
                  node_ip=NODE_IPS[packet.node], affinity=affinity, numgen=n)
            for n in range(picks)]


@pytest.mark.parametrize(("packet", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_packet(packet: Packet, want: Expect) -> None:
    results = run(packet)
    first = results[0]
    assert {r.verdict for r in results} == {want.verdict}, first.chains
    assert {r.dnat for r in results} - {None} == want.dnat, first.chains
    if want.dnat:
        assert all(r.dnat for r in results), "some numgen values do not DNAT"
    mods = first.numgen_mods
    assert len(mods) <= 1
    if mods:
        # Each random index picks a distinct endpoint, and numgen only matters mod N.
        n = mods[0]
        assert len({r.dnat for r in results[:n]}) == n
        assert [r.dnat for r in results] == [results[i % n].dnat for i in range(len(results))]
    else:
        assert len({r.dnat for r in results}) == 1
    for r in results:
        masq = want.masq if isinstance(want.masq, bool) else r.dnat in want.masq
        assert r.masqueraded == masq, (r.dnat, r.chains)
        if masq:
            assert r.masquerade == NODE_IPS[packet.node] == r.src_ip
        if "nat-postrouting" in r.chains:
            assert r.mark & MASQ_MARK == 0, "the masquerade mark leaks out of postrouting"


def test_cases_have_unique_names() -> None:
    assert len({name for name, _, _ in CASES}) == len(CASES)


def test_affinity_renders_a_timed_set_and_remembers_the_client() -> None:
    text = RENDERS["node1"]
    for target in STICKY:
        name = affinity_set(target)
        assert f"add set ip kproxy {name} {{ type ipv4_addr; flags dynamic,timeout; " \
               f"timeout 600s; }}" in text
        assert re.search(rf"add rule ip kproxy endpoint-\S+ update @{re.escape(name)} "
                         rf"\{{ ip saddr \}}", text)
    for r in run(Packet(CLIENT_POD, "10.96.0.60", 80), picks=2):
        assert r.set_updates == [(affinity_set(r.dnat), CLIENT_POD)]
    # Services without affinity neither own a set nor update one.
    assert not run(Packet(CLIENT_POD, "10.96.0.20", 80))[0].set_updates
    assert len(re.findall(r"^add set ip kproxy affinity-", text, re.M)) == 2


def test_clusterip_goes_through_the_shared_pick_chain_and_not_the_unready_endpoint() -> None:
    results = run(Packet(CLIENT_POD, "10.96.0.20", 80), picks=2)
    for r in results:
        assert r.chains[:3] == ["nat-prerouting", "services", "cluster-ip-2"], r.chains
        dnat = [m for m in r.rules if m.verdict.startswith("dnat")]
        assert [(m.chain, m.verdict) for m in dnat] == [("cluster-ip-2", f"dnat to {r.dnat}")]
        assert r.dst_ip + ":" + str(r.dport) == r.dnat
    assert "10.244.2.8" not in RENDERS["node1"]


def test_plain_services_own_no_chain_rule_or_set() -> None:
    """kubernetes#139513: what one plain Service adds is map elements only,
    so no sync has to list or bind thousands of chains and sets."""
    text = RENDERS["node1"]
    chains = re.findall(r"^add chain ip kproxy (\S+)", text, re.M)
    own = [c for c in chains if "/" in c]
    assert own and all("/sticky/" in c for c in own), own
    shared = [c for c in chains if re.fullmatch(r"(cluster|local|external)-.*\d", c)]
    assert len(shared) == len(set(shared)) < 20
    assert not re.search(r"^add (set|map) ip kproxy \S*(web|np|lb|dns)", text, re.M)


def test_headless_service_is_not_proxied() -> None:
    for text in RENDERS.values():
        assert "/headless/" not in text and "10.244.1.70" not in text


# ---------------------------------------------------------- render structure

def shrunk_cluster() -> list[ServicePortState]:
    """The cluster after a sync's worth of changes."""
    out = []
    for sp in CLUSTER:
        name = sp.service.name
        if name == "sticky":          # deleted: its affinity sets go stale
            continue
        if name == "web":             # an endpoint goes away
            sp = dataclasses.replace(sp, endpoints=sp.endpoints[:1])
        if name == "np":              # loses every endpoint
            sp = dataclasses.replace(sp, endpoints=())
        out.append(sp)
    return out


VARIANTS = {
    "node1": node_state("node1"),
    "node2": node_state("node2"),
    "nothing": node_state("node1", ports=()),
    "only endpointless": node_state("node1", ports=[p for p in CLUSTER if not p.ready()]),
    "only sticky": node_state("node1", ports=[p for p in CLUSTER if p.service.name == "sticky"]),
    "shrunk": node_state("node1", ports=shrunk_cluster()),
}


@pytest.mark.parametrize("state", VARIANTS.values(), ids=VARIANTS.keys())
def test_every_render_passes_check_jump_targets(state: NodeProxyState) -> None:
    check_jump_targets(nft.render(state, fresh=True)[0])
    # And as a partial sync on top of the whole cluster.
    first, applied = nft.render(node_state("node1"), fresh=True)
    check_jump_targets(nft.render(state, applied)[0], load(first))


def test_only_the_first_render_deletes_the_table() -> None:
    text, rs = nft.render(node_state("node1"))
    lines = text.splitlines()
    assert lines[1] == "delete table ip kproxy"
    assert lines[0].startswith("add table ip kproxy") and lines[2] == lines[0]
    assert text.count("delete table") == 1
    assert nft.render(node_state("node1"), fresh=True)[0] == text
    assert nft.render(node_state("node1"), previous=rs)[0] == ""   # nothing changed
    text, _ = nft.render(node_state("node1", shrunk_cluster()), previous=rs)
    assert text and "delete table" not in text and "add table" not in text


def test_every_rule_has_a_comment_but_the_bare_return() -> None:
    for text in RENDERS.values():
        rules = [line for line in text.splitlines() if line.startswith("add rule ")]
        assert rules
        bare = [line for line in rules if not re.search(r' comment "[^"]+"$', line)]
        assert bare == ["add rule ip kproxy masquerading meta mark and 0x4000 == 0 return"]


# ------------------------------------------------------- the tracer is strict

MINIMAL = RENDERS["node1"]


@pytest.mark.parametrize("rule", [
    "services counter comment \"x\"",
    "services ip protocol tcp accept",
    "services ip daddr 10.96.0.20 tcp sport 80 accept",
    "services ct state established,related accept",
    "services meta l4proto tcp dnat to 10.244.1.5:8080 accept",
    "services dnat to 10.244.1.5:8080",
    "services ip daddr . tcp dport { 10.96.0.20 . 80 } accept",
    "services numgen inc mod 2 vmap { 0 : accept, 1 : drop }",
    "services snat to 1.2.3.4",
    "services accept comment unquoted",
])
def test_tracer_refuses_what_it_does_not_understand(rule: str) -> None:
    with pytest.raises(NftSyntaxError):
        load(MINIMAL + f"add rule ip kproxy {rule}\n")


@pytest.mark.parametrize("line", [
    "add rule ip kproxy services goto no-such-chain comment \"x\"",
    "add rule ip kproxy services jump nat-output comment \"x\"",
    "add rule ip kproxy services ip saddr @no-such-set accept",
    "add rule ip kproxy services ip daddr vmap @no-such-map",
    "add rule ip kproxy services meta l4proto . th dport vmap @service-ips",
    "add element ip kproxy service-nodeports { tcp . 31000 : goto no-such-chain }",
    "delete chain ip kproxy mark-for-masquerade",
    "add rule ip kproxy no-such-chain accept",
])
def test_tracer_refuses_what_nft_would_refuse(line: str) -> None:
    with pytest.raises((NftTransactionError, NftSyntaxError)):
        load(MINIMAL + line + "\n")


def test_check_jump_targets_catches_a_dangling_goto() -> None:
    text = MINIMAL.replace("add chain ip kproxy reject-chain\n", "")
    text = "\n".join(line for line in text.splitlines()
                     if not line.endswith(" reject-chain")
                     and "add rule ip kproxy reject-chain" not in line)
    text += ("\nadd element ip kproxy no-endpoint-services "
             "{ 10.96.0.99 . tcp . 80 : goto reject-chain }\n")
    with pytest.raises(AssertionError, match="reject-chain"):
        check_jump_targets(text)


def test_tracer_refuses_nat_in_the_wrong_hook() -> None:
    # Outside the service CIDR: cluster-ips-check, earlier in filter-forward,
    # would drop a packet to an unallocated service IP before this rule.
    text = MINIMAL + ("add rule ip kproxy filter-forward ip daddr 192.0.2.99 "
                      "meta l4proto tcp dnat to 10.244.1.5:80 comment \"x\"\n")
    with pytest.raises(AssertionError, match="dnat"):
        check_jump_targets(text)
    with pytest.raises(NftTraceError):
        trace(text, src_ip=CLIENT_POD, dst_ip="192.0.2.99", proto="tcp", dport=80,
              hook_path="prerouting", local_ips=[NODE1], node_ip=NODE1)
