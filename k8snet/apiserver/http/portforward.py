"""``pods/portforward``: ``kubectl port-forward`` over SPDY tunnelled in a WebSocket.

    GET /api/v1/namespaces/ns/pods/p/portforward
    Upgrade: websocket; Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io

For every connection kubectl accepts on its local port it opens two SPDY
streams with the headers ``streamType`` (``error`` | ``data``), ``port`` and
``requestID``.  The server answers each with SYN_REPLY, connects the data
stream to ``localhost:port`` in the pod's network namespace (a relay process
entered with the server's ``ExecSource``, as the kubelet enters the pod),
and when that connection ends closes both streams; a connection that fails
writes the reason on the error stream, which kubectl prints.  PING is
echoed; RST_STREAM ends that connection; GOAWAY or the WebSocket's end ends
them all.  Sources: KEP-4006 (SPDY over WebSocket tunnelling), client-go
``tools/portforward``, kubelet ``cri/streaming/portforward/httpstream.go``.
"""
from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass

from aiohttp import WSMsgType, web

import k8snet.apiserver.http.spdy as spdy
import k8snet.apiserver.http.status as st
from k8snet.apiserver.http.common import Api, Target, failure
from k8snet.errors import BadRequest

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
RELAY = [sys.executable, "-m", "k8snet.apiserver.portrelay"]
CHUNK = 32 * 1024


async def portforward(api: Api, request: web.Request, target: Target) -> web.StreamResponse:
    """Forward the pod's ports for ``kubectl port-forward``."""
    pod = api.store.get("Pod", target.namespace, target.name)
    containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    if not containers:
        raise BadRequest(f"pod {target.name} has no containers")
    if api.execs is None:
        return failure(st.status(501, "NotImplemented",
                                 "pods/portforward is not wired to the kubelets"))
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return failure(st.status(400, "BadRequest", "pods/portforward needs a WebSocket "
                                 f"upgrade ({PROTOCOL}); plain SPDY is not served"))
    prefix, env = api.execs.target(target.namespace, target.name, containers[0])
    ws = web.WebSocketResponse(protocols=(PROTOCOL,))
    await ws.prepare(request)
    session = _Session(ws, prefix, env, f"pod {target.name}, uid {pod['metadata'].get('uid')}")
    try:
        await session.run()
    finally:
        await session.close()
    return ws


@dataclass
class _Pair:
    """The two streams of one forwarded connection, and its relay."""

    port: str
    error: int = 0
    data: int = 0
    relay: asyncio.subprocess.Process | None = None
    pump: asyncio.Task | None = None
    done: bool = False


class _Session:
    """One kubectl port-forward session: its SPDY framing and connections."""

    def __init__(self, ws: web.WebSocketResponse, prefix: list[str], env: dict[str, str],
                 pod: str) -> None:
        self.ws, self.prefix, self.env, self.pod = ws, prefix, env, pod
        self.codec = spdy.Codec()
        self.pairs: dict[str, _Pair] = {}          # by requestID
        self.by_stream: dict[int, _Pair] = {}

    async def run(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.BINARY:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    return
                continue
            try:
                frames = self.codec.feed(msg.data)
            except spdy.ProtocolError:
                return
            for frame in frames:
                if not await self.handle(frame):
                    return

    async def handle(self, frame: spdy.Frame) -> bool:
        """Act on one frame; False ends the session."""
        if not frame.control:
            await self.on_data(frame)
        elif frame.type == spdy.SYN_STREAM:
            await self.on_stream(frame)
        elif frame.type == spdy.RST_STREAM:
            pair = self.by_stream.get(frame.stream)
            if pair is not None and frame.stream == pair.data:
                await self.finish(pair, reset=True)
        elif frame.type == spdy.PING:
            await self.send(spdy.control(spdy.PING, frame.payload[:4]))
        elif frame.type == spdy.GOAWAY:
            return False
        return True

    async def send(self, data: bytes) -> None:
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await self.ws.send_bytes(data)

    async def on_stream(self, frame: spdy.Frame) -> None:
        kind, port = frame.headers.get("streamtype", ""), frame.headers.get("port", "")
        request_id = frame.headers.get("requestid", port)
        if kind not in ("error", "data") or not port.isdigit():
            await self.send(spdy.rst_stream(frame.stream, 1))       # PROTOCOL_ERROR
            return
        await self.send(self.codec.syn_reply(frame.stream))
        pair = self.pairs.setdefault(request_id, _Pair(port))
        self.by_stream[frame.stream] = pair
        if kind == "error":
            pair.error = frame.stream
            return
        pair.data = frame.stream
        pair.relay = await asyncio.create_subprocess_exec(
            *self.prefix, *RELAY, port, env=self.env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        pair.pump = asyncio.create_task(self.pump(request_id, pair))

    async def on_data(self, frame: spdy.Frame) -> None:
        pair = self.by_stream.get(frame.stream)
        if pair is None or frame.stream != pair.data or pair.relay is None:
            return
        stdin = pair.relay.stdin
        with contextlib.suppress(ConnectionResetError, BrokenPipeError, RuntimeError):
            if frame.payload:
                stdin.write(frame.payload)
                await stdin.drain()
            if frame.fin and not stdin.is_closing():
                stdin.close()

    async def pump(self, request_id: str, pair: _Pair) -> None:
        """The pod's answer -> data frames; then the end of both streams."""
        relay = pair.relay
        while chunk := await relay.stdout.read(CHUNK):
            await self.send(spdy.data(pair.data, chunk))
        code = await relay.wait()
        if code != 0 and pair.error and not pair.done:
            reason = (await relay.stderr.read()).decode(errors="replace").strip()
            await self.send(spdy.data(pair.error, f"error forwarding port {pair.port} to "
                                      f"{self.pod}: {reason}".encode()))
        await self.finish(pair)
        self.pairs.pop(request_id, None)

    async def finish(self, pair: _Pair, reset: bool = False) -> None:
        """End a connection: its relay, and FIN on both streams (once)."""
        pair.done = True
        if pair.relay is not None and pair.relay.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                pair.relay.kill()
        for stream in (pair.data, pair.error):
            if stream and self.by_stream.pop(stream, None) is not None:
                if not (reset and stream == pair.data):
                    await self.send(spdy.data(stream, b"", fin=True))

    async def close(self) -> None:
        """The session is over: every relay goes."""
        for pair in list(self.pairs.values()):
            if pair.relay is not None and pair.relay.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    pair.relay.kill()
            if pair.pump is not None:
                pair.pump.cancel()
        for pair in self.pairs.values():
            if pair.relay is not None:
                with contextlib.suppress(Exception):
                    await pair.relay.wait()
