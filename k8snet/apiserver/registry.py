"""Admission per kind, as the API server's registry strategies do it:
defaults, validation (every cause at once), immutable fields, the
DefaultIngressClass plugin (``admission.py``), and the Service allocators
(ClusterIP from the service CIDR; NodePorts and health check ports from
30000-32767).

Allocations are read from the stored Services themselves, so a rolled-back
batch can never leak an address or a port.  Sources: kube-apiserver
``pkg/registry/core/service/storage/alloc.go`` (messages and field paths),
https://kubernetes.io/docs/concepts/services-networking/service/
"""
from __future__ import annotations

import ipaddress

from k8snet.api.defaults import apply_defaults
from k8snet.api.kinds import kind_info
from k8snet.api.service import needs_health_check
from k8snet.api.validation import FieldError, invalid_message, validate
from k8snet.apiserver.admission import admit_ingress_class
from k8snet.apiserver.service_fields import drop_type_dependent_fields, patch_allocated_values
from k8snet.apiserver.store import Store, Strategy
from k8snet.errors import Invalid, StatusError

NODE_PORTS = (30000, 32767)
IMMUTABLE_SELECTOR = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
NAMESPACE_FINALIZER = "kubernetes"   # api.FinalizerKubernetes: the namespace controller's
DYNAMIC_OFFSET = 16   # dynamic ClusterIPs start here; below is kept for static ones


def raise_invalid(obj: dict, errors: list) -> None:
    """Raise ``Invalid`` with the API server's message for ``errors`` (if any)."""
    if errors:
        kind = obj.get("kind", "")
        group = kind_info(kind, obj.get("apiVersion", "v1")).group
        qualified = f"{kind}.{group}" if group else kind
        name = (obj.get("metadata") or {}).get("name", "")
        raise Invalid(invalid_message(qualified, name, errors), [str(e) for e in errors])


def _normalise(obj: dict) -> None:
    """Defaults in place (the object is a private copy already)."""
    defaulted = apply_defaults(obj)
    obj.clear()
    obj.update(defaulted)


class GenericStrategy(Strategy):
    """Every kind: validate what was sent, then fill the defaults."""

    def prepare_create(self, store: Store, obj: dict) -> None:
        raise_invalid(obj, validate(obj))
        _normalise(obj)

    def prepare_update(self, store: Store, old: dict, obj: dict) -> None:
        raise_invalid(obj, validate(obj))
        _normalise(obj)
        if obj.get("kind") in IMMUTABLE_SELECTOR:
            before = (old.get("spec") or {}).get("selector")
            after = (obj.get("spec") or {}).get("selector")
            if before != after:
                raise_invalid(obj, [FieldError("spec.selector", "FieldValueInvalid", after,
                                        "field is immutable")])


class PodStrategy(GenericStrategy):
    """Pods: a new pod starts Pending (the registry's PrepareForCreate)."""

    def prepare_create(self, store: Store, obj: dict) -> None:
        super().prepare_create(store, obj)
        status = obj.setdefault("status", {})
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", "BestEffort")


class NamespaceStrategy(GenericStrategy):
    """Namespaces (pkg/registry/core/namespace/strategy.go): a new one is
    ``Active`` and carries the ``kubernetes`` finalizer (PrepareForCreate),
    which the namespace controller alone takes off.  Upstream an update keeps
    the old finalizers and status (they change through ``/finalize`` and
    ``/status``); here one that leaves them out keeps them, so a ``kubectl
    apply`` cannot drop them, while the controller can still write them."""

    def prepare_create(self, store: Store, obj: dict) -> None:
        super().prepare_create(store, obj)
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        finalizers = spec.get("finalizers") or []
        if NAMESPACE_FINALIZER not in finalizers:
            spec["finalizers"] = [*finalizers, NAMESPACE_FINALIZER]

    def prepare_update(self, store: Store, old: dict, obj: dict) -> None:
        spec = obj.get("spec")
        keep_finalizers = not isinstance(spec, dict) or "finalizers" not in spec
        keep_status = not obj.get("status")
        super().prepare_update(store, old, obj)
        old_finalizers = (old.get("spec") or {}).get("finalizers")
        if keep_finalizers and old_finalizers:
            obj.setdefault("spec", {})["finalizers"] = list(old_finalizers)
        if keep_status and old.get("status"):
            obj["status"] = old["status"]


