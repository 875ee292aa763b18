"""k8snet.cluster.memfs: which mount is on top at a path, and what ensure and
release do (on a scratch directory: a real tmpfs needs root and a mount)."""
from __future__ import annotations

import os

import pytest

from k8snet.cluster import memfs

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
30 22 254:0 /run/netns /run/netns rw,relatime shared:5 - ext4 /dev/vda rw,discard
41 30 0:52 / /run/netns rw,relatime shared:9 - tmpfs k8snet rw,size=16384k,mode=755
42 22 0:53 / /run/k8snet\\040x rw,relatime - tmpfs other rw
"""


def test_top_mount_is_the_last_line_for_the_mount_point():
    assert memfs.top_mount(MOUNTINFO, "/run/netns") == ("tmpfs", "k8snet")
    assert memfs.top_mount(MOUNTINFO, "/") == ("ext4", "/dev/vda")
    assert memfs.top_mount(MOUNTINFO, "/run/k8snet x") == ("tmpfs", "other")
    assert memfs.top_mount(MOUNTINFO, "/run") is None


def test_fs_type_reads_statfs(tmp_path):
    assert memfs.fs_type("/proc") == 0x9FA0             # PROC_SUPER_MAGIC
    assert not memfs.in_memory("/proc")
    try:
        memfs.fs_type(str(tmp_path / "missing"))
    except OSError as exc:
        assert "missing" in str(exc) and "No such file" in str(exc)
    else:
        raise AssertionError("statfs of a missing path did not fail")


def test_ensure_leaves_a_directory_with_anything_in_it(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(memfs.subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(memfs, "in_memory", lambda path: False)
    (tmp_path / "someone-else").write_text("x")
    done = memfs.ensure(str(tmp_path), "16m")
    assert done.startswith("stays on disk") and str(tmp_path) in done and not calls


def test_release_only_unmounts_k8snets_own_empty_tmpfs(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(memfs.subprocess, "run",
                        lambda argv, **k: calls.append(argv) or type("R", (), {"returncode": 0}))
    path = os.path.realpath(tmp_path)
    info = f"50 22 0:60 / {path} rw - tmpfs k8snet rw\n"
    monkeypatch.setattr(memfs, "_mountinfo", lambda: info)
    (tmp_path / "pin").write_text("")
    assert not memfs.release(str(tmp_path)) and not calls          # not empty
    (tmp_path / "pin").unlink()
    assert memfs.release(str(tmp_path)) and calls == [["umount", path]]
    monkeypatch.setattr(memfs, "_mountinfo", lambda: f"50 22 0:60 / {path} rw - tmpfs x rw\n")
    assert not memfs.release(str(tmp_path))                        # not k8snet's


def test_locked_excludes_another_k8snet_process_and_makes_no_file(tmp_path) -> None:
    """Two k8snet processes (a cluster starting, another's make clean) cannot
    both be between their look and their mount; the lock is on the
    directory itself, so nothing is left behind."""
    import subprocess
    import sys
    probe = ("import fcntl, os, sys\n"
             "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n"
             "    sys.exit(3)\n")

    def other_gets_it() -> bool:
        return subprocess.run([sys.executable, "-c", probe, str(tmp_path)]).returncode == 0

    with memfs.locked(str(tmp_path)):
        assert not other_gets_it()
    assert other_gets_it()                            # released at the block's end
    with pytest.raises(RuntimeError), memfs.locked(str(tmp_path)):
        raise RuntimeError                            # ... and when it raises
    assert other_gets_it() and list(tmp_path.iterdir()) == []   # flock(2), not a lock file
