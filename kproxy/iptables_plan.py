"""What each part of kproxy's iptables rules holds: pure, per Service port.

Modelled on kube-proxy's iptables mode (pkg/proxy/iptables/proxier.go):
KPROXY-SERVICES matches each service IP and port in turn (so lookup cost
grows with the number of services, which the benchmarks show), ``statistic
--mode random`` picks an endpoint, ``recent`` keeps ClientIP affinity.
``fragment(ctx, sp)`` gives one Service port's chains (KPROXY-SVC-, -SVL-,
-EXT-, -SEP-) and its rules in the chains every port shares
(KPROXY-SERVICES, KPROXY-NODEPORTS and the filter table's reject chains).
LoadBalancer IPs and ``externalIPs`` go to the -EXT- chain, as node ports do.
``kproxy.iptables_sync`` adds them up into restores.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from kproxy.state import Endpoint, ServicePortState, endpoint_id, external_ips

MASQ_MARK = "0x4000/0x4000"
DROP_MARK = "0x8000/0x8000"
NAT_STATIC = ["KPROXY-SERVICES", "KPROXY-NODEPORTS", "KPROXY-POSTROUTING",
              "KPROXY-MARK-MASQ", "KPROXY-MARK-DROP", "KPROXY-EGRESS"]
FILTER_STATIC = ["KPROXY-SERVICES", "KPROXY-EXTERNAL-SERVICES", "KPROXY-FIREWALL"]
# Chains that hold one rule per Service port: (table, chain).
SERVICES = ("nat", "KPROXY-SERVICES")
NODEPORTS = ("nat", "KPROXY-NODEPORTS")
REJECTS = ("filter", "KPROXY-SERVICES")
EXTERNAL_REJECTS = ("filter", "KPROXY-EXTERNAL-SERVICES")
LIST_CHAINS = (SERVICES, NODEPORTS, REJECTS, EXTERNAL_REJECTS)

ListRule = tuple[tuple[str, str], str]    # ((table, chain), the rule after "-A CHAIN ")


@dataclass(frozen=True)
class Context:
    pod_cidr: str          # the whole cluster's pod CIDR
    service_cidr: str
    node: str


@dataclass(frozen=True)
class Fragment:
    """What one Service port adds: its own nat chains, and its rules in the
    chains every port shares."""

    chains: tuple[tuple[str, tuple[str, ...]], ...] = ()   # (name, "-A NAME ..." lines)
    lists: tuple[ListRule, ...] = ()


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def chain(prefix: str, key: str) -> str:
    """``KPROXY-SVC-<16 base32>``: within iptables' 28-character limit."""
    return f"KPROXY-{prefix}-{_hash(key)}"


def c(text: str) -> str:
    return f'-m comment --comment "{text}"'


def static_rules(ctx: Context) -> tuple[list[str], list[str]]:
    """(nat rules, filter rules) of the chains that exist whatever the Services;
    the rule that keeps KPROXY-SERVICES' last place is ``nodeports_rule()``."""
    pod, svc_cidr = ctx.pod_cidr, ctx.service_cidr
    nat = [
        f"-A KPROXY-MARK-MASQ {c('mark for SNAT in postrouting')} -j MARK --or-mark 0x4000",
        f"-A KPROXY-MARK-DROP {c('mark for drop in filter')} -j MARK --or-mark 0x8000",
        f"-A KPROXY-POSTROUTING {c('unmarked: only egress SNAT applies')} "
        f"-m mark ! --mark {MASQ_MARK} -j KPROXY-EGRESS",
        f"-A KPROXY-POSTROUTING -m mark ! --mark {MASQ_MARK} -j RETURN",
        f"-A KPROXY-POSTROUTING {c('clear the mark')} -j MARK --xor-mark 0x4000",
        f"-A KPROXY-POSTROUTING {c('service SNAT (hairpin, Cluster policy)')} "
        "-j MASQUERADE --random-fully",
        f"-A KPROXY-EGRESS {c('pod to pod keeps pod IPs')} -d {pod} -j RETURN",
        f"-A KPROXY-EGRESS {c('pod to service keeps pod IPs')} -d {svc_cidr} -j RETURN",
        f"-A KPROXY-EGRESS {c('pod traffic leaving the cluster: SNAT to the node IP')} "
        f"-s {pod} -j MASQUERADE --random-fully",
    ]
    flt = [f"-A KPROXY-FIREWALL {c('Local policy without a local endpoint')} "
           f"-m mark --mark {DROP_MARK} -j DROP"]
    return nat, flt


def nodeports_rule() -> str:
    """KPROXY-SERVICES' last rule: node ports on the node's own addresses."""
    return (f"{c('node ports on local addresses; keep last')} "
            "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j KPROXY-NODEPORTS")


