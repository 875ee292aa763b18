"""Strict decoding: the fields of an object that its kind does not have.

The API server decodes a request strictly when asked (``fieldValidation=
Strict``, what kubectl sends by default since 1.27): a field its schema does
not know is a 400 ``strict decoding error: unknown field "spec.selectr"``;
with ``Warn`` (the server's default) it is a warning; with ``Ignore``, dropped
silently.  Source: KEP-2885 (server-side unknown field validation),
https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation

The schema is the Kubernetes Python client's generated models (each class's
``attribute_map`` names its JSON fields, ``openapi_types`` their types), so
no field list is kept here.  Only the built-in kinds the lab knows
(``k8snet.api.kinds``) are checked, each in its own API group; a custom
resource, or a kind the client has no model for, is not.
"""
from __future__ import annotations

import re
from dataclasses import replace
from functools import cache
from typing import Any

from k8snet.api.kinds import BY_KIND
from k8snet.api.openapi_schema import DICT_TYPE, LIST_TYPE, QUANTITY_FIELDS, model_for


@cache
def _models():
    from kubernetes.client import models  # imported once, on the first check

    return models


@cache
def _fields(model: str) -> dict[str, str] | None:
    """JSON field name -> its openapi type, for a model class name; None if unknown."""
    cls = getattr(_models(), model, None)
    if cls is None or not hasattr(cls, "attribute_map"):
        return None
    return {cls.attribute_map[attr]: kind for attr, kind in cls.openapi_types.items()}


def model_of(api_version: str, kind: str) -> str | None:
    """The client's model class for a built-in kind in its own group
    (``apps/v1``, ``Deployment`` -> ``V1Deployment``); None for anything else:
    a custom resource may share a built-in's name (``monitoring.coreos.com/v1
    Probe`` is not the container probe ``V1Probe``)."""
    group, _, version = api_version.rpartition("/")
    known = BY_KIND.get(kind)
    if not version or known is None or known.group != group:
        return None
    return model_for(replace(known, version=version))   # CoreV1Event where prefixed


def _walk(value: Any, model: str, path: str, out: list[tuple[str, dict, str]]) -> None:
    """Append (path, the dict holding it, its key) for each unknown field."""
    list_of, dict_of = LIST_TYPE.match(model), DICT_TYPE.match(model)
    if list_of:
        if isinstance(value, list):
            for i, item in enumerate(value):
                _walk(item, list_of.group(1), f"{path}[{i}]", out)
        return
    if dict_of:
        if isinstance(value, dict):
            for key, item in value.items():
                _walk(item, dict_of.group(1) or dict_of.group(2), f"{path}.{key}", out)
        return
    fields = _fields(model)
    if fields is None or not isinstance(value, dict):
        return                         # a scalar, ``object``, or a shape error for validation
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in fields:
            out.append((where, value, key))
        elif item is not None:
            _walk(item, fields[key], where, out)


