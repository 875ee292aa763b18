"""rtnetlink requests for wiring a pod, encoded by hand and sent in batches.

Pod set-up is a handful of small netlink requests.  Through pyroute2 each
costs about 0.25 ms of Python (an asyncio loop per call) and a round trip;
here the requests of one namespace are packed into one ``send`` and their
acknowledgements read back together, so a pod costs three round trips
(k8snet.node.cni).  The kernel handles the messages of one send in order
and answers each (``netlink_rcv_skb``), an error in one not stopping the
rest.

The encoders are pure (``bytes`` out, checked in the unit tests by decoding
them with pyroute2's parsers); ``RtnlSocket`` is the thin apply layer.
pyroute2 stays the lab's netlink library everywhere else.

Sources: rtnetlink(7), netlink(7); linux/rtnetlink.h, linux/if_link.h,
linux/veth.h, linux/if_addr.h (the constants below).
"""
from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from k8snet.errors import K8snetError
from k8snet.node import syscalls

NETLINK_ROUTE = 0

# nlmsghdr types and flags (linux/netlink.h, linux/rtnetlink.h)
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400

# struct ifinfomsg attributes (linux/if_link.h)
IFLA_IFNAME = 3
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1            # linux/veth.h: a struct ifinfomsg, then the peer's attributes
IFF_UP = 0x1
LOOPBACK_IFINDEX = 1          # lo is index 1 in every network namespace

# struct ifaddrmsg and struct rtmsg attributes
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
IFA_F_NOPREFIXROUTE = 0x200   # no connected route for the address's prefix
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4             # what pyroute2 and `ip route add ... proto static` write
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1

NLMSGHDR = struct.Struct("=IHHII")      # len, type, flags, seq, pid
IFINFOMSG = struct.Struct("=BxHiII")    # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")     # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")     # family, dst_len, src_len, tos, table, protocol,
                                        # scope, type, flags
NLATTR = struct.Struct("=HH")           # len, type
NLMSGERR = struct.Struct("=i")          # the error, then the request's header
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10          # errors carry the request's header only, not its body
NETLINK_EXT_ACK = 11          # errors carry the kernel's reason (extack)
NLM_F_ACK_TLVS = 0x200        # in an error's flags: attributes follow
NLMSGERR_ATTR_MSG = 1



class NetlinkFailure(K8snetError):
    """The kernel refused a request: ``code`` is the errno, the message names
    the request (what and which device)."""

    def __init__(self, code: int, what: str, reason: str = "") -> None:
        super().__init__(f"{what}: {os.strerror(code)}" + (f" ({reason})" if reason else ""))
        self.code = code


@dataclass(frozen=True)
class Request:
    """One netlink message (its header's seq and pid left to the sender)
    and what it does, said for errors."""

    type: int
    flags: int
    body: bytes
    what: str


# --- encoders (pure) ----------------------------------------------------------------

def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute (struct nlattr), padded to 4 bytes."""
    return _pad(NLATTR.pack(NLATTR.size + len(payload), kind) + payload)


def attr_str(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def attr_u8(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=B", value))


def _ip(address: str) -> bytes:
    return ipaddress.IPv4Address(address).packed


def create_veth(name: str, master: int, peer: str, peer_netns_fd: int) -> Request:
    """``ip link add NAME [master MASTER] up type veth peer name PEER netns FD``:
    the node end up (on bridge MASTER unless it is 0), the peer created
    straight in the pod's namespace (no move afterwards).  The peer cannot be
    brought up in the same request (veth_open refuses, ENOTCONN, until the
    pair is joined): bring it up in its namespace.  NLM_F_EXCL: an existing
    NAME is an error."""
    peer_info = (IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
                 + attr_str(IFLA_IFNAME, peer) + attr_u32(IFLA_NET_NS_FD, peer_netns_fd))
    linkinfo = attr_str(IFLA_INFO_KIND, "veth") + attr(
        IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info))
    body = (IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP)
            + attr_str(IFLA_IFNAME, name)
            + (attr_u32(IFLA_MASTER, master) if master else b"")
            + attr(IFLA_LINKINFO, linkinfo))
    return Request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body,
                   f"create veth {name} (peer {peer})")


def get_link(name: str) -> Request:
    """``ip link show NAME``: the reply carries the index and, for a veth,
    its peer's index (IFLA_LINK)."""
    body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr_str(IFLA_IFNAME, name)
    return Request(RTM_GETLINK, 0, body, f"look up {name}")


def link_up(index: int, what: str) -> Request:
    """``ip link set INDEX up``."""
    body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP)
    return Request(RTM_NEWLINK, 0, body, f"set {what} up")


def add_address(index: int, address: str, prefixlen: int, what: str,
                prefix_route: bool = True) -> Request:
    """``ip addr add ADDRESS/PREFIXLEN dev INDEX`` (no broadcast, scope
    global); ``prefix_route=False`` adds ``noprefixroute``: no connected route
    for the prefix (the routes are the caller's)."""
    flags = b"" if prefix_route else attr_u32(IFA_FLAGS, IFA_F_NOPREFIXROUTE)
    body = (IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
            + attr(IFA_LOCAL, _ip(address)) + attr(IFA_ADDRESS, _ip(address)) + flags)
    return Request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body,
                   f"add address {address}/{prefixlen} to {what}")


def add_default_route(gateway: str) -> Request:
    """``ip route add default via GATEWAY proto static`` in the main table."""
    return add_route("0.0.0.0/0", gateway=gateway)


