"""GET: one object, or a list (label and field selectors, ``limit`` and
``continue``), as JSON or as a Table.

    GET /api/v1/namespaces/default/pods?labelSelector=app%3Dweb&limit=500
      -> {"kind": "PodList", "apiVersion": "v1",
          "metadata": {"resourceVersion": "42", "continue": "<token>",
                       "remainingItemCount": 3}, "items": [...]}

The continue token carries the list's resourceVersion and the last key
served; the next page starts after that key (the store keeps no snapshots,
so a page shows the objects as they are then).  Source:
https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

from aiohttp import web

import k8snet.apiserver.http.fields as fields
import k8snet.apiserver.http.table as table
from k8snet.api import selectors
from k8snet.apiserver.http.common import Api, Target, answer
from k8snet.errors import BadRequest, Gone


def predicate(request: web.Request, kind: str) -> Callable[[dict], bool]:
    """The object filter of ``labelSelector`` and ``fieldSelector``."""
    label_text = request.query.get("labelSelector", "")
    field_text = request.query.get("fieldSelector", "")
    label = None
    if label_text.strip():
        try:
            label = selectors.parse(label_text)
        except ValueError as exc:
            message = str(exc)
            raise BadRequest(message if message.startswith("unable to parse") else
                             f"unable to parse requirement: {message}") from exc
    by_field = fields.parse(field_text, kind) if field_text.strip() else None

    def wanted(obj: dict) -> bool:
        meta = obj.get("metadata") or {}
        if label is not None and not selectors.matches(label, meta.get("labels")):
            return False
        return by_field is None or by_field(obj)
    return wanted


def _encode(rv: str, ns: str, name: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": [ns, name]})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(token: str) -> tuple[str, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        ns, name = data["start"]
        return str(int(data["rv"])), (str(ns), str(name))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BadRequest(f"continue key is not valid: {exc}") from exc


def list_objects(api: Api, request: web.Request, target: Target) -> tuple[list[dict], dict]:
    """The objects of one page and the list metadata (resourceVersion,
    continue, remainingItemCount)."""
    wanted = predicate(request, target.kind.kind)
    with api.store.lock:
        rv = api.store.resource_version
        items = api.store.list(target.kind.kind, target.namespace, wanted)
    token = request.query.get("continue", "")
    if token:
        token_rv, start = _decode(token)
        history = api.store.history
        if history and int(token_rv) < history[0].rv - 1:
            raise Gone("The provided continue parameter is too old to display a consistent "
                       "list result. You can start a new list without the continue parameter.")
        rv = token_rv
        items = [o for o in items
                 if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > start]
    meta: dict = {"resourceVersion": rv}
    try:
        limit = int(request.query.get("limit") or 0)
    except ValueError as exc:
        raise BadRequest(f"limit: Invalid value: {request.query['limit']!r}") from exc
    if limit > 0 and len(items) > limit:
        last = items[limit - 1]["metadata"]
        meta["continue"] = _encode(rv, last.get("namespace", ""), last["name"])
        meta["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    return items, meta


def list_(api: Api, request: web.Request, target: Target) -> web.Response:
    """``GET`` on a collection (``watch`` excepted)."""
    items, meta = list_objects(api, request, target)
    version = table.accepts(request.headers.get("Accept", ""))
    if version:
        include = request.query.get("includeObject", "Metadata")
        return answer(table.table(target.kind.kind, items, api.clock(), meta, include, version))
    kind = target.kind
    return answer({"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                   "metadata": meta, "items": items})


def get(api: Api, request: web.Request, target: Target) -> web.Response:
    """``GET`` on one object (its ``status`` subresource is the same object)."""
    obj = api.store.get(target.kind.kind, target.namespace, target.name)
    version = table.accepts(request.headers.get("Accept", ""))
    if version:
        include = request.query.get("includeObject", "Metadata")
        meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
        return answer(table.table(target.kind.kind, [obj], api.clock(), meta, include, version))
    return answer(obj)
