"""The typed view of a Service that kproxy's renderers and the kubelet's
environment take (``convert.service_from`` makes it from the stored object).

Shaped after the Kubernetes Service API: ports with name, protocol, port,
targetPort (number or container-port name) and nodePort; types ClusterIP,
NodePort, LoadBalancer, ExternalName; headless (clusterIP None);
sessionAffinity ClientIP with a timeout; external/internal traffic policy;
externalIPs.
Validation and allocation live in the API server (``apiserver/registry.py``);
the predicates at the end (``externally_accessible``, ``needs_health_check``...)
read a stored Service's ``spec`` dict, for the API server and its validation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

NODEPORT_RANGE = (30000, 32767)
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


@dataclass(frozen=True)
class ServicePort:
    port: int
    target_port: int | str = 0   # 0 means "same as port"
    protocol: str = "TCP"
    name: str = ""
    node_port: int = 0           # 0 means "allocate" for NodePort/LoadBalancer


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str = "default"
    type: str = "ClusterIP"
    selector: tuple[tuple[str, str], ...] = ()
    ports: tuple[ServicePort, ...] = ()
    cluster_ip: str = ""          # "" allocate, "None" headless
    session_affinity: str = "None"
    affinity_timeout: int = 10800
    external_traffic_policy: str = "Cluster"
    internal_traffic_policy: str = "Cluster"
    external_name: str = ""
    load_balancer_ip: str = ""    # allocated from the pool; "" while pending
    # spec.externalIPs: addresses the nodes accept as this Service's (any
    # type but ExternalName); traffic to them takes externalTrafficPolicy.
    external_ips: tuple[str, ...] = ()
    health_check_node_port: int = 0   # spec.healthCheckNodePort; 0 when it has none

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def headless(self) -> bool:
        return self.cluster_ip == "None"

    @property
    def proxied(self) -> bool:
        """kproxy programs it: not ExternalName, not headless."""
        return self.type != "ExternalName" and not self.headless


# --- the Service API's helpers on the stored (JSON) spec: pkg/api/service/util.go ---------


def service_type(spec: dict) -> object:
    """``spec.type``, ClusterIP when unset (as defaulting sets it)."""
    return spec.get("type") or "ClusterIP"


def externally_accessible(spec: dict) -> bool:
    """``ExternallyAccessible``: NodePort and LoadBalancer Services, and a
    ClusterIP Service with externalIPs (those take externalTrafficPolicy)."""
    svc_type = service_type(spec)
    return svc_type in NODE_PORT_TYPES or (svc_type == "ClusterIP"
                                           and bool(spec.get("externalIPs")))


def needs_node_ports(spec: dict) -> bool:
    """``needsNodePort`` (registry/core/service/strategy.go): NodePort or LoadBalancer."""
    return service_type(spec) in NODE_PORT_TYPES


def needs_health_check(spec: dict) -> bool:
    """``NeedsHealthCheck``: a LoadBalancer with ``externalTrafficPolicy: Local``
    gets a ``healthCheckNodePort`` for the load balancer to probe."""
    return service_type(spec) == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"
