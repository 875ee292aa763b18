"""The exit watch: a pidfd per process, reported once when it exits."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from k8snet.node import exits

pytestmark = pytest.mark.skipif(not exits.ExitWatch().supported,
                                reason="this Python or kernel has no pidfd_open")


def _proc(seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


def test_reports_only_the_process_that_exited_and_closes_its_pidfd() -> None:
    watch = exits.ExitWatch()
    short, long = _proc(0), _proc(30)
    try:
        assert watch.watch(short.pid) and watch.watch(long.pid)
        seen: set[int] = set()
        for _ in range(100):
            seen |= watch.wait(0.05)
            if seen:
                break
        assert seen == {short.pid}
        assert not watch.watching(short.pid) and watch.watching(long.pid)
        assert short.poll() == 0                  # the caller reaps it, as told
        assert watch.wait(0.05) == set()          # reported once
        long.kill()
        seen = set()
        for _ in range(100):
            seen |= watch.wait(0.05)
            if seen:
                break
        assert seen == {long.pid}
        assert watch._fds == {}                   # every pidfd closed
    finally:
        long.kill()
        long.wait()
        short.wait()
        watch.close()


def test_a_reaped_process_is_left_to_polling() -> None:
    watch = exits.ExitWatch()
    gone = _proc(0)
    gone.wait()
    assert watch.watch(gone.pid) is False
    assert not watch.watching(gone.pid)
    watch.close()


def test_without_pidfd_the_caller_polls(monkeypatch) -> None:
    watch = exits.ExitWatch()
    watch.supported = False
    proc = _proc(5)
    try:
        assert watch.watch(proc.pid) is False
        assert watch.wait(0.01) == set()
    finally:
        proc.kill()
        proc.wait()
        watch.close()


def test_no_descriptor_left_or_a_closed_watch_leaves_the_process_to_polling(monkeypatch) -> None:
    watch = exits.ExitWatch()
    proc = _proc(5)
    try:
        def no_fd(pid):
            raise OSError(24, "Too many open files")
        with monkeypatch.context() as m:
            m.setattr(exits.os, "pidfd_open", no_fd)
            assert watch.watch(proc.pid) is False
        assert watch.supported                    # EMFILE says nothing about the kernel
        watch.close()
        assert watch.watch(proc.pid) is False     # a worker still starting after stop()
        assert watch._fds == {}
    finally:
        proc.kill()
        proc.wait()


def test_watches_share_a_descriptor_budget_and_give_it_back(monkeypatch) -> None:
    held = exits.ExitWatch._held
    monkeypatch.setattr(exits, "_budget", lambda: held + 1)
    one, two = exits.ExitWatch(), exits.ExitWatch()
    a, b = _proc(30), _proc(30)
    try:
        assert one.watch(a.pid) is True
        assert two.watch(b.pid) is False          # the other kubelet is over budget
        assert exits.ExitWatch._held == held + 1
        a.kill()
        seen: set[int] = set()
        for _ in range(100):
            seen |= one.wait(0.05)
            if seen:
                break
        assert seen == {a.pid} and exits.ExitWatch._held == held
        assert two.watch(b.pid) is True           # room again
        two.close()
        assert exits.ExitWatch._held == held      # close gives every descriptor back
    finally:
        for p in (a, b):
            p.kill()
            p.wait()
        one.close()


def test_the_lab_raises_its_open_file_limit_within_the_hard_limit() -> None:
    import resource

    from k8snet.cluster import preflight
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, soft), hard))
        now = preflight.raise_open_files(4096)
        expected = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
        assert now == expected == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_wake_ends_a_wait_early_once_even_with_nothing_watched() -> None:
    watch = exits.ExitWatch()
    try:
        t0 = time.monotonic()
        assert watch.wait(0.05) == set() and time.monotonic() - t0 >= 0.04
        threading.Timer(0.1, watch.wake).start()
        t0 = time.monotonic()
        assert watch.wait(10) == set()
        assert time.monotonic() - t0 < 5                  # woken, not timed out
        t0 = time.monotonic()
        assert watch.wait(0.05) == set() and time.monotonic() - t0 >= 0.04  # drained
    finally:
        watch.close()
    watch.wake()                                         # after close: harmless
