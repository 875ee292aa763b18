"""SPDY/3.1 framing, the part ``kubectl port-forward`` speaks.

kubectl opens a WebSocket (subprotocol ``SPDY/3.1+portforward.k8s.io``) and
runs SPDY over its binary messages (KEP-4006).  A session is a byte stream
of frames:

    control frame: 1 | version 15 | type 16 | flags 8 | length 24 | payload
    data frame:    0 | stream-id 31 | flags 8 | length 24 | data

    SYN_STREAM (1): stream-id, associated-id, priority, slot, header block
    SYN_REPLY  (2): stream-id, header block      RST_STREAM (3): stream-id, status
    SETTINGS   (4)   PING (6): id, echoed        GOAWAY (7): last-good-id, status
    HEADERS    (8)   WINDOW_UPDATE (9): ignored (kubectl's spdystream sends none)

A header block is ``count`` then ``len name len value`` pairs (32-bit
big-endian lengths, lower-case names, multiple values joined by NUL), and
every block of one direction is part of one zlib stream, compressed with the
dictionary the specification gives and flushed per frame.
Source: SPDY Protocol Draft 3.1 (sections 2.2, 2.6, 2.6.10), kubernetes
``apimachinery/pkg/util/httpstream/spdy``.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = \
    1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
CANCEL = 5                          # RST_STREAM status: the stream is no longer needed
MAX_DATA = 0xFFFFFF                 # a frame's 24-bit length

# The zlib dictionary of header blocks (draft 3, section 2.6.10.1): the
# common names and values, each with its 32-bit length, then a run of text.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding "
    "accept-language accept-ranges age allow authorization cache-control connection "
    "content-base content-encoding content-language content-length content-location "
    "content-md5 content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
    "server te trailer transfer-encoding upgrade user-agent vary via warning "
    "www-authenticate method get status").split() + ["200 OK", "version", "HTTP/1.1", "url",
                                                     "public", "set-cookie", "keep-alive",
                                                     "origin"]
_TEXT = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504"
    "505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, "
    "Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TEXT.encode()


class ProtocolError(Exception):
    """The peer sent what SPDY/3 does not allow (the session ends)."""


@dataclass
class Frame:
    """One frame: ``control`` frames have a ``type``; data frames a stream."""

    control: bool
    type: int = 0                   # control frames
    flags: int = 0
    stream: int = 0                 # data frames, and SYN_STREAM/SYN_REPLY/RST/WINDOW_UPDATE
    payload: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class Codec:
    """One session's framing: ``feed(bytes)`` -> complete frames; encoders
    for what a server sends.  Keeps the two zlib streams of header blocks."""

    def __init__(self) -> None:
        self._buffer = b""
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes (a frame may span messages)."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, payload = self._buffer[:8], self._buffer[8:8 + length]
            self._buffer = self._buffer[8 + length:]
            frames.append(self._frame(head, payload))
        return frames

    def _frame(self, head: bytes, payload: bytes) -> Frame:
        first, flags = int.from_bytes(head[:4], "big"), head[4]
        if not first & 0x80000000:
            return Frame(False, flags=flags, stream=first & 0x7FFFFFFF, payload=payload)
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        frame = Frame(True, kind, flags, payload=payload)
        if kind in (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE):
            if len(payload) < 4:
                raise ProtocolError(f"control frame {kind} too short")
            frame.stream = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
        if kind == SYN_STREAM:
            frame.headers = self._headers(payload[10:])
        elif kind in (SYN_REPLY, HEADERS):
            frame.headers = self._headers(payload[4:])
        return frame

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as exc:
            raise ProtocolError(f"header block: {exc}") from None
        return decode_headers(raw)

    def _block(self, headers: dict[str, str]) -> bytes:
        return self._deflate.compress(encode_headers(headers)) + \
            self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_reply(self, stream: int, headers: dict[str, str] | None = None,
                  fin: bool = False) -> bytes:
        """SYN_REPLY: the server accepts the client's stream."""
        body = struct.pack(">I", stream) + self._block(headers or {})
        return control(SYN_REPLY, body, FLAG_FIN if fin else 0)

    def syn_stream(self, stream: int, headers: dict[str, str], fin: bool = False) -> bytes:
        """SYN_STREAM (what a client sends; tests play the client)."""
        body = struct.pack(">IIBB", stream, 0, 0, 0) + self._block(headers)
        return control(SYN_STREAM, body, FLAG_FIN if fin else 0)


def encode_headers(headers: dict[str, str]) -> bytes:
    """A header block before compression."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_headers(raw: bytes) -> dict[str, str]:
    """A decompressed header block; raises ProtocolError when it is cut short."""
    try:
        (count,) = struct.unpack_from(">I", raw, 0)
        at, out = 4, {}
        for _ in range(count):
            (size,) = struct.unpack_from(">I", raw, at)
            name = raw[at + 4:at + 4 + size].decode()
            at += 4 + size
            (size,) = struct.unpack_from(">I", raw, at)
            out[name] = raw[at + 4:at + 4 + size].decode()
            at += 4 + size
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"header block: {exc}") from None
    return out


def control(kind: int, body: bytes, flags: int = 0) -> bytes:
    """A control frame of ``kind`` around ``body``."""
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body


def data(stream: int, payload: bytes, fin: bool = False) -> bytes:
    """A data frame (``payload`` at most MAX_DATA bytes)."""
    return struct.pack(">II", stream & 0x7FFFFFFF,
                       ((FLAG_FIN if fin else 0) << 24) | len(payload)) + payload


def rst_stream(stream: int, status: int = CANCEL) -> bytes:
    return control(RST_STREAM, struct.pack(">II", stream, status))


def ping(ping_id: int) -> bytes:
    return control(PING, struct.pack(">I", ping_id))


def goaway(last_stream: int) -> bytes:
    return control(GOAWAY, struct.pack(">II", last_stream, 0))
