"""Render a node's full proxy state as one ``iptables-restore --noflush`` input.

Modelled on kube-proxy's iptables mode: KPROXY-SERVICES matches each service
IP and port in turn (so lookup cost grows with the number of services, which
the benchmarks show), ``statistic --mode random`` picks an endpoint, ``recent``
keeps ClientIP affinity.  Declaring a chain in the input flushes it, so one
restore replaces all of kproxy's chains at once; stale chains are deleted in
the same transaction.  Jumps from the built-in chains are ensured separately
(``jump_rules``), as kube-proxy does, so no built-in chain is ever flushed.
"""
from __future__ import annotations

import base64
import hashlib

from kproxy.state import NodeProxyState, ServicePortState, endpoint_id

MASQ_MARK = "0x4000/0x4000"
DROP_MARK = "0x8000/0x8000"
NAT_STATIC = ["KPROXY-SERVICES", "KPROXY-NODEPORTS", "KPROXY-POSTROUTING",
              "KPROXY-MARK-MASQ", "KPROXY-MARK-DROP", "KPROXY-EGRESS"]
FILTER_STATIC = ["KPROXY-SERVICES", "KPROXY-EXTERNAL-SERVICES", "KPROXY-FIREWALL"]

# (table, built-in chain, kproxy chain) jumps installed once per node.
JUMPS = [
    ("nat", "PREROUTING", "KPROXY-SERVICES"),
    ("nat", "OUTPUT", "KPROXY-SERVICES"),
    ("nat", "POSTROUTING", "KPROXY-POSTROUTING"),
    ("filter", "INPUT", "KPROXY-EXTERNAL-SERVICES"),
    ("filter", "INPUT", "KPROXY-SERVICES"),
    ("filter", "FORWARD", "KPROXY-SERVICES"),
    ("filter", "OUTPUT", "KPROXY-SERVICES"),
    ("filter", "FORWARD", "KPROXY-FIREWALL"),
    ("filter", "INPUT", "KPROXY-FIREWALL"),
    ("filter", "OUTPUT", "KPROXY-FIREWALL"),
]


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def chain(prefix: str, key: str) -> str:
    """``KPROXY-SVC-<16 base32>``: within iptables' 28-character limit."""
    return f"KPROXY-{prefix}-{_hash(key)}"


def _c(text: str) -> str:
    return f'-m comment --comment "{text}"'


