"""The pod network plugin of one node: namespace, veth into ``cni0``, address, route.

A thin apply layer over rtnetlink (k8snet.node.rtnl), shaped by what a pod
costs.  ADD is two batched netlink round trips, no subprocess, no thread:

1. the calling thread makes the pod's namespace, pins it, writes its sysctl
   (through a procfs instance of its own: netns.write_sysctls),
   opens a netlink socket there and switches back (netns.create's ``inside``);
2. on the node's socket, kept open for the node's life: the veth created
   with its node end on the bridge and up, its peer ``eth0`` made straight in
   the pod's namespace; hairpin on; a look-up giving eth0's index;
3. on the pod's socket: ``lo`` up, the pod IP on eth0, eth0 up, the
   default route.

DEL unpins the namespace.  With no process left in it the kernel destroys
it, and the veth with it (both ends), asynchronously: a veth deleted by hand
waits out an RCU grace period (~30 ms here) in the caller, while namespaces
torn down together share one.  A failed ADD undoes itself.  Its system
calls keep the GIL (k8snet.node.syscalls), so the lab's other threads
cannot slip in between the steps and stretch a set-up.

What the pod gets is what the CNI bridge plugin gives (with ``hairpinMode``):
https://www.cni.dev/plugins/current/main/bridge/
"""
from __future__ import annotations

import errno
import threading
import time

from k8snet.errors import K8snetError
from k8snet.node import netns, rtnl, syscalls

POD_IFNAME = "eth0"
# Sockets in containers need no capability for ports below 1024 (containerd
# sets this for every pod; sandboxed containers run with no capabilities).
POD_SYSCTLS = (("net/ipv4/ip_unprivileged_port_start", "0"),)
STALE_VETH_WAIT = 2.0     # seconds a veth of a torn-down namespace may take to go
POLL = 0.005


def netns_exists(name: str) -> bool:
    return netns.exists(name)


def _pod_side() -> tuple[rtnl.RtnlSocket, int]:
    """Run inside a new pod namespace: its sysctls, a netlink socket there and
    a file descriptor of the namespace (for IFLA_NET_NS_FD)."""
    netns.write_sysctls(POD_SYSCTLS)
    fd = syscalls.open_fd(netns.THREAD_NETNS)
    try:
        return rtnl.RtnlSocket.open(), fd
    except BaseException:
        syscalls.close_fd(fd)
        raise


class PodNetwork:
    """The CNI plugin of the node whose namespace is ``node_ns``: ADD and DEL
    of pods on ``bridge``.  One netlink socket into the node, opened at the
    first ADD and reopened if the node's namespace is made again; ``close()``
    releases it (the socket holds the namespace alive)."""

    def __init__(self, node_ns: str, bridge: str = "cni0") -> None:
        self.node_ns = node_ns
        self.bridge = bridge
        self._lock = threading.Lock()
        self._sock: rtnl.RtnlSocket | None = None
        self._inode = 0
        self._bridge_index = 0

    # --- the node's socket ----------------------------------------------------------

    def _node(self) -> rtnl.RtnlSocket:
        try:
            current = netns.inode(self.node_ns)
        except FileNotFoundError:
            self._drop()
            raise K8snetError(f"network namespace {self.node_ns} of the node is gone") \
                from None
        if self._sock is None or current != self._inode:
            self._drop()
            self._sock = netns.in_namespace(self.node_ns, rtnl.RtnlSocket.open)
            self._inode = current
            try:
                [reply] = self._sock.transact([rtnl.get_link(self.bridge)])
            except rtnl.NetlinkFailure as exc:
                self._drop()
                if exc.code == errno.ENODEV:
                    raise K8snetError(f"{self.node_ns}: bridge {self.bridge} is missing") \
                        from None
                raise
            self._bridge_index = rtnl.parse_link(reply[0]).index
        return self._sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._inode, self._bridge_index = None, 0, 0

    def close(self) -> None:
        with self._lock:
            self._drop()

    # --- ADD and DEL ---------------------------------------------------------------

    def add_pod(self, pod_ns: str, veth: str, ip: str, prefixlen: int, gateway: str) -> None:
        """Wire a new pod namespace ``pod_ns``: ``eth0`` with ``ip/prefixlen`` and a
        default route via ``gateway``, its peer ``veth`` on the bridge.  Raises
        K8snetError (the namespace exists, the bridge is missing, the kernel
        refused a step) and leaves nothing behind."""
        with self._lock:
            try:
                node = self._node()
            except OSError as exc:
                raise K8snetError(f"{self.node_ns}: {exc.strerror or exc}") from None
            try:
                pod, fd = netns.create(pod_ns, _pod_side)
            except FileExistsError:
                raise K8snetError(f"network namespace {pod_ns} already exists") from None
            except OSError as exc:
                raise K8snetError(f"network namespace {pod_ns}: {exc.strerror}") from None
            try:
                with pod:
                    eth0 = self._wire_node(node, veth, fd)
                    pod.transact([
                        rtnl.link_up(rtnl.LOOPBACK_IFINDEX, "lo"),
                        rtnl.add_address(eth0, ip, prefixlen, POD_IFNAME),
                        rtnl.link_up(eth0, POD_IFNAME),
                        rtnl.add_default_route(gateway)])
            except BaseException as exc:
                netns.remove(pod_ns)
                if isinstance(exc, OSError):
                    raise K8snetError(f"{pod_ns}: {exc.strerror or exc}") from None
                raise
            finally:
                syscalls.close_fd(fd)

    def _wire_node(self, node: rtnl.RtnlSocket, veth: str, fd: int) -> int:
        """The node's batch; returns eth0's index in the pod's namespace."""
        steps = [rtnl.create_veth(veth, self._bridge_index, POD_IFNAME, fd),
                 rtnl.set_hairpin(veth), rtnl.get_link(veth)]
        try:
            try:
                replies = node.transact(steps)
            except rtnl.NetlinkFailure as exc:
                if exc.code != errno.EEXIST or not self._wait_gone(node, veth):
                    raise
                replies = node.transact(steps)  # the old sandbox's veth went meanwhile
        except rtnl.NetlinkFailure:
            self._drop()                        # the next ADD looks the bridge up again
            raise
        return rtnl.parse_link(replies[2][0]).peer

    def _wait_gone(self, node: rtnl.RtnlSocket, veth: str) -> bool:
        """A veth of this name left by a namespace the kernel is still
        destroying (the same pod deleted and made again at once): wait for it."""
        deadline = time.monotonic() + STALE_VETH_WAIT
        while time.monotonic() < deadline:
            try:
                node.transact([rtnl.get_link(veth)])
            except rtnl.NetlinkFailure as exc:
                if exc.code == errno.ENODEV:
                    return True
                raise
            time.sleep(POLL)
        return False

    def delete_pod(self, pod_ns: str) -> None:
        """Remove a pod's network: unpin its namespace; the kernel destroys it,
        and the veth with it, once the pod's processes are gone.  Quiet about
        what is already gone."""
        netns.remove(pod_ns)
