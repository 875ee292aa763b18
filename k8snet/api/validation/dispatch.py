"""``validate``: the checks of each kind, chosen by kind and apiVersion."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .apps import (
    _validate_daemon_set,
    _validate_deployment,
    _validate_replica_set,
    _validate_stateful_set,
)
from .config import _validate_config_map, _validate_namespace, _validate_secret
from .endpoints import _validate_endpoint_slice, _validate_endpoints
from .errors import INTERNAL, TYPE_INVALID, FieldError
from .fields import _STRING, _Errors
from .formats import is_dns1035_label, is_dns1123_label, is_dns1123_subdomain
from .ingress import _validate_ingress, _validate_ingress_class
from .meta import _validate_meta
from .network_policy import _validate_network_policy
from .pods import _validate_pod
from .services import _validate_service


@dataclass(frozen=True)
class _Rule:
    api_version: str
    name_check: Callable[[str], list[str]]
    namespaced: bool
    check: Callable[[_Errors, dict], None] | None = None


_RULES: dict[str, _Rule] = {
    "Namespace": _Rule("v1", is_dns1123_label, False, _validate_namespace),
    "Node": _Rule("v1", is_dns1123_subdomain, False),
    "Pod": _Rule("v1", is_dns1123_subdomain, True, _validate_pod),
    "Service": _Rule("v1", is_dns1035_label, True, _validate_service),
    "Endpoints": _Rule("v1", is_dns1123_subdomain, True, _validate_endpoints),
    "ConfigMap": _Rule("v1", is_dns1123_subdomain, True, _validate_config_map),
    "Secret": _Rule("v1", is_dns1123_subdomain, True, _validate_secret),
    "EndpointSlice": _Rule("discovery.k8s.io/v1", is_dns1123_subdomain, True,
                           _validate_endpoint_slice),
    "Deployment": _Rule("apps/v1", is_dns1123_subdomain, True, _validate_deployment),
    "ReplicaSet": _Rule("apps/v1", is_dns1123_subdomain, True, _validate_replica_set),
    "StatefulSet": _Rule("apps/v1", is_dns1123_subdomain, True, _validate_stateful_set),
    "DaemonSet": _Rule("apps/v1", is_dns1123_subdomain, True, _validate_daemon_set),
    "Ingress": _Rule("networking.k8s.io/v1", is_dns1123_subdomain, True, _validate_ingress),
    "IngressClass": _Rule("networking.k8s.io/v1", is_dns1123_subdomain, False,
                          _validate_ingress_class),
    "NetworkPolicy": _Rule("networking.k8s.io/v1", is_dns1123_subdomain, True,
                           _validate_network_policy),
}
_CLUSTER_SCOPED = frozenset({"PersistentVolume", "ClusterRole", "ClusterRoleBinding",
                             "StorageClass", "PriorityClass", "CustomResourceDefinition"})


def validate(obj: Any) -> list[FieldError]:
    """Every reason the API server would refuse to create ``obj``.

    ``obj`` is one object as Kubernetes JSON (a dict with apiVersion, kind,
    metadata...).  Returns the causes in the API server's order, an empty
    list when the object is valid.  The kinds the lab acts on (Namespace,
    Pod, Service, Endpoints, EndpointSlice, ConfigMap, Secret, Deployment,
    ReplicaSet, StatefulSet, DaemonSet, Ingress, IngressClass, NetworkPolicy)
    are checked in depth; any other kind only for its kind, apiVersion and
    metadata.  Never raises: a value of the wrong shape is an error at its
    path, and anything but a dict is one error at the root (path "").
    """
    errs = _Errors()
    try:
        _validate_object(errs, obj)
    except Exception as exc:      # a bug here must not take the API server down
        errs.append(FieldError("", INTERNAL, None, f"validation failed: {exc!r}"))
    return list(errs)


def _validate_object(errs: _Errors, obj: Any) -> None:
    if not isinstance(obj, dict):
        errs.append(FieldError("", TYPE_INVALID, obj, "must be an object"))
        return
    kind = errs.need(obj, "kind", "kind", _STRING)
    api_version = errs.need(obj, "apiVersion", "apiVersion", _STRING)
    rule = _RULES.get(kind or "")
    if rule and api_version and api_version != rule.api_version:
        errs.not_supported("apiVersion", api_version, (rule.api_version,))
    if rule is None:
        _validate_meta(errs, obj, is_dns1123_subdomain, kind in _CLUSTER_SCOPED)
        return
    _validate_meta(errs, obj, rule.name_check, not rule.namespaced)
    if rule.check:
        rule.check(errs, obj)
