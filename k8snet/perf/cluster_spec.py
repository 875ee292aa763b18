"""The clusters the suite measures: a topology file's fabric, with perf pods.

The topology's own pods, services and ingress are replaced by a small fixed
set, so every path has a known client, server and node: ``perf-client`` and
``perf-peer`` on the first node, ``perf-server`` on the last (in leafspine,
another leaf), and one Service of each kind in front of ``perf-server``.
Servers are started per measurement, so the pods only idle.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from k8snet.api.model import ClusterSpec, Container, Pod
from k8snet.api.service import Service, ServicePort
from k8snet.load import topofile

IPERF_PORT = 5201
CONNECT_PORT = 5301
NODE_PORT_IPERF, NODE_PORT_CONNECT = 30201, 30301
SHAPED_TOPO = Path(__file__).resolve().parents[2] / "topologies" / "perf-shaped.yaml"

CLIENT, PEER, SERVER = "perf-client", "perf-peer", "perf-server"
SVC_CLUSTER_IP, SVC_NODE_PORT = "perf-cip", "perf-np"
SVC_LB_CLUSTER, SVC_LB_LOCAL = "perf-lb-cluster", "perf-lb-local"


def _idle(name: str) -> Container:
    return Container(name, command=("sleep", "infinity"))


def _ports(node_ports: bool) -> tuple[ServicePort, ...]:
    iperf_np = NODE_PORT_IPERF if node_ports else 0
    connect_np = NODE_PORT_CONNECT if node_ports else 0
    return (ServicePort(IPERF_PORT, IPERF_PORT, "TCP", "iperf", iperf_np),
            ServicePort(IPERF_PORT, IPERF_PORT, "UDP", "iperf-udp", iperf_np),
            ServicePort(CONNECT_PORT, CONNECT_PORT, "TCP", "connect", connect_np))


def perf_services() -> tuple[Service, ...]:
    selector = (("app", SERVER),)
    return (
        Service(SVC_CLUSTER_IP, selector=selector, ports=_ports(False)),
        Service(SVC_NODE_PORT, type="NodePort", selector=selector, ports=_ports(True)),
        Service(SVC_LB_CLUSTER, type="LoadBalancer", selector=selector, ports=_ports(False)),
        Service(SVC_LB_LOCAL, type="LoadBalancer", selector=selector, ports=_ports(False),
                external_traffic_policy="Local"),
    )


def perf_spec(base: ClusterSpec, name: str) -> ClusterSpec:
    """``base``'s fabric, nodes, address plan and link shaping; the perf workload."""
    first, last = base.nodes[0].name, base.nodes[-1].name
    pods = (
        Pod(CLIENT, node_name=first, labels=(("app", CLIENT),),
            containers=(_idle("app"), _idle("sidecar"))),
        Pod(PEER, node_name=first, labels=(("app", PEER),), containers=(_idle("app"),)),
        Pod(SERVER, node_name=last, labels=(("app", SERVER),), containers=(_idle("app"),)),
    )
    return replace(base, name=name[:20], pods=pods, services=perf_services(), ingresses=())


def load(topo: str) -> ClusterSpec:
    """``single``, ``leafspine``, ``shaped`` (topologies/perf-shaped.yaml) or a file."""
    source = str(SHAPED_TOPO) if topo == "shaped" else topo
    base = topofile.load(source)
    return perf_spec(base, f"perf-{Path(base.name).name}"[:20])
