"""ovs-vswitchd's receive buffers on the lab's veth ports.

With the userspace (``netdev``) datapath, ovs-vswitchd reads each veth port
through an AF_PACKET socket that it never sizes, so the socket gets
``net.core.rmem_default``: 208 KB here, three 64 KB TSO segments.  Whenever a
pass of its loop takes longer than those three segments take to arrive, the
rest are dropped before OVS sees them.  Its port counters and the veth's
show nothing.  Measured on a bare bridge, TCP x1 for 3 s, three runs:

- with the default buffer: 9.2–10.6 Gbit/s and 222,000–233,000 TCP
  retransmissions (one segment in twelve was lost);
- with 4 MB: 15.3–15.8 Gbit/s and 1,000–2,700 retransmissions;
- with tap (internal) ports, which queue 1,000 packets: 15.4–16.0 Gbit/s and
  none.

OVS 3.1 has no setting for this buffer.  Raising ``rmem_default`` would
change every socket on the machine, so this sizes only the sockets bound to
the given ports.  It borrows each socket from ovs-vswitchd (pidfd_getfd(2),
Linux 5.6; the copy shares the socket), sets ``SO_RCVBUFFORCE`` and closes
the copy.  Where that cannot be done (an older kernel, ptrace forbidden,
ovs-vswitchd not found), it says why and changes nothing.  The perf
baselines get the same buffers as the cluster, so that both sides are
compared like for like.

Sources: packet(7), socket(7) SO_RCVBUFFORCE, pidfd_getfd(2).
"""
from __future__ import annotations

import ctypes
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RX_BUFFER = 4 * 1024 * 1024      # bytes; the kernel doubles it for its bookkeeping
OVS_PIDFILE = Path("/var/run/openvswitch/ovs-vswitchd.pid")
SO_RCVBUFFORCE = 33
SYS_PIDFD_GETFD = 438            # numbered alike on every architecture from 424 on
_SOCKET_LINK = re.compile(r"socket:\[(\d+)\]")

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass(frozen=True)
class Tuned:
    """What ``tune`` did: the ports whose sockets it sized, and why not, if not."""
    ports: tuple[str, ...] = ()
    skipped: str = ""

    def describe(self, size: int = RX_BUFFER) -> str:
        if self.skipped:
            return f"OVS receive buffers left at the system default: {self.skipped}"
        return f"OVS receive buffers: {size // 1024 // 1024} MiB on {len(self.ports)} ports"


def packet_sockets(proc_net_packet: str) -> dict[int, int]:
    """``/proc/net/packet`` text -> {socket inode: interface index} (pure)."""
    out = {}
    for line in proc_net_packet.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 9 and fields[4].isdigit() and fields[8].isdigit():
            out[int(fields[8])] = int(fields[4])
    return out


def socket_fds(fd_links: dict[int, str]) -> dict[int, int]:
    """{fd: readlink of /proc/PID/fd/FD} -> {socket inode: fd} (pure)."""
    out = {}
    for fd, target in fd_links.items():
        m = _SOCKET_LINK.fullmatch(target)
        if m:
            out[int(m.group(1))] = fd
    return out


def _ovs_pid() -> int:
    return int(OVS_PIDFILE.read_text().strip())


def _fd_links(pid: int) -> dict[int, str]:
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue                      # closed meanwhile
    return out


def _port_sockets(ports: Iterable[str]) -> tuple[int, dict[str, list[int]]]:
    """ovs-vswitchd's PID and, per port, the numbers of its descriptors for
    the packet sockets bound to that port.  Raises OSError, ValueError."""
    wanted: dict[int, str] = {}
    for name in ports:
        try:
            wanted[socket.if_nametoindex(name)] = name
        except OSError:
            continue                      # not (or no longer) here
    pid = _ovs_pid()
    bound = packet_sockets(Path("/proc/net/packet").read_text())
    out: dict[str, list[int]] = {}
    for inode, fd in socket_fds(_fd_links(pid)).items():
        name = wanted.get(bound.get(inode, 0))
        if name is not None:
            out.setdefault(name, []).append(fd)
    return pid, out


def _borrow(pidfd: int, fd: int) -> socket.socket:
    local = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    if local < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pidfd_getfd: {os.strerror(err)}")
    return socket.socket(fileno=local)


def tune(ports: Iterable[str], size: int = RX_BUFFER) -> Tuned:
    """Give ovs-vswitchd's receive sockets on ``ports`` (root-namespace
    interface names) ``size`` bytes of buffer.  Never raises: what could not
    be done is in ``Tuned.skipped``."""
    try:
        pid, found = _port_sockets(ports)
        pidfd = os.pidfd_open(pid)
    except (OSError, ValueError) as exc:
        return Tuned(skipped=f"ovs-vswitchd's sockets not found ({exc})")
    done = []
    try:
        for name, fds in sorted(found.items()):
            for fd in fds:
                with _borrow(pidfd, fd) as sock:
                    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
            done.append(name)
    except OSError as exc:
        return Tuned(tuple(done), f"{exc.strerror or exc} (Linux 5.6 and ptrace "
                                  "rights are needed to size another process's socket)")
    finally:
        os.close(pidfd)
    return Tuned(tuple(done))


def buffers(ports: Iterable[str]) -> dict[str, list[int]]:
    """Per port, the receive buffer (bytes, as getsockopt reports it) of each
    of ovs-vswitchd's sockets on it.  Raises OSError."""
    pid, found = _port_sockets(ports)
    pidfd = os.pidfd_open(pid)
    try:
        out = {}
        for name, fds in found.items():
            sizes = []
            for fd in fds:
                with _borrow(pidfd, fd) as sock:
                    sizes.append(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
            out[name] = sizes
        return out
    finally:
        os.close(pidfd)
