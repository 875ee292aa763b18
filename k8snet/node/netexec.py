"""Built-in test server for pod containers, modelled on agnhost netexec.

A pod container whose image cannot run gets this server instead, so that
Services, NetworkPolicies, kube-proxy rules and the pod's own probes always
have something answering that says *which* pod answered.  One asyncio
process serves every port; gRPC health, when asked for, runs on grpc's own
threads in the same process.

Usage::

    python3 -m k8snet.node.netexec --pod NAME --port 8080/TCP --port 5353/UDP \\
        [--grpc-port 9090 ...] [--agnhost] [--bind 0.0.0.0]

``--port PORT[/PROTO]`` is repeatable; PROTO is TCP (default) or UDP,
case-insensitive.  ``--grpc-port PORT`` (repeatable) serves the gRPC Health
Checking Protocol on that TCP port instead (k8snet.node.grpc_health); a
port cannot be both.  Without any ``--port`` or ``--grpc-port`` the server
listens on 8080/TCP.  ``--pod`` defaults to the host name, ``--bind`` (an
IPv4 or IPv6 literal) to 0.0.0.0.  Once every port is bound, one line
``netexec: pod NAME serving 8080/TCP 5353/UDP 9090/gRPC on 0.0.0.0`` is
printed to stdout (`` (agnhost)`` appended with ``--agnhost``).

HTTP personality, on every TCP port (a connection whose first line is
``METHOD SP ...``; one request per connection, Connection: close):

* default, the stand-in for an application: every well-formed request gets
  200 -- /hostname, /clientip, /echo?msg=, /header?key= informative, any
  other path a short text naming the pod and the path
  (k8snet.node.netexec_http);
* ``--agnhost``, for a container that really is agnhost netexec: agnhost's
  endpoints (/, /hostname, /clientip, /echo, /header, /healthz, /readyz,
  /dial, /redirect, /exit, /shutdown) and ``404 page not found`` for any
  other path (k8snet.node.netexec_agnhost).

TCP echo -- any other first line.  Every line received (ended by ``\\n``;
a ``\\r`` before it is dropped) is answered at once with ``POD: LINE\\n``,
in both personalities (agnhost itself would answer 400 Bad Request).

UDP -- one reply datagram per datagram received.  Stand-in::

    hostname     ->  POD                (surrounding whitespace ignored)
    clientip     ->  IP:PORT of the sender
    anything     ->  POD: PAYLOAD       (payload byte for byte, cut to
                                         fit in one datagram)

``--agnhost``: ``hostname``, ``clientip`` and ``echo MSG`` as agnhost, no
reply to anything else.

Exit status: 0 after SIGTERM or SIGINT, the code asked for by agnhost's
/exit, 1 if a port cannot be bound
(``netexec: cannot listen on TCP port 8080: Address already in use``) or
``--grpc-port`` is given without grpcio installed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal
import socket
import sys
from types import ModuleType
from typing import Any, NamedTuple, NoReturn

from k8snet.node.netexec_http import (
    BAD_REQUEST_BODY,
    NOT_FOUND_BODY,
    HttpReply,
    HttpRequest,
    build_response,
    looks_like_http,
    parse_request_head,
    split_target,
    standin_reply,
)
from k8snet.node.netexec_io import (
    MAX_LINE,
    PROG,
    HttpHandler,
    Lifecycle,
    TcpServer,
    UdpEcho,
    echo_line_reply,
    format_addr,
    log,
    on_loop_error,
)

__all__ = [
    "BAD_REQUEST_BODY", "NOT_FOUND_BODY", "Config", "PortSpec",
    "build_response", "describe_os_error", "echo_line_reply", "format_addr",
    "looks_like_http", "main", "parse_args", "parse_port_spec",
    "parse_request_head", "split_target", "udp_reply",
]

PROTOCOLS = ("TCP", "UDP")
DEFAULT_PORT = "8080/TCP"
DEFAULT_BIND = "0.0.0.0"
MAX_UDP_PAYLOAD = 65507     # largest UDP payload over IPv4
GRPC_STOP_GRACE = 0.2       # seconds for watchers to see NOT_SERVING
# Importable module (top-level name) -> the pip package that provides it.
GRPC_PACKAGES = {"grpc": "grpcio", "grpc_health": "grpcio-health-checking",
                 "google": "protobuf"}


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
    grpc_ports: tuple[int, ...] = ()
    agnhost: bool = False


# ---------------------------------------------------------------------------
# Command line
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


def _grpc_port_arg(text: str) -> int:
    """argparse adapter for ``--grpc-port PORT`` (a TCP port, 1-65535)."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"invalid gRPC port {text!r} (expected a number 1-65535)")
    return int(text)


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
                    "(HTTP and line echo on TCP, echo on UDP, gRPC health).")
    parser.add_argument("--pod", default=None,
                        help="pod name put in replies (default: host name)")
    parser.add_argument("--port", dest="ports", action="append",
                        type=_port_spec_arg, metavar="PORT[/PROTO]",
                        help="port to serve, PROTO is TCP (default) or UDP; "
                             f"repeatable (default: {DEFAULT_PORT})")
    parser.add_argument("--grpc-port", dest="grpc_ports", action="append",
                        type=_grpc_port_arg, metavar="PORT",
                        help="TCP port serving the gRPC health protocol "
                             "(needs grpcio-health-checking); repeatable")
    parser.add_argument("--agnhost", action="store_true",
                        help="answer HTTP and UDP as agnhost netexec does "
                             "(404 for unknown paths) instead of 200 for any path")
    parser.add_argument("--bind", type=_bind_arg, default=DEFAULT_BIND,
                        help=f"IP address to listen on (default: "
                             f"{DEFAULT_BIND})")
    return parser


