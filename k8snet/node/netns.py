"""Network namespaces without forking: a short-lived thread does the switch.

``setns``/``unshare(CLONE_NEWNET)`` change only the calling thread, so a
throwaway thread can create a namespace or open a netlink socket inside one
while the main thread stays put.  pyroute2's own netns support forks a child
per socket, which costs more than the whole pod set-up budget (~30 ms).
"""
from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

from pyroute2 import IPRoute

NETNS_DIR = "/var/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
NETLINK_ROUTE = 0

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
T = TypeVar("T")


def _check(ret: int, what: str, name: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what} {name}: {os.strerror(err)}")


def _in_thread(fn: Callable[[], T]) -> T:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="k8snet-netns")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def create(name: str) -> None:
    """Make a new namespace and pin it at /var/run/netns/NAME, as ``ip netns add``."""
    os.makedirs(NETNS_DIR, exist_ok=True)
    target = path(name)
    fd = os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)

    def pin() -> None:
        _check(_libc.unshare(CLONE_NEWNET), "unshare for", name)
        source = f"/proc/self/task/{threading.get_native_id()}/ns/net"
        _check(_libc.mount(source.encode(), target.encode(), b"none", MS_BIND, None),
               "bind-mount", name)

    try:
        _in_thread(pin)
    except BaseException:
        os.unlink(target)
        raise


def remove(name: str) -> None:
    """Unpin a namespace; it disappears once no process is left inside."""
    target = path(name)
    _libc.umount2(target.encode(), MNT_DETACH)
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass


def iproute(name: str) -> IPRoute:
    """An IPRoute whose netlink socket lives in namespace ``name``."""
    fd = os.open(path(name), os.O_RDONLY)

    def open_socket() -> socket.socket:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns into", name)
        return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)

    try:
        sock = _in_thread(open_socket)
    finally:
        os.close(fd)
    return IPRoute(fileno=sock.detach())



def socket_in(name: str, family: int = socket.AF_INET,
              kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket that lives in namespace ``name`` (a socket keeps the namespace
    it was made in), made without forking: probes and benchmarks use it."""
    fd = os.open(path(name), os.O_RDONLY)

    def open_socket() -> socket.socket:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns into", name)
        return socket.socket(family, kind)

    try:
        return _in_thread(open_socket)
    finally:
        os.close(fd)


def set_sysctl(name: str, key: str, value: str) -> None:
    """Write ``/proc/sys/<key>`` (``net/ipv4/...``) as seen from namespace ``name``:
    /proc/sys/net follows the netns of the thread that opens it."""
    fd = os.open(path(name), os.O_RDONLY)

    def write() -> None:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns into", name)
        with open(f"/proc/sys/{key}", "w") as fh:
            fh.write(value)

    try:
        _in_thread(write)
    finally:
        os.close(fd)
