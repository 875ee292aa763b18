"""Checks that run before anything is built: fail early, in one line.

A missing kernel feature is detected by trying it in a scratch namespace,
never assumed and never faked.
"""
from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess

from k8snet.errors import K8snetError, MissingKernelFeature


def _run(cmd: list[str], timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def require_root() -> None:
    if os.geteuid() != 0:
        raise K8snetError("k8snet needs root (network namespaces, OVS); "
                          "run it with sudo")


def require_tools() -> None:
    missing = [t for t in ("ip", "ovs-vsctl", "ovs-ofctl", "tc", "mnexec", "nsenter", "unshare")
               if not shutil.which(t)]
    if missing:
        raise K8snetError("missing programs: " + ", ".join(missing)
                          + "; run 'make setup'")


def require_ovs() -> None:
    try:
        out = _run(["ovs-vsctl", "--timeout=5", "show"])
    except subprocess.TimeoutExpired:
        out = None
    if out is None or out.returncode != 0:
        raise K8snetError("Open vSwitch is not running (ovs-vsctl show failed); "
                          "run 'make setup' to start it")


def _scratch_tc(qdisc: list[str]) -> subprocess.CompletedProcess:
    ns = f"k8snet-probe-{os.getpid()}"
    _run(["ip", "netns", "add", ns])
    try:
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return _run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev",
                     "lo", "root", *qdisc])
    finally:
        _run(["ip", "netns", "delete", ns])


def has_netem() -> bool:
    return _scratch_tc(["netem", "delay", "1ms"]).returncode == 0


def require_netem(what: str) -> None:
    if not has_netem():
        raise MissingKernelFeature(
            f"{what} needs the netem qdisc (CONFIG_NET_SCH_NETEM), which this "
            "kernel lacks; remove the link delay/loss (bw shaping with HTB "
            "works)")


OPEN_FILES_WANTED = 65536


def raise_open_files(wanted: int = OPEN_FILES_WANTED) -> int:
    """Raise this process's soft RLIMIT_NOFILE toward ``wanted`` (never above
    the hard limit), as Mininet's ``fixLimits`` does; returns the soft limit
    now in force.  The lab holds a descriptor per container process (its
    pidfd, k8snet.node.exits) besides its sockets: a login shell's 1,024 is
    too few for 1,000 pods."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def require_port_free(port: int, what: str) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise K8snetError(
                f"127.0.0.1:{port} ({what}) is in use: is another cluster "
                "running? 'make clean' stops it") from None
