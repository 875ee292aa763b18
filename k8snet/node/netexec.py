"""Built-in test server for pod containers, modelled on agnhost netexec.

A pod container whose image cannot run gets this server instead, so that
Services, NetworkPolicies and kube-proxy rules always have something
answering that says *which* pod answered.  One asyncio process serves
every port; only the standard library is used so startup stays fast.

Usage::

    python3 -m k8snet.node.netexec --pod NAME --port 8080/TCP --port 5353/UDP \\
        [--bind 0.0.0.0]

``--port PORT[/PROTO]`` is repeatable; PROTO is TCP (default) or UDP,
case-insensitive.  Without any ``--port`` the server listens on 8080/TCP.
``--pod`` defaults to the host name, ``--bind`` (an IPv4 or IPv6 literal)
to 0.0.0.0.  Once every port is bound, one line
``netexec: pod NAME serving 8080/TCP 5353/UDP on 0.0.0.0`` is printed to
stdout.

Reply formats (POD is the ``--pod`` value in UTF-8):

TCP, HTTP mode -- chosen when the first line received starts with an
HTTP method token and a space (``GET /...``, ``POST /...``, ...).  One
request per connection, so kube-proxy's per-connection balancing is
visible per request.  Every response is HTTP/1.1 with
``Content-Type: text/plain; charset=utf-8``, ``Content-Length`` and
``Connection: close``::

    /hostname        200  POD                (no newline, like agnhost)
    /clientip        200  IP:PORT of the peer ([IPv6]:PORT for IPv6)
    /echo?msg=X      200  X, URL-decoded     (no msg: empty body)
    /                200  POD + "\\n"
    /healthz         200  ok
    any other path   404  "404 page not found\\n"
    malformed        400  "400 bad request\\n"

The query string is ignored except by /echo.  Any method is accepted;
HEAD gets the headers without the body.  A request line that starts
like HTTP but is malformed (e.g. ``GET /x HTTP/9.9``) gets a 400.

TCP, echo mode -- any other first line.  Every line received (ended by
``\\n``; a ``\\r`` before it is dropped) is answered at once with
``POD: LINE\\n``.  Bytes are echoed as they are, not decoded.  A last
line without a newline is answered when the client half-closes; lines
longer than 64 KiB are answered in 64 KiB pieces.

UDP -- one reply datagram per datagram received::

    hostname     ->  POD                (surrounding whitespace ignored)
    clientip     ->  IP:PORT of the sender
    anything     ->  POD: PAYLOAD       (payload byte for byte, cut to
                                         fit in one datagram)

Exit status: 0 after SIGTERM or SIGINT, 1 if a port cannot be bound
(``netexec: cannot listen on TCP port 8080: Address already in use``),
2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from typing import Any, NamedTuple, NoReturn
from urllib.parse import parse_qsl, urlsplit

PROG = "netexec"
PROTOCOLS = ("TCP", "UDP")
DEFAULT_PORT = "8080/TCP"
DEFAULT_BIND = "0.0.0.0"
HTTP_METHODS = frozenset({
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE",
    b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
})
HTTP_VERSIONS = ("HTTP/1.0", "HTTP/1.1")
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}
NOT_FOUND_BODY = b"404 page not found\n"
BAD_REQUEST_BODY = b"400 bad request\n"
MAX_LINE = 64 * 1024        # echo line / StreamReader buffer limit
MAX_HEAD = 16 * 1024        # request line plus headers
MAX_BODY = 1024 * 1024      # request bodies up to this are read and dropped
READ_TIMEOUT = 10.0         # seconds allowed for an HTTP head or body
MAX_UDP_PAYLOAD = 65507     # largest UDP payload over IPv4


class PortSpec(NamedTuple):
    """One port to serve, e.g. ``PortSpec(5353, "UDP")``."""

    port: int
    proto: str

    def __str__(self) -> str:
        return f"{self.port}/{self.proto}"


class Config(NamedTuple):
    """Validated command-line settings."""

    pod: str
    bind: str
    ports: tuple[PortSpec, ...]


class HttpRequest(NamedTuple):
    """The parts of an HTTP request head the server needs."""

    method: str
    target: str
    version: str
    headers: dict[str, str]


# ---------------------------------------------------------------------------
# Pure helpers (no sockets, unit-tested directly)
# ---------------------------------------------------------------------------

def parse_port_spec(spec: str) -> PortSpec:
    """Parse ``PORT[/PROTO]``; raise ValueError with a readable reason."""
    port_text, sep, proto_text = spec.partition("/")
    # isascii() too: str.isdigit() accepts non-ASCII digits int() would take.
    if not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"invalid port {port_text!r} in {spec!r} "
                         "(expected PORT[/TCP|UDP])")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} in {spec!r} is out of range 1-65535")
    proto = proto_text.upper() if sep else "TCP"
    if proto not in PROTOCOLS:
        raise ValueError(f"invalid protocol {proto_text!r} in {spec!r} "
                         "(expected TCP or UDP)")
    return PortSpec(port, proto)


def _port_spec_arg(spec: str) -> PortSpec:
    """argparse adapter so bad specs become usage errors (exit 2)."""
    try:
        return parse_port_spec(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bind_arg(text: str) -> str:
    """Accept only IP literals, so a typo fails as a usage error."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
        except OSError:
            continue
        return text
    raise argparse.ArgumentTypeError(f"invalid IP address {text!r}")


