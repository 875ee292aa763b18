"""Parsing for the nftables simulator: the rules and object specs of ``nft -f`` text.

Exactly the forms ``kproxy.nft`` emits (see ``k8snet.trace.nftsim``);
anything else raises ``NftSyntaxError``: nothing is silently skipped.
"""
from __future__ import annotations

import ipaddress
import re

from k8snet.trace.nftsim_model import (
    CT_STATES,
    CT_STATUSES,
    DATA_TYPES,
    FIB_TYPES,
    NAME,
    PRIORITY_NAMES,
    PROTOS,
    SET_FLAGS,
    TERMINAL,
    TOKEN,
    Chain,
    Dnat,
    DnatMap,
    Masquerade,
    Match,
    NftMap,
    NftSet,
    NftSyntaxError,
    NftTransactionError,
    Reject,
    Rule,
    Sel,
    SetCtMark,
    SetLookup,
    SetMark,
    Update,
    Verdict,
    VmapLookup,
)


def check_name(name: str, what: str) -> str:
    if not NAME.match(name):
        raise NftSyntaxError(f"invalid {what} name {name!r}")
    return name


def parse_priority(text: str) -> int:
    text = text.strip()
    m = re.fullmatch(r"(-?\d+)", text)
    if m:
        return int(m.group(1))
    m = re.fullmatch(r"([a-z]+)(?:\s*([+-])\s*(\d+))?", text)
    if not m or m.group(1) not in PRIORITY_NAMES:
        raise NftSyntaxError(f"unknown chain priority {text!r}")
    offset = int(m.group(3) or 0)
    return PRIORITY_NAMES[m.group(1)] + (offset if m.group(2) != "-" else -offset)


def parse_literal(dtype: str, tok: str):
    """One value of ``dtype``; IPv4 values become networks (a host is a /32)."""
    try:
        if dtype == "ipv4_addr":
            return ipaddress.IPv4Network(tok, strict=False)  # nft masks host bits too
        if dtype == "inet_service":
            port = int(tok)
            if not 0 <= port <= 65535:
                raise ValueError(tok)
            return port
        if dtype == "inet_proto":
            return PROTOS[tok]
        if dtype in ("mark", "integer"):
            return int(tok, 0)
        if dtype == "fib" and tok in FIB_TYPES:
            return tok
        if dtype == "ct_state" and tok in CT_STATES:
            return tok
        if dtype == "ct_status" and tok in CT_STATUSES:
            return tok
    except (ValueError, KeyError, ipaddress.AddressValueError, ipaddress.NetmaskValueError):
        pass
    raise NftSyntaxError(f"{tok!r} is not a valid {dtype} value")


def _exact_key(dtype: str, value):
    """A map key part: exact values only (kproxy's maps have no interval flag)."""
    if dtype == "ipv4_addr":
        if value.prefixlen != 32:
            raise NftSyntaxError(f"prefix {value} in a map without the interval flag")
        return value.network_address
    return value


