"""The Endpoints controller: Services + Pods -> v1 Endpoints named as the Service.

For ``kubectl get endpoints``, ``kubectl describe service`` and clients that still read
v1 Endpoints.  Computed from the pods with the pod rules of the EndpointSlices
(``k8snet.control.endpoint_plan``), as upstream's endpoint controller does (``endpoints_object``):
subsets repacked by port set; ready pods in ``addresses``, not-ready ones in
``notReadyAddresses``, terminating ones left out; with ``publishNotReadyAddresses`` every pod
in ``addresses``; no ``subsets`` at all when there is no address.  Labels: the Service's,
``service.kubernetes.io/headless`` for headless Services and
``endpoints.kubernetes.io/managed-by: endpoint-controller`` (Kubernetes 1.33+).

Only selector Services (not ExternalName) get one; when the Service goes, or stops being
managed, the Endpoints goes too if it carries our managed-by label (an Endpoints written by
hand for a selector-less Service is never touched).  Nothing is written when nothing changed;
a hand edit or deletion of ours is repaired.  Keys are ``(namespace, service name)``.

Source: kubernetes/kubernetes pkg/controller/endpoint/endpoints_controller.go (syncService,
addEndpointSubset), pkg/api/v1/endpoints/util.go (RepackSubsets);
https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoints-v1/
"""
from __future__ import annotations

import ipaddress
import json
from collections.abc import Hashable, Iterable

from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import Event, Store
from k8snet.control.endpoint_plan import (
    LABEL_HEADLESS,
    find_port,
    include_pod,
    is_managed,
    pod_ips,
    pod_ready,
    selects,
    service_ip_set,
    service_ports,
    should_set_hostname,
)
from k8snet.errors import Forbidden, NotFound

ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"   # endpoint controller, 1.33+
ENDPOINTS_CONTROLLER = "endpoint-controller"


def _d(x: object) -> dict:
    return x if isinstance(x, dict) else {}


def _s(x: object) -> str:
    return x if isinstance(x, str) else ""


def _meta(obj: object) -> dict:
    return _d(_d(obj).get("metadata"))


def _addr_order(addr: dict) -> tuple:
    return int(ipaddress.ip_address(addr["ip"])), addr["targetRef"]["uid"]


def endpoints_subsets(svc: dict, pods: Iterable[dict]) -> list[dict]:
    """The Endpoints controller's subsets, repacked (RepackSubsets): one subset per set of
    addresses sharing the same ports; ready pods in ``addresses``, the others in
    ``notReadyAddresses``; terminating pods left out; with publishNotReadyAddresses every
    pod (terminating too) in ``addresses``.  A pod that cannot resolve a Service port is left
    out of that port.  Empty lists are omitted, as the API does."""
    spec = _d(_d(svc).get("spec"))
    pnra = bool(spec.get("publishNotReadyAddresses"))
    ports = service_ports(svc)
    addrs: dict[tuple, dict] = {}
    by_port: dict[str, tuple[dict | None, dict[tuple, bool]]] = {}

    def add(epp: dict | None, akey: tuple, ready: bool) -> None:
        members = by_port.setdefault(json.dumps(epp, sort_keys=True), (epp, {}))[1]
        members[akey] = members.get(akey, True) and ready      # not ready trumps ready

    chosen = [p for p in pods if selects(svc, p) and include_pod(p, pnra)]
    for pod in sorted(chosen, key=lambda p: _s(_meta(p).get("name"))):
        ips = pod_ips(pod)
        if not ips:
            continue
        meta, pspec = _meta(pod), _d(pod.get("spec"))
        addr: dict = {"ip": ips[0],
                      "targetRef": {"kind": "Pod", "namespace": _s(meta.get("namespace")),
                                    "name": _s(meta.get("name")), "uid": _s(meta.get("uid"))}}
        if _s(pspec.get("nodeName")):
            addr["nodeName"] = pspec["nodeName"]
        if should_set_hostname(pod, svc):
            addr["hostname"] = pspec["hostname"]
        akey = (addr["ip"], addr["targetRef"]["uid"])
        addrs.setdefault(akey, addr)
        ready = pnra or pod_ready(pod)
        if not ports and spec.get("clusterIP") == "None":
            add(None, akey, ready)
        for p in ports:
            number = find_port(pod, p)
            if number is None:
                continue
            epp: dict = {"port": number, "protocol": p["protocol"]}
            if p["name"]:
                epp["name"] = p["name"]
            if "appProtocol" in p:
                epp["appProtocol"] = p["appProtocol"]
            add(epp, akey, ready)

    grouped: dict[frozenset, list[dict]] = {}
    for epp, members in by_port.values():
        group = grouped.setdefault(frozenset(members.items()), [])
        if epp is not None:
            group.append(epp)
    subsets = []
    for members, eps in grouped.items():
        sub: dict = {}
        ready = sorted((addrs[a] for a, r in members if r), key=_addr_order)
        not_ready = sorted((addrs[a] for a, r in members if not r), key=_addr_order)
        if ready:
            sub["addresses"] = ready
        if not_ready:
            sub["notReadyAddresses"] = not_ready
        if eps:
            sub["ports"] = sorted(eps, key=lambda e: (e.get("name", ""), e["port"],
                                                      e["protocol"]))
        subsets.append(sub)
    subsets.sort(key=lambda s: json.dumps(s, sort_keys=True))
    return subsets