def _balance(rules: list[str], name: str, sp: ServicePortState, endpoints: list) -> None:
    if sp.service.session_affinity == "ClientIP":
        for ep in endpoints:
            sep = chain("SEP", endpoint_id(sp, ep))
            rules.append(f"-A {name} {_c(sp.label + ' -> ' + f'{ep.ip}:{ep.port} (affinity)')} "
                         f"-m recent --name {sep} --mask 255.255.255.255 --rsource "
                         f"--rcheck --seconds {sp.service.affinity_timeout} --reap -j {sep}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        sep = chain("SEP", endpoint_id(sp, ep))
        comment = _c(f"{sp.label} -> {ep.ip}:{ep.port}")
        if i < n - 1:
            rules.append(f"-A {name} {comment} -m statistic --mode random "
                         f"--probability {1.0 / (n - i):.10f} -j {sep}")
        else:
            rules.append(f"-A {name} {comment} -j {sep}")


def render(state: NodeProxyState, previous: set[str] | None = None) -> tuple[str, set[str]]:
    """The restore text, and the set of chains to pass as ``previous`` next time."""
    nat_chains = list(NAT_STATIC)
    filter_rules: list[str] = []
    nat_rules: list[str] = []
    services, nodeports = [], []
    pod, svc_cidr = state.pod_cidr, state.service_cidr

    nat_rules += [
        f"-A KPROXY-MARK-MASQ {_c('mark for SNAT in postrouting')} -j MARK --or-mark 0x4000",
        f"-A KPROXY-MARK-DROP {_c('mark for drop in filter')} -j MARK --or-mark 0x8000",
        f"-A KPROXY-POSTROUTING {_c('unmarked: only egress SNAT applies')} "
        f"-m mark ! --mark {MASQ_MARK} -j KPROXY-EGRESS",
        f"-A KPROXY-POSTROUTING -m mark ! --mark {MASQ_MARK} -j RETURN",
        f"-A KPROXY-POSTROUTING {_c('clear the mark')} -j MARK --xor-mark 0x4000",
        f"-A KPROXY-POSTROUTING {_c('service SNAT (hairpin, Cluster policy)')} "
        "-j MASQUERADE --random-fully",
        f"-A KPROXY-EGRESS {_c('pod to pod keeps pod IPs')} -d {pod} -j RETURN",
        f"-A KPROXY-EGRESS {_c('pod to service keeps pod IPs')} -d {svc_cidr} -j RETURN",
        f"-A KPROXY-EGRESS {_c('pod traffic leaving the cluster: SNAT to the node IP')} "
        f"-s {pod} -j MASQUERADE --random-fully",
    ]
    filter_rules.append(f"-A KPROXY-FIREWALL {_c('Local policy without a local endpoint')} "
                        f"-m mark --mark {DROP_MARK} -j DROP")

    for sp in sorted(state.ports, key=lambda s: s.id):
        svc, port, proto = sp.service, sp.port, sp.proto
        if not svc.proxied:
            continue
        ready, local = sp.ready(), sp.local(state.node)
        external = svc.type in ("NodePort", "LoadBalancer")
        match = f"-p {proto} -m {proto} --dport {port.port}"
        if not ready:
            filter_rules.append(f"-A KPROXY-SERVICES {_c(sp.label + ' has no endpoints')} "
                                f"-d {svc.cluster_ip}/32 {match} -j REJECT")
            if svc.load_balancer_ip:
                filter_rules.append(f"-A KPROXY-SERVICES {_c(sp.label + ' has no endpoints')} "
                                    f"-d {svc.load_balancer_ip}/32 {match} -j REJECT")
            if external:
                filter_rules.append(
                    f"-A KPROXY-EXTERNAL-SERVICES {_c(sp.label + ' has no endpoints')} "
                    f"-m addrtype --dst-type LOCAL -p {proto} -m {proto} "
                    f"--dport {port.node_port} -j REJECT")
            continue
        svc_chain = chain("SVC", sp.id)
        ext_chain = chain("EXT", sp.id)
        local_chain = chain("SVL", sp.id)
        nat_chains.append(svc_chain)
        for ep in ready:
            sep = chain("SEP", endpoint_id(sp, ep))
            nat_chains.append(sep)
            nat_rules.append(f"-A {sep} {_c(sp.label + ': hairpin')} -s {ep.ip}/32 "
                             "-j KPROXY-MARK-MASQ")
            recent = (f"-m recent --name {sep} --mask 255.255.255.255 --rsource --set "
                      if svc.session_affinity == "ClientIP" else "")
            nat_rules.append(f"-A {sep} {_c(f'{sp.label} -> {ep.ip}:{ep.port}')} -p {proto} "
                             f"-m {proto} {recent}-j DNAT --to-destination {ep.ip}:{ep.port}")
        nat_rules.append(f"-A {svc_chain} {_c(sp.label + ' cluster IP from outside the pods')} "
                         f"! -s {pod} -d {svc.cluster_ip}/32 {match} -j KPROXY-MARK-MASQ")
        _balance(nat_rules, svc_chain, sp, ready)
        if local:
            nat_chains.append(local_chain)
            _balance(nat_rules, local_chain, sp, local)
        if svc.internal_traffic_policy == "Local":
            target = local_chain if local else "KPROXY-MARK-DROP"
        else:
            target = svc_chain
        services.append(f"-A KPROXY-SERVICES {_c(sp.label + ' cluster IP')} "
                        f"-d {svc.cluster_ip}/32 {match} -j {target}")
        if not external:
            continue
        nat_chains.append(ext_chain)
        if svc.external_traffic_policy == "Local":
            nat_rules += [
                f"-A {ext_chain} {_c('pods may use any endpoint')} -s {pod} -j {svc_chain}",
                f"-A {ext_chain} {_c('masquerade node-local traffic')} "
                "-m addrtype --src-type LOCAL -j KPROXY-MARK-MASQ",
                f"-A {ext_chain} {_c('node-local traffic may use any endpoint')} "
                f"-m addrtype --src-type LOCAL -j {svc_chain}",
                (f"-A {ext_chain} {_c('Local policy keeps the client IP')} -j {local_chain}"
                 if local else
                 f"-A {ext_chain} {_c('Local policy, no endpoint on this node')} "
                 "-j KPROXY-MARK-DROP"),
            ]
        else:
            nat_rules += [
                f"-A {ext_chain} {_c('Cluster policy masquerades')} -j KPROXY-MARK-MASQ",
                f"-A {ext_chain} {_c(sp.label)} -j {svc_chain}",
            ]
        nodeports.append(f"-A KPROXY-NODEPORTS {_c(sp.label + ' node port')} "
                         f"-p {proto} -m {proto} --dport {port.node_port} -j {ext_chain}")
        if svc.load_balancer_ip:
            services.append(f"-A KPROXY-SERVICES {_c(sp.label + ' load balancer IP')} "
                            f"-d {svc.load_balancer_ip}/32 {match} -j {ext_chain}")
    services.append(f"-A KPROXY-SERVICES {_c('node ports on local addresses; keep last')} "
                    "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j KPROXY-NODEPORTS")

    wanted = set(nat_chains)
    stale = sorted((previous or set()) - wanted)
    lines = ["*nat"]
    lines += [f":{name} - [0:0]" for name in nat_chains]
    lines += [f":{name} - [0:0]" for name in stale]  # flush before delete
    lines += services + nodeports + nat_rules
    lines += [f"-X {name}" for name in stale]
    lines.append("COMMIT")
    lines.append("*filter")
    lines += [f":{name} - [0:0]" for name in FILTER_STATIC]
    lines += filter_rules
    lines.append("COMMIT")
    return "\n".join(lines) + "\n", wanted


def jump_rules() -> list[list[str]]:
    """``iptables`` argument lists for the jumps from built-in chains."""
    return [["-t", table, builtin, "-m", "comment", "--comment", "kproxy", "-j", target]
            for table, builtin, target in JUMPS]


def cleanup_script(chains_present: list[str]) -> str:
    """Flush then delete every KPROXY chain given (after the jumps are removed)."""
    nat = [c for c in chains_present if c.startswith("nat:")]
    flt = [c for c in chains_present if c.startswith("filter:")]
    out = []
    for table, names in (("nat", nat), ("filter", flt)):
        names = [n.split(":", 1)[1] for n in names]
        out.append(f"*{table}")
        out += [f":{n} - [0:0]" for n in names]
        out += [f"-X {n}" for n in names]
        out.append("COMMIT")
    return "\n".join(out) + "\n"
