"""controllers.ttl_exceeded: the fabric's ICMP time exceeded, decoded with
os-ken's packet parser (frames built by hand, no switch)."""
from __future__ import annotations

import struct

from os_ken.lib.packet import ethernet, icmp, ipv4, packet

from controllers.ttl_exceeded import time_exceeded

GW_IP, GW_MAC = "172.18.0.1", "02:00:00:00:ff:01"


def _ip_header(src: str, dst: str, proto: int, payload: bytes, ttl: int = 1,
               frag: int = 0) -> bytes:
    total = 20 + len(payload)
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 7, frag, ttl, proto, 0,
                       bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    return head + payload


def _frame(ip: bytes) -> bytes:
    return bytes.fromhex("020000000002" "02000000ff01" "0800") + ip


def test_a_udp_probe_gets_time_exceeded_from_the_gateway():
    udp = struct.pack("!HHHH", 40000, 33434, 16, 0) + b"12345678"
    original = _ip_header("10.244.1.3", "10.244.2.4", 17, udp)
    reply = packet.Packet(time_exceeded(_frame(original), GW_IP, GW_MAC))
    eth = reply.get_protocol(ethernet.ethernet)
    assert (eth.dst, eth.src) == (GW_MAC, GW_MAC)          # the fabric routes it
    ip = reply.get_protocol(ipv4.ipv4)
    assert (ip.src, ip.dst, ip.proto, ip.ttl) == (GW_IP, "10.244.1.3", 1, 64)
    msg = reply.get_protocol(icmp.icmp)
    assert (msg.type, msg.code) == (11, 0)
    assert msg.data.data == original[:28]                   # header + 8 bytes quoted


def test_no_answer_to_icmp_errors_fragments_or_other_frames():
    error = bytes([3, 3, 0, 0, 0, 0, 0, 0])
    assert time_exceeded(_frame(_ip_header("10.244.1.3", "10.244.2.4", 1, error)),
                         GW_IP, GW_MAC) is None
    echo = bytes([8, 0, 0, 0, 0, 1, 0, 1])                  # a ping is answered
    assert time_exceeded(_frame(_ip_header("10.244.1.3", "10.244.2.4", 1, echo)),
                         GW_IP, GW_MAC) is not None
    later = _ip_header("10.244.1.3", "10.244.2.4", 17, b"x" * 8, frag=185)
    assert time_exceeded(_frame(later), GW_IP, GW_MAC) is None
    arp = bytes.fromhex("ffffffffffff" "020000000002" "0806") + bytes(28)
    assert time_exceeded(arp, GW_IP, GW_MAC) is None
    assert time_exceeded(b"\x00" * 10, GW_IP, GW_MAC) is None
