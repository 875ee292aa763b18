"""A topology's switch layout, for a bare OVS baseline built the same way: pure.

ovs-vswitchd's userspace datapath forwards every non-PMD port (veths read
through AF_PACKET) in its main thread, and each pass of that thread's loop
costs more for every bridge (two ``accept()`` calls on the bridge's
``.mgmt`` and ``.snoop`` sockets, its LOCAL tap) and every port (a
``recvmmsg`` with 32 buffers).  Measured on this machine: four empty bridges
beside the 2-port bare bridge take it from 12.0 to 8.8 Gbit/s, eight idle
veth ports on another bridge to 8.9.  A baseline with the fabric's layout
(the same bridges, the same patch links, as many polled ports) separates
what k8snet's data path costs from what the switch process costs for its
shape; ``perf.baselines.ovs_fabric`` builds it from this.
"""
from __future__ import annotations

from dataclasses import dataclass

from k8snet.api.model import ClusterSpec


@dataclass(frozen=True)
class FabricLayout:
    """``switches`` in the topology's order; ``patches``: the switch pairs joined
    by patch ports, loop-free (a link that would close a cycle is left out: patch
    ports are not polled, and NORMAL over a loop floods forever); ``ports``: one
    ``(host, switch)`` per host port on the fabric (nodes, then the gateway);
    the baseline's client sits where ``client`` is, its server where ``server``
    is (the perf workload's first and last node)."""

    switches: tuple[str, ...]
    patches: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, str], ...]
    client: str
    server: str

    @property
    def idle_ports(self) -> int:
        return len(self.ports) - 2


def _topo(spec: ClusterSpec):
    from topologies.topos import TOPO_CLASSES  # Mininet's Topo: a graph, no side effects
    return TOPO_CLASSES[spec.fabric.kind](nodes=len(spec.nodes), spec=spec)


def layout(spec: ClusterSpec, topo=None) -> FabricLayout:
    """The layout of ``spec``'s fabric (``topo``: its Mininet Topo, built if None).

    Raises ``ValueError`` when the topology has fewer than two nodes on its
    switches (a baseline needs a client and a server).
    """
    topo = topo if topo is not None else _topo(spec)
    switches = tuple(topo.switches(sort=False))
    is_switch = set(switches).__contains__
    parent = {s: s for s in switches}

    def root(s: str) -> str:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    patches, ports = [], []
    for a, b in topo.links(sort=False):
        if is_switch(a) and is_switch(b):
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[ra] = rb
                patches.append((a, b))
        elif is_switch(a) or is_switch(b):
            host, switch = (b, a) if is_switch(a) else (a, b)
            ports.append((host, switch))
    nodes = [n.name for n in spec.nodes]
    on_fabric = {h: s for h, s in ports}
    placed = [n for n in nodes if n in on_fabric]
    if len(placed) < 2:
        raise ValueError(f"topology {spec.name!r}: a fabric baseline needs two nodes "
                         f"on its switches, found {len(placed)}")
    order = {n: i for i, n in enumerate(nodes)}
    ports.sort(key=lambda p: order.get(p[0], len(order)))
    return FabricLayout(switches, tuple(patches), tuple(ports),
                        on_fabric[placed[0]], on_fabric[placed[-1]])
