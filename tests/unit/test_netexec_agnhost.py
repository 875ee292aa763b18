"""Tests for the agnhost personality (``netexec --agnhost``).

Pure helpers first, then a real server subprocess: agnhost's endpoints,
404 for paths agnhost does not serve (/not-ready), /dial against the server
itself over HTTP and UDP, agnhost's UDP commands, /exit and /shutdown.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
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
    recv_all,
    recv_line,
    running,
    start_server,
    stop,
    udp,
)

from k8snet.node.netexec_agnhost import (
    AgnhostHttp,
    agnhost_udp_reply,
    clean_path,
    go_now,
    parse_go_duration,
    redirect_reply,
)
from k8snet.node.netexec_http import NOT_FOUND_BODY, HttpReply, HttpRequest

NOW = re.compile(rb"NOW: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? [+-]\d{4} \S+ m=\+\d+\.\d{9}")


# ---------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0.0), ("1s", 1.0), ("300ms", 0.3), ("1.5h", 5400.0), ("2h45m", 9900.0),
    ("-1s", -1.0), ("+2m", 120.0), (".5s", 0.5), ("1us", 1e-6), ("1µs", 1e-6),
    ("10ns", 1e-8),
])
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "s", ".s", "1d", "1 s", "-", "1s2", "xx"])
def test_parse_go_duration_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(("path", "expected"), [
    ("/", "/"), ("/a//b", "/a/b"), ("/a/./b/", "/a/b/"), ("/a/../b", "/b"),
    ("/..", "/"), ("/x/.", "/x"), ("a", "/a"), ("//", "/"),
])
def test_clean_path(path: str, expected: str) -> None:
    assert clean_path(path) == expected


def test_go_now_shape() -> None:
    assert NOW.fullmatch(f"NOW: {go_now()}".encode())


@pytest.mark.parametrize(("method", "path", "location", "expected"), [
    ("GET", "/redirect", "/echo?msg=a", "/echo?msg=a"),
    ("GET", "/redirect", "echo?msg=a", "/echo?msg=a"),
    ("GET", "/x/redirect", "../y/./z/", "/y/z/"),
    ("GET", "/redirect", "http://example.com/p", "http://example.com/p"),
    ("POST", "/redirect", "", "/"),
])
def test_redirect_reply(method: str, path: str, location: str, expected: str) -> None:
    reply = redirect_reply(method, path, location, 302)
    assert reply.status == 302
    assert reply.headers == (("Location", expected),)
    if method == "GET":
        assert reply.body == f'<a href="{expected}">Found</a>.\n\n'.encode()
    else:
        assert reply.body == b""


@pytest.mark.parametrize(("payload", "expected"), [
    (b"hostname", POD.encode()),
    (b"  HostName\n", POD.encode()),
    (b"clientip", b"10.0.0.1:999"),
    (b"echo Hello World", b"hello world"),   # agnhost lower-cases the datagram
    (b"echo ", None),                        # trimmed to "echo": unknown
    (b"ping", None),
    (b"", None),
])
def test_agnhost_udp_reply(payload: bytes, expected: bytes | None) -> None:
    assert agnhost_udp_reply(POD, payload, "10.0.0.1:999") == expected


def _reply(target: str, method: str = "GET") -> tuple[HttpReply | None, list]:
    exits: list = []
    handler = AgnhostHttp(POD, lambda code, grace: exits.append((code, grace)))
    request = HttpRequest(method, target, "HTTP/1.1", {"host": "h"}, (("Host", "h"),))
    return asyncio.run(handler.reply(request, "10.0.0.9:4000")), exits


@pytest.mark.parametrize(("target", "status", "body"), [
    ("/hostname", 200, POD.encode()),
    ("/hostName", 200, POD.encode()),
    ("/clientip", 200, b"10.0.0.9:4000"),
    ("/echo?msg=hi", 200, b"hi"),
    ("/echo?msg=hi&code=503", 503, b"hi"),
    ("/echo?msg=hi&code=102", 200, b"hi"),
    ("/echo?code=x", 200, b"argument 'code' must be an integer or empty, got \"x\"\n"),
    ("/healthz", 200, b""),
    ("/readyz", 200, b"ok"),
    ("/header", 200, b"{}"),
    ("/not-ready", 404, NOT_FOUND_BODY),
    ("/hostname/", 404, NOT_FOUND_BODY),
    ("/HOSTNAME", 404, NOT_FOUND_BODY),
    ("*", 404, NOT_FOUND_BODY),
    ("/dial", 400, b"request parameter not specified. <nil>\n"),
    ("/dial?request=x&protocol=tcp", 400, b"unsupported protocol. tcp\n"),
    ("/exit?wait=soon", 200,
     b"argument 'wait' must be a valid golang duration or empty, got \"soon\"\n"),
    ("/exit?code=x", 200,
     b"argument 'code' must be an integer [0-127] or empty, got \"x\"\n"),
])
def test_agnhost_routes(target: str, status: int, body: bytes) -> None:
    reply, exits = _reply(target)
    assert reply is not None
    assert (reply.status, reply.body) == (status, body)
    assert exits == []


def test_agnhost_root_is_the_time() -> None:
    reply, _ = _reply("/")
    assert reply is not None and reply.status == 200
    assert NOW.fullmatch(reply.body)


def test_agnhost_unclean_path_redirects() -> None:
    reply, _ = _reply("/a/../hostname?x=1")
    assert reply is not None
    assert reply.status == 301
    assert reply.headers == (("Location", "/hostname?x=1"),)


@pytest.mark.parametrize("target", ["/echo?code=5", "/echo?code=1000", "/redirect?code=42"])
def test_agnhost_impossible_status_hangs_up(target: str) -> None:
    """Go's WriteHeader panics there and the connection is dropped."""
    assert _reply(target)[0] is None


