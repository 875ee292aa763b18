"""A test fixture: hands out ClusterIPs, NodePorts and LB IPs for typed
Services, so kproxy's renderer tests can build a cluster's worth of
services without the API server.  (The API server allocates from stored
Services in k8snet/apiserver/registry.py.)"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

from k8snet.api.service import Service, ServicePort
from k8snet.errors import K8snetError

NODEPORT_RANGE = (30000, 32767)
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


class ServiceError(K8snetError):
    pass


def _fail(svc: str, what: str) -> ServiceError:
    return ServiceError(f'Service "{svc}" is invalid: {what}')


def validate(svc: Service) -> None:
    """The API server's checks that matter here, with its wording."""
    if not DNS1035_LABEL.match(svc.name) or len(svc.name) > 63:
        raise _fail(svc.name, "metadata.name: must be a DNS-1035 label")
    if svc.type not in TYPES:
        raise _fail(svc.name, f'spec.type: Unsupported value: "{svc.type}"')
    if svc.type == "ExternalName":
        if not svc.external_name:
            raise _fail(svc.name, "spec.externalName: Required value")
        return
    if not svc.ports and not svc.headless:
        raise _fail(svc.name, "spec.ports: Required value")
    seen_names, seen_ports = set(), set()
    for i, port in enumerate(svc.ports):
        where = f"spec.ports[{i}]"
        if not 1 <= port.port <= 65535:
            raise _fail(svc.name, f"{where}.port: Invalid value: {port.port}")
        if port.protocol not in ("TCP", "UDP"):
            raise _fail(svc.name, f'{where}.protocol: Unsupported value: "{port.protocol}"')
        if len(svc.ports) > 1 and not port.name:
            raise _fail(svc.name, f"{where}.name: Required value")
        if port.name in seen_names and port.name:
            raise _fail(svc.name, f'{where}.name: Duplicate value: "{port.name}"')
        if (port.port, port.protocol) in seen_ports:
            raise _fail(svc.name, f"{where}: Duplicate value: {port.port}/{port.protocol}")
        seen_names.add(port.name)
        seen_ports.add((port.port, port.protocol))
        if isinstance(port.target_port, int) and not 0 <= port.target_port <= 65535:
            raise _fail(svc.name, f"{where}.targetPort: Invalid value: {port.target_port}")
        if port.node_port:
            if svc.type not in ("NodePort", "LoadBalancer"):
                raise _fail(svc.name, f"{where}.nodePort: Forbidden: may not be used "
                            "when `type` is 'ClusterIP'")
            lo, hi = NODEPORT_RANGE
            if not lo <= port.node_port <= hi:
                raise _fail(svc.name, f"{where}.nodePort: Invalid value: {port.node_port}: "
                            f"provided port is not in the valid range. The range of valid "
                            f"ports is {lo}-{hi}")
    if svc.session_affinity not in ("None", "ClientIP"):
        raise _fail(svc.name, f'spec.sessionAffinity: Unsupported value: "{svc.session_affinity}"')
    if not 0 < svc.affinity_timeout <= 86400:
        raise _fail(svc.name, "spec.sessionAffinityConfig.clientIP.timeoutSeconds: "
                    "must be in the range 1-86400")
    for field, value in (("externalTrafficPolicy", svc.external_traffic_policy),
                         ("internalTrafficPolicy", svc.internal_traffic_policy)):
        if value not in ("Cluster", "Local"):
            raise _fail(svc.name, f'spec.{field}: Unsupported value: "{value}"')
    if svc.external_traffic_policy == "Local" and svc.type == "ClusterIP" \
            and not svc.external_ips:
        raise _fail(svc.name, "spec.externalTrafficPolicy: Invalid value: may only be set "
                    "for externally-accessible services")


class Allocator:
    """ClusterIPs, NodePorts and LoadBalancer IPs, each never handed out twice."""

    def __init__(self, service_cidr: str, lb_pool: str) -> None:
        self.service_net = ipaddress.ip_network(service_cidr)
        self.lb_net = ipaddress.ip_network(lb_pool)
        self.cluster_ips: dict[str, str] = {}
        self.node_ports: dict[tuple[int, str], str] = {}
        self.lb_ips: dict[str, str] = {}

    def copy(self) -> Allocator:
        clone = Allocator(str(self.service_net), str(self.lb_net))
        clone.cluster_ips = dict(self.cluster_ips)
        clone.node_ports = dict(self.node_ports)
        clone.lb_ips = dict(self.lb_ips)
        return clone

    def _cluster_ip(self, svc: Service) -> str:
        if svc.cluster_ip:
            try:
                ip = ipaddress.ip_address(svc.cluster_ip)
            except ValueError:
                raise _fail(svc.name, f'spec.clusterIP: Invalid value: "{svc.cluster_ip}"') \
                    from None
            if ip not in self.service_net:
                raise _fail(svc.name, f'spec.clusterIP: Invalid value: "{ip}": provided IP '
                            f"is not in the valid range. The range of valid IPs is "
                            f"{self.service_net}")
            if str(ip) in self.cluster_ips:
                raise _fail(svc.name, f'spec.clusterIP: Invalid value: "{ip}": provided IP '
                            "is already allocated")
            return str(ip)
        # Like the API server, the lower part of the range is kept for static IPs:
        # dynamic allocation starts above .0.10 so kubernetes/kube-dns fit below.
        start = int(self.service_net.network_address) + 16
        end = int(self.service_net.broadcast_address)
        for value in range(start, end):
            ip = str(ipaddress.ip_address(value))
            if ip not in self.cluster_ips:
                return ip
        raise _fail(svc.name, f"spec.clusterIP: service CIDR {self.service_net} is exhausted")

    def _node_port(self, svc: Service, port: ServicePort) -> int:
        key = lambda n: (n, port.protocol)  # noqa: E731
        if port.node_port:
            if key(port.node_port) in self.node_ports:
                raise _fail(svc.name, f"spec.ports[].nodePort: Invalid value: "
                            f"{port.node_port}: provided port is already allocated")
            return port.node_port
        lo, hi = NODEPORT_RANGE
        for n in range(lo, hi + 1):
            if key(n) not in self.node_ports:
                return n
        raise _fail(svc.name, "spec.ports[].nodePort: no free node port")

    def allocate(self, svc: Service) -> Service:
        """Return ``svc`` with its addresses filled in and record them."""
        validate(svc)
        if not svc.proxied:
            return svc
        cluster_ip = self._cluster_ip(svc)
        ports = []
        taken: list[tuple[int, str]] = []
        for port in svc.ports:
            if svc.type in ("NodePort", "LoadBalancer"):
                node_port = self._node_port(svc, port)
                if (node_port, port.protocol) in taken:
                    raise _fail(svc.name, f"spec.ports[].nodePort: Duplicate value: {node_port}")
                taken.append((node_port, port.protocol))
                self.node_ports[(node_port, port.protocol)] = svc.key
                port = replace(port, node_port=node_port)
            ports.append(port)
        self.cluster_ips[cluster_ip] = svc.key
        lb_ip = ""
        if svc.type == "LoadBalancer":
            lb_ip = next((str(ip) for ip in self.lb_net.hosts()
                          if str(ip) not in self.lb_ips), "")
            if lb_ip:
                self.lb_ips[lb_ip] = svc.key
        return replace(svc, cluster_ip=cluster_ip, ports=tuple(ports), load_balancer_ip=lb_ip)

    def release(self, svc: Service) -> None:
        for table in (self.cluster_ips, self.node_ports, self.lb_ips):
            for key in [k for k, owner in table.items() if owner == svc.key]:
                del table[key]


