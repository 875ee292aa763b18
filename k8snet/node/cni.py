"""The pod network plugin of one node: namespace, a routed veth, address, routes.

The pod gets what the CNI ptp plugin gives, as kind's kindnetd configures it
(https://www.cni.dev/plugins/current/main/ptp/): no bridge; the node end of
each pod's veth holds the node's pod gateway (the pod CIDR's first address,
/32, the same on every such veth), and the node routes each pod's /32 to its
veth.  In the pod: the pod IP on ``eth0`` with no connected route, the
gateway on the link, the pod CIDR and the default route via the gateway; so
every packet, to a pod on the same node too, is routed by the node, through
its netfilter hooks (kproxy's DNAT, NetworkPolicy) with no br_netfilter.

A thin apply layer over rtnetlink (k8snet.node.rtnl), shaped by what a pod
costs.  ADD is three batched netlink round trips, no subprocess, no thread:

1. the calling thread makes the pod's namespace, pins it, writes its sysctl
   (through a procfs instance of its own: netns.write_sysctls),
   opens a netlink socket there and switches back (netns.create's ``inside``);
2. on the node's socket, kept open for the node's life: the veth created
   with its node end up, its peer ``eth0`` made straight in the pod's
   namespace, and a look-up giving both indexes; then the gateway on the node
   end, and the route to the pod IP (retried while a pod just deleted still
   holds it);
3. on the pod's socket: ``lo`` up, the pod IP on eth0, eth0 up, the routes.

DEL unpins the namespace.  With no process left in it the kernel destroys
it, and the veth with it (both ends, the node's address and route too),
asynchronously: a veth deleted by hand waits out an RCU grace period (~30 ms
here) in the caller, while namespaces torn down together share one.  A
failed ADD undoes itself.  Its system calls keep the GIL
(k8snet.node.syscalls), so the lab's other threads cannot slip in between
the steps and stretch a set-up.

Measured against the bridge plugin's shape (each veth on a ``cni0`` bridge
holding the gateway, br_netfilter on): pods across nodes move 5-6% more
(docs/performance.md, session 14).
"""
from __future__ import annotations

import errno
import ipaddress
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
    of pods.  One netlink socket into the node, opened at the first ADD and
    reopened if the node's namespace is made again; ``close()`` releases it
    (the socket holds the namespace alive)."""

    def __init__(self, node_ns: str) -> None:
        self.node_ns = node_ns
        self._lock = threading.Lock()
        self._sock: rtnl.RtnlSocket | None = None
        self._inode = 0

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
        return self._sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._inode = None, 0

    def close(self) -> None:
        with self._lock:
            self._drop()

    # --- ADD and DEL ---------------------------------------------------------------

    def add_pod(self, pod_ns: str, veth: str, ip: str, prefixlen: int, gateway: str) -> None:
        """Wire a new pod namespace ``pod_ns``: ``eth0`` with ``ip/prefixlen`` (no
        connected route), routes to ``gateway`` on the link, to the pod CIDR
        and by default via it; its peer ``veth`` in the node holding
        ``gateway``/32, the node's route to ``ip`` through it.  Raises
        K8snetError (the namespace exists, the kernel refused a step) and
        leaves nothing behind."""
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
                    eth0 = self._wire_node(node, veth, fd, ip, gateway)
                    cidr = f"{ip}/{prefixlen}"
                    pod.transact([
                        rtnl.link_up(rtnl.LOOPBACK_IFINDEX, "lo"),
                        rtnl.add_address(eth0, ip, prefixlen, POD_IFNAME, prefix_route=False),
                        rtnl.link_up(eth0, POD_IFNAME),
                        rtnl.add_route(f"{gateway}/32", oif=eth0, what=POD_IFNAME),
                        rtnl.add_route(str(ipaddress.ip_interface(cidr).network), gateway),
                        rtnl.add_default_route(gateway)])
            except BaseException as exc:
                netns.remove(pod_ns)
                if isinstance(exc, OSError):
                    raise K8snetError(f"{pod_ns}: {exc.strerror or exc}") from None
                raise
            finally:
                syscalls.close_fd(fd)

    def _wire_node(self, node: rtnl.RtnlSocket, veth: str, fd: int, ip: str,
                   gateway: str) -> int:
        """The node's two batches; returns eth0's index in the pod's namespace.
        A failure after the veth was made leaves it to the namespace's removal."""
        steps = [rtnl.create_veth(veth, 0, POD_IFNAME, fd), rtnl.get_link(veth)]
        try:
            try:
                replies = node.transact(steps)
            except rtnl.NetlinkFailure as exc:
                if exc.code != errno.EEXIST or not self._wait_gone(node, veth):
                    raise
                replies = node.transact(steps)  # the old sandbox's veth went meanwhile
            link = rtnl.parse_link(replies[1][0])
            route = rtnl.add_route(f"{ip}/32", oif=link.index, what=veth)
            try:
                node.transact([rtnl.add_address(link.index, gateway, 32, veth), route])
            except rtnl.NetlinkFailure as exc:
                if exc.code != errno.EEXIST:      # only the route can exist: a fresh veth
                    raise
                self._retry_route(node, route)
        except rtnl.NetlinkFailure:
            self._drop()                        # the next ADD opens the node's socket again
            raise
        return link.peer

    def _retry_route(self, node: rtnl.RtnlSocket, route: rtnl.Request) -> None:
        """The node's /32 route to the pod, which exists: an address freed by a
        pod just deleted keeps its route until the kernel has destroyed that
        pod's namespace, so it is retried until then (STALE_VETH_WAIT); one
        that stays is a real double allocation, refused (EEXIST)."""
        deadline = time.monotonic() + STALE_VETH_WAIT
        while True:
            time.sleep(POLL)
            try:
                node.transact([route])
                return
            except rtnl.NetlinkFailure as exc:
                if exc.code != errno.EEXIST or time.monotonic() >= deadline:
                    raise

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