class IngressStrategy(GenericStrategy):
    """Ingresses: the DefaultIngressClass admission plugin, then the generic checks."""

    def prepare_create(self, store: Store, obj: dict) -> None:
        admit_ingress_class(store, obj)
        super().prepare_create(store, obj)


class ServiceStrategy(GenericStrategy):
    """Services: the generic checks plus ClusterIP, NodePort and health
    check port allocation; an update first drops the fields of the type it
    leaves (``service_fields``)."""

    def __init__(self, service_cidr: str, node_ports: tuple[int, int] = NODE_PORTS) -> None:
        self.net = ipaddress.ip_network(service_cidr)
        self.node_ports = node_ports

    # --- what is taken -----------------------------------------------------------

    @staticmethod
    def _taken(store: Store, skip: tuple[str, str] | None) -> tuple[set[str], set]:
        ips, ports = set(), set()
        for svc in store.list("Service"):
            meta, spec = svc["metadata"], svc.get("spec") or {}
            if (meta.get("namespace"), meta["name"]) == skip:
                continue
            if spec.get("clusterIP") not in (None, "", "None"):
                ips.add(spec["clusterIP"])
            for p in spec.get("ports") or []:
                if p.get("nodePort"):
                    ports.add((p["nodePort"], p.get("protocol", "TCP")))
            if spec.get("healthCheckNodePort"):
                ports.add((spec["healthCheckNodePort"], "TCP"))
        return ips, ports

    # --- admission -----------------------------------------------------------------

    def prepare_create(self, store: Store, obj: dict) -> None:
        super().prepare_create(store, obj)
        self._allocate(store, obj, None)

    def prepare_update(self, store: Store, old: dict, obj: dict) -> None:
        drop_type_dependent_fields(old, obj)         # the strategy's PrepareForUpdate
        raise_invalid(obj, validate(obj))            # the shape first: what follows reads it
        patch_allocated_values(old, obj)
        spec, old_spec = obj.setdefault("spec", {}), old.get("spec") or {}
        super().prepare_update(store, old, obj)
        if old_spec.get("clusterIP") not in (None, "", "None") and \
                spec.get("clusterIP") != old_spec["clusterIP"] and \
                spec.get("type") != "ExternalName":
            raise_invalid(obj, [FieldError("spec.clusterIPs[0]", "FieldValueInvalid",
                                    spec.get("clusterIP"), "may not change once set")])
        if needs_health_check(old_spec) and needs_health_check(spec) and \
                spec.get("healthCheckNodePort") != old_spec.get("healthCheckNodePort"):
            # validateServiceExternalTrafficFieldsUpdate
            raise_invalid(obj, [FieldError("spec.healthCheckNodePort", "FieldValueForbidden",
                                           None, "field is immutable")])
        meta = old["metadata"]
        held = old_spec.get("healthCheckNodePort") if needs_health_check(old_spec) else None
        self._allocate(store, obj, (meta.get("namespace"), meta["name"]), held)

    def _allocate(self, store: Store, obj: dict, skip: tuple[str, str] | None,
                  held_health_check: int | None = None) -> None:
        """ClusterIP, NodePorts, then the health check port (alloc.go's
        order); ``held_health_check`` is the port this Service keeps."""
        spec = obj.setdefault("spec", {})
        ips, ports = self._taken(store, skip)
        errors: list[FieldError] = []
        svc_type = spec.get("type", "ClusterIP")
        if svc_type == "ExternalName":
            spec.pop("clusterIP", None)
        else:
            self._cluster_ip(spec, ips, errors)
        kept = held_health_check if held_health_check == spec.get("healthCheckNodePort") else None
        if kept:
            ports.add((kept, "TCP"))
        wanted = spec.get("healthCheckNodePort") if needs_health_check(spec) else None
        if svc_type in ("NodePort", "LoadBalancer"):
            mine = self._node_ports(spec, ports, errors, {(wanted, "TCP")})
        else:
            mine = set()
            for p in spec.get("ports") or []:
                p.pop("nodePort", None)
        raise_invalid(obj, errors)
        if needs_health_check(spec) and not kept:
            self._health_check_node_port(spec, ports | mine)

    def _health_check_node_port(self, spec: dict, taken: set) -> None:
        """``allocHealthCheckNodePort``: the port asked for, or the first
        free one, from the NodePort range; a failure is an internal error."""
        lo, hi = self.node_ports
        wanted = spec.get("healthCheckNodePort")
        if wanted:
            why = ""
            if not lo <= wanted <= hi:
                why = (f"provided port is not in the valid range. The range of valid ports "
                       f"is {lo}-{hi}")
            elif (wanted, "TCP") in taken:
                why = "provided port is already allocated"
            if why:
                raise StatusError("Internal error occurred: failed to allocate requested "
                                  f"HealthCheck NodePort {wanted}: {why}")
            return
        free = next((n for n in range(lo, hi + 1) if (n, "TCP") not in taken), None)
        if free is None:
            raise StatusError("Internal error occurred: failed to allocate a HealthCheck "
                              "NodePort 0: range is full")
        spec["healthCheckNodePort"] = free

    def _cluster_ip(self, spec: dict, taken: set[str], errors: list) -> None:
        wanted = spec.get("clusterIP") or ""
        if wanted == "None":
            spec["clusterIPs"] = ["None"]
            return
        if wanted:
            ip = ipaddress.ip_address(wanted)
            if ip not in self.net:
                errors.append(FieldError(
                    "spec.clusterIPs", "FieldValueInvalid", [wanted],
                    f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in "
                    f"the valid range. The range of valid IPs is {self.net}"))
            elif wanted in taken:
                errors.append(FieldError(
                    "spec.clusterIPs", "FieldValueInvalid", [wanted],
                    f"failed to allocate IP {wanted}: provided IP is already allocated"))
            spec["clusterIPs"] = [wanted]
            return
        start = int(self.net.network_address) + DYNAMIC_OFFSET
        for value in range(start, int(self.net.broadcast_address)):
            ip = str(ipaddress.ip_address(value))
            if ip not in taken:
                spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
                return
        errors.append(FieldError("spec.clusterIPs", "InternalError", None,
                                 f"failed to allocate a serviceIP: range is full ({self.net})"))

    def _node_ports(self, spec: dict, taken: set, errors: list, spare: set) -> set:
        """Each port's NodePort (asked for, or the first free one not in
        ``spare``: a health check port asked for); returns the (port,
        protocol) pairs this Service now holds."""
        lo, hi = self.node_ports
        mine: set = set()
        # shouldAllocateNodePorts: a LoadBalancer may opt out (those asked for stay)
        allocate = not (spec.get("type") == "LoadBalancer"
                        and spec.get("allocateLoadBalancerNodePorts") is False)
        ports = list(enumerate(spec.get("ports") or []))
        for i, p in ports:                       # those asked for first, wherever they are
            port, proto = p.get("nodePort"), p.get("protocol", "TCP")
            if not port:
                continue
            if (port, proto) in taken:
                errors.append(FieldError(f"spec.ports[{i}].nodePort", "FieldValueInvalid",
                                         port, "provided port is already allocated"))
            elif (port, proto) in mine:
                errors.append(FieldError(f"spec.ports[{i}].nodePort",
                                         "FieldValueDuplicate", port, ""))
            mine.add((port, proto))
        for i, p in ports:
            proto = p.get("protocol", "TCP")
            if p.get("nodePort") or not allocate:
                continue
            free = next((n for n in range(lo, hi + 1) if (n, proto) not in taken
                         and (n, proto) not in mine and (n, proto) not in spare), None)
            if free is None:
                errors.append(FieldError(f"spec.ports[{i}].nodePort", "InternalError", None,
                                         "failed to allocate a nodePort: range is full"))
                continue
            p["nodePort"] = free
            mine.add((free, proto))
        return mine


def strategies(service_cidr: str) -> tuple[dict[str, Strategy], Strategy]:
    """The per-kind strategies and the one for every other kind."""
    return {"Service": ServiceStrategy(service_cidr), "Pod": PodStrategy(),
            "Namespace": NamespaceStrategy(),
            "Ingress": IngressStrategy()}, GenericStrategy()