def _balance(rules: list[str], name: str, sp: ServicePortState,
             endpoints: list[Endpoint]) -> None:
    if sp.service.session_affinity == "ClientIP":
        for ep in endpoints:
            sep = chain("SEP", endpoint_id(sp, ep))
            rules.append(f"-A {name} {c(sp.label + ' -> ' + f'{ep.ip}:{ep.port} (affinity)')} "
                         f"-m recent --name {sep} --mask 255.255.255.255 --rsource "
                         f"--rcheck --seconds {sp.service.affinity_timeout} --reap -j {sep}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        sep = chain("SEP", endpoint_id(sp, ep))
        comment = c(f"{sp.label} -> {ep.ip}:{ep.port}")
        if i < n - 1:
            rules.append(f"-A {name} {comment} -m statistic --mode random "
                         f"--probability {1.0 / (n - i):.10f} -j {sep}")
        else:
            rules.append(f"-A {name} {comment} -j {sep}")


def fragment(ctx: Context, sp: ServicePortState) -> Fragment:
    """Everything Service port ``sp`` adds to this node's iptables rules."""
    svc, port, proto = sp.service, sp.port, sp.proto
    ready, local = sp.ready(), sp.local(ctx.node)
    external = svc.type in ("NodePort", "LoadBalancer")
    match = f"-p {proto} -m {proto} --dport {port.port}"
    eips = external_ips(svc)
    if not ready:
        lists = [(REJECTS, f"{c(sp.label + ' has no endpoints')} -d {svc.cluster_ip}/32 "
                           f"{match} -j REJECT")]
        lists += [(REJECTS, f"{c(sp.label + ' has no endpoints')} -d {ip}/32 {match} -j REJECT")
                  for ip in ([svc.load_balancer_ip] if svc.load_balancer_ip else []) + eips]
        if external and port.node_port:
            lists.append((EXTERNAL_REJECTS, f"{c(sp.label + ' has no endpoints')} "
                                            f"-m addrtype --dst-type LOCAL -p {proto} -m {proto} "
                                            f"--dport {port.node_port} -j REJECT"))
        return Fragment((), tuple(lists))
    svc_chain, ext_chain, local_chain = chain("SVC", sp.id), chain("EXT", sp.id), \
        chain("SVL", sp.id)
    chains: list[tuple[str, tuple[str, ...]]] = []
    for ep in ready:
        sep = chain("SEP", endpoint_id(sp, ep))
        recent = (f"-m recent --name {sep} --mask 255.255.255.255 --rsource --set "
                  if svc.session_affinity == "ClientIP" else "")
        chains.append((sep, (
            f"-A {sep} {c(sp.label + ': hairpin')} -s {ep.ip}/32 -j KPROXY-MARK-MASQ",
            f"-A {sep} {c(f'{sp.label} -> {ep.ip}:{ep.port}')} -p {proto} "
            f"-m {proto} {recent}-j DNAT --to-destination {ep.ip}:{ep.port}")))
    rules = [f"-A {svc_chain} {c(sp.label + ' cluster IP from outside the pods')} "
             f"! -s {ctx.pod_cidr} -d {svc.cluster_ip}/32 {match} -j KPROXY-MARK-MASQ"]
    _balance(rules, svc_chain, sp, ready)
    chains.append((svc_chain, tuple(rules)))
    if local:
        rules = []
        _balance(rules, local_chain, sp, local)
        chains.append((local_chain, tuple(rules)))
    if svc.internal_traffic_policy == "Local":
        target = local_chain if local else "KPROXY-MARK-DROP"
    else:
        target = svc_chain
    lists = [(SERVICES, f"{c(sp.label + ' cluster IP')} -d {svc.cluster_ip}/32 {match} "
                        f"-j {target}")]
    if external or eips:
        if svc.external_traffic_policy == "Local":
            rules = [
                f"-A {ext_chain} {c('pods may use any endpoint')} -s {ctx.pod_cidr} "
                f"-j {svc_chain}",
                f"-A {ext_chain} {c('masquerade node-local traffic')} "
                "-m addrtype --src-type LOCAL -j KPROXY-MARK-MASQ",
                f"-A {ext_chain} {c('node-local traffic may use any endpoint')} "
                f"-m addrtype --src-type LOCAL -j {svc_chain}",
                (f"-A {ext_chain} {c('Local policy keeps the client IP')} -j {local_chain}"
                 if local else
                 f"-A {ext_chain} {c('Local policy, no endpoint on this node')} "
                 "-j KPROXY-MARK-DROP"),
            ]
        else:
            rules = [f"-A {ext_chain} {c('Cluster policy masquerades')} -j KPROXY-MARK-MASQ",
                     f"-A {ext_chain} {c(sp.label)} -j {svc_chain}"]
        chains.append((ext_chain, tuple(rules)))
    if external:
        if port.node_port:      # none for allocateLoadBalancerNodePorts: false
            lists.append((NODEPORTS, f"{c(sp.label + ' node port')} -p {proto} -m {proto} "
                                     f"--dport {port.node_port} -j {ext_chain}"))
        if svc.load_balancer_ip:
            lists.append((SERVICES, f"{c(sp.label + ' load balancer IP')} "
                                    f"-d {svc.load_balancer_ip}/32 {match} -j {ext_chain}"))
    # kube-proxy's "external IP" rules in KUBE-SERVICES: to the EXT chain.
    lists += [(SERVICES, f"{c(sp.label + ' external IP')} -d {ip}/32 {match} -j {ext_chain}")
              for ip in eips]
    return Fragment(tuple(chains), tuple(lists))
