"""Tests for kproxy.iptables: packets traced through the rendered restore text.

Table-driven like kube-proxy's iptables proxier_test.go (and like
test_kproxy_nft.py, whose cluster this mirrors): one cluster's services are
rendered for a node, and every case pushes one new-connection packet through
the *text* (``iptables_tracer``, with ``jump_rules()`` installed in the
built-in chains) and says what comes out: the verdict, every endpoint a
random pick can DNAT to, and whether the packet is masqueraded.  Each case is
traced once per ``numgen`` value (which statistic draw succeeds), so the
tests also check that each draw picks a distinct endpoint, that every
endpoint is reachable and that the rendered probabilities give each endpoint
the same chance.
"""
from __future__ import annotations

import dataclasses
import re

import pytest
from iptables_tracer import (
    ACCEPT,
    BUILTINS,
    DROP,
    REJECT,
    IptRestoreError,
    IptSyntaxError,
    IptTraceError,
    check_jump_targets,
    load,
    trace,
    unreferenced_chains,
)
from service_alloc import Allocator

from k8snet.api.service import Service, ServicePort
from kproxy import iptables
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


RENDERS = {node: iptables.render(node_state(node))[0] for node in NODE_IPS}


def sep(target: str, ports=CLUSTER) -> str:
    """The SEP chain (and recent list) of the endpoint ``ip:port``."""
    hits = [iptables.chain("SEP", endpoint_id(sp, ep)) for sp in ports for ep in sp.endpoints
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
    ("clusterIP, a port the service does not have: untouched",
     Packet(CLIENT_POD, "10.96.0.20", 81), UNTOUCHED),
    ("clusterIP, the other protocol: untouched",
     Packet(CLIENT_POD, "10.96.0.20", 80, proto="udp"), UNTOUCHED),
    ("unallocated service IP: untouched",
     Packet(CLIENT_POD, "10.96.0.99", 80), UNTOUCHED),
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
    ("LB IP, a port the service does not have: untouched",
     Packet(OUTSIDE, LB_IP, 80), UNTOUCHED),
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
    ("no endpoints: another port of that IP is untouched",
     Packet(CLIENT_POD, "10.96.0.30", 81), UNTOUCHED),
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
    ("UDP port over TCP: untouched",
     Packet(CLIENT_POD, "10.96.0.10", 53), UNTOUCHED),
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
    recent = {sep(target, ports) for target, client in packet.affinity if client == packet.src}
    return [trace(text, src_ip=packet.src, dst_ip=packet.dst, proto=packet.proto,
                  dport=packet.dport, path=packet.path, local_ips=[NODE_IPS[packet.node]],
                  node_ip=NODE_IPS[packet.node], numgen=n, recent=recent)
            for n in range(picks)]


@pytest.mark.parametrize(("packet", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_packet(packet: Packet, want: Expect) -> None:
    results = run(packet)
    first = results[0]
    assert {r.verdict for r in results} == {want.verdict}, first.chains
    assert {r.dnat for r in results} - {None} == want.dnat, first.chains
    if want.dnat:
        assert all(r.dnat for r in results), "some numgen values do not DNAT"
        # N endpoints, N-1 draws: numgen 0..N-1 reach N distinct endpoints, each
        # with probability 1/N; later numgen values all fall through to the last.
        n = len(want.dnat)
        assert max(r.draws for r in results) == n - 1, first.chains
        assert len({r.dnat for r in results[:n]}) == n
        assert all(r.dnat == results[n - 1].dnat for r in results[n - 1:])
        for r in results[:n]:
            assert r.probability == pytest.approx(1 / n, abs=1e-9), (r.dnat, r.chains)
    else:
        assert len({r.dnat for r in results}) == 1
    for r in results:
        masq = want.masq if isinstance(want.masq, bool) else r.dnat in want.masq
        assert r.masqueraded == masq, (r.dnat, r.chains)
        if masq:
            assert r.src_ip == NODE_IPS[packet.node]
        if "nat:POSTROUTING" in r.chains:
            assert r.mark & MASQ_MARK == 0, "the masquerade mark leaks out of postrouting"


def test_cases_have_unique_names() -> None:
    assert len({name for name, _, _ in CASES}) == len(CASES)


def test_drop_happens_in_filter_through_the_drop_mark() -> None:
    for packet in (Packet(OUTSIDE, NODE1, 30110), Packet(CLIENT_POD, "10.96.0.51", 80)):
        r = run(packet, picks=1)[0]
        assert r.verdict == DROP and r.mark & 0x8000
        assert "nat:KPROXY-MARK-DROP" in r.chains
        assert r.chains[-1] == "filter:KPROXY-FIREWALL"


def test_itp_local_without_local_endpoint_is_dropped_from_the_node_itself() -> None:
    r = run(Packet(NODE1, "10.96.0.51", 80, path="output"), picks=1)[0]
    assert r.verdict == DROP, r.chains


def test_nodeport_on_localhost_is_not_served() -> None:
    r = run(Packet("127.0.0.1", "127.0.0.1", 30080, path="output"), picks=1)[0]
    assert r.dnat is None, r.chains


def test_affinity_remembers_the_client_in_the_chosen_endpoints_list() -> None:
    text = RENDERS["node1"]
    for target in STICKY:
        name = sep(target)
        assert re.search(rf"-A {name} .* -m recent --name {name} --mask 255.255.255.255 "
                         rf"--rsource --set -j DNAT --to-destination {target}$", text, re.M)
        assert re.search(rf"--name {name} .*--rcheck --seconds 600 --reap -j {name}$",
                         text, re.M)
    for r in run(Packet(CLIENT_POD, "10.96.0.60", 80), picks=2):
        assert r.recent_set == [sep(r.dnat)]
    # A remembered client makes no random draw.
    r = run(Packet(CLIENT_POD, "10.96.0.60", 80,
                   affinity=(("10.244.2.61:8080", CLIENT_POD),)), picks=1)[0]
    assert r.draws == 0 and r.recent_set == [sep("10.244.2.61:8080")]
    # Services without affinity use no recent list.
    assert not run(Packet(CLIENT_POD, "10.96.0.20", 80))[0].recent_set
    assert text.count(" --set ") == 2 and text.count(" --rcheck ") >= 2


def test_clusterip_visits_its_service_chain_and_not_the_unready_endpoint() -> None:
    web = next(sp for sp in CLUSTER if sp.service.name == "web")
    for r in run(Packet(CLIENT_POD, "10.96.0.20", 80), picks=2):
        assert f"nat:{iptables.chain('SVC', web.id)}" in r.chains
        assert f"nat:{sep(r.dnat)}" in r.chains
        assert f"{r.dst_ip}:{r.dport}" == r.dnat
    assert "10.244.2.8" not in RENDERS["node1"]


def test_headless_service_is_not_proxied() -> None:
    for text in RENDERS.values():
        assert "/headless" not in text and "10.244.1.70" not in text


# ---------------------------------------------------------- render structure

def _shrunk_cluster() -> list[ServicePortState]:
    """The cluster after a sync's worth of changes."""
    out = []
    for sp in CLUSTER:
        name = sp.service.name
        if name == "sticky":          # deleted
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
    "shrunk": node_state("node1", ports=_shrunk_cluster()),
}


@pytest.mark.parametrize("state", VARIANTS.values(), ids=VARIANTS.keys())
def test_every_render_passes_check_jump_targets(state: NodeProxyState) -> None:
    text, wanted = iptables.render(state)
    rs = check_jump_targets(text)
    assert set(rs.user_chains("nat")) == wanted.chain_names()
    # A re-render on top of the whole previous cluster, as a second restore.
    first, previous = iptables.render(node_state("node1"))
    check_jump_targets(iptables.render(state, previous)[0], load(first))


def test_every_rule_has_a_comment_but_the_bare_return() -> None:
    for text in RENDERS.values():
        rs = load(text)
        rules = [(table, chain, rule) for table, chains in rs.tables.items()
                 for chain, rules in chains.items() for rule in rules]
        assert rules
        bare = [(t, c, r.text) for t, c, r in rules if not r.comment]
        assert bare == [("nat", "KPROXY-POSTROUTING",
                         "-m mark '!' --mark 0x4000/0x4000 -j RETURN")]


def test_no_builtin_chain_is_declared_and_jumps_come_from_jump_rules() -> None:
    for state in VARIANTS.values():
        text, _ = iptables.render(state)
        declared = [line[1:].split()[0] for line in text.splitlines() if line.startswith(":")]
        assert declared and all(name.startswith("KPROXY-") for name in declared)
        assert not {name for names in BUILTINS.values() for name in names} & set(declared)
        assert not re.search(r"^-[AIDFXNP] (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)\b",
                             text, re.M)
    static = {"nat": set(iptables.NAT_STATIC), "filter": set(iptables.FILTER_STATIC)}
    jumps = iptables.jump_rules()
    for argv in jumps:
        assert argv[0] == "-t" and argv[2] in BUILTINS[argv[1]], argv
        assert argv[-2] == "-j" and argv[-1] in static[argv[1]], argv
        assert not {"-F", "-X", "-P", "--flush"} & set(argv), argv
    assert len({tuple(a) for a in jumps}) == len(jumps)


def test_only_policy_chains_go_unreferenced() -> None:
    """Every rendered chain is reachable from a built-in chain via jump_rules()."""
    # SVL chains are rendered for any local endpoint and SVC chains for ITP Local
    # services even when no policy uses them: clutter, not a behaviour change.
    stray = unreferenced_chains(load(RENDERS["node1"]))
    assert all(c.startswith(("nat:KPROXY-SVL-", "nat:KPROXY-SVC-", "nat:KPROXY-SEP-"))
               for c in stray), stray


def test_resync_declares_then_deletes_stale_chains() -> None:
    text1, wanted1 = iptables.render(node_state("node1"))
    shrunk = node_state("node1", ports=_shrunk_cluster())
    text2, wanted2 = iptables.render(shrunk, previous=wanted1)
    lines = text2.splitlines()

    stale = wanted1.chain_names() - wanted2.chain_names()
    ports = {sp.service.name: sp for sp in CLUSTER}
    assert iptables.chain("SVC", ports["sticky"].id) in stale
    assert iptables.chain("SVC", ports["np"].id) in stale
    assert sep("10.244.2.7:8080") in stale and sep("10.244.1.5:8080") not in stale
    deleted = [line.split()[1] for line in lines if line.startswith("-X ")]
    assert sorted(deleted) == sorted(stale)
    # Flushed (declared) before any rule and any -X, never given rules.
    first_rule = next(i for i, line in enumerate(lines) if line.startswith(("-A ", "-D ")))
    first_delete = min(lines.index(f"-X {c}") for c in stale)
    assert first_rule < first_delete
    for c in stale:
        assert lines.index(f":{c} - [0:0]") < first_rule
        assert not any(line.startswith(f"-A {c} ") or
                       (line.endswith(f"-j {c}") and not line.startswith("-D "))
                       for line in lines)
    check_jump_targets(text2, load(text1))

    # Applied on top of the first restore, it leaves what a first render builds.
    incremental = load(text2, load(text1))
    fresh = load(iptables.render(shrunk)[0])
    assert {t: {c: sorted(r.text for r in rules) for c, rules in chains.items()}
            for t, chains in incremental.tables.items()} == \
        {t: {c: sorted(r.text for r in rules) for c, rules in chains.items()}
         for t, chains in fresh.tables.items()}

    # The same state again restores nothing.
    assert iptables.render(node_state("node1"), previous=wanted1)[0] == ""

    # And it behaves like the new state.
    shrunk_ports = _shrunk_cluster()
    for packet, want in [
        (Packet(CLIENT_POD, "10.96.0.20", 80), {"10.244.1.5:8080"}),
        (Packet(OUTSIDE, NODE1, 30080), REJECT),
        (Packet(CLIENT_POD, "10.96.0.60", 80), set()),
    ]:
        results = run(packet, text=incremental, ports=shrunk_ports, picks=3)
        if want == REJECT:
            assert {r.verdict for r in results} == {REJECT}
        else:
            assert {r.dnat for r in results} - {None} == want


def test_stale_chains_would_be_refused_without_the_flush() -> None:
    text1, wanted1 = iptables.render(node_state("node1"))
    text2, _ = iptables.render(node_state("node1", ports=_shrunk_cluster()), wanted1)
    stale = sorted(wanted1.chain_names() - set(load(text2, load(text1)).user_chains("nat")))
    broken = text2.replace(f":{stale[0]} - [0:0]\n", "", 1)
    with pytest.raises(IptRestoreError, match="not empty|still referenced"):
        load(broken, load(text1))


def test_cleanup_script_removes_every_kproxy_chain() -> None:
    rs = load(RENDERS["node1"])
    present = [f"{t}:{c}" for t in ("nat", "filter") for c in rs.user_chains(t)]
    after = load(iptables.cleanup_script(present), rs)
    assert not after.user_chains("nat") and not after.user_chains("filter")


# ------------------------------------------------------- the tracer is strict

MINIMAL = RENDERS["node1"]


@pytest.mark.parametrize("rule", [
    "-m comment --comment x -j KPROXY-NODEPORTS --foo",
    "-p tcp --dport 80 -j RETURN",
    "-p icmp -j RETURN",
    "-m udp --dport 80 -j RETURN",
    "-p tcp -m tcp --sport 80 -j RETURN",
    "-m conntrack --ctstate NEW -j RETURN",
    "-m addrtype --dst-type UNICAST -j RETURN",
    "-m statistic --mode nth --every 2 -j RETURN",
    "-m recent --name x --rdest --rcheck -j RETURN",
    "-m recent --name x --rsource --set --seconds 5 -j RETURN",
    "-m mark --mark 0x4000/0x4000 -j MARK --set-xmark 0x4000",
    "-p tcp -j DNAT --to-destination 10.0.0.1:80 --persistent",
    "-j DNAT --to-destination 10.0.0.1:80",
    "! -j RETURN",
    "-i eth0 -j RETURN",
    "-j RETURN !",
    "-m comment -j RETURN",
])
def test_tracer_refuses_what_it_does_not_understand(rule: str) -> None:
    text = MINIMAL.replace("COMMIT\n*filter", f"-A KPROXY-SERVICES {rule}\nCOMMIT\n*filter", 1)
    with pytest.raises(IptSyntaxError):
        load(text)


@pytest.mark.parametrize("line", [
    "-A KPROXY-SERVICES -j KPROXY-NO-SUCH",
    "-A KPROXY-NO-SUCH -j RETURN",
    "-A KPROXY-SERVICES -j PREROUTING",
    "-A KPROXY-SERVICES -j KPROXY-FIREWALL",   # a filter chain, from nat
    "-X KPROXY-MARK-MASQ",                     # referenced and not empty
    "-X PREROUTING",
    ":KPROXY-THIS-NAME-IS-FAR-TOO-LONG - [0:0]",
])
def test_tracer_refuses_what_iptables_restore_would_refuse(line: str) -> None:
    text = MINIMAL.replace("COMMIT\n*filter", f"{line}\nCOMMIT\n*filter", 1)
    with pytest.raises(IptRestoreError):
        load(text)


def test_check_jump_targets_catches_flushed_builtins_and_illegal_targets() -> None:
    with pytest.raises(AssertionError, match="built-in"):
        check_jump_targets(MINIMAL.replace("*nat\n", "*nat\n:PREROUTING ACCEPT [0:0]\n", 1))
    head, _, _ = MINIMAL.rpartition("COMMIT\n")
    dnat_in_filter = head + ("-A KPROXY-SERVICES -p tcp -m tcp -j DNAT "
                             "--to-destination 10.244.1.5:80\nCOMMIT\n")
    with pytest.raises(AssertionError, match="DNAT"):
        check_jump_targets(dnat_in_filter)
    drop_in_nat = MINIMAL.replace("COMMIT\n*filter", "-A KPROXY-EGRESS -j DROP\nCOMMIT\n*filter")
    with pytest.raises(AssertionError, match="DROP"):
        check_jump_targets(drop_in_nat)
    with pytest.raises(IptTraceError):
        trace(drop_in_nat, src_ip=OUTSIDE, dst_ip=INTERNET, proto="tcp", dport=80,
              path="prerouting", local_ips=[NODE1], node_ip=NODE1)
