"""Desired state of a cluster as frozen dataclasses.

Names follow the Kubernetes API (Pod, Container, ContainerPort) so that
manifests map onto them field for field.  Everything here is pure data: no
kernel, no Mininet.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    protocol: str = "TCP"
    name: str = ""


@dataclass(frozen=True)
class Container:
    name: str
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Probe:
    """A probe (readiness, liveness or startup): exactly one of httpGet,
    tcpSocket, exec, grpc.  Source: Probe in the core/v1 API reference."""

    handler: str                       # "httpGet" | "tcpSocket" | "exec" | "grpc"
    port: int | str = 0                # httpGet/tcpSocket: number or container-port name
    path: str = "/"                    # httpGet
    scheme: str = "HTTP"               # httpGet
    host: str = ""                     # httpGet/tcpSocket; "" means the pod IP
    command: tuple[str, ...] = ()      # exec
    headers: tuple[tuple[str, str], ...] = ()   # httpGet httpHeaders
    service: str = ""                  # grpc: the service name asked about
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3

    def resolved_port(self, container: Container) -> int | None:
        """The port number, looking a name up among ``container``'s ports."""
        if isinstance(self.port, int):
            return self.port
        return next((p.container_port for p in container.ports if p.name == self.port),
                    None)


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str = "default"
    node_name: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    containers: tuple[Container, ...] = ()
    hostname: str = ""            # StatefulSet pods: their stable DNS name
    subdomain: str = ""           # ... under this headless service
    enable_service_links: bool = True
    node_selector: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """``namespace/name``: unique within a cluster, as in the API server."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Node:
    """A Kubernetes node: one Mininet host with its own pod CIDR."""

    name: str
    index: int
    ip: str
    pod_cidr: str
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def pod_gateway(self) -> str:
        """The pods' gateway (``pod_gateway_of``)."""
        return pod_gateway_of(self.pod_cidr)


def pod_gateway_of(pod_cidr: str) -> str:
    """The first address of a node's pod CIDR (``10.244.1.0/24`` ->
    ``10.244.1.1``): the pods' gateway, held by the node end of each pod's
    veth (k8snet.node.cni).  ValueError for a malformed CIDR."""
    return str(ipaddress.ip_network(pod_cidr, strict=False)[1])


@dataclass(frozen=True)
class NetworkPlan:
    """The address plan; defaults follow kind and kubeadm with flannel."""

    node_cidr: str = "172.18.0.0/24"
    fabric_gateway: str = "172.18.0.1"
    gateway_router: str = "172.18.0.2"
    pod_cidr: str = "10.244.0.0/16"
    node_cidr_mask_size: int = 24
    service_cidr: str = "10.96.0.0/12"
    lb_pool: str = "198.51.100.0/24"
    external_cidr: str = "203.0.113.0/24"
    ext_ip: str = "203.0.113.10"
    ext_dns_ip: str = "203.0.113.53"
    cluster_domain: str = "cluster.local"


@dataclass(frozen=True)
class LinkParams:
    """Shaping for node links (Mininet TCLink over HTB)."""

    bw: float | None = None  # Mbit/s
    delay: str | None = None
    loss: float | None = None


@dataclass(frozen=True)
class Fabric:
    """Switch layout: ``single`` (one top-of-rack) or ``leafspine``."""

    kind: str = "single"
    spines: int = 0
    leaves: int = 1


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    fabric: Fabric
    network: NetworkPlan
    nodes: tuple[Node, ...]
    link: LinkParams = field(default_factory=LinkParams)
    source: str = ""

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)
