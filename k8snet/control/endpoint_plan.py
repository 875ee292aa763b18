"""A Service and its pods -> the EndpointSlices it should have, and the pod rules the
Endpoints mirror shares (pure: objects in, objects out; odd objects are skipped, never raised on).

An EndpointSlice as the EndpointSlice controller writes it::

    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
     "metadata": {"name": "web-x7k2q", "generateName": "web-", "namespace": "default",
                  "labels": {"kubernetes.io/service-name": "web",
                             "endpointslice.kubernetes.io/managed-by":
                                 "endpointslice-controller.k8s.io"},
                  "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                       "uid": "...", "controller": True,
                                       "blockOwnerDeletion": True}]},
     "addressType": "IPv4",
     "endpoints": [{"addresses": ["10.244.1.5"],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "nodeName": "node1", "zone": "z1", "hostname": "web-0",
                    "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-0",
                                  "uid": "..."}}],
     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}

Sources (kubernetes/kubernetes, staging/src/k8s.io/endpointslice): utils.go (podToEndpoint,
getEndpointPorts, FindPort, setEndpointSliceLabels), reconciler.go (reconcileByPortMapping,
finalize, the placeholder slice), util/controller_utils.go (ShouldPodBeInEndpoints,
ShouldSetHostname).  https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/
"""
from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from k8snet.api.selectors import matches_map

CONTROLLER_NAME = "endpointslice-controller.k8s.io"        # endpointslice.ControllerName
LABEL_SERVICE_NAME = "kubernetes.io/service-name"          # discovery.LabelServiceName
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"  # discovery.LabelManagedBy
LABEL_HEADLESS = "service.kubernetes.io/headless"          # v1.IsHeadlessService
LABEL_ZONE = "topology.kubernetes.io/zone"                 # v1.LabelTopologyZone
ADDRESS_TYPE = "IPv4"
MAX_ENDPOINTS_PER_SLICE = 100     # kube-controller-manager --max-endpoints-per-slice default
_RESERVED = (LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS)


def _d(x: object) -> dict:
    return x if isinstance(x, dict) else {}


def _l(x: object) -> list:
    return x if isinstance(x, list) else []


def _s(x: object) -> str:
    return x if isinstance(x, str) else ""


def _meta(obj: object) -> dict:
    return _d(_d(obj).get("metadata"))


def is_managed(svc: dict) -> bool:
    """A Service the controllers give endpoints: a non-empty ``spec.selector``, not ExternalName."""
    spec = _d(_d(svc).get("spec"))
    selector = spec.get("selector")
    return isinstance(selector, dict) and bool(selector) and spec.get("type") != "ExternalName"


def selects(svc: dict, pod: dict) -> bool:
    """The Service's selector matches the pod, in the same namespace."""
    if not isinstance(pod, dict) or not is_managed(svc):
        return False
    if (_meta(pod).get("namespace") or "default") != (_meta(svc).get("namespace") or "default"):
        return False
    return matches_map(_d(_d(svc).get("spec")).get("selector"), _d(_meta(pod).get("labels")))


def pod_ready(pod: dict) -> bool:
    """The pod's Ready condition is "True" (podutil.IsPodReady)."""
    for cond in _l(_d(_d(pod).get("status")).get("conditions")):
        if _d(cond).get("type") == "Ready":
            return _d(cond).get("status") == "True"
    return False


def pod_ips(pod: dict) -> list[str]:
    """The pod's IPv4 addresses, canonical text: ``status.podIPs`` (``status.podIP`` if none)."""
    status = _d(_d(pod).get("status"))
    raw = [_s(_d(p).get("ip")) for p in _l(status.get("podIPs"))] or [_s(status.get("podIP"))]
    out = []
    for text in raw:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        if ip.version == 4 and str(ip) not in out:
            out.append(str(ip))
    return out


