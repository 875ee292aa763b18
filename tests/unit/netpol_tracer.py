"""A packet tracer over the rendered netpol sets (the fake table of these tests).

It reads the nft element text that ``k8snet.netpol.nft.elements`` produces,
parses each element back into ranges, and walks a new connection's first
packet through the chains the way the kernel would: the source node's
forward chain (egress), then the destination node's (ingress).
"""
from __future__ import annotations

import ipaddress

from k8snet.netpol import nft
from k8snet.netpol.compile import Compiler
from k8snet.netpol.snapshot import Snapshot

PROTO = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}


def _net(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text if "/" in text else f"{text}/32")


def _ports(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    return int(lo), int(hi or lo)


class NodeTable:
    """One node's sets, parsed from their nft text."""

    def __init__(self, elements: dict[str, set[str]]) -> None:
        self.sets = elements
        self.boxes = {name: [self._box(e) for e in elements[name]]
                      for name in ("ingress-allow", "egress-allow")}
        self.pairs = {name: [self._pair(e) for e in elements[name]]
                      for name in ("ingress-allow-any", "egress-allow-any")}
        self._check_disjoint()

    @staticmethod
    def _box(text: str):
        pod, peer, proto, ports = (p.strip() for p in text.split(" . "))
        return pod, _net(peer), PROTO[proto], _ports(ports)

    @staticmethod
    def _pair(text: str):
        pod, peer = (p.strip() for p in text.split(" . "))
        return pod, _net(peer)

    def _check_disjoint(self) -> None:
        """The kernel refuses overlapping elements in an interval set."""
        for name, boxes in self.boxes.items():
            seen: dict[tuple[str, str], list] = {}
            for pod, net, proto, (lo, hi) in boxes:
                for onet, (olo, ohi) in seen.get((pod, proto), []):
                    assert not (net.overlaps(onet) and lo <= ohi and olo <= hi), \
                        f"{name}: {pod} {net} {lo}-{hi} overlaps {onet} {olo}-{ohi}"
                seen.setdefault((pod, proto), []).append((net, (lo, hi)))
        for name, pairs in self.pairs.items():
            seen2: dict[str, list] = {}
            for pod, net in pairs:
                assert not any(net.overlaps(o) for o in seen2.get(pod, [])), f"{name} overlap"
                seen2.setdefault(pod, []).append(net)

    def allows(self, direction: str, pod: str, peer: str, proto: str, port: int) -> bool:
        addr = ipaddress.IPv4Address(peer)
        if any(p == pod and addr in net and pr == proto and lo <= port <= hi
               for p, net, pr, (lo, hi) in self.boxes[f"{direction}-allow"]):
            return True
        return any(p == pod and addr in net for p, net in self.pairs[f"{direction}-allow-any"])


def tables(snapshot: Snapshot, nodes: list[str]) -> dict[str, NodeTable]:
    return {n: NodeTable(nft.elements(Compiler(n).compile(snapshot))) for n in nodes}


def forwarded(tabs: dict[str, NodeTable], src_ip: str, src_node: str, dst_ip: str,
              dst_node: str, proto: str, port: int) -> bool:
    """Does a new connection's first packet pass both forward chains?"""
    if src_ip == dst_ip and f"{src_ip} . {dst_ip}" in tabs[dst_node].sets["loopback"]:
        return True
    if src_node:
        t = tabs[src_node]
        if src_ip in t.sets["egress-isolated"] and not t.allows("egress", src_ip, dst_ip,
                                                                 proto, port):
            return False
    if dst_node:
        t = tabs[dst_node]
        if dst_ip in t.sets["ingress-isolated"] and not t.allows("ingress", dst_ip, src_ip,
                                                                  proto, port):
            return False
    return True
