"""Where each path's client and server run in a live cluster, and to which address.

``route(cluster, path_id)`` maps a path of ``perf.paths`` onto the pods,
nodes, ``ext`` and Services of ``perf.cluster_spec``.  The no-SNAT reference
turns egress masquerade off on the client's node for its measurements only
and proves it from ``ext``'s side (``/clientip``), then has that node's kproxy
sync in full.  Pods, nodes and Services are read from the API store.
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

from k8snet import naming
from k8snet.perf import cluster_spec as cs
from k8snet.perf.measure import in_ns
from k8snet.perf.workload import lb_ip

EXT_IPERF_PORT, EXT_CONNECT_PORT = 5202, 5302  # ext already serves iperf3 on 5201


@dataclass
class Route:
    client_ns: str
    server_ns: str
    ip: str
    iperf_port: int = cs.IPERF_PORT
    connect_port: int = cs.CONNECT_PORT
    server_iperf_port: int = cs.IPERF_PORT
    server_connect_port: int = cs.CONNECT_PORT
    ping_ip: str | None = None
    describe: str = ""
    context: Callable[[], AbstractContextManager[str]] = field(default=lambda: nullcontext(""))


def _ext_ns(cluster) -> str:
    return naming.node_netns(cluster.spec.name, "ext")


def _node_ns(cluster, node: str) -> str:
    return naming.node_netns(cluster.spec.name, node)


@dataclass(frozen=True)
class PerfPod:
    """Where a perf pod runs: its node, IP and network namespace."""

    name: str
    node: str
    ip: str
    netns: str


def perf_pod(cluster, name: str) -> PerfPod:
    obj = cluster.store.get("Pod", cs.NAMESPACE, name)
    ip = (obj.get("status") or {}).get("podIP", "")
    if not ip:
        raise RuntimeError(f"pod {name} has no IP")
    return PerfPod(name, (obj.get("spec") or {}).get("nodeName", ""), ip,
                   cluster.pods.runtime(obj).netns)


def cluster_ip(cluster, service: str) -> str:
    return (cluster.store.get("Service", cs.NAMESPACE, service).get("spec") or {}) \
        .get("clusterIP", "")


def client_ip_seen_by_ext(cluster, client_ns: str) -> str:
    """The source address ext's netexec saw for a request from ``client_ns``."""
    url = f"http://{cluster.spec.network.ext_ip}/clientip"
    res = subprocess.run(in_ns(client_ns, ["curl", "-s", "--max-time", "3", url]),
                         capture_output=True, text=True, timeout=10)
    return res.stdout.strip().rsplit(":", 1)[0]


def resync(agent, timeout: float = 30.0) -> None:
    """One full (not partial) sync of a node's kproxy, so a chain changed
    behind its back is rewritten; returns once it ran."""
    before = agent.syncs
    agent.proxier.previous = None      # the next sync starts from scratch
    for key in agent.initial_keys():   # its one key: the whole node
        agent.enqueue(key)
    deadline = time.monotonic() + timeout
    while agent.syncs <= before:
        if time.monotonic() > deadline:
            raise RuntimeError(f"kproxy on {agent.node} did not resync within {timeout:g} s")
        time.sleep(0.02)


@contextmanager
def snat_off(cluster, node: str, client_ns: str, client_ip: str) -> Iterator[str]:
    """Egress masquerade off on ``node`` while inside; a full kproxy sync on the way out
    puts it back (checked from ext's side)."""
    argv = (["nft", "flush", "chain", "ip", "kproxy", "egress"]
            if cluster.proxy_mode == "nftables"
            else ["iptables", "-w", "-t", "nat", "-F", "KPROXY-EGRESS"])
    try:
        subprocess.run(in_ns(_node_ns(cluster, node), argv), check=True,
                       capture_output=True, timeout=10)
        seen = client_ip_seen_by_ext(cluster, client_ns)
        if seen != client_ip:
            raise RuntimeError(f"SNAT still on: ext saw {seen or 'nothing'}, "
                               f"not the pod IP {client_ip}")
        yield f"ext saw the pod IP {seen}: no SNAT"
    finally:
        node_ip = cluster.spec.node(node).ip
        for _ in range(3):       # a sync already under way may have been partial
            resync(cluster.proxies[node])
            if client_ip_seen_by_ext(cluster, client_ns) == node_ip:
                break
        else:                    # never measure "with SNAT" without it
            raise RuntimeError(f"egress SNAT on {node} not back after 3 kproxy syncs")