def endpoints_labels(svc: dict) -> dict:
    """The Service's labels, the headless label when it has no cluster IP, and
    ``endpoints.kubernetes.io/managed-by: endpoint-controller``."""
    labels = dict(_d(_meta(svc).get("labels")))
    labels.pop(LABEL_HEADLESS, None)
    if not service_ip_set(svc):
        labels[LABEL_HEADLESS] = ""
    labels[ENDPOINTS_MANAGED_BY] = ENDPOINTS_CONTROLLER
    return labels


def endpoints_object(svc: dict, pods: Iterable[dict]) -> dict:
    """The v1 Endpoints the Service should have; no ``subsets`` key when it has none."""
    meta = _meta(svc)
    obj: dict = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": _s(meta.get("name")),
                              "namespace": _s(meta.get("namespace")) or "default",
                              "labels": endpoints_labels(svc)}}
    subsets = endpoints_subsets(svc, pods)
    if subsets:
        obj["subsets"] = subsets
    return obj


def is_ours(endpoints: dict) -> bool:
    """The Endpoints carries ``endpoints.kubernetes.io/managed-by: endpoint-controller``."""
    labels = _meta(endpoints).get("labels")
    return isinstance(labels, dict) and labels.get(ENDPOINTS_MANAGED_BY) == ENDPOINTS_CONTROLLER


class EndpointsMirror(Controller):
    """``EndpointsMirror(store).settle()``: every selector Service gets its v1 Endpoints."""

    name = "endpoint-controller"
    watches = ("Service", "Pod", "Endpoints")

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.writes = 0          # creates + updates + deletes done (tests, metrics)

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """A Service or an Endpoints: its own name; a Pod: every selector Service of its
        namespace."""
        meta = _meta(event.object)
        ns, name = meta.get("namespace") or "default", meta.get("name") or ""
        if event.kind == "Pod":
            return [(ns, _meta(s)["name"]) for s in self.store.list("Service", ns)
                    if is_managed(s) and _meta(s).get("name")]
        if event.kind in ("Service", "Endpoints") and name:
            return [(ns, name)]
        return []

    def initial_keys(self) -> Iterable[Hashable]:
        """Every Service and every Endpoints (ours without a Service go)."""
        keys = {(_meta(o).get("namespace") or "default", _meta(o).get("name") or "")
                for kind in ("Service", "Endpoints") for o in self.store.list(kind)}
        return sorted(k for k in keys if k[1])

    def reconcile(self, key: Hashable) -> float | None:
        """Make the Endpoints of Service ``key`` = (namespace, name) match its pods."""
        ns, name = key
        svc = self.store.find("Service", ns, name)
        current = self.store.find("Endpoints", ns, name)
        if svc is None or not is_managed(svc):
            if current is not None and is_ours(current):
                try:
                    self.store.delete("Endpoints", ns, name)
                    self.writes += 1
                except NotFound:
                    pass
            return None
        desired = endpoints_object(svc, self.store.list("Pod", ns))
        if current is None:
            if not _meta(svc).get("deletionTimestamp"):
                try:
                    self.store.create(desired)
                except Forbidden:      # the namespace is being deleted
                    return None
                self.writes += 1
            return None
        if (current.get("subsets") or []) == desired.get("subsets", []) \
                and _meta(current).get("labels") == desired["metadata"]["labels"]:
            return None
        new = {k: v for k, v in current.items() if k != "subsets"}
        new["metadata"] = dict(_meta(current), labels=desired["metadata"]["labels"])
        if "subsets" in desired:
            new["subsets"] = desired["subsets"]
        self.store.update(new)
        self.writes += 1
        return None
