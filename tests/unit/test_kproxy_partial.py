"""kproxy's partial syncs, in both modes: a run of them ends where one full
sync of the last state does, each renders only what changed, and what a
Proxier or the node agent hands on is the change and not the whole state.

kube-proxy's partial syncs (kubernetes#126013 for nftables, KEP-3453 for
iptables) are tested the same way upstream: apply the transactions one
after another to a model of the kernel (here the packet tracers' loaders,
which refuse what ``nft -f`` and ``iptables-restore`` would refuse) and
compare with a fresh render.
"""
from __future__ import annotations

import dataclasses
import random

import pytest
from iptables_tracer import load as ipt_load
from iptables_tracer import trace as ipt_trace
from nft_tracer import check_jump_targets, load, trace

from k8snet.api.service import Service, ServicePort
from k8snet.errors import K8snetError
from kproxy import iptables, nft
from kproxy.apply import Proxier
from kproxy.state import Endpoint, NodeProxyState, ServicePortState, endpoint_id

POD_CIDR, SERVICE_CIDR = "10.244.0.0/16", "10.96.0.0/12"
NODE1 = "172.18.0.11"


# ----------------------------------------------------------- random clusters

def make_service(rng: random.Random, i: int) -> list[ServicePortState]:
    """Service ``svc-i``: a random type, policies and affinity, 1-2 ports,
    0-3 endpoints on node1 or node2, some not ready."""
    kind = rng.choice(["ClusterIP", "ClusterIP", "NodePort", "LoadBalancer"])
    eips = external_ips(rng, i)
    external = kind != "ClusterIP"
    ports = [ServicePort(80, 8080, "TCP", "http", 30000 + 2 * i if external else 0)]
    if rng.random() < 0.3:
        ports.append(ServicePort(53, 53, "UDP", "dns", 30001 + 2 * i if external else 0))
    svc = Service(
        name=f"svc-{i}", namespace=rng.choice(["default", "shop"]), type=kind,
        cluster_ip=f"10.96.{1 + i // 200}.{i % 200 + 10}", ports=tuple(ports),
        load_balancer_ip=f"198.51.100.{i % 250 + 1}" if kind == "LoadBalancer" else "",
        external_ips=eips,
        session_affinity="ClientIP" if rng.random() < 0.2 else "None",
        affinity_timeout=rng.choice([60, 600]),
        external_traffic_policy=rng.choice(["Cluster", "Local"]) if external or eips
        else "Cluster",
        internal_traffic_policy=rng.choice(["Cluster", "Cluster", "Local"]))
    return [ServicePortState(svc, port, endpoints(rng, i, port)) for port in svc.ports]


def external_ips(rng: random.Random, i: int) -> tuple[str, ...]:
    """``spec.externalIPs`` of ``svc-i``: mostly none, else one or two of its own."""
    return rng.choice([(), (), (f"203.0.113.{i % 250 + 1}",),
                       (f"203.0.113.{i % 250 + 1}", f"192.0.2.{i % 250 + 1}")])


def endpoints(rng: random.Random, i: int, port: ServicePort) -> tuple[Endpoint, ...]:
    out = []
    for k in range(rng.randint(0, 3)):
        node = rng.choice(["node1", "node2"])
        ip = f"10.244.{1 if node == 'node1' else 2}.{(i * 3 + k) % 250 + 2}"
        out.append(Endpoint(ip, int(port.target_port), node, f"pod-{i}-{k}",
                            ready=rng.random() < 0.85))
    return tuple(out)


def mutate(rng: random.Random, services: dict[int, list[ServicePortState]], step: int) -> None:
    """One sync's worth of changes: Services come and go, endpoints move,
    policies flip."""
    for _ in range(rng.randint(1, 3)):
        what = rng.random()
        if what < 0.25 or not services:
            i = max(services, default=0) + 1
            services[i] = make_service(rng, i)
        elif what < 0.4:
            del services[rng.choice(sorted(services))]
        elif what < 0.8:
            i = rng.choice(sorted(services))
            services[i] = [dataclasses.replace(sp, endpoints=endpoints(rng, i + step, sp.port))
                           for sp in services[i]]
        else:
            i = rng.choice(sorted(services))
            sp = services[i][0]
            svc = dataclasses.replace(sp.service, internal_traffic_policy=rng.choice(
                ["Cluster", "Local"]), affinity_timeout=rng.choice([60, 600, 900]))
            if sp.service.type == "ClusterIP" and sp.service.external_traffic_policy == "Cluster":
                svc = dataclasses.replace(svc, external_ips=external_ips(rng, i))  # gain or lose

            services[i] = [dataclasses.replace(p, service=svc) for p in services[i]]
    if services and rng.random() < 0.3:
        toggle_port(services, rng.choice(sorted(services)))