class Tokens:
    def __init__(self, tokens: list[str], where: str) -> None:
        self.t, self.i, self.where = tokens, 0, where

    def fail(self, msg: str) -> NftSyntaxError:
        return NftSyntaxError(f"{self.where}: {msg} (at token {self.i}: "
                              f"{' '.join(self.t[self.i:self.i + 4])!r})")

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def next(self) -> str:
        if self.i >= len(self.t):
            raise self.fail("unexpected end of rule")
        self.i += 1
        return self.t[self.i - 1]

    def expect(self, *words: str) -> str:
        tok = self.next()
        if tok not in words:
            self.i -= 1
            raise self.fail(f"expected {' or '.join(words)}")
        return tok

    def done(self) -> bool:
        return self.i >= len(self.t)

    # --- grammar

    def selector(self) -> Sel:
        tok = self.next()
        if tok == "ip":
            return Sel(f"ip {self.expect('saddr', 'daddr')}", "ipv4_addr")
        if tok in ("tcp", "udp", "th"):
            self.expect("dport")
            return Sel(f"{tok} dport", "inet_service")
        if tok == "meta":
            what = self.expect("l4proto", "mark")
            if what == "l4proto":
                return Sel("meta l4proto", "inet_proto")
            binop = None
            if self.peek() in ("and", "or", "xor"):
                op = self.next()
                binop = (op, parse_literal("mark", self.next()))
            return Sel("meta mark", "mark", binop)
        if tok == "fib":
            addr = self.expect("saddr", "daddr")
            self.expect("type")
            return Sel(f"fib {addr} type", "fib")
        if tok == "ct":
            what = self.expect("state", "status", "mark")
            return Sel("ct mark", "mark") if what == "mark" else Sel(f"ct {what}", f"ct_{what}")
        if tok == "numgen":
            self.expect("random")
            self.expect("mod")
            mod = parse_literal("integer", self.next())
            if mod <= 0:
                raise self.fail("numgen modulus must be positive")
            if self.peek() == "offset":
                raise self.fail("numgen offset is not supported")
            return Sel("numgen", "integer", mod=mod)
        self.i -= 1
        raise self.fail("unknown expression")

    def concat(self) -> tuple[Sel, ...]:
        sels = [self.selector()]
        while self.peek() == ".":
            self.next()
            sels.append(self.selector())
        return tuple(sels)

    def verdict(self) -> Verdict:
        tok = self.expect("accept", "drop", "return", "jump", "goto")
        if tok in ("jump", "goto"):
            return Verdict(tok, check_name(self.next(), "chain"))
        return Verdict(tok)

    def key(self, dtypes: tuple[str, ...]) -> tuple:
        parts = []
        for n, dtype in enumerate(dtypes):
            if n:
                self.expect(".")
            parts.append(_exact_key(dtype, parse_literal(dtype, self.next())))
        return tuple(parts)

    def braced(self, item) -> list:
        """``{ item, item, ... }`` (an empty pair of braces is an error)."""
        self.expect("{")
        items = [item()]
        while self.expect(",", "}") == ",":
            items.append(item())
        return items

    def element_comment(self, key: tuple, comments: dict | None) -> None:
        """An element's optional ``comment "..."`` (only where ``comments`` collects them)."""
        if comments is None or self.peek() != "comment":
            return
        self.next()
        text = self.next()
        if not (text.startswith('"') and text.endswith('"') and len(text) > 1):
            raise self.fail("an element comment must be a quoted string")
        comments[key] = text[1:-1]

    def vmap_body(self, dtypes: tuple[str, ...], data: tuple[str, ...] | None = None,
                  comments: dict | None = None) -> list[tuple[tuple, Verdict | tuple]]:
        """``{ KEY : VERDICT, ... }``, or ``KEY : DATA`` with ``data`` types;
        element comments go to ``comments``."""
        def entry():
            key = self.key(dtypes)
            self.element_comment(key, comments)
            self.expect(":")
            return key, self.verdict() if data is None else self.key(data)
        entries = self.braced(entry)
        keys = [k for k, _ in entries]
        if len(set(keys)) != len(keys):
            raise self.fail("duplicate key in a map")
        return entries

    def value(self, dtype: str) -> tuple[tuple | None, str | None]:
        tok = self.peek()
        if tok is None:
            raise self.fail("missing value")
        if tok.startswith("@"):
            self.next()
            return None, check_name(tok[1:], "set")
        if tok == "{":
            return tuple(self.braced(lambda: parse_literal(dtype, self.next()))), None
        return (parse_literal(dtype, self.next()),), None

    def statement(self):
        tok = self.peek()
        if tok in ("accept", "drop", "return", "jump", "goto"):
            return self.verdict()
        if tok == "reject":
            self.next()
            return Reject()
        if tok == "dnat" and self.peek(1) == "ip":
            self.i += 2
            self.expect("to")
            sels = self.concat()
            self.expect("map")
            ref = self.next()
            if not ref.startswith("@"):
                raise self.fail("dnat ip to ... map needs @map")
            return DnatMap(sels, check_name(ref[1:], "map"))
        if tok == "dnat":
            self.next()
            self.expect("to")
            m = re.fullmatch(r"([0-9.]+)(?::(\d+))?", self.next())
            if not m:
                raise self.fail("dnat needs to IP[:PORT]")
            ip = parse_literal("ipv4_addr", m.group(1))
            if ip.prefixlen != 32:
                raise self.fail("dnat to a prefix")
            port = parse_literal("inet_service", m.group(2)) if m.group(2) else None
            return Dnat(ip.network_address, port)
        if tok == "masquerade":
            self.next()
            flags: list[str] = []
            if self.peek() is not None and set(self.peek().split(",")) <= {
                    "random", "fully-random", "persistent"}:
                flags = self.next().split(",")
            return Masquerade(tuple(flags))
        if tok == "update":
            self.next()
            ref = self.next()
            if not ref.startswith("@"):
                raise self.fail("update needs @set")
            self.expect("{")
            sels = self.concat()
            self.expect("}")
            return Update(check_name(ref[1:], "set"), sels)
        if tok == "meta" and self.peek(1) == "mark" and self.peek(2) == "set":
            self.i += 3
            if self.peek() == "meta":
                self.next()
                self.expect("mark")
                op = self.expect("and", "or", "xor")
                return SetMark(op, parse_literal("mark", self.next()))
            return SetMark(None, parse_literal("mark", self.next()))
        if tok == "ct" and self.peek(1) == "mark" and self.peek(2) == "set":
            self.i += 3
            if self.peek() == "numgen":
                return SetCtMark(self.selector())
            return SetCtMark(parse_literal("mark", self.next()))
        sels = self.concat()
        if self.peek() == "vmap":
            self.next()
            if self.peek() and self.peek().startswith("@"):
                return VmapLookup(sels, check_name(self.next()[1:], "map"))
            entries = self.vmap_body(tuple(s.dtype for s in sels))
            return VmapLookup(sels, None, tuple(entries))
        if len(sels) != 1:
            ref = self.next() if self.peek() and self.peek().startswith("@") else ""
            if not ref:
                raise self.fail("a concatenation is only understood before vmap or @set")
            return SetLookup(sels, check_name(ref[1:], "set"))
        negate = False
        if self.peek() in ("==", "!="):
            negate = self.next() == "!="
        values, set_ref = self.value(sels[0].dtype)
        return Match(sels[0], negate, values, set_ref)


