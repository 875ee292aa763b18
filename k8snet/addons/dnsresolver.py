"""DNS on the wire: query bytes in, reply bytes out (k8snet.addons.dns serves it).

The hot path splices a cached reply instead of parsing (see k8snet.addons.dns for
the numbers); misses and anything unusual go through dnslib.  Names that are
not ours are relayed to the one configured upstream by ``Forwarder``.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import sys
from collections.abc import Coroutine
from typing import Any

from dnslib import (
    AAAA,
    CNAME,
    EDNS0,
    PTR,
    QTYPE,
    RR,
    SOA,
    SRV,
    TXT,
    A,
    DNSHeader,
    DNSLabel,
    DNSQuestion,
    DNSRecord,
)

from k8snet.addons.dnszone import (
    FORMERR,
    NOERROR,
    NOTIMP,
    NXDOMAIN,
    REFUSED,
    SERVFAIL,
    Answer,
    FileZone,
    Record,
    Zone,
)

PROG = "dns"
FORWARD_TIMEOUT = 1.0       # seconds to wait for the upstream
EDNS_SIZE = 1232            # our UDP payload size (DNS flag day 2020: no fragments)
CACHE_MAX = 20000           # cached replies per transport before the cache restarts
MAX_FORWARDS = 1024         # upstream queries in flight before we answer SERVFAIL
UDP_BATCH = 64              # datagrams read per wake-up
BADVERS = 16

Reply = bytes | None | Coroutine[Any, Any, bytes | None]


# ---------------------------------------------------------------------------
# Wire format
# ---------------------------------------------------------------------------

def question_end(data: bytes) -> int | None:
    """Offset just past the question's name, None if it is not plain labels."""
    i, size = 12, len(data)
    while i < size:
        length = data[i]
        if length == 0:
            return i + 1 if i + 5 <= size and i - 12 < 255 else None
        if length > 63:
            return None  # a compression pointer or an extended label type
        i += length + 1
    return None


def _edns_flags(data: bytes, qend: int) -> int | None:
    """EDNS flags if an OPT record directly follows the question."""
    o = qend + 4
    if data[10:12] != b"\x00\x00" and data[o:o + 3] == b"\x00\x00\x29" and len(data) >= o + 11:
        return int.from_bytes(data[o + 7:o + 9], "big")
    return None


def _is_simple(data: bytes, qend: int) -> bool:
    """One question and nothing else, or an OPT without options (cacheable)."""
    if data[4:10] != b"\x00\x01\x00\x00\x00\x00":
        return False
    if data[10:12] == b"\x00\x00":
        return len(data) == qend + 4
    o = qend + 4
    return (data[10:12] == b"\x00\x01" and len(data) == o + 11
            and data[o:o + 3] == b"\x00\x00\x29" and data[o + 6] == 0
            and data[o + 9:o + 11] == b"\x00\x00")


def _bare_reply(data: bytes, qend: int | None, rcode: int, ra: int = 1) -> bytes | None:
    """An error reply built from the query bytes alone (question echoed)."""
    if len(data) < 12 or data[2] & 0x80:
        return None  # not even a header, or a response: never answer those
    flags = bytes([0x80 | (data[2] & 0x79), (ra << 7) | (data[3] & 0x10) | rcode])
    if qend is None or data[4:6] != b"\x00\x01":
        return data[:2] + flags + bytes(8)
    edns = _edns_flags(data, qend)
    opt = b""
    if edns is not None:
        opt = b"\x00\x00\x29" + EDNS_SIZE.to_bytes(2, "big") + b"\x00\x00" \
            + (edns & 0x8000).to_bytes(2, "big") + b"\x00\x00"
    counts = b"\x00\x01\x00\x00\x00\x00" + (b"\x00\x01" if opt else b"\x00\x00")
    return data[:2] + flags + counts + data[12:qend + 4] + opt


def _qname_text(labels: tuple[bytes, ...]) -> str:
    """Wire labels as a name; dots and backslashes inside labels escaped."""
    return ".".join(label.decode("latin-1").replace("\\", "\\\\").replace(".", "\\.")
                    for label in labels)