def add_route(destination: str, gateway: str = "", oif: int = 0, what: str = "") -> Request:
    """``ip route add DESTINATION [via GATEWAY] [dev OIF] proto static`` in the
    main table: through ``gateway`` (scope global), or a route on the link
    ``oif`` alone (scope link, ``what`` names it for errors)."""
    net = ipaddress.IPv4Network(destination)
    scope = RT_SCOPE_UNIVERSE if gateway else RT_SCOPE_LINK
    body = (RTMSG.pack(socket.AF_INET, net.prefixlen, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC,
                       scope, RTN_UNICAST, 0)
            + (attr(RTA_DST, net.network_address.packed) if net.prefixlen else b"")
            + (attr(RTA_GATEWAY, _ip(gateway)) if gateway else b"")
            + (attr_u32(RTA_OIF, oif) if oif else b""))
    shown = "default route" if not net.prefixlen else f"route {net}"
    return Request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body,
                   f"add {shown}" + (f" via {gateway}" if gateway else "")
                   + (f" dev {what or oif}" if oif else ""))


def encode(requests: Sequence[Request], first_seq: int) -> bytes:
    """The batch as one buffer: each message asks for an acknowledgement."""
    out = bytearray()
    for seq, req in enumerate(requests, first_seq):
        out += NLMSGHDR.pack(NLMSGHDR.size + len(req.body), req.type,
                             req.flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0)
        out += _pad(req.body)
    return bytes(out)


# --- decoders (pure) ----------------------------------------------------------------

def messages(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """Split a netlink datagram into (type, flags, seq, payload)."""
    out, offset = [], 0
    while offset + NLMSGHDR.size <= len(data):
        length, kind, flags, seq, _ = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size:
            break
        out.append((kind, flags, seq, data[offset + NLMSGHDR.size:offset + length]))
        offset += (length + 3) & ~3
    return out


def parse_error(flags: int, payload: bytes) -> tuple[int, str]:
    """An NLMSG_ERROR's errno (0: an acknowledgement) and the kernel's reason,
    if it gave one (with NETLINK_CAP_ACK the request's body is not echoed)."""
    code = -NLMSGERR.unpack_from(payload)[0]
    reason = ""
    if flags & NLM_F_ACK_TLVS:
        attrs = attributes(payload[NLMSGERR.size + NLMSGHDR.size:])
        reason = attrs.get(NLMSGERR_ATTR_MSG, b"").split(b"\0", 1)[0].decode(errors="replace")
    return code, reason


def attributes(data: bytes) -> dict[int, bytes]:
    """The attributes following a fixed header, by type (nested flags masked off)."""
    out, offset = {}, 0
    while offset + NLATTR.size <= len(data):
        length, kind = NLATTR.unpack_from(data, offset)
        if length < NLATTR.size:
            break
        out[kind & 0x3FFF] = data[offset + NLATTR.size:offset + length]
        offset += (length + 3) & ~3
    return out


@dataclass(frozen=True)
class Link:
    """A link as RTM_NEWLINK describes it: index, name, and ``peer`` (IFLA_LINK:
    a veth's peer's index, in the peer's namespace; 0 when absent)."""

    index: int
    name: str
    peer: int


def parse_link(payload: bytes) -> Link:
    _, _, index, _, _ = IFINFOMSG.unpack_from(payload)
    attrs = attributes(payload[IFINFOMSG.size:])
    name = attrs.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode()
    peer = struct.unpack("=I", attrs[IFLA_LINK])[0] if IFLA_LINK in attrs else 0
    return Link(index, name, peer)


# --- the apply layer ------------------------------------------------------------------

class RtnlSocket:
    """A NETLINK_ROUTE socket (in the namespace of the thread that opened it)
    that sends a batch of requests at once and reads all their answers.  The
    kernel answers a request inside ``send``, so the answers are read without
    waiting and the GIL is kept throughout (k8snet.node.syscalls)."""

    RECV = 65536

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seq = 0
        self._buf = ctypes.create_string_buffer(self.RECV)

    @classmethod
    def open(cls) -> RtnlSocket:
        """A socket in the calling thread's network namespace."""
        fd = syscalls.socket_fd(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE, "rtnetlink")
        for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
            syscalls.setsockopt_int(fd, SOL_NETLINK, option, 1)   # older kernels: plain errors
        return cls(fd)

    def close(self) -> None:
        if self.fd >= 0:
            syscalls.close_fd(self.fd)
            self.fd = -1

    def __enter__(self) -> RtnlSocket:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _recv(self) -> bytes:
        n = syscalls.recv_nowait(self.fd, self._buf, "rtnetlink")
        if n < 0:
            n = syscalls.recv_wait(self.fd, self._buf, "rtnetlink")
        return self._buf.raw[:n]

    def transact(self, requests: Sequence[Request]) -> list[list[bytes]]:
        """Send ``requests`` in one datagram; return, per request, the payloads
        of the messages answering it (a GET's reply).  Raises NetlinkFailure for
        the first refused request, after every answer has been read."""
        first = self.seq + 1
        self.seq += len(requests)
        syscalls.send(self.fd, encode(requests, first), "rtnetlink")
        replies: list[list[bytes]] = [[] for _ in requests]
        errors: dict[int, tuple[int, str]] = {}
        acked = 0
        while acked < len(requests):
            for kind, flags, seq, payload in messages(self._recv()):
                i = seq - first
                if not 0 <= i < len(requests):
                    continue                     # an answer to an earlier batch
                if kind == NLMSG_ERROR:
                    code, reason = parse_error(flags, payload)
                    if code:
                        errors[i] = (code, reason)
                    acked += 1
                elif kind != NLMSG_DONE:
                    replies[i].append(payload)
        if errors:
            i = min(errors)
            raise NetlinkFailure(errors[i][0], requests[i].what, errors[i][1])
        return replies
