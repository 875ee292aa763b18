"""Baseline paths, built fresh in the same run as the cluster paths they anchor.

Each baseline is two namespaces (``k8snet-bench-*``, so ``make clean`` finds
them) joined by a raw veth pair, a plain Linux bridge, or a bare OVS netdev
bridge (NORMAL action, same datapath and userspace TSO as the fabric); plus a
bare namespace's loopback for the containers-sharing-localhost path.  MTU
1500 and the kernel's default veth offloads, as the pods get.
"""
from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

NS_A, NS_B, NS_BR = "k8snet-bench-a", "k8snet-bench-b", "k8snet-bench-br"
OVS_BR = "k8sbench0"
OVS_PORTS = ("k8sbench-a", "k8sbench-b")
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
    for ns in (NS_A, NS_B, NS_BR):
        if subprocess.run(["ip", "netns", "pids", ns], capture_output=True).returncode == 0:
            found.append(f"netns {ns}")
    if subprocess.run(["ovs-vsctl", "--timeout=5", "br-exists", OVS_BR],
                      capture_output=True).returncode == 0:
        found.append(f"ovs bridge {OVS_BR}")
    for port in OVS_PORTS:
        if subprocess.run(["ip", "link", "show", port], capture_output=True).returncode == 0:
            found.append(f"link {port}")
    return found


def teardown() -> None:
    """Remove every baseline object; safe to run when nothing exists."""
    for ns in (NS_A, NS_B, NS_BR):
        _quiet(f"ip netns delete {ns}")
    _quiet(f"ovs-vsctl --timeout=5 --if-exists del-br {OVS_BR}")
    for port in OVS_PORTS:
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


@contextmanager
def ovs_bridge() -> Iterator[Pair]:
    teardown()
    try:
        _endpoints()
        sh(f"ovs-vsctl --timeout=10 add-br {OVS_BR} -- set bridge {OVS_BR} "
           f"datapath_type=netdev fail_mode=standalone external-ids:k8snet-cluster=bench")
        for ns, port in zip((NS_A, NS_B), OVS_PORTS, strict=True):
            sh(f"ip link add {port} type veth peer name eth0 netns {ns}; "
               f"ip link set {port} up; ovs-vsctl --timeout=10 add-port {OVS_BR} {port}")
        _address()
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


BASELINES = {b.id: b for b in (
    Baseline("veth", "raw veth pair", veth_pair),
    Baseline("linux-bridge", "2 netns on a Linux bridge", linux_bridge),
    Baseline("ovs-netdev", "2 netns on a bare OVS netdev bridge", ovs_bridge),
    Baseline("loopback", "loopback in a bare netns", loopback),
)}
