"""``GET ...?watch=true``: a stream of watch events, one JSON object a line.

    {"type": "ADDED", "object": {...}}
    {"type": "MODIFIED", "object": {...}}
    {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": "57"}}}

Without ``resourceVersion`` (or with "0") the stream starts with an ADDED
event for every object that exists, as the API server does; with one, it
replays the changes after it (410 Expired when that is too old).
``timeoutSeconds`` ends the stream; ``allowWatchBookmarks`` adds BOOKMARK
events every few seconds; ``sendInitialEvents=true`` (the watch-list
protocol) ends the initial events with a bookmark annotated
``k8s.io/initial-events-end``.  With a label or field selector, an object
that stops matching is sent as DELETED and one that starts matching as ADDED.
A Table watch (kubectl get -w) sends one-row Tables, the column definitions
in the first event only.  Sources: api-concepts ("Efficient detection of
changes", "Watch bookmarks", "Streaming lists"), KEP-956 (bookmarks),
KEP-3157 (watch-list).
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

import k8snet.apiserver.http.table as table
from k8snet.apiserver.http.common import Api, Target, flag
from k8snet.apiserver.http.reads import predicate
from k8snet.apiserver.store import ADDED, DELETED, MODIFIED
from k8snet.errors import BadRequest

POLL = 0.5               # seconds between checks for a closed client or a stopping server
BOOKMARK_EVERY = 5.0     # seconds between BOOKMARK events (the API server: about a minute)
DEFAULT_TIMEOUT = 1800   # seconds, when the client gives none
_POOL = ThreadPoolExecutor(max_workers=64, thread_name_prefix="k8snet-watch")


def _key(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


async def watch(api: Api, request: web.Request, target: Target) -> web.StreamResponse:
    """Serve one watch until its timeout, the client leaves or the server stops."""
    q = request.query
    kind = target.kind
    wanted = predicate(request, kind.kind)
    try:
        timeout = float(q.get("timeoutSeconds") or DEFAULT_TIMEOUT)
    except ValueError as exc:
        raise BadRequest(f"invalid timeoutSeconds: {q['timeoutSeconds']}") from exc
    rv = q.get("resourceVersion", "")
    initial_events = flag(request, "sendInitialEvents")
    bookmarks = flag(request, "allowWatchBookmarks")
    table_version = table.accepts(request.headers.get("Accept", ""))
    include = q.get("includeObject", "Metadata")
    store = api.store
    with store.lock:
        replay = rv in ("", "0") or initial_events
        current = store.list(kind.kind, target.namespace, wanted) if replay else []
        stream = store.watch([kind.kind], target.namespace, None if replay else rv)
        # what matches now: the keys whose leaving the selection is a DELETED event
        matching = {_key(o) for o in store.list(kind.kind, target.namespace, wanted)}
        last_rv = store.resource_version
    response = web.StreamResponse(headers={"Content-Type": "application/json",
                                           "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    first = True

    async def send(type_: str, obj: dict) -> None:
        nonlocal first
        if table_version and type_ != "BOOKMARK":
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            obj = table.table(kind.kind, [obj], api.clock(), meta, include, table_version,
                              with_columns=first)
            first = False
        line = json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n"
        await response.write(line.encode())

    def bookmark(version: str, end: bool = False) -> dict:
        meta: dict = {"resourceVersion": version}
        if end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta}

    loop = asyncio.get_running_loop()
    started = loop.time()
    next_bookmark = started + BOOKMARK_EVERY
    try:
        for obj in current:
            await send(ADDED, obj)
        if initial_events and bookmarks:
            await send("BOOKMARK", bookmark(last_rv, end=True))
        while not api.stopping.is_set() and loop.time() - started < timeout:
            if request.transport is None or request.transport.is_closing():
                break
            event = await loop.run_in_executor(_POOL, stream.get, POLL)
            now = loop.time()
            if event is None:
                if bookmarks and now >= next_bookmark and not table_version:
                    await send("BOOKMARK", bookmark(store.resource_version))
                    next_bookmark = now + BOOKMARK_EVERY
                continue
            type_, obj = _filtered(event.type, event.object, wanted, matching)
            if type_:
                await send(type_, obj)
    except ConnectionResetError:
        pass
    finally:
        stream.stop()
    return response


def _filtered(type_: str, obj: dict, wanted, matching: set) -> tuple[str, dict]:
    """The event the client sees through its selectors: ("", obj) for none."""
    key = _key(obj)
    now_matches = wanted(obj)
    was = key in matching
    if type_ == DELETED:
        matching.discard(key)
        return (DELETED, obj) if (was or now_matches) else ("", obj)
    if now_matches:
        matching.add(key)
        return (MODIFIED if was and type_ == MODIFIED else ADDED, obj)
    if was:
        matching.discard(key)
        return DELETED, obj
    return "", obj
