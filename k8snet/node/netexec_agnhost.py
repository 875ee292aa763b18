"""The agnhost personality of the built-in netexec server (``--agnhost``).

Used when the container really is ``registry.k8s.io/e2e-test-images/agnhost``
with ``netexec`` arguments: HTTP and UDP answer the way agnhost's netexec
handlers do (see the agnhost README, section netexec, and
``test/images/agnhost/netexec/netexec.go`` in kubernetes/kubernetes).  POD is
the ``--pod`` value, which is what ``os.Hostname()`` returns in a real pod::

    /                   200  NOW: <time in Go's time.Time format>
    /hostname, /hostName 200 POD
    /clientip           200  IP:PORT of the peer
    /echo?msg=X&code=N  N    X (code optional; not an integer: 200 + message)
    /header?key=K       200  first value of request header K; no key: all
                             headers as JSON {"Name": ["value", ...]}
    /healthz            200  empty body
    /readyz             200  ok
    /redirect?location=L&code=N  N (default 302) with Location: L
    /dial?host=H&port=P&request=R&protocol=http|udp|sctp&tries=N
                        200  {"responses": [...], "errors": [...]} as agnhost;
                             400 for a missing request, bad tries/protocol/host
    /exit?code=C&timeout=D&wait=D   exit with C after D (Go durations);
                             timeout 0 or absent: at once, without a reply
    /shutdown           exit 0 at once, without a reply
    /shell, /upload     200  {"error": ...}: not available in this lab
    path not clean      301  to the cleaned path (Go's ServeMux)
    any other path      404  "404 page not found\\n"

Deliberate difference: real agnhost routes every unknown path to its ``/``
handler (Go's ServeMux pattern ``/`` is a catch-all); this lab answers 404
there, so an ``httpGet`` probe on a path agnhost does not serve fails.
Parameters are read from the query string only, not from a form body.

UDP (agnhost_udp_reply): the datagram, trimmed and lower-cased, is one of
``hostname``, ``clientip`` or ``echo MSG``; anything else gets no reply.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from k8snet.node.netexec_http import (
    NOT_FOUND_BODY,
    HttpReply,
    HttpRequest,
    echo_text,
    go_json,
    header_reply,
    query_value,
    reason_phrase,
    split_target,
)

DIAL_TIMEOUT = 5.0        # seconds, agnhost's per-try client timeout
UDP_READ_SIZE = 2048      # agnhost reads (and answers) this much of a datagram
SCTP_READ_SIZE = 1024
TEXT_HTML = "text/html; charset=utf-8"
_URL_SAFE = "/?&=%:@!$'()*+,;~#[]"   # kept as is when /dial builds its URL
_STARTED = time.monotonic()
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6,
                   "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# exit(code, grace): grace None = exit now without replying; else reply,
# stop listening and give open connections up to grace seconds.
ExitHook = Callable[[int, float | None], None]


# ---------------------------------------------------------------------------
# Small Go look-alikes
# ---------------------------------------------------------------------------

def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string (``time.ParseDuration``).

    Accepts ``300ms``, ``1.5h``, ``2h45m``, ``-1s``, ``0``; units ns, us
    (µs), ms, s, m, h.  Raises ValueError for anything else, "" included.
    """
    body = text[1:] if text.startswith(("+", "-")) else text
    sign = -1.0 if text.startswith("-") else 1.0
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"time: invalid duration {text!r}")
    total, pos = 0.0, 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None or match.group(1) in ("", "."):
            raise ValueError(f"time: invalid duration {text!r}")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def go_quote(text: str) -> str:
    """Double-quoted like Go's ``%q`` (close enough for messages)."""
    return go_json(text).decode("utf-8")


