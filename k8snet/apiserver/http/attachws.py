"""``pods/attach`` over WebSocket: what a running container prints, from now on.

    GET /api/v1/namespaces/ns/pods/p/attach?container=c&stdout=true&stderr=true
    Upgrade: websocket; Sec-WebSocket-Protocol: v5.channel.k8s.io (or v4)

The channels are exec's (execws).  The container's output (its log, as the
kubelet keeps it) streams on channel 1 as it grows, until this run of the
container ends, the pod goes or the client leaves; then channel 3 carries
``Success``; what the run wrote up to its exit is all sent.  The lab's
containers run without standard input: a client that asks for stdin is told
so once on channel 2, and what it sends is not delivered (never faked); the
end of its stdin (v5's ``[255, 0]``) does not end the output.  Source:
kubectl ``attach``, api-concepts, KEP-4006, client-go
``tools/remotecommand`` (websocket.go, the stream's ``Close``).
"""
from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import WSMsgType, web

import k8snet.apiserver.http.status as st
from k8snet.apiserver.http.common import Api, Target, failure, flag, log_growth, run_ended
from k8snet.apiserver.http.execws import ERROR, PROTOCOLS, STDERR, STDOUT, container_of
from k8snet.errors import StatusError

POLL = 0.2          # seconds between looks at the container's output
NO_STDIN = ("k8snet: the lab's containers run without standard input; "
            "what you type is not delivered\r\n")


async def attach(api: Api, request: web.Request, target: Target) -> web.StreamResponse:
    """Stream a running container's output over the channel protocol."""
    pod = api.store.get("Pod", target.namespace, target.name)
    container = container_of(pod, request.query.get("container", ""))
    if api.logs is None:
        return failure(st.status(501, "NotImplemented",
                                 "pods/attach is not wired to the kubelets"))
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return failure(st.status(400, "BadRequest", "pods/attach needs a WebSocket upgrade "
                                 f"({', '.join(PROTOCOLS)}); SPDY is not served"))
    seen = api.logs.logs(target.namespace, target.name, container, False, None)
    ws = web.WebSocketResponse(protocols=PROTOCOLS)
    await ws.prepare(request)
    if flag(request, "stdin"):
        await ws.send_bytes(bytes([STDERR]) + NO_STDIN.encode())
    reader = asyncio.create_task(_drain(ws))
    try:
        await _follow(api, ws, target, container, seen, reader)
    finally:
        reader.cancel()
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await ws.send_bytes(bytes([ERROR]) + json.dumps({"metadata": {},
                                                         "status": "Success"}).encode())
        await ws.close()
    return ws


async def _follow(api: Api, ws: web.WebSocketResponse, target: Target, container: str,
                  seen: str, reader: asyncio.Task) -> None:
    """Send what the log gains until the run ends, the pod goes or the client
    leaves; then what the run wrote after the last look.

    Only the client leaving ends the output.  Its stdin ending does not: in
    v5 that is a message of its own, ``[255, 0]`` (client-go's
    ``remotecommand`` websocket stream ``Close()``, a half-close), which
    ``_drain`` drops like any other, and the output flows on until the run
    ends, as with the kubelet's attach.  A run's last words usually come just
    before it exits, between two looks at the log, so they are read once
    more after its end is seen (``kubectl run -i -- sh -c 'sleep 3; echo
    out'`` printed nothing before)."""
    async for more in log_growth(api, target, container, seen, POLL,
                                 lambda pod: not reader.done() and not run_ended(pod, container)):
        await ws.send_bytes(bytes([STDOUT]) + more.encode())
        seen += more
    pod = api.store.find("Pod", target.namespace, target.name)
    if reader.done() or pod is None or not run_ended(pod, container):
        return
    try:
        now = api.logs.logs(target.namespace, target.name, container, False, None)
    except StatusError:
        return
    if now.startswith(seen) and len(now) > len(seen):
        await ws.send_bytes(bytes([STDOUT]) + now[len(seen):].encode())


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and drop) what the client sends, until it leaves."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            return
