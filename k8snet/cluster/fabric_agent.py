"""The fabric's agent: Nodes, LoadBalancer Services and their EndpointSlices
in, the os-ken controller's state out (the LoadBalancer IPs it spreads over
nodes by ECMP).  With ``externalTrafficPolicy: Local`` only nodes that hold
a ready endpoint get the traffic, as a cloud load balancer's health check
decides (kubernetes/kubernetes#66354).  A node that is not Ready (``node
NODE down``) or carries the label
``node.kubernetes.io/exclude-from-external-load-balancers`` gets none: the
health check of kube-proxy's /healthz fails on a node cut off (KEP-3458
leaves this to the load balancer's health checks).
"""
from __future__ import annotations

from collections.abc import Callable

from controllers.fabric_state import FabricState, Vip
from k8snet.api.convert import endpoint_rows, slices_of
from k8snet.apiserver.controller import SyncController
from k8snet.apiserver.store import Store


def vips(services: list[dict], slices: list[dict], nodes: list[str]) -> tuple[Vip, ...]:
    """LoadBalancer IPs and the nodes each one is spread over."""
    out = []
    for svc in services:
        spec = svc.get("spec") or {}
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ip = next((i.get("ip") for i in ingress if i.get("ip")), "")
        if spec.get("type") != "LoadBalancer" or not ip:
            continue
        targets = sorted(nodes)
        if spec.get("externalTrafficPolicy") == "Local":
            mine = slices_of(svc, slices)
            targets = sorted({r["node"] for p in spec.get("ports") or []
                              for r in endpoint_rows(p, mine)
                              if r["ready"] and r["node"] in nodes})
        out.append(Vip(ip, tuple(targets)))
    return tuple(sorted(out, key=lambda v: v.ip))


EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"


def healthy(node: dict) -> bool:
    """The load balancer sends to this node: Ready, and not excluded by label."""
    if EXCLUDE_LABEL in ((node.get("metadata") or {}).get("labels") or {}):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


class FabricAgent(SyncController):
    name = "fabric"
    watches = ("Service", "EndpointSlice", "Node")

    def __init__(self, store: Store, state_of: Callable[[tuple[Vip, ...]], FabricState],
                 send: Callable[[FabricState], None]) -> None:
        super().__init__(store)
        self.state_of = state_of
        self.send = send
        self.last: FabricState | None = None

    def sync(self) -> float | None:
        nodes = [n["metadata"]["name"] for n in self.store.list("Node") if healthy(n)]
        state = self.state_of(vips(self.store.list("Service"),
                                   self.store.list("EndpointSlice"), nodes))
        if state != self.last:
            self.send(state)
            self.last = state
        return None
