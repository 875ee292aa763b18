"""OpenAPI v3 component schemas of the built-in kinds, from the client's models.

    component_schemas("apps", "v1", ("Deployment",)) ->
      {"io.k8s.api.apps.v1.Deployment": {
           "description": "Deployment enables declarative updates for Pods and ReplicaSets.",
           "type": "object",
           "properties": {"spec": {"allOf": [{"$ref": "#/components/schemas/"
                                                       "io.k8s.api.apps.v1.DeploymentSpec"}]},
                          ...},
           "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment",
                                                "version": "v1"}]},
       "io.k8s.api.apps.v1.DeploymentSpec": {
           "type": "object", "required": ["selector", "template"],
           "properties": {"replicas": {"type": "integer",
                                       "description": "Number of desired pods. ..."}, ...}},
       "io.k8s.api.core.v1.PodTemplateSpec": {...},
       "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {...},
       "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"format": "int-or-string",
                                                          "oneOf": [...]}, ...}

What ``GET /openapi/v3/apis/<group>/<version>`` carries in
``components.schemas``, and what ``kubectl explain`` reads: the schema of
each built-in kind (``k8snet.api.kinds``) and of every type it reaches, named
as kube-apiserver names them.  A property is a type (``string``, ``integer``,
``boolean``, ``number``, ``object`` with ``additionalProperties``, ``array``
with ``items``) or a reference wrapped as the server wraps it,
``{"allOf": [{"$ref": ...}]}``, with the field's description.  Client >= 37
keeps no text for a field whose type is another model (not in its ``Field``,
its class docstring, ``model_json_schema()`` nor anywhere in the package), so
such a property is given the referred type's description instead: ``spec``
of a Pod reads "PodSpec is a description of a pod." where kube-apiserver has
"Specification of the desired behavior of the pod. ..." (client < 37 keeps
the field's own text, and that is used).  ``kubectl explain pod.spec`` then
prints that sentence twice, as the field's and as its type's.

The models are the Kubernetes Python client's (``openapi_types`` and
``attribute_map``), in either of its generations: plain classes whose
property getters hold the descriptions and whose setters refuse None for a
required field (client < 37), or pydantic models whose fields carry both
(client >= 37).  Their class names drop the Go package, so a name is put
back by these rules, in order:

- apimachinery's meta/v1 types (``V1ObjectMeta``): ``io.k8s.apimachinery.pkg.apis.meta.v1``;
- a class the client prefixes with its group to tell two apart
  (``DiscoveryV1EndpointPort``, ``CoreV1Event``): that group's package;
- a type a core/v1 kind reaches (``V1PodSpec``, from a Deployment too): core;
- anything else: the one group whose client API of that version reaches it
  (``V1DeploymentSpec``: apps), or, when none does, the one whose models' names
  share the longest start with it; else the group of the kind that reaches it.

What the client does not keep is approximated: ``Time`` and ``MicroTime``
become inline ``string``/``date-time``, integers have no ``format``, a
``Quantity`` is a ``str`` to the client (``QUANTITY_FIELDS`` names those
fields), an ``IntOrString`` is known only from a pydantic ``Union[int, str]``
(else an ``object``), and the patch-strategy extensions are left out
(kubectl builds apply patches from its compiled-in types, since the PATCH
operations served declare no request body).  Results are cached: they
depend only on the group, version and kinds.  Sources:
https://kubernetes.io/docs/concepts/overview/kubernetes-api/#openapi-v3,
KEP-2896 (OpenAPI v3), kubernetes api/openapi-spec/README.md (vendor
extensions).
"""
from __future__ import annotations

import hashlib
import inspect
import re
import types
import typing
from dataclasses import dataclass
from functools import cache
from os.path import commonprefix
from pathlib import Path
from typing import Any

from k8snet.api.kinds import BY_KIND, Kind

