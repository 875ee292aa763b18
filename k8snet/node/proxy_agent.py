"""kproxy's node agent: Services and EndpointSlices in, one ruleset transaction out.

Every event marks the Service it concerns (an EndpointSlice's is its
``kubernetes.io/service-name`` label); a burst of events is one sync, which
rebuilds the ``ServicePortState`` of the marked Services only and hands
the node's whole state to ``kproxy.apply.Proxier``.  The other Services'
port states are the very objects of the last sync, so the Proxier sees at
a glance that they did not change and renders and applies only what did,
in one transaction (kube-proxy's partial syncs: its ServiceChangeTracker
and EndpointsChangeTracker, kubernetes#126013).  A UDP endpoint that went
away has its conntrack entries flushed, as kube-proxy does
(kubernetes/kubernetes#48370).  It gets the store, its node's facts and a
Proxier: nothing else.

After each applied sync it also tells its ``ServiceHealthServer`` which
Services need a health check port (LoadBalancer, ``externalTrafficPolicy:
Local``) and how many ready endpoints each has on this node, as kube-proxy's
proxiers call ``SyncServices``/``SyncEndpoints`` at the end of
``syncProxyRules``; the listeners live in the Proxier's namespace.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterable

from k8snet.api.convert import endpoint_rows, node_ip, service_from
from k8snet.apiserver import events
from k8snet.apiserver.controller import SyncController
from k8snet.apiserver.store import DELETED, Event, Store
from kproxy.apply import Proxier, flush_udp_conntrack
from kproxy.healthcheck import health_check_ports, local_ready_endpoints
from kproxy.service_health import ServiceHealthServer
from kproxy.state import Endpoint, NodeProxyState, ServicePortState

SERVICE_NAME = "kubernetes.io/service-name"
FULL_REBUILD = 64      # more changed Services than this: one pass over everything
CANARY_SECONDS = 1.0   # how often the rules are checked (kube-proxy: its sync period)

ServiceKey = tuple[str, str]     # namespace, name


def _service_of_slice(obj: dict) -> ServiceKey:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), (meta.get("labels") or {}).get(SERVICE_NAME, "")


def service_ports(svc: dict, slices: list[dict]) -> tuple[ServicePortState, ...]:
    """The proxied ports of stored Service ``svc`` with their endpoints from
    ``slices`` (its EndpointSlices); () when kproxy does not proxy it."""
    typed = service_from(svc)
    if not typed.proxied:
        return ()
    out = []
    for raw, port in zip((svc.get("spec") or {}).get("ports") or [], typed.ports, strict=False):
        eps = tuple(Endpoint(r["ip"], r["port"], r["node"], r["pod"], r["ready"])
                    for r in endpoint_rows(raw, slices))
        out.append(ServicePortState(typed, port, eps))
    return tuple(out)


class ProxyAgent(SyncController):
    watches = ("Service", "EndpointSlice", "Node")

    def __init__(self, store: Store, node: str, proxier: Proxier, pod_cidr: str,
                 service_cidr: str, health: ServiceHealthServer | None = None) -> None:
        self.name = f"kproxy-{node}"
        super().__init__(store)
        self.node = node
        self.proxier = proxier
        self.pod_cidr = pod_cidr
        self.service_cidr = service_cidr
        self.udp_ready: set[tuple[str, int]] = set()
        self.last_sync_ms = 0.0
        self.last_changed = 0          # Service ports the last sync rendered
        self.syncs = 0
        self._mark_lock = threading.Lock()
        self._marked: set[ServiceKey] = set()
        self._everything = True        # rebuild every Service's ports
        self._looked = False           # no event since the last sync
        self._ports: dict[ServiceKey, tuple[ServicePortState, ...]] = {}
        self._slice_owner: dict[tuple[str, str], ServiceKey] = {}
        self.health = (health if health is not None
                       else ServiceHealthServer(proxier.netns, self.proxy_healthy))

    # --- what changed ------------------------------------------------------

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        meta = event.object.get("metadata") or {}
        with self._mark_lock:
            self._looked = False
            if event.kind == "Service":
                self._marked.add((meta.get("namespace", ""), meta.get("name", "")))
            elif event.kind == "EndpointSlice":
                key = (meta.get("namespace", ""), meta.get("name", ""))
                before = self._slice_owner.get(key)
                now = _service_of_slice(event.object)
                self._marked.update(k for k in (before, now) if k)
                if event.type == DELETED:
                    self._slice_owner.pop(key, None)
                else:
                    self._slice_owner[key] = now
        return [self.SYNC]

    def initial_keys(self) -> Iterable[Hashable]:
        with self._mark_lock:
            self._everything = True
            self._looked = False
        return [self.SYNC]

    # --- the desired state -----------------------------------------------------

    def state(self) -> NodeProxyState:
        """This node's desired service state, read whole from the store."""
        return self._node_state(self._all_ports())

    def _all_ports(self) -> dict[ServiceKey, tuple[ServicePortState, ...]]:
        by_service: dict[ServiceKey, list[dict]] = {}
        for sl in self.store.list("EndpointSlice"):
            by_service.setdefault(_service_of_slice(sl), []).append(sl)
        out = {}
        for svc in self.store.list("Service"):
            meta = svc["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            out[key] = service_ports(svc, by_service.get(key, []))
        return out

    def _node_state(self, ports: dict[ServiceKey, tuple[ServicePortState, ...]]
                    ) -> NodeProxyState:
        me = self.store.find("Node", "", self.node)
        return NodeProxyState(self.node, node_ip(me) if me else "", self.pod_cidr,
                              self.service_cidr,
                              tuple(sp for group in ports.values() for sp in group))

    def _refresh(self) -> None:
        """Rebuild the port states of the marked Services (all, after a resync)."""
        with self._mark_lock:        # never held while waiting for the store's lock
            marked, everything = self._marked, self._everything
            self._marked, self._everything = set(), False
        if everything:
            owners = {}
            for sl in self.store.list("EndpointSlice"):
                meta = sl["metadata"]
                owners[(meta.get("namespace", ""), meta["name"])] = _service_of_slice(sl)
            with self._mark_lock:
                self._slice_owner = {**owners, **self._slice_owner}
        if everything or len(marked) > FULL_REBUILD:
            fresh = self._all_ports()
            # Keep the objects of unchanged Services: the Proxier skips them by identity.
            self._ports = {k: (self._ports[k] if self._ports.get(k) == v else v)
                           for k, v in fresh.items()}
            return
        for ns, name in marked:
            svc = self.store.find("Service", ns, name)
            if svc is None:
                self._ports.pop((ns, name), None)
                continue
            slices = self.store.list("EndpointSlice", ns, where=lambda s, n=name: (
                (s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME) == n)
            self._ports[(ns, name)] = service_ports(svc, slices)

    def sync(self) -> float | None:
        """Apply what changed; every ``CANARY_SECONDS`` look whether the rules
        are still in the kernel (kube-proxy's canary chains) and, when someone
        removed them, write everything again (an Event on the Node says so)."""
        with self._mark_lock:        # a wake-up of the timer alone: only the canary
            quiet, self._looked = self._looked, True
        if quiet:
            if self.proxier.intact():
                return CANARY_SECONDS
            self.proxier.reset()
            me = self.store.find("Node", "", self.node)
            if me is not None:
                events.record(self.store, me, events.WARNING, "KproxyRulesRestored",
                              f"kproxy's rules in {self.proxier.netns} were removed from "
                              "outside; all were written again", "kproxy", self.node)
        self._refresh()
        state = self._node_state(self._ports)
        t0 = time.perf_counter()
        result = self.proxier.sync(state)
        self.last_sync_ms = (time.perf_counter() - t0) * 1000
        self.last_changed = result.changed
        self.syncs += 1
        udp = {(e.ip, e.port) for sp in state.ports if sp.port.protocol == "UDP"
               for e in sp.endpoints if e.ready}
        for ip, port in sorted(self.udp_ready - udp):
            flush_udp_conntrack(self.proxier.netns, ip, port)
        self.udp_ready = udp
        self._sync_health(state)
        return CANARY_SECONDS

    # --- the service health check server ---------------------------------------

    def proxy_healthy(self) -> bool:
        """``serviceProxyHealthy``: the last sync was applied (kube-proxy's
        healthz turns false while an update stays unapplied)."""
        return self.SYNC not in self._failures

    def _sync_health(self, state: NodeProxyState) -> None:
        """Open and close health check ports and set their endpoint counts;
        a port that cannot be opened is a Warning Event on its Service
        (upstream's FailedToStartServiceHealthcheck) and tried again at the
        next tick."""
        wanted = health_check_ports(state.ports)
        failures = self.health.sync_services(wanted)
        if failures:
            with self._mark_lock:      # the next tick syncs again instead of only looking
                self._looked = False
        for failed in failures:
            ns, name = failed.service
            svc = self.store.find("Service", ns, name)
            if svc is not None:
                events.record(self.store, svc, events.WARNING,
                              "FailedToStartServiceHealthcheck",
                              f'node {self.node} failed to start healthcheck "{ns}/{name}" '
                              f"on port {failed.port}: {failed.error}", "kproxy", self.node)
        self.health.sync_endpoints(
            local_ready_endpoints(state.ports, self.node, wanted) if wanted else {})

    def stop(self) -> None:
        super().stop()
        self.health.close()
        self.proxier.cleanup()
