"""``pods/exec`` over WebSocket, the channel protocol current kubectl speaks.

    GET /api/v1/namespaces/ns/pods/p/exec?command=hostname&container=c
        &stdin=true&stdout=true&stderr=true&tty=false
    Upgrade: websocket; Sec-WebSocket-Protocol: v5.channel.k8s.io (or v4)

Every binary message starts with its channel: 0 stdin, 1 stdout, 2 stderr,
3 the final Status (JSON), 4 terminal resize; v5 adds 255, the client's
"close this channel" (``[255, 0]``: stdin is done).  The command runs in the
pod's network namespace with its container's environment (the server's
``ExecSource``); with ``tty`` it gets a pseudo-terminal.  When it ends, channel
3 carries ``Success`` or ``Failure``/``NonZeroExitCode`` with the exit code,
as the kubelet reports it.  Sources: KEP-4006 (WebSocket transition),
k8s.io/apimachinery ``pkg/util/remotecommand`` (the Status shape).
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import struct
import termios

from aiohttp import WSMsgType, web

import k8snet.apiserver.http.status as st
from k8snet.apiserver.http.common import Api, Target, failure, flag
from k8snet.errors import BadRequest, StatusError

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
CHUNK = 32 * 1024


def exit_status(code: int, command: list[str]) -> dict:
    """The Status the kubelet sends on the error channel when a command ends."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing "
                       f"command {command}, exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def container_of(pod: dict, wanted: str) -> str:
    """The container ``wanted`` names (the first when empty); BadRequest when
    the pod has no such container."""
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    if not wanted:
        if not names:
            raise BadRequest(f"pod {pod['metadata']['name']} has no containers")
        return names[0]
    if wanted not in names:
        raise BadRequest(f"container {wanted} is not valid for pod {pod['metadata']['name']}")
    return wanted


async def exec_(api: Api, request: web.Request, target: Target) -> web.StreamResponse:
    """Run ``command`` in the pod and stream it over the channel protocol."""
    pod = api.store.get("Pod", target.namespace, target.name)
    command = request.query.getall("command", [])
    if not command:
        raise BadRequest("you must specify at least one command for the container")
    container = container_of(pod, request.query.get("container", ""))
    if api.execs is None:
        return failure(st.status(501, "NotImplemented", "pods/exec is not wired to the kubelets"))
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return failure(st.status(400, "BadRequest", "pods/exec needs a WebSocket upgrade "
                                 f"({', '.join(PROTOCOLS)}); SPDY is not served"))
    prefix, env = api.execs.target(target.namespace, target.name, container)
    ws = web.WebSocketResponse(protocols=PROTOCOLS)
    await ws.prepare(request)
    session = _Session(ws, flag(request, "stdin"), flag(request, "tty"))
    try:
        code = await session.run([*prefix, *command], env)
        status = exit_status(code, command)
    except (OSError, StatusError) as exc:
        status = {"metadata": {}, "status": "Failure", "message": str(exc),
                  "reason": "InternalError"}
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
        await ws.close()
    return ws


class _Session:
    """One command and its streams."""

    def __init__(self, ws: web.WebSocketResponse, stdin: bool, tty: bool) -> None:
        self.ws, self.stdin, self.tty = ws, stdin, tty
        self.master: int | None = None

    async def run(self, argv: list[str], env: dict[str, str]) -> int:
        if self.tty:
            self.master, slave = pty.openpty()
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                start_new_session=True)
            os.close(slave)
            pumps = [asyncio.create_task(self._pump_pty())]
        else:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if self.stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
                start_new_session=True)
            pumps = [asyncio.create_task(self._pump(proc.stdout, STDOUT)),
                     asyncio.create_task(self._pump(proc.stderr, STDERR))]
        reader = asyncio.create_task(self._read_client(proc))
        code = await proc.wait()
        await asyncio.gather(*pumps, return_exceptions=True)
        reader.cancel()
        if self.master is not None:
            os.close(self.master)
        return code

    async def _pump(self, stream: asyncio.StreamReader, channel: int) -> None:
        while chunk := await stream.read(CHUNK):
            await self.ws.send_bytes(bytes([channel]) + chunk)

    async def _pump_pty(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                chunk = await loop.run_in_executor(None, os.read, self.master, CHUNK)
            except OSError:          # EIO: the terminal's last user has gone
                return
            if not chunk:
                return
            await self.ws.send_bytes(bytes([STDOUT]) + chunk)

    def _write_stdin(self, proc, data: bytes) -> None:
        if self.master is not None:
            os.write(self.master, data)
        elif proc.stdin is not None:
            proc.stdin.write(data)

    def _close_stdin(self, proc) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.write(self.master, b"\x04")       # ^D: end of input on a terminal
        elif proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()

    async def _read_client(self, proc) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
                continue
            channel, data = msg.data[0], msg.data[1:]
            with contextlib.suppress(OSError, RuntimeError, ConnectionResetError):
                if channel == STDIN and data:
                    self._write_stdin(proc, data)
                elif channel == CLOSE and data[:1] == bytes([STDIN]):
                    self._close_stdin(proc)
                elif channel == RESIZE and self.master is not None:
                    size = json.loads(data or b"{}")
                    fcntl.ioctl(self.master, termios.TIOCSWINSZ,
                                struct.pack("HHHH", size.get("Height", 24),
                                            size.get("Width", 80), 0, 0))
        self._close_stdin(proc)
