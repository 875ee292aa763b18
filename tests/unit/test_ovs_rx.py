"""k8snet.cluster.ovs_rx's pure parts: which of ovs-vswitchd's descriptors are
the packet sockets bound to the lab's ports."""
from __future__ import annotations

from k8snet.cluster import ovs_rx

PACKET = """\
sk               RefCnt Type Proto  Iface R Rmem   User   Inode
00000000b44a94af 2      3    0000   0     0 0      0      85083046
000000001c0ffee0 3      3    0003   41    1 0      0      900001
000000001c0ffee1 3      3    0003   42    1 4352   0      900002
000000001c0ffee2 3      3    0003   43    1 0      0      900003
"""


def test_packet_sockets_map_each_inode_to_its_interface():
    assert ovs_rx.packet_sockets(PACKET) == {85083046: 0, 900001: 41, 900002: 42,
                                             900003: 43}
    assert ovs_rx.packet_sockets("sk RefCnt Type Proto Iface R Rmem User Inode\n") == {}
    assert ovs_rx.packet_sockets(PACKET + "garbage line\n") == ovs_rx.packet_sockets(PACKET)


def test_socket_fds_keep_only_sockets():
    links = {0: "/dev/null", 7: "socket:[900001]", 9: "pipe:[12]", 12: "socket:[900003]",
             13: "anon_inode:[eventpoll]", 14: "socket:[nope]"}
    assert ovs_rx.socket_fds(links) == {900001: 7, 900003: 12}


def test_what_was_done_is_said():
    assert ovs_rx.Tuned(("k8sbfp0", "k8sbfp1")).describe() == \
        "OVS receive buffers: 4 MiB on 2 ports"
    said = ovs_rx.Tuned(skipped="pidfd_getfd: Operation not permitted").describe()
    assert said == ("OVS receive buffers left at the system default: "
                    "pidfd_getfd: Operation not permitted")


def test_tune_never_raises_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(ovs_rx, "OVS_PIDFILE", tmp_path / "absent.pid")
    tuned = ovs_rx.tune(["lo"])
    assert tuned.ports == () and "ovs-vswitchd's sockets not found" in tuned.skipped
