"""``trace --simulate`` (issue 12): paths walked through kproxy's rendered
ruleset, the NetworkPolicy oracle and the fabric's planned flows, with no
cluster: the store, the rulesets (``kproxy.nft.render``) and the fabric state
are built here, as the kproxy and fabric planner tests build theirs."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import fake_table
import nft_tracer
import pytest

from controllers.fabric_state import FabricHost, FabricLink, FabricState, Vip
from k8snet import naming
from k8snet.api.service import Service, ServicePort
from k8snet.apiserver.store import Store
from k8snet.cli.trace_sim import PARTIAL_NOTE, applied_ruleset, sim_inputs_of, sim_target_of
from k8snet.errors import K8snetError
from k8snet.trace import nftsim, ofsim, story
from k8snet.trace.model import Endpoint, Target
from k8snet.trace.simulate import SimInputs, simulate
from kproxy import nft
from kproxy.state import Endpoint as KEndpoint
from kproxy.state import NodeProxyState, ServicePortState

POD_CIDR, SERVICE_CIDR = "10.244.0.0/16", "10.96.0.0/12"
NODES = {"node1": ("172.18.0.11", "10.244.1.0/24"), "node2": ("172.18.0.12", "10.244.2.0/24")}
GW_IP, GW_MAC = "172.18.0.1", "02:00:00:00:ff:01"
LEAF1, LEAF2, SPINE1, SPINE2 = 1, 2, 101, 102
SWITCHES = {LEAF1: "leaf1", LEAF2: "leaf2", SPINE1: "spine1", SPINE2: "spine2"}
WEB_IP, EMPTY_IP, LB_IP, EXT_IP = "10.96.0.20", "10.96.0.30", "198.51.100.1", "203.0.113.10"
COOKIE = "cookie 0x6b380001"


# ------------------------------------------------------------------ the lab, by hand

def pod(name: str, node: str, ip: str, labels: dict | None = None, port: int = 8080) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
            "spec": {"nodeName": node, "containers": [
                {"name": "app", "ports": [{"containerPort": port}]}]},
            "status": {"phase": "Running", "podIP": ip}}


def service(name: str, ip: str, lb: str = "") -> dict:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
           "spec": {"clusterIP": ip, "ports": [{"port": 80, "targetPort": 8080}],
                    "type": "LoadBalancer" if lb else "ClusterIP"}}
    if lb:
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": lb}]}}
    return svc


def new_store(policy: bool = False) -> Store:
    s = Store()
    s.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    s.create(pod("client", "node1", "10.244.1.10", {"app": "client"}))
    s.create(pod("web-a", "node1", "10.244.1.5", {"app": "web"}))
    s.create(pod("web-b", "node2", "10.244.2.7", {"app": "web"}))
    s.create(pod("db", "node2", "10.244.2.20", {"app": "db"}, port=5432))
    s.create(service("web", WEB_IP))
    s.create(service("empty", EMPTY_IP))
    s.create(service("front", "10.96.0.40", lb=LB_IP))
    if policy:
        s.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                  "metadata": {"name": "db-from-api", "namespace": "default"},
                  "spec": {"podSelector": {"matchLabels": {"app": "db"}},
                           "policyTypes": ["Ingress"],
                           "ingress": [{"from": [{"podSelector": {
                               "matchLabels": {"app": "api"}}}]}]}})
    return s


def proxy_state(node: str) -> NodeProxyState:
    web_eps = (KEndpoint("10.244.1.5", 8080, "node1", "web-a"),
               KEndpoint("10.244.2.7", 8080, "node2", "web-b"))
    web = Service("web", cluster_ip=WEB_IP, ports=(ServicePort(80, 8080),),
                  selector=(("app", "web"),))
    empty = Service("empty", cluster_ip=EMPTY_IP, ports=(ServicePort(80, 8080),),
                    selector=(("app", "none"),))
    front = Service("front", cluster_ip="10.96.0.40", type="LoadBalancer",
                    ports=(ServicePort(80, 8080, node_port=30080),), load_balancer_ip=LB_IP,
                    selector=(("app", "web"),))
    ports = (ServicePortState(web, web.ports[0], web_eps),
             ServicePortState(empty, empty.ports[0], ()),
             ServicePortState(front, front.ports[0], web_eps[1:]))
    return NodeProxyState(node, NODES[node][0], POD_CIDR, SERVICE_CIDR, ports)


def fabric_state() -> FabricState:
    """2 leaves x 2 spines: node1 and gw on leaf1, node2 on leaf2; the
    LoadBalancer IP spread over both nodes."""
    hosts = (FabricHost("node1", NODES["node1"][0], "02:00:00:00:00:01", LEAF1, 1,
                        (NODES["node1"][1],)),
             FabricHost("node2", NODES["node2"][0], "02:00:00:00:00:02", LEAF2, 1,
                        (NODES["node2"][1],)),
             FabricHost("gw", "172.18.0.2", "02:00:00:00:fe:01", LEAF1, 3,
                        ("203.0.113.0/24",)))
    links = tuple(FabricLink(leaf, 10 + s, spine, leaf)
                  for leaf in (LEAF1, LEAF2) for s, spine in enumerate((SPINE1, SPINE2)))
    return FabricState(GW_IP, GW_MAC, (LEAF1, LEAF2, SPINE1, SPINE2), hosts, links,
                       (Vip(LB_IP, ("node1", "node2")),))


def inputs(policy: bool = False, mode: str = "nftables") -> SimInputs:
    return SimInputs(
        store=new_store(policy),
        node_ips={n: ip for n, (ip, _) in NODES.items()},
        pod_cidrs={n: cidr for n, (_, cidr) in NODES.items()},
        node_rulesets={n: nft.render(proxy_state(n), fresh=True)[0] for n in NODES},
        fabric_state=fabric_state(), proxy_mode=mode, switch_names=SWITCHES,
        host_ips={"gw": "172.18.0.2", "ext": EXT_IP}, cluster="sim")


def veth(pod: str) -> str:
    return naming.host_veth("sim", "default", pod)


CLIENT = Endpoint("pod", "default/client", "10.244.1.10", "ns-client", node="node1",
                  veth="vethclient", element="default/client")
EXT = Endpoint("ext", "ext", EXT_IP, "ns-ext", element="ext")


def target(ip: str, port: int) -> Target:
    return Target(f"{ip}:{port}", ip, port, ip)


def titles(result) -> list[str]:
    return [h.title for h in result.hops]


def lines(result, title: str) -> list[str]:
    return next(h.lines for h in result.hops if h.title == title)


# ------------------------------------------------------------------ the tracers moved

def test_the_test_tracers_are_the_product_modules():
    assert nft_tracer.trace is nftsim.trace and nft_tracer.load is nftsim.load
    assert fake_table.FakeFabric is ofsim.FakeFabric
    assert fake_table.AmbiguousMatch is ofsim.AmbiguousMatch


def test_trace_all_lists_every_endpoint_of_a_random_pick():
    text = nft.render(proxy_state("node1"), fresh=True)[0]
    outs = nftsim.trace_all(text, src_ip="10.244.1.10", dst_ip=WEB_IP, proto="tcp", dport=80,
                            hook_path="prerouting", local_ips=[], node_ip="172.18.0.11")
    assert [o.dnat for o in outs] == ["10.244.1.5:8080", "10.244.2.7:8080"]
    assert all(o.verdict == nftsim.ACCEPT for o in outs)
    met = [str(r) for r in outs[1].rules]
    assert 'kproxy nat-prerouting: "service portals" (jump services)' in met
    assert any(m.endswith("(dnat to 10.244.2.7:8080)") for m in met)


# ------------------------------------------------------------------ paths

def test_pod_to_pod_across_nodes():
    result = simulate(inputs(), CLIENT, target("10.244.2.7", 8080))
    assert titles(result) == ["pod default/client", "node1: netfilter", "node1: route",
                              "node2: netfilter", "node2: route", "node2: to pod default/web-b"]
    assert result.verdict == "simulated: delivered to default/web-b"
    assert result.delivered and result.backend == "default/web-b"
    assert "NetworkPolicy egress: default/client is not isolated for egress" in \
        lines(result, "node1: netfilter")
    route = lines(result, "node1: route")
    assert route[0] == f"route 10.244.2.7: via {GW_IP} dev eth0 (the default route: " \
                       "the fabric gateway)"
    switches = [line.split()[1] for line in route if line.startswith("switch ")]
    assert switches[0] == "leaf1" and switches[-1] == "leaf2" and len(switches) == 3
    assert any("ipv4_dst=10.244.2.0/24" in line and COOKIE in line and "dec_ttl" in line
               for line in route)
    assert route[-1] == "-> node2"
    hop = next(h for h in result.hops if h.title == "node1: route")
    assert hop.path[0] == ("node1", "leaf1") and hop.path[-1] == ("leaf2", "node2")
    assert lines(result, "node2: route") == [
        f"route 10.244.2.7: dev {veth('web-b')} (the pod's /32 in 10.244.2.0/24)"]
    assert "NetworkPolicy ingress: default/web-b is not isolated for ingress" in \
        lines(result, "node2: netfilter")
    assert lines(result, "node2: to pod default/web-b") == [
        f"veth {veth('web-b')} -> default/web-b eth0 10.244.2.7:8080, container app listening"]
    assert "=> simulated: delivered to default/web-b" in story.render(result)


def test_the_pods_gateway_is_the_node_while_a_pod_holds_it():
    result = simulate(inputs(), CLIENT, target("10.244.2.1", 10250))
    assert lines(result, "node2: route") == ["route 10.244.2.1: local (node2's own address)"]
    assert result.delivered
    free = simulate(inputs(), CLIENT, target("10.244.2.99", 80))
    assert lines(free, "node2: route") == [
        "route 10.244.2.99: unreachable (10.244.2.0/24: this node's pods, none has this address)"]
    assert not free.delivered
    bare = inputs()
    for name in ("web-b", "db"):                     # node2 without pods: no veth holds .1
        bare.store.delete("Pod", "default", name, grace_seconds=0)
    gone = simulate(bare, CLIENT, target("10.244.2.1", 10250))
    assert lines(gone, "node2: route")[0].startswith("route 10.244.2.1: unreachable")


def test_pod_to_cluster_ip_lists_every_endpoint():
    result = simulate(inputs(), CLIENT, target(WEB_IP, 80))
    assert titles(result) == [
        "pod default/client", "node1: netfilter",
        "node1: route (1 of 2)", "node1: to pod default/web-a (1 of 2)",
        "node1: route (2 of 2)", "node2: netfilter (2 of 2)", "node2: route (2 of 2)",
        "node2: to pod default/web-b (2 of 2)"]
    nf = lines(result, "node1: netfilter")
    assert nf[:2] == ['kproxy nat-prerouting: "service portals" (jump services)',
                      'kproxy services: "ClusterIP and LoadBalancer IP" (goto cluster-ip-2)']
    assert "one of 2 endpoints: numgen random picks one per new connection" in nf
    assert "  1. 10.244.1.5:8080 (default/web-a on node1)" in nf
    assert "  2. 10.244.2.7:8080 (default/web-b on node2)" in nf
    assert f"     DNAT: {WEB_IP}:80 -> 10.244.2.7:8080 (default/web-b on node2)" in nf
    assert '     kproxy cluster-ip-2: "one of 2 ready endpoints" (dnat to 10.244.1.5:8080)' \
        in nf
    assert lines(result, "node1: route (1 of 2)") == [
        f"route 10.244.1.5: dev {veth('web-a')} (the pod's /32 in 10.244.1.0/24)"]
    assert result.verdict == "simulated: delivered to one of 2: default/web-a, default/web-b"
    assert result.delivered and result.backend == "default/web-a, default/web-b"
    assert ("default/client", "svc:default/web") in result.hops[0].path


def test_client_ip_affinity_is_said_beside_the_random_pick():
    sim = inputs()
    sim.store.mutate("Service", "default", "web", lambda o: o["spec"].update(
        sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}))
    nf = lines(simulate(sim, CLIENT, target(WEB_IP, 80)), "node1: netfilter")
    assert ("one of 2 endpoints: numgen random picks one per new connection; sessionAffinity "
            "ClientIP then keeps this client on the endpoint it got for 60 s (the live trace "
            "says which: affinity)") in nf


def test_service_without_endpoints_is_rejected():
    result = simulate(inputs(), CLIENT, target(EMPTY_IP, 80))
    assert titles(result) == ["pod default/client", "node1: netfilter"]
    nf = lines(result, "node1: netfilter")
    assert 'kproxy reject-chain: "no endpoints: ICMP port unreachable" (reject)' in nf
    assert nf[-1] == "reject: Service default/empty has no endpoints (ICMP port unreachable)"
    assert result.verdict == ("simulated: stopped: reject: Service default/empty has no "
                              "endpoints (ICMP port unreachable)")
    assert not result.delivered and result.backend == ""


def test_network_policy_deny_names_the_policy():
    result = simulate(inputs(policy=True), CLIENT, target("10.244.2.20", 5432))
    assert titles(result) == ["pod default/client", "node1: netfilter", "node1: route",
                              "node2: netfilter"]
    assert lines(result, "node2: netfilter")[-1] == (
        "NetworkPolicy ingress: no rule of default/db-from-api allows it (drop)")
    assert result.verdict == ("simulated: stopped: NetworkPolicy: ingress denied: no rule of "
                              "default/db-from-api allows it")
    assert not result.delivered
    allowed = simulate(inputs(policy=True), CLIENT, target("10.244.2.7", 8080))
    assert allowed.delivered


def test_ext_to_load_balancer_through_the_ecmp_group():
    result = simulate(inputs(), EXT, target(LB_IP, 80))
    assert titles(result)[:3] == ["ext ext", "gw: route", titles(result)[2]]
    gw = lines(result, "gw: route")
    assert gw[0] == f"route {LB_IP}: via {GW_IP} dev eth0 (the default route: the fabric gateway)"
    assert any("is an ECMP select group" in line and "one of 2: node1, node2" in line
               for line in gw)
    first = gw[-1].removeprefix("-> ")
    assert first in NODES
    nf = lines(result, f"{first}: netfilter")
    assert any("SNAT: the source becomes" in line for line in nf)
    assert result.verdict == "simulated: delivered to default/web-b"


def test_pod_to_ext_is_masqueraded():
    result = simulate(inputs(), CLIENT, target(EXT_IP, 80))
    nf = lines(result, "node1: netfilter")
    assert "SNAT: the source becomes 172.18.0.11 (masquerade)" in nf
    assert lines(result, "node1: route")[-1] == "-> gw"
    assert titles(result)[-2:] == ["gw: route", "ext"]
    assert result.verdict == "simulated: delivered to ext"


def test_node_to_cluster_ip_uses_the_output_hook():
    node = Endpoint("node", "node2", "172.18.0.12", "ns-node2", node="node2", element="node2")
    result = simulate(inputs(), node, target(WEB_IP, 80))
    nf = lines(result, "node2: netfilter")
    assert 'kproxy nat-output: "service portals" (jump services)' in nf
    assert result.delivered


def test_iptables_mode_is_not_simulated_but_said_so():
    pod_to_pod = simulate(inputs(mode="iptables"), CLIENT, target("10.244.2.7", 8080))
    assert lines(pod_to_pod, "node1: netfilter")[0].startswith(
        "simulation of iptables mode is not supported")
    assert pod_to_pod.verdict == "simulated: delivered to default/web-b"
    to_service = simulate(inputs(mode="iptables"), CLIENT, target(WEB_IP, 80))
    assert not to_service.delivered
    assert to_service.verdict.startswith("simulated: stopped: simulation of iptables mode is "
                                         "not supported")
    assert "(the Service default/web is not resolved)" in to_service.verdict


def test_loopback_stays_in_the_pod():
    result = simulate(inputs(), CLIENT, target("127.0.0.1", 8080))
    assert titles(result) == ["pod default/client", "pod default/client: 127.0.0.1:8080"]
    assert result.verdict == "simulated: delivered inside default/client"


# ------------------------------------------------------------------ from a cluster

def test_sim_target_answers_names_from_the_store():
    sim = inputs()
    tgt = sim_target_of(sim, CLIENT, "web")
    assert (tgt.ip, tgt.port) == (WEB_IP, 80)
    assert tgt.dns is not None and "web.default.svc.cluster.local: 10.96.0.20" in \
        tgt.dns.lines[1]
    assert sim_target_of(sim, CLIENT, "web.default.svc.cluster.local:81").port == 81
    assert sim_target_of(sim, CLIENT, "web-b").ip == "10.244.2.7"
    assert sim_target_of(sim, CLIENT, "web-b").port == 8080
    assert sim_target_of(sim, CLIENT, "node2").ip == "172.18.0.12"
    with pytest.raises(K8snetError, match="need the live trace"):
        sim_target_of(sim, CLIENT, "example.org")
    result = simulate(sim, CLIENT, tgt)
    assert titles(result)[:2] == ["DNS", "pod default/client"]


def test_a_headless_services_name_is_its_endpoints_addresses():
    sim = inputs()
    sim.store.create({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": "web-headless", "namespace": "default"},
                      "spec": {"clusterIP": "None", "ports": [{"port": 8080}]}})
    with pytest.raises(K8snetError, match="no ready endpoints"):
        sim_target_of(sim, CLIENT, "web-headless:8080")
    sim.store.create({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": "web-headless-x", "namespace": "default",
                                   "labels": {"kubernetes.io/service-name": "web-headless"}},
                      "addressType": "IPv4", "ports": [{"port": 8080}],
                      "endpoints": [{"addresses": ["10.244.1.5"],
                                     "conditions": {"ready": True}},
                                    {"addresses": ["10.244.9.9"],
                                     "conditions": {"ready": False}},
                                    {"addresses": ["10.244.2.7"],
                                     "conditions": {"ready": True}}]})
    tgt = sim_target_of(sim, CLIENT, "web-headless:8080")
    assert (tgt.ip, tgt.port) == ("10.244.1.5", 8080)
    assert "10.244.1.5, 10.244.2.7 (headless Service default/web-headless" in tgt.dns.lines[1]


def _agent(state: NodeProxyState, previous, last_text: str):
    proxier = SimpleNamespace(mode="nftables", previous=previous, last_text=last_text)
    return SimpleNamespace(proxier=proxier, state=lambda: state)


def test_applied_ruleset_is_whole_after_a_partial_sync():
    state = proxy_state("node1")
    fresh, applied = nft.render(state, fresh=True)
    assert applied_ruleset(_agent(state, applied, fresh)) == (fresh, "")
    fewer = dataclasses.replace(state, ports=state.ports[1:])
    partial, applied2 = nft.render(state, nft.render(fewer, fresh=True)[1])
    assert partial and "delete table" not in partial
    assert applied_ruleset(_agent(state, applied2, partial)) == (fresh, "")
    older = nft.build(proxy_state("node2"))
    assert applied_ruleset(_agent(state, older, partial)) == (fresh, PARTIAL_NOTE)
    assert applied_ruleset(_agent(state, None, ""))[0] == ""


def test_sim_inputs_of_a_cluster():
    state = fabric_state()
    nodes = {n: SimpleNamespace(ip=ip, pod_cidr=cidr) for n, (ip, cidr) in NODES.items()}
    agents = {}
    for n in NODES:
        text, applied = nft.render(proxy_state(n), fresh=True)
        agents[n] = _agent(proxy_state(n), applied, text)
    switches = [SimpleNamespace(name=name, dpid=f"{dpid:016x}") for dpid, name in SWITCHES.items()]
    cluster = SimpleNamespace(
        store=new_store(), proxy_mode="nftables", proxies=agents,
        network=SimpleNamespace(nodes=nodes, net=SimpleNamespace(switches=switches),
                                fabric_state=lambda: state),
        spec=SimpleNamespace(name="sim", network=SimpleNamespace(gateway_router="172.18.0.2",
                                                                 ext_ip=EXT_IP,
                                                                 cluster_domain="cluster.local")))
    sim = sim_inputs_of(cluster)
    assert sim.cluster == "sim"
    assert sim.node_ips == {n: ip for n, (ip, _) in NODES.items()}
    assert sim.switch_names == SWITCHES and sim.fabric_state is state
    assert sim.node_rulesets["node2"] == nft.render(proxy_state("node2"), fresh=True)[0]
    assert simulate(sim, CLIENT, target(WEB_IP, 80)).delivered


def test_hairpin_is_masqueraded_to_the_pods_gateway():
    """A pod reaching itself through its Service: masquerade takes the address
    of the veth the packet leaves by, the pods' gateway (as the live trace and
    the kernel say), not the node's InternalIP."""
    web_a = Endpoint("pod", "default/web-a", "10.244.1.5", "ns-web-a", node="node1",
                     veth="vethweba", element="default/web-a")
    result = simulate(inputs(), web_a, target(WEB_IP, 80))
    nf = lines(result, "node1: netfilter")
    assert "     SNAT: the source becomes 10.244.1.1 (masquerade)" in nf, nf
    assert not any("172.18.0.11 (masquerade)" in line for line in nf)


def test_a_pod_to_its_own_address_stays_in_the_pod():
    web_a = Endpoint("pod", "default/web-a", "10.244.1.5", "ns-web-a", node="node1",
                     veth="vethweba", element="default/web-a")
    result = simulate(inputs(), web_a, target("10.244.1.5", 8080))
    assert titles(result) == ["pod default/web-a", "pod default/web-a: 10.244.1.5:8080"]
    assert "is the pod's own address" in result.hops[0].lines[0]
    assert result.delivered and result.backend == "default/web-a"
