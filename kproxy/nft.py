"""Render a node's full proxy state as one nftables transaction.

Modelled on kube-proxy's nftables mode: verdict maps keyed by
``daddr . proto . dport`` send a packet to its service chain in one lookup,
whatever the number of services; ``numgen random`` picks an endpoint.
Every rule carries a comment.  The rendering is pure text; ``kproxy.apply``
feeds it to ``nft -f -`` inside the node's namespace.

The transaction never deletes the table once it exists: chains and maps are
flushed and refilled, stale chains deleted, and the dynamic session-affinity
sets are left alone so sessions survive a sync.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kproxy.state import NodeProxyState, ServicePortState, endpoint_id

TABLE = "kproxy"
FAMILY = "ip"
MASQ_MARK = "0x4000"

BASE_CHAINS = {
    "nat-prerouting": "type nat hook prerouting priority dstnat; policy accept;",
    "nat-output": "type nat hook output priority -100; policy accept;",
    "nat-postrouting": "type nat hook postrouting priority srcnat; policy accept;",
    "filter-input": "type filter hook input priority -110; policy accept;",
    "filter-forward": "type filter hook forward priority -110; policy accept;",
    "filter-output": "type filter hook output priority -110; policy accept;",
}
MAPS = {
    "service-ips": "type ipv4_addr . inet_proto . inet_service : verdict;",
    "service-nodeports": "type inet_proto . inet_service : verdict;",
    "no-endpoint-services": "type ipv4_addr . inet_proto . inet_service : verdict;",
    "no-endpoint-nodeports": "type inet_proto . inet_service : verdict;",
}


@dataclass
class Ruleset:
    """Chains with their rules, map elements and affinity sets, before text."""

    chains: dict[str, list[str]] = field(default_factory=dict)
    elements: dict[str, list[str]] = field(default_factory=dict)
    affinity_sets: dict[str, int] = field(default_factory=dict)

    def add(self, chain: str, rule: str, comment: str = "") -> None:
        text = f'{rule} comment "{comment}"' if comment else rule
        self.chains.setdefault(chain, []).append(text)

    def element(self, map_name: str, element: str) -> None:
        self.elements.setdefault(map_name, []).append(element)


def _static(rs: Ruleset, state: NodeProxyState) -> None:
    rs.add("nat-prerouting", "jump services", "service portals")
    rs.add("nat-output", "jump services", "service portals")
    rs.add("nat-postrouting", "jump masquerading", "SNAT marked and egress traffic")
    for hook in ("filter-input", "filter-forward", "filter-output"):
        rs.add(hook, "ct state new jump service-endpoints-check",
               "reject services with no endpoints")
    rs.add("filter-input", "ct state new jump nodeport-endpoints-check",
           "reject node ports with no endpoints")
    rs.add("service-endpoints-check",
           "ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
           "services with no endpoints")
    rs.add("nodeport-endpoints-check",
           "fib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports",
           "node ports with no endpoints")
    rs.add("reject-chain", "reject", "no endpoints: ICMP port unreachable")
    rs.add("services", "ip daddr . meta l4proto . th dport vmap @service-ips",
           "ClusterIP and LoadBalancer IP")
    rs.add("services", "fib daddr type local ip daddr != 127.0.0.0/8 "
           "meta l4proto . th dport vmap @service-nodeports", "NodePort on node IPs")
    rs.add("mark-for-masquerade", f"meta mark set meta mark or {MASQ_MARK}",
           "mark for SNAT in postrouting")
    rs.add("masquerading", f"meta mark and {MASQ_MARK} == 0 jump egress",
           "unmarked: only egress SNAT applies")
    rs.add("masquerading", f"meta mark and {MASQ_MARK} == 0 return", "")
    rs.add("masquerading", f"meta mark set meta mark xor {MASQ_MARK}", "clear the mark")
    rs.add("masquerading", "masquerade fully-random", "service SNAT (hairpin, Cluster policy)")
    rs.add("egress", f"ip saddr {state.pod_cidr} ip daddr != {{ {state.pod_cidr}, "
           f"{state.service_cidr} }} masquerade fully-random",
           "pod traffic leaving the cluster: SNAT to the node IP")


def _balance(rs: Ruleset, chain: str, sp: ServicePortState, endpoints: list) -> None:
    """Session affinity first, then a random pick among ``endpoints``."""
    if sp.service.session_affinity == "ClientIP":
        for ep in endpoints:
            eid = endpoint_id(sp, ep)
            rs.add(chain, f"ip saddr @affinity-{eid} goto endpoint-{eid}",
                   f"{sp.label} -> {ep.ip}:{ep.port} (affinity)")
    if len(endpoints) == 1:
        rs.add(chain, f"goto endpoint-{endpoint_id(sp, endpoints[0])}",
               f"{sp.label} -> {endpoints[0].ip}:{endpoints[0].port}")
        return
    choices = ", ".join(f"{i} : goto endpoint-{endpoint_id(sp, ep)}"
                        for i, ep in enumerate(endpoints))
    rs.add(chain, f"numgen random mod {len(endpoints)} vmap {{ {choices} }}",
           f"{sp.label}: random over {len(endpoints)} endpoints")


def _endpoint(rs: Ruleset, sp: ServicePortState, ep) -> None:
    eid = endpoint_id(sp, ep)
    chain = f"endpoint-{eid}"
    rs.add(chain, f"ip saddr {ep.ip} jump mark-for-masquerade",
           f"{sp.label}: hairpin, the endpoint calls itself")
    if sp.service.session_affinity == "ClientIP":
        rs.affinity_sets[f"affinity-{eid}"] = sp.service.affinity_timeout
        rs.add(chain, f"update @affinity-{eid} {{ ip saddr }}", f"{sp.label}: remember client")
    rs.add(chain, f"meta l4proto {sp.proto} dnat to {ep.ip}:{ep.port}",
           f"{sp.label} -> {ep.ip}:{ep.port}")


def _service(rs: Ruleset, state: NodeProxyState, sp: ServicePortState) -> None:
    svc, port, proto = sp.service, sp.port, sp.proto
    ready = sp.ready()
    local = sp.local(state.node)
    cluster_chain = f"service-{sp.id}"
    ext_chain = f"external-{sp.id}"
    local_chain = f"local-{sp.id}"
    vip_key = f"{svc.cluster_ip} . {proto} . {port.port}"
    external = svc.type in ("NodePort", "LoadBalancer")
    lb_key = f"{svc.load_balancer_ip} . {proto} . {port.port}" if svc.load_balancer_ip else ""

    if not ready:
        rs.element("no-endpoint-services", f"{vip_key} : goto reject-chain")
        if lb_key:
            rs.element("no-endpoint-services", f"{lb_key} : goto reject-chain")
        if external:
            rs.element("no-endpoint-nodeports", f"{proto} . {port.node_port} : goto reject-chain")
        return
    for ep in ready:
        _endpoint(rs, sp, ep)

    # Cluster-wide chain; sources outside the pod CIDR are masqueraded so that
    # replies come back through this node.
    rs.add(cluster_chain, f"ip daddr {svc.cluster_ip} {proto} dport {port.port} "
           f"ip saddr != {state.pod_cidr} jump mark-for-masquerade",
           f"{sp.label} cluster IP from outside the pod network")
    _balance(rs, cluster_chain, sp, ready)
    if local:
        _balance(rs, local_chain, sp, local)

    if svc.internal_traffic_policy == "Local":
        target = f"goto {local_chain}" if local else "drop"
    else:
        target = f"goto {cluster_chain}"
    rs.element("service-ips", f"{vip_key} : {target}")

    if not external:
        return
    if svc.external_traffic_policy == "Local":
        rs.add(ext_chain, f"ip saddr {state.pod_cidr} goto {cluster_chain}",
               f"{sp.label}: pods may use any endpoint")
        rs.add(ext_chain, "fib saddr type local jump mark-for-masquerade",
               f"{sp.label}: masquerade node-local traffic")
        rs.add(ext_chain, f"fib saddr type local goto {cluster_chain}",
               f"{sp.label}: node-local traffic may use any endpoint")
        if local:
            rs.add(ext_chain, f"goto {local_chain}",
                   f"{sp.label}: Local policy keeps the client IP")
        else:
            rs.add(ext_chain, "drop", f"{sp.label}: Local policy, no endpoint on this node")
    else:
        rs.add(ext_chain, "jump mark-for-masquerade", f"{sp.label}: Cluster policy masquerades")
        rs.add(ext_chain, f"goto {cluster_chain}", f"{sp.label}")
    rs.element("service-nodeports", f"{proto} . {port.node_port} : goto {ext_chain}")
    if lb_key:
        rs.element("service-ips", f"{lb_key} : goto {ext_chain}")


def build(state: NodeProxyState) -> Ruleset:
    rs = Ruleset()
    for name in BASE_CHAINS:
        rs.chains.setdefault(name, [])
    _static(rs, state)
    for sp in sorted(state.ports, key=lambda s: s.id):
        if sp.service.proxied:
            _service(rs, state, sp)
    return rs


def render(state: NodeProxyState, previous: Ruleset | None = None,
           fresh: bool = False) -> tuple[str, Ruleset]:
    """The ``nft -f`` text for ``state``, and the ruleset to pass next time.

    ``fresh`` starts from scratch (first sync: delete whatever an earlier run
    left).  Otherwise ``previous``, what the last transaction applied, makes
    the sync partial, as kube-proxy's is: chains whose rules did not change
    are not touched, map elements are added and deleted one by one, and
    chains no longer wanted are deleted.  The kernel's cost of a transaction
    grows with what it touches, so one new Service among thousands costs
    about one Service's worth.
    """
    rs = build(state)
    partial = previous is not None and not fresh
    old_chains = previous.chains if partial else {}
    old_elements = previous.elements if partial else {}
    add_table = f'add table {FAMILY} {TABLE} {{ comment "k8snet kproxy, node {state.node}"; }}'
    out = [add_table]
    if fresh:
        out += [f"delete table {FAMILY} {TABLE}", add_table]
    for name, spec in BASE_CHAINS.items():
        out.append(f"add chain {FAMILY} {TABLE} {name} {{ {spec} }}")
    changed = [name for name, rules in rs.chains.items() if old_chains.get(name) != rules]
    for name in changed:
        if name not in BASE_CHAINS and name not in old_chains:
            out.append(f"add chain {FAMILY} {TABLE} {name}")
    for name, spec in MAPS.items():
        out.append(f"add map {FAMILY} {TABLE} {name} {{ {spec} }}")
    for name, timeout in rs.affinity_sets.items():
        out.append(f"add set {FAMILY} {TABLE} {name} {{ type ipv4_addr; "
                   f"flags dynamic,timeout; timeout {timeout}s; }}")
    for name in changed:
        out.append(f"flush chain {FAMILY} {TABLE} {name}")
    if not partial:
        out += [f"flush map {FAMILY} {TABLE} {name}" for name in MAPS]
    for name in changed:
        for rule in rs.chains[name]:
            out.append(f"add rule {FAMILY} {TABLE} {name} {rule}")
    for name in MAPS:
        # Element by element: "KEY : VERDICT"; a changed verdict is a delete and an add.
        old = set(old_elements.get(name, []))
        new = rs.elements.get(name, [])
        gone = sorted(e.split(" : ")[0] for e in old - set(new))
        added = [e for e in new if e not in old]
        if gone:
            out.append(f"delete element {FAMILY} {TABLE} {name} {{ {', '.join(gone)} }}")
        if added:
            out.append(f"add element {FAMILY} {TABLE} {name} {{ {', '.join(added)} }}")
    if partial:
        stale = [name for name in previous.chains if name not in rs.chains]
        # Stale chains may jump to each other: empty them all, then delete.
        out += [f"flush chain {FAMILY} {TABLE} {name}" for name in stale]
        out += [f"delete chain {FAMILY} {TABLE} {name}" for name in stale]
        for name in previous.affinity_sets:
            if name not in rs.affinity_sets:
                out.append(f"delete set {FAMILY} {TABLE} {name}")
    return "\n".join(out) + "\n", rs


def cleanup() -> str:
    """Remove everything kproxy owns in nftables, and nothing else."""
    return (f"add table {FAMILY} {TABLE}\n"
            f"delete table {FAMILY} {TABLE}\n")
