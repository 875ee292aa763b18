"""A pod's host ports, and when two pods' host ports collide on one node.

Used by the scheduler's NodePorts filter and by the kubelet's admission of a
pod bound to its node directly.  Pure.  Source: the scheduler's NodePorts
plugin (pkg/scheduler/framework/plugins/nodeports) and HostPortInfo
(pkg/scheduler/framework/types.go).
"""
from __future__ import annotations

from collections.abc import Iterable

WILDCARD = "0.0.0.0"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"   # nodeports.ErrReason
HostPort = tuple[str, str, int]      # (host IP, protocol, port)


def _as_dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _as_int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def host_ports(pod: dict) -> set[HostPort]:
    """The host ports ``pod`` asks for (NodePorts' ``getContainerPorts``):
    every container's and init container's ports with a hostPort."""
    spec = _as_dict(pod.get("spec"))
    out: set[HostPort] = set()
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            for port in _as_dict(container).get("ports") or []:
                port = _as_dict(port)
                number = _as_int(port.get("hostPort"))
                if number > 0:
                    out.add((str(port.get("hostIP") or WILDCARD),
                             str(port.get("protocol") or "TCP"), number))
    return out


def ports_conflict(wanted: set[HostPort], used: Iterable[HostPort]) -> bool:
    """HostPortInfo.CheckConflict: the same protocol and port, on the same
    host IP or where either side is the wildcard 0.0.0.0."""
    for ip, protocol, port in used:
        for want_ip, want_protocol, want_port in wanted:
            if (protocol, port) == (want_protocol, want_port) and (
                    ip == want_ip or WILDCARD in (ip, want_ip)):
                return True
    return False
