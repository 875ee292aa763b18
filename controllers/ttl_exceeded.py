"""ICMP time exceeded from the fabric, as a router sends it (RFC 792, RFC 1812
section 4.3.2.2), so that traceroute shows the fabric as one hop.

The fabric routes with ``dec_nw_ttl``; a packet whose TTL would reach zero
comes to the controller as a packet-in with reason OFPR_INVALID_TTL (OpenFlow
1.3, section 5.12).  ``time_exceeded`` builds the answer: from the fabric
gateway's address and MAC to the packet's source, quoting its IP header and
first 8 bytes of payload.  The controller injects it into the switch's
pipeline (OFPP_TABLE), so the fabric's own route flows take it to the
source's node like any packet.  No answer for an ICMP error (RFC 1812
4.3.2.7), for a fragment other than the first, or for what is not IPv4.

Pure: bytes in, bytes out (os-ken's packet library builds the frame).
"""
from __future__ import annotations

import ipaddress

from os_ken.lib.packet import ethernet, icmp, ipv4, packet
from os_ken.lib.packet.ether_types import ETH_TYPE_IP

ICMP_ERRORS = (3, 4, 5, 11, 12)      # unreachable, quench, redirect, time exceeded, problem
TTL = 64
QUOTED_PAYLOAD = 8                   # bytes of the original datagram after its header


def time_exceeded(frame: bytes, gateway_ip: str, gateway_mac: str) -> bytes | None:
    """The Ethernet frame answering ``frame`` (whose TTL ran out in the
    fabric) with ICMP type 11 code 0, addressed to the gateway's MAC so the
    fabric routes it; None when no answer is due."""
    if len(frame) < 14 + 20 or int.from_bytes(frame[12:14], "big") != ETH_TYPE_IP:
        return None
    ip = frame[14:]
    if ip[0] >> 4 != 4:
        return None
    header_len = (ip[0] & 0x0F) * 4
    if header_len < 20 or len(ip) < header_len:
        return None
    if int.from_bytes(ip[6:8], "big") & 0x1FFF:      # a later fragment
        return None
    source = ipaddress.IPv4Address(ip[12:16])
    if source.is_multicast or source.is_unspecified or source == ipaddress.IPv4Address(
            "255.255.255.255"):
        return None
    if ip[9] == 1 and len(ip) > header_len and ip[header_len] in ICMP_ERRORS:
        return None
    quoted = bytes(ip[:header_len + QUOTED_PAYLOAD])
    reply = packet.Packet()
    reply.add_protocol(ethernet.ethernet(dst=gateway_mac, src=gateway_mac,
                                         ethertype=ETH_TYPE_IP))
    reply.add_protocol(ipv4.ipv4(ttl=TTL, proto=1, src=gateway_ip, dst=str(source)))
    reply.add_protocol(icmp.icmp(type_=icmp.ICMP_TIME_EXCEEDED, code=0,
                                 data=icmp.TimeExceeded(data=quoted)))
    reply.serialize()
    return bytes(reply.data)
