"""What one node's proxy must implement: the input to every renderer.

Pure data, built by the orchestrator from services and endpoints, so the
renderers and the packet tracers are tested without a kernel.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from k8snet.api.service import Service, ServicePort


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    node: str
    pod: str = ""
    ready: bool = True


@dataclass(frozen=True)
class ServicePortState:
    """One service port and its endpoints: kube-proxy's ServicePortName."""

    service: Service
    port: ServicePort
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def proto(self) -> str:
        return self.port.protocol.lower()

    @property
    def label(self) -> str:
        """``ns/name:port-name`` as kube-proxy prints it, for comments."""
        suffix = f":{self.port.name}" if self.port.name else ""
        return f"{self.service.namespace}/{self.service.name}{suffix}"

    @property
    def id(self) -> str:
        """A stable short chain suffix: hash plus readable name."""
        raw = f"{self.service.namespace}/{self.service.name}/{self.proto}/{self.port.port}"
        digest = hashlib.sha256(raw.encode()).hexdigest()[:8].upper()
        return f"{digest}-{raw}"

    def ready(self) -> list[Endpoint]:
        return [e for e in self.endpoints if e.ready]

    def local(self, node: str) -> list[Endpoint]:
        return [e for e in self.ready() if e.node == node]


@dataclass(frozen=True)
class NodeProxyState:
    node: str
    node_ip: str
    pod_cidr: str          # the whole cluster's pod CIDR
    service_cidr: str
    ports: tuple[ServicePortState, ...] = field(default=())


def endpoint_id(sp: ServicePortState, ep: Endpoint) -> str:
    raw = f"{sp.id}/{ep.ip}:{ep.port}"
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8].upper()
    return f"{digest}-{sp.service.namespace}/{sp.service.name}/{sp.proto}/{ep.ip}/{ep.port}"


def external_ips(svc: Service) -> list[str]:
    """``spec.externalIPs`` that kproxy captures, in order, each once.

    kube-proxy (``svcInfo.ExternalIPs()``, both proxiers) sends traffic to
    an external IP and a Service port to the Service's external chain, as
    for a LoadBalancer IP; an address that already is the ClusterIP or the
    LoadBalancer IP of this Service is left to that (one key, one element).
    """
    taken = {svc.cluster_ip, svc.load_balancer_ip}
    out: list[str] = []
    for ip in svc.external_ips:
        if ip and ip not in taken:
            taken.add(ip)
            out.append(ip)
    return out
