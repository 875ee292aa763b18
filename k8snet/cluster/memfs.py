"""Memory-backed directories for what the lab keeps per pod.

Every pod costs a few small files: its namespace pin in /run/netns, its
resolver files and its containers' logs under /run/k8snet.  On most machines
/run is a tmpfs.  Where it is not (here / is ext4 with no journal, /run
included), each of those files is an inode allocation on disk, and ext4
without a journal skips the inodes deleted in the last 5-30 s one by one
(fs/ext4/ialloc.c, ``recently_deleted``): after a few hundred pods went, a
new file cost 0.8 ms, so a pod's set-up cost 1-1.6 ms more.

So before a cluster starts, each of those directories that is not already on
a tmpfs gets one, mounted by k8snet (source ``k8snet``), but only while the
directory is empty: nothing of anyone else's is ever hidden.  /run/netns is
made a shared mount, as ``ip netns add`` makes it.  ``release`` unmounts
such a tmpfs once it is empty again, and never lazily: a pin still mounted
inside keeps it (EBUSY).  Both look, then act: callers hold ``locked()``
around them and around making a cluster's run directory, so that two
clusters starting and stopping at once cannot hide or unmount each other's
files.  Sources: tmpfs(5), statfs(2), proc(5) mountinfo, ip-netns(8), flock(2).
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

SOURCE = "k8snet"                     # the tmpfs's source, as mountinfo shows it
TMPFS_MAGIC = 0x01021994              # linux/magic.h
RAMFS_MAGIC = 0x858458F6
STATFS_SIZE = 120                     # struct statfs on 64-bit Linux; f_type comes first

_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def fs_type(path: str) -> int:
    """statfs(2)'s ``f_type`` of the filesystem holding ``path``; OSError if
    ``path`` cannot be reached."""
    buf = ctypes.create_string_buffer(STATFS_SIZE)
    if _libc.statfs(os.fsencode(path), buf) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"statfs {path}: {os.strerror(err)}")
    return ctypes.c_long.from_buffer(buf).value


def in_memory(path: str) -> bool:
    return fs_type(path) in (TMPFS_MAGIC, RAMFS_MAGIC)


def top_mount(mountinfo: str, path: str) -> tuple[str, str] | None:
    """``(fstype, source)`` of the mount on top at mount point ``path`` (the
    last line of /proc/self/mountinfo naming it), or None: pure."""
    found = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        point = fields[4].replace("\\040", " ")
        if point == path:
            after = line.split(" - ", 1)[1].split()
            found = (after[0], after[1] if len(after) > 1 else "")
    return found


def _mountinfo() -> str:
    with open("/proc/self/mountinfo") as fh:
        return fh.read()


def ensure(path: str, size: str, shared: bool = False) -> str:
    """Put ``path`` on a tmpfs of ``size`` (tmpfs(5)'s ``size=``) unless it
    already is on one or holds anything; returns what was done, said for the
    log: "mounted", "already in memory", or why it stayed on disk."""
    path = os.path.realpath(path)
    os.makedirs(path, exist_ok=True)
    if in_memory(path):
        return "already in memory"
    if os.listdir(path):
        return f"stays on disk: {path} is not empty"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"mode=0755,size={size}",
                           SOURCE, path], capture_output=True, text=True)
    if done.returncode != 0:
        return f"stays on disk: {done.stderr.strip() or 'mount failed'}"
    if shared:
        subprocess.run(["mount", "--make-shared", path], capture_output=True)
    return "mounted"


def release(path: str) -> bool:
    """Unmount k8snet's tmpfs at ``path`` if it is there and empty; whether
    it was unmounted.  Anything inside (a file, a mounted pin) keeps it."""
    path = os.path.realpath(path)
    try:
        if top_mount(_mountinfo(), path) != ("tmpfs", SOURCE) or os.listdir(path):
            return False
    except OSError:
        return False
    return subprocess.run(["umount", path], capture_output=True).returncode == 0


@contextmanager
def locked(parent: str = "/run") -> Iterator[None]:
    """An exclusive flock(2) on the directory ``parent`` (no file is made),
    held for the block: between k8snet processes that check a directory
    there is empty and then mount or unmount over it."""
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                  # closing the last descriptor drops the lock
