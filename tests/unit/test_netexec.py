"""Tests for k8snet.node.netexec: pure helpers plus a real server subprocess.

All traffic stays on 127.0.0.1, every socket has a timeout and every
subprocess is killed in a finally block, so a broken server fails the
tests instead of hanging them.
"""

from __future__ import annotations

import http.client
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from k8snet.node import netexec
from k8snet.node.netexec import (
    BAD_REQUEST_BODY,
    NOT_FOUND_BODY,
    Config,
    PortSpec,
    build_response,
    describe_os_error,
    echo_line_reply,
    format_addr,
    looks_like_http,
    parse_args,
    parse_port_spec,
    parse_request_head,
    route_request,
    split_target,
    udp_reply,
)

REPO = Path(__file__).resolve().parents[2]
POD = "test-pod-1"
HOST = "127.0.0.1"
TIMEOUT = 5.0


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


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--port", "abc"], "'abc'"),
    (["--port", "70000"], "70000"),
    (["--port", "80/SCTP"], "SCTP"),
    (["--port", "80", "--port", "80/tcp"], "80/TCP given twice"),
    (["--bind", "localhost"], "invalid IP address"),
    (["--pod", ""], "--pod"),
    (["--bogus"], "unrecognized arguments"),
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
    (b"GET /hostname HTTP/1.1\r\n", True),
    (b"POST /echo HTTP/1.0\n", True),
    (b"HEAD / HTTP/1.1\r\n", True),
    (b"DELETE /x HTTP/1.1\r\n", True),
    (b"GET nonsense\n", True),
    (b"GETTING started\n", False),
    (b"get / HTTP/1.1\r\n", False),
    (b"GET\n", False),
    (b"hello world\n", False),
    (b"", False),
])
def test_looks_like_http(line: bytes, expected: bool) -> None:
    assert looks_like_http(line) is expected


def test_parse_request_head_valid() -> None:
    request = parse_request_head(
        b"POST /echo?msg=x HTTP/1.1\r\n"
        b"Host: example\r\n"
        b"Content-Length:  3 \r\n"
        b"\r\n")
    assert request.method == "POST"
    assert request.target == "/echo?msg=x"
    assert request.version == "HTTP/1.1"
    assert request.headers == {"host": "example", "content-length": "3"}


def test_parse_request_head_bare_newlines() -> None:
    request = parse_request_head(b"GET / HTTP/1.0\nX-A: b\n\n")
    assert request.headers == {"x-a": "b"}


@pytest.mark.parametrize("head", [
    b"",
    b"\r\n",
    b"GET /\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\n\r\n",
    b"GET  / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n",
    b"GET / http/1.1\r\n\r\n",
    b"BREW / HTTP/1.1\r\n\r\n",
    b"GET /\x01 HTTP/1.1\r\n\r\n",
    b"GET /\xff HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
    b"GET / HTTP/1.1\r\nName : value\r\n\r\n",
    b"GET / HTTP/1.1\r\n folded: value\r\n\r\n",
    b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
    b"GET / HTTP/1.1\r\nN\xe9: v\r\n\r\n",
])
def test_parse_request_head_malformed(head: bytes) -> None:
    with pytest.raises(ValueError):
        parse_request_head(head)


@pytest.mark.parametrize(("target", "expected"), [
    ("/hostname", ("/hostname", "")),
    ("/echo?msg=a&b=c", ("/echo", "msg=a&b=c")),
    ("/echo?msg=a#frag", ("/echo", "msg=a")),
    ("http://svc.local:8080/clientip?x=1", ("/clientip", "x=1")),
    ("http://svc.local", ("/", "")),
    ("*", ("*", "")),
])
def test_split_target(target: str, expected: tuple[str, str]) -> None:
    assert split_target(target) == expected


@pytest.mark.parametrize(("target", "status", "body"), [
    ("/hostname", 200, POD.encode()),
    ("/hostname?ignored=1", 200, POD.encode()),
    ("/clientip", 200, b"10.0.0.9:40000"),
    ("/echo?msg=hello", 200, b"hello"),
    ("/echo?msg=hello%20world%21", 200, b"hello world!"),
    ("/echo?msg=a+b", 200, b"a b"),
    ("/echo?other=1&msg=second", 200, b"second"),
    ("/echo?msg=first&msg=second", 200, b"first"),
    ("/echo?msg=", 200, b""),
    ("/echo", 200, b""),
    ("/echo?msg=%C3%A9", 200, "\u00e9".encode()),
    ("/echo?msg=%FF%00", 200, b"\xff\x00"),
    ("/", 200, POD.encode() + b"\n"),
    ("/healthz", 200, b"ok"),
    ("/nope", 404, NOT_FOUND_BODY),
    ("/hostname/", 404, NOT_FOUND_BODY),
    ("/HOSTNAME", 404, NOT_FOUND_BODY),
    ("*", 404, NOT_FOUND_BODY),
])
def test_route_request(target: str, status: int, body: bytes) -> None:
    assert route_request(target, POD, "10.0.0.9:40000") == (status, body)