def toggle_port(services: dict[int, list[ServicePortState]], i: int) -> None:
    """Service ``svc-i`` gains or loses its second port: its ClusterIP stays in
    the cluster-ips set as long as one port claims it."""
    first = services[i][0]
    if len(services[i]) > 1:
        ports = (first.port,)
        services[i] = [dataclasses.replace(first, service=dataclasses.replace(
            first.service, ports=ports))]
        return
    extra = ServicePort(9000 + i, 9000, "TCP", "extra",
                        first.port.node_port + 1 if first.port.node_port else 0)
    svc = dataclasses.replace(first.service, ports=(first.port, extra))
    services[i] = [dataclasses.replace(first, service=svc),
                   ServicePortState(svc, extra, first.endpoints)]


def state(services: dict[int, list[ServicePortState]]) -> NodeProxyState:
    return NodeProxyState("node1", NODE1, POD_CIDR, SERVICE_CIDR,
                          tuple(sp for group in services.values() for sp in group))


def nft_view(text_or_table) -> tuple:
    """A loaded nft table as comparable data: chains, maps, sets."""
    tb = load(text_or_table) if isinstance(text_or_table, str) else text_or_table
    return ({n: (c.spec, [r.text for r in c.rules]) for n, c in tb.chains.items()},
            {n: (m.key_types, m.data_types, dict(m.elements), dict(m.comments))
             for n, m in tb.maps.items()},
            {n: (s.dtype, s.flags, s.timeout, set(s.elements), dict(s.comments))
             for n, s in tb.sets.items()})


def ipt_view(rs) -> dict:
    """A loaded iptables ruleset as comparable data.  The order of the rules
    in KPROXY-SERVICES does not matter (each matches its own address and
    port) except that the node port rule stays last."""
    services = rs.tables["nat"].get("KPROXY-SERVICES", [])
    assert not services or "keep last" in (services[-1].comment or ""), \
        [r.text for r in services[-2:]]
    return {t: {c: sorted(r.text for r in rules) for c, rules in chains.items()}
            for t, chains in rs.tables.items()}


# ------------------------------------------------------ partial == full (both modes)

@pytest.mark.parametrize("seed", range(6))
def test_nft_partial_syncs_end_where_a_full_sync_does(seed: int) -> None:
    rng = random.Random(seed)
    services = {i: make_service(rng, i) for i in range(12)}
    text, applied = nft.render(state(services), fresh=True)
    table = load(text)
    for step in range(25):
        mutate(rng, services, step)
        text, applied = nft.render(state(services), applied)
        assert "delete table" not in text
        table = check_jump_targets(text, table)       # nft would take it
        fresh_text = nft.render(state(services), fresh=True)[0]
        assert nft_view(table) == nft_view(fresh_text), f"seed {seed} step {step}"
        assert applied == nft.build(state(services))


@pytest.mark.parametrize("seed", range(6))
def test_iptables_partial_restores_end_where_a_full_restore_does(seed: int) -> None:
    rng = random.Random(seed)
    services = {i: make_service(rng, i) for i in range(12)}
    text, applied = iptables.render(state(services))
    rs = ipt_load(text)
    for step in range(25):
        mutate(rng, services, step)
        text, applied = iptables.render(state(services), applied)
        assert not text or ("-X KPROXY-SERVICES" not in text and
                            ":KPROXY-SERVICES " not in text)   # never rewritten whole
        rs = ipt_load(text, rs)
        assert ipt_view(rs) == ipt_view(ipt_load(iptables.render(state(services))[0])), \
            f"seed {seed} step {step}"
        assert applied == iptables.render(state(services))[1]


