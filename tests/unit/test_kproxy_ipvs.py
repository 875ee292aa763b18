"""IPVS mode: the planned virtual servers, the companion nftables sets, the
diff kproxy syncs with, and the apply layer against a fake netlink kernel.

Like kube-proxy's ipvs proxier_test.go, one cluster's Services are planned
for a node and the tests say which virtual servers, real servers, dummy
addresses and set entries come out.  The kernel itself (IPVS needs
CONFIG_IP_VS) is only in tests/integration/test_kproxy_ipvs_live.py.
"""
from __future__ import annotations

import errno
import os
import re
from dataclasses import replace

import pytest
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import ipvs as genl
from service_alloc import Allocator

from k8snet.api.service import Service, ServicePort
from k8snet.errors import K8snetError, MissingKernelFeature
from kproxy import ipvs, ipvs_netlink
from kproxy.apply import require_mode
from kproxy.ipvs import IpvsState, RealServer, Step, VirtualServer
from kproxy.state import Endpoint, NodeProxyState, ServicePortState

NODE_IPS = {"node1": "172.18.0.11", "node2": "172.18.0.12"}
POD_CIDR, SERVICE_CIDR = "10.244.0.0/16", "10.96.0.0/12"
LB_IP, EMPTY_LB_IP, ETP_LB_IP = "198.51.100.1", "198.51.100.2", "198.51.100.3"


def ep(addr: str, ready: bool = True) -> Endpoint:
    ip, port = addr.rsplit(":", 1)
    return Endpoint(ip, int(port), "node" + ip.split(".")[2], pod=f"pod-{ip}", ready=ready)


def build_cluster() -> list[ServicePortState]:
    alloc = Allocator(SERVICE_CIDR, "198.51.100.0/24")

    def svc(name: str, ip: str, *ports: ServicePort, **kw) -> Service:
        return alloc.allocate(Service(name, cluster_ip=ip, ports=ports, **kw))

    services = {
        "web": (svc("web", "10.96.0.20", ServicePort(80, 8080)),
                [ep("10.244.1.5:8080"), ep("10.244.2.7:8080"), ep("10.244.2.8:8080", False)]),
        "np": (svc("np", "10.96.0.21", ServicePort(80, 8080, node_port=30080), type="NodePort"),
               [ep("10.244.1.11:8080"), ep("10.244.2.11:8080")]),
        "lb": (svc("lb", "10.96.0.22", ServicePort(443, 8443, node_port=30443),
                   type="LoadBalancer"), [ep("10.244.1.21:8443"), ep("10.244.2.21:8443")]),
        "empty": (svc("empty", "10.96.0.30", ServicePort(80, 8080, node_port=30090),
                      type="LoadBalancer"), []),
        "etp-local": (svc("etp-local", "10.96.0.40", ServicePort(80, 8080, node_port=30100),
                          type="LoadBalancer", external_traffic_policy="Local"),
                      [ep("10.244.1.31:8080"), ep("10.244.2.31:8080")]),
        "etp-remote": (svc("etp-remote", "10.96.0.41", ServicePort(80, 8080, node_port=30110),
                           type="NodePort", external_traffic_policy="Local"),
                       [ep("10.244.2.41:8080")]),
        "itp-local": (svc("itp-local", "10.96.0.50", ServicePort(80, 8080),
                          internal_traffic_policy="Local"),
                      [ep("10.244.1.51:8080"), ep("10.244.2.51:8080")]),
        "itp-remote": (svc("itp-remote", "10.96.0.51", ServicePort(80, 8080),
                           internal_traffic_policy="Local"), [ep("10.244.2.52:8080")]),
        "sticky": (svc("sticky", "10.96.0.60", ServicePort(80, 8080, node_port=30600),
                       type="NodePort", session_affinity="ClientIP", affinity_timeout=600),
                   [ep("10.244.1.61:8080"), ep("10.244.2.61:8080")]),
        "headless": (svc("headless", "None", ServicePort(80, 8080)), [ep("10.244.1.70:8080")]),
    }
    ports = [ServicePortState(s, s.ports[0], tuple(eps)) for s, eps in services.values()]
    dns = svc("dns", "10.96.0.10", ServicePort(53, protocol="UDP", name="dns"),
              ServicePort(53, protocol="TCP", name="dns-tcp"))
    dns_eps = (Endpoint("10.244.1.53", 53, "node1"), Endpoint("10.244.2.53", 53, "node2"))
    ports += [ServicePortState(dns, port, dns_eps) for port in dns.ports]
    return ports