def parse_rule(text: str, where: str = "rule") -> Rule:
    tokens = TOKEN.findall(text)
    if re.sub(r"\s+", "", "".join(tokens)) != re.sub(r"\s+", "", text):
        raise NftSyntaxError(f"{where}: cannot tokenize {text!r}")
    comment = None
    if len(tokens) >= 2 and tokens[-2] == "comment":
        if not (tokens[-1].startswith('"') and tokens[-1].endswith('"') and len(tokens[-1]) > 1):
            raise NftSyntaxError(f"{where}: comment must be a quoted string: {text!r}")
        comment = tokens[-1][1:-1]
        tokens = tokens[:-2]
    if any(t.startswith('"') or t == "comment" for t in tokens):
        raise NftSyntaxError(f"{where}: stray string or comment: {text!r}")
    p = Tokens(tokens, f"{where}: {text!r}")
    stmts = []
    while not p.done():
        if stmts and isinstance(stmts[-1], TERMINAL):
            raise p.fail("statement after a terminal statement")
        stmts.append(p.statement())
    if not stmts:
        raise NftSyntaxError(f"{where}: empty rule")
    for n, st in enumerate(stmts):
        # nft: "transport protocol mapping is only valid after transport protocol match"
        if isinstance(st, Dnat) and st.port is not None and not any(
                isinstance(s, Match) and s.sel.kind in ("meta l4proto", "tcp dport",
                                                        "udp dport", "th dport")
                for s in stmts[:n]):
            raise NftSyntaxError(f"{where}: dnat to a port needs a transport protocol "
                                 f"match first: {text!r}")
    return Rule(text, comment, tuple(stmts))


