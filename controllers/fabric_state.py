"""What the controller is told about the fabric, as plain JSON-able data.

The orchestrator owns this picture (it built the Mininet network); the
controller only turns it into flows.  Keeping it a small frozen value makes
the channel between them trivial and lets a restarted controller reload it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class FabricHost:
    """Something plugged into a switch port: a node or the gateway router.

    ``routes`` are the prefixes the fabric gateway routes to this host
    (a node's pod CIDR, the outside world for the gateway router).
    """

    name: str
    ip: str
    mac: str
    dpid: int
    port: int
    routes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FabricLink:
    a_dpid: int
    a_port: int
    b_dpid: int
    b_port: int


@dataclass(frozen=True)
class Vip:
    """A LoadBalancer IP spread by ECMP over the hosts named in ``targets``."""

    ip: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class FabricState:
    gateway_ip: str
    gateway_mac: str
    switches: tuple[int, ...]
    hosts: tuple[FabricHost, ...] = ()
    links: tuple[FabricLink, ...] = ()
    vips: tuple[Vip, ...] = field(default=())

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> FabricState:
        return cls(
            gateway_ip=data["gateway_ip"],
            gateway_mac=data["gateway_mac"],
            switches=tuple(data["switches"]),
            hosts=tuple(FabricHost(**{**h, "routes": tuple(h.get("routes", ()))})
                        for h in data.get("hosts", ())),
            links=tuple(FabricLink(**link) for link in data.get("links", ())),
            vips=tuple(Vip(ip=v["ip"], targets=tuple(v["targets"]))
                       for v in data.get("vips", ())),
        )

    @classmethod
    def from_json(cls, text: str) -> FabricState:
        return cls.from_dict(json.loads(text))
