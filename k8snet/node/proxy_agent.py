"""kproxy's node agent: Services and EndpointSlices in, one ruleset transaction out.

Every event marks the node dirty; one reconcile renders the node's whole
service state and hands it to ``kproxy.apply.Proxier``, which applies only
what changed (kube-proxy's partial syncs) in one transaction.  A UDP
endpoint that went away has its conntrack entries flushed, as kube-proxy
does (kubernetes/kubernetes#48370).  It gets the store, its node's facts and
a Proxier: nothing else.
"""
from __future__ import annotations

import time

from k8snet.api.convert import endpoint_rows, node_ip, service_from, slices_of
from k8snet.apiserver.controller import SyncController
from k8snet.apiserver.store import Store
from kproxy.apply import Proxier, flush_udp_conntrack
from kproxy.state import Endpoint, NodeProxyState, ServicePortState


class ProxyAgent(SyncController):
    watches = ("Service", "EndpointSlice", "Node")

    def __init__(self, store: Store, node: str, proxier: Proxier, pod_cidr: str,
                 service_cidr: str) -> None:
        self.name = f"kproxy-{node}"
        super().__init__(store)
        self.node = node
        self.proxier = proxier
        self.pod_cidr = pod_cidr
        self.service_cidr = service_cidr
        self.udp_ready: set[tuple[str, int]] = set()
        self.last_sync_ms = 0.0
        self.syncs = 0

    def state(self) -> NodeProxyState:
        """This node's desired service state, from the store."""
        slices = self.store.list("EndpointSlice")
        ports = []
        for svc in self.store.list("Service"):
            typed = service_from(svc)
            if not typed.proxied:
                continue
            mine = slices_of(svc, slices)
            for raw, port in zip((svc.get("spec") or {}).get("ports") or [], typed.ports,
                                 strict=False):
                eps = tuple(Endpoint(r["ip"], r["port"], r["node"], r["pod"], r["ready"])
                            for r in endpoint_rows(raw, mine))
                ports.append(ServicePortState(typed, port, eps))
        me = self.store.find("Node", "", self.node)
        return NodeProxyState(self.node, node_ip(me) if me else "", self.pod_cidr,
                              self.service_cidr, tuple(ports))

    def sync(self) -> float | None:
        state = self.state()
        t0 = time.perf_counter()
        self.proxier.sync(state)
        self.last_sync_ms = (time.perf_counter() - t0) * 1000
        self.syncs += 1
        udp = {(e.ip, e.port) for sp in state.ports if sp.port.protocol == "UDP"
               for e in sp.endpoints if e.ready}
        for ip, port in sorted(self.udp_ready - udp):
            flush_udp_conntrack(self.proxier.netns, ip, port)
        self.udp_ready = udp
        return None

    def stop(self) -> None:
        super().stop()
        self.proxier.cleanup()