def test_both_modes_serve_the_last_state_after_partial_syncs() -> None:
    rng = random.Random(7)
    services = {i: make_service(rng, i) for i in range(10)}
    nft_text, nft_rs = nft.render(state(services), fresh=True)
    ipt_text, ipt_rs = iptables.render(state(services))
    table, rules = load(nft_text), ipt_load(ipt_text)
    for step in range(10):
        mutate(rng, services, step)
        text, nft_rs = nft.render(state(services), nft_rs)
        table = load(text, table)
        text, ipt_rs = iptables.render(state(services), ipt_rs)
        rules = ipt_load(text, rules)
    checked = 0
    for sp in state(services).ports:
        ready = {f"{e.ip}:{e.port}" for e in sp.ready()}
        if sp.service.internal_traffic_policy == "Local":
            ready = {f"{e.ip}:{e.port}" for e in sp.local("node1")}
        packet = dict(src_ip="10.244.1.250", dst_ip=sp.service.cluster_ip, proto=sp.proto,
                      dport=sp.port.port, local_ips=[NODE1], node_ip=NODE1)
        got_nft = {trace(table, hook_path="prerouting", numgen=n, **packet).dnat
                   for n in range(6)} - {None}
        got_ipt = {ipt_trace(rules, path="prerouting", numgen=n, **packet).dnat
                   for n in range(4)} - {None}
        assert got_nft == got_ipt == ready, sp.label
        checked += 1
    assert checked >= 8


# -------------------------------------------------------- only what changed

def many(n: int) -> dict[int, list[ServicePortState]]:
    out = {}
    for i in range(n):
        svc = Service(name=f"svc-{i}", cluster_ip=f"10.96.{1 + i // 200}.{i % 200 + 10}",
                      ports=(ServicePort(80, 8080),))
        eps = (Endpoint(f"10.244.{10 + i // 250}.{i % 250 + 2}", 8080, "node1"),
               Endpoint(f"10.244.{100 + i // 250}.{i % 250 + 2}", 8080, "node2"))
        out[i] = [ServicePortState(svc, svc.ports[0], eps)]
    return out


def test_adding_one_service_among_hundreds_is_a_few_elements() -> None:
    services = many(300)
    _, applied = nft.render(state(services), fresh=True)
    services[300] = many(301)[300]
    text, _ = nft.render(state(services), applied)
    lines = text.splitlines()
    assert all(line.startswith("add element ip kproxy ") for line in lines), lines
    # dispatch, endpoints, hairpin, and the ClusterIP in cluster-ips
    assert len(lines) == 4 and "10.96.2.110 . tcp . 80" in text
    assert "add element ip kproxy cluster-ips { 10.96.2.110 }" in lines
    _, ipt_applied = iptables.render(state(many(300)))
    text, _ = iptables.render(state(services), ipt_applied)
    assert len([line for line in text.splitlines() if line.startswith("-I KPROXY-SERVICES 1 ")]) \
        == 1
    new = services[300][0]
    declared = {line[1:].split()[0] for line in text.splitlines() if line.startswith(":")}
    assert declared == {iptables.chain("SVC", new.id), iptables.chain("SVL", new.id)} | {
        iptables.chain("SEP", endpoint_id(new, ep)) for ep in new.endpoints}
    assert "svc-300" in text and "svc-299" not in text


def cluster_ips(table) -> set[str]:
    return {str(net.network_address) for net in table.sets["cluster-ips"].elements}