def _unknown(obj: Any) -> list[tuple[str, dict, str]]:
    if not isinstance(obj, dict):
        return []
    model = model_of(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
    out: list[tuple[str, dict, str]] = []
    if model is not None:
        _walk(obj, model, "", out)
    return out


def unknown_fields(obj: dict) -> list[str]:
    """The paths of ``obj``'s fields that its kind does not have, in document
    order (``["spec.selectr", "spec.ports[0].prot"]``); [] for a kind with no
    model.  Never raises."""
    return [path for path, _, _ in _unknown(obj)]


def drop_unknown_fields(obj: dict) -> list[str]:
    """Remove the fields ``unknown_fields`` names from ``obj``, in place, as
    decoding into the API's types drops them (``fieldValidation`` Warn or
    Ignore: they are never stored); returns their paths."""
    found = _unknown(obj)
    for _, holder, key in found:
        holder.pop(key, None)
    return [path for path, _, _ in found]


def strict_message(obj: dict, paths: list[str]) -> str:
    """The API server's message for a strict decoding error, every field at once."""
    return decode_message(obj, [], paths)


def decode_message(obj: dict, type_errors: list[str], paths: list[str]) -> str:
    """The API server's 400 for a body it cannot decode (``transformDecodeError``):
    ``<Kind> in version "<v>" cannot be handled as a <Kind>: <cause>``, where
    kube-apiserver's cause is Go's first type error, else the strict decoding
    error naming every unknown field.  Here every cause is given at once, in
    that order and each in Go's words, joined by ", " as the strict decoding
    error joins its own: upstream's message is the start of this one."""
    kind, version = str(obj.get("kind", "")), str(obj.get("apiVersion", "v1"))
    return (f'{kind} in version "{version.rpartition("/")[2]}" cannot be handled as a '
            f"{kind}: {decode_causes(type_errors, paths)}")


def decode_causes(type_errors: list[str], paths: list[str]) -> str:
    """The type errors, then the strict decoding error naming every unknown
    field in ``paths``, joined by ", " (``json: cannot unmarshal ..., strict
    decoding error: unknown field "spec.selectr"``)."""
    causes = list(type_errors)
    if paths:
        causes.append("strict decoding error: "
                      + ", ".join(f'unknown field "{p}"' for p in paths))
    return ", ".join(causes)


_GO_JSON_ERROR = re.compile(r"^json: cannot unmarshal (\w+)( \S+)? into Go (?:struct field|value)"
                            r" .* of type (\S+)$")
_UNSTRUCTURED = {"string": ("string", "string"), "bool": ("bool", "bool"),
                 "object": ("map[string]interface {}", "map"),
                 "array": ("[]interface {}", "slice")}
_GO_SCALARS = {"string", "bool", "int32", "int64", "float64"}


def converter_text(go_json_error: str) -> str:
    """A type error from ``type_errors`` in the words of apimachinery's
    unstructured converter (runtime/converter.go ``fromUnstructured``), which
    a strategic merge patch's result is decoded with: ``cannot convert string
    to int32``, ``cannot restore struct from: string``, ``cannot restore
    slice from map``.  Text it does not recognise comes back unchanged."""
    match = _GO_JSON_ERROR.match(go_json_error)
    if not match:
        return go_json_error
    what, number, go_type = match.groups()
    if what == "number":
        integral = number is None or re.fullmatch(r" -?\d+", number) is not None
        source = ("int64", "int64") if integral else ("float64", "float64")
    else:
        source = _UNSTRUCTURED.get(what, (what, what))
    if go_type in _GO_SCALARS:
        return f"cannot convert {source[0]} to {go_type}"
    if go_type.startswith("[]"):
        return f"cannot restore slice from {source[1]}"
    if go_type.startswith("map["):
        return f"cannot restore map from {source[1]}"
    return f"cannot restore struct from: {source[1]}"


# Go's json decoding into the API's types (sigs.k8s.io/json, a fork of
# encoding/json): a value of the wrong JSON type is an ``UnmarshalTypeError``,
# ``json: cannot unmarshal <value> into Go struct field <Struct>.<field.path>
# of type <Go type>``, where <Struct> is the innermost struct holding the
# field and <field.path> the JSON names from the root, without list indices
# or map keys.  The Go type is named only where the client's model settles
# it: a struct (``v1.DeploymentSpec``), a list of structs, ``bool``, an
# integer (int32 but for the int64 fields below, from k8s.io/api's types.go),
# ``map[string]string``.  A string field is left to validation (many are named
# string types, ``v1.Protocol``, that the client does not tell apart), as are
# the types with their own decoders (Quantity, IntOrString, Time, []byte).
INT64_FIELDS = frozenset((
    "activeDeadlineSeconds", "capacity", "defaultUser", "deletionGracePeriodSeconds",
    "expirationSeconds", "fsGroup", "generation", "gid", "observedGeneration", "revision",
    "runAsGroup", "runAsUser", "seconds", "sizeBytes", "startingDeadlineSeconds",
    "supplementalGroups", "terminationGracePeriodSeconds", "tolerationSeconds", "uid",
    "user"))
NOT_PLAIN_MAPS = frozenset({("V1PersistentVolumeClaimStatus", "allocatedResourceStatuses")})
INT_RANGE = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}
_MODEL = re.compile(r"^(?:[A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")


