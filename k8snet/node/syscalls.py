"""The few system calls of pod set-up, called without letting go of the GIL.

Python releases the GIL around every blocking system call.  With the lab's
many threads busy (kubelets, controllers, the API server), each release lets
another thread in for up to the switch interval (5 ms) before the caller gets
it back: a set-up of twenty quick calls took four times its CPU time.  The
calls here cannot block for long (namespace switches, bind mounts, writes to
/proc/sys, netlink requests the kernel answers before ``send`` returns, a
pod's small files and directories), so
they go through ``ctypes.PyDLL``, which keeps the GIL.  Anything that may
wait uses the ordinary, releasing, ``ctypes.CDLL`` (``recv_wait``).

Each raises OSError(errno, "WHAT NAME: reason").
"""
from __future__ import annotations

import ctypes
import errno
import os
import socket
import stat
import sys

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
O_RDONLY = os.O_RDONLY
O_WRONLY = os.O_WRONLY
O_CLOEXEC = os.O_CLOEXEC
O_CREAT, O_EXCL, O_TRUNC, O_APPEND = os.O_CREAT, os.O_EXCL, os.O_TRUNC, os.O_APPEND
MSG_DONTWAIT = 0x40
EAGAIN = 11
# The mount API (Linux 5.2); numbered alike on every architecture from 424 on.
SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 430, 431, 432
FSOPEN_CLOEXEC = FSMOUNT_CLOEXEC = 1
FSCONFIG_CMD_CREATE = 6
AT_FDCWD, STATX_TYPE, STATX_INO = -100, 0x1, 0x100
STATX_SIZE, STATX_MODE_AT, STATX_INO_AT = 256, 28, 32   # struct statx: size, offsets

_keep = ctypes.PyDLL("libc.so.6", use_errno=True)      # keeps the GIL
_release = ctypes.CDLL("libc.so.6", use_errno=True)    # releases it (may block)
for _lib in (_keep, _release):
    _lib.send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    _lib.send.restype = ctypes.c_ssize_t
    _lib.recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    _lib.recv.restype = ctypes.c_ssize_t
    _lib.write.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    _lib.write.restype = ctypes.c_ssize_t
_keep.syscall.restype = ctypes.c_long
_keep.setsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                             ctypes.c_uint]


def _fail(what: str, name: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what} {name}: {os.strerror(err)}")


def _check(ret: int, what: str, name: str) -> int:
    if ret < 0:
        raise _fail(what, name)
    return ret


def open_fd(path: str, flags: int = O_RDONLY, mode: int = 0) -> int:
    return _check(_keep.open(path.encode(), flags | O_CLOEXEC, mode), "open", path)


def close_fd(fd: int) -> None:
    _keep.close(fd)


def unshare_net(name: str) -> None:
    """Move the calling thread into a new network namespace (for ``name``)."""
    _check(_keep.unshare(CLONE_NEWNET), "unshare for", name)


def setns_net(fd: int, name: str) -> None:
    """Move the calling thread into the network namespace open as ``fd``."""
    _check(_keep.setns(fd, CLONE_NEWNET), "setns into", name)


def bind_mount(source: str, target: str) -> None:
    _check(_keep.mount(source.encode(), target.encode(), b"none", MS_BIND, None),
           "bind-mount", target)


def umount_detach(target: str) -> bool:
    """Lazy unmount; False if ``target`` was not mounted (or is gone)."""
    return _keep.umount2(target.encode(), MNT_DETACH) == 0


def _write_all(fd: int, data: bytes, path: str) -> None:
    """One write of all of ``data``; OSError naming ``path`` otherwise."""
    n = _keep.write(fd, data, len(data))
    if n < 0:
        raise _fail("write", path)
    if n != len(data):
        raise OSError(errno.EIO, f"write {path}: {n} of {len(data)} bytes written")


def write_file(path: str, data: bytes) -> None:
    """Write ``data`` to an existing file (a /proc/sys knob) in one write."""
    fd = _check(_keep.open(path.encode(), O_WRONLY | O_CLOEXEC, 0), "open", path)
    try:
        _write_all(fd, data, path)
    finally:
        _keep.close(fd)


def inode(path: str) -> int:
    """``os.stat(path).st_ino``, by statx(2)."""
    buf = ctypes.create_string_buffer(STATX_SIZE)
    _check(_keep.statx(AT_FDCWD, path.encode(), 0, STATX_INO, buf), "stat", path)
    return int.from_bytes(buf.raw[STATX_INO_AT:STATX_INO_AT + 8], sys.byteorder)