CLUSTER = build_cluster()


def node_state(node: str = "node1", ports=None) -> NodeProxyState:
    return NodeProxyState(node, NODE_IPS[node], POD_CIDR, SERVICE_CIDR,
                          tuple(CLUSTER if ports is None else ports))


PLANS = {node: ipvs.build(node_state(node)) for node in NODE_IPS}


def dests(node: str, proto: str, addr: str, port: int) -> set[str]:
    """The real servers of one virtual server, as ``ip:port``."""
    got = PLANS[node].ipvs.destinations[(proto, addr, port)]
    return {f"{ip}:{p}" for ip, p in got}


def server(node: str, proto: str, addr: str, port: int) -> VirtualServer:
    return PLANS[node].ipvs.services[(proto, addr, port)]


def in_set(node: str, name: str, element: str) -> bool:
    return element in PLANS[node].sets[name]


# ------------------------------------------------------------ virtual servers

def test_cluster_ip_is_a_round_robin_virtual_server_over_ready_endpoints():
    vs = server("node1", "tcp", "10.96.0.20", 80)
    assert (vs.scheduler, vs.timeout) == ("rr", 0)
    assert dests("node1", "tcp", "10.96.0.20", 80) == {"10.244.1.5:8080", "10.244.2.7:8080"}
    rs = PLANS["node1"].ipvs.destinations[vs.key][("10.244.1.5", 8080)]
    assert (rs.forward, rs.weight) == ("masq", 1)
    assert "10.96.0.20" in PLANS["node1"].ipvs.addresses
    assert in_set("node1", "cluster-ips", "10.96.0.20 . tcp . 80")
    assert in_set("node1", "ipvs-ips", "10.96.0.20")


def test_render_is_ipvsadm_restore_text():
    st = node_state(ports=[sp for sp in CLUSTER if sp.service.name == "web"])
    assert ipvs.render(st).splitlines() == [
        "-A -t 10.96.0.20:80 -s rr",
        "-a -t 10.96.0.20:80 -r 10.244.1.5:8080 -m -w 1",
        "-a -t 10.96.0.20:80 -r 10.244.2.7:8080 -m -w 1"]


def test_node_port_is_served_on_the_node_ip_and_never_bound_to_the_dummy():
    for node, ip in NODE_IPS.items():
        assert dests(node, "tcp", ip, 30080) == {"10.244.1.11:8080", "10.244.2.11:8080"}
        assert ip not in PLANS[node].ipvs.addresses
        assert in_set(node, "nodeports", "tcp . 30080")
        assert not in_set(node, "nodeports-local", "tcp . 30080")
    assert ("tcp", NODE_IPS["node2"], 30080) not in PLANS["node1"].ipvs.services


def test_load_balancer_ip_is_bound_and_masqueraded_under_cluster_policy():
    assert dests("node1", "tcp", LB_IP, 443) == {"10.244.1.21:8443", "10.244.2.21:8443"}
    assert LB_IP in PLANS["node1"].ipvs.addresses
    assert in_set("node1", "load-balancer-ips", f"{LB_IP} . tcp . 443")
    assert not in_set("node1", "load-balancer-local", f"{LB_IP} . tcp . 443")
    assert dests("node1", "tcp", "172.18.0.11", 30443) == {"10.244.1.21:8443",
                                                            "10.244.2.21:8443"}


def test_external_local_policy_uses_only_this_nodes_endpoints_outside():
    for node, mine in (("node1", "10.244.1.31:8080"), ("node2", "10.244.2.31:8080")):
        assert dests(node, "tcp", ETP_LB_IP, 80) == {mine}
        assert dests(node, "tcp", NODE_IPS[node], 30100) == {mine}
        # The ClusterIP is internal traffic: every endpoint.
        assert dests(node, "tcp", "10.96.0.40", 80) == {"10.244.1.31:8080", "10.244.2.31:8080"}
        assert in_set(node, "load-balancer-local", f"{ETP_LB_IP} . tcp . 80")
        assert in_set(node, "nodeports-local", "tcp . 30100")
        assert not in_set(node, "no-local-endpoints-external", f"{ETP_LB_IP} . tcp . 80")