@pytest.mark.parametrize(("target", "exits", "answered"), [
    ("/shutdown", [(0, None)], False),
    ("/exit", [(0, None)], False),
    ("/exit?code=7&timeout=0s", [(7, None)], False),
    ("/exit?code=3&timeout=2s", [(3, 2.0)], True),
    ("/exit?code=4&timeout=1s&wait=10ms", [(4, 1.0)], True),
])
def test_agnhost_exit_requests(target: str, exits: list, answered: bool) -> None:
    reply, seen = _reply(target)
    assert seen == exits
    assert (reply is not None) is answered


# ---------------------------------------------------------------------------
# Real server in a subprocess
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def agnhost() -> Iterator[Server]:
    with running("--agnhost") as srv:
        yield srv


def test_agnhost_serving_line(agnhost: Server) -> None:
    assert agnhost.line == (f"netexec: pod {POD} serving {agnhost.tcp_port}/TCP "
                            f"{agnhost.udp_port}/UDP on {HOST} (agnhost)\n").encode()


def test_agnhost_not_ready_is_404(agnhost: Server) -> None:
    reply = get(agnhost.tcp_port, "/not-ready")
    assert (reply.status, reply.body) == (404, NOT_FOUND_BODY)
    assert get(agnhost.tcp_port, "/no/such/path", method="POST").status == 404


def test_agnhost_hostname_and_friends(agnhost: Server) -> None:
    assert get(agnhost.tcp_port, "/hostname").body == POD.encode()
    reply = get(agnhost.tcp_port, "/clientip")
    assert reply.body == reply.local.encode()
    assert get(agnhost.tcp_port, "/echo?msg=a%20b").body == b"a b"
    assert (get(agnhost.tcp_port, "/healthz").status, get(agnhost.tcp_port, "/").status) == (
        200, 200)
    assert NOW.fullmatch(get(agnhost.tcp_port, "/").body)


def test_agnhost_echo_code(agnhost: Server) -> None:
    reply = get(agnhost.tcp_port, "/echo?msg=down&code=503")
    assert (reply.status, reply.body) == (503, b"down")


def test_agnhost_header(agnhost: Server) -> None:
    headers = (("X-Forwarded-For", "1.2.3.4"), ("x-forwarded-for", "5.6.7.8"))
    reply = get(agnhost.tcp_port, "/header?key=X-FORWARDED-FOR", headers=headers)
    assert reply.body == b"1.2.3.4"
    reply = get(agnhost.tcp_port, "/header", headers=headers)
    assert json.loads(reply.body) == {"X-Forwarded-For": ["1.2.3.4", "5.6.7.8"]}


