"""What each part of kproxy's nftables table holds: pure, per Service port.

``fragment(ctx, sp)`` says what one Service port adds to the table: map and
set elements, the shared chains it sends packets to, and (only with
``sessionAffinity: ClientIP``) chains and sets of its own.  ``static_chains``
and ``shared_chain`` give the rules of the chains every Service shares.
``kproxy.nft_sync`` adds fragments up and diffs them into transactions.

Behaviour follows kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go)
and https://kubernetes.io/docs/reference/networking/virtual-ips/: ClusterIP,
NodePort, LoadBalancer and ``externalIPs``; ``internalTrafficPolicy`` and
``externalTrafficPolicy`` Local; sessionAffinity ClientIP with its timeout;
masquerade for traffic from outside the pod network and under Cluster
policy; hairpin masquerade; reject with no ready endpoint; reject to a
ClusterIP's undeclared ports and drop to unallocated service IPs
(``cluster-ips-check``); egress SNAT.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from kproxy.nft_names import (
    CLUSTER_IPS,
    CLUSTER_IPS_CHECK,
    EGRESS,
    ENDPOINT_INDEX,
    ENDPOINT_MAPS,
    ENDPOINTS_CHECK,
    HAIRPIN,
    KEYS,
    L4PROTOS,
    MARK_MASQ,
    MASQ_MARK,
    MASQUERADING,
    NO_ENDPOINT_NODEPORTS,
    NO_ENDPOINT_SERVICES,
    NODEPORT_ENDPOINTS_CHECK,
    REJECT_CHAIN,
    SERVICE_IPS,
    SERVICE_NODEPORTS,
    SERVICES,
    external_chain,
    pick_chain,
)
from kproxy.state import Endpoint, ServicePortState, endpoint_id, external_ips

Element = tuple[str, str, str, str]     # (map or set, key, value ("" in a set), comment)
SharedSpec = tuple                      # ("pick", policy, key, n) | ("external", key, n, m|None)


@dataclass(frozen=True)
class Context:
    """What every rule of a node depends on besides its Services."""

    node: str
    pod_cidr: str          # the whole cluster's pod CIDR
    service_cidr: str


@dataclass(frozen=True)
class Fragment:
    """What one Service port adds to the table."""

    elements: tuple[Element, ...] = ()
    shared: tuple[SharedSpec, ...] = ()                     # shared chains it uses
    chains: tuple[tuple[str, tuple[str, ...]], ...] = ()    # its own: (name, rules)
    sets: tuple[tuple[str, int], ...] = ()                  # its own: (name, timeout s)


def rule(text: str, comment: str = "") -> str:
    return f'{text} comment "{comment}"' if comment else text


# ------------------------------------------------------------- shared chains

def static_chains(ctx: Context) -> dict[str, list[str]]:
    """The rules of the chains that exist whatever the Services, by chain."""
    out: dict[str, list[str]] = {}

    def add(chain: str, text: str, comment: str = "") -> None:
        out.setdefault(chain, []).append(rule(text, comment))

    add("nat-prerouting", f"jump {SERVICES}", "service portals")
    add("nat-output", f"jump {SERVICES}", "service portals")
    add("nat-postrouting", f"jump {MASQUERADING}", "SNAT marked and egress traffic")
    for hook in ("filter-input", "filter-forward", "filter-output"):
        add(hook, f"ct state new jump {ENDPOINTS_CHECK}", "reject services with no endpoints")
    add("filter-input", f"ct state new jump {NODEPORT_ENDPOINTS_CHECK}",
        "reject node ports with no endpoints")
    add(ENDPOINTS_CHECK, f"ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}",
        "services with no endpoints")
    add(NODEPORT_ENDPOINTS_CHECK,
        f"fib daddr type local meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}",
        "node ports with no endpoints")
    add(REJECT_CHAIN, "reject", "no endpoints: ICMP port unreachable")
    # kube-proxy jumps here after DNAT, behind the endpoints check: from
    # filter-forward (routed packets: DNAT was in prerouting) and from
    # filter-output-post-dnat (the node's own, after nat-output).
    for hook in ("filter-forward", "filter-output-post-dnat"):
        add(hook, f"ct state new jump {CLUSTER_IPS_CHECK}",
            "reject undeclared ClusterIP ports, drop unallocated service IPs")
    add(CLUSTER_IPS_CHECK, f"ip daddr @{CLUSTER_IPS} reject",
        "Reject traffic to invalid ports of ClusterIPs")
    add(CLUSTER_IPS_CHECK, f"ip daddr {ctx.service_cidr} drop",
        "Drop traffic to unallocated ClusterIPs")
    add(SERVICES, f"ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}",
        "ClusterIP and LoadBalancer IP")
    add(SERVICES, "fib daddr type local ip daddr != 127.0.0.0/8 "
        f"meta l4proto . th dport vmap @{SERVICE_NODEPORTS}", "NodePort on node IPs")
    add(MARK_MASQ, f"meta mark set meta mark or {MASQ_MARK}", "mark for SNAT in postrouting")
    add(MASQUERADING, f"ct status dnat ip saddr . ip daddr @{HAIRPIN} jump {MARK_MASQ}",
        "hairpin: an endpoint reached itself through a Service")
    add(MASQUERADING, f"meta mark and {MASQ_MARK} == 0 jump {EGRESS}",
        "unmarked: only egress SNAT applies")
    add(MASQUERADING, f"meta mark and {MASQ_MARK} == 0 return")
    add(MASQUERADING, f"meta mark set meta mark xor {MASQ_MARK}", "clear the mark")
    add(MASQUERADING, "masquerade fully-random", "service SNAT (hairpin, Cluster policy)")
    add(EGRESS, f"ip saddr {ctx.pod_cidr} ip daddr != {{ {ctx.pod_cidr}, "
        f"{ctx.service_cidr} }} masquerade fully-random",
        "pod traffic leaving the cluster: SNAT to the node IP")
    return out


@functools.lru_cache(maxsize=4096)
def shared_chain(ctx: Context, spec: SharedSpec) -> tuple[str, tuple[str, ...]]:
    """(name, rules) of a shared chain.

    ``("pick", policy, key, n)``: DNAT to one of ``n`` endpoints, looked up
    by the packet's Service key and the index ``numgen random mod n`` drew
    into the conntrack mark (``kproxy.nft_names`` says why there).
    ``("external", key, n, m)``: traffic to an LB IP, external IP or node port; ``m`` is
    None under Cluster policy (masquerade, any endpoint), else the number of
    endpoints on this node under Local policy (the client IP is kept).
    """
    if spec[0] == "pick":
        _, policy, key, n = spec
        rules = []
        if (policy, key) == ("cluster", "ip"):
            rules.append(rule(f"ip saddr != {ctx.pod_cidr} jump {MARK_MASQ}",
                              "cluster IP from outside the pod network"))
        what = f"one of {n} ready endpoints" if policy == "cluster" else \
            f"one of {n} endpoints on this node"
        rules.append(rule(f"meta l4proto {L4PROTOS} {ENDPOINT_INDEX} set numgen random mod {n} "
                          f"dnat ip to {KEYS[key]} . {ENDPOINT_INDEX} "
                          f"map @{ENDPOINT_MAPS[(policy, key)]}", what))
        return pick_chain(policy, key, n), tuple(rules)
    _, key, n, m = spec
    cluster = pick_chain("cluster", key, n)
    if m is None:
        rules = [rule(f"jump {MARK_MASQ}", "Cluster policy masquerades"),
                 rule(f"goto {cluster}", "any ready endpoint")]
    else:
        rules = [rule(f"ip saddr {ctx.pod_cidr} goto {cluster}", "pods may use any endpoint"),
                 rule(f"fib saddr type local jump {MARK_MASQ}", "masquerade node-local traffic"),
                 rule(f"fib saddr type local goto {cluster}",
                      "node-local traffic may use any endpoint"),
                 rule(f"goto {pick_chain('local', key, m)}", "Local policy keeps the client IP")
                 if m else rule("drop", "Local policy, no endpoint on this node")]
    return external_chain(key, n, m), tuple(rules)


# ------------------------------------------------------------ one Service port

def fragment(ctx: Context, sp: ServicePortState) -> Fragment:
    """Everything Service port ``sp`` adds to this node's table."""
    svc, port, proto = sp.service, sp.port, sp.proto
    vip = f"{svc.cluster_ip} . {proto} . {port.port}"
    lb = f"{svc.load_balancer_ip} . {proto} . {port.port}" if svc.load_balancer_ip else ""
    eips = [f"{ip} . {proto} . {port.port}" for ip in external_ips(svc)]
    nodeport = f"{proto} . {port.node_port}"
    # a LoadBalancer with allocateLoadBalancerNodePorts false may have none
    external = svc.type in ("NodePort", "LoadBalancer") and bool(port.node_port)
    ready = sp.ready()
    # Every port of a Service claims its ClusterIP, with or without endpoints
    # (kube-proxy's "Capture the clusterIP"): the set holds it while one does.
    owner = (CLUSTER_IPS, svc.cluster_ip, "", "")
    if not ready:
        why = f"{sp.label} has no endpoints"
        els = [owner, (NO_ENDPOINT_SERVICES, vip, f"goto {REJECT_CHAIN}", why)]
        els += [(NO_ENDPOINT_SERVICES, addr, f"goto {REJECT_CHAIN}", why)
                for addr in ([lb] if lb else []) + eips]
        if external:
            els.append((NO_ENDPOINT_NODEPORTS, nodeport, f"goto {REJECT_CHAIN}", why))
        return Fragment(tuple(els))
    local = [e for e in ready if e.node == ctx.node]
    els = [owner, *((HAIRPIN, f"{e.ip} . {e.ip}", "", "") for e in ready)]  # hairpin: shared
    addrs = ([("ip", lb, SERVICE_IPS, f"{sp.label} load balancer IP")] if lb else []) + \
        [("ip", addr, SERVICE_IPS, f"{sp.label} external IP") for addr in eips] + \
        ([("nodeport", nodeport, SERVICE_NODEPORTS, f"{sp.label} node port")]
         if external else [])
    if svc.session_affinity == "ClientIP":
        return _sticky(ctx, sp, ready, local, els, vip, addrs)
    shared: dict[SharedSpec, None] = {}

    def pick(policy: str, key: str, eps: list[Endpoint], addr: str) -> str:
        shared[("pick", policy, key, len(eps))] = None
        name = ENDPOINT_MAPS[(policy, key)]
        els.extend((name, f"{addr} . {i}", f"{e.ip} . {e.port}", f"{sp.label} -> {e.ip}:{e.port}")
                   for i, e in enumerate(eps))
        return pick_chain(policy, key, len(eps))

    if svc.internal_traffic_policy == "Local":
        target = f"goto {pick('local', 'ip', local, vip)}" if local else "drop"
    else:
        target = f"goto {pick('cluster', 'ip', ready, vip)}"
    els.append((SERVICE_IPS, vip, target, f"{sp.label} cluster IP"))
    etp_local = svc.external_traffic_policy == "Local"
    for key, addr, dispatch, what in addrs:
        pick("cluster", key, ready, addr)
        if etp_local and local:
            pick("local", key, local, addr)
        spec = ("external", key, len(ready), len(local) if etp_local else None)
        shared[spec] = None
        els.append((dispatch, addr, f"goto {external_chain(*spec[1:])}", what))
    return Fragment(tuple(els), tuple(shared))


