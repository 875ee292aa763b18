"""Checks of single topology fields, each refusing with the file and the field path.

Topology values end up in commands: Mininet configures hosts and links with
shell strings (``ifconfig``, ``ip route``, ``tc``, ``ovs-vsctl``), so every value
is checked here against a strict format and handed on in its canonical form
(``str(IPv4Network(...))``), never as written.  Addresses are IPv4 only: IPv6
is disabled in every node's namespace, and an IPv6 scope id (``fe80::1%eth0``,
which Python's ``ipaddress`` accepts with any text after the ``%``) is exactly
how a value could carry ``;`` into a shell.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from k8snet.api.validation.formats import (
    is_dns1123_subdomain,
    is_label_value,
    is_qualified_name,
)
from k8snet.errors import K8snetError

# Each node is a Mininet host with its own kubelet, proxy and agents on this one
# machine, and the node MAC and address plan (172.18.0.(10+i)) run out past 244.
MAX_NODES = 64
MAX_LINK_DELAY_MS = 10_000
_DELAY = re.compile(r"([0-9]{1,7}(?:\.[0-9]{1,3})?)(us|ms|s)")
_DELAY_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


class TopologyError(K8snetError):
    pass


def shown(value: Any) -> str:
    """A value for a one-line message: quoted, escaped, cut at 60 characters."""
    if isinstance(value, str) and len(value) > 60:
        value = value[:60] + "..."
    return repr(value)


def fail(source: str, where: str, what: str) -> TopologyError:
    return TopologyError(f"{source}: {where}: {what}")


def mapping(value: Any, source: str, where: str, known: tuple[str, ...] = ()) -> dict:
    """A mapping (``{}`` for null); with ``known``, unknown keys are refused."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(source, where, "expected a mapping")
    for key in value:
        if known and key not in known:
            raise fail(source, f"{where}.{key}" if where else str(key),
                       f"unknown field (known: {', '.join(sorted(known))})")
    return value


def string(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str):
        raise fail(source, where, f"{shown(value)} must be a string")
    return value


def ipv4_network(value: Any, source: str, where: str) -> str:
    """``a.b.c.d/n`` with no host bits; its canonical text."""
    text = string(value, source, where)
    try:
        return str(ipaddress.IPv4Network(text))
    except ValueError as exc:
        raise fail(source, where, f"{shown(text)} is not an IPv4 CIDR ({exc}; the lab's "
                   "network is IPv4 only)") from None


def ipv4_address(value: Any, source: str, where: str) -> str:
    text = string(value, source, where)
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise fail(source, where, f"{shown(text)} is not an IPv4 address (the lab's "
                   "network is IPv4 only)") from None


def subdomain(value: Any, source: str, where: str) -> str:
    """A DNS-1123 subdomain, with the API server's wording."""
    text = string(value, source, where)
    problems = is_dns1123_subdomain(text)
    if problems:
        raise fail(source, where, f"{shown(text)}: {problems[0]}")
    return text


def labels(value: Any, source: str, where: str) -> tuple[tuple[str, str], ...]:
    """Node labels: keys qualified names, values label values (``ValidateLabels``)."""
    out = []
    for key, raw in mapping(value, source, where).items():
        key_text = string(key, source, where)
        text = raw if isinstance(raw, str) else str(raw)
        problems = is_qualified_name(key_text)
        if problems:
            raise fail(source, where, f"key {shown(key_text)}: {problems[0]}")
        problems = is_label_value(text)
        if problems:
            raise fail(source, f"{where}.{key_text}", f"{shown(text)}: {problems[0]}")
        out.append((key_text, text))
    return tuple(sorted(out))


def link_delay(value: Any, source: str) -> str | None:
    """``links.delay`` as tc netem takes it: ``NUMBER`` and ``us``, ``ms`` or ``s``."""
    if value is None:
        return None
    text = value if isinstance(value, str) else shown(value)
    match = _DELAY.fullmatch(text)
    if not match or float(match[1]) * _DELAY_MS[match[2]] > MAX_LINK_DELAY_MS:
        raise fail(source, "links.delay", f"{shown(value)} must be a delay such as '5ms' "
                   f"(us, ms or s; at most {MAX_LINK_DELAY_MS // 1000} s)")
    return text


def link_number(value: Any, source: str, where: str, high: float, unit: str) -> float | None:
    """A number in ``(0, high]`` (``bw``) or ``[0, high]`` (``loss``), or None."""
    if value is None:
        return None
    low_ok = (lambda v: v > 0) if where == "links.bw" else (lambda v: v >= 0)
    if type(value) not in (int, float) or not (low_ok(value) and value <= high):
        raise fail(source, where, f"{shown(value)} must be {unit}, 0-{high:g}")
    return value


def node_count(value: Any, source: str, where: str = "nodes") -> None:
    """At most :data:`MAX_NODES` nodes."""
    if value > MAX_NODES:
        raise fail(source, where, f"{value} nodes is more than this lab's limit of {MAX_NODES} "
                   "(each node is a Mininet host with its own kubelet and proxy, all on this "
                   "one machine)")
