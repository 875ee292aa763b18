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

from dataclasses import replace
from functools import cache
from typing import Any

from k8snet.api.kinds import BY_KIND
from k8snet.api.openapi_schema import DICT_TYPE, LIST_TYPE, model_for


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
    kind, version = str(obj.get("kind", "")), str(obj.get("apiVersion", "v1"))
    fields = ", ".join(f'unknown field "{p}"' for p in paths)
    return (f'{kind} in version "{version.rpartition("/")[2]}" cannot be handled as a '
            f"{kind}: strict decoding error: {fields}")