def to_rr(record: Record) -> RR:
    """A Record as a dnslib resource record."""
    kind = record.type
    rdata: Any
    if kind == "A":
        rdata = A(record.value)
    elif kind == "AAAA":
        rdata = AAAA(record.value)
    elif kind == "CNAME":
        rdata = CNAME(record.value + ".")
    elif kind == "PTR":
        rdata = PTR(record.value + ".")
    elif kind == "SRV":
        rdata = SRV(record.priority, record.weight, record.port, record.value + ".")
    elif kind == "TXT":
        rdata = TXT(record.value)
    elif kind == "SOA":
        mname, rname = record.value.split()
        # serial, refresh, retry, expire, minimum (the negative-caching TTL)
        rdata = SOA(mname + ".", rname + ".", (record.port, 7200, 1800, 86400, record.ttl))
    else:
        raise ValueError(f"unsupported record type {kind}")
    return RR(record.name + ".", getattr(QTYPE, kind), rdata=rdata, ttl=record.ttl)


# ---------------------------------------------------------------------------
# Resolver: query bytes -> reply bytes
# ---------------------------------------------------------------------------

def log(message: str) -> None:
    try:
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


class Forwarder:
    """Relays queries to one upstream over one UDP socket, matched by ID.

    The socket is connected, so the kernel drops datagrams from anyone
    else; replies must also repeat the question.
    """

    def __init__(self, upstream: tuple[str, int], timeout: float = FORWARD_TIMEOUT) -> None:
        self.upstream = upstream
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect(upstream)
        self.pending: dict[int, tuple[asyncio.Future[bytes], bytes]] = {}
        self.loop.add_reader(self.sock.fileno(), self._readable)

    async def query(self, packet: bytes) -> bytes:
        """The upstream's reply to ``packet`` (ID restored); TimeoutError or OSError."""
        if len(self.pending) >= MAX_FORWARDS:
            raise OSError(errno.EAGAIN, "too many queries in flight upstream")
        qid = random.getrandbits(16)
        while qid in self.pending:
            qid = random.getrandbits(16)
        qend = question_end(packet)
        question = packet[12:qend + 4].lower() if qend else b""
        future: asyncio.Future[bytes] = self.loop.create_future()
        self.pending[qid] = (future, question)
        try:
            self.sock.send(qid.to_bytes(2, "big") + packet[2:])
            reply = await asyncio.wait_for(future, self.timeout)
        finally:
            self.pending.pop(qid, None)
        return packet[:2] + reply[2:]

    def _readable(self) -> None:
        for _ in range(UDP_BATCH):
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP port unreachable: nobody listens upstream; fail fast.
                for future, _ in self.pending.values():
                    if not future.done():
                        future.set_exception(OSError(exc.errno, exc.strerror))
                continue
            if len(data) < 12 or not data[2] & 0x80:
                continue
            waiting = self.pending.get(int.from_bytes(data[:2], "big"))
            if waiting is None:
                continue
            future, question = waiting
            if question and data[12:12 + len(question)].lower() != question:
                continue
            if not future.done():
                future.set_result(data)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


