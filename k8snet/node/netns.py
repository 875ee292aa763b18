"""Network namespaces without forking, named as ``ip netns`` names them.

``setns``/``unshare(CLONE_NEWNET)`` change only the calling thread.  A new
pod namespace is made by the calling thread itself: it unshares, pins the
namespace at /var/run/netns/NAME, runs what must happen inside (sysctls, a
netlink socket) and switches back, all without letting go of the GIL
(k8snet.node.syscalls), so set-up is not stretched by the lab's other
threads.  Entering an existing namespace, for sockets that live there, goes
through a short-lived thread so the caller never moves.  pyroute2's own
netns support forks a child per socket, which costs more than a whole pod.
"""
from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from pyroute2 import IPRoute

from k8snet.node import syscalls

NETNS_DIR = "/var/run/netns"
NETLINK_ROUTE = 0
THREAD_NETNS = "/proc/thread-self/ns/net"
_mount_api = True      # fsopen/fsmount work here (write_sysctls); False once refused
T = TypeVar("T")


class Stranded(RuntimeError):
    """The calling thread could not switch back to its own namespace."""


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


def exec_argv(name: str, argv: list[str]) -> list[str]:
    """``argv`` run in namespace ``name``: ``nsenter --net``, a setns and
    nothing else.  ``ip netns exec`` also makes a private copy of the host's
    mount table (one mount per pinned namespace: a thousand pods make it a
    thousand) and remounts /sys, which costs more with every pod."""
    return ["nsenter", f"--net={path(name)}", *argv]


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def _placeholder(target: str) -> None:
    """The file the namespace is bound over; FileExistsError if taken."""
    flags = syscalls.O_RDONLY | syscalls.O_CREAT | syscalls.O_EXCL
    try:
        fd = syscalls.open_fd(target, flags, 0o444)
    except FileNotFoundError:
        syscalls.make_dirs(NETNS_DIR)
        fd = syscalls.open_fd(target, flags, 0o444)
    syscalls.close_fd(fd)


def create(name: str, inside: Callable[[], T] | None = None) -> T | None:
    """Make a new namespace and pin it at /var/run/netns/NAME, as ``ip netns add``.

    ``inside``, if given, runs in the new namespace and its result is
    returned: sockets it opens and /proc/sys/net files it writes belong to the
    new namespace.  Raises FileExistsError if NAME is taken; if anything
    fails, the namespace is removed again and the error re-raised."""
    target = path(name)
    _placeholder(target)
    home = -1
    pinned = False
    try:
        home = syscalls.open_fd(THREAD_NETNS)
        syscalls.unshare_net(name)
        try:
            syscalls.bind_mount(THREAD_NETNS, target)
            pinned = True
            return inside() if inside is not None else None
        finally:
            try:
                syscalls.setns_net(home, "the caller's namespace")
            except OSError as exc:
                raise Stranded(f"thread {threading.get_native_id()} is left in network "
                               f"namespace {name}: {exc}") from exc
    except BaseException:
        if pinned:
            remove(name)
        else:
            os.unlink(target)
        raise
    finally:
        if home >= 0:
            syscalls.close_fd(home)


def remove(name: str) -> None:
    """Unpin a namespace; it disappears once no process is left inside."""
    target = path(name)
    syscalls.umount_detach(target)
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass


def inode(name: str) -> int:
    """The namespace's identity (its nsfs inode): a namespace deleted and made
    again under the same name has another.  Raises FileNotFoundError."""
    return syscalls.inode(path(name))


def in_namespace(name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in namespace ``name`` (on a thread that switches there) and
    return its result: a socket it opens stays in that namespace."""
    fd = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)

    def run() -> T:
        syscalls.setns_net(fd, name)
        return fn()

    try:
        return _in_thread(run)
    finally:
        os.close(fd)


def iproute(name: str) -> IPRoute:
    """An IPRoute whose netlink socket lives in namespace ``name``."""
    sock = in_namespace(name, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM,
                                                    NETLINK_ROUTE))
    return IPRoute(fileno=sock.detach())


def socket_in(name: str, family: int = socket.AF_INET,
              kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket that lives in namespace ``name`` (a socket keeps the namespace
    it was made in), made without forking: probes and benchmarks use it."""
    return in_namespace(name, lambda: socket.socket(family, kind))


def write_sysctls(items: Iterable[tuple[str, str]]) -> None:
    """Write each ``(key, value)`` to ``/proc/sys/<key>`` (``net/ipv4/...``) of
    the calling thread's network namespace (call it inside ``create``).

    Through a procfs instance of its own, mounted nowhere and freed after:
    the kernel keeps one cached /proc/sys/net entry per namespace that looked
    it up, all in one hash chain, and each new namespace's first look-up
    walks it (measured: 0.03 ms with none, 0.7 ms with 1,000, 2.0 ms with
    3,000; through its own instance 0.1 ms at any count).  Without the mount
    API (Linux < 5.2, or refused by a seccomp filter) it writes through /proc
    from then on.  Raises OSError."""
    global _mount_api
    proc = -1
    if _mount_api:
        try:
            proc = syscalls.detached_mount("proc")
        except OSError:
            _mount_api = False      # not here (no fsopen, or refused): not asked again
    if proc < 0:
        for key, value in items:
            syscalls.write_file(f"/proc/sys/{key}", value.encode())
        return
    try:
        for key, value in items:
            syscalls.write_at(proc, f"sys/{key}", value.encode(), shown=f"/proc/sys/{key}")
    finally:
        syscalls.close_fd(proc)


def set_sysctl(name: str, key: str, value: str) -> None:
    """Write ``/proc/sys/<key>`` (``net/ipv4/...``) as seen from namespace ``name``:
    /proc/sys/net follows the netns of the thread that opens it."""
    in_namespace(name, lambda: syscalls.write_file(f"/proc/sys/{key}", value.encode()))
