"""The pod network plugin: namespace, veth into ``cni0``, address and route.

A thin apply layer over pyroute2.  The veth is created with its peer already
inside the pod namespace (moving it afterwards costs a second round trip),
and a failed ADD undoes itself, so it leaves nothing behind.
"""
from __future__ import annotations

import errno

from pyroute2 import NetlinkError

from k8snet.errors import K8snetError
from k8snet.node import netns


def netns_exists(name: str) -> bool:
    return netns.exists(name)


def add_pod(node_ns: str, pod_ns: str, veth: str, ip: str, prefixlen: int,
            gateway: str, bridge: str = "cni0") -> None:
    """Wire a new pod namespace ``pod_ns`` to ``bridge`` in ``node_ns``."""
    if netns.exists(pod_ns):
        raise K8snetError(f"network namespace {pod_ns} already exists")
    netns.create(pod_ns)
    try:
        with netns.iproute(node_ns) as ipr:
            found = ipr.link_lookup(ifname=bridge)
            if not found:
                raise K8snetError(f"{node_ns}: bridge {bridge} is missing")
            ipr.link("add", ifname=veth, kind="veth",
                     peer={"ifname": "eth0", "net_ns_fd": pod_ns})
            ipr.link("set", ifname=veth, master=found[0], state="up")
            # Hairpin: a pod calling its own Service is DNATed back to itself,
            # and br_netfilter bridges that packet out of the port it came in.
            ipr.brport("set", index=ipr.link_lookup(ifname=veth)[0], mode=1)
        # Ports below 1024 without a capability, as containerd sets for pods:
        # sandboxed containers run with none.
        netns.set_sysctl(pod_ns, "net/ipv4/ip_unprivileged_port_start", "0")
        with netns.iproute(pod_ns) as ipr:
            ipr.link("set", ifname="lo", state="up")
            eth0 = ipr.link_lookup(ifname="eth0")[0]
            ipr.addr("add", index=eth0, address=ip, prefixlen=prefixlen)
            ipr.link("set", index=eth0, state="up")
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway)
    except BaseException:
        delete_pod(node_ns, pod_ns, veth)
        raise


def delete_pod(node_ns: str, pod_ns: str, veth: str) -> None:
    """Remove a pod's veth and namespace; quiet about what is already gone."""
    if netns.exists(node_ns):
        try:
            with netns.iproute(node_ns) as ipr:
                found = ipr.link_lookup(ifname=veth)
                if found:
                    ipr.link("del", index=found[0])
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise
    netns.remove(pod_ns)
