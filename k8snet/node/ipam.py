"""Pod IP allocation from each node's pod CIDR.

Like the CNI host-local plugin, the allocator hands out the next free address
after the last one it gave, so an IP just released is not reused at once and
stale connections to a dead pod do not land on a new one.
"""
from __future__ import annotations

import ipaddress

from k8snet.errors import K8snetError


class PoolExhausted(K8snetError):
    pass


class NodeIpam:
    """Addresses of one node's pod CIDR: network, gateway and broadcast excluded."""

    def __init__(self, node_name: str, cidr: str) -> None:
        self.node_name = node_name
        self.cidr = ipaddress.ip_network(cidr)
        hosts = list(self.cidr.hosts())
        # The first host address is the pods' gateway (each pod veth's node end).
        self._pool = [str(ip) for ip in hosts[1:]]
        self._used: dict[str, str] = {}
        self._last = -1

    @property
    def capacity(self) -> int:
        return len(self._pool)

    def allocate(self, owner: str) -> str:
        """Return a free IP for ``owner``; raise PoolExhausted when none is left."""
        size = len(self._pool)
        for step in range(1, size + 1):
            idx = (self._last + step) % size
            ip = self._pool[idx]
            if ip not in self._used:
                self._used[ip] = owner
                self._last = idx
                return ip
        raise PoolExhausted(
            f"node {self.node_name}: pod CIDR {self.cidr} exhausted "
            f"({size} addresses in use), cannot place pod {owner}")

    def release(self, ip: str) -> None:
        self._used.pop(ip, None)

    def owner(self, ip: str) -> str | None:
        return self._used.get(ip)

    def in_use(self) -> dict[str, str]:
        return dict(self._used)


def node_pod_cidrs(cluster_cidr: str, mask: int, count: int) -> list[str]:
    """Carve ``count`` per-node subnets, node i getting subnet i (1-based).

    Subnet 0 is skipped so node i holds 10.244.i.0/24, as kubeadm with
    flannel lays it out and as people expect to read it.
    """
    net = ipaddress.ip_network(cluster_cidr)
    if mask < net.prefixlen or mask > 30:
        raise K8snetError(
            f"nodeCIDRMaskSize {mask} must be between {net.prefixlen} and 30 "
            f"for pod CIDR {cluster_cidr}")
    available = 2 ** (mask - net.prefixlen) - 1
    if count > available:
        raise K8snetError(
            f"pod CIDR {cluster_cidr} with /{mask} per node has room for "
            f"{available} nodes, {count} requested")
    subnets = net.subnets(new_prefix=mask)
    next(subnets)
    return [str(next(subnets)) for _ in range(count)]