def go_now() -> str:
    """The current time as Go's ``time.Now().String()`` prints it.

    Shape: ``2024-05-01 12:00:00.123456789 +0200 CEST m=+1.500000000``;
    trailing zeros of the fraction are dropped, ``m=`` is seconds since start.
    """
    nanos = time.time_ns()
    stamp = time.localtime(nanos // 1_000_000_000)
    fraction = f"{nanos % 1_000_000_000:09d}".rstrip("0")
    fraction = f".{fraction}" if fraction else ""
    return (time.strftime("%Y-%m-%d %H:%M:%S", stamp) + fraction
            + time.strftime(" %z %Z", stamp)
            + f" m=+{time.monotonic() - _STARTED:.9f}")


def clean_path(path: str) -> str:
    """Go's ServeMux path cleaning: no ``//``, ``.`` or ``..`` segments.

    Always rooted; a trailing slash is kept (``/a//b/`` -> ``/a/b/``).
    """
    if not path.startswith("/"):
        path = "/" + path
    parts: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if parts:
                parts.pop()
        elif segment not in ("", "."):
            parts.append(segment)
    cleaned = "/" + "/".join(parts)
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def _html_escape(text: str) -> str:
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"),
                         ('"', "&#34;"), ("'", "&#39;")):
        text = text.replace(char, entity)
    return text


def redirect_reply(method: str, request_path: str, location: str,
                   status: int) -> HttpReply:
    """A redirect as Go's ``http.Redirect`` builds it.

    A location without scheme and host is made absolute against the
    request's directory and cleaned; GET gets a small HTML body.
    """
    parts = urlsplit(location)
    if not parts.scheme and not parts.netloc:
        if not location.startswith("/"):
            location = request_path.rpartition("/")[0] + "/" + location
        location, mark, query = location.partition("?")
        trailing = location.endswith("/")
        location = clean_path(location)
        if trailing and not location.endswith("/"):
            location += "/"
        location += mark + query
    body = b""
    if method == "GET":
        body = (f'<a href="{_html_escape(location)}">{reason_phrase(status)}'
                "</a>.\n\n").encode("utf-8", "surrogateescape")
    return HttpReply(status, body, TEXT_HTML, (("Location", location),))


def _status_code(text: str) -> int | None:
    """Parse a ``code=`` parameter like Go's ``strconv.Atoi``; None if bad."""
    return int(text) if _INTEGER.fullmatch(text) else None


def _written_status(code: int) -> int | None:
    """Status Go's ``WriteHeader(code)`` ends up sending.

    1xx is only an interim response there, so the final status is 200;
    a code outside 100-999 makes Go drop the connection (None).
    """
    if not 100 <= code <= 999:
        return None
    return 200 if code < 200 else code


# ---------------------------------------------------------------------------
# /dial
# ---------------------------------------------------------------------------

def _http_error(message: str, status: int = 400) -> HttpReply:
    """Go's ``http.Error``: the message plus a newline."""
    return HttpReply(status, f"{message}\n".encode("utf-8", "surrogateescape"))


def _addr_text(sockaddr: tuple) -> str:
    host = str(sockaddr[0])
    return f"[{host}]:{sockaddr[1]}" if ":" in host else f"{host}:{sockaddr[1]}"


def _os_reason(exc: BaseException) -> str:
    """Short lower-case reason, Go style: ``connection refused``, ``i/o timeout``."""
    if isinstance(exc, TimeoutError):
        return "i/o timeout"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def _dial_http(request: str, addr: str) -> str:
    """GET ``http://ADDR/REQUEST`` (redirects followed); the body, any status."""
    url = f"http://{addr}/{quote(request, safe=_URL_SAFE)}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=DIAL_TIMEOUT) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, OSError):
            why = f"dial tcp {addr}: connect: {_os_reason(reason)}"
        else:
            why = str(reason)
        raise RuntimeError(f'Get "{url}": {why}') from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise RuntimeError(f'Get "{url}": {_os_reason(exc)}') from None
    return body.decode("utf-8", "replace")