async def _tcp_exchange(upstream: tuple[str, int], packet: bytes, timeout: float) -> bytes:
    """One query over TCP, for when the UDP reply came back truncated."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*upstream), timeout)
    try:
        writer.write(len(packet).to_bytes(2, "big") + packet)
        size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), timeout), "big")
        return await asyncio.wait_for(reader.readexactly(size), timeout)
    finally:
        writer.close()


class Resolver:
    """Turns query bytes into reply bytes for one zone at a time.

    ``respond`` returns bytes, None (stay silent) or a coroutine giving
    them when the upstream has to be asked.  Must run in an event loop
    when forwarding.
    """

    def __init__(self, zone: Zone | FileZone, upstream: tuple[str, int] | None = None,
                 cache: bool = True, timeout: float = FORWARD_TIMEOUT) -> None:
        self.cli_upstream = upstream
        self.cache = cache
        self.timeout = timeout
        self.forwarders: dict[tuple[str, int], Forwarder] = {}
        self.set_zone(zone)

    def set_zone(self, zone: Zone | FileZone) -> None:
        """Answer from ``zone`` from now on (a new cache generation)."""
        self.zone = zone
        self.upstream = (self.cli_upstream or zone.upstream) if zone.forwards else None
        # Recursion available: a forwarder, or a zone file standing for the
        # whole Internet (outside: nxdomain), as a cluster's upstream resolver.
        self.ra = 1 if zone.forwards or getattr(zone, "outside_rcode", REFUSED) == NXDOMAIN \
            else 0
        self._udp_cache: dict[bytes, tuple[int, bytes, Any, Any]] = {}
        self._tcp_cache: dict[bytes, tuple[int, bytes, Any, Any]] = {}

    def respond(self, data: bytes, tcp: bool = False) -> Reply:
        """The reply to one query (see the class docstring)."""
        if self.cache:
            cache = self._tcp_cache if tcp else self._udp_cache
            entry = cache.get(data[4:].lower())
            # The key fixes the counts and the name up to case; check the
            # exact type/class/OPT bytes and that it is a standard query.
            if entry is not None and not data[2] & 0xF8 and data.endswith(entry[1]):
                qend = entry[0]
                if entry[2] is None:
                    return self._forward(data, qend, tcp)
                heads = entry[2][(data[2] & 1) | ((data[3] >> 3) & 2)]
                return b"".join((data[:2], heads, data[12:qend], entry[3]))
        try:
            request = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - dnslib raises many kinds
            return _bare_reply(data, None, FORMERR, self.ra)
        try:
            return self._respond_parsed(request, data, tcp)
        except Exception as exc:  # noqa: BLE001 - one bad query must not stop the server
            log(f"error answering {_qname_text(request.q.qname.label)!r}: {exc!r}")
            return _bare_reply(data, question_end(data), SERVFAIL, self.ra)

    def _store(self, data: bytes, qend: int, tcp: bool, reply: bytes | None) -> bytes:
        """Cache the reply (None: "forward") to this query; the key."""
        cache = self._tcp_cache if tcp else self._udp_cache
        if len(cache) >= CACHE_MAX:
            cache.clear()  # bounded memory against floods of random names
        heads = None
        if reply is not None:
            b2, b3 = reply[2] & 0xFE, reply[3] & 0xEF    # without RD and CD
            heads = tuple(bytes([b2 | (i & 1), b3 | (0x10 if i & 2 else 0)]) + reply[4:12]
                          for i in range(4))
        key = data[4:].lower()
        cache[key] = (qend, data[qend:], heads, reply[qend:] if reply else None)
        return key

    def _respond_parsed(self, request: DNSRecord, data: bytes, tcp: bool) -> Reply:
        header = request.header
        if header.qr:
            return None
        qend = question_end(data)
        if header.opcode != 0:
            return self._error(request, NOTIMP, data, qend)
        opts = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
        if len(request.questions) != 1 or len(opts) > 1:
            return self._error(request, FORMERR, data, qend)
        edns = opts[0] if opts else None
        if edns is not None and (edns.ttl >> 16) & 0xFF:
            return self._error(request, BADVERS, data, qend)
        question = request.q
        if question.qclass not in (1, 255):
            return self._error(request, REFUSED, data, qend)
        cacheable = self.cache and qend is not None and _is_simple(data, qend)
        result = self.zone.resolve(_qname_text(question.qname.label), question.qtype)
        if result is None:
            if not self.zone.forwards:
                reply = self._error(request, getattr(self.zone, "outside_rcode", REFUSED),
                                    data, qend)
                if cacheable:
                    self._store(data, qend, tcp, reply)
                return reply
            if cacheable:
                self._store(data, qend, tcp, None)
            return self._forward(data, qend, tcp)
        reply = self._reply(request, result)
        if result.chase and self.upstream is not None:
            return self._chase(reply, request, result.chase, data, qend, tcp, cacheable)
        packed = self._finish(reply, request, data, qend, tcp)
        if cacheable:
            self._store(data, qend, tcp, packed)
        return packed

    def _reply(self, request: DNSRecord, result: Answer) -> DNSRecord:
        """The reply with a lower-cased question: names compress against it."""
        question = request.q
        lower = DNSLabel([label.lower() for label in question.qname.label])
        header = DNSHeader(id=request.header.id, qr=1, aa=1, rd=request.header.rd,
                           ra=self.ra, rcode=result.rcode, opcode=request.header.opcode)
        header.cd = request.header.cd
        reply = DNSRecord(header, q=DNSQuestion(lower, question.qtype, question.qclass))
        for record in result.answer:
            reply.add_answer(to_rr(record))
        for record in result.authority:
            reply.add_auth(to_rr(record))
        for record in result.additional:
            reply.add_ar(to_rr(record))
        return reply

    def _finish(self, reply: DNSRecord, request: DNSRecord, data: bytes, qend: int | None,
                tcp: bool, ext_rcode: int = 0) -> bytes:
        """Pack: our OPT if the client sent one, TC if too big for UDP, the
        client's spelling of the question back in."""
        edns = next((rr for rr in request.ar if rr.rtype == QTYPE.OPT), None)
        opt = []
        if edns is not None:
            opt = [EDNS0(udp_len=EDNS_SIZE, flags="do" if edns.ttl & 0x8000 else "",
                         ext_rcode=ext_rcode)]
            reply.ar.extend(opt)
        packed = bytes(reply.pack())
        if tcp:
            limit = 65535
        elif edns is not None:
            limit = max(512, min(int(edns.rclass), EDNS_SIZE))
        else:
            limit = 512
        if len(packed) > limit:
            reply.rr, reply.auth, reply.ar = [], [], opt
            reply.header.tc = 1
            packed = bytes(reply.pack())
        if qend is not None and packed[12:qend].lower() == data[12:qend].lower():
            packed = packed[:12] + data[12:qend] + packed[qend:]
        return packed

    def _error(self, request: DNSRecord, rcode: int, data: bytes, qend: int | None) -> bytes:
        """An empty reply with ``rcode`` (BADVERS goes into the OPT record)."""
        reply = self._reply(request, Answer(rcode & 0xF, [], [], []))
        reply.header.aa = 0
        if not request.questions:
            reply.questions = []
        return self._finish(reply, request, data, qend, tcp=True, ext_rcode=rcode >> 4)

    def _forwarder(self, upstream: tuple[str, int]) -> Forwarder:
        forwarder = self.forwarders.get(upstream)
        if forwarder is None:
            forwarder = self.forwarders[upstream] = Forwarder(upstream, self.timeout)
        return forwarder

    async def _forward(self, data: bytes, qend: int | None, tcp: bool) -> bytes | None:
        """Relay the query unchanged but for its ID; SERVFAIL if that fails."""
        upstream = self.upstream
        if upstream is None:
            return _bare_reply(data, qend, SERVFAIL, self.ra)
        try:
            reply = await self._forwarder(upstream).query(data)
            if tcp and reply[2] & 0x02:
                reply = await _tcp_exchange(upstream, data, self.timeout)
            return reply
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            return _bare_reply(data, qend, SERVFAIL, self.ra)

    async def _chase(self, reply: DNSRecord, request: DNSRecord, target: str, data: bytes,
                     qend: int | None, tcp: bool, cacheable: bool) -> bytes:
        """Append the upstream's answers for a CNAME target outside the zone.

        A positive result is cached for the smallest TTL in it (at most our
        5 s), so pods resolving an ExternalName do not each wait upstream.
        """
        assert self.upstream is not None
        query = DNSRecord(DNSHeader(id=random.getrandbits(16), rd=1),
                          q=DNSQuestion(target, request.q.qtype, request.q.qclass))
        try:
            answer = DNSRecord.parse(await self._forwarder(self.upstream).query(query.pack()))
        except (TimeoutError, OSError):
            answer = None
        except Exception:  # noqa: BLE001 - a garbled upstream reply: keep the CNAME
            answer = None
        if answer is None or answer.header.rcode not in (NOERROR, NXDOMAIN):
            return self._finish(reply, request, data, qend, tcp)
        for rr in answer.rr:
            reply.add_answer(rr)
        reply.header.rcode = answer.header.rcode
        ttl = min(rr.ttl for rr in reply.rr)
        packed = self._finish(reply, request, data, qend, tcp)
        if cacheable and qend is not None and answer.rr and ttl > 0:
            cache = self._tcp_cache if tcp else self._udp_cache
            key = self._store(data, qend, tcp, packed)
            asyncio.get_running_loop().call_later(ttl, cache.pop, key, None)
        return packed

    def close(self) -> None:
        for forwarder in self.forwarders.values():
            forwarder.close()
        self.forwarders.clear()