class _ArgumentParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are a single stderr line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog=PROG,
        description="Test server that answers with its pod name "
                    "(HTTP and line echo on TCP, echo on UDP).")
    parser.add_argument("--pod", default=None,
                        help="pod name put in replies (default: host name)")
    parser.add_argument("--port", dest="ports", action="append",
                        type=_port_spec_arg, metavar="PORT[/PROTO]",
                        help="port to serve, PROTO is TCP (default) or UDP; "
                             f"repeatable (default: {DEFAULT_PORT})")
    parser.add_argument("--bind", type=_bind_arg, default=DEFAULT_BIND,
                        help=f"IP address to listen on (default: "
                             f"{DEFAULT_BIND})")
    return parser


def parse_args(argv: list[str] | None = None) -> Config:
    """Parse the command line; exit 2 with one error line if it is bad."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    pod = socket.gethostname() if args.pod is None else args.pod
    if not pod:
        parser.error("argument --pod: must not be empty")
    ports = args.ports or [parse_port_spec(DEFAULT_PORT)]
    seen: set[PortSpec] = set()
    for spec in ports:
        if spec in seen:
            parser.error(f"argument --port: {spec} given twice")
        seen.add(spec)
    return Config(pod=pod, bind=args.bind, ports=tuple(ports))


def format_addr(addr: Any) -> str:
    """Render a socket address as agnhost does: ``IP:PORT``/``[IP]:PORT``.

    IPv4-mapped IPv6 peers (seen when bound to ``::``) are shown as plain
    IPv4 so replies look the same whichever bind address is used.
    """
    if not addr:
        return "unknown"
    host, port = str(addr[0]), addr[1]
    if host.lower().startswith("::ffff:") and "." in host:
        host = host[7:]
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def looks_like_http(first_line: bytes) -> bool:
    """True if a connection's first line starts with ``METHOD SP``."""
    method, sep, _ = first_line.partition(b" ")
    return bool(sep) and method in HTTP_METHODS


def parse_request_head(head: bytes) -> HttpRequest:
    """Parse a request line plus headers; raise ValueError if malformed."""
    lines = head.split(b"\n")
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise ValueError("empty request")
    try:
        request_line = lines[0].decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("non-ASCII request line") from None
    parts = request_line.split(" ")
    if len(parts) != 3:
        raise ValueError(f"malformed request line {request_line!r}")
    method, target, version = parts
    if method.encode("ascii") not in HTTP_METHODS:
        raise ValueError(f"unknown method {method!r}")
    if not target or not target.isprintable():
        raise ValueError(f"malformed request target {target!r}")
    if version not in HTTP_VERSIONS:
        raise ValueError(f"unsupported HTTP version {version!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"malformed header line {line!r}")
        try:
            key = name.decode("ascii").lower()
        except UnicodeDecodeError:
            raise ValueError(f"non-ASCII header name {name!r}") from None
        headers[key] = value.strip().decode("latin-1")
    return HttpRequest(method, target, version, headers)


def split_target(target: str) -> tuple[str, str]:
    """Split a request target into (path, query) for routing."""
    target = target.partition("#")[0]
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    parts = urlsplit(target)
    if parts.scheme in ("http", "https") and parts.netloc:
        return parts.path or "/", parts.query
    return target, ""  # "*" or authority-form: routed as an unknown path


def route_request(target: str, pod: str, client: str) -> tuple[int, bytes]:
    """Map a request target to (status, body); ``client`` is IP:PORT."""
    path, query = split_target(target)
    if path == "/hostname":
        return 200, pod.encode("utf-8")
    if path == "/clientip":
        return 200, client.encode("utf-8")
    if path == "/echo":
        # surrogateescape keeps percent-encoded bytes that are not UTF-8.
        for key, value in parse_qsl(query, keep_blank_values=True,
                                    errors="surrogateescape"):
            if key == "msg":
                return 200, value.encode("utf-8", "surrogateescape")
        return 200, b""
    if path == "/":
        return 200, pod.encode("utf-8") + b"\n"
    if path == "/healthz":
        return 200, b"ok"
    return 404, NOT_FOUND_BODY


def build_response(status: int, body: bytes, *,
                   include_body: bool = True) -> bytes:
    """Build a complete HTTP/1.1 response; HEAD passes include_body=False."""
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n"
            "\r\n").encode("ascii")
    return head + body if include_body else head


