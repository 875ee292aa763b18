"""Sockets of the built-in netexec server: asyncio TCP and UDP handling.

The replies themselves come from pure functions (``netexec_http``,
``netexec_agnhost``, ``netexec.udp_reply``); this module reads requests,
writes replies and keeps a bad client from disturbing anyone else.

TCP: a connection whose first line starts with an HTTP method and a space
is one HTTP request (Connection: close, so kube-proxy's per-connection
balancing is visible per request); any other connection is a line echo,
``POD: LINE\\n`` for every line, answered at once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from k8snet.node.netexec_http import (
    BAD_REQUEST_BODY,
    HttpReply,
    HttpRequest,
    build_response,
    looks_like_http,
    parse_request_head,
)

PROG = "netexec"
MAX_LINE = 64 * 1024        # echo line / StreamReader buffer limit
MAX_HEAD = 16 * 1024        # request line plus headers
MAX_BODY = 1024 * 1024      # request bodies up to this are read and dropped
READ_TIMEOUT = 10.0         # seconds allowed for an HTTP head or body

# (request, "IP:PORT" of the peer) -> reply, or None to hang up silently
HttpHandler = Callable[[HttpRequest, str], Awaitable[HttpReply | None]]
# (datagram, "IP:PORT" of the sender) -> reply datagram, or None for none
UdpHandler = Callable[[bytes, str], bytes | None]


def log(message: str) -> None:
    """One ``netexec: MESSAGE`` line on stderr; never fails if stderr is gone."""
    try:
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def format_addr(addr: Any) -> str:
    """Render a socket address as agnhost does: ``IP:PORT`` or ``[IP]:PORT``.

    IPv4-mapped IPv6 peers (seen when bound to ``::``) are shown as plain
    IPv4 so replies look the same whichever bind address is used; a missing
    address gives ``unknown``.
    """
    if not addr:
        return "unknown"
    host, port = str(addr[0]), addr[1]
    if host.lower().startswith("::ffff:") and "." in host:
        host = host[7:]
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def echo_line_reply(pod: str, line: bytes) -> bytes:
    """Reply to one TCP echo line: ``POD: LINE\\n`` (line ending dropped)."""
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    return pod.encode("utf-8") + b": " + line + b"\n"


class Lifecycle:
    """When the server stops, with which exit status and how much grace.

    ``stop`` is set by SIGTERM/SIGINT (grace 0) or by request_exit().
    """

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.code = 0
        self.grace = 0.0

    def request_exit(self, code: int, grace: float | None) -> None:
        """Exit with ``code`` (taken modulo 256, as the kernel does).

        ``grace`` None ends the process at once (Go's ``os.Exit``); a number
        stops listening and lets open connections finish for that long.
        """
        if grace is None:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code & 0xFF)
        self.code, self.grace = code & 0xFF, grace
        self.stop.set()


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    """Next line with its newline, the tail at EOF, or a MAX_LINE piece."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    except asyncio.LimitOverrunError:
        return await reader.read(MAX_LINE)


async def _read_head(first: bytes,
                     reader: asyncio.StreamReader) -> bytes | None:
    """Read headers up to the blank line; None if too big or cut short."""
    head = bytearray(first)
    line = first
    while True:
        if not line.endswith(b"\n") or len(head) > MAX_HEAD:
            return None
        line = await _read_line(reader)
        head += line
        if line in (b"\n", b"\r\n"):
            return bytes(head)


async def _discard_body(request: HttpRequest,
                        reader: asyncio.StreamReader) -> None:
    """Read a small request body so closing does not reset the reply."""
    length = request.headers.get("content-length", "")
    if "100-continue" in request.headers.get("expect", "").lower():
        return  # the client waits for us; the reply does not need the body
    if not (length.isascii() and length.isdigit()):
        return
    size = int(length)
    if 0 < size <= MAX_BODY:
        try:
            await asyncio.wait_for(reader.readexactly(size), READ_TIMEOUT)
        except (asyncio.IncompleteReadError, TimeoutError):
            pass


class UdpEcho(asyncio.DatagramProtocol):
    """Answers each datagram with ``handler(payload, sender)``."""

    def __init__(self, handler: UdpHandler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.transport is None:
            return
        try:
            reply = self.handler(data, format_addr(addr))
            if reply is not None:
                self.transport.sendto(reply, addr)
        except OSError:
            pass  # the sender is gone; nothing useful to do
        except Exception as exc:  # noqa: BLE001 - a bug must not kill serving
            log(f"error answering a UDP datagram: {exc!r}")

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. ICMP port unreachable from a client that left


class TcpServer:
    """Per-connection TCP logic; tracks writers so shutdown is prompt."""

    def __init__(self, pod: str, http: HttpHandler) -> None:
        self.pod = pod
        self.http = http
        self.writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        """asyncio.start_server callback: serve one connection, then close it."""
        self.writers.add(writer)
        try:
            await self._converse(reader, writer)
        except OSError:
            pass  # reset, broken pipe, timeout: the client's problem
        except Exception as exc:  # noqa: BLE001 - a bug must not kill serving
            log(f"error serving a TCP client: {exc!r}")
        finally:
            self.writers.discard(writer)
            writer.close()

    async def wait_idle(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for open connections to finish."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.writers and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)

    def close_all(self) -> None:
        """Close every open connection (shutdown)."""
        for writer in list(self.writers):
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        peer = format_addr(writer.get_extra_info("peername"))
        line = await _read_line(reader)
        if line and looks_like_http(line):
            await self._serve_http(line, reader, writer, peer)
            return
        while line:
            writer.write(echo_line_reply(self.pod, line))
            await writer.drain()
            line = await _read_line(reader)

    async def _serve_http(self, first: bytes, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter, peer: str) -> None:
        try:
            head = await asyncio.wait_for(_read_head(first, reader),
                                          READ_TIMEOUT)
        except TimeoutError:
            return  # too slow to send a request: just hang up
        request = None
        if head is not None:
            try:
                request = parse_request_head(head)
            except ValueError:
                pass
        if request is None:
            response = build_response(400, BAD_REQUEST_BODY)
        else:
            await _discard_body(request, reader)
            reply = await self.http(request, peer)
            if reply is None:
                return
            response = build_response(reply.status, reply.body,
                                      include_body=request.method != "HEAD",
                                      content_type=reply.content_type,
                                      headers=reply.headers)
        writer.write(response)
        await writer.drain()


def on_loop_error(loop: asyncio.AbstractEventLoop,
                  context: dict[str, Any]) -> None:
    """Report unexpected asyncio errors as one line instead of a trace."""
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, BrokenPipeError)):
        return
    detail = f": {exc!r}" if exc is not None else ""
    log(f"{context.get('message', 'asyncio error')}{detail}")