def test_agnhost_redirect(agnhost: Server) -> None:
    reply = get(agnhost.tcp_port, "/redirect?location=/echo%3Fmsg%3Dx&code=307")
    assert reply.status == 307
    assert reply.headers["location"] == "/echo?msg=x"
    assert reply.headers["content-type"] == "text/html; charset=utf-8"


def test_agnhost_dial_http_and_udp(agnhost: Server) -> None:
    """/dial reaches the server itself, as agnhost pods dial each other in e2e."""
    reply = get(agnhost.tcp_port, f"/dial?host={HOST}&port={agnhost.tcp_port}"
                                  "&request=hostname&protocol=http&tries=2")
    assert reply.status == 200
    assert json.loads(reply.body) == {"responses": [POD, POD]}
    reply = get(agnhost.tcp_port, f"/dial?host={HOST}&port={agnhost.udp_port}"
                                  "&request=hostname&protocol=udp")
    assert json.loads(reply.body) == {"responses": [POD]}


def test_agnhost_dial_failure_is_reported(agnhost: Server) -> None:
    closed = free_port()
    reply = get(agnhost.tcp_port, f"/dial?host={HOST}&port={closed}&request=hostname")
    assert reply.status == 200
    errors = json.loads(reply.body)["errors"]
    assert len(errors) == 1 and "connection refused" in errors[0]


def test_agnhost_udp_commands(agnhost: Server) -> None:
    assert udp(agnhost.udp_port, b"hostname\n")[0] == POD.encode()
    data, local = udp(agnhost.udp_port, b"clientip")
    assert data == local.encode()
    assert udp(agnhost.udp_port, b"echo Pong")[0] == b"pong"
    with pytest.raises(TimeoutError):  # agnhost ignores unknown commands
        udp(agnhost.udp_port, b"ping", timeout=0.5)


def test_agnhost_keeps_tcp_line_echo(agnhost: Server) -> None:
    with connect(agnhost.tcp_port) as sock:
        sock.sendall(b"hello\n")
        assert recv_line(sock) == POD.encode() + b": hello\n"


def test_agnhost_no_stderr_noise(agnhost: Server) -> None:
    assert_quiet(agnhost.proc)


def test_agnhost_exit_graceful_code() -> None:
    """/exit?code=3&timeout=2s answers, then the process exits with 3."""
    srv = start_server("--agnhost")
    try:
        reply = get(srv.tcp_port, "/exit?code=3&timeout=2s")
        assert (reply.status, reply.body) == (200, b"")
        assert srv.proc.wait(timeout=5) == 3
        with pytest.raises(ConnectionRefusedError):
            connect(srv.tcp_port).close()
    finally:
        stop(srv.proc)
        close_pipes(srv.proc)


def test_agnhost_exit_waits_for_open_connections() -> None:
    """Within the timeout an open connection keeps the process up."""
    srv = start_server("--agnhost")
    try:
        with connect(srv.tcp_port) as idle:
            idle.sendall(b"hi\n")
            assert recv_line(idle) == POD.encode() + b": hi\n"
            started = time.monotonic()
            get(srv.tcp_port, "/exit?code=5&timeout=1s")
            assert srv.proc.wait(timeout=5) == 5
            assert time.monotonic() - started >= 0.8
            assert idle.recv(100) == b""
    finally:
        stop(srv.proc)
        close_pipes(srv.proc)


@pytest.mark.parametrize(("target", "code"), [("/shutdown", 0), ("/exit?code=9", 9)])
def test_agnhost_immediate_exit_without_reply(target: str, code: int) -> None:
    srv = start_server("--agnhost")
    try:
        with connect(srv.tcp_port) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert recv_all(sock) == b""
        assert srv.proc.wait(timeout=5) == code
    finally:
        stop(srv.proc)
        close_pipes(srv.proc)


def test_agnhost_sigterm_exits_0() -> None:
    srv = start_server("--agnhost")
    try:
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=5) == 0
        assert srv.proc.stderr is not None and srv.proc.stderr.read() == b""
    finally:
        stop(srv.proc)
        close_pipes(srv.proc)