def test_external_local_policy_without_a_local_endpoint_drops_only_outsiders():
    # node1 has no endpoint of etp-remote: its pods may still use node2's
    # (kubernetes#97081), traffic from outside the pod network is dropped.
    assert dests("node1", "tcp", "172.18.0.11", 30110) == {"10.244.2.41:8080"}
    assert in_set("node1", "no-local-endpoints-external", "172.18.0.11 . tcp . 30110")
    assert not in_set("node2", "no-local-endpoints-external", "172.18.0.12 . tcp . 30110")
    rules = ipvs.chains(node_state())["filter-input"]
    drop = next(r for r in rules if "@no-local-endpoints-external" in r)
    assert f"ip saddr != {POD_CIDR}" in drop and " drop " in drop


def test_internal_local_policy_keeps_this_nodes_endpoints_or_drops():
    assert dests("node1", "tcp", "10.96.0.50", 80) == {"10.244.1.51:8080"}
    assert dests("node2", "tcp", "10.96.0.50", 80) == {"10.244.2.51:8080"}
    assert dests("node1", "tcp", "10.96.0.51", 80) == set()
    assert in_set("node1", "no-local-endpoints", "10.96.0.51 . tcp . 80")
    assert dests("node2", "tcp", "10.96.0.51", 80) == {"10.244.2.52:8080"}
    assert not in_set("node2", "no-local-endpoints", "10.96.0.51 . tcp . 80")


def test_client_ip_affinity_is_a_persistent_virtual_server_everywhere():
    for key in (("tcp", "10.96.0.60", 80), ("tcp", "172.18.0.11", 30600)):
        assert PLANS["node1"].ipvs.services[key].timeout == 600
    assert "-A -t 10.96.0.60:80 -s rr -p 600" in PLANS["node1"].ipvs.ipvsadm()
    assert server("node1", "tcp", "10.96.0.20", 80).timeout == 0


def test_no_ready_endpoint_keeps_the_virtual_servers_and_rejects():
    for key in (("tcp", "10.96.0.30", 80), ("tcp", EMPTY_LB_IP, 80),
                ("tcp", "172.18.0.11", 30090)):
        proto, addr, port = key
        assert dests("node1", *key) == set()
        assert in_set("node1", "no-endpoint-services", f"{addr} . {proto} . {port}")
    assert EMPTY_LB_IP in PLANS["node1"].ipvs.addresses
    assert not in_set("node1", "no-endpoint-services", "10.96.0.20 . tcp . 80")
    for hook in ("filter-input", "filter-output"):
        rule = next(r for r in ipvs.chains(node_state())[hook] if "@no-endpoint-services" in r)
        assert rule.startswith("ct state new ") and " reject " in rule


def test_hairpin_entries_are_this_nodes_ready_endpoints():
    loop = PLANS["node1"].sets["loopback"]
    assert "10.244.1.5 . tcp . 8080 . 10.244.1.5" in loop
    assert "10.244.1.53 . udp . 53 . 10.244.1.53" in loop
    assert not any(e.startswith("10.244.2.") for e in loop)
    assert "10.244.2.8 . tcp . 8080 . 10.244.2.8" not in PLANS["node2"].sets["loopback"]


def test_udp_and_tcp_on_one_port_are_two_virtual_servers():
    assert dests("node1", "udp", "10.96.0.10", 53) == {"10.244.1.53:53", "10.244.2.53:53"}
    assert dests("node1", "tcp", "10.96.0.10", 53) == {"10.244.1.53:53", "10.244.2.53:53"}
    assert "-A -u 10.96.0.10:53 -s rr" in PLANS["node1"].ipvs.ipvsadm()


def test_headless_services_get_nothing():
    assert not any(vs.port == 80 and vs.address.startswith("10.244.")
                   for vs in PLANS["node1"].ipvs.services.values())
    assert all("10.244.1.70" not in k for k in PLANS["node1"].ipvs.destinations)
    assert not any("10.244.1.70" in e for e in PLANS["node1"].sets["loopback"])


# ------------------------------------------------------------------- the diff

def replay(current: IpvsState, steps: list[Step]) -> IpvsState:
    out = current.copy()
    for step in steps:
        ipvs.apply_step(out, step)
    return out


def same(a: IpvsState, b: IpvsState) -> bool:
    return (a.services, a.addresses) == (b.services, b.addresses) and all(
        a.destinations.get(k, {}) == b.destinations.get(k, {}) for k in a.services)


