"""Discovery: what kubectl reads before anything else.

    GET /version                 -> {"major": "1", "minor": "35", "gitVersion": ...}
    GET /api                     -> APIVersions {"versions": ["v1"], ...}
    GET /apis                    -> APIGroupList {"groups": [{"name": "apps", ...}]}
    GET /api/v1, /apis/apps/v1   -> APIResourceList {"resources": [{"name": "pods",
                                    "singularName": "pod", "namespaced": true, "kind": "Pod",
                                    "verbs": [...], "shortNames": ["po"], "categories": ["all"]},
                                    {"name": "pods/status", ...}, ...]}
    GET /openapi/v3             -> {"paths": {"api/v1": {"serverRelativeURL":
                                    "/openapi/v3/api/v1?hash=..."}, ...}}
    GET /openapi/v3/<gv>         -> {"paths": {...PATCH per kind...},
                                    "components": {"schemas": {"io.k8s.api.core.v1.Pod": ...}}}

The unaggregated (v1) documents only: clients that ask for the aggregated
``apidiscovery.k8s.io/v2`` list get the JSON ``APIGroupList`` and fall back,
as they do against servers without aggregated discovery.  An OpenAPI v3
document has one PATCH operation per kind that names the ``fieldValidation``
query parameter, so kubectl leaves validation to the server (strict), and
the schemas of the built-in kinds (``k8snet.api.openapi_schema``), which
``kubectl explain`` reads.  Sources: api-concepts ("Discovery API"),
KEP-3352 (aggregated discovery), KEP-2885 (server-side field validation),
KEP-2896 (OpenAPI v3), https://kubernetes.io/docs/concepts/overview/kubernetes-api/#openapi-v3
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import k8snet.apiserver.http.reviews as reviews
from k8snet.api.kinds import Kind
from k8snet.api.openapi_schema import component_schemas, schema_source
from k8snet.apiserver.http.resources import SUB_VERBS, VERBS, group_versions, kinds_in, subresources
from k8snet.apiserver.store import Store

VERSION = {"major": "1", "minor": "35", "gitVersion": "v1.35.0-k8snet",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2026-01-01T00:00:00Z", "goVersion": "python3.11", "compiler": "k8snet",
           "platform": "linux/amd64"}
NO_COLLECTION_DELETE = ("Namespace",)
SUBRESOURCE_KINDS = {
    "scale": ("autoscaling", "v1", "Scale", SUB_VERBS),
    "log": ("", "v1", "Pod", ["get"]),
    "exec": ("", "v1", "PodExecOptions", ["create", "get"]),
    "attach": ("", "v1", "PodAttachOptions", ["create", "get"]),
    "portforward": ("", "v1", "PodPortForwardOptions", ["create", "get"]),
    "finalize": ("", "v1", "Namespace", ["update"]),
}


def api_versions(server_address: str) -> dict:
    """``GET /api``."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group(name: str, versions: list[str]) -> dict:
    """One ``APIGroup``: ``{"name", "versions", "preferredVersion"}``."""
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(store: Store | None) -> dict:
    """``GET /apis``: every group but the core one."""
    groups = [api_group(g, vs) for g, vs in group_versions(store).items() if g]
    groups += [api_group(g, vs) for g, vs in reviews.GROUPS.items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource(kind: Kind) -> dict:
    """The ``APIResource`` of a kind."""
    verbs = [v for v in VERBS
             if not (v == "deletecollection" and kind.kind in NO_COLLECTION_DELETE)]
    out = {"name": kind.plural, "singularName": kind.singular, "namespaced": kind.namespaced,
           "kind": kind.kind, "verbs": verbs,
           "storageVersionHash": hashlib.sha256(kind.api_version.encode() + kind.kind.encode())
           .hexdigest()[:11]}
    if kind.short_names:
        out["shortNames"] = list(kind.short_names)
    if kind.categories:
        out["categories"] = list(kind.categories)
    return out


def subresource(kind: Kind, sub: str) -> dict:
    """The ``APIResource`` of ``<plural>/<sub>``."""
    out = {"name": f"{kind.plural}/{sub}", "singularName": "", "namespaced": kind.namespaced,
           "kind": kind.kind, "verbs": list(SUB_VERBS)}
    if sub in SUBRESOURCE_KINDS:
        group, version, sub_kind, verbs = SUBRESOURCE_KINDS[sub]
        out.update(kind=sub_kind, verbs=list(verbs))
        if group:
            out.update(group=group, version=version)
    return out


def resource_list(store: Store | None, group: str, version: str) -> dict | None:
    """``GET /api/v1`` or ``/apis/<group>/<version>``; None for an unknown one."""
    kinds = kinds_in(store, group, version)
    if not kinds:
        return reviews.resource_list(group, version)
    resources = []
    for kind in kinds:
        resources.append(resource(kind))
        resources.extend(subresource(kind, sub) for sub in subresources(kind))
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_root(store: Store | None) -> dict:
    """``GET /openapi/v3``: one entry per group-version, its URL carrying the
    document's hash (kubectl caches a document by it)."""
    paths = {}
    for group, versions in group_versions(store).items():
        for version in versions:
            path = _gv_path(group, version)
            digest = _digest(group, version, tuple(kinds_in(store, group, version)))
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def openapi_gv(store: Store | None, group: str, version: str) -> dict | None:
    """``GET /openapi/v3/<gv>``: PATCH operations naming ``fieldValidation``,
    and the schemas of the built-in kinds (shared: do not change it)."""
    kinds = kinds_in(store, group, version)
    return _gv_document(group, version, tuple(kinds))[0] if kinds else None


@lru_cache(maxsize=128)
def _digest(group: str, version: str, kinds: tuple[Kind, ...]) -> str:
    """The hash in a document's URL: of what the document is made from (its
    kinds and the client's models), so that the root need not build every
    document (a second, the first time) to name them."""
    made_from = repr((group, version, kinds, schema_source()))
    return hashlib.sha256(made_from.encode()).hexdigest()[:16]


@lru_cache(maxsize=128)
def _gv_document(group: str, version: str, kinds: tuple[Kind, ...]) -> tuple[dict, str]:
    """A group-version's OpenAPI v3 document and its hash, made once per set of kinds.
    The PATCH operations have no request body: kubectl apply then builds its
    patches from its compiled-in types, not from these schemas."""
    paths = {}
    params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
              for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
    for kind in kinds:
        base = "/" + _gv_path(group, version)
        ns = "/namespaces/{namespace}" if kind.namespaced else ""
        gvk = {"group": group, "version": version, "kind": kind.kind}
        op = {"operationId": f"patch{kind.kind}", "parameters": params,
              "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk}
        paths[f"{base}{ns}/{kind.plural}/{{name}}"] = {"patch": op}
    schemas = component_schemas(group, version, tuple(k.kind for k in kinds))
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes (k8snet)", "version": "v1.35.0"},
           "paths": paths, "components": {"schemas": schemas}}
    return doc, _digest(group, version, kinds)