def _dial_udp(request: str, sockaddr: tuple, family: int) -> str:
    """Send REQUEST in one datagram; the reply (up to 2048 bytes) within 5 s."""
    remote = _addr_text(sockaddr)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            raise RuntimeError(f"udp dial failed. err:dial udp {remote}: "
                               f"{_os_reason(exc)}") from None
        local = _addr_text(sock.getsockname())
        sock.settimeout(DIAL_TIMEOUT)
        try:
            sock.send(request.encode("utf-8", "surrogateescape"))
        except OSError as exc:
            raise RuntimeError(f"udp connection write failed. err:write udp "
                               f"{local}->{remote}: {_os_reason(exc)}") from None
        try:
            data = sock.recv(UDP_READ_SIZE)
        except OSError as exc:
            raise RuntimeError(f"reading from udp connection failed. err:'read udp "
                               f"{local}->{remote}: {_os_reason(exc)}'") from None
    if not data:
        raise RuntimeError("reading from udp connection failed. err:'<nil>'")
    return data.decode("utf-8", "replace")


def _dial_sctp(request: str, sockaddr: tuple, family: int) -> str:
    """Send REQUEST over a new SCTP association; the reply (up to 1024 bytes)."""
    try:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    except OSError as exc:
        raise RuntimeError(f"sctp dial failed. err:{_os_reason(exc)}") from None
    with sock:
        sock.settimeout(DIAL_TIMEOUT)
        try:
            sock.connect(sockaddr)
            sock.sendall(request.encode("utf-8", "surrogateescape"))
            data = sock.recv(SCTP_READ_SIZE)
        except OSError as exc:
            raise RuntimeError(f"sctp dial failed. err:{_os_reason(exc)}") from None
    if not data:
        raise RuntimeError("reading from sctp connection failed. err:'EOF'")
    return data.decode("utf-8", "replace")


async def dial_reply(query: str) -> HttpReply:
    """/dial: reach another endpoint ``tries`` times and report in JSON.

    Parameters host, port, request, protocol (http, udp or sctp; default
    http) and tries (default 1), as agnhost.  Body shape
    ``{"errors": [...], "responses": [...]}`` with agnhost's quirk kept:
    "responses" only appears when the *last* try got a non-empty answer.
    Bad parameters give 400 with agnhost's message.
    """
    host = query_value(query, "host") or ""
    port = query_value(query, "port") or ""
    request = query_value(query, "request") or ""
    protocol = (query_value(query, "protocol") or "").lower()
    tries_text = query_value(query, "tries") or ""
    tries = 1
    if tries_text:
        if _INTEGER.fullmatch(tries_text) is None:
            return _http_error("tries parameter is invalid. strconv.Atoi: parsing "
                               f"{go_quote(tries_text)}: invalid syntax")
        tries = int(tries_text)
    if not request:
        return _http_error("request parameter not specified. <nil>")
    kinds = {"": socket.SOCK_STREAM, "http": socket.SOCK_STREAM,
             "udp": socket.SOCK_DGRAM, "sctp": socket.SOCK_STREAM}
    if protocol not in kinds:
        return _http_error(f"unsupported protocol. {protocol}")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host or None, port, type=kinds[protocol])
        if not infos:
            raise OSError("no address")
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return _http_error(f"host and/or port param are invalid. {reason}")
    infos.sort(key=lambda info: info[0] != socket.AF_INET)  # IPv4 first, as Go
    family, _, _, _, sockaddr = infos[0]
    responses: list[str] = []
    errors: list[str] = []
    last = ""
    for _ in range(tries):
        try:
            if protocol == "udp":
                last = await asyncio.to_thread(_dial_udp, request, sockaddr, family)
            elif protocol == "sctp":
                last = await asyncio.to_thread(_dial_sctp, request, sockaddr, family)
            else:
                last = await asyncio.to_thread(_dial_http, request, _addr_text(sockaddr))
            responses.append(last)
        except RuntimeError as exc:
            last = ""
            errors.append(str(exc))
    output: dict[str, list[str]] = {}
    if last:
        output["responses"] = responses
    if errors:
        output["errors"] = errors
    return HttpReply(200, go_json(output))


# ---------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------