def echo_line_reply(pod: str, line: bytes) -> bytes:
    """Reply to one TCP echo line: ``POD: LINE\\n`` (line ending dropped)."""
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    return pod.encode("utf-8") + b": " + line + b"\n"


def udp_reply(pod: str, payload: bytes, client: str) -> bytes:
    """Reply to one UDP datagram (see the module docstring)."""
    command = payload.strip()
    if command == b"hostname":
        return pod.encode("utf-8")
    if command == b"clientip":
        return client.encode("utf-8")
    reply = pod.encode("utf-8") + b": " + payload
    return reply[:MAX_UDP_PAYLOAD]


def describe_os_error(exc: OSError) -> str:
    """Short reason for a bind failure, e.g. ``Address already in use``.

    asyncio wraps bind errors in a long lower-cased message, so the text
    is rebuilt from errno.
    """
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    if exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)
    return str(exc)


# ---------------------------------------------------------------------------
# Network side
# ---------------------------------------------------------------------------

def _log(message: str) -> None:
    """One line on stderr; never fail because stderr went away."""
    try:
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    """Next line with its newline, the tail at EOF, or a MAX_LINE piece."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    except asyncio.LimitOverrunError:
        return await reader.read(MAX_LINE)


class _UdpEcho(asyncio.DatagramProtocol):
    """Answers each datagram with udp_reply()."""

    def __init__(self, pod: str) -> None:
        self.pod = pod
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.transport is None:
            return
        try:
            self.transport.sendto(udp_reply(self.pod, data, format_addr(addr)),
                                  addr)
        except OSError:
            pass  # the sender is gone; nothing useful to do

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. ICMP port unreachable from a client that left


class _TcpServer:
    """Per-connection TCP logic; tracks writers so shutdown is prompt."""

    def __init__(self, pod: str) -> None:
        self.pod = pod
        self.writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            await self._converse(reader, writer)
        except OSError:
            pass  # reset, broken pipe, timeout: the client's problem
        except Exception as exc:  # noqa: BLE001 - a bug must not kill serving
            _log(f"error serving a TCP client: {exc!r}")
        finally:
            self.writers.discard(writer)
            writer.close()

    def close_all(self) -> None:
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
            status, body = route_request(request.target, self.pod, peer)
            response = build_response(status, body,
                                      include_body=request.method != "HEAD")
        writer.write(response)
        await writer.drain()


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


def _on_loop_error(loop: asyncio.AbstractEventLoop,
                   context: dict[str, Any]) -> None:
    """Report unexpected asyncio errors as one line instead of a trace."""
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, BrokenPipeError)):
        return
    detail = f": {exc!r}" if exc is not None else ""
    _log(f"{context.get('message', 'asyncio error')}{detail}")


async def _serve(config: Config) -> int:
    """Bind every port, announce, and run until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_on_loop_error)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tcp = _TcpServer(config.pod)
    listeners: list[asyncio.AbstractServer | asyncio.BaseTransport] = []
    try:
        for spec in config.ports:
            try:
                if spec.proto == "TCP":
                    listeners.append(await asyncio.start_server(
                        tcp.handle, host=config.bind, port=spec.port,
                        limit=MAX_LINE))
                else:
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _UdpEcho(config.pod),
                        local_addr=(config.bind, spec.port))
                    listeners.append(transport)
            except OSError as exc:
                _log(f"cannot listen on {spec.proto} port {spec.port}: "
                     f"{describe_os_error(exc)}")
                return 1
        ports = " ".join(str(spec) for spec in config.ports)
        try:
            print(f"{PROG}: pod {config.pod} serving {ports} on "
                  f"{config.bind}", flush=True)
        except (OSError, ValueError):
            pass  # nobody reads stdout; serving matters more
        await stop.wait()
        return 0
    finally:
        for listener in listeners:
            listener.close()
        tcp.close_all()


def _exit_on_early_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM before the event loop is up still means a clean exit."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    config = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_early_sigterm)
    try:
        return asyncio.run(_serve(config))
    except KeyboardInterrupt:  # SIGINT before the loop installed handlers
        return 0


if __name__ == "__main__":
    sys.exit(main())
