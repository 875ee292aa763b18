"""The clusters the suite measures: a topology file's network, and the perf workload.

A topology is the network only; the workload is a small fixed set of API
objects, so every path has a known client, server and node: ``perf-client``
(two containers) and ``perf-peer`` on the first node, ``perf-server`` on the
last (in leafspine, another leaf), all pinned with ``spec.nodeName``, and one
Service of each kind in front of ``perf-server``.  Servers are started per
measurement, so the pods only idle.  ``deploy`` creates them and waits until
the pods are Ready, every Service lists the server as a ready endpoint, the
LoadBalancer IPs are assigned, and every node's kproxy and the fabric have
synced past that.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from k8snet.api.model import ClusterSpec
from k8snet.load import topofile
from k8snet.perf import workload

IPERF_PORT = 5201
CONNECT_PORT = 5301
NODE_PORT_IPERF, NODE_PORT_CONNECT = 30201, 30301
SHAPED_TOPO = Path(__file__).resolve().parents[2] / "topologies" / "perf-shaped.yaml"
NAMESPACE = "default"
DEPLOY_TIMEOUT = 60.0

CLIENT, PEER, SERVER = "perf-client", "perf-peer", "perf-server"
SVC_CLUSTER_IP, SVC_NODE_PORT = "perf-cip", "perf-np"
SVC_LB_CLUSTER, SVC_LB_LOCAL = "perf-lb-cluster", "perf-lb-local"
SERVICES = (SVC_CLUSTER_IP, SVC_NODE_PORT, SVC_LB_CLUSTER, SVC_LB_LOCAL)


def _ports(node_ports: bool) -> list[dict]:
    def port(name: str, number: int, protocol: str, node_port: int) -> dict:
        out = {"name": name, "port": number, "targetPort": number, "protocol": protocol}
        if node_ports:
            out["nodePort"] = node_port
        return out
    return [port("iperf", IPERF_PORT, "TCP", NODE_PORT_IPERF),
            port("iperf-udp", IPERF_PORT, "UDP", NODE_PORT_IPERF),
            port("connect", CONNECT_PORT, "TCP", NODE_PORT_CONNECT)]


def _service(name: str, type_: str = "ClusterIP", local: bool = False) -> dict:
    spec = {"type": type_, "selector": {"app": SERVER},
            "ports": _ports(type_ == "NodePort")}
    if local:
        spec["externalTrafficPolicy"] = "Local"
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def perf_services() -> list[dict]:
    return [_service(SVC_CLUSTER_IP), _service(SVC_NODE_PORT, "NodePort"),
            _service(SVC_LB_CLUSTER, "LoadBalancer"),
            _service(SVC_LB_LOCAL, "LoadBalancer", local=True)]


def perf_objects(spec: ClusterSpec) -> list[dict]:
    """The perf workload for ``spec``'s nodes: three pinned pods, four Services."""
    first, last = spec.nodes[0].name, spec.nodes[-1].name
    idle = workload.IDLE
    return [workload.pod(CLIENT, first, containers=(("app", idle), ("sidecar", idle))),
            workload.pod(PEER, first),
            workload.pod(SERVER, last),
            *perf_services()]


def perf_spec(base: ClusterSpec, name: str) -> ClusterSpec:
    """``base``'s fabric, nodes, address plan and link shaping, named ``name``."""
    return replace(base, name=name[:20])


def load(topo: str) -> ClusterSpec:
    """``single``, ``leafspine``, ``shaped`` (topologies/perf-shaped.yaml) or a file."""
    source = str(SHAPED_TOPO) if topo == "shaped" else topo
    base = topofile.load(source)
    return perf_spec(base, f"perf-{Path(base.name).name}"[:20])


def deploy(cluster, timeout: float = DEPLOY_TIMEOUT) -> float:
    """Create the perf workload in ``cluster`` and wait until it can be measured;
    the seconds it took."""
    t0 = time.perf_counter()
    synced = workload.Synced(cluster.store, [*cluster.proxies.values(),
                                             *fabric_agents(cluster)])
    workload.create_all(cluster.store, perf_objects(cluster.spec))
    store = cluster.store
    pods = [(NAMESPACE, n) for n in (CLIENT, PEER, SERVER)]
    workload.wait_for(lambda: workload.not_ready(store, pods), timeout, "perf pods Ready")
    want = {(NAMESPACE, s): 1 for s in SERVICES}
    workload.wait_for(lambda: workload.endpoint_gaps(store, want), timeout,
                      "perf Services' endpoints")
    workload.wait_for(lambda: [s for s in (SVC_LB_CLUSTER, SVC_LB_LOCAL)
                               if not workload.lb_ip(store.get("Service", NAMESPACE, s))],
                      timeout, "LoadBalancer IPs")
    synced.wait(timeout)
    return time.perf_counter() - t0


def fabric_agents(cluster) -> list:
    """The add-ons that program the fabric (LoadBalancer IP routes)."""
    from k8snet.cluster.fabric_agent import FabricAgent

    return [c for c in cluster.controllers if isinstance(c, FabricAgent)]
