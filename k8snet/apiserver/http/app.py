"""The aiohttp application: routes, and one dispatcher from (method, URL) to
the handler, with every ``StatusError`` turned into a ``metav1.Status``.

    /version /healthz /readyz /livez          (and /healthz/<check>)
    /api  /api/v1  /apis  /apis/<g>/<v>       discovery
    /openapi/v3  /openapi/v3/<gv>             field-validation support
    /api/v1/...  /apis/<g>/<v>/...            resources (common.Target)
    /apis/authorization.k8s.io/v1/selfsubject...reviews, ...   reviews (never stored)

Source: https://kubernetes.io/docs/reference/using-api/api-concepts/ and
https://kubernetes.io/docs/reference/using-api/health-checks/
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

import k8snet.apiserver.http.attachws as attachws
import k8snet.apiserver.http.discovery as discovery
import k8snet.apiserver.http.execws as execws
import k8snet.apiserver.http.patch as patch
import k8snet.apiserver.http.portforward as portforward
import k8snet.apiserver.http.reads as reads
import k8snet.apiserver.http.reviews as reviews
import k8snet.apiserver.http.status as st
import k8snet.apiserver.http.subresources as subresources
import k8snet.apiserver.http.watch as watch
import k8snet.apiserver.http.writes as writes
from k8snet.apiserver.http.common import Api, Target, answer, error, failure, flag
from k8snet.apiserver.http.resources import group_versions, resolve
from k8snet.apiserver.http.resources import subresources as subs_of
from k8snet.errors import StatusError

log = logging.getLogger(__name__)
API = web.AppKey("api", Api)
Handler = Callable[[Api, web.Request, Target], Awaitable[web.StreamResponse]]
NAMESPACE_SUBS = ("status", "finalize")


def target_of(api: Api, group: str, version: str, tail: str) -> Target | None:
    """The Target of a resource URL's tail (after the group-version), or None."""
    parts = [p for p in tail.split("/") if p]
    namespace = ""
    if len(parts) >= 3 and parts[0] == "namespaces" and parts[2] not in NAMESPACE_SUBS:
        namespace, parts = parts[1], parts[2:]
    if not parts or len(parts) > 3:
        return None
    kind = resolve(api.store, group, version, parts[0])
    if kind is None or (namespace and not kind.namespaced):
        return None
    name = parts[1] if len(parts) > 1 else ""
    sub = parts[2] if len(parts) > 2 else ""
    if sub and sub not in subs_of(kind):
        return None
    if name and kind.namespaced and not namespace:
        return None
    return Target(kind, namespace, name, sub)


def handler_for(method: str, target: Target, watching: bool) -> Handler | None:
    """The handler of a verb on a target, or None when it does not take it."""
    if target.collection:
        table: dict[str, Handler] = {"POST": writes.create, "DELETE": writes.delete_collection}
        if method == "GET":
            return watch.watch if watching else _sync(reads.list_)
        return table.get(method)
    if target.sub == "scale":
        return subresources.scale if method in ("GET", "PUT", "PATCH") else None
    if target.sub == "log":
        return subresources.log if method == "GET" else None
    if target.sub == "exec":
        return execws.exec_
    if target.sub == "attach":
        return attachws.attach
    if target.sub == "portforward":
        return portforward.portforward
    if target.sub == "finalize":
        return writes.update if method == "PUT" else None
    by_method: dict[str, Handler] = {"GET": _sync(reads.get), "PUT": writes.update,
                                     "PATCH": patch.patch}
    if not target.sub:
        by_method["DELETE"] = writes.delete
    if method == "GET" and watching:
        return watch.watch
    return by_method.get(method)


def _sync(fn: Callable[[Api, web.Request, Target], web.StreamResponse]) -> Handler:
    async def run(api: Api, request: web.Request, target: Target) -> web.StreamResponse:
        return fn(api, request, target)
    return run


async def resources(request: web.Request) -> web.StreamResponse:
    """Every resource URL."""
    api = request.app[API]
    info = request.match_info
    group, version = info.get("group", ""), info.get("version", "v1")
    target = target_of(api, group, version, info.get("tail", ""))
    if target is None:
        return failure(st.not_found_path(request.path))
    watching = flag(request, "watch")
    if watching and not target.collection:     # the deprecated /watch form, by name
        target = Target(target.kind, target.namespace, "", "")
        request = request.clone(rel_url=request.rel_url.update_query(
            fieldSelector=f"metadata.name={info['tail'].split('/')[-1]}"))
    handler = handler_for(request.method, target, watching)
    if handler is None:
        return failure(st.method_not_allowed(f"{request.method} {request.path}"))
    try:
        response = await handler(api, request, target)
    except StatusError as err:
        response = error(err, target)
    deprecated = DEPRECATED.get((target.kind.group, version, target.kind.kind))
    if deprecated and not response.prepared:        # a watch's stream went out already
        response.headers.add("Warning", f'299 - "{deprecated}"')
    return response