@contextmanager
def snat_on(cluster, node_ip: str, client_ns: str) -> Iterator[str]:
    seen = client_ip_seen_by_ext(cluster, client_ns)
    if seen != node_ip:
        raise RuntimeError(f"egress SNAT not applied: ext saw {seen or 'nothing'}, "
                           f"not the node IP {node_ip}")
    yield f"ext saw the node IP {seen}: SNAT"


def route(cluster, path_id: str) -> Route:
    """The concrete route of ``path_id``; ``KeyError`` for a path this cluster lacks."""
    client, peer, server = (perf_pod(cluster, n) for n in (cs.CLIENT, cs.PEER, cs.SERVER))
    net = cluster.spec.network
    if path_id == "pod-pod-same-node":
        return Route(client.netns, peer.netns, peer.ip, ping_ip=peer.ip,
                     describe=f"{cs.CLIENT}@{client.node} → {cs.PEER}@{peer.node} {peer.ip}")
    if path_id == "node-pod":
        return Route(_node_ns(cluster, peer.node), peer.netns, peer.ip, ping_ip=peer.ip,
                     describe=f"{peer.node} → {cs.PEER} {peer.ip}")
    if path_id == "pod-localhost":
        return Route(client.netns, client.netns, "127.0.0.1", ping_ip="127.0.0.1",
                     describe=f"{cs.CLIENT}: 127.0.0.1 → 127.0.0.1")
    if path_id in ("pod-pod-cross-node", "pod-pod-cross-leaf", "pod-pod-shaped"):
        return Route(client.netns, server.netns, server.ip, ping_ip=server.ip,
                     describe=f"{cs.CLIENT}@{client.node} → {cs.SERVER}@{server.node} "
                              f"{server.ip}")
    if path_id == "pod-clusterip":
        ip = cluster_ip(cluster, cs.SVC_CLUSTER_IP)
        return Route(client.netns, server.netns, ip,
                     describe=f"{cs.CLIENT}@{client.node} → ClusterIP {ip} → "
                              f"{cs.SERVER}@{server.node}")
    if path_id == "ext-pod-direct":
        return Route(_ext_ns(cluster), server.netns, server.ip,
                     describe=f"ext → {cs.SERVER}@{server.node} {server.ip}")
    if path_id == "ext-nodeport":
        node_ip = cluster.spec.node(server.node).ip
        return Route(_ext_ns(cluster), server.netns, node_ip, cs.NODE_PORT_IPERF,
                     cs.NODE_PORT_CONNECT,
                     describe=f"ext → {server.node} {node_ip}:{cs.NODE_PORT_IPERF} → "
                              f"{cs.SERVER}")
    if path_id in ("ext-lb-cluster", "ext-lb-local"):
        name = cs.SVC_LB_CLUSTER if path_id == "ext-lb-cluster" else cs.SVC_LB_LOCAL
        ip = lb_ip(cluster.store.get("Service", cs.NAMESPACE, name))
        if not ip:
            raise RuntimeError(f"service {name} got no LoadBalancer IP")
        return Route(_ext_ns(cluster), server.netns, ip,
                     describe=f"ext → LB {ip} → {cs.SERVER}@{server.node}")
    if path_id in ("pod-ext-snat", "pod-ext-nosnat"):
        node = cluster.spec.node(client.node)
        if path_id == "pod-ext-snat":
            ctx = lambda: snat_on(cluster, node.ip, client.netns)  # noqa: E731
        else:
            ctx = lambda: snat_off(cluster, client.node, client.netns, client.ip)  # noqa: E731
        return Route(client.netns, _ext_ns(cluster), net.ext_ip, EXT_IPERF_PORT,
                     EXT_CONNECT_PORT, EXT_IPERF_PORT, EXT_CONNECT_PORT,
                     ping_ip=net.ext_ip if path_id == "pod-ext-snat" else None,
                     describe=f"{cs.CLIENT}@{client.node} → ext {net.ext_ip}", context=ctx)
    raise KeyError(path_id)
