"""Services at runtime: allocation, endpoints, kproxy syncs and LB routes.

Like kube-proxy, changes are only recorded; ``sync()`` recomputes the whole
desired state (endpoints, every node's ruleset, the fabric's VIP routes) and
applies it.  A bad service is refused before anything is recorded.
"""
from __future__ import annotations

import time
from dataclasses import replace

from controllers.fabric_state import Vip
from k8snet import naming
from k8snet.api.service import Allocator, Service, ServicePort
from k8snet.control.endpoints import PodView, endpoints_for
from k8snet.errors import K8snetError
from k8snet.node import discovery
from kproxy.apply import Proxier, flush_udp_conntrack, require_mode
from kproxy.state import Endpoint, NodeProxyState, ServicePortState


def keep_addresses(new: Service, old: Service) -> Service:
    """``new`` with ``old``'s ClusterIP and NodePorts where it sets none."""
    if new.proxied and old.proxied and not new.cluster_ip:
        new = replace(new, cluster_ip=old.cluster_ip)
    if new.type in ("NodePort", "LoadBalancer"):
        by_port = {(p.port, p.protocol): p.node_port for p in old.ports}
        new = replace(new, ports=tuple(
            p if p.node_port else replace(p, node_port=by_port.get((p.port, p.protocol), 0))
            for p in new.ports))
    return new


class ServiceManager:
    def __init__(self, cluster, mode: str = "nftables") -> None:
        require_mode(mode)
        self.cluster = cluster
        self.mode = mode
        net = cluster.spec.network
        self.allocator = Allocator(net.service_cidr, net.lb_pool)
        self.services: dict[str, Service] = {}
        self.declared: dict[str, Service] = {}      # as applied, before allocation
        self.created: dict[str, float] = {}
        self.endpoints: dict[str, dict[ServicePort, tuple[Endpoint, ...]]] = {}
        self.proxiers: dict[str, Proxier] = {}
        self.last_sync_ms: dict[str, float] = {}
        self.warnings: list[str] = []

    # --- nodes ---------------------------------------------------------------

    def add_node(self, name: str) -> None:
        self.proxiers[name] = Proxier(naming.node_netns(self.cluster.spec.name, name),
                                      self.mode)

    # --- services ----------------------------------------------------------

    def plan(self, services: list[Service],
             replacing: list[tuple[Service, Service]] = ()) -> list[Service]:
        """Allocate ``services`` (and the (old, new) ``replacing`` pairs) on a
        scratch copy: raises before anything changes."""
        scratch = self.allocator.copy()
        planned = []
        for old, new in replacing:
            scratch.release(old)
            planned.append(scratch.allocate(keep_addresses(new, old)))
        for svc in services:
            if svc.key in self.services or any(p.key == svc.key for p in planned):
                raise K8snetError(f'services "{svc.name}" already exists in namespace '
                                  f"{svc.namespace}")
            planned.append(scratch.allocate(svc))
        return planned

    def add(self, services: list[Service], sync: bool = True) -> list[Service]:
        with self.cluster.lock:
            planned = [self.allocator.allocate(svc) for svc in self.plan(services)]
            for declared, svc in zip(services, planned, strict=True):
                self.services[svc.key] = svc
                self.declared[svc.key] = declared
                self.created[svc.key] = time.time()
            if sync:
                self.sync()
        return planned

    def replace(self, new: Service, sync: bool = True) -> Service:
        """``kubectl apply`` of a changed Service: same ClusterIP and NodePorts
        where the new spec does not ask for others."""
        with self.cluster.lock:
            old = self.services[new.key]
            self.plan([], [(old, new)])
            self.allocator.release(old)
            svc = self.allocator.allocate(keep_addresses(new, old))
            self.services[svc.key] = svc
            self.declared[svc.key] = new
            if sync:
                self.sync()
        return svc

    def delete(self, name: str, namespace: str = "default", sync: bool = True) -> Service:
        with self.cluster.lock:
            svc = self.find(name, namespace)
            self.allocator.release(svc)
            del self.services[svc.key]
            self.declared.pop(svc.key, None)
            self.created.pop(svc.key, None)
            if sync:
                self.sync()
        return svc

    def find(self, name: str, namespace: str = "default") -> Service:
        key = name if "/" in name else f"{namespace}/{name}"
        if key not in self.services:
            raise K8snetError(f'services "{name}" not found')
        return self.services[key]

    # --- the sync loop -------------------------------------------------------

    def pod_views(self) -> list[PodView]:
        return [PodView(s.pod, s.ip, s.node, s.ready)
                for s in list(self.cluster.pods.values())]

    def node_state(self, node: str) -> NodeProxyState:
        net = self.cluster.spec.network
        ports = []
        for key in sorted(self.services):
            svc = self.services[key]
            for port in svc.ports:
                ports.append(ServicePortState(svc, port, self.endpoints.get(key, {}).get(port, ())))
        return NodeProxyState(node, self.cluster.nodes[node].ip, net.pod_cidr,
                              net.service_cidr, tuple(ports))

    def vips(self) -> tuple[Vip, ...]:
        """LB IPs for the fabric: every node, or with Local policy only nodes with an endpoint."""
        out = []
        for key in sorted(self.services):
            svc = self.services[key]
            if svc.type != "LoadBalancer" or not svc.load_balancer_ip:
                continue
            if svc.external_traffic_policy == "Local":
                nodes = sorted({ep.node for eps in self.endpoints.get(key, {}).values()
                                for ep in eps if ep.ready})
            else:
                nodes = sorted(self.cluster.nodes)
            out.append(Vip(svc.load_balancer_ip, tuple(nodes)))
        return tuple(out)

    def write_dns_snapshot(self) -> bool:
        """What the cluster DNS serves; it reloads the file within a second."""
        from k8snet.addons import system as addons

        if self.cluster.rundir is None:
            return False
        pods = [(s.pod, s.ip) for s in list(self.cluster.pods.values())]
        snapshot = discovery.dns_snapshot(self.services.values(), self.endpoints, pods,
                                          self.cluster.spec.network.cluster_domain)
        return discovery.write_snapshot(addons.snapshot_path(self.cluster), snapshot)

    def sync(self) -> dict[str, float]:
        with self.cluster.lock:
            return self._sync()

    def _sync(self) -> dict[str, float]:
        """Recompute endpoints, apply every node's full ruleset, update LB routes."""
        old = self.endpoints
        views = self.pod_views()
        self.endpoints, self.warnings = {}, []
        for key, svc in self.services.items():
            if svc.proxied or svc.headless:
                self.endpoints[key], warnings = endpoints_for(svc, views)
                self.warnings += warnings
        for node, proxier in self.proxiers.items():
            result = proxier.sync(self.node_state(node))
            self.last_sync_ms[node] = result.seconds * 1000
        self._flush_stale_udp(old)
        self.write_dns_snapshot()
        if self.cluster.controller is not None:
            self.cluster.controller.set_state(self.cluster.fabric_state())
        return dict(self.last_sync_ms)

    def _flush_stale_udp(self, old: dict) -> None:
        gone = set()
        for key, ports in old.items():
            for port, eps in ports.items():
                if port.protocol != "UDP":
                    continue
                now = {(e.ip, e.port) for e in self.endpoints.get(key, {}).get(port, ())
                       if e.ready}
                gone |= {(e.ip, e.port) for e in eps if e.ready and (e.ip, e.port) not in now}
        for ip, port in sorted(gone):
            for proxier in self.proxiers.values():
                flush_udp_conntrack(proxier.netns, ip, port)

    def cleanup(self) -> None:
        for proxier in self.proxiers.values():
            proxier.cleanup()
