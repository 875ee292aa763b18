"""HTTP side of the built-in netexec server: request parsing, replies, stand-in routes.

Everything here is pure (no sockets) so it can be unit-tested directly; the
asyncio connection handling lives in :mod:`k8snet.node.netexec_io` and the
agnhost personality in :mod:`k8snet.node.netexec_agnhost`.

The stand-in personality (the default) answers for an application whose image
cannot run here.  Kubernetes probes must pass whatever path and headers they
use, so *every* well-formed request gets a 200 (POD is the ``--pod`` value)::

    /hostname        POD                (no newline, like agnhost)
    /clientip        IP:PORT of the peer ([IPv6]:PORT for IPv6)
    /echo?msg=X      X, URL-decoded     (no msg: empty body)
    /header?key=K    first value of request header K (no key: all headers
                     as JSON, like agnhost)
    /                POD + "\\n"
    /healthz         ok
    any other path   "POD: PATH\\n"

A request that starts like HTTP but is malformed gets ``400 bad request``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

HTTP_METHODS = frozenset({
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE",
    b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
})
HTTP_VERSIONS = ("HTTP/1.0", "HTTP/1.1")
TEXT_PLAIN = "text/plain; charset=utf-8"
NOT_FOUND_BODY = b"404 page not found\n"
BAD_REQUEST_BODY = b"400 bad request\n"
# Characters of an RFC 9110 token; a header name made of anything else is
# left as sent by canonical_header_key(), as Go's net/textproto does.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789"
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class HttpRequest(NamedTuple):
    """The parts of an HTTP request head the server needs.

    ``headers`` maps lower-cased names to the last value seen (what the
    server itself looks at); ``fields`` keeps every header line as
    ``(name as sent, value)`` in order, for /header.
    """

    method: str
    target: str
    version: str
    headers: dict[str, str]
    fields: tuple[tuple[str, str], ...] = ()


class HttpReply(NamedTuple):
    """What to answer: status, body, content type and extra header lines."""

    status: int
    body: bytes
    content_type: str = TEXT_PLAIN
    headers: tuple[tuple[str, str], ...] = ()


def looks_like_http(first_line: bytes) -> bool:
    """True if a connection's first line starts with ``METHOD SP``.

    Only the methods in HTTP_METHODS count, upper case as HTTP requires, so
    a text line such as ``GETTING started`` stays a TCP echo line.
    """
    method, sep, _ = first_line.partition(b" ")
    return bool(sep) and method in HTTP_METHODS


def parse_request_head(head: bytes) -> HttpRequest:
    """Parse a request line plus headers (RFC 9112 section 3 and 5).

    ``head`` is everything up to and including the blank line; bare ``\\n``
    line ends are accepted.  Raises ValueError naming the first problem:
    a request line that is not ``METHOD SP TARGET SP HTTP/1.x``, an
    unknown method, a non-printable target, a header line without a colon
    or with whitespace around its name (obsolete line folding included).
    """
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
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"malformed header line {line!r}")
        try:
            key = name.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"non-ASCII header name {name!r}") from None
        text = value.strip().decode("latin-1")
        headers[key.lower()] = text
        fields.append((key, text))
    return HttpRequest(method, target, version, headers, tuple(fields))


def split_target(target: str) -> tuple[str, str]:
    """Split a request target into ``(path, query)`` for routing.

    Origin form (``/p?q``) and absolute form (``http://host/p?q``) are
    understood; the fragment is dropped.  Anything else (``*``, authority
    form) comes back whole as the path, so it is routed as an unknown path.
    """
    target = target.partition("#")[0]
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    parts = urlsplit(target)
    if parts.scheme in ("http", "https") and parts.netloc:
        return parts.path or "/", parts.query
    return target, ""


def query_value(query: str, key: str) -> str | None:
    """First value of ``key`` in a URL query, percent- and ``+``-decoded.

    Returns None when the key is absent.  Bytes that are not UTF-8 survive
    as surrogate escapes, so ``.encode("utf-8", "surrogateescape")`` gives
    them back unchanged.
    """
    for name, value in parse_qsl(query, keep_blank_values=True,
                                 errors="surrogateescape"):
        if name == key:
            return value
    return None


def canonical_header_key(name: str) -> str:
    """Header name in Go's canonical form: ``x-forwarded-for`` -> ``X-Forwarded-For``.

    A name with a character outside the HTTP token set is returned as is,
    like Go's ``textproto.CanonicalMIMEHeaderKey``.
    """
    if not name or any(char not in _TOKEN_CHARS for char in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def header_value(request: HttpRequest, key: str) -> str:
    """First value of header ``key`` (any letter case), or "" if absent.

    ``Host`` is never found: Go moves it out of the header map, and
    agnhost's /header reads that map.
    """
    wanted = canonical_header_key(key)
    for name, value in request.fields:
        canonical = canonical_header_key(name)
        if canonical == wanted and canonical != "Host":
            return value
    return ""


def go_json(value: Any) -> bytes:
    """JSON the way Go's ``encoding/json`` writes it.

    Compact, map keys sorted, UTF-8 kept, and ``<``, ``>``, ``&``, U+2028,
    U+2029 escaped as ``\\u003c`` etc.  Those characters only ever occur
    inside JSON strings, so replacing them in the text is safe.
    """
    text = json.dumps(value, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text.encode("utf-8")


def headers_json(request: HttpRequest) -> bytes:
    """All request headers as agnhost's /header prints them.

    Shape: ``{"Canonical-Name": ["value", ...], ...}``, keys sorted, values
    in the order received, ``Host`` left out (see header_value()).
    """
    grouped: dict[str, list[str]] = {}
    for name, value in request.fields:
        canonical = canonical_header_key(name)
        if canonical != "Host":
            grouped.setdefault(canonical, []).append(value)
    return go_json(grouped)


def header_reply(request: HttpRequest, query: str) -> HttpReply:
    """/header: the value of header ``key=`` or, without a key, all headers."""
    key = query_value(query, "key")
    if key:
        return HttpReply(200, header_value(request, key).encode("utf-8", "surrogateescape"))
    return HttpReply(200, headers_json(request))


def echo_text(query: str) -> bytes:
    """Body of /echo: the first ``msg`` value, byte for byte ("" if none)."""
    msg = query_value(query, "msg")
    return b"" if msg is None else msg.encode("utf-8", "surrogateescape")


def standin_reply(request: HttpRequest, pod: str, client: str) -> HttpReply:
    """Stand-in personality: 200 for every path (table in the module docstring).

    ``client`` is the peer as ``IP:PORT``.  Never raises; any method and any
    headers are accepted, so a kubelet ``httpGet`` probe always passes.
    """
    path, query = split_target(request.target)
    if path == "/hostname":
        return HttpReply(200, pod.encode("utf-8"))
    if path == "/clientip":
        return HttpReply(200, client.encode("utf-8"))
    if path == "/echo":
        return HttpReply(200, echo_text(query))
    if path == "/header":
        return header_reply(request, query)
    if path == "/":
        return HttpReply(200, pod.encode("utf-8") + b"\n")
    if path == "/healthz":
        return HttpReply(200, b"ok")
    return HttpReply(200, f"{pod}: {path}\n".encode("utf-8", "surrogateescape"))


def reason_phrase(status: int) -> str:
    """Reason phrase for a status line; Go's ``status code N`` if unknown."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"status code {status}"


def _header_safe(value: str) -> str:
    """A header value with CR and LF turned into spaces (no header injection)."""
    return value.replace("\r", " ").replace("\n", " ")


def build_response(status: int, body: bytes, *, include_body: bool = True,
                   content_type: str = TEXT_PLAIN,
                   headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """Build a complete HTTP/1.1 response that closes the connection.

    ``include_body=False`` (for HEAD) keeps ``Content-Length`` but drops the
    body.  1xx, 204 and 304 responses never carry a body, a content type or
    a length (RFC 9110 section 6.4.1).
    """
    bodyless = 100 <= status < 200 or status in (204, 304)
    lines = [f"HTTP/1.1 {status} {reason_phrase(status)}"]
    if not bodyless:
        lines.append(f"Content-Type: {content_type}")
    lines.extend(f"{name}: {_header_safe(value)}" for name, value in headers)
    if not bodyless:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    return head + body if include_body and not bodyless else head
