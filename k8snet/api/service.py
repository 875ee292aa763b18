"""The typed view of a Service that kproxy's renderers and the kubelet's
environment take (``convert.service_from`` makes it from the stored object).

Shaped after the Kubernetes Service API: ports with name, protocol, port,
targetPort (number or container-port name) and nodePort; types ClusterIP,
NodePort, LoadBalancer, ExternalName; headless (clusterIP None);
sessionAffinity ClientIP with a timeout; external/internal traffic policy.
Validation and allocation live in the API server (``apiserver/registry.py``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

NODEPORT_RANGE = (30000, 32767)
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
