"""k8snet.node.containers._members: a container's process group found by
walking its process tree (/proc/PID/task/TID/children), the same set as a
scan of every process, at a cost that does not grow with the machine's
other processes."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from k8snet.node import containers

TREE = "sleep 30 & sleep 30 & (sleep 30 & wait) & setsid sleep 30 & wait"


@pytest.fixture
def group():
    proc = subprocess.Popen(["sh", "-c", TREE], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(containers._members_by_scan(proc.pid)) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    yield proc
    for pid in containers._members_by_scan(proc.pid):
        os.kill(pid, signal.SIGKILL)
    # the setsid'd sleep left the group: end it through the tree it hangs from
    for pid in _descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.kill()
    proc.wait()


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as fh:
                kids = [int(c) for c in fh.read().split()]
        except OSError:
            continue
        out += kids
        todo += kids
    return out


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
                    reason="kernel without CONFIG_PROC_CHILDREN")
def test_tree_walk_finds_exactly_the_group(group):
    by_scan = sorted(containers._members_by_scan(group.pid))
    assert len(by_scan) == 5          # sh, two sleeps, the subshell and its sleep
    assert sorted(containers._members(group.pid)) == by_scan
    left = [p for p in _descendants(group.pid) if p not in by_scan]
    assert len(left) == 1             # the setsid'd sleep is in the tree, not the group
    assert os.getpgid(left[0]) != group.pid


def test_a_gone_group_has_no_members():
    proc = subprocess.Popen(["true"], start_new_session=True)
    proc.wait()
    assert containers._members(proc.pid) == []


def test_an_orphan_does_not_outlive_its_container():
    """The container's first process ends (nginx's master killed) and leaves
    a child in its group (a worker): kill_leftovers ends it, as a runtime's
    PID namespace would; stop_process does the same after its wait."""
    for stop in (False, True):
        proc = subprocess.Popen(["sh", "-c", "sleep 300 & echo $!; exec sleep 0.2"],
                                stdout=subprocess.PIPE, text=True, start_new_session=True)
        orphan = int(proc.stdout.readline())
        if stop:
            containers.stop_process(proc, grace=2.0)
        else:
            proc.wait(timeout=5)
            assert os.getpgid(orphan) == proc.pid          # left behind in the group
            containers.kill_leftovers(proc.pid)
        deadline = time.monotonic() + 5
        while _alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(orphan)
    containers.kill_leftovers(proc.pid)                    # quiet when nothing is left


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
