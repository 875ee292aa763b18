"""Tests for gRPC health (k8snet.node.grpc_health and ``netexec --grpc-port``).

Every check goes over a real grpc channel to a real server: first the
HealthServer class in this process, then the netexec subprocess, as a
kubelet ``grpc:`` probe would call it (grpc.health.v1.Health/Check).
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator

import pytest
from netexec_helpers import (
    HOST,
    POD,
    Server,
    assert_quiet,
    close_pipes,
    connect,
    free_port,
    get,
    run,
    running,
    spawn,
    start_server,
    stop,
    wait_ready,
)

grpc = pytest.importorskip("grpc")
pytest.importorskip("grpc_health.v1.health")

from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from k8snet.node.grpc_health import GrpcBindError, HealthServer  # noqa: E402

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
RPC_TIMEOUT = 5.0


def _check(port: int, service: str = "") -> int:
    with grpc.insecure_channel(f"{HOST}:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=service),
                              timeout=RPC_TIMEOUT)
    return response.status


# ---------------------------------------------------------------------------
# HealthServer in this process
# ---------------------------------------------------------------------------

@pytest.fixture
def health_server() -> Iterator[tuple[HealthServer, int]]:
    port = free_port()
    server = HealthServer(HOST, [port])
    server.start()
    try:
        yield server, port
    finally:
        server.stop(0)


@pytest.mark.parametrize("service", ["", "grpc.health.v1.Health", "my.app.Orders"])
def test_check_any_service_is_serving(health_server: tuple[HealthServer, int],
                                      service: str) -> None:
    _, port = health_server
    assert _check(port, service) == SERVING


def test_watch_follows_status(health_server: tuple[HealthServer, int]) -> None:
    """Watch sends SERVING at once, then NOT_SERVING when shutting down."""
    server, port = health_server
    with grpc.insecure_channel(f"{HOST}:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        stream = stub.Watch(health_pb2.HealthCheckRequest(service="named"),
                            timeout=RPC_TIMEOUT)
        assert next(stream).status == SERVING
        server.stop(0.5)
        assert next(stream).status == NOT_SERVING


def test_several_ports() -> None:
    ports = [free_port(), free_port()]
    server = HealthServer(HOST, ports)
    server.start()
    try:
        assert [_check(port) for port in ports] == [SERVING, SERVING]
    finally:
        server.stop(0)
    server.stop(0)  # twice is harmless


def test_bind_error_names_port_and_reason() -> None:
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = HealthServer(HOST, [port])
        with pytest.raises(GrpcBindError) as excinfo:
            server.start()
    assert excinfo.value.port == port
    assert str(excinfo.value) == (
        f"cannot listen on gRPC port {port}: Address already in use")


def test_failed_start_releases_the_ports_it_bound() -> None:
    free = free_port()
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        with pytest.raises(GrpcBindError):
            HealthServer(HOST, [free, holder.getsockname()[1]]).start()
    with socket.socket() as again:
        again.bind((HOST, free))  # raises if grpc still held the port


def test_second_server_on_same_port_fails() -> None:
    """SO_REUSEPORT is off: two servers never share a port silently."""
    port = free_port()
    first = HealthServer(HOST, [port])
    first.start()
    try:
        with pytest.raises(GrpcBindError, match="Address already in use"):
            HealthServer(HOST, [port]).start()
    finally:
        first.stop(0)


# ---------------------------------------------------------------------------
# netexec --grpc-port in a subprocess
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def grpc_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(grpc_port: int) -> Iterator[Server]:
    with running("--grpc-port", str(grpc_port)) as srv:
        yield srv


def test_serving_line_lists_grpc_port(server: Server, grpc_port: int) -> None:
    assert server.line == (f"netexec: pod {POD} serving {server.tcp_port}/TCP "
                           f"{server.udp_port}/UDP {grpc_port}/gRPC on {HOST}\n").encode()


@pytest.mark.parametrize("service", ["", "liveness", "my.pkg.Service"])
def test_netexec_check_is_serving(server: Server, grpc_port: int, service: str) -> None:
    assert _check(grpc_port, service) == SERVING


def test_netexec_watch_yields_serving(server: Server, grpc_port: int) -> None:
    with grpc.insecure_channel(f"{HOST}:{grpc_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT)
        try:
            assert next(stream).status == SERVING
        finally:
            stream.cancel()


def test_other_ports_still_serve(server: Server) -> None:
    assert get(server.tcp_port, "/hostname").body == POD.encode()


def test_grpc_port_is_not_a_tcp_echo_port(server: Server, grpc_port: int) -> None:
    """A text line to the gRPC port gets no netexec echo (HTTP/2 only)."""
    with connect(grpc_port) as sock:
        sock.settimeout(2.0)
        sock.sendall(b"hello\n" * 8)
        try:
            data = sock.recv(4096)
        except (TimeoutError, ConnectionResetError):
            data = b""
    assert not data.startswith(POD.encode())


def test_no_stderr_noise(server: Server) -> None:
    assert_quiet(server.proc)


def test_grpc_only_with_agnhost() -> None:
    """--grpc-port alone binds no 8080, and works with --agnhost."""
    port = free_port()
    proc = spawn("--pod", POD, "--bind", HOST, "--agnhost", "--grpc-port", str(port))
    try:
        line = wait_ready(proc)
        assert line == f"netexec: pod {POD} serving {port}/gRPC on {HOST} (agnhost)\n".encode()
        assert _check(port, "anything") == SERVING
    finally:
        stop(proc)
        close_pipes(proc)


def test_sigterm_ends_watch_and_exits_0() -> None:
    port = free_port()
    srv = start_server("--grpc-port", str(port))
    try:
        with grpc.insecure_channel(f"{HOST}:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            stream = stub.Watch(health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT)
            assert next(stream).status == SERVING
            started = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            seen = []
            with pytest.raises(grpc.RpcError):
                for response in stream:
                    seen.append(response.status)
            assert seen in ([], [NOT_SERVING])
            assert srv.proc.wait(timeout=5) == 0
            assert time.monotonic() - started < 3
        assert srv.proc.stderr is not None and srv.proc.stderr.read() == b""
    finally:
        stop(srv.proc)
        close_pipes(srv.proc)


def test_grpc_port_in_use_exits_1() -> None:
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run("--pod", POD, "--bind", HOST, "--port", str(free_port()),
                     "--grpc-port", str(port))
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"netexec: cannot listen on gRPC port {port}: Address already in use\n")
    assert result.stdout == b""
