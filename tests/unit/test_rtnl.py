"""k8snet.node.rtnl: the hand-encoded rtnetlink requests of pod set-up, decoded by
pyroute2's own parsers (an independent oracle), and the batch sender's
bookkeeping against a fake kernel on a datagram socketpair (no root)."""
from __future__ import annotations

import errno
import socket
import struct

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from k8snet.node import rtnl

REQUEST_ACK = rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK


def _ifinfo(req: rtnl.Request, seq: int = 1) -> ifinfmsg:
    msg = ifinfmsg(rtnl.encode([req], seq))
    msg.decode()
    return msg


def test_create_veth_puts_the_peer_in_the_pod_namespace_and_the_node_end_on_a_master():
    msg = _ifinfo(rtnl.create_veth("veth1a2b3c4d", 7, "eth0", 42), seq=9)
    assert msg["header"]["type"] == rtnl.RTM_NEWLINK
    assert msg["header"]["sequence_number"] == 9
    assert msg["header"]["flags"] == REQUEST_ACK | rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL
    assert (msg["flags"], msg["change"]) == (rtnl.IFF_UP, rtnl.IFF_UP)
    assert msg.get_attr("IFLA_IFNAME") == "veth1a2b3c4d"
    assert msg.get_attr("IFLA_MASTER") == 7
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer.get_attr("IFLA_IFNAME") == "eth0"
    assert peer.get_attr("IFLA_NET_NS_FD") == 42
    # The peer cannot be up before the pair is joined (veth_open: ENOTCONN).
    assert peer["flags"] == 0 and peer["change"] == 0


def test_create_veth_without_master_leaves_the_node_end_unenslaved():
    msg = _ifinfo(rtnl.create_veth("veth1a2b3c4d", 0, "eth0", 42))
    assert msg.get_attr("IFLA_MASTER") is None
    assert msg.get_attr("IFLA_IFNAME") == "veth1a2b3c4d"


def test_link_up_and_get():
    up = _ifinfo(rtnl.link_up(rtnl.LOOPBACK_IFINDEX, "lo"))
    assert (up["index"], up["flags"], up["change"]) == (1, rtnl.IFF_UP, rtnl.IFF_UP)
    get = _ifinfo(rtnl.get_link("veth0"))
    assert get["header"]["type"] == rtnl.RTM_GETLINK and get.get_attr("IFLA_IFNAME") == "veth0"


def test_address_is_local_and_peer_without_broadcast():
    msg = ifaddrmsg(rtnl.encode([rtnl.add_address(2, "10.244.1.7", 24, "eth0")], 1))
    msg.decode()
    assert msg["header"]["flags"] == REQUEST_ACK | rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL
    assert (msg["family"], msg["index"], msg["prefixlen"]) == (socket.AF_INET, 2, 24)
    assert msg.get_attr("IFA_LOCAL") == msg.get_attr("IFA_ADDRESS") == "10.244.1.7"
    assert msg.get_attr("IFA_BROADCAST") is None


def test_default_route_is_static_in_the_main_table():
    msg = rtmsg(rtnl.encode([rtnl.add_default_route("10.244.1.1")], 1))
    msg.decode()
    assert msg["header"]["type"] == rtnl.RTM_NEWROUTE
    assert (msg["dst_len"], msg["table"], msg["proto"], msg["type"]) == (0, 254, 4, 1)
    assert msg.get_attr("RTA_GATEWAY") == "10.244.1.1" and msg.get_attr("RTA_DST") is None


def test_address_without_prefix_route_carries_ifa_flags():
    msg = ifaddrmsg(rtnl.encode([rtnl.add_address(2, "10.244.1.7", 24, "eth0",
                                                  prefix_route=False)], 1))
    msg.decode()
    assert msg["prefixlen"] == 24
    assert msg.get_attr("IFA_FLAGS") == rtnl.IFA_F_NOPREFIXROUTE


def test_link_route_is_scope_link_on_the_device():
    msg = rtmsg(rtnl.encode([rtnl.add_route("10.244.1.7/32", oif=9, what="veth0")], 1))
    msg.decode()
    assert (msg["dst_len"], msg["scope"], msg["type"]) == (32, rtnl.RT_SCOPE_LINK, 1)
    assert msg.get_attr("RTA_DST") == "10.244.1.7" and msg.get_attr("RTA_OIF") == 9
    assert msg.get_attr("RTA_GATEWAY") is None
    assert rtnl.add_route("10.244.1.7/32", oif=9, what="veth0").what == \
        "add route 10.244.1.7/32 dev veth0"


def test_gateway_route_is_scope_universe_to_the_network():
    req = rtnl.add_route("10.244.1.0/24", "10.244.1.1")
    msg = rtmsg(rtnl.encode([req], 1))
    msg.decode()
    assert (msg["dst_len"], msg["scope"]) == (24, rtnl.RT_SCOPE_UNIVERSE)
    assert msg.get_attr("RTA_DST") == "10.244.1.0"
    assert msg.get_attr("RTA_GATEWAY") == "10.244.1.1" and msg.get_attr("RTA_OIF") is None
    assert req.what == "add route 10.244.1.0/24 via 10.244.1.1"
    with pytest.raises(ValueError):
        rtnl.add_route("10.244.1.7/24")          # host bits set


