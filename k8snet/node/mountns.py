"""The mount namespace every container's sandbox starts from.

bwrap copies the mount table of the namespace it starts in, then pivots to
its own root and drops the copy: its cost grows with that table (measured:
3 ms with 23 mounts, 25 ms with 1,000, 46 ms with 2,000).  The host's table
grows by one nsfs mount per pod (each namespace is pinned at
/var/run/netns/NAME), so starting containers from the host's namespace
costs more with every pod.  This is a private copy of the host's mounts
taken at cluster start, with the namespace pins removed and no propagation
from the host, so later pins never reach it; a holder process keeps it
alive and a symlink gives it a stable path for ``nsenter --mount``.

Files stay shared: the copy has the same filesystems, so /etc/netns files,
emptyDir directories and the lab's code written later are seen there.
Sources: mount_namespaces(7) (shared subtrees), unshare(1), nsenter(1).
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from k8snet.errors import K8snetError
from k8snet.node.netns import NETNS_DIR

PINS = os.path.realpath(NETNS_DIR)
# A fixed program (no input reaches it): a private copy of the host's mounts,
# the namespace pins unmounted there, then the holder sleeps.
HOLDER = ["unshare", "--mount", "--propagation", "private", "--",
          "sh", "-c", f"umount -R -l {PINS} 2>/dev/null; exec sleep infinity"]
READY_SECONDS = 5.0


class SandboxMounts:
    """``SandboxMounts(link)``: ``start()`` makes the namespace and points
    ``link`` at it; ``alive()``; ``stop()``.  ``link`` is what ``nsenter
    --mount=`` is given, so a restarted holder needs no new argv."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.proc: subprocess.Popen | None = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> int:
        """Start the holder; returns its PID once the namespace is ready.
        Raises K8snetError if it exits or is not ready within 5 s."""
        if self.alive():
            return self.proc.pid
        self.proc = subprocess.Popen(HOLDER, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + READY_SECONDS
        while not self._ready():
            if self.proc.poll() is not None:
                raise K8snetError(f"sandbox mount namespace: unshare exited with "
                                  f"{self.proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise K8snetError("sandbox mount namespace: not ready within "
                                  f"{READY_SECONDS:.0f} s")
            time.sleep(0.005)
        tmp = self.link.with_name(self.link.name + ".tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(f"/proc/{self.proc.pid}/ns/mnt", tmp)
        os.replace(tmp, self.link)
        return self.proc.pid

    def _ready(self) -> bool:
        """The holder sleeps: the namespace exists and the pins are gone."""
        try:
            with open(f"/proc/{self.proc.pid}/cmdline", "rb") as f:
                return f.read().split(b"\0")[0] == b"sleep"
        except OSError:
            return False

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.link.unlink(missing_ok=True)