def test_route_request_unicode_pod() -> None:
    assert route_request("/hostname", "p\u00f6d", "x") == (200, b"p\xc3\xb6d")


def test_build_response() -> None:
    response = build_response(200, b"hello")
    head, sep, body = response.partition(b"\r\n\r\n")
    assert sep
    assert body == b"hello"
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"Content-Type: text/plain; charset=utf-8" in lines
    assert b"Content-Length: 5" in lines
    assert b"Connection: close" in lines


def test_build_response_404_and_400() -> None:
    assert build_response(404, NOT_FOUND_BODY).startswith(
        b"HTTP/1.1 404 Not Found\r\n")
    assert build_response(400, BAD_REQUEST_BODY).startswith(
        b"HTTP/1.1 400 Bad Request\r\n")


def test_build_response_head_keeps_length_drops_body() -> None:
    response = build_response(200, b"hello", include_body=False)
    assert response.endswith(b"\r\n\r\n")
    assert b"hello" not in response
    assert b"Content-Length: 5\r\n" in response


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
# Real server in a subprocess
# ---------------------------------------------------------------------------

class Server(NamedTuple):
    proc: subprocess.Popen[bytes]
    tcp_port: int
    udp_port: int


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "k8snet.node.netexec", *args],
        cwd=REPO, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "k8snet.node.netexec", *args],
        cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True,
        timeout=20, check=False)