REF = "#/components/schemas/"
GVK = "x-kubernetes-group-version-kind"
META_PACKAGE = "io.k8s.apimachinery.pkg.apis.meta"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# Go packages that are not io.k8s.api.<the group's first word>.
PACKAGES = {
    "apiextensions": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    "apiregistration": "io.k8s.kube-aggregator.pkg.apis.apiregistration",
    "internal": "io.k8s.api.apiserverinternal",
}
# The client's models of apimachinery's meta/v1 types.
META_MODELS = frozenset({
    "V1APIGroup", "V1APIGroupList", "V1APIResource", "V1APIResourceList", "V1APIVersions",
    "V1Condition", "V1DeleteOptions", "V1FieldSelectorRequirement",
    "V1GroupVersionForDiscovery", "V1LabelSelector", "V1LabelSelectorRequirement",
    "V1ListMeta", "V1ManagedFieldsEntry", "V1ObjectMeta", "V1OwnerReference",
    "V1Preconditions", "V1ServerAddressByClientCIDR", "V1Status", "V1StatusCause",
    "V1StatusDetails", "V1WatchEvent",
})
# core/v1 types that no core kind the lab serves reaches (workloads, StorageClass do).
CORE_ELSEWHERE = ("V1PodTemplateSpec", "V1TopologySelectorTerm")
# Fields whose Go type is resource.Quantity or a ResourceList (map of them).
QUANTITY_FIELDS = {
    "V1ResourceRequirements": ("limits", "requests"),
    "V1VolumeResourceRequirements": ("limits", "requests"),
    "V1EmptyDirVolumeSource": ("sizeLimit",),
    "V1ResourceFieldSelector": ("divisor",),
    "V1PodSpec": ("overhead",),
    "V1ContainerStatus": ("allocatedResources",),
    "V1NodeStatus": ("allocatable", "capacity"),
    "V1PersistentVolumeSpec": ("capacity",),
    "V1PersistentVolumeClaimStatus": ("allocatedResources", "capacity"),
    "V1ResourceQuotaSpec": ("hard",),
    "V1ResourceQuotaStatus": ("hard", "used"),
    "V1LimitRangeItem": ("default", "defaultRequest", "max", "maxLimitRequestRatio", "min"),
    "V2MetricTarget": ("averageValue", "value"),
    "V2MetricValueStatus": ("averageValue", "value"),
}
SCALARS = {
    "str": {"type": "string"}, "int": {"type": "integer"}, "bool": {"type": "boolean"},
    "float": {"type": "number", "format": "double"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
    "bytearray": {"type": "string", "format": "byte"},
    "object": {"type": "object"},
}
SPECIAL = {   # in the lab's own words
    INT_OR_STRING: {
        "description": "IntOrString holds an int32 or a string: in JSON a number or a string "
                       "(a port number or a port name, a count or a percentage).",
        "format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]},
    QUANTITY: {
        "description": "Quantity is a fixed-point number with an optional suffix: binary SI "
                       "(Ki, Mi, Gi, ...), decimal SI (m, k, M, G, ...) or a decimal exponent "
                       "(1e3); serialized as a string (\"100m\", \"64Mi\").",
        "oneOf": [{"type": "string"}, {"type": "number"}]},
}
_NAME = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")
_MODEL_WORD = re.compile(r"\b(?:[A-Z][a-z]+)?V\d+(?:alpha\d+|beta\d+)?[A-Z]\w*\b")
LIST_TYPE = re.compile(r"^[Ll]ist\[(.+)\]$")             # List[V1X] (list[V1X] before 37)
DICT_TYPE = re.compile(r"^(?:Dict\[str, (.+)\]|dict\(str, (.+)\))$")
_GENERATED = "NOTE: This class is auto generated"      # the old client's class docstring
_REQUIRED = "must not be `None`"                        # the old client's setter error


@dataclass(frozen=True)
class Field:
    """One property of a model: ``Field("containerPort", "int", "Number of ...", True)``."""

    name: str                   # the JSON name
    type: str                   # the client's openapi type: "List[V1ContainerPort]"
    description: str
    required: bool
    int_or_string: bool = False


@cache
def _models() -> Any:
    from kubernetes.client import models  # imported once, on first use

    return models


@cache
def schema_source() -> str:
    """What the schemas are made from, to name a document's version: the
    client's version and this module's own text."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        client = version("kubernetes")
    except PackageNotFoundError:
        client = "?"
    return f"kubernetes {client}, {hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}"


def _model(name: str) -> Any:
    cls = getattr(_models(), name, None)
    return cls if hasattr(cls, "attribute_map") and hasattr(cls, "openapi_types") else None


@cache
def _old_client_configuration() -> Any:
    from kubernetes.client import Configuration

    config = Configuration()
    config.client_side_validation = True
    return config


def _getter_description(cls: Any, attr: str) -> str:
    """The old client's getter docstring, between its first line and ``:return:``."""
    lines = []
    for line in (getattr(getattr(cls, attr, None), "__doc__", None) or "").splitlines()[1:]:
        if line.strip().startswith(":return:"):
            break
        lines.append(line.replace("# noqa: E501", "").strip())
    return "\n".join(lines).strip()


def _setter_requires(cls: Any, attr: str) -> bool:
    """Whether the old client's setter refuses None (a required field)."""
    probe = cls.__new__(cls)
    probe.local_vars_configuration = _old_client_configuration()
    try:
        setattr(probe, attr, None)
    except ValueError as err:
        return _REQUIRED in str(err)
    except Exception:                   # a setter's other checks: not a required field
        return False
    return False


def _leaves(annotation: Any) -> set[Any]:
    """The types a pydantic annotation unions: ``Optional[Union[int, str]]`` -> int, str, None."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _leaves(args[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_leaves(a) for a in args))
    return {annotation}


@cache
def fields_of(model: str) -> tuple[Field, ...]:
    """The properties of a client model, in the client's order; () if unknown."""
    cls = _model(model)
    if cls is None:
        return ()
    pydantic = getattr(cls, "model_fields", None)
    if isinstance(pydantic, dict):         # by JSON name: ``_exec`` is ``var_exec`` there
        by_json = {i.serialization_alias or i.alias or n: i for n, i in pydantic.items()}
        return tuple(_pydantic_field(name, cls.openapi_types[attr], by_json.get(name))
                     for attr, name in cls.attribute_map.items())
    return tuple(Field(name, cls.openapi_types[attr], _getter_description(cls, attr),
                       _setter_requires(cls, attr)) for attr, name in cls.attribute_map.items())


def _pydantic_field(name: str, kind: str, info: Any) -> Field:
    if info is None:
        return Field(name, kind, "", False)
    return Field(name, kind, info.description or "", info.is_required(),
                 _leaves(info.annotation) - {type(None)} == {int, str})


def description_of(model: str) -> str:
    """A model's class docstring, without the generator's notes."""
    doc = inspect.cleandoc(getattr(_model(model), "__doc__", None) or "")
    return "" if doc.startswith(_GENERATED) else doc.split("\nAttributes:")[0].strip()


def model_for(kind: Kind) -> str | None:
    """The client's model of a built-in kind: ``V1Deployment``, ``CoreV1Event``."""
    version = kind.version.capitalize()
    prefix = (kind.group.split(".")[0] or "core").capitalize()
    for name in (f"{version}{kind.kind}", f"{prefix}{version}{kind.kind}"):
        cls = _model(name)
        if cls is not None and "kind" in cls.attribute_map.values():
            return name
    return None


def _package(group_word: str) -> str:
    return PACKAGES.get(group_word, f"io.k8s.api.{group_word}")


def _referenced(kind: str) -> str | None:
    """The model an openapi type names, through lists and maps; None for a scalar."""
    while True:
        inner = LIST_TYPE.match(kind) or DICT_TYPE.match(kind)
        if inner is None:
            break
        kind = next(g for g in inner.groups() if g)
    return kind if kind not in SCALARS and _model(kind) is not None else None


def _closure(models: list[str]) -> frozenset[str]:
    """The models reachable from ``models`` (themselves included), meta/v1 left out."""
    seen: set[str] = set()
    todo = list(models)
    while todo:
        model = todo.pop()
        if model in seen or model in META_MODELS or _model(model) is None:
            continue
        seen.add(model)
        todo.extend(r for f in fields_of(model) if (r := _referenced(f.type)))
    return frozenset(seen)


@cache
def _core_closure() -> frozenset[str]:
    """Every model the core/v1 kinds (and ``CORE_ELSEWHERE``) reach."""
    kinds = [m for k in BY_KIND.values() if not k.group and (m := model_for(k))]
    return _closure([*kinds, *CORE_ELSEWHERE])


@cache
def _api_owners(version: str) -> dict[str, frozenset[str]]:
    """Model -> the groups (first words) whose client API of ``version`` reaches it:
    ``scheduling_v1alpha3_api.py`` names ``V1alpha3Workload``, which reaches the
    ``V1alpha3WorkloadPodGroup...`` types a batch/v1 Job refers to."""
    from kubernetes.client import api

    owners: dict[str, set[str]] = {}
    for path in Path(api.__file__).parent.glob(f"*_{version}_api.py"):
        for model in _closure(_MODEL_WORD.findall(path.read_text())):
            owners.setdefault(model, set()).add(path.name.split("_")[0])
    return {m: frozenset(groups) for m, groups in owners.items()}


def definition_name(model: str, group: str) -> str:
    """The server's name of a client model reached from a kind of ``group``:
    ``definition_name("V1DeploymentSpec", "apps")`` -> ``io.k8s.api.apps.v1.DeploymentSpec``."""
    match = _NAME.match(model)
    if match is None:
        return model
    prefix, version, name = match.groups()
    if model in META_MODELS:
        package = META_PACKAGE
    elif prefix:
        package = _package(prefix.lower())
    elif model in _core_closure():
        package = _package("core")
    else:
        owners = _api_owners(version.lower()).get(model) or _kin_owners(model, version)
        word = next(iter(owners)) if len(owners) == 1 else group.split(".")[0] or "core"
        package = _package(word)
    return f"{package}.{version.lower()}.{name}"


def _kin_owners(model: str, version: str) -> frozenset[str]:
    """For a model no API reaches: the groups of the models of its version whose
    names share the longest start with it (``V1alpha3WorkloadPodGroupDisruptionMode``,
    on a batch/v1 Job, is scheduling's, as ``V1alpha3Workload`` is)."""
    best, groups = len(version), frozenset[str]()
    for other, owners in _api_owners(version.lower()).items():
        common = len(commonprefix([model, other]))
        if common > best:
            best, groups = common, owners
        elif common == best and common > len(version):
            groups = groups | owners
    return groups


@cache
def _kinds_by_model() -> dict[str, Kind]:
    return {m: k for k in BY_KIND.values() if (m := model_for(k))}


def _ref(name: str) -> dict:
    """A reference, wrapped as kube-apiserver wraps it (siblings such as a description)."""
    return {"allOf": [{"$ref": REF + name}]}


def _type_schema(kind: str, group: str, leaf: dict | None = None) -> dict:
    """The schema of an openapi type; ``leaf`` replaces its scalar (a Quantity)."""
    if (inner := LIST_TYPE.match(kind)) is not None:
        return {"type": "array", "items": _type_schema(inner.group(1), group, leaf)}
    if (inner := DICT_TYPE.match(kind)) is not None:
        value = inner.group(1) or inner.group(2)
        return {"type": "object", "additionalProperties": _type_schema(value, group, leaf)}
    if kind in SCALARS:
        return dict(leaf or SCALARS[kind])
    if _model(kind) is None:
        return {"type": "object"}
    return _ref(definition_name(kind, group))


@cache
def model_schema(model: str, group: str) -> dict:
    """One component schema (shared: do not change it)."""
    properties, required = {}, []
    quantities = QUANTITY_FIELDS.get(model, ())
    for field in fields_of(model):
        if field.int_or_string:
            schema = _ref(INT_OR_STRING)
        else:
            leaf = _ref(QUANTITY) if field.name in quantities else None
            schema = _type_schema(field.type, group, leaf)
        if description := field.description or _referred_description(field.type):
            schema["description"] = description
        properties[field.name] = schema
        if field.required:
            required.append(field.name)
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if description := description_of(model):
        out["description"] = description
    if required:
        out["required"] = required
    if (kind := _kinds_by_model().get(model)) is not None:
        out[GVK] = [{"group": kind.group, "kind": kind.kind, "version": kind.version}]
    return out


def _referred_description(kind: str) -> str:
    """For a field the client keeps no text for: the description of the model
    its type is (not through a list or a map), else ""."""
    return description_of(kind) if _model(kind) is not None else ""


def refs_in(value: Any) -> set[str]:
    """The component names a schema (or a document) refers to."""
    if isinstance(value, dict):
        found = {value["$ref"].removeprefix(REF)} if isinstance(value.get("$ref"), str) \
            else set()
        return found.union(*(refs_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(refs_in(v) for v in value))
    return set()


@cache
def component_schemas(group: str, version: str, kinds: tuple[str, ...]) -> dict[str, dict]:
    """``components.schemas`` of the group-version serving ``kinds``: the built-in
    ones among them and every schema they reach (shared: do not change it)."""
    out: dict[str, dict] = {}
    todo = [m for name in kinds
            if (k := BY_KIND.get(name)) is not None and (k.group, k.version) == (group, version)
            and (m := model_for(k)) is not None]
    while todo:
        model = todo.pop()
        name = definition_name(model, group)
        if name in out:
            continue
        out[name] = model_schema(model, group)
        todo.extend(r for f in fields_of(model) if (r := _referenced(f.type)))
    for name, schema in SPECIAL.items():
        if any(name in refs_in(s) for s in out.values()):
            out[name] = schema
    return out