def test_diff_from_nothing_creates_everything_then_nothing_is_left_to_do():
    want = PLANS["node1"].ipvs
    steps = ipvs.diff(want, IpvsState())
    assert {s.op for s in steps} == {"add-address", "add-service", "add-dest"}
    assert steps[0].op == "add-address"
    assert same(replay(IpvsState(), steps), want)
    assert ipvs.diff(want, want.copy()) == []


def test_a_partial_diff_touches_only_what_changed():
    before = PLANS["node1"].ipvs
    web, rest = CLUSTER[0], CLUSTER[1:]
    moved = ServicePortState(web.service, web.port, (ep("10.244.1.5:8080"), ep("10.244.2.9:8080")))
    after = ipvs.build(node_state(ports=[moved, *rest])).ipvs
    steps = ipvs.diff(after, before)
    assert [str(s) for s in steps] == [
        "-a -t 10.96.0.20:80 -r 10.244.2.9:8080 -m -w 1",
        "-d -t 10.96.0.20:80 -r 10.244.2.7:8080"]
    assert same(replay(before, steps), after)


def test_removing_a_service_deletes_it_and_its_address_but_not_each_destination():
    before = PLANS["node1"].ipvs
    after = ipvs.build(node_state(ports=[sp for sp in CLUSTER
                                         if sp.service.name != "lb"])).ipvs
    steps = ipvs.diff(after, before)
    assert sorted(str(s) for s in steps) == sorted([
        "-D -t 10.96.0.22:443", f"-D -t {LB_IP}:443", "-D -t 172.18.0.11:30443",
        f"ip address del {LB_IP}/32 dev kube-ipvs0", "ip address del 10.96.0.22/32 dev kube-ipvs0"])
    assert [s.op for s in steps][-2:] == ["del-address", "del-address"]
    assert same(replay(before, steps), after)


def test_changed_affinity_updates_the_service_in_place():
    sticky = next(sp for sp in CLUSTER if sp.service.name == "sticky")
    longer = ServicePortState(replace(sticky.service, affinity_timeout=60), sticky.port,
                              sticky.endpoints)
    after = ipvs.build(node_state(ports=[longer if sp is sticky else sp for sp in CLUSTER]))
    steps = ipvs.diff(after.ipvs, PLANS["node1"].ipvs)
    assert [str(s) for s in steps] == ["-E -t 10.96.0.60:80 -s rr -p 60",
                                       "-E -t 172.18.0.11:30600 -s rr -p 60"]


def test_a_foreign_real_server_is_set_back_to_masquerading_weight_one():
    current = PLANS["node1"].ipvs.copy()
    key = ("tcp", "10.96.0.20", 80)
    current.destinations[key][("10.244.1.5", 8080)] = RealServer("10.244.1.5", 8080, 0, "route")
    steps = ipvs.diff(PLANS["node1"].ipvs, current)
    assert [str(s) for s in steps] == ["-e -t 10.96.0.20:80 -r 10.244.1.5:8080 -m -w 1"]


# -------------------------------------------------------- the companion table

def test_companion_rules_reference_only_what_the_table_declares():
    text, _ = ipvs.ruleset(node_state(), PLANS["node1"])
    declared = set(re.findall(r"^add (?:chain|set) ip kproxy-ipvs (\S+)", text, re.M))
    for rule in re.findall(r"^add rule ip kproxy-ipvs \S+ (.*)$", text, re.M):
        for ref in re.findall(r"@([\w-]+)|(?:jump|goto) ([\w-]+)", rule):
            assert (ref[0] or ref[1]) in declared, rule
        assert ' comment "' in rule
    assert text.splitlines()[1:3] == ["delete table ip kproxy-ipvs",
                                      text.splitlines()[0]]


def test_companion_partial_sync_changes_only_elements():
    first, previous = ipvs.ruleset(node_state(), PLANS["node1"])
    same_text, _ = ipvs.ruleset(node_state(), PLANS["node1"], previous)
    assert "delete table" not in same_text and "flush chain" not in same_text
    assert "element" not in same_text
    fewer = node_state(ports=[sp for sp in CLUSTER if sp.service.name != "empty"])
    text, _ = ipvs.ruleset(fewer, ipvs.build(fewer), previous)
    changes = [line for line in text.splitlines() if "element" in line]
    assert changes == [
        "delete element ip kproxy-ipvs cluster-ips { 10.96.0.30 . tcp . 80 }",
        f"delete element ip kproxy-ipvs load-balancer-ips {{ {EMPTY_LB_IP} . tcp . 80 }}",
        "delete element ip kproxy-ipvs nodeports { tcp . 30090 }",
        f"delete element ip kproxy-ipvs ipvs-ips {{ 10.96.0.30, {EMPTY_LB_IP} }}",
        "delete element ip kproxy-ipvs no-endpoint-services { 10.96.0.30 . tcp . 80, "
        f"172.18.0.11 . tcp . 30090, {EMPTY_LB_IP} . tcp . 80 }}"]


