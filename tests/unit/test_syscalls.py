"""k8snet.node.syscalls' file helpers (the ones pod set-up calls keeping the
GIL) against what the os module does."""
from __future__ import annotations

import os
import stat

import pytest

from k8snet.node import syscalls


def test_make_dirs_makes_each_missing_directory_and_accepts_existing_ones(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    syscalls.make_dirs(str(target))
    assert target.is_dir()
    syscalls.make_dirs(str(target))                       # exist_ok
    syscalls.make_dirs(str(tmp_path / "a" / "b" / "d"))
    assert sorted(os.listdir(tmp_path / "a" / "b")) == ["c", "d"]


def test_make_dirs_names_what_is_in_the_way(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"mkdir .*file/sub"):
        syscalls.make_dirs(str(tmp_path / "file" / "sub"))
    with pytest.raises(FileExistsError, match=r"mkdir .*/file: a file that is not a directory"):
        syscalls.make_dirs(str(tmp_path / "file"))        # as os.makedirs(exist_ok=True)


def test_replace_file_writes_whole_files_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "resolv.conf"
    syscalls.replace_file(str(path), b"nameserver 10.96.0.10\n")
    syscalls.replace_file(str(path), b"nameserver 10.96.0.11\n")
    assert path.read_text() == "nameserver 10.96.0.11\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~_umask()
    assert os.listdir(tmp_path) == ["resolv.conf"]


def test_replace_file_that_cannot_land_leaves_no_temporary(tmp_path):
    (tmp_path / "hosts").mkdir()                          # a directory where the file goes
    with pytest.raises(IsADirectoryError, match=r"rename to .*/hosts"):
        syscalls.replace_file(str(tmp_path / "hosts"), b"127.0.0.1 localhost\n")
    assert os.listdir(tmp_path) == ["hosts"]


def test_write_at_names_the_path_the_user_knows(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        (tmp_path / "knob").write_text("1")
        syscalls.write_at(fd, "knob", b"0", shown="/proc/sys/knob")
        assert (tmp_path / "knob").read_text() == "0"
        with pytest.raises(FileNotFoundError, match=r"^\[Errno 2\] open /proc/sys/missing:"):
            syscalls.write_at(fd, "missing", b"0", shown="/proc/sys/missing")
    finally:
        os.close(fd)


def test_replace_file_into_a_missing_directory_says_which(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"open .*missing/\.hosts\.tmp"):
        syscalls.replace_file(str(tmp_path / "missing" / "hosts"), b"")


def test_inode_is_what_stat_says_and_a_missing_path_is_said(tmp_path):
    (tmp_path / "f").write_text("x")
    assert syscalls.inode(str(tmp_path / "f")) == os.stat(tmp_path / "f").st_ino
    assert syscalls.inode(str(tmp_path)) == os.stat(tmp_path).st_ino
    with pytest.raises(FileNotFoundError, match=r"stat .*/nope"):
        syscalls.inode(str(tmp_path / "nope"))


def test_open_fd_creates_with_the_mode_asked_and_refuses_a_taken_name(tmp_path):
    path = str(tmp_path / "pin")
    fd = syscalls.open_fd(path, syscalls.O_RDONLY | syscalls.O_CREAT | syscalls.O_EXCL, 0o444)
    syscalls.close_fd(fd)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    with pytest.raises(FileExistsError):
        syscalls.open_fd(path, syscalls.O_RDONLY | syscalls.O_CREAT | syscalls.O_EXCL, 0o444)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
