"""Strategic merge patch, for the built-in kinds.

A JSON merge patch (RFC 7386) whose lists merge by key where the Go types
say so (``patchStrategy:"merge" patchMergeKey:"name"``): containers, env and
volumes by ``name``, container ports by ``containerPort``, Service ports by
``port``, conditions by ``type``...  It understands the directives kubectl's
three-way patch (client-side ``kubectl apply``) sends:

    {"$patch": "replace" | "delete"}        in a map, or as a list item
    "$setElementOrder/<list>": [{"name": "a"}, ...]
    "$deleteFromPrimitiveList/<list>": ["x"]
    "$retainKeys": ["type", "rollingUpdate"]
    <field>: null                            removes the field

``apply(original, patch, kind)`` returns a new object; ``original`` is not
changed.  Source: https://kubernetes.io/docs/tasks/manage-kubernetes-objects/
update-api-object-kubectl-patch/ and the SIG API Machinery design
"strategic-merge-patch.md"; merge keys from k8s.io/api (core/v1, apps/v1).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from k8snet.errors import BadRequest


@dataclass(frozen=True)
class Field:
    """How one field merges: ``key`` of its list items (None: atomic list),
    ``primitive`` for a merged list of scalars, ``type`` of its value or items."""

    key: str | None = None
    type: str = ""
    primitive: bool = False


@dataclass(frozen=True)
class Type:
    """The fields of one Go type that merge specially (every other field
    merges as in a JSON merge patch; lists replace)."""

    fields: dict[str, Field] = field(default_factory=dict)


def _t(**fields: Field) -> Type:
    return Type(dict(fields))


CONDITIONS = Field("type")
TYPES: dict[str, Type] = {
    "ObjectMeta": _t(finalizers=Field(primitive=True), ownerReferences=Field("uid")),
    "PodTemplateSpec": _t(metadata=Field(type="ObjectMeta"), spec=Field(type="PodSpec")),
    "PodSpec": _t(containers=Field("name", "Container"),
                  initContainers=Field("name", "Container"),
                  ephemeralContainers=Field("name", "Container"),
                  volumes=Field("name"), imagePullSecrets=Field("name"),
                  hostAliases=Field("ip"), resourceClaims=Field("name"),
                  schedulingGates=Field("name"),
                  topologySpreadConstraints=Field("topologyKey")),
    "Container": _t(ports=Field("containerPort"), env=Field("name"),
                    volumeMounts=Field("mountPath"), volumeDevices=Field("devicePath")),
    "PodStatus": _t(conditions=CONDITIONS, podIPs=Field("ip"), hostIPs=Field("ip")),
    "ServiceSpec": _t(ports=Field("port")),
    "NodeSpec": _t(podCIDRs=Field(primitive=True)),
    "NodeStatus": _t(conditions=CONDITIONS, addresses=Field("type")),
    "WorkloadSpec": _t(template=Field(type="PodTemplateSpec")),
    "WorkloadStatus": _t(conditions=CONDITIONS),
    "JobTemplateSpec": _t(metadata=Field(type="ObjectMeta"), spec=Field(type="WorkloadSpec")),
    "CronJobSpec": _t(jobTemplate=Field(type="JobTemplateSpec")),
}
WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController")
SPEC = {"Pod": "PodSpec", "Service": "ServiceSpec", "Node": "NodeSpec", "CronJob": "CronJobSpec",
        "PodTemplate": "PodTemplateSpec", **{k: "WorkloadSpec" for k in WORKLOADS}}
STATUS = {"Pod": "PodStatus", "Node": "NodeStatus", **{k: "WorkloadStatus" for k in WORKLOADS},
          "Namespace": "WorkloadStatus", "Service": "WorkloadStatus"}


def object_type(kind: str) -> Type:
    """The top-level type of ``kind``: metadata, spec, status (and a Pod
    template's ``template``)."""
    fields = {"metadata": Field(type="ObjectMeta")}
    if kind in SPEC:
        fields["spec"] = Field(type=SPEC[kind])
    if kind in STATUS:
        fields["status"] = Field(type=STATUS[kind])
    if kind == "PodTemplate":
        fields["template"] = Field(type="PodTemplateSpec")
    return Type(fields)


def apply(original: dict, patch: dict, kind: str) -> dict:
    """``original`` with the strategic merge ``patch`` applied (a new dict)."""
    if not isinstance(patch, dict):
        raise BadRequest("the body of a strategic merge patch must be a JSON object")
    out = _merge_map(copy.deepcopy(original), patch, object_type(kind))
    return out if out is not None else {}


def _type(name: str) -> Type:
    return TYPES.get(name, Type())


def _merge_map(original: dict, patch: dict, typ: Type) -> dict | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _clean(patch)
    if directive not in (None, "merge"):
        raise BadRequest(f"Unknown patch type: {directive}")
    out = dict(original) if isinstance(original, dict) else {}
    orders, prim_deletes = {}, {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
        elif key.startswith("$deleteFromPrimitiveList/"):
            prim_deletes[key.split("/", 1)[1]] = value
        elif key.startswith("$"):
            continue
        elif value is None:
            out.pop(key, None)
        else:
            f = typ.fields.get(key, Field())
            out[key] = _merge_value(out.get(key), value, f)
    for key, values in prim_deletes.items():
        if isinstance(out.get(key), list):
            out[key] = [v for v in out[key] if v not in values]
    for key, order in orders.items():
        f = typ.fields.get(key, Field())
        if isinstance(out.get(key), list):
            out[key] = _ordered(out[key], order, f)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_value(current: object, value: object, f: Field) -> object:
    if isinstance(value, dict):
        if isinstance(current, dict):
            merged = _merge_map(current, value, _type(f.type))
            return merged if merged is not None else {}
        return _clean(value)
    if isinstance(value, list):
        if f.key or f.primitive:
            return _merge_list(current if isinstance(current, list) else [], value, f)
        return [_clean(v) for v in value]
    return value


def _merge_list(current: list, patch: list, f: Field) -> list:
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [_clean(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    if f.primitive or not f.key:
        out = list(current)
        for v in patch:
            if v not in out:
                out.append(v)
        return out
    out = [copy.deepcopy(v) for v in current]
    for item in patch:
        if not isinstance(item, dict):
            raise BadRequest(f"unable to merge a list item that is not a map by {f.key}")
        key = item.get(f.key)
        at = next((i for i, v in enumerate(out)
                   if isinstance(v, dict) and v.get(f.key) == key), None)
        if item.get("$patch") == "delete":
            if at is not None:
                out.pop(at)
            continue
        if at is None:
            out.append(_clean(item))
        else:
            merged = _merge_map(out[at], item, _type(f.type))
            out[at] = merged if merged is not None else {}
    return out


def _ordered(items: list, order: list, f: Field) -> list:
    """Items named in ``order`` first, in its order; the others after, as they were."""
    def ident(v: object) -> object:
        return v.get(f.key) if f.key and isinstance(v, dict) else v
    wanted = [ident(o) for o in order]
    rank = {w: i for i, w in enumerate(wanted) if isinstance(w, str | int)}
    named = sorted((v for v in items if ident(v) in rank), key=lambda v: rank[ident(v)])
    return named + [v for v in items if ident(v) not in rank]


def _clean(value: object) -> object:
    """``value`` without patch directives (a new value added as it stands)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()
                if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def merge_patch(original: object, patch: object) -> object:
    """RFC 7386 JSON merge patch: maps merge, ``null`` removes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
