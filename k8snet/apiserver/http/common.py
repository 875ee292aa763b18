"""What every handler shares: the server's context (``Api``), the resource a
URL names (``Target``), request bodies, and JSON answers.

    /api/v1/namespaces/web/pods/p1/log  -> Target(Pod, namespace="web", name="p1", sub="log")
    /apis/apps/v1/deployments           -> Target(Deployment, "", "", "")   (all namespaces)

Source: https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import yaml
from aiohttp import web

import k8snet.apiserver.http.protobuf as protobuf
import k8snet.apiserver.http.status as st
from k8snet.api.kinds import Kind
from k8snet.apiserver.store import Store
from k8snet.errors import BadRequest, StatusError
from k8snet.load import yamlsafe

JSON_TYPES = ("application/json", "application/yaml", "application/json-patch+json",
              "application/merge-patch+json", "application/strategic-merge-patch+json",
              "application/apply-patch+yaml", "application/octet-stream")


class UnsupportedMediaType(StatusError):
    """A body in a format the server does not read (protobuf, CBOR): 415."""

    reason, code = "UnsupportedMediaType", 415


class LogSource(Protocol):
    """Where ``GET pods/{name}/log`` reads from (the kubelets, later; a fake in
    tests).  Returns the container's output; ``tail`` None means all of it.
    May raise a ``StatusError`` (NotFound, BadRequest) to refuse."""

    def logs(self, namespace: str, name: str, container: str, previous: bool,
             tail: int | None) -> str: ...


class ExecSource(Protocol):
    """Where ``pods/exec`` runs a command: ``target(namespace, name, container)``
    gives the argv prefix that enters the pod (``ip netns exec NETNS``) and the
    container's environment.  May raise a ``StatusError`` to refuse."""

    def target(self, namespace: str, name: str, container: str
               ) -> tuple[list[str], dict[str, str]]: ...


@dataclass
class Api:
    """The server's state: the store, the log and exec sources, the clock, and
    the event that tells open watches to end."""

    store: Store
    logs: LogSource | None = None
    execs: ExecSource | None = None
    clock: Callable[[], float] = time.time
    stopping: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Target:
    """The resource a URL names: its kind, namespace ("" for cluster-scoped
    or all namespaces), object name ("" for the collection) and subresource."""

    kind: Kind
    namespace: str = ""
    name: str = ""
    sub: str = ""

    @property
    def collection(self) -> bool:
        return not self.name


def answer(body: dict | list, code: int = 200) -> web.Response:
    """A JSON response."""
    return web.Response(status=code, text=json.dumps(body, separators=(",", ":")),
                        content_type="application/json")


def failure(body: dict) -> web.Response:
    """A Status response, with the Status' own code."""
    return answer(body, int(body.get("code") or 500))


def error(err: StatusError, target: Target | None = None, name: str = "") -> web.Response:
    """A store error as a Status response."""
    kind = target.kind if target else None
    return failure(st.from_error(err, kind, name or (target.name if target else "")))


async def body_of(request: web.Request, yaml_ok: bool = False) -> dict:
    """The request's JSON (or, for apply patches, YAML) body; ``{}`` when empty.
    Raises ``BadRequest`` for a body that does not parse."""
    if request.content_type == protobuf.CONTENT_TYPE:
        return protobuf.decode(await request.read())
    if request.content_type not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(JSON_TYPES)}")
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        if yaml_ok or request.content_type == "application/yaml":
            data = yamlsafe.load_one(raw)
        else:
            data = json.loads(raw)
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        raise BadRequest(f"the request body is not valid {'YAML' if yaml_ok else 'JSON'}: "
                         f"{exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict | list):
        raise BadRequest("the request body must be a JSON object")
    return data


def dry_run(request: web.Request) -> bool:
    """True for ``?dryRun=All``; any other value is refused as the API server does."""
    values = request.query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise BadRequest(f'Invalid dry run value: {v}: supported values: "All"')
    return bool(values)


def flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter (``true`` or ``1``)."""
    return request.query.get(name, "").lower() in ("true", "1")


def run_ended(pod: dict, container: str) -> bool:
    """The container's current run has terminated (``state.terminated`` in its
    status; a run waiting to restart or running again has not)."""
    status = pod.get("status") or {}
    for entry in (status.get("containerStatuses") or []) + \
            (status.get("initContainerStatuses") or []):
        if entry.get("name") == container:
            return "terminated" in (entry.get("state") or {})
    return False


async def log_growth(api: Api, target: Target, container: str, seen: str, poll: float,
                     go_on: Callable[[dict], bool] = lambda pod: True):
    """Yield what a container's log gains after ``seen`` (text), looking every
    ``poll`` seconds, until the server stops, the pod goes, ``go_on(pod)`` is
    False, or this run of the container ends.

    A run's last lines come just before it exits, between two looks, so its end
    is followed by one more read, as the kubelet's follow reads to the end of
    the file once the container is no longer running (``pkg/kubelet/kuberuntime/
    logs/logs.go`` ``ReadLogs``: ``waitLogs`` finds it stopped, the loop reads
    to EOF and returns).  The end is seen two ways: the status says the run
    terminated (the end is read before the log, so that read holds it all), or
    the log was replaced by the next run (an immediate restart), in which case
    the rest comes from the previous run's log."""
    while not api.stopping.is_set():
        await asyncio.sleep(poll)
        pod = api.store.find("Pod", target.namespace, target.name)
        if pod is None or not go_on(pod):
            return
        ended = run_ended(pod, container)
        try:
            now = api.logs.logs(target.namespace, target.name, container, False, None)
            if not now.startswith(seen):
                now = api.logs.logs(target.namespace, target.name, container, True, None)
                ended = True
        except StatusError:
            return
        if now.startswith(seen) and len(now) > len(seen):
            yield now[len(seen):]
            seen = now
        if ended:
            return