# ------------------------------------------------- the apply layer, faked

class FakeKernel:
    """IPVS and kube-ipvs0 as the kernel answers netlink, with its errnos."""

    def __init__(self, state: IpvsState | None = None, fail: str = "") -> None:
        self.state = state or IpvsState()
        self.fail = fail          # a Step op that fails once with EPERM
        self.calls: list[str] = []
        self.dummy = False
        self.open = 0             # sockets open (one ``with`` at a time)

    def __enter__(self):
        self.open += 1
        return self

    def __exit__(self, *exc):
        self.open -= 1

    def _check(self, op: str) -> None:
        self.calls.append(op)
        if op == self.fail:
            self.fail = ""
            raise NetlinkError(errno.EPERM)

    def services(self):
        return list(self.state.services.values())

    def destinations(self, vs):
        return list(self.state.destinations[vs.key].values())

    def service(self, command, vs):
        self._check(f"{command}-service")
        have = vs.key in self.state.services
        if command == "add" and have:
            raise NetlinkError(errno.EEXIST)
        if command in ("set", "del") and not have:
            raise NetlinkError(errno.ESRCH)
        ipvs.apply_step(self.state, Step({"add": "add-service", "set": "update-service",
                                          "del": "del-service"}[command], vs))

    def dest(self, command, vs, rs):
        self._check(f"{command}-dest")
        if vs.key not in self.state.services:
            raise NetlinkError(errno.ESRCH)
        have = rs.key in self.state.destinations[vs.key]
        if command == "add" and have:
            raise NetlinkError(errno.EEXIST)
        if command in ("set", "del") and not have:
            raise NetlinkError(errno.ENOENT)
        ipvs.apply_step(self.state, Step({"add": "add-dest", "set": "update-dest",
                                          "del": "del-dest"}[command], vs, rs))

    def ensure_dummy(self):
        self.dummy = True

    def addresses(self):
        return set(self.state.addresses)

    def address(self, command, ip):
        self._check(f"{command}-address")
        ipvs.apply_step(self.state, Step(f"{command}-address", address=ip))

    def delete_dummy(self):
        self.dummy = False
        self.state.addresses.clear()


class Runs(list):
    def __call__(self, argv, text):
        self.append((argv, text))


def test_first_sync_repairs_what_an_earlier_run_left_then_syncs_partially():
    stale = VirtualServer("tcp", "10.96.9.9", 80)
    left = IpvsState()
    left.add(stale, [RealServer("10.244.1.99", 80)])
    left.addresses.add("10.96.9.9")
    kernel, runs = FakeKernel(left), Runs()
    proxier = ipvs_netlink.IpvsProxier("k8snet-t-node1", kernel=kernel, run=runs)
    out = proxier.sync(node_state())
    assert same(kernel.state, PLANS["node1"].ipvs) and kernel.dummy and kernel.open == 0
    assert "-D -t 10.96.9.9:80" in out and "ip address del 10.96.9.9/32" in out
    assert runs[0][0][:3] == ["sysctl", "-q", "-w"] and "net.ipv4.vs.conntrack=1" in runs[0][0]
    assert runs[1][0] == ["nft", "-f", "-"] and "delete table ip kproxy-ipvs" in runs[1][1]
    kernel.calls.clear()
    fewer = node_state(ports=[sp for sp in CLUSTER if sp.service.name != "web"])
    out = proxier.sync(fewer)
    assert kernel.calls == ["del-service", "del-address"]
    assert len(runs) == 3 and "delete table" not in runs[2][1]
    assert "delete element ip kproxy-ipvs cluster-ips { 10.96.0.20 . tcp . 80 }" in runs[2][1]


def test_a_failed_step_is_reported_and_the_next_sync_reads_the_kernel_again():
    kernel, runs = FakeKernel(fail="add-dest"), Runs()
    proxier = ipvs_netlink.IpvsProxier("k8snet-t-node1", kernel=kernel, run=runs)
    with pytest.raises(K8snetError, match=r"kproxy \(ipvs\) in k8snet-t-node1: -a -t .* "
                                          r"Operation not permitted"):
        proxier.sync(node_state())
    assert not any("nft" in argv for argv, _ in runs)     # no companion for a half sync
    assert kernel.open == 0                                # sockets closed all the same
    proxier.sync(node_state())
    assert same(kernel.state, PLANS["node1"].ipvs)


