"""POST, PUT and DELETE: create, update (the object or its status), delete
and deletecollection, each with ``?dryRun=All``.

    POST   /api/v1/namespaces/ns/services          body: Service      -> 201 Service
    PUT    /api/v1/namespaces/ns/services/x        body: Service      -> 200 Service
    PUT    /api/v1/namespaces/ns/pods/x/status     body: Pod          -> 200 Pod (status only)
    PUT    /api/v1/namespaces/ns/finalize          body: Namespace    -> 200 Namespace
                                                   (all but the status)
    DELETE /apis/apps/v1/namespaces/ns/deployments/x  body: DeleteOptions -> 200 Status|object
    DELETE /api/v1/namespaces/ns/configmaps?labelSelector=a%3Db     -> 200 ConfigMapList

An update of an object whose kind has a status subresource keeps the stored
status; an update of the status keeps everything else (kube-apiserver's
``PrepareForUpdate`` in the registry strategies).  A Namespace's
``spec.finalizers`` change only through ``/finalize``
(pkg/registry/core/namespace/strategy.go: namespaceStrategy and
namespaceFinalizeStrategy); that is how a Namespace stuck in Terminating is
freed by hand.  DeleteOptions come from
the body or the query: ``propagationPolicy`` (Orphan, Background,
Foreground), ``gracePeriodSeconds``, ``preconditions`` (uid,
resourceVersion).  Source: api-concepts ("Dry-run", "Resource versions"),
https://kubernetes.io/docs/concepts/architecture/garbage-collection/
"""
from __future__ import annotations

import copy

from aiohttp import web

import k8snet.apiserver.http.status as st
from k8snet.api.kinds import kind_info
from k8snet.api.validation.strict import (
    decode_message,
    drop_unknown_fields,
    strict_message,
    type_errors,
    unknown_fields,
)
from k8snet.apiserver.http.common import Api, Target, answer, body_of, dry_run
from k8snet.apiserver.http.reads import predicate
from k8snet.apiserver.http.resources import STATUS_KINDS
from k8snet.errors import BadRequest, Conflict

PROPAGATION = ("Orphan", "Background", "Foreground")
RETURNS_OBJECT = ("Pod", "Service", "Namespace")   # registries with ReturnDeletedObject


def checked_body(target: Target, obj: object) -> dict:
    """The object sent, with kind and apiVersion filled in and its namespace
    and name checked against the URL."""
    if not isinstance(obj, dict):
        raise BadRequest("the request body must be a JSON object")
    kind = target.kind
    if obj.get("kind") not in (None, "", kind.kind):
        raise BadRequest(f"the kind in the data ({obj['kind']}) does not match the expected "
                         f"kind ({kind.kind})")
    obj.setdefault("kind", kind.kind)
    obj.setdefault("apiVersion", kind.api_version)
    meta = obj.setdefault("metadata", {})
    if kind.namespaced and target.namespace:
        if meta.get("namespace") and meta["namespace"] != target.namespace:
            raise BadRequest("the namespace of the provided object does not match the "
                             "namespace sent on the request")
        meta["namespace"] = target.namespace
    if target.name and meta.get("name") not in (None, target.name):
        raise BadRequest(f"the name of the object ({meta['name']}) does not match the name "
                         f"on the URL ({target.name})")
    if target.name:
        meta["name"] = target.name
    return obj


FIELD_VALIDATION = ("Ignore", "Strict", "Warn")


def field_validation(request: web.Request) -> str:
    """The request's ``fieldValidation``: Strict, Warn (the default) or Ignore."""
    mode = request.query.get("fieldValidation", "") or "Warn"
    if mode not in FIELD_VALIDATION:
        raise BadRequest(f'fieldValidation: Unsupported value: "{mode}": supported values: '
                         + ", ".join(f'"{m}"' for m in FIELD_VALIDATION))
    return mode


def decoded_warnings(request: web.Request, obj: dict) -> list[str]:
    """A POST or PUT body decoded as kube-apiserver's create and update
    handlers decode it: a value of the wrong type fails decoding whatever
    ``fieldValidation`` says (400, ``... cannot be handled as a Deployment:
    json: cannot unmarshal string into Go struct field ...``), and with
    ``Strict`` the unknown fields are named in the same message after the
    type errors (upstream stops at its first type error, and sends no
    unknown-field warnings then); otherwise as ``unknown_field_warnings``."""
    mode = field_validation(request)
    types = type_errors(obj)
    if types:
        unknown = unknown_fields(obj) if mode == "Strict" else []
        raise BadRequest(decode_message(obj, [text for _, text in types], unknown))
    return unknown_field_warnings(request, obj)


def unknown_field_warnings(request: web.Request, obj: dict) -> list[str]:
    """The request's ``fieldValidation`` (KEP-2885) over ``obj``'s fields:
    ``Strict`` (kubectl's default) raises BadRequest naming every unknown
    field; otherwise they are removed from ``obj`` (the API server's decoding
    drops them) and ``Warn`` (the server's default) returns them as
    warnings, ``Ignore`` nothing."""
    mode = field_validation(request)
    if mode == "Strict":
        unknown = unknown_fields(obj)
        if unknown:
            raise BadRequest(strict_message(obj, unknown))
        return []
    unknown = drop_unknown_fields(obj)       # decoding drops them: never stored
    return [] if mode == "Ignore" else [f'unknown field "{path}"' for path in unknown]


def warned(response: web.Response, warnings: list[str]) -> web.Response:
    """``response`` with one ``Warning: 299 - "..."`` header per warning, as
    kubectl prints them (``Warning: unknown field "spec.x"``)."""
    for text in warnings:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