def _is_dir(path: str) -> bool:
    buf = ctypes.create_string_buffer(STATX_SIZE)
    if _keep.statx(AT_FDCWD, path.encode(), 0, STATX_TYPE, buf) != 0:
        return False
    return stat.S_ISDIR(int.from_bytes(buf.raw[STATX_MODE_AT:STATX_MODE_AT + 2],
                                       sys.byteorder))


def make_dirs(path: str, mode: int = 0o755) -> None:
    """``os.makedirs(path, exist_ok=True)``: each missing directory on the way."""
    if _keep.mkdir(path.encode(), mode) == 0:
        return
    err = ctypes.get_errno()
    if err == errno.EEXIST:
        if not _is_dir(path):
            raise OSError(errno.EEXIST, f"mkdir {path}: a file that is not a directory "
                          "is in the way")
        return
    parent = os.path.dirname(path.rstrip("/"))
    if err != errno.ENOENT or parent in ("", "/", path):
        raise OSError(err, f"mkdir {path}: {os.strerror(err)}")
    make_dirs(parent, mode)
    if _keep.mkdir(path.encode(), mode) != 0 and ctypes.get_errno() != errno.EEXIST:
        raise _fail("mkdir", path)


def replace_file(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` whole (a temporary file renamed over it): readers see
    the old file or the new one, never half of it."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    fd = _check(_keep.open(tmp.encode(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode),
                "open", tmp)
    try:
        try:
            _write_all(fd, data, tmp)
        finally:
            _keep.close(fd)
        _check(_keep.rename(tmp.encode(), path.encode()), "rename to", path)
    except OSError:
        _keep.unlink(tmp.encode())
        raise


def write_at(dirfd: int, path: str, data: bytes, shown: str = "") -> None:
    """``write_file`` for ``path`` relative to the directory open as ``dirfd``;
    errors name ``shown`` (the path as a user knows it) if given."""
    shown = shown or path
    fd = _check(_keep.openat(dirfd, path.encode(), O_WRONLY | O_CLOEXEC, 0), "open", shown)
    try:
        _write_all(fd, data, shown)
    finally:
        _keep.close(fd)


def detached_mount(fstype: str) -> int:
    """A new instance of filesystem ``fstype`` mounted nowhere (fsopen(2),
    fsmount(2)): the file descriptor of its root, for ``write_at``; closing
    it frees the instance.  Raises OSError (ENOSYS before Linux 5.2)."""
    fs = _check(_keep.syscall(SYS_FSOPEN, fstype.encode(), FSOPEN_CLOEXEC), "fsopen", fstype)
    try:
        _check(_keep.syscall(SYS_FSCONFIG, fs, FSCONFIG_CMD_CREATE, None, None, 0),
               "fsconfig", fstype)
        return _check(_keep.syscall(SYS_FSMOUNT, fs, FSMOUNT_CLOEXEC, 0), "fsmount", fstype)
    finally:
        _keep.close(fs)


def socket_fd(family: int, kind: int, proto: int, what: str) -> int:
    return _check(_keep.socket(family, kind | socket.SOCK_CLOEXEC, proto), "socket for", what)


def setsockopt_int(fd: int, level: int, option: int, value: int) -> bool:
    box = ctypes.c_int(value)
    return _keep.setsockopt(fd, level, option, ctypes.byref(box), ctypes.sizeof(box)) == 0


def send(fd: int, data: bytes, what: str) -> None:
    """One datagram; the kernel handles a netlink request inside this call."""
    if _check(_keep.send(fd, data, len(data), 0), "send", what) != len(data):
        raise OSError(0, f"send {what}: short write")


def recv_nowait(fd: int, buf: ctypes.Array, what: str) -> int:
    """Bytes of the next datagram, or -1 if none is waiting."""
    n = _keep.recv(fd, buf, len(buf), MSG_DONTWAIT)
    if n < 0:
        if ctypes.get_errno() == EAGAIN:
            return -1
        raise _fail("recv", what)
    return n


def recv_wait(fd: int, buf: ctypes.Array, what: str) -> int:
    """Bytes of the next datagram, waiting for it (the GIL released meanwhile)."""
    return _check(_release.recv(fd, buf, len(buf), 0), "recv", what)