def test_deleting_what_is_already_gone_is_not_an_error():
    kernel = FakeKernel()
    ipvs_netlink.apply_steps(kernel, [Step("del-service", VirtualServer("tcp", "10.96.0.1", 1)),
                                      Step("add-service", VirtualServer("tcp", "10.96.0.1", 2))])
    assert list(kernel.state.services) == [("tcp", "10.96.0.1", 2)]
    with pytest.raises(K8snetError, match="File exists"):
        ipvs_netlink.apply_steps(kernel, [Step("add-service",
                                               VirtualServer("tcp", "10.96.0.1", 2))])


def test_cleanup_removes_servers_dummy_and_table():
    kernel, runs = FakeKernel(), Runs()
    proxier = ipvs_netlink.IpvsProxier("k8snet-t-node1", kernel=kernel, run=runs)
    proxier.sync(node_state())
    proxier.cleanup()
    assert not kernel.state.services and not kernel.dummy
    assert runs[-1] == (["nft", "-f", "-"], ipvs.cleanup())


# ------------------------------------------------------ netlink messages

def roundtrip(cmd: int, attr: str, spec):
    msg = genl.ipvsmsg()
    msg["cmd"], msg["version"] = cmd, genl.GENL_VERSION
    msg["attrs"] = [(attr, spec.dump_nla())]
    msg["header"]["type"] = 0x20
    msg.encode()
    back = genl.ipvsmsg(msg.data)
    back.decode()
    return back


def test_service_messages_carry_what_the_kernel_needs_and_read_back():
    vs = VirtualServer("udp", "10.96.0.10", 53, "rr", 600)
    msg = roundtrip(genl.IPVS_CMD_NEW_SERVICE, "IPVS_CMD_ATTR_SERVICE",
                    ipvs_netlink.service_spec(vs))
    attrs = msg.get_attr("IPVS_CMD_ATTR_SERVICE")
    assert attrs.get_attr("IPVS_SVC_ATTR_NETMASK") == "255.255.255.255"
    assert attrs.get_attr("IPVS_SVC_ATTR_FLAGS")["flags"] == 1        # persistent
    assert ipvs_netlink.service_from(msg) == vs
    plain = VirtualServer("sctp", "10.96.0.11", 9)
    assert ipvs_netlink.service_from(roundtrip(
        genl.IPVS_CMD_NEW_SERVICE, "IPVS_CMD_ATTR_SERVICE",
        ipvs_netlink.service_spec(plain))) == plain


def test_dest_messages_masquerade_and_read_back():
    rs = RealServer("10.244.1.5", 8080)
    msg = roundtrip(genl.IPVS_CMD_NEW_DEST, "IPVS_CMD_ATTR_DEST", ipvs_netlink.dest_spec(rs))
    assert msg.get_attr("IPVS_CMD_ATTR_DEST").get_attr("IPVS_DEST_ATTR_FWD_METHOD") == 0
    assert ipvs_netlink.dest_from(msg) == rs


# ------------------------------------------------------- no IP_VS here

def test_missing_ip_vs_is_reported_naming_the_proc_file(tmp_path):
    with pytest.raises(MissingKernelFeature, match=f"CONFIG_IP_VS.*{tmp_path}/ip_vs"):
        ipvs_netlink.require_ip_vs(str(tmp_path / "ip_vs"))
    (tmp_path / "ip_vs").write_text("")
    ipvs_netlink.require_ip_vs(str(tmp_path / "ip_vs"))


@pytest.mark.skipif(os.path.exists("/proc/net/ip_vs"), reason="this kernel has IPVS")
def test_ipvs_mode_is_refused_with_a_clear_error_without_ip_vs():
    with pytest.raises(MissingKernelFeature, match="CONFIG_IP_VS"):
        require_mode("ipvs")
    with pytest.raises(MissingKernelFeature, match="/proc/net/ip_vs is missing"):
        ipvs_netlink.IpvsProxier("k8snet-t-node1")


def test_the_machines_own_namespace_is_never_used():
    with pytest.raises(K8snetError, match="node's namespace"):
        ipvs_netlink.NetlinkIpvs("")