def test_the_cluster_ips_set_changes_element_by_element() -> None:
    """kube-proxy's clusterIPsSet: a ClusterIP is in the set while one port of
    its Service is proxied, with or without endpoints; a sync that does not
    add or remove a Service leaves the set alone."""
    services = many(300)
    text, applied = nft.render(state(services), fresh=True)
    table = load(text)
    assert len(cluster_ips(table)) == 300
    # New endpoints only: no cluster-ips line.
    services[5] = [dataclasses.replace(services[5][0], endpoints=services[5][0].endpoints[:1])]
    text, applied = nft.render(state(services), applied)
    assert text and "cluster-ips" not in text
    table = check_jump_targets(text, table)
    # No endpoints left: rejected by the no-endpoints map, its IP stays.
    services[5] = [dataclasses.replace(services[5][0], endpoints=())]
    text, applied = nft.render(state(services), applied)
    assert "cluster-ips" not in text
    table = check_jump_targets(text, table)
    # A second port claims the same ClusterIP: nothing to add; dropping one
    # port keeps it, dropping the Service deletes that one element.
    toggle_port(services, 6)
    text, applied = nft.render(state(services), applied)
    assert "cluster-ips" not in text and "10.96.1.16 . tcp . 9006" in text
    table = check_jump_targets(text, table)
    toggle_port(services, 6)
    text, applied = nft.render(state(services), applied)
    assert "cluster-ips" not in text
    table = check_jump_targets(text, table)
    del services[6]
    text, applied = nft.render(state(services), applied)
    assert [line for line in text.splitlines() if "cluster-ips" in line] == [
        "delete element ip kproxy cluster-ips { 10.96.1.16 }"]
    table = check_jump_targets(text, table)
    assert "10.96.1.16" not in cluster_ips(table) and len(cluster_ips(table)) == 299
    assert nft_view(table) == nft_view(nft.render(state(services), fresh=True)[0])
    # The freed ClusterIP is now dropped as unallocated; a remaining Service's
    # other ports are rejected.
    packet = dict(src_ip="10.244.1.250", proto="tcp", local_ips=[NODE1], node_ip=NODE1,
                  hook_path="prerouting")
    assert trace(table, dst_ip="10.96.1.16", dport=80, **packet).verdict == "DROP"
    assert trace(table, dst_ip="10.96.1.17", dport=81, **packet).verdict == "REJECT"
    assert trace(table, dst_ip="10.96.1.15", dport=80, **packet).verdict == "REJECT"  # svc-5
    assert trace(table, dst_ip="10.96.1.17", dport=80, **packet).dnat


def test_a_new_but_equal_state_renders_nothing() -> None:
    services = many(20)
    _, applied = nft.render(state(services), fresh=True)
    copies = {i: [dataclasses.replace(sp) for sp in group] for i, group in services.items()}
    assert copies[3][0] is not services[3][0] and copies[3][0] == services[3][0]
    text, applied = nft.render(state(copies), applied)
    assert text == ""
    assert applied.ports[("default", "svc-3", "TCP", 80)][0] is copies[3][0]  # taken over


class RecordingProxier(Proxier):
    """A Proxier whose kernel is a list of transactions (or a failure)."""

    def __init__(self, mode: str, fail: bool = False) -> None:
        super().__init__("", mode)
        self.applied: list[str] = []
        self.fail = fail
        self.jumps_done = True

    def _run(self, argv: list[str], text: str) -> None:
        if self.fail:
            raise K8snetError(f"kproxy ({self.mode}): {argv[0]}: refused")
        self.applied.append(text)

    def _existing_nat_chains(self) -> set[str]:
        return set()

    def intact(self) -> bool:
        return True

    def _ensure_jumps(self) -> None:
        self.jumps_done = True


@pytest.mark.parametrize("mode", ["nftables", "iptables"])
def test_the_proxier_applies_only_the_change_and_starts_over_after_a_failure(mode: str):
    services = many(50)
    proxier = RecordingProxier(mode)
    first = proxier.sync(state(services))
    assert first.fresh and first.changed == 50 and proxier.applied == [first.text]
    services[7] = [dataclasses.replace(services[7][0], endpoints=services[7][0].endpoints[:1])]
    second = proxier.sync(state(services))
    assert not second.fresh and second.changed == 1 and "svc-8" not in second.text
    assert proxier.sync(state(services)).text == "" and len(proxier.applied) == 2
    proxier.fail = True
    services[8] = many(9)[8]
    with pytest.raises(K8snetError, match="refused"):
        proxier.sync(state({k: v for k, v in services.items() if k != 8}))
    assert proxier.previous is None                     # the retry starts over
    proxier.fail = False
    retry = proxier.sync(state(services))
    assert retry.fresh and retry.changed == 50
    assert proxier.last_text == retry.text
