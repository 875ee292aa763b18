"""Baseline paths for iperf3 ratios, built fresh in the same run.

Each baseline is two namespaces (``k8snet-bench-*``, so ``make clean`` finds
them) joined by: a raw veth pair, a plain Linux bridge, or a bare OVS netdev
bridge with the NORMAL action and the same userspace-TSO settings as the
fabric.  Same MTU (1500) and default offloads as the pods.
"""
from __future__ import annotations

import subprocess
from contextlib import contextmanager

NS_A, NS_B, NS_BR = "k8snet-bench-a", "k8snet-bench-b", "k8snet-bench-br"
OVS_BR = "k8sbench0"
IP_A, IP_B = "10.250.0.1", "10.250.0.2"


def sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True, capture_output=True)


def _quiet(cmd: str) -> None:
    subprocess.run(cmd, shell=True, capture_output=True)


def teardown() -> None:
    for ns in (NS_A, NS_B, NS_BR):
        _quiet(f"ip netns delete {ns}")
    _quiet(f"ovs-vsctl --if-exists del-br {OVS_BR}")
    _quiet("ip link delete k8sbench-a; ip link delete k8sbench-b")


def _endpoints() -> None:
    sh(f"ip netns add {NS_A}; ip netns add {NS_B}")
    for ns in (NS_A, NS_B):
        sh(f"ip -n {ns} link set lo up")


def _address() -> None:
    sh(f"ip -n {NS_A} addr add {IP_A}/24 dev eth0; ip -n {NS_A} link set eth0 up")
    sh(f"ip -n {NS_B} addr add {IP_B}/24 dev eth0; ip -n {NS_B} link set eth0 up")


@contextmanager
def veth_pair():
    teardown()
    try:
        _endpoints()
        sh(f"ip -n {NS_A} link add eth0 type veth peer name eth0 netns {NS_B}")
        _address()
        yield NS_A, NS_B, IP_B
    finally:
        teardown()


@contextmanager
def linux_bridge():
    teardown()
    try:
        _endpoints()
        sh(f"ip netns add {NS_BR}; ip -n {NS_BR} link add br0 type bridge; "
           f"ip -n {NS_BR} link set br0 up")
        for ns, port in ((NS_A, "pa"), (NS_B, "pb")):
            sh(f"ip -n {NS_BR} link add {port} type veth peer name eth0 netns {ns}; "
               f"ip -n {NS_BR} link set {port} master br0 up")
        _address()
        yield NS_A, NS_B, IP_B
    finally:
        teardown()


@contextmanager
def ovs_bridge():
    teardown()
    try:
        _endpoints()
        sh(f"ovs-vsctl add-br {OVS_BR} -- set bridge {OVS_BR} datapath_type=netdev "
           f"fail_mode=standalone external-ids:k8snet-cluster=bench")
        for ns, port in ((NS_A, "k8sbench-a"), (NS_B, "k8sbench-b")):
            sh(f"ip link add {port} type veth peer name eth0 netns {ns}; "
               f"ip link set {port} up; ovs-vsctl add-port {OVS_BR} {port}")
        _address()
        yield NS_A, NS_B, IP_B
    finally:
        teardown()
