"""The EndpointSlice controller: Services + Pods (+ Nodes for zones) -> EndpointSlices.

For each Service with a non-empty ``spec.selector`` that is not ExternalName (headless
included), the pods it selects become endpoints (``k8snet.control.endpoint_plan`` has the
rules and the object shapes), grouped into slices of at most 100 per resolved port set.
Existing slices keep their names and are updated in place; nothing is written when nothing
changed; slices no port set needs are deleted; a Service's slices go when it goes (deleted
here, not left to the garbage collector) or stops being managed.

Keys are ``(namespace, service name)``.  Watches Services, Pods (a pod event enqueues every
selector Service of its namespace) and EndpointSlices labelled as ours (a hand edit or
deletion is repaired).

Source: kubernetes/kubernetes pkg/controller/endpointslice/endpointslice_controller.go
(syncService, queueServiceForEndpointSlice) and staging/src/k8s.io/endpointslice
(reconciler.go); https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/
"""
from __future__ import annotations

import random
from collections.abc import Hashable, Iterable

from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import Event, Store
from k8snet.control.endpoint_plan import (
    CONTROLLER_NAME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    MAX_ENDPOINTS_PER_SLICE,
    is_managed,
    plan_slices,
)
from k8snet.errors import AlreadyExists, Forbidden, NotFound

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"   # k8s.io/apimachinery/pkg/util/rand
NAME_TRIES = 10                             # generated names tried before giving up
NODE_RETRY = 1.0                            # seconds: look again at pods whose Node is unknown


def _meta(obj: dict) -> dict:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def _ours(slice_: dict) -> str:
    """The Service name of a slice this controller manages, or ""."""
    labels = _meta(slice_).get("labels")
    if not isinstance(labels, dict) or labels.get(LABEL_MANAGED_BY) != CONTROLLER_NAME:
        return ""
    name = labels.get(LABEL_SERVICE_NAME)
    return name if isinstance(name, str) else ""


class EndpointSliceController(Controller):
    """``EndpointSliceController(store).settle()``: every managed Service gets its slices.

    ``max_endpoints_per_slice`` (100) as kube-controller-manager's flag; ``rng`` makes the
    generated names reproducible in tests."""

    name = "endpointslice-controller"
    watches = ("Service", "Pod", "EndpointSlice")

    def __init__(self, store: Store, max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
                 rng: random.Random | None = None) -> None:
        super().__init__(store)
        self.max_endpoints_per_slice = max_endpoints_per_slice
        self.rng = rng or random.Random()
        self.writes = 0          # creates + updates + deletes done (tests, metrics)

    # --- keys ----------------------------------------------------------------------------

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """A Service: itself; a Pod: every selector Service of its namespace; one of our
        slices: the Service its label names and the Service that owns it."""
        obj, meta = event.object, _meta(event.object)
        ns, name = meta.get("namespace") or "default", meta.get("name") or ""
        if event.kind == "Service":
            return [(ns, name)] if name else []
        if event.kind == "Pod":
            return services_of_namespace(self.store, ns)
        if event.kind == "EndpointSlice" and _ours(obj):
            refs = meta.get("ownerReferences")
            owners = {r.get("name") for r in refs if isinstance(r, dict)
                      and r.get("kind") == "Service"} if isinstance(refs, list) else set()
            return sorted((ns, n) for n in owners | {_ours(obj)} if isinstance(n, str) and n)
        return []

    def initial_keys(self) -> Iterable[Hashable]:
        """Every Service, and every Service named by one of our slices (orphans go)."""
        keys = {(_meta(s).get("namespace") or "default", _meta(s).get("name") or "")
                for s in self.store.list("Service")}
        keys |= {(_meta(s).get("namespace") or "default", _ours(s))
                 for s in self.store.list("EndpointSlice") if _ours(s)}
        return sorted(k for k in keys if k[1])

    # --- reconcile -----------------------------------------------------------------------

    def reconcile(self, key: Hashable) -> float | None:
        """Make the slices of Service ``key`` = (namespace, name) match its pods."""
        ns, name = key
        svc = self.store.find("Service", ns, name)
        ours = [s for s in self.store.list("EndpointSlice", ns) if _ours(s) == name]
        if svc is None or not is_managed(svc):
            for s in ours:
                self._delete(ns, _meta(s)["name"])
            return None
        if not _meta(svc).get("uid"):      # no owner to name: an odd object, skipped
            self.log.warning("service %s/%s has no metadata.uid; no slices", ns, name)
            return None
        pods = self.store.list("Pod", ns)
        nodes = {}
        for pod in pods:
            spec = pod.get("spec")
            node_name = spec.get("nodeName") if isinstance(spec, dict) else None
            if isinstance(node_name, str) and node_name and node_name not in nodes:
                node = self.store.find("Node", "", node_name)
                if node is not None:
                    nodes[node_name] = node
        plan = plan_slices(svc, pods, nodes, ours, self.max_endpoints_per_slice)
        for obj in plan.create:
            self._create(obj)
        for obj in plan.update:
            self._update(obj)
        for slice_name in plan.delete:
            self._delete(ns, slice_name)
        if plan.skipped:
            self.log.info("service %s/%s: pods on unknown nodes left out for now: %s",
                          ns, name, ", ".join(plan.skipped))
            return NODE_RETRY
        return None

    # --- writes --------------------------------------------------------------------------

    def _create(self, obj: dict) -> None:
        meta = obj["metadata"]
        for attempt in range(NAME_TRIES):
            meta["name"] = meta["generateName"] + "".join(self.rng.choices(ALPHANUMS, k=5))
            try:
                self.store.create(obj)
            except Forbidden:          # the namespace is being deleted: nothing to create
                return
            except AlreadyExists:
                if attempt == NAME_TRIES - 1:
                    raise
                continue
            self.writes += 1
            return

    def _update(self, obj: dict) -> None:
        meta = obj["metadata"]
        current = self.store.find("EndpointSlice", meta.get("namespace", ""), meta["name"])
        if current is not None and all(current.get(k) == obj.get(k)
                                       for k in ("addressType", "endpoints", "ports")) \
                and _meta(current).get("labels") == meta.get("labels") \
                and _meta(current).get("ownerReferences") == meta.get("ownerReferences"):
            return
        self.store.update(obj)
        self.writes += 1

    def _delete(self, ns: str, name: str) -> None:
        try:
            self.store.delete("EndpointSlice", ns, name)
        except NotFound:
            return
        self.writes += 1


def services_of_namespace(store: Store, namespace: str) -> list[tuple[str, str]]:
    """Keys of the selector Services of ``namespace``: what a pod event may change."""
    return [(namespace, _meta(s)["name"]) for s in store.list("Service", namespace)
            if is_managed(s) and _meta(s).get("name")]