def _go_struct(model: str) -> tuple[str, str] | None:
    """(package, struct) of a model class: ``V1DeploymentSpec`` -> (v1, DeploymentSpec)."""
    m = _MODEL.match(model)
    return (m.group(1).lower(), m.group(2)) if m and _fields(model) is not None else None


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class _TypeWalk:
    """Go's type errors of one object, each as (path with indices, Go's text)."""

    def __init__(self) -> None:
        self.out: list[tuple[str, str]] = []

    def error(self, where: str, value: Any, struct: str, stack: str, go: str,
              literal: bool = False) -> None:
        what = _json_kind(value)
        if literal:
            what = f"number {value!r}"
        self.out.append((where, f"json: cannot unmarshal {what} into Go struct field "
                                f"{struct}.{stack} of type {go}"))

    def value(self, value: Any, typ: str, where: str, struct: str, stack: str,
              name: str, owner: str) -> None:
        """Check ``value`` against the client's type ``typ`` of field ``name`` of
        model ``owner`` (Go struct ``struct``), found at ``where`` / ``stack``."""
        if value is None:
            return                                      # null: Go leaves the zero value
        list_of, dict_of = LIST_TYPE.match(typ), DICT_TYPE.match(typ)
        if list_of:
            elem = self._go(list_of.group(1), name)
            if elem is None:
                return
            if not isinstance(value, list):
                self.error(where, value, struct, stack, "[]" + elem)
                return
            for i, item in enumerate(value):
                self.value(item, list_of.group(1), f"{where}[{i}]", struct, stack, name, owner)
            return
        if dict_of:
            inner = dict_of.group(1) or dict_of.group(2)
            if (inner != "str" or name in QUANTITY_FIELDS.get(owner, ())
                    or (owner, name) in NOT_PLAIN_MAPS):
                return                                  # ResourceList, map[string][]byte...
            if not isinstance(value, dict):
                self.error(where, value, struct, stack, "map[string]string")
                return
            for key, item in value.items():
                if item is not None and not isinstance(item, str):
                    self.error(f"{where}[{key}]", item, struct, stack, "string")
            return
        go = self._go(typ, name)
        if go is None:
            return
        if go in INT_RANGE:
            low, high = INT_RANGE[go]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.error(where, value, struct, stack, go)
            elif not isinstance(value, int) or not low <= value <= high:
                self.error(where, value, struct, stack, go, literal=True)
        elif go == "bool":
            if not isinstance(value, bool):
                self.error(where, value, struct, stack, go)
        elif not isinstance(value, dict):
            self.error(where, value, struct, stack, go)
        else:
            self.model(value, typ, where, stack)

    def model(self, obj: dict, model: str, where: str, stack: str) -> None:
        fields, go = _fields(model), _go_struct(model)
        if fields is None or go is None:
            return
        for key, item in obj.items():
            if key in fields:
                path = f"{where}.{key}" if where else str(key)
                here = f"{stack}.{key}" if stack else str(key)
                self.value(item, fields[key], path, go[1], here, key, model)

    @staticmethod
    def _go(typ: str, name: str) -> str | None:
        """The Go type of a scalar or struct the client names ``typ``; None
        when it cannot be named for sure."""
        if typ == "int":
            return "int64" if name in INT64_FIELDS else "int32"
        if typ == "bool":
            return "bool"
        go = _go_struct(typ)
        return f"{go[0]}.{go[1]}" if go else None


def type_errors(obj: Any) -> list[tuple[str, str]]:
    """Go's type errors decoding ``obj`` into its kind's type, every one, in
    document order: (the field's path with indices, for locating it; Go's
    text, ``json: cannot unmarshal string into Go struct field
    DeploymentSpec.spec.replicas of type int32``).  [] for a kind with no
    model.  kube-apiserver reports only the first.  Never raises."""
    if not isinstance(obj, dict):
        return []
    model = model_of(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
    if model is None:
        return []
    walk = _TypeWalk()
    walk.model(obj, model, "", "")
    return walk.out
