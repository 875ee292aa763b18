"""Tests for k8snet.node.netexec_http: request parsing, response building and
the stand-in personality's routes, as pure functions (no sockets)."""

from __future__ import annotations

import pytest

from k8snet.node.netexec_http import (
    BAD_REQUEST_BODY,
    HttpReply,
    HttpRequest,
    build_response,
    canonical_header_key,
    go_json,
    header_value,
    looks_like_http,
    parse_request_head,
    query_value,
    split_target,
    standin_reply,
)

POD = "test-pod-1"


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
    assert request.fields == (("Host", "example"), ("Content-Length", "3"))


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


def _request(target: str, method: str = "GET",
             fields: tuple[tuple[str, str], ...] = ()) -> HttpRequest:
    headers = {name.lower(): value for name, value in fields}
    return HttpRequest(method, target, "HTTP/1.1", headers, fields)


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
    # Stand-in: every other path is 200 and names the pod and the path.
    ("/nope", 200, POD.encode() + b": /nope\n"),
    ("/hostname/", 200, POD.encode() + b": /hostname/\n"),
    ("/HOSTNAME", 200, POD.encode() + b": /HOSTNAME\n"),
    ("/_healthz?x=1", 200, POD.encode() + b": /_healthz\n"),
    ("/not-ready", 200, POD.encode() + b": /not-ready\n"),
    ("*", 200, POD.encode() + b": *\n"),
])
def test_standin_reply(target: str, status: int, body: bytes) -> None:
    reply = standin_reply(_request(target), POD, "10.0.0.9:40000")
    assert (reply.status, reply.body) == (status, body)
    assert reply.content_type == "text/plain; charset=utf-8"


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE",
                                    "OPTIONS", "PATCH", "TRACE"])
def test_standin_any_method_and_headers_is_200(method: str) -> None:
    request = _request("/_healthz", method,
                       (("X-Custom", "a"), ("Authorization", "Bearer t")))
    assert standin_reply(request, POD, "c").status == 200


def test_standin_header_endpoint() -> None:
    request = _request("/header?key=x-trace", fields=(
        ("Host", "h"), ("X-Trace", "one"), ("x-trace", "two"), ("accept", "*/*")))
    assert standin_reply(request, POD, "c").body == b"one"
    everything = standin_reply(request._replace(target="/header"), POD, "c")
    assert everything.body == b'{"Accept":["*/*"],"X-Trace":["one","two"]}'


def test_standin_reply_unicode_pod() -> None:
    reply = standin_reply(_request("/hostname"), "p\u00f6d", "x")
    assert (reply.status, reply.body) == (200, b"p\xc3\xb6d")


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
    assert build_response(404, b"404 page not found\n").startswith(
        b"HTTP/1.1 404 Not Found\r\n")
    assert build_response(400, BAD_REQUEST_BODY).startswith(
        b"HTTP/1.1 400 Bad Request\r\n")


def test_build_response_extra_headers_and_type() -> None:
    reply = HttpReply(307, b"<a>", "text/html; charset=utf-8",
                      (("Location", "/x\r\nSet-Cookie: evil"),))
    response = build_response(*reply[:2], content_type=reply.content_type,
                              headers=reply.headers)
    head = response.partition(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == b"HTTP/1.1 307 Temporary Redirect"
    assert b"Content-Type: text/html; charset=utf-8" in head
    assert b"Location: /x  Set-Cookie: evil" in head  # no header injection


@pytest.mark.parametrize("status", [204, 304])
def test_build_response_bodyless_statuses(status: int) -> None:
    response = build_response(status, b"dropped")
    assert response.endswith(b"\r\n\r\n")
    assert b"Content-Length" not in response and b"dropped" not in response


def test_build_response_unknown_status_reason() -> None:
    assert build_response(599, b"").startswith(b"HTTP/1.1 599 status code 599\r\n")


def test_build_response_head_keeps_length_drops_body() -> None:
    response = build_response(200, b"hello", include_body=False)
    assert response.endswith(b"\r\n\r\n")
    assert b"hello" not in response
    assert b"Content-Length: 5\r\n" in response


@pytest.mark.parametrize(("name", "expected"), [
    ("x-forwarded-for", "X-Forwarded-For"),
    ("USER-AGENT", "User-Agent"),
    ("etag", "Etag"),
    ("x--a", "X--A"),
    ("bad name", "bad name"),       # not a token: left as sent, as Go does
    ("", ""),
])
def test_canonical_header_key(name: str, expected: str) -> None:
    assert canonical_header_key(name) == expected


def test_header_value_ignores_host_and_case() -> None:
    request = parse_request_head(b"GET / HTTP/1.1\r\nHost: h\r\n"
                                 b"x-id: 1\r\nX-Id: 2\r\n\r\n")
    assert header_value(request, "X-ID") == "1"
    assert header_value(request, "host") == ""
    assert header_value(request, "missing") == ""


def test_query_value() -> None:
    assert query_value("a=1&msg=x+y&msg=z", "msg") == "x y"
    assert query_value("msg=", "msg") == ""
    assert query_value("a=1", "msg") is None


def test_go_json_escapes_like_go() -> None:
    assert go_json({"b": ["<&>"], "a": "\u00e9\u2028"}) == (
        '{"a":"\u00e9\\u2028","b":["\\u003c\\u0026\\u003e"]}').encode()