def test_a_batch_is_one_buffer_of_aligned_messages_with_consecutive_seqs():
    reqs = [rtnl.link_up(1, "lo"), rtnl.add_address(2, "10.0.0.2", 24, "eth0"),
            rtnl.get_link("a-name-of-odd-length")]
    data = rtnl.encode(reqs, 41)
    parts = rtnl.messages(data)
    assert [(kind, seq) for kind, _, seq, _ in parts] == [
        (rtnl.RTM_NEWLINK, 41), (rtnl.RTM_NEWADDR, 42), (rtnl.RTM_GETLINK, 43)]
    assert [body for *_, body in parts] == [r.body for r in reqs]
    assert len(data) % 4 == 0


def test_bad_addresses_are_refused_before_anything_is_sent():
    with pytest.raises(ValueError):
        rtnl.add_address(2, "10.0.0.300", 24, "eth0")
    with pytest.raises(ValueError):
        rtnl.add_default_route("fe80::1")


def _newlink(index: int, name: str, peer: int | None, seq: int) -> bytes:
    body = rtnl.IFINFOMSG.pack(0, 1, index, 0, 0) + rtnl.attr_str(rtnl.IFLA_IFNAME, name)
    if peer is not None:
        body += rtnl.attr_u32(rtnl.IFLA_LINK, peer)
    return rtnl.NLMSGHDR.pack(rtnl.NLMSGHDR.size + len(body), rtnl.RTM_NEWLINK, 0, seq, 0) \
        + body


def _ack(seq: int, code: int = 0, reason: str = "") -> bytes:
    """An NLMSG_ERROR as the kernel sends it with NETLINK_CAP_ACK (and extack)."""
    payload = struct.pack("=i", -code) + rtnl.NLMSGHDR.pack(0, 0, 0, seq, 0)
    flags = 0
    if reason:
        payload += rtnl.attr_str(rtnl.NLMSGERR_ATTR_MSG, reason)
        flags = rtnl.NLM_F_ACK_TLVS
    return rtnl.NLMSGHDR.pack(rtnl.NLMSGHDR.size + len(payload), rtnl.NLMSG_ERROR, flags,
                              seq, 0) + payload


def test_parse_link_reads_index_name_and_peer():
    [(_, _, _, payload)] = rtnl.messages(_newlink(3, "veth0", 2, 1))
    assert rtnl.parse_link(payload) == rtnl.Link(3, "veth0", 2)
    [(_, _, _, payload)] = rtnl.messages(_newlink(1, "lo", None, 1))
    assert rtnl.parse_link(payload) == rtnl.Link(1, "lo", 0)


@pytest.fixture
def kernel():
    """A socketpair: ``sock`` is the RtnlSocket's end, ``fake`` the kernel's."""
    fake, mine = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock = rtnl.RtnlSocket(mine.detach())
    yield sock, fake
    sock.close()
    fake.close()


def test_transact_returns_each_reply_with_its_request(kernel):
    sock, fake = kernel
    fake.send(_newlink(5, "veth0", 2, 2) + _ack(1) + _ack(2))   # one datagram, as the kernel
    replies = sock.transact([rtnl.link_up(5, "veth0"), rtnl.get_link("veth0")])
    assert replies[0] == []
    assert rtnl.parse_link(replies[1][0]).peer == 2
    sent = rtnl.messages(fake.recv(65536))
    assert [seq for _, flags, seq, _ in sent] == [1, 2]
    assert all(flags & rtnl.NLM_F_ACK for _, flags, _, _ in sent)


def test_transact_names_the_first_refused_request_and_reads_every_answer(kernel):
    sock, fake = kernel
    for datagram in (_ack(1), _ack(2, errno.EEXIST, "device exists"), _ack(3, errno.ENODEV)):
        fake.send(datagram)
    with pytest.raises(rtnl.NetlinkFailure) as caught:
        sock.transact([rtnl.link_up(1, "lo"),
                       rtnl.create_veth("veth0", 7, "eth0", 9),
                       rtnl.link_up(5, "veth0")])
    assert caught.value.code == errno.EEXIST
    assert str(caught.value) == "create veth veth0 (peer eth0): File exists (device exists)"
    # Nothing of that batch is left to confuse the next one.
    fake.send(_ack(4))
    assert sock.transact([rtnl.link_up(1, "lo")]) == [[]]


def test_transact_skips_answers_to_an_earlier_batch(kernel):
    sock, fake = kernel
    sock.seq = 10
    fake.send(_ack(7, errno.ENODEV) + _ack(11))
    assert sock.transact([rtnl.link_up(1, "lo")]) == [[]]

