"""Which kinds the REST API serves, and how a URL names them.

    /api/v1/namespaces/{ns}/{plural}/{name}/{subresource}
    /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}/{subresource}

``served(store)`` is every built-in kind plus the kinds of objects the store
holds that are not built in (stored as given, as custom resources would be);
``resolve(store, group, version, plural)`` finds one of them by its URL.
The subresources and verbs follow what kube-apiserver advertises for the
built-in types.  Source:
https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris
"""
from __future__ import annotations

from k8snet.api.kinds import BUILTIN, Kind, kind_info
from k8snet.apiserver.store import Store

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUB_VERBS = ["get", "patch", "update"]
# Kinds whose status is a subresource (kube-apiserver's registry has a status REST).
STATUS_KINDS = frozenset({
    "Namespace", "Node", "Pod", "Service", "Deployment", "ReplicaSet", "StatefulSet",
    "DaemonSet", "Ingress", "Job", "CronJob", "HorizontalPodAutoscaler",
    "PodDisruptionBudget", "PersistentVolume", "PersistentVolumeClaim", "ResourceQuota",
    "CustomResourceDefinition", "NetworkPolicy",
})
SCALE_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet"})
# Pod subresources the server answers (log) or names and refuses for now.
POD_STREAMS = ("log", "exec", "attach", "portforward")


def served(store: Store | None = None) -> list[Kind]:
    """The built-in kinds, then any other kind the store holds (its group and
    version read from a stored object's apiVersion)."""
    kinds = list(BUILTIN)
    known = {k.kind for k in kinds}
    if store is not None:
        for name in store.kinds():
            if name in known:
                continue
            sample = store.list(name)[:1]
            api_version = sample[0].get("apiVersion", "v1") if sample else "v1"
            ns = bool(sample and sample[0]["metadata"].get("namespace"))
            kinds.append(kind_info(name, api_version, ns))
            known.add(name)
    return kinds


def group_versions(store: Store | None = None) -> dict[str, list[str]]:
    """``{"": ["v1"], "apps": ["v1"], ...}``: the served groups and versions."""
    out: dict[str, list[str]] = {}
    for k in served(store):
        versions = out.setdefault(k.group, [])
        if k.version not in versions:
            versions.append(k.version)
    return out


def kinds_in(store: Store | None, group: str, version: str) -> list[Kind]:
    """The kinds served under ``group``/``version``."""
    return [k for k in served(store) if k.group == group and k.version == version]


def resolve(store: Store | None, group: str, version: str, plural: str) -> Kind | None:
    """The kind a URL's group, version and resource name mean, or None."""
    for k in kinds_in(store, group, version):
        if k.plural == plural:
            return k
    return None


def subresources(kind: Kind) -> list[str]:
    """``["status", "scale"]``...: the subresources served for ``kind``."""
    subs = []
    if kind.kind in STATUS_KINDS:
        subs.append("status")
    if kind.kind in SCALE_KINDS:
        subs.append("scale")
    if kind.kind == "Namespace":
        subs.append("finalize")
    if kind.kind == "Pod":
        subs.extend(POD_STREAMS)
    return subs
