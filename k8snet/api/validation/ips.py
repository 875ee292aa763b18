"""IP addresses and CIDRs as Go's ``net`` package parses them."""
from __future__ import annotations

import ipaddress
import re

_IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
_CIDR_RE = re.compile(r"([^/]+)/([0-9]{1,3})")


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``net.ParseIP``: no IPv6 zone (``fe80::1%eth0``), which Python's ``ipaddress``
    accepts with any text after the ``%``, spaces and ``;`` included."""
    if "%" in value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """``a.b.c.d/n`` as Go's ParseCIDR takes it (host bits allowed)."""
    match = _CIDR_RE.fullmatch(value)
    if not match or _parse_ip(match.group(1)) is None:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _special_ip_errors(ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                       text: str) -> list[str]:
    """``ValidateNonSpecialIP``: addresses that can never be endpoints."""
    errs = []
    if ip.is_unspecified:
        errs.append(f"may not be unspecified ({text})")
    if ip.is_loopback:
        errs.append("may not be in the loopback range (127.0.0.0/8, ::1/128)")
    if ip.is_link_local:
        errs.append("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    multicast = ipaddress.ip_network("224.0.0.0/24" if ip.version == 4 else "ff02::/16")
    if ip in multicast:
        errs.append("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
    return errs
