"""A packet tracer over the rendered netpol state (the fake table of these tests).

It reads the set element text that ``k8snet.netpol.nft.state`` produces for
each isolated pod, parses each element back into ranges, and walks a new
connection's first packet through the chains the way the kernel would: the
source node's forward chain (egress), then the destination node's (ingress).
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
    """One node's state, parsed from its nft element text."""

    def __init__(self, state: nft.State) -> None:
        self.state = state
        self.parsed = {}
        for direction in nft.DIRECTIONS:
            for pod, allowed in state.pods[direction].items():
                ports, ranges, exact, anys = allowed
                for text in ports:
                    assert "/" not in text and "-" not in text, f"{text}: not exact"
                for text in exact:
                    assert "/" not in text, f"{text}: not exact"
                boxes = []
                for text in ports | ranges:
                    peer, proto, rng = (p.strip() for p in text.split(" . "))
                    boxes.append((_net(peer), PROTO[proto], _ports(rng)))
                nets = [_net(t) for t in exact | anys]
                self._check_disjoint(direction, pod, boxes, nets)
                self.parsed[(direction, pod)] = (boxes, nets)

    @staticmethod
    def _check_disjoint(direction, pod, boxes, nets) -> None:
        """The kernel refuses overlapping elements in an interval set."""
        for i, (net, proto, (lo, hi)) in enumerate(boxes):
            for onet, oproto, (olo, ohi) in boxes[:i]:
                assert not (proto == oproto and net.overlaps(onet) and lo <= ohi
                            and olo <= hi), f"{direction} {pod}: {net} {lo}-{hi} overlaps"
        for i, net in enumerate(nets):
            assert not any(net.overlaps(o) for o in nets[:i]), f"{direction} {pod}: overlap"

    def isolated(self, direction: str, pod: str) -> bool:
        return (direction, pod) in self.parsed

    def allows(self, direction: str, pod: str, peer: str, proto: str, port: int) -> bool:
        boxes, nets = self.parsed[(direction, pod)]
        addr = ipaddress.IPv4Address(peer)
        return any(addr in net and pr == proto and lo <= port <= hi
                   for net, pr, (lo, hi) in boxes) or any(addr in net for net in nets)


def tables(snapshot: Snapshot, nodes: list[str]) -> dict[str, NodeTable]:
    return {n: NodeTable(nft.state(Compiler(n).compile(snapshot))) for n in nodes}


def forwarded(tabs: dict[str, NodeTable], src_ip: str, src_node: str, dst_ip: str,
              dst_node: str, proto: str, port: int) -> bool:
    """Does a new connection's first packet pass both forward chains?"""
    if src_ip == dst_ip and f"{src_ip} . {dst_ip}" in tabs[dst_node].state.loopback:
        return True
    if src_node:
        t = tabs[src_node]
        if t.isolated("egress", src_ip) and not t.allows("egress", src_ip, dst_ip, proto, port):
            return False
    if dst_node:
        t = tabs[dst_node]
        if t.isolated("ingress", dst_ip) and not t.allows("ingress", dst_ip, src_ip, proto,
                                                           port):
            return False
    return True
