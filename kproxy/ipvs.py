"""Render a node's proxy state for IPVS mode, as ``ipvsadm -R`` input.

IPVS needs CONFIG_IP_VS, which this kernel lacks, so k8snet renders and
unit-tests this mode but refuses to apply it (``kproxy.apply.require_mode``).
Like kube-proxy's ipvs mode, each ClusterIP, LB IP and node port is a virtual
server with round robin (``rr``) over its ready endpoints, masquerading
forwarding (``-m``), and ``-p TIMEOUT`` for ClientIP affinity.  Egress SNAT
and the masquerade marks would still come from iptables, as in kube-proxy.
"""
from __future__ import annotations

from kproxy.state import NodeProxyState


def _virtual(proto: str, addr: str, timeout: int | None) -> str:
    flag = "-t" if proto == "tcp" else "-u"
    persist = f" -p {timeout}" if timeout else ""
    return f"-A {flag} {addr} -s rr{persist}"


def render(state: NodeProxyState) -> str:
    lines = []
    for sp in sorted(state.ports, key=lambda s: s.id):
        svc, port = sp.service, sp.port
        if not svc.proxied:
            continue
        timeout = svc.affinity_timeout if svc.session_affinity == "ClientIP" else None
        flag = "-t" if sp.proto == "tcp" else "-u"
        addrs = [(f"{svc.cluster_ip}:{port.port}", svc.internal_traffic_policy)]
        if svc.load_balancer_ip:
            addrs.append((f"{svc.load_balancer_ip}:{port.port}", svc.external_traffic_policy))
        if svc.type in ("NodePort", "LoadBalancer"):
            addrs.append((f"{state.node_ip}:{port.node_port}", svc.external_traffic_policy))
        for addr, policy in addrs:
            lines.append(_virtual(sp.proto, addr, timeout))
            endpoints = sp.local(state.node) if policy == "Local" else sp.ready()
            for ep in endpoints:
                lines.append(f"-a {flag} {addr} -r {ep.ip}:{ep.port} -m -w 1")
    return "\n".join(lines) + ("\n" if lines else "")