def parse_args(argv: list[str] | None = None) -> Config:
    """Parse the command line into a Config.

    Exits with status 2 and one ``netexec: error: ...`` line on stderr for
    a bad port, a port given twice, a gRPC port also given as a TCP
    ``--port``, a bad bind address or an empty pod name.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    pod = socket.gethostname() if args.pod is None else args.pod
    if not pod:
        parser.error("argument --pod: must not be empty")
    grpc_ports = args.grpc_ports or []
    ports = args.ports or ([] if grpc_ports else [parse_port_spec(DEFAULT_PORT)])
    seen: set[PortSpec] = set()
    for spec in ports:
        if spec in seen:
            parser.error(f"argument --port: {spec} given twice")
        seen.add(spec)
    for index, port in enumerate(grpc_ports):
        if port in grpc_ports[:index]:
            parser.error(f"argument --grpc-port: {port} given twice")
        if PortSpec(port, "TCP") in seen:
            parser.error(f"argument --grpc-port: {port} is also given as "
                         f"--port {port}/TCP")
    return Config(pod=pod, bind=args.bind, ports=tuple(ports),
                  grpc_ports=tuple(grpc_ports), agnhost=args.agnhost)


# ---------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------

def udp_reply(pod: str, payload: bytes, client: str) -> bytes:
    """Stand-in reply to one UDP datagram (see the module docstring)."""
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


def load_grpc_health() -> ModuleType:
    """Import k8snet.node.grpc_health, or exit 1 naming the missing package.

    grpc's own log lines are silenced (GRPC_VERBOSITY=NONE) unless the
    environment asks for them; netexec reports failures itself.
    """
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        from k8snet.node import grpc_health
    except ImportError as exc:
        top = (exc.name or "").partition(".")[0]
        package = GRPC_PACKAGES.get(top, exc.name or "grpcio-health-checking")
        raise SystemExit(f"{PROG}: --grpc-port needs the Python package {package} "
                         f"(pip install {package}): {exc}") from None
    return grpc_health


# ---------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------

def _agnhost() -> ModuleType:
    """agnhost's personality, imported only with ``--agnhost``: its HTTP
    client modules cost every stand-in container 10-16 ms of CPU to start,
    a thousand of them at once."""
    from k8snet.node import netexec_agnhost
    return netexec_agnhost


def _http_handler(config: Config, lifecycle: Lifecycle) -> HttpHandler:
    """The HTTP personality chosen by ``--agnhost``, as an async callable."""
    if config.agnhost:
        return _agnhost().AgnhostHttp(config.pod, lifecycle.request_exit).reply

    async def standin(request: HttpRequest, client: str) -> HttpReply:
        return standin_reply(request, config.pod, client)
    return standin


async def _serve(config: Config, grpc_health: ModuleType | None = None) -> int:
    """Bind every port, announce, and run until a signal or agnhost's /exit."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(on_loop_error)
    lifecycle = Lifecycle()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lifecycle.stop.set)
    tcp = TcpServer(config.pod, _http_handler(config, lifecycle))
    udp_handler = functools.partial(
        _agnhost().agnhost_udp_reply if config.agnhost else udp_reply, config.pod)
    listeners: list[asyncio.AbstractServer | asyncio.BaseTransport] = []
    health = None
    try:
        for spec in config.ports:
            try:
                if spec.proto == "TCP":
                    listeners.append(await asyncio.start_server(
                        tcp.handle, host=config.bind, port=spec.port,
                        limit=MAX_LINE))
                else:
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: UdpEcho(udp_handler),
                        local_addr=(config.bind, spec.port))
                    listeners.append(transport)
            except OSError as exc:
                log(f"cannot listen on {spec.proto} port {spec.port}: "
                    f"{describe_os_error(exc)}")
                return 1
        if config.grpc_ports:
            grpc_health = grpc_health or load_grpc_health()
            health = grpc_health.HealthServer(config.bind, config.grpc_ports)
            try:
                health.start()
            except grpc_health.GrpcBindError as exc:
                log(str(exc))
                return 1
        ports = [str(spec) for spec in config.ports]
        ports += [f"{port}/gRPC" for port in config.grpc_ports]
        mode = " (agnhost)" if config.agnhost else ""
        try:
            print(f"{PROG}: pod {config.pod} serving {' '.join(ports)} on "
                  f"{config.bind}{mode}", flush=True)
        except (OSError, ValueError):
            pass  # nobody reads stdout; serving matters more
        await lifecycle.stop.wait()
        for listener in listeners:
            listener.close()
        if lifecycle.grace > 0:
            await tcp.wait_idle(lifecycle.grace)
        return lifecycle.code
    finally:
        for listener in listeners:
            listener.close()
        tcp.close_all()
        if health is not None:
            health.stop(GRPC_STOP_GRACE)


def _exit_on_early_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM before the event loop is up still means a clean exit."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status (see the module docstring)."""
    config = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_early_sigterm)
    grpc_health = load_grpc_health() if config.grpc_ports else None
    try:
        return asyncio.run(_serve(config, grpc_health))
    except KeyboardInterrupt:  # SIGINT before the loop installed handlers
        return 0


if __name__ == "__main__":
    sys.exit(main())