def include_pod(pod: dict, include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints: not Succeeded/Failed, has an IP, terminating only if asked."""
    status = _d(_d(pod).get("status"))
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not _meta(pod).get("deletionTimestamp")


def should_set_hostname(pod: dict, svc: dict) -> bool:
    """ShouldSetHostname: ``spec.hostname`` set and ``spec.subdomain`` names this Service."""
    spec = _d(_d(pod).get("spec"))
    return (bool(_s(spec.get("hostname"))) and spec.get("subdomain") == _meta(svc).get("name")
            and _meta(pod).get("namespace") == _meta(svc).get("namespace"))


def service_ports(svc: dict) -> list[dict]:
    """``spec.ports`` with defaults: ``[{name, port, protocol, targetPort, appProtocol?}]``;
    targetPort absent or 0 is the port, a digit string is a number, ports without a number go."""
    out = []
    for p in _l(_d(_d(svc).get("spec")).get("ports")):
        p = _d(p)
        port = p.get("port")
        if not isinstance(port, int) or isinstance(port, bool):
            continue
        target = p.get("targetPort")
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        if not target or not isinstance(target, int | str) or isinstance(target, bool):
            target = port
        norm = {"name": _s(p.get("name")), "port": port,
                "protocol": _s(p.get("protocol")) or "TCP", "targetPort": target}
        if _s(p.get("appProtocol")):
            norm["appProtocol"] = p["appProtocol"]
        out.append(norm)
    return out


def find_port(pod: dict, port: dict) -> int | None:
    """FindPort: a number as is; a name looked up in the pod's container ports (and sidecar
    init containers), name and protocol both matching; None when the pod has no such port."""
    target = port.get("targetPort")
    if isinstance(target, int):
        return target
    spec = _d(_d(pod).get("spec"))
    containers = [_d(c) for c in _l(spec.get("containers"))]
    containers += [_d(c) for c in _l(spec.get("initContainers"))
                   if _d(c).get("restartPolicy") == "Always"]
    for container in containers:
        for cport in _l(container.get("ports")):
            cport = _d(cport)
            number = cport.get("containerPort")
            if (cport.get("name") == target and (cport.get("protocol") or "TCP") == port["protocol"]
                    and isinstance(number, int)):
                return number
    return None


def slice_ports(svc: dict, pod: dict) -> list[dict]:
    """getEndpointPorts: the pod's resolved ports ``[{name, port, protocol, appProtocol?}]``;
    a Service port the pod cannot resolve is left out."""
    out = []
    for p in service_ports(svc):
        number = find_port(pod, p)
        if number is None:
            continue
        ep = {"name": p["name"], "port": number, "protocol": p["protocol"]}
        if "appProtocol" in p:
            ep["appProtocol"] = p["appProtocol"]
        out.append(ep)
    return out


def pod_endpoint(pod: dict, node: dict | None, svc: dict) -> dict:
    """podToEndpoint: serving = pod Ready; terminating = deletionTimestamp set;
    ready = publishNotReadyAddresses or (serving and not terminating)."""
    meta, spec = _meta(pod), _d(_d(pod).get("spec"))
    serving = pod_ready(pod)
    terminating = bool(meta.get("deletionTimestamp"))
    pnra = bool(_d(_d(svc).get("spec")).get("publishNotReadyAddresses"))
    ep: dict = {"addresses": pod_ips(pod),
                "conditions": {"ready": pnra or (serving and not terminating),
                               "serving": serving, "terminating": terminating},
                "targetRef": {"kind": "Pod", "namespace": _s(meta.get("namespace")),
                              "name": _s(meta.get("name")), "uid": _s(meta.get("uid"))}}
    if _s(spec.get("nodeName")):
        ep["nodeName"] = spec["nodeName"]
    zone = _s(_d(_meta(node).get("labels")).get(LABEL_ZONE))
    if zone:
        ep["zone"] = zone
    if should_set_hostname(pod, svc):
        ep["hostname"] = spec["hostname"]
    return ep


def endpoint_id(ep: object) -> tuple:
    """What makes two endpoints the same one (hashEndpoint): addresses, hostname, pod."""
    ep = _d(ep)
    ref = _d(ep.get("targetRef"))
    addrs = tuple(sorted(str(a) for a in _l(ep.get("addresses"))))
    return addrs, _s(ep.get("hostname")), _s(ref.get("namespace")), _s(ref.get("name"))


def _endpoint_order(ep: dict) -> tuple:
    return _s(_d(ep.get("targetRef")).get("name")), endpoint_id(ep)[0]


def port_key(ports: object) -> tuple[str, ...]:
    """The port set a slice is grouped by (NewPortMapKey), order-free."""
    return tuple(sorted(json.dumps(p, sort_keys=True, default=str) for p in _l(ports)))


def slice_labels(svc: dict) -> dict:
    """setEndpointSliceLabels: the Service's labels (reserved ones dropped), the headless
    label when the Service has no cluster IP, the service-name and managed-by labels."""
    labels = {k: v for k, v in _d(_meta(svc).get("labels")).items() if k not in _RESERVED}
    if not service_ip_set(svc):
        labels[LABEL_HEADLESS] = ""
    labels[LABEL_SERVICE_NAME] = _s(_meta(svc).get("name"))
    labels[LABEL_MANAGED_BY] = CONTROLLER_NAME
    return labels


def service_ip_set(svc: dict) -> bool:
    """The Service has a cluster IP (not headless)."""
    cluster_ip = _d(_d(svc).get("spec")).get("clusterIP")
    return bool(cluster_ip) and cluster_ip != "None"


def owner_ref(svc: dict) -> dict:
    """metav1.NewControllerRef to the Service."""
    meta = _meta(svc)
    return {"apiVersion": "v1", "kind": "Service", "name": _s(meta.get("name")),
            "uid": _s(meta.get("uid")), "controller": True, "blockOwnerDeletion": True}


def owned_by(slice_: dict, svc: dict) -> bool:
    """The slice's ownerReferences name this Service (by uid): else it belongs to an old one."""
    uid = _meta(svc).get("uid")
    return any(_d(r).get("uid") == uid and _d(r).get("kind") == "Service"
               and _d(r).get("apiVersion") == "v1"
               for r in _l(_meta(slice_).get("ownerReferences")))


