"""PATCH: JSON patch, JSON merge patch, strategic merge patch and (a cheap)
server-side apply, on an object or its ``status``.

    Content-Type: application/json-patch+json            RFC 6902 (the jsonpatch library)
    Content-Type: application/merge-patch+json           RFC 7386
    Content-Type: application/strategic-merge-patch+json built-in kinds only (415 otherwise)
    Content-Type: application/apply-patch+yaml           server-side apply

The patch is applied to the stored object under the store's lock and the
result stored as an update (a ``metadata.resourceVersion`` in the patch is a
precondition).  Server-side apply here creates the object when it is missing
and otherwise merges the applied configuration into it (strategic merge,
nothing removed); it keeps no managedFields and never reports field-manager
conflicts.  Sources: api-concepts ("Patch"), KEP-555 (server-side apply),
https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/
"""
from __future__ import annotations

import copy
import json

import jsonpatch
from aiohttp import web

import k8snet.apiserver.http.status as st
import k8snet.apiserver.http.strategic as strategic
from k8snet.api.kinds import BY_KIND
from k8snet.api.validation.errors import INVALID, FieldError, go_plus_v
from k8snet.api.validation.strict import (
    converter_text,
    decode_causes,
    type_errors,
    unknown_fields,
)
from k8snet.apiserver.http.common import Api, Target, answer, body_of, dry_run, failure
from k8snet.apiserver.http.writes import (
    checked_body,
    field_validation,
    keep_parts,
    stored_only_warnings,
    unknown_field_warnings,
    warned,
)
from k8snet.errors import BadRequest, Invalid

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC, APPLY)


def patched(original: dict, patch: object, content_type: str, kind: str) -> dict:
    """``original`` with ``patch`` of ``content_type`` applied (a new dict)."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise BadRequest("json: cannot unmarshal object into Go value of type "
                             "jsonpatch.Patch")
        try:
            out = jsonpatch.apply_patch(original, patch)
        except jsonpatch.JsonPatchConflict as exc:
            raise Invalid(str(exc), []) from exc
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise BadRequest(f"the server rejected our request due to an error in our "
                             f"request: {exc}") from exc
    elif content_type == MERGE_PATCH:
        out = strategic.merge_patch(original, patch)
    else:
        if not isinstance(patch, dict):
            raise BadRequest("the body of a strategic merge patch must be a JSON object")
        out = strategic.apply(original, patch, kind)
    if not isinstance(out, dict):
        raise BadRequest("the patched object is not a JSON object")
    return out


async def patch(api: Api, request: web.Request, target: Target) -> web.Response:
    """``PATCH`` on an object or its status."""
    content_type = request.content_type
    kind = target.kind
    if content_type not in TYPES or (content_type == STRATEGIC and kind.kind not in BY_KIND):
        return failure(st.status(415, "UnsupportedMediaType",
                                 f"the body of the request was in an unknown format - accepted "
                                 f"media types include: {', '.join(_accepted(kind.kind))}"))
    body = await body_of(request, yaml_ok=content_type == APPLY)
    dry = dry_run(request)
    store = api.store
    with store.lock:
        old = store.find(kind.kind, target.namespace, target.name)
        if content_type == APPLY:
            obj = checked_body(target, body)
            warnings = unknown_field_warnings(request, obj)     # before anything is stored
            return warned(_apply(api, target, old, obj, dry), warnings)
        if old is None:
            store.get(kind.kind, target.namespace, target.name)    # raises NotFound
        new = patched(copy.deepcopy(old), body, content_type, kind.kind)
        new = _same_identity(target, old, new)
        warnings = decoded_warnings(request, content_type, body, old, new)
        return warned(answer(store.update(keep_parts(target, old, new), dry_run=dry)), warnings)


def decoded_warnings(request: web.Request, content_type: str, body: object, old: dict,
                     new: dict) -> list[str]:
    """The patched object ``new`` decoded as kube-apiserver's patch handler
    decodes it (patch.go): a value of the wrong type, or under ``Strict`` an
    unknown field, is a 422 Invalid on the field ``patch`` whose value is the
    patched object as JSON (JSON and merge patches) or the patch as Go's
    ``%+v`` prints it (strategic merge, with the unstructured converter's
    words: ``cannot convert string to int32``).  Upstream names the first
    type error alone; here every cause is named, type errors first.
    Otherwise as ``unknown_field_warnings``: the unknown fields dropped,
    and under Warn returned as warnings.  Type errors the stored ``old``
    already had (written by the lab's own controllers, never decoded) are
    not the patch's doing and are let be."""
    strict = field_validation(request) == "Strict"
    before = set(type_errors(old))
    types = [text for path, text in type_errors(new) if (path, text) not in before]
    unknown = unknown_fields(new) if strict else []
    if not types and not unknown:
        return unknown_field_warnings(request, new)
    if content_type == STRATEGIC:
        value, types = go_plus_v(body), [converter_text(t) for t in types]
    else:
        value = json.dumps(new, separators=(",", ":"), ensure_ascii=False)
    cause = FieldError("patch", INVALID, value, decode_causes(types, unknown))
    raise Invalid(f' "" is invalid: {cause}', [str(cause)])


def _accepted(kind: str) -> list[str]:
    return [t for t in TYPES if t != STRATEGIC or kind in BY_KIND]


def _same_identity(target: Target, old: dict, new: dict) -> dict:
    """Refuse a patch that renames or moves the object."""
    meta, was = new.get("metadata") or {}, old["metadata"]
    if meta.get("name") != was["name"] or meta.get("namespace", "") != was.get("namespace", ""):
        raise BadRequest("metadata.name and metadata.namespace cannot be changed by a patch")
    new.setdefault("kind", old["kind"])
    new.setdefault("apiVersion", old.get("apiVersion", target.kind.api_version))
    return new


def _apply(api: Api, target: Target, old: dict | None, obj: dict, dry: bool) -> web.Response:
    """Server-side apply, cheaply: create, or merge the configuration in.  A
    create answers as a POST does (``writes.create``), with the note for a
    kind the lab only stores (``Job stored and listed; no effect in k8snet``)."""
    obj.get("metadata", {}).pop("managedFields", None)
    if old is None:
        if target.sub:
            api.store.get(target.kind.kind, target.namespace, target.name)
        made = api.store.create(obj, dry_run=dry)
        return warned(answer(made, 201), stored_only_warnings(made))
    # the stored resourceVersion stays unless the configuration names one (a precondition)
    merged = strategic.apply(old, _without_nulls(obj), target.kind.kind)
    return answer(api.store.update(keep_parts(target, old, merged), dry_run=dry))


def _without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
