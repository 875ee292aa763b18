"""Tests for k8snet.node.netexec: command line, pure helpers, and the default
(stand-in) personality against a real server subprocess.

HTTP parsing and the stand-in routes as pure functions are tested in
test_netexec_http.py, the agnhost personality in test_netexec_agnhost.py,
gRPC health in test_grpc_health.py; the subprocess helpers are in
netexec_helpers.py.
"""

from __future__ import annotations

import http.client
import signal
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from netexec_helpers import (
    HOST,
    POD,
    TIMEOUT,
    Server,
    assert_quiet,
    close_pipes,
    connect,
    free_port,
    get,
    http_raw,
    recv_all,
    recv_line,
    run,
    start_server,
    stop,
    udp,
)

from k8snet.node import netexec
from k8snet.node.netexec import (
    BAD_REQUEST_BODY,
    Config,
    PortSpec,
    describe_os_error,
    echo_line_reply,
    format_addr,
    parse_args,
    parse_port_spec,
    udp_reply,
)

# ---------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "expected"), [
    ("8080", PortSpec(8080, "TCP")),
    ("8080/TCP", PortSpec(8080, "TCP")),
    ("5353/UDP", PortSpec(5353, "UDP")),
    ("5353/udp", PortSpec(5353, "UDP")),
    ("1", PortSpec(1, "TCP")),
    ("65535/tcp", PortSpec(65535, "TCP")),
])
def test_parse_port_spec_valid(spec: str, expected: PortSpec) -> None:
    assert parse_port_spec(spec) == expected


