"""The ``scale`` subresource and pod logs (exec, attach and portforward: execws,
attachws, portforward).

    GET   /apis/apps/v1/namespaces/ns/deployments/web/scale
      -> {"kind": "Scale", "apiVersion": "autoscaling/v1",
          "metadata": {name, namespace, uid, resourceVersion, creationTimestamp},
          "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web"}}
    PUT|PATCH .../scale   (kubectl scale: a merge patch of spec.replicas)
    GET   /api/v1/namespaces/ns/pods/p/log?container=c&tailLines=10&previous=false
      -> text/plain, from the server's ``LogSource``; ``follow=true`` streams what
         the log gains until the pod or the container's run ends

Sources: https://kubernetes.io/docs/reference/kubernetes-api/autoscaling/scale-v1/ ,
api-concepts ("Subresources"), kube-apiserver ``pkg/registry/core/pod/rest/log.go``.
"""
from __future__ import annotations

import copy

from aiohttp import web

import k8snet.apiserver.http.patch as patching
import k8snet.apiserver.http.status as st
from k8snet.api.printers_base import selector_string
from k8snet.apiserver.http.common import (
    Api,
    Target,
    answer,
    body_of,
    dry_run,
    failure,
    flag,
    log_growth,
)
from k8snet.errors import BadRequest, Conflict

FOLLOW_POLL = 0.2   # seconds between looks at a followed log


def scale_of(obj: dict) -> dict:
    """The ``autoscaling/v1`` Scale of a Deployment, ReplicaSet or StatefulSet."""
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    keep = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in keep if k in meta},
            "spec": {"replicas": spec.get("replicas", 1)},
            "status": {"replicas": status.get("replicas", 0),
                       "selector": selector_string(spec.get("selector"))}}


async def scale(api: Api, request: web.Request, target: Target) -> web.Response:
    """GET, PUT or PATCH a workload's scale."""
    store, kind = api.store, target.kind
    if request.method == "GET":
        return answer(scale_of(store.get(kind.kind, target.namespace, target.name)))
    ctype = request.content_type
    body = await body_of(request)
    dry = dry_run(request)
    with store.lock:
        obj = store.get(kind.kind, target.namespace, target.name)
        current = scale_of(obj)
        if request.method == "PUT":
            wanted = body
        else:
            wanted = patching.patched(copy.deepcopy(current), body, ctype, "Scale")
        if not isinstance(wanted, dict):
            raise BadRequest("the request body must be a Scale object")
        rv = (wanted.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise Conflict(f'Operation cannot be fulfilled on {kind.resource} "{target.name}": '
                           "the object has been modified; please apply your changes to the "
                           "latest version and try again")
        replicas = (wanted.get("spec") or {}).get("replicas", current["spec"]["replicas"])
        new = copy.deepcopy(obj)
        new.setdefault("spec", {})["replicas"] = replicas
        return answer(scale_of(store.update(new, dry_run=dry)))


async def log(api: Api, request: web.Request, target: Target) -> web.Response:
    """A container's log, as text."""
    pod = api.store.get("Pod", target.namespace, target.name)
    spec = pod.get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    every = names + [c.get("name", "") for c in spec.get("initContainers") or []]
    container = request.query.get("container", "")
    if not container:
        if len(names) != 1:
            raise BadRequest(f"a container name must be specified for pod {target.name}, "
                             f"choose one of: [{' '.join(names)}]")
        container = names[0]
    elif container not in every:
        raise BadRequest(f"container {container} is not valid for pod {target.name}")
    tail_text = request.query.get("tailLines", "")
    try:
        tail = int(tail_text) if tail_text else None
    except ValueError as exc:
        raise BadRequest(f"tailLines: Invalid value: {tail_text!r}") from exc
    if api.logs is None:
        return failure(st.status(501, "NotImplemented",
                                 "pod logs are not wired to the kubelets in this server"))
    previous = flag(request, "previous")
    if not flag(request, "follow") or previous:
        text = api.logs.logs(target.namespace, target.name, container, previous, tail)
        return web.Response(text=text, content_type="text/plain")
    # One read: the client gets its tail, and what is written after it follows.
    full = api.logs.logs(target.namespace, target.name, container, False, None)
    lines = full.splitlines(keepends=True)
    text = full if tail is None else "".join(lines[len(lines) - tail:] if tail > 0 else [])
    return await _follow(api, request, target, container, text, full)


async def _follow(api: Api, request: web.Request, target: Target, container: str,
                  text: str, full: str) -> web.StreamResponse:
    """``follow=true``: what the log holds, then what it gains, until the pod
    or this run of the container ends (the log is replaced) or the client leaves."""
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(text.encode())
    async for more in log_growth(api, target, container, full, FOLLOW_POLL,
                                 lambda pod: not (request.transport is None
                                                  or request.transport.is_closing())):
        await response.write(more.encode())   # lines written meanwhile follow ``full``
    return response

