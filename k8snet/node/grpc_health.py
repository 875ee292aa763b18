"""gRPC health service of the built-in netexec server (``--grpc-port``).

Serves ``grpc.health.v1.Health`` as the gRPC Health Checking Protocol
describes it (https://github.com/grpc/grpc/blob/master/doc/health-checking.md),
which is what a kubelet ``grpc:`` probe calls:

* ``Check(HealthCheckRequest{service})`` answers ``SERVING``, for the
  overall server (service "") and for any named service alike: the stand-in
  has no services of its own, so every name reports the overall status.
* ``Watch(HealthCheckRequest{service})`` streams ``SERVING`` at once, then
  every change; on shutdown watchers see ``NOT_SERVING`` before the stream
  ends.
* ``List`` (newer protocol versions) stays UNIMPLEMENTED.

The servicer is grpcio-health-checking's reference ``HealthServicer`` (its
non-blocking Watch), served by a ``grpc.server`` thread pool next to the
asyncio loop; no HTTP/2 is written by hand.  Importing this module needs the
packages grpcio, grpcio-health-checking and protobuf.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

OVERALL = ""              # the service name of the whole server
WORKERS = 4               # Check is quick and Watch does not hold a thread
SERVER_OPTIONS = (
    # Two servers on one port would share connections silently; make the
    # second bind fail like every other netexec port does.
    ("grpc.so_reuseport", 0),
)


class GrpcBindError(Exception):
    """A gRPC port could not be bound; ``port`` and a short ``reason``."""

    def __init__(self, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on gRPC port {port}: {reason}")
        self.port = port
        self.reason = reason


class AnyServiceHealthServicer(health.HealthServicer):
    """HealthServicer whose every service name shares the overall status.

    The reference servicer answers NOT_FOUND (Check) or SERVICE_UNKNOWN
    (Watch) for a name it was not told about; a stand-in cannot know the
    application's names, so requests are answered as for service "".
    Status changes (set(), enter_graceful_shutdown()) reach every watcher.
    """

    def Check(self, request: Any, context: Any) -> Any:
        """Unary Check: ``HealthCheckResponse`` with the overall status."""
        return super().Check(_overall(request), context)

    def Watch(self, request: Any, context: Any,
              send_response_callback: Any = None) -> Any:
        """Server-streaming Watch on the overall status (non-blocking form)."""
        return super().Watch(_overall(request), context, send_response_callback)


def _overall(request: Any) -> Any:
    """The same request asked about the overall service ""."""
    if request.service == OVERALL:
        return request
    return health_pb2.HealthCheckRequest(service=OVERALL)


def _grpc_address(bind: str, port: int) -> str:
    """``host:port`` for grpc, with brackets around an IPv6 literal."""
    return f"[{bind}]:{port}" if ":" in bind else f"{bind}:{port}"


def _bind_reason(bind: str, port: int) -> str:
    """Why a gRPC bind failed, e.g. ``Address already in use``.

    grpc only says "Failed to bind"; binding a plain socket to the same
    address (with SO_REUSEADDR, as grpc does) gives the kernel's reason.
    """
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((bind, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return "failed to bind"


class HealthServer:
    """A gRPC server with only the health service, on one or more ports.

    Usage: ``server = HealthServer("0.0.0.0", [9090]); server.start()`` ...
    ``server.stop(0.2)``.  The server runs on its own threads; start() and
    stop() may be called from the asyncio thread.
    """

    def __init__(self, bind: str, ports: Sequence[int]) -> None:
        self.bind = bind
        self.ports = tuple(ports)
        self.servicer = AnyServiceHealthServicer()
        self._server: grpc.Server | None = None

    def start(self) -> None:
        """Bind every port and start serving.

        Raises GrpcBindError for the first port that cannot be bound; no
        port stays bound then.
        """
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKERS),
                             options=SERVER_OPTIONS)
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)
        for port in self.ports:
            try:
                bound = server.add_insecure_port(_grpc_address(self.bind, port))
            except RuntimeError:  # grpcio >= 1.59 raises instead of returning 0
                bound = 0
            if bound != port:
                # Only a started server gives its bound ports back on stop().
                server.start()
                server.stop(None).wait(2.0)
                raise GrpcBindError(port, _bind_reason(self.bind, port))
        server.start()
        self._server = server

    def stop(self, grace: float) -> None:
        """Report NOT_SERVING to watchers, then stop within ``grace`` seconds.

        Returns once the server has stopped (or ``grace`` + 2 s passed).
        Safe to call twice or before start().
        """
        server, self._server = self._server, None
        if server is None:
            return
        self.servicer.enter_graceful_shutdown()
        done: threading.Event = server.stop(grace)
        done.wait(grace + 2.0)
