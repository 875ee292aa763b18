"""The pod network plugin: namespace, veth into ``cni0``, address and route.

A thin apply layer over pyroute2.  The veth is created with its peer already
inside the pod namespace (moving it afterwards costs a second round trip),
and every step undoes itself if a later one fails, so a failed ADD leaves
nothing behind.
"""
from __future__ import annotations

import errno
import os

from pyroute2 import IPRoute, NetlinkError, netns

from k8snet.errors import K8snetError

NETNS_DIR = "/var/run/netns"


def netns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def _remove_netns(name: str) -> None:
    try:
        netns.remove(name)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def add_pod(node_ns: str, pod_ns: str, veth: str, ip: str, prefixlen: int,
            gateway: str, bridge: str = "cni0") -> None:
    """Wire a new pod namespace ``pod_ns`` to ``bridge`` in ``node_ns``."""
    if netns_exists(pod_ns):
        raise K8snetError(f"network namespace {pod_ns} already exists")
    netns.create(pod_ns)
    try:
        with IPRoute(netns=node_ns) as ipr:
            (br,) = ipr.link_lookup(ifname=bridge) or (None,)
            if br is None:
                raise K8snetError(f"{node_ns}: bridge {bridge} is missing")
            ipr.link("add", ifname=veth, kind="veth",
                     peer={"ifname": "eth0", "net_ns_fd": pod_ns})
            idx = ipr.link_lookup(ifname=veth)[0]
            ipr.link("set", index=idx, master=br, state="up")
        with IPRoute(netns=pod_ns) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            eth0 = ipr.link_lookup(ifname="eth0")[0]
            ipr.addr("add", index=eth0, address=ip, prefixlen=prefixlen)
            ipr.link("set", index=eth0, state="up")
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway)
    except Exception:
        delete_pod(node_ns, pod_ns, veth)
        raise


def delete_pod(node_ns: str, pod_ns: str, veth: str) -> None:
    """Remove a pod's veth and namespace; quiet about what is already gone."""
    if netns_exists(node_ns):
        try:
            with IPRoute(netns=node_ns) as ipr:
                idx = ipr.link_lookup(ifname=veth)
                if idx:
                    ipr.link("del", index=idx[0])
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise
    _remove_netns(pod_ns)