def chain_spec(name: str, spec: str) -> Chain:
    parts = [p.strip() for p in spec.split(";") if p.strip()]
    m = re.fullmatch(r"type (filter|nat) hook (prerouting|input|forward|output|postrouting) "
                     r"priority (.+)", parts[0]) if parts else None
    if not m or len(parts) > 2 or (len(parts) == 2 and parts[1] not in (
            "policy accept", "policy drop")):
        raise NftSyntaxError(f"chain {name}: unknown base chain spec {{ {spec} }}")
    ctype, hook = m.group(1), m.group(2)
    if ctype == "nat" and hook == "forward":
        raise NftTransactionError(f"chain {name}: nat chains cannot use the forward hook")
    policy = parts[1].split()[1] if len(parts) == 2 else "accept"
    return Chain(name, spec.strip(), ctype, hook, parse_priority(m.group(3)), policy)


def _comment(name: str, part: str) -> None:
    if not re.fullmatch(r'comment "[^"]*"', part):
        raise NftSyntaxError(f"{name}: comment must be a quoted string: {part!r}")


def _typeof(name: str, text: str) -> tuple[str, ...]:
    p = Tokens(TOKEN.findall(text), f"map {name}: typeof")
    sels = p.concat()
    if not p.done():
        raise p.fail("trailing text")
    return tuple(s.dtype for s in sels)


def map_spec(name: str, spec: str) -> NftMap:
    """``type K . K : verdict;``, ``type K . K : D . D;`` or
    ``typeof EXPR . EXPR : EXPR . EXPR;``, and an optional ``comment "..."``."""
    parts = [p.strip() for p in spec.split(";") if p.strip()]
    for part in parts[1:]:
        _comment(f"map {name}", part)
    m = re.fullmatch(r"type (.+?) : (.+)", parts[0]) if len(parts) in (1, 2) else None
    if m:
        types = tuple(t.strip() for t in m.group(1).split(" . "))
        data = None if m.group(2) == "verdict" else \
            tuple(t.strip() for t in m.group(2).split(" . "))
        if not set(types) | set(data or ()) <= DATA_TYPES:
            raise NftSyntaxError(f"map {name}: unknown spec {{ {spec} }}")
        return NftMap(name, spec.strip(), types, data_types=data)
    m = re.fullmatch(r"typeof (.+?) : (.+)", parts[0]) if len(parts) in (1, 2) else None
    if not m:
        raise NftSyntaxError(f"map {name}: unknown spec {{ {spec} }}")
    return NftMap(name, spec.strip(), _typeof(name, m.group(1)), data_types=_typeof(
        name, m.group(2)))


def set_spec(name: str, spec: str) -> NftSet:
    dtype, flags, timeout = None, frozenset(), None
    for part in (p.strip() for p in spec.split(";") if p.strip()):
        word, _, rest = part.partition(" ")
        if word == "type" and set(rest.split(" . ")) <= DATA_TYPES:
            dtype = rest
        elif word == "comment":
            _comment(f"set {name}", part)
        elif word == "flags" and set(rest.split(",")) <= SET_FLAGS:
            flags = frozenset(rest.split(","))
        elif word == "timeout" and re.fullmatch(r"\d+[smhd]", rest):
            timeout = int(rest[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[rest[-1]]
        else:
            raise NftSyntaxError(f"set {name}: unknown spec part {part!r}")
    if dtype is None:
        raise NftSyntaxError(f"set {name}: no type")
    if timeout is not None and "timeout" not in flags:
        raise NftTransactionError(f"set {name}: a timeout needs flags timeout")
    return NftSet(name, spec.strip(), dtype, flags, timeout)