@pytest.mark.parametrize(("spec", "reason"), [
    ("abc", "invalid port"),
    ("", "invalid port"),
    ("/TCP", "invalid port"),
    ("+80", "invalid port"),
    ("-1", "invalid port"),
    ("8 0", "invalid port"),
    ("\u0668\u0660", "invalid port"),  # Arabic-Indic digits
    ("0", "out of range"),
    ("70000", "out of range"),
    ("80/SCTP", "invalid protocol"),
    ("80/", "invalid protocol"),
    ("80/TCP/UDP", "invalid protocol"),
])
def test_parse_port_spec_invalid(spec: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_port_spec(spec)


def test_port_spec_str() -> None:
    assert str(PortSpec(53, "UDP")) == "53/UDP"


def test_parse_args_full() -> None:
    config = parse_args(["--pod", "web-1", "--port", "8080/TCP",
                         "--port", "5353/UDP", "--port", "5353",
                         "--bind", "::"])
    assert config == Config(
        pod="web-1", bind="::",
        ports=(PortSpec(8080, "TCP"), PortSpec(5353, "UDP"),
               PortSpec(5353, "TCP")))


def test_parse_args_defaults() -> None:
    config = parse_args([])
    assert config.pod == socket.gethostname()
    assert config.bind == "0.0.0.0"
    assert config.ports == (PortSpec(8080, "TCP"),)
    assert config.grpc_ports == ()
    assert config.agnhost is False


def test_parse_args_grpc_and_agnhost() -> None:
    config = parse_args(["--pod", "p", "--port", "8080", "--port", "9090/UDP",
                         "--grpc-port", "9090", "--grpc-port", "9091", "--agnhost"])
    assert config.ports == (PortSpec(8080, "TCP"), PortSpec(9090, "UDP"))
    assert config.grpc_ports == (9090, 9091)
    assert config.agnhost is True


def test_parse_args_grpc_only_has_no_default_tcp_port() -> None:
    """A container that declares only its gRPC port gets no extra 8080."""
    config = parse_args(["--pod", "p", "--grpc-port", "9090"])
    assert config.ports == ()
    assert config.grpc_ports == (9090,)


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--port", "abc"], "'abc'"),
    (["--port", "70000"], "70000"),
    (["--port", "80/SCTP"], "SCTP"),
    (["--port", "80", "--port", "80/tcp"], "80/TCP given twice"),
    (["--bind", "localhost"], "invalid IP address"),
    (["--pod", ""], "--pod"),
    (["--bogus"], "unrecognized arguments"),
    (["--grpc-port", "0"], "invalid gRPC port '0'"),
    (["--grpc-port", "9090/UDP"], "invalid gRPC port"),
    (["--grpc-port", "9090", "--grpc-port", "9090"], "--grpc-port: 9090 given twice"),
    (["--port", "9090", "--grpc-port", "9090"], "9090 is also given as --port 9090/TCP"),
    (["--agnhost=yes"], "--agnhost"),
])
def test_parse_args_errors_exit_2_with_one_line(
        argv: list[str], fragment: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        parse_args(argv)
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("netexec: error: ")
    assert err.count("\n") == 1
    assert fragment in err


@pytest.mark.parametrize(("addr", "expected"), [
    (("10.1.2.3", 4567), "10.1.2.3:4567"),
    (("fd00::5", 80, 0, 0), "[fd00::5]:80"),
    (("::ffff:10.0.0.7", 1234, 0, 0), "10.0.0.7:1234"),
    (None, "unknown"),
])
def test_format_addr(addr: object, expected: str) -> None:
    assert format_addr(addr) == expected


@pytest.mark.parametrize(("line", "expected"), [
    (b"hello\n", b"pod-a: hello\n"),
    (b"hello\r\n", b"pod-a: hello\n"),
    (b"tail", b"pod-a: tail\n"),
    (b"\n", b"pod-a: \n"),
    (b"a\rb\n", b"pod-a: a\rb\n"),
    (b"\xff\x00\n", b"pod-a: \xff\x00\n"),
])
def test_echo_line_reply(line: bytes, expected: bytes) -> None:
    assert echo_line_reply("pod-a", line) == expected


@pytest.mark.parametrize(("payload", "expected"), [
    (b"ping", b"pod-a: ping"),
    (b"ping\n", b"pod-a: ping\n"),
    (b"", b"pod-a: "),
    (b"hostname", b"pod-a"),
    (b" hostname\n", b"pod-a"),
    (b"clientip", b"10.0.0.1:999"),
    (b"hostnames", b"pod-a: hostnames"),
])
def test_udp_reply(payload: bytes, expected: bytes) -> None:
    assert udp_reply("pod-a", payload, "10.0.0.1:999") == expected


def test_udp_reply_fits_in_a_datagram() -> None:
    reply = udp_reply("pod-a", b"x" * 65507, "c")
    assert len(reply) == netexec.MAX_UDP_PAYLOAD
    assert reply.startswith(b"pod-a: xxx")


def test_describe_os_error() -> None:
    import errno

    wrapped = OSError(errno.EADDRINUSE,
                      "error while attempting to bind: address already in use")
    assert describe_os_error(wrapped) == "Address already in use"
    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert describe_os_error(gai) == "Name or service not known"


# ---------------------------------------------------------------------------
# Real server in a subprocess (stand-in personality)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = start_server()
    try:
        yield srv
    finally:
        stop(srv.proc)
        close_pipes(srv.proc)


@pytest.fixture
def fresh_server() -> Iterator[Server]:
    """A server of its own, for tests that end it."""
    srv = start_server()
    try:
        yield srv
    finally:
        stop(srv.proc)
        close_pipes(srv.proc)


def test_serving_line(server: Server) -> None:
    assert server.line == (f"netexec: pod {POD} serving {server.tcp_port}/TCP "
                           f"{server.udp_port}/UDP on {HOST}\n").encode()


def test_http_hostname(server: Server) -> None:
    reply = get(server.tcp_port, "/hostname")
    assert reply.status == 200
    assert reply.body == POD.encode()


def test_http_clientip(server: Server) -> None:
    reply = get(server.tcp_port, "/clientip")
    assert reply.status == 200
    assert reply.body == reply.local.encode()
    assert reply.body.startswith(b"127.0.0.1:")


def test_http_echo(server: Server) -> None:
    reply = get(server.tcp_port, "/echo?msg=hello%20world%2Fx")
    assert reply.status == 200
    assert reply.body == b"hello world/x"


def test_http_root_and_healthz(server: Server) -> None:
    assert get(server.tcp_port, "/").body == POD.encode() + b"\n"
    reply = get(server.tcp_port, "/healthz")
    assert (reply.status, reply.body) == (200, b"ok")


@pytest.mark.parametrize("target", ["/no/such/thing", "/not-ready", "/_healthz",
                                    "/healthz/deep?x=1", "http://svc/ready"])
def test_http_any_path_is_200(server: Server, target: str) -> None:
    """Stand-in: a probe on any path passes; the body names pod and path."""
    reply = get(server.tcp_port, target)
    assert reply.status == 200
    path = target.removeprefix("http://svc").partition("?")[0]
    assert reply.body == f"{POD}: {path}\n".encode()


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_http_probe_with_headers_passes(server: Server, method: str) -> None:
    """A kubelet httpGet probe with httpHeaders (any method) answers 200."""
    conn = http.client.HTTPConnection(HOST, server.tcp_port, timeout=TIMEOUT)
    try:
        conn.request(method, "/_healthz", headers={
            "User-Agent": "kube-probe/1.35", "X-Custom-Header": "Awesome",
            "Authorization": "Bearer abc"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == f"{POD}: /_healthz\n".encode()
    finally:
        conn.close()


def test_http_header_endpoint(server: Server) -> None:
    reply = get(server.tcp_port, "/header?key=x-forwarded-for",
                headers=(("X-Forwarded-For", "10.9.8.7"),))
    assert (reply.status, reply.body) == (200, b"10.9.8.7")
    reply = get(server.tcp_port, "/header", headers=(("X-A", "1"),))
    assert reply.body == b'{"X-A":["1"]}'


def test_http_head(server: Server) -> None:
    reply = get(server.tcp_port, "/hostname", method="HEAD")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.body == b""
    assert reply.headers["content-length"] == str(len(POD))


def test_http_post_with_body(server: Server) -> None:
    reply = http_raw(server.tcp_port,
                  b"POST /echo?msg=posted HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 11\r\n\r\nhello=world")
    assert (reply.status, reply.body) == (200, b"posted")


def test_http_client_library(server: Server) -> None:
    conn = http.client.HTTPConnection(HOST, server.tcp_port,
                                      timeout=TIMEOUT)
    try:
        conn.request("GET", "/echo?msg=caf%C3%A9")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read().decode() == "caf\u00e9"
    finally:
        conn.close()


@pytest.mark.parametrize("request_bytes", [
    b"GET /x HTTP/9.9\r\n\r\n",
    b"GET /hostname\r\n\r\n",
    b"GET / HTTP/1.1\r\nbroken header\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: cut-short",
])
def test_http_malformed_is_400(server: Server, request_bytes: bytes) -> None:
    with connect(server.tcp_port) as sock:
        sock.sendall(request_bytes)
        sock.shutdown(socket.SHUT_WR)
        data = recv_all(sock)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert data.endswith(b"\r\n\r\n" + BAD_REQUEST_BODY)


def test_tcp_echo_lines(server: Server) -> None:
    with connect(server.tcp_port) as sock:
        sock.sendall(b"hello\r\nworld\n\nGETTING started\nlast")
        sock.shutdown(socket.SHUT_WR)
        data = recv_all(sock)
    pod = POD.encode()
    assert data == (pod + b": hello\n" + pod + b": world\n" + pod + b": \n"
                    + pod + b": GETTING started\n" + pod + b": last\n")


def test_tcp_echo_is_interactive(server: Server) -> None:
    """Each line is answered before the client sends the next one."""
    with connect(server.tcp_port) as sock:
        for word in (b"one", b"two", b"GET / HTTP/1.1"):
            sock.sendall(word + b"\n")
            assert recv_line(sock) == POD.encode() + b": " + word + b"\n"


def test_tcp_echo_long_line(server: Server) -> None:
    line = b"z" * (netexec.MAX_LINE + 10)
    with connect(server.tcp_port) as sock:
        sock.sendall(line + b"\n")
        sock.shutdown(socket.SHUT_WR)
        data = recv_all(sock)
    prefix = POD.encode() + b": "
    replies = data.split(b"\n")[:-1]
    assert all(reply.startswith(prefix) for reply in replies)
    assert b"".join(reply[len(prefix):] for reply in replies) == line


def test_survives_bad_clients(server: Server) -> None:
    with connect(server.tcp_port) as sock:  # disconnect mid-request
        sock.sendall(b"GET /hostna")
    with connect(server.tcp_port) as sock:  # connect and leave at once
        pass
    with connect(server.tcp_port) as sock:  # reset with unread replies
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        sock.sendall(b"\x00\xff\xfe binary\n" * 1000)
    with connect(server.tcp_port) as sock:  # bytes that are not UTF-8
        sock.sendall(b"\xff\xfe\n")
        assert recv_line(sock) == POD.encode() + b": \xff\xfe\n"
    time.sleep(0.2)
    assert server.proc.poll() is None
    assert get(server.tcp_port, "/hostname").body == POD.encode()
    assert udp(server.udp_port, b"still there")[0] == (
        POD.encode() + b": still there")


def test_udp_echo(server: Server) -> None:
    data, _ = udp(server.udp_port, b"ping 123\n")
    assert data == POD.encode() + b": ping 123\n"


def test_udp_hostname(server: Server) -> None:
    data, _ = udp(server.udp_port, b"hostname")
    assert data == POD.encode()


def test_udp_clientip(server: Server) -> None:
    data, local = udp(server.udp_port, b"clientip\n")
    assert data == local.encode()


def test_udp_port_is_not_tcp(server: Server) -> None:
    """Only the protocols asked for are served."""
    with pytest.raises(ConnectionRefusedError):
        connect(server.udp_port).close()


def test_no_stderr_noise_while_serving(server: Server) -> None:
    """Bad clients above must not have produced tracebacks."""
    assert_quiet(server.proc)


@pytest.mark.parametrize("spec", ["abc", "70000", "0", "80/SCTP", "80/"])
def test_bad_port_spec_exits_2(spec: str) -> None:
    result = run("--pod", POD, "--bind", HOST, "--port", spec)
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.startswith("netexec: error: argument --port: ")
    assert err.count("\n") == 1
    assert result.stdout == b""


def test_port_in_use_exits_1() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run("--pod", POD, "--bind", HOST, "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"netexec: cannot listen on TCP port {port}: "
        "Address already in use\n")


def test_udp_port_in_use_exits_1() -> None:
    tcp_port = free_port(socket.SOCK_STREAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind((HOST, 0))
        port = holder.getsockname()[1]
        result = run("--pod", POD, "--bind", HOST,
                      "--port", str(tcp_port), "--port", f"{port}/UDP")
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"netexec: cannot listen on UDP port {port}: "
        "Address already in use\n")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_cleanly(fresh_server: Server, signum: int) -> None:
    proc = fresh_server.proc
    with connect(fresh_server.tcp_port) as idle:  # an open echo session
        idle.sendall(b"hi\n")
        assert recv_line(idle) == POD.encode() + b": hi\n"
        started = time.monotonic()
        proc.send_signal(signum)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 3
        assert idle.recv(100) == b""  # the server closed the session
    assert proc.stderr is not None
    assert proc.stderr.read() == b""


def test_missing_grpc_package_is_one_line_error() -> None:
    """--grpc-port without grpcio-health-checking: exit 1 naming the package."""
    result = run("--pod", POD, "--bind", HOST, "--grpc-port", str(free_port()),
                 prelude="sys.modules['grpc_health'] = None")
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.count("\n") == 1
    assert err.startswith("netexec: --grpc-port needs the Python package "
                          "grpcio-health-checking")
    assert result.stdout == b""


def test_missing_grpcio_names_grpcio() -> None:
    result = run("--pod", POD, "--grpc-port", str(free_port()),
                 prelude="sys.modules['grpc'] = None")
    assert result.returncode == 1
    assert result.stderr.decode().startswith(
        "netexec: --grpc-port needs the Python package grpcio ")


def test_without_grpc_port_grpc_is_not_needed() -> None:
    """The plain server must start even where grpcio is not installed."""
    port = free_port()
    result = run("--pod", POD, "--bind", HOST, "--port", str(port),
                 prelude="sys.modules['grpc'] = None\n"
                         "import signal, threading\n"
                         "threading.Timer(1.0, signal.raise_signal,"
                         " (signal.SIGTERM,)).start()")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == (
        f"netexec: pod {POD} serving {port}/TCP on {HOST}\n")