# (group, version, kind) -> the deprecation warning kube-apiserver sends with
# every request to it, which kubectl prints as "Warning: ...".
DEPRECATED = {("", "v1", "Endpoints"):
              "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"}


async def version(request: web.Request) -> web.Response:
    return answer(discovery.VERSION)


async def health(request: web.Request) -> web.Response:
    """/healthz, /readyz, /livez: ``ok`` (``?verbose`` lists the checks)."""
    if "verbose" in request.query:
        name = request.path.strip("/").split("/")[0]
        return web.Response(text=f"[+]ping ok\n[+]store ok\n{name} check passed\n")
    return web.Response(text="ok")


async def core_versions(request: web.Request) -> web.Response:
    host = request.host or "127.0.0.1"
    return answer(discovery.api_versions(host))


async def group_list(request: web.Request) -> web.Response:
    return answer(discovery.api_group_list(request.app[API].store))


async def group_version(request: web.Request) -> web.Response:
    info = request.match_info
    doc = discovery.resource_list(request.app[API].store, info.get("group", ""),
                                  info.get("version", ""))
    return answer(doc) if doc else failure(st.not_found_path(request.path))


async def group(request: web.Request) -> web.Response:
    """``GET /apis/<group>``: one APIGroup."""
    versions = group_versions(request.app[API].store).get(request.match_info["group"]) \
        or reviews.GROUPS.get(request.match_info["group"])
    if not versions:
        return failure(st.not_found_path(request.path))
    return answer(dict(discovery.api_group(request.match_info["group"], versions),
                       kind="APIGroup", apiVersion="v1"))


async def openapi_root(request: web.Request) -> web.Response:
    return answer(discovery.openapi_root(request.app[API].store))


async def openapi_gv(request: web.Request) -> web.Response:
    """A group-version's document, made in a worker thread: the first one
    takes up to half a second, which must not hold up the event loop."""
    parts = request.match_info["gv"].strip("/").split("/")
    where = (("", parts[1]) if parts[0] == "api" and len(parts) == 2 else
             (parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else None)
    doc = None
    if where is not None:
        doc = await asyncio.get_running_loop().run_in_executor(
            None, discovery.openapi_gv, request.app[API].store, *where)
    return answer(doc) if doc else failure(st.not_found_path(request.path))


OPENAPI_V2_PB = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


async def openapi_v2(request: web.Request) -> web.Response:
    """``GET /openapi/v2``: a Swagger 2.0 document with no definitions.

    kubectl falls back to it when a kind is missing from the v3 documents
    (a misspelt kind); with no schema for the kind it skips client-side
    validation, and the RESTMapper then says ``no matches for kind``, as
    against a real server.  Asked for protobuf, an empty body: the empty
    gnostic ``openapi_v2.Document`` (client-go reads the bytes whatever the
    type; it cannot parse the ``@`` of the media type it asked for)."""
    if OPENAPI_V2_PB in request.headers.get("Accept", ""):
        return web.Response(body=b"", content_type="application/octet-stream")
    return answer({"swagger": "2.0", "info": {"title": "Kubernetes (k8snet)",
                                              "version": discovery.VERSION["gitVersion"]},
                   "paths": {}, "definitions": {}})


async def not_found(request: web.Request) -> web.Response:
    return failure(st.not_found_path(request.path))


def make_app(api: Api) -> web.Application:
    """The application serving ``api``."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[API] = api
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    app.router.add_get("/version", version)
    for path in ("/healthz", "/readyz", "/livez"):
        app.router.add_get(path, health)
        app.router.add_get(path + "/{check:.*}", health)
    app.router.add_get("/api", core_versions)
    app.router.add_get("/api/", core_versions)
    app.router.add_get("/apis", group_list)
    app.router.add_get("/apis/", group_list)
    app.router.add_get("/api/{version}", group_version)
    app.router.add_get("/apis/{group}", group)
    app.router.add_get("/apis/{group}/{version}", group_version)
    app.router.add_get("/openapi/v2", openapi_v2)
    app.router.add_get("/openapi/v3", openapi_root)
    app.router.add_get("/openapi/v3/{gv:.*}", openapi_gv)
    for path in reviews.REVIEWS:
        app.router.add_route("*", path, reviews.create)
    for method in methods:
        app.router.add_route(method, "/api/{version}/{tail:.+}", resources)
        app.router.add_route(method, "/apis/{group}/{version}/{tail:.+}", resources)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app
