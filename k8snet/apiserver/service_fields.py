"""What a Service update keeps and what it drops, before it is validated.

A Service is a union discriminated by ``spec.type``: some fields only make
sense with some types.  When an update changes the type, the fields that
belonged to the old type and that the user left as they were are cleared
(``dropTypeDependentFields``, kube-apiserver
``pkg/registry/core/service/strategy.go``); the allocated values a client
left out are taken from the stored object (``patchAllocatedValues``,
``pkg/registry/core/service/storage/storage.go``).  Each rule clears a field
only when (a) it no longer applies, (b) the API server may have filled it
itself, and (c) the user did not also change it in this update (a change is
then the user's, and validation judges it).

A freed NodePort or health check port needs no explicit release: the
allocators read what is taken from the stored Services (``registry.py``).
"""
from __future__ import annotations

from k8snet.api.service import (
    externally_accessible,
    needs_health_check,
    needs_node_ports,
    service_type,
)


def _spec(obj: dict) -> dict | None:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else None


def _ports(spec: dict) -> list[dict]:
    ports = spec.get("ports")
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


def _node_ports(spec: dict) -> list:
    return [p["nodePort"] for p in _ports(spec) if p.get("nodePort")]


def _same_node_ports(old: dict, new: dict) -> bool:
    """``sameNodePorts``: ports may be added, removed or changed, as long
    as no NodePort is new (a list: a malformed value is kept for validation)."""
    held = _node_ports(old)
    return all(port in held for port in _node_ports(new))


def needs_cluster_ip(spec: dict) -> bool:
    """``needsClusterIP``: every type but ExternalName ("None" counts as a value)."""
    return service_type(spec) != "ExternalName"


def _same(old: dict, new: dict, key: str, empty: object = None) -> bool:
    """The field holds the same value before and after (unset == ``empty``)."""
    return (old.get(key) or empty) == (new.get(key) or empty)


def drop_type_dependent_fields(old: dict, new: dict) -> None:
    """``dropTypeDependentFields``, on an update of ``old`` to ``new`` (in place).

    Left as they were, these are cleared: clusterIP(s), ipFamilies and
    ipFamilyPolicy going to ExternalName; every nodePort going to a type
    without them (if no port gained a new one); healthCheckNodePort when no
    longer a LoadBalancer with the Local policy; allocateLoadBalancerNodePorts
    and loadBalancerClass leaving LoadBalancer; externalTrafficPolicy when no
    longer externally accessible.  The load balancer's status goes with the
    LoadBalancer type."""
    old_spec, spec = _spec(old), _spec(new)
    if old_spec is None or spec is None:
        return                                   # a shape error: validation's to report
    if needs_cluster_ip(old_spec) and not needs_cluster_ip(spec):
        if _same(old_spec, spec, "clusterIP", "") and _same(old_spec, spec, "clusterIPs", []):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if _same(old_spec, spec, "ipFamilies", []):
            spec.pop("ipFamilies", None)
        if _same(old_spec, spec, "ipFamilyPolicy", ""):
            spec.pop("ipFamilyPolicy", None)
    if needs_node_ports(old_spec) and not needs_node_ports(spec) and \
            _same_node_ports(old_spec, spec):
        for port in _ports(spec):
            port.pop("nodePort", None)
    if needs_health_check(old_spec) and not needs_health_check(spec) and \
            _same(old_spec, spec, "healthCheckNodePort", 0):
        spec.pop("healthCheckNodePort", None)
    leaves_lb = service_type(old_spec) == "LoadBalancer" and service_type(spec) != "LoadBalancer"
    allocate = spec.get("allocateLoadBalancerNodePorts")
    if leaves_lb and allocate is not None and \
            allocate == old_spec.get("allocateLoadBalancerNodePorts"):
        spec.pop("allocateLoadBalancerNodePorts")
    if leaves_lb and old_spec.get("loadBalancerClass") == spec.get("loadBalancerClass"):
        spec.pop("loadBalancerClass", None)
    if externally_accessible(old_spec) and not externally_accessible(spec) and \
            _same(old_spec, spec, "externalTrafficPolicy", ""):
        spec.pop("externalTrafficPolicy", None)
    status = new.get("status")
    if service_type(spec) != "LoadBalancer" and isinstance(status, dict) and \
            status.get("loadBalancer"):
        status["loadBalancer"] = {}


def patch_allocated_values(old: dict, new: dict) -> None:
    """``patchAllocatedValues``: what the client left out of an update but
    the stored Service holds (its ClusterIP, a port's NodePort, the health
    check port) is kept, for a type that still needs it.  ``new`` has been
    validated for shape."""
    old_spec, spec = old.get("spec") or {}, new.setdefault("spec", {})
    if needs_cluster_ip(old_spec) and needs_cluster_ip(spec) and \
            not spec.get("clusterIP") and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
    if needs_node_ports(old_spec) and needs_node_ports(spec):
        # By the port's name, as upstream: its number or protocol may change.
        # A NodePort the update gives to another port is not handed out twice.
        used = set(_node_ports(old_spec)) & set(_node_ports(spec))
        held = {p.get("name", ""): p.get("nodePort") for p in _ports(old_spec)}
        for p in _ports(spec):
            kept = held.get(p.get("name", ""))
            if not p.get("nodePort") and kept and kept not in used:
                p["nodePort"] = kept
    if needs_health_check(old_spec) and needs_health_check(spec) and \
            not spec.get("healthCheckNodePort") and old_spec.get("healthCheckNodePort"):
        spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]