def new_slice(svc: dict, ports: list[dict], endpoints: list[dict]) -> dict:
    """newEndpointSlice: no name yet (``generateName`` ``<svc>-``)."""
    meta = _meta(svc)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": f"{_s(meta.get('name'))}-",
                         "namespace": _s(meta.get("namespace")) or "default",
                         "labels": slice_labels(svc), "ownerReferences": [owner_ref(svc)]},
            "addressType": ADDRESS_TYPE, "ports": copy.deepcopy(ports),
            "endpoints": list(endpoints)}


@dataclass
class SlicePlan:
    """What to write: ``create`` (no name: the caller names them), ``update`` (whole objects,
    with the stored resourceVersion), ``delete`` (names), and the pods left out because
    their node is not known yet (``skipped``: look again later)."""

    create: list[dict] = field(default_factory=list)
    update: list[dict] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def desired_groups(svc: dict, pods: Iterable[dict], nodes: Mapping[str, dict]
                   ) -> tuple[dict[tuple, tuple[list[dict], dict]], list[str]]:
    """The desired endpoints grouped by resolved port set:
    ``{port_key: (ports, {endpoint_id: endpoint})}``, pods in name order; plus the pods
    skipped because their node is unknown (kept anyway with publishNotReadyAddresses)."""
    pnra = bool(_d(_d(svc).get("spec")).get("publishNotReadyAddresses"))
    groups: dict[tuple, tuple[list[dict], dict]] = {}
    skipped: list[str] = []
    chosen = [p for p in pods if selects(svc, p) and include_pod(p, True)]
    for pod in sorted(chosen, key=lambda p: _s(_meta(p).get("name"))):
        node_name = _s(_d(pod.get("spec")).get("nodeName"))
        node = nodes.get(node_name) if node_name else None
        if node is None and not pnra:
            if node_name:
                skipped.append(_s(_meta(pod).get("name")))
            continue
        ep = pod_endpoint(pod, node, svc)
        if not ep["addresses"]:
            continue
        ports = slice_ports(svc, pod)
        group = groups.setdefault(port_key(ports), (ports, {}))
        group[1].setdefault(endpoint_id(ep), ep)
    return groups, skipped


def _with(old: dict, labels: dict, endpoints: list[dict]) -> dict:
    new = copy.deepcopy(old)
    new.setdefault("metadata", {})["labels"] = dict(labels)
    new["endpoints"] = endpoints
    return new