def _wait_ready(proc: subprocess.Popen[bytes]) -> bytes:
    """Wait for the 'serving' line that netexec prints once bound."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline() if ready else b""
    if b"serving" not in line:
        _stop(proc)
        assert proc.stderr is not None
        pytest.fail(f"netexec did not start: stdout={line!r} "
                    f"stderr={proc.stderr.read()!r}")
    return line


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _start_server() -> Server:
    tcp_port = _free_port(socket.SOCK_STREAM)
    udp_port = _free_port(socket.SOCK_DGRAM)
    proc = _spawn("--pod", POD, "--bind", HOST,
                  "--port", f"{tcp_port}/TCP", "--port", f"{udp_port}/udp")
    try:
        line = _wait_ready(proc)
    except BaseException:
        _stop(proc)
        _close_pipes(proc)
        raise
    assert line == (f"netexec: pod {POD} serving {tcp_port}/TCP "
                    f"{udp_port}/UDP on {HOST}\n").encode()
    return Server(proc, tcp_port, udp_port)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = _start_server()
    try:
        yield srv
    finally:
        _stop(srv.proc)
        _close_pipes(srv.proc)


@pytest.fixture
def fresh_server() -> Iterator[Server]:
    """A server of its own, for tests that end it."""
    srv = _start_server()
    try:
        yield srv
    finally:
        _stop(srv.proc)
        _close_pipes(srv.proc)


def _connect(port: int) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=TIMEOUT)


def _recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _recv_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes
    local: str


def _http(port: int, request: bytes) -> Reply:
    """Send raw request bytes, read until the server closes."""
    with _connect(port) as sock:
        ip, local_port = sock.getsockname()
        local = f"{ip}:{local_port}"
        sock.sendall(request)
        data = _recv_all(sock)
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no end of headers in {data!r}"
    lines = head.decode("latin-1").split("\r\n")
    version, status, _ = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status), headers, body, local)


def _get(port: int, target: str, method: str = "GET") -> Reply:
    reply = _http(port, f"{method} {target} HTTP/1.1\r\n"
                        f"Host: {HOST}\r\n\r\n".encode())
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.headers["connection"] == "close"
    if method != "HEAD":
        assert int(reply.headers["content-length"]) == len(reply.body)
    return reply


def _udp(port: int, payload: bytes) -> tuple[bytes, str]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.bind((HOST, 0))
        sock.sendto(payload, (HOST, port))
        data, sender = sock.recvfrom(65535)
        ip, local_port = sock.getsockname()
        local = f"{ip}:{local_port}"
    assert sender == (HOST, port)
    return data, local


def test_http_hostname(server: Server) -> None:
    reply = _get(server.tcp_port, "/hostname")
    assert reply.status == 200
    assert reply.body == POD.encode()


def test_http_clientip(server: Server) -> None:
    reply = _get(server.tcp_port, "/clientip")
    assert reply.status == 200
    assert reply.body == reply.local.encode()
    assert reply.body.startswith(b"127.0.0.1:")


def test_http_echo(server: Server) -> None:
    reply = _get(server.tcp_port, "/echo?msg=hello%20world%2Fx")
    assert reply.status == 200
    assert reply.body == b"hello world/x"


def test_http_root_and_healthz(server: Server) -> None:
    assert _get(server.tcp_port, "/").body == POD.encode() + b"\n"
    reply = _get(server.tcp_port, "/healthz")
    assert (reply.status, reply.body) == (200, b"ok")


def test_http_unknown_path_is_404(server: Server) -> None:
    reply = _get(server.tcp_port, "/no/such/thing")
    assert reply.status == 404
    assert reply.body == NOT_FOUND_BODY


def test_http_head(server: Server) -> None:
    reply = _get(server.tcp_port, "/hostname", method="HEAD")
    assert reply.status == 200
    assert reply.body == b""
    assert reply.headers["content-length"] == str(len(POD))


def test_http_post_with_body(server: Server) -> None:
    reply = _http(server.tcp_port,
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
    with _connect(server.tcp_port) as sock:
        sock.sendall(request_bytes)
        sock.shutdown(socket.SHUT_WR)
        data = _recv_all(sock)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert data.endswith(b"\r\n\r\n" + BAD_REQUEST_BODY)


def test_tcp_echo_lines(server: Server) -> None:
    with _connect(server.tcp_port) as sock:
        sock.sendall(b"hello\r\nworld\n\nGETTING started\nlast")
        sock.shutdown(socket.SHUT_WR)
        data = _recv_all(sock)
    pod = POD.encode()
    assert data == (pod + b": hello\n" + pod + b": world\n" + pod + b": \n"
                    + pod + b": GETTING started\n" + pod + b": last\n")


def test_tcp_echo_is_interactive(server: Server) -> None:
    """Each line is answered before the client sends the next one."""
    with _connect(server.tcp_port) as sock:
        for word in (b"one", b"two", b"GET / HTTP/1.1"):
            sock.sendall(word + b"\n")
            assert _recv_line(sock) == POD.encode() + b": " + word + b"\n"


def test_tcp_echo_long_line(server: Server) -> None:
    line = b"z" * (netexec.MAX_LINE + 10)
    with _connect(server.tcp_port) as sock:
        sock.sendall(line + b"\n")
        sock.shutdown(socket.SHUT_WR)
        data = _recv_all(sock)
    prefix = POD.encode() + b": "
    replies = data.split(b"\n")[:-1]
    assert all(reply.startswith(prefix) for reply in replies)
    assert b"".join(reply[len(prefix):] for reply in replies) == line


def test_survives_bad_clients(server: Server) -> None:
    with _connect(server.tcp_port) as sock:  # disconnect mid-request
        sock.sendall(b"GET /hostna")
    with _connect(server.tcp_port) as sock:  # connect and leave at once
        pass
    with _connect(server.tcp_port) as sock:  # reset with unread replies
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        sock.sendall(b"\x00\xff\xfe binary\n" * 1000)
    with _connect(server.tcp_port) as sock:  # bytes that are not UTF-8
        sock.sendall(b"\xff\xfe\n")
        assert _recv_line(sock) == POD.encode() + b": \xff\xfe\n"
    time.sleep(0.2)
    assert server.proc.poll() is None
    assert _get(server.tcp_port, "/hostname").body == POD.encode()
    assert _udp(server.udp_port, b"still there")[0] == (
        POD.encode() + b": still there")


def test_udp_echo(server: Server) -> None:
    data, _ = _udp(server.udp_port, b"ping 123\n")
    assert data == POD.encode() + b": ping 123\n"


def test_udp_hostname(server: Server) -> None:
    data, _ = _udp(server.udp_port, b"hostname")
    assert data == POD.encode()


def test_udp_clientip(server: Server) -> None:
    data, local = _udp(server.udp_port, b"clientip\n")
    assert data == local.encode()


def test_udp_port_is_not_tcp(server: Server) -> None:
    """Only the protocols asked for are served."""
    with pytest.raises(ConnectionRefusedError):
        _connect(server.udp_port).close()


def test_no_stderr_noise_while_serving(server: Server) -> None:
    """Bad clients above must not have produced tracebacks."""
    assert server.proc.stderr is not None
    ready, _, _ = select.select([server.proc.stderr], [], [], 0.2)
    assert not ready, server.proc.stderr.read1(4096)


@pytest.mark.parametrize("spec", ["abc", "70000", "0", "80/SCTP", "80/"])
def test_bad_port_spec_exits_2(spec: str) -> None:
    result = _run("--pod", POD, "--bind", HOST, "--port", spec)
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
        result = _run("--pod", POD, "--bind", HOST, "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"netexec: cannot listen on TCP port {port}: "
        "Address already in use\n")


def test_udp_port_in_use_exits_1() -> None:
    tcp_port = _free_port(socket.SOCK_STREAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind((HOST, 0))
        port = holder.getsockname()[1]
        result = _run("--pod", POD, "--bind", HOST,
                      "--port", str(tcp_port), "--port", f"{port}/UDP")
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"netexec: cannot listen on UDP port {port}: "
        "Address already in use\n")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_cleanly(fresh_server: Server, signum: int) -> None:
    proc = fresh_server.proc
    with _connect(fresh_server.tcp_port) as idle:  # an open echo session
        idle.sendall(b"hi\n")
        assert _recv_line(idle) == POD.encode() + b": hi\n"
        started = time.monotonic()
        proc.send_signal(signum)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 3
        assert idle.recv(100) == b""  # the server closed the session
    assert proc.stderr is not None
    assert proc.stderr.read() == b""
