"""Baseline paths, built fresh in the same run as the cluster paths they anchor.

Each baseline is two namespaces (``k8snet-bench-*``, so ``make clean`` finds
them) joined by a raw veth pair, a plain Linux bridge, or a bare OVS netdev
bridge (NORMAL action, same datapath and userspace TSO as the fabric), or
bare OVS with a topology's switch layout (``perf.fabric_layout``: the same
bridges and patch links, as many polled ports, the rest idle in
``k8snet-bench-idle``); plus a bare namespace's loopback for the
containers-sharing-localhost path.  MTU
1500 and the kernel's default veth offloads, as the pods get.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial

from k8snet.cluster import ovs_rx
from k8snet.cluster.cleanup import our_bridges
from k8snet.perf import fabric_layout

NS_A, NS_B, NS_BR = "k8snet-bench-a", "k8snet-bench-b", "k8snet-bench-br"
NS_IDLE = "k8snet-bench-idle"
OVS_BR = "k8sbench0"
OVS_PORTS = ("k8sbench-a", "k8sbench-b")
FABRIC_BR, FABRIC_PORT = "k8sbf-", "k8sbfp"  # layout baselines' bridges, root port ends
BENCH_TAG = "bench"   # external-ids:k8snet-cluster of every baseline bridge
IP_A, IP_B = "10.250.0.1", "10.250.0.2"
MTU = 1500


@dataclass(frozen=True)
class Pair:
    """Where a baseline's client and server run, and the server's address."""

    client_ns: str
    server_ns: str
    server_ip: str


def sh(cmd: str) -> None:
    res = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise RuntimeError(f"{cmd}: {res.stderr.strip() or 'failed'}")


def _quiet(cmd: str) -> None:
    subprocess.run(cmd, shell=True, capture_output=True, timeout=30)


def leftovers() -> list[str]:
    """What a baseline may have left: namespaces, the OVS bridge, root links."""
    found = []
    for ns in (NS_A, NS_B, NS_BR, NS_IDLE):
        if subprocess.run(["ip", "netns", "pids", ns], capture_output=True).returncode == 0:
            found.append(f"netns {ns}")
    found += [f"ovs bridge {br}" for br in our_bridges(BENCH_TAG)]
    found += [f"link {port}" for port in _our_links()]
    return found


def _our_links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                         text=True).stdout.splitlines()
    names = [line.split(": ")[1].split("@")[0] for line in out if ": " in line]
    return [n for n in names if n in OVS_PORTS or n.startswith(FABRIC_PORT)]


def teardown() -> None:
    """Remove every baseline object; safe to run when nothing exists."""
    for ns in (NS_A, NS_B, NS_BR, NS_IDLE):
        _quiet(f"ip netns delete {ns}")
    for br in our_bridges(BENCH_TAG):
        _quiet(f"ovs-vsctl --timeout=5 --if-exists del-br {br}")
    for port in _our_links():
        _quiet(f"ip link delete {port}")


def _endpoints() -> None:
    sh(f"ip netns add {NS_A}; ip netns add {NS_B}")
    for ns in (NS_A, NS_B):
        sh(f"ip -n {ns} link set lo up")


def _address() -> None:
    for ns, ip in ((NS_A, IP_A), (NS_B, IP_B)):
        sh(f"ip -n {ns} link set eth0 mtu {MTU}; ip -n {ns} addr add {ip}/24 dev eth0; "
           f"ip -n {ns} link set eth0 up")


@contextmanager
def veth_pair() -> Iterator[Pair]:
    teardown()
    try:
        _endpoints()
        sh(f"ip -n {NS_A} link add eth0 type veth peer name eth0 netns {NS_B}")
        _address()
        yield Pair(NS_A, NS_B, IP_B)
    finally:
        teardown()


@contextmanager
def linux_bridge() -> Iterator[Pair]:
    teardown()
    try:
        _endpoints()
        sh(f"ip netns add {NS_BR}; ip -n {NS_BR} link add br0 type bridge; "
           f"ip -n {NS_BR} link set br0 up")
        for ns, port in ((NS_A, "pa"), (NS_B, "pb")):
            sh(f"ip -n {NS_BR} link add {port} type veth peer name eth0 netns {ns}; "
               f"ip -n {NS_BR} link set {port} master br0 up")
        _address()
        yield Pair(NS_A, NS_B, IP_B)
    finally:
        teardown()


def _as_the_cluster(ports) -> None:
    """The switch's receive buffers on the baseline's ports, as the cluster's
    get them (k8snet.cluster.ovs_rx): both sides compared like for like."""
    tuned = ovs_rx.tune(ports)
    if tuned.skipped:
        print(f"baseline: {tuned.describe()}", file=sys.stderr)


@contextmanager
def ovs_bridge() -> Iterator[Pair]:
    teardown()
    try:
        _endpoints()
        sh(f"ovs-vsctl --timeout=10 add-br {OVS_BR} -- set bridge {OVS_BR} "
           f"datapath_type=netdev fail_mode=standalone external-ids:k8snet-cluster={BENCH_TAG}")
        for ns, port in zip((NS_A, NS_B), OVS_PORTS, strict=True):
            sh(f"ip link add {port} type veth peer name eth0 netns {ns}; "
               f"ip link set {port} up; ovs-vsctl --timeout=10 add-port {OVS_BR} {port}")
        _address()
        _as_the_cluster(OVS_PORTS)
        yield Pair(NS_A, NS_B, IP_B)
    finally:
        teardown()


@contextmanager
def ovs_fabric(topo: str) -> Iterator[Pair]:
    """Bare OVS in the layout of built-in topology ``topo`` (``single``,
    ``leafspine``): one netdev bridge per switch, standalone (NORMAL), the
    loop-free patch links, a veth per host port; the client's and server's at
    the first and last node's switch, the others idle.  Measures what the
    switch process costs for the fabric's shape, with nothing of k8snet in it."""
    from k8snet.perf import cluster_spec
    shape = fabric_layout.layout(cluster_spec.load(topo))
    teardown()
    try:
        _endpoints()
        sh(f"ip netns add {NS_IDLE}")
        bridge = {s: f"{FABRIC_BR}{s}"[:15] for s in shape.switches}
        if len(set(bridge.values())) != len(bridge):
            raise RuntimeError(f"topology {topo}: switch names clash when cut to 15 "
                               f"characters: {', '.join(shape.switches)}")
        for br in bridge.values():
            sh(f"ovs-vsctl --timeout=10 add-br {br} -- set bridge {br} datapath_type=netdev "
               f"fail_mode=standalone external-ids:k8snet-cluster={BENCH_TAG}")
        for i, (a, b) in enumerate(shape.patches):
            pa, pb = f"{FABRIC_PORT}{i}x", f"{FABRIC_PORT}{i}y"
            sh(f"ovs-vsctl --timeout=10 add-port {bridge[a]} {pa} -- set interface {pa} "
               f"type=patch options:peer={pb} -- add-port {bridge[b]} {pb} -- "
               f"set interface {pb} type=patch options:peer={pa}")
        ends = iter(((shape.client, NS_A), (shape.server, NS_B)))
        want = next(ends)
        for i, (_host, switch) in enumerate(shape.ports):
            port = f"{FABRIC_PORT}{i}"
            if want and switch == want[0]:
                peer_ns, want = want[1], next(ends, None)
                sh(f"ip link add {port} type veth peer name eth0 netns {peer_ns}")
            else:
                sh(f"ip link add {port} type veth peer name p{i} netns {NS_IDLE}; "
                   f"ip -n {NS_IDLE} link set p{i} up")
            sh(f"ip link set {port} up; ovs-vsctl --timeout=10 add-port {bridge[switch]} {port}")
        if want is not None:
            raise RuntimeError(f"topology {topo}: no port for the baseline's {want[1]}")
        _address()
        _as_the_cluster(f"{FABRIC_PORT}{i}" for i in range(len(shape.ports)))
        yield Pair(NS_A, NS_B, IP_B)
    finally:
        teardown()


@contextmanager
def loopback() -> Iterator[Pair]:
    teardown()
    try:
        sh(f"ip netns add {NS_A}; ip -n {NS_A} link set lo up")
        yield Pair(NS_A, NS_A, "127.0.0.1")
    finally:
        teardown()


@dataclass(frozen=True)
class Baseline:
    id: str
    title: str
    build: Callable[[], AbstractContextManager[Pair]]
    kinds: tuple[str, ...] | None = None  # None: every kind; else only these


BASELINES = {b.id: b for b in (
    Baseline("veth", "raw veth pair", veth_pair),
    Baseline("linux-bridge", "2 netns on a Linux bridge", linux_bridge),
    Baseline("ovs-netdev", "2 netns on a bare OVS netdev bridge", ovs_bridge),
    Baseline("ovs-fabric-single", "bare OVS in the single fabric's layout (1 bridge, "
             "4 ports)", partial(ovs_fabric, "single"), ("tcp1",)),
    Baseline("ovs-fabric-leafspine", "bare OVS in the leafspine fabric's layout "
             "(4 bridges, 5 ports)", partial(ovs_fabric, "leafspine"), ("tcp1",)),
    Baseline("loopback", "loopback in a bare netns", loopback),
)}