def _slice_to_fill(slices: list[dict], count: int, max_per_slice: int) -> dict | None:
    """getSliceToFill: the slice that is closest to full once ``count`` endpoints are added."""
    best, best_room = None, max_per_slice
    for s in slices:
        room = max_per_slice - (count + len(_l(s.get("endpoints"))))
        if 0 <= room < best_room:
            best, best_room = s, room
    return best


def _is_placeholder(s: dict, placeholder: dict) -> bool:
    m, p = _meta(s), placeholder["metadata"]
    return (m.get("namespace") == p["namespace"] and m.get("labels") == p["labels"]
            and m.get("ownerReferences") == p["ownerReferences"]
            and s.get("addressType") == ADDRESS_TYPE
            and not s.get("ports") and not s.get("endpoints"))


def plan_slices(svc: dict, pods: Iterable[dict], nodes: Mapping[str, dict],
                existing: Iterable[dict], max_per_slice: int = MAX_ENDPOINTS_PER_SLICE
                ) -> SlicePlan:
    """reconcileByPortMapping + finalize for one Service: keep existing slices and names,
    change only what differs, fill the fullest first, create only what does not fit,
    delete what no port set needs, reuse a deleted slice's name for a new one, keep one
    empty placeholder slice when there is nothing else."""
    plan = SlicePlan()
    groups, plan.skipped = desired_groups(svc, pods, nodes)
    labels = slice_labels(svc)
    by_key: dict[tuple, list[dict]] = {}
    by_name: dict[str, dict] = {}
    live = [s for s in existing if isinstance(s, dict) and _s(_meta(s).get("name"))
            and not _meta(s).get("deletionTimestamp")]
    for s in sorted(live, key=lambda s: _meta(s)["name"]):
        by_name[_meta(s)["name"]] = s
        if owned_by(s, svc) and s.get("addressType") == ADDRESS_TYPE:
            by_key.setdefault(port_key(s.get("ports")), []).append(s)
        else:
            plan.delete.append(_meta(s)["name"])
    reusable = {_meta(s)["name"] for slices in by_key.values() for s in slices}

    for key, (ports, wanted) in sorted(groups.items()):
        wanted = dict(wanted)
        updated, unchanged, created = [], [], []
        for s in by_key.pop(key, []):
            kept = [got for ep in _l(s.get("endpoints"))
                    if (got := wanted.pop(endpoint_id(ep), None)) is not None]
            kept.sort(key=_endpoint_order)
            if kept != _l(s.get("endpoints")):
                if kept:
                    updated.append(_with(s, labels, kept))
                else:
                    plan.delete.append(_meta(s)["name"])
            elif _meta(s).get("labels") != labels:
                updated.append(_with(s, labels, kept))
            else:
                unchanged.append(s)
        queue = list(wanted.values())
        for s in sorted(updated, key=lambda s: -len(s["endpoints"])):
            while queue and len(s["endpoints"]) < max_per_slice:
                s["endpoints"].append(queue.pop(0))
        while queue:
            target = None
            if len(queue) < max_per_slice and unchanged:
                target = _slice_to_fill(unchanged, len(queue), max_per_slice)
            if target is None:
                target = new_slice(svc, ports, [])
                created.append(target)
            else:
                unchanged.remove(target)
                target = _with(target, labels, list(_l(target.get("endpoints"))))
                updated.append(target)
            while queue and len(target["endpoints"]) < max_per_slice:
                target["endpoints"].append(queue.pop(0))
        for s in updated + created:
            s["endpoints"].sort(key=_endpoint_order)
        plan.update += updated
        plan.create += created
    for slices in by_key.values():
        plan.delete += [_meta(s)["name"] for s in slices]

    if len(plan.delete) == len(live) and not plan.create:
        placeholder = new_slice(svc, [], [])
        if len(plan.delete) == 1 and _is_placeholder(by_name[plan.delete[0]], placeholder):
            plan.delete = []
        else:
            plan.create.append(placeholder)
    for name in [n for n in plan.delete if n in reusable]:
        if not plan.create:
            break
        reused = plan.create.pop()
        reused["metadata"]["name"] = name
        plan.delete.remove(name)
        plan.update.append(reused)
    if _meta(svc).get("deletionTimestamp"):
        plan.create = []
    return plan