class AgnhostHttp:
    """agnhost netexec's HTTP handlers for one server (table in the module doc).

    ``on_exit`` is called by /exit and /shutdown (see ExitHook).
    """

    def __init__(self, pod: str, on_exit: ExitHook) -> None:
        self.pod = pod
        self.on_exit = on_exit

    async def reply(self, request: HttpRequest, client: str) -> HttpReply | None:
        """Answer one request; None means hang up without a reply.

        ``client`` is the peer as ``IP:PORT``.  Never raises for bad input.
        """
        path, query = split_target(request.target)
        if path.startswith("/") and clean_path(path) != path and request.method != "CONNECT":
            target = clean_path(path) + (f"?{query}" if query else "")
            return redirect_reply(request.method, path, target, 301)
        if path == "/":
            return HttpReply(200, f"NOW: {go_now()}".encode())
        if path in ("/hostname", "/hostName"):
            return HttpReply(200, self.pod.encode("utf-8"))
        if path == "/clientip":
            return HttpReply(200, client.encode("utf-8"))
        if path == "/header":
            return header_reply(request, query)
        if path == "/healthz":
            return HttpReply(200, b"")
        if path == "/readyz":
            return HttpReply(200, b"ok")
        if path == "/echo":
            return self._echo(query)
        if path == "/redirect":
            return self._redirect(request.method, path, query)
        if path == "/dial":
            return await dial_reply(query)
        if path == "/exit":
            return await self._exit(query)
        if path == "/shutdown":
            self.on_exit(0, None)
            return None
        if path in ("/shell", "/upload"):
            return HttpReply(200, go_json(
                {"error": f"{path} is not available in the k8snet stand-in"}))
        return HttpReply(404, NOT_FOUND_BODY)

    @staticmethod
    def _echo(query: str) -> HttpReply | None:
        code_text = query_value(query, "code") or ""
        if not code_text:
            return HttpReply(200, echo_text(query))
        code = _status_code(code_text)
        if code is None:
            return HttpReply(200, ("argument 'code' must be an integer or empty, "
                                   f"got {go_quote(code_text)}\n").encode())
        status = _written_status(code)
        return None if status is None else HttpReply(status, echo_text(query))

    @staticmethod
    def _redirect(method: str, path: str, query: str) -> HttpReply | None:
        location = query_value(query, "location") or ""
        code_text = query_value(query, "code") or ""
        code = _status_code(code_text) if code_text else 302
        if code is None:
            return HttpReply(200, ("argument 'code' must be an integer or empty, "
                                   f"got {go_quote(code_text)}\n").encode())
        status = _written_status(code)
        return None if status is None else redirect_reply(method, path, location, status)

    async def _exit(self, query: str) -> HttpReply | None:
        values = {}
        for name in ("timeout", "wait"):
            text = query_value(query, name) or ""
            try:
                values[name] = parse_go_duration(text) if text else 0.0
            except ValueError:
                return HttpReply(200, (f"argument '{name}' must be a valid golang "
                                       f"duration or empty, got {go_quote(text)}\n").encode())
        code_text = query_value(query, "code") or ""
        code = _status_code(code_text) if code_text else 0
        if code is None:
            return HttpReply(200, ("argument 'code' must be an integer [0-127] or empty, "
                                   f"got {go_quote(code_text)}\n").encode())
        if values["wait"] > 0:
            await asyncio.sleep(values["wait"])
        if values["timeout"] == 0:
            self.on_exit(code, None)
            return None
        self.on_exit(code, max(values["timeout"], 0.0))
        return HttpReply(200, b"")


def agnhost_udp_reply(pod: str, payload: bytes, client: str) -> bytes | None:
    """agnhost's UDP commands; None means no reply (unknown command).

    The first 2048 bytes are decoded, trimmed and lower-cased, then
    ``hostname`` -> POD, ``clientip`` -> ``IP:PORT`` of the sender,
    ``echo MSG`` -> MSG (lower-cased, as agnhost does).
    """
    text = payload[:UDP_READ_SIZE].decode("utf-8", "replace").strip().lower()
    if text == "hostname":
        return pod.encode("utf-8")
    if text == "clientip":
        return client.encode("utf-8")
    if text.startswith("echo "):
        return text.partition(" ")[2].encode("utf-8")
    return None