def stored_only_warnings(obj: dict) -> list[str]:
    """The hint ``k8snet run -f`` prints as a note (``apiserver/apply.py``),
    for a created object of a kind the lab stores and lists but gives no
    behaviour (a Job, a custom resource): ``Job stored and listed; no
    effect in k8snet``."""
    kind = obj.get("kind", "")
    if kind_info(kind, obj.get("apiVersion", "v1")).acted_on:
        return []
    return [f"{kind} stored and listed; no effect in k8snet"]


def keep_parts(target: Target, old: dict, new: dict) -> dict:
    """What an update may change: only the status through ``/status``; all
    but the status through the object, for kinds with a status subresource,
    and through a Namespace's ``/finalize``; a Namespace's update keeps its
    ``spec.finalizers``."""
    if target.sub == "finalize":                 # namespaceFinalizeStrategy: all but status
        new = dict(new)
        new["status"] = old.get("status") or {}
        return new
    if target.sub == "status":
        out = copy.deepcopy(old)
        if "status" in new:
            out["status"] = new["status"]
        else:
            out.pop("status", None)
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv:
            out["metadata"]["resourceVersion"] = rv
        return out
    if target.kind.kind in STATUS_KINDS:
        new = dict(new)
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if target.kind.kind == "Namespace":
        old_finalizers = (old.get("spec") or {}).get("finalizers")
        spec = {k: v for k, v in (new.get("spec") or {}).items() if k != "finalizers"}
        if old_finalizers is not None:
            spec["finalizers"] = list(old_finalizers)
        new["spec"] = spec
    return new


async def create(api: Api, request: web.Request, target: Target) -> web.Response:
    """``POST`` on a collection: 201 and the stored object."""
    if target.kind.namespaced and not target.namespace:
        raise BadRequest("the server could not find the requested resource: a namespaced "
                         "object is created under /namespaces/{namespace}/")
    obj = checked_body(target, await body_of(request))
    warnings = decoded_warnings(request, obj)
    made = api.store.create(obj, dry_run=dry_run(request))
    return warned(answer(made, 201), warnings + stored_only_warnings(made))


async def update(api: Api, request: web.Request, target: Target) -> web.Response:
    """``PUT`` on an object or its ``status``."""
    obj = checked_body(target, await body_of(request))
    warnings = decoded_warnings(request, obj)
    dry = dry_run(request)
    store = api.store
    with store.lock:
        old = store.get(target.kind.kind, target.namespace, target.name)
        return warned(answer(store.update(keep_parts(target, old, obj), dry_run=dry)), warnings)


def delete_options(request: web.Request, body: dict) -> tuple[int | None, str, dict]:
    """(gracePeriodSeconds, propagationPolicy, preconditions) of a delete."""
    q = request.query
    grace = body.get("gracePeriodSeconds", q.get("gracePeriodSeconds"))
    propagation = body.get("propagationPolicy") or q.get("propagationPolicy") or "Background"
    if body.get("orphanDependents") is True or q.get("orphanDependents") == "true":
        propagation = "Orphan"
    if propagation not in PROPAGATION:
        raise BadRequest(f'propagationPolicy: Unsupported value: "{propagation}": supported '
                         'values: "Foreground", "Background", "Orphan"')
    try:
        grace_seconds = None if grace in (None, "") else int(grace)
    except ValueError as exc:
        raise BadRequest(f"gracePeriodSeconds: Invalid value: {grace!r}") from exc
    return grace_seconds, propagation, body.get("preconditions") or {}


async def delete(api: Api, request: web.Request, target: Target) -> web.Response:
    """``DELETE`` on an object: the object when it is only marked (a bound
    Pod) or its registry returns it, else a Success Status."""
    body = await body_of(request)
    body = body if isinstance(body, dict) else {}
    grace, propagation, pre = delete_options(request, body)
    dry = dry_run(request) or "All" in (body.get("dryRun") or [])
    store, kind = api.store, target.kind
    with store.lock:
        obj = store.get(kind.kind, target.namespace, target.name)
        meta = obj["metadata"]
        for field, said in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if pre.get(field) and pre[field] != meta.get(field):
                raise Conflict(f"Operation cannot be fulfilled on {kind.resource} "
                               f'"{target.name}": Precondition failed: {said} in precondition: '
                               f"{pre[field]}, {said} in object meta: {meta.get(field)}")
        result = store.delete(kind.kind, target.namespace, target.name, grace, propagation, dry)
        left = store.find(kind.kind, target.namespace, target.name)
    if left is not None or dry or kind.kind in RETURNS_OBJECT:
        return answer(left if left is not None and not dry else result)
    return answer(st.success(kind, target.name, meta.get("uid", "")))


async def delete_collection(api: Api, request: web.Request, target: Target) -> web.Response:
    """``DELETE`` on a collection: every object the selectors match; the list
    of what was deleted."""
    body = await body_of(request)
    body = body if isinstance(body, dict) else {}
    grace, propagation, _ = delete_options(request, body)
    dry = dry_run(request) or "All" in (body.get("dryRun") or [])
    wanted = predicate(request, target.kind.kind)
    store, kind = api.store, target.kind
    gone = []
    with store.lock:
        for obj in store.list(kind.kind, target.namespace, wanted):
            meta = obj["metadata"]
            gone.append(store.delete(kind.kind, meta.get("namespace", ""), meta["name"], grace,
                                     propagation, dry))
        rv = store.resource_version
    return answer({"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                   "metadata": {"resourceVersion": rv}, "items": gone})