def _balance(sp: ServicePortState, endpoints: list[Endpoint]) -> list[str]:
    """Session affinity first, then a random pick among ``endpoints``."""
    out = [rule(f"ip saddr @affinity-{endpoint_id(sp, ep)} goto endpoint-{endpoint_id(sp, ep)}",
                f"{sp.label} -> {ep.ip}:{ep.port} (affinity)") for ep in endpoints]
    if len(endpoints) == 1:
        ep = endpoints[0]
        return out + [rule(f"goto endpoint-{endpoint_id(sp, ep)}",
                           f"{sp.label} -> {ep.ip}:{ep.port}")]
    choices = ", ".join(f"{i} : goto endpoint-{endpoint_id(sp, ep)}"
                        for i, ep in enumerate(endpoints))
    return out + [rule(f"numgen random mod {len(endpoints)} vmap {{ {choices} }}",
                       f"{sp.label}: random over {len(endpoints)} endpoints")]


def _sticky(ctx: Context, sp: ServicePortState, ready: list[Endpoint], local: list[Endpoint],
            els: list[Element], vip: str, addrs: list) -> Fragment:
    """sessionAffinity ClientIP: chains of the Service's own, kube-proxy's
    layout (a timed set per endpoint remembers its clients)."""
    svc, sid = sp.service, sp.id
    cluster, local_chain, ext = f"service-{sid}", f"local-{sid}", f"external-{sid}"
    chains: list[tuple[str, tuple[str, ...]]] = []
    sets = []
    for ep in ready:
        eid = endpoint_id(sp, ep)
        sets.append((f"affinity-{eid}", svc.affinity_timeout))
        chains.append((f"endpoint-{eid}", (
            rule(f"update @affinity-{eid} {{ ip saddr }}", f"{sp.label}: remember client"),
            rule(f"meta l4proto {sp.proto} dnat to {ep.ip}:{ep.port}",
                 f"{sp.label} -> {ep.ip}:{ep.port}"))))
    chains.append((cluster, (rule(f"ip saddr != {ctx.pod_cidr} jump {MARK_MASQ}",
                                  f"{sp.label} cluster IP from outside the pod network"),
                             *_balance(sp, ready))))
    if local:
        chains.append((local_chain, tuple(_balance(sp, local))))
    if svc.internal_traffic_policy == "Local":
        target = f"goto {local_chain}" if local else "drop"
    else:
        target = f"goto {cluster}"
    els.append((SERVICE_IPS, vip, target, f"{sp.label} cluster IP"))
    if addrs:
        if svc.external_traffic_policy == "Local":
            rules = (rule(f"ip saddr {ctx.pod_cidr} goto {cluster}",
                          f"{sp.label}: pods may use any endpoint"),
                     rule(f"fib saddr type local jump {MARK_MASQ}",
                          f"{sp.label}: masquerade node-local traffic"),
                     rule(f"fib saddr type local goto {cluster}",
                          f"{sp.label}: node-local traffic may use any endpoint"),
                     rule(f"goto {local_chain}", f"{sp.label}: Local policy keeps the client IP")
                     if local else
                     rule("drop", f"{sp.label}: Local policy, no endpoint on this node"))
        else:
            rules = (rule(f"jump {MARK_MASQ}", f"{sp.label}: Cluster policy masquerades"),
                     rule(f"goto {cluster}", sp.label))
        chains.append((ext, rules))
        els += [(dispatch, addr, f"goto {ext}", what) for _, addr, dispatch, what in addrs]
    return Fragment(tuple(els), (), tuple(chains), tuple(sets))
