"""Container exits as events: a pidfd per process in one epoll set.

The kubelet's monitor used to ask each container's process whether it had
exited (one ``waitpid``) on every pass, twenty passes a second: with 1,000
pods that is 20,000 calls a second and as many turns of the GIL.  A pidfd
(``pidfd_open(2)``, Linux 5.3) becomes readable when its process exits, so
one ``epoll_wait`` tells which did.  Where the kernel or Python has no
pidfd, ``watch`` says so and the caller polls as before.

A pidfd names one process, not a PID number, and stays readable after the
exit is reaped: watch a process before anything else can reap it (right
after it is started), and a reused PID cannot be mistaken for it.  Whatever
cannot be watched (no pidfd, no file descriptor left: EMFILE) is left to
the caller's polling, never lost.  ``wake`` ends a ``wait`` early (an
eventfd in the same set), for a caller whose next deadline moved closer.
"""
from __future__ import annotations

import errno
import os
import resource
import selectors
import threading
import time


def _budget() -> int:
    """Pidfds the whole process may hold: half its open-file limit, so that
    sockets and files always have the other half."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft // 2


class ExitWatch:
    """PIDs watched for their exit.  Thread-safe: ``watch`` may be called while
    another thread is in ``wait``.  All watches of a process share one budget
    of descriptors (``_budget``); past it, processes are left to polling."""

    _held = 0                                   # pidfds open in this process
    _held_lock = threading.Lock()

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._fds: dict[int, int] = {}          # pid -> pidfd
        self._lock = threading.Lock()
        self.supported = hasattr(os, "pidfd_open")
        self.closed = False
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._selector.register(self._wake_fd, selectors.EVENT_READ, None)

    def watch(self, pid: int) -> bool:
        """Watch ``pid``; False when it cannot be (no pidfd here, the process
        already reaped, no descriptor left, the watch closed): the caller then
        polls it."""
        if not self.supported or self.closed or not self._take():
            return False
        try:
            fd = os.pidfd_open(pid)
        except OSError as exc:
            self._give()
            if exc.errno in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
                self.supported = False           # this kernel has no pidfd
            return False
        with self._lock:
            if self.closed:
                self._close(fd)
                return False
            old = self._fds.pop(pid, None)
            if old is not None:
                self._forget(old)
            try:
                self._selector.register(fd, selectors.EVENT_READ, pid)
            except (OSError, ValueError):
                self._close(fd)
                return False
            self._fds[pid] = fd
        return True

    def watching(self, pid: int) -> bool:
        with self._lock:
            return pid in self._fds

    def wake(self) -> None:
        """End the current (or the next) ``wait`` now; thread-safe."""
        with self._lock:
            if not self.closed:
                os.eventfd_write(self._wake_fd, 1)

    def wait(self, timeout: float) -> set[int]:
        """Block up to ``timeout`` seconds, or until a watched process exits or
        ``wake`` is called; the watched PIDs that exited since the last call,
        no longer watched."""
        if self.closed:
            time.sleep(timeout)
            return set()
        ready = self._selector.select(timeout)
        out = set()
        with self._lock:
            if self.closed:                      # closed while selecting: its fds are gone
                return set()
            for key, _ in ready:
                pid = key.data
                if pid is None:                  # a wake-up: drain it
                    try:
                        os.eventfd_read(self._wake_fd)
                    except BlockingIOError:
                        pass
                    continue
                if self._fds.get(pid) == key.fd:
                    del self._fds[pid]
                    self._forget(key.fd)
                    out.add(pid)
        return out

    def _forget(self, fd: int) -> None:
        try:
            self._selector.unregister(fd)
        except (KeyError, ValueError):
            pass
        self._close(fd)

    @classmethod
    def _take(cls) -> bool:
        with cls._held_lock:
            if cls._held >= _budget():
                return False
            cls._held += 1
            return True

    @classmethod
    def _give(cls) -> None:
        with cls._held_lock:
            cls._held -= 1

    def _close(self, fd: int) -> None:
        os.close(fd)
        self._give()

    def close(self) -> None:
        """Stop watching everything (the kubelet stops)."""
        with self._lock:
            self.closed = True
            for fd in self._fds.values():
                self._forget(fd)
            self._fds.clear()
            self._selector.close()
            os.close(self._wake_fd)
