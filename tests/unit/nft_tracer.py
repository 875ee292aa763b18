"""A packet tracer over kproxy's rendered ``nft -f`` text.

After kube-proxy's ``tracePacket`` (pkg/proxy/nftables/helpers_test.go): the
tests do not compare rendered rules with expected rules, they load the
*text* that would be fed to ``nft -f``, push a packet through it and check
what comes out (verdict, DNAT target, masquerade).  That tests behaviour and
survives refactors of the chain layout.

Loading models an ``nft -f`` transaction closely enough to catch what the
kernel would refuse: commands run in order against a table (optionally the
table a previous transaction left), a rule or element may only reference
chains, sets and maps that already exist (ENOENT), jumps into base chains are
refused (EOPNOTSUPP), a chain or set something still references cannot be
deleted (EBUSY), ``add set`` of an existing set must repeat its type and
flags (its timeout may change) and a map key may not be added twice with
different verdicts (EEXIST).  These were checked against nft 1.0.6 on a
6.x kernel.  Anything not understood raises :class:`NftSyntaxError`: the tracer
never skips text it cannot evaluate.

What the tracer evaluates -- exactly the forms ``kproxy.nft`` emits:

* matches: ``ip saddr|daddr [!=] ADDR[/LEN] | { a, b } | @set``,
  ``tcp|udp|th dport``, ``meta l4proto``, ``fib saddr|daddr type local``
  (against ``local_ips`` and ``node_ip``), ``ct state new`` (every traced
  packet is the first of its connection), ``meta mark [and|or|xor M] [==|!=] V``;
* ``SEL . SEL ... vmap @map | { k : verdict, ... }`` and
  ``numgen random mod N vmap { ... }`` (the ``numgen`` argument is the random
  number: index ``numgen % N`` is taken);
* statements: ``meta mark set meta mark or|xor|and M``,
  ``update @set { ip saddr }``, ``dnat to IP[:PORT]``,
  ``masquerade [fully-random|random|persistent]``, ``reject``;
* verdicts: ``accept``, ``drop``, ``return``, ``jump``, ``goto``.

Hooks run in kernel order.  ``hook_path="prerouting"``: a packet arriving at
the node (from a local pod or from outside): prerouting chains by priority;
then, on the post-DNAT destination, ``input`` chains if it is a local address
(such a packet never reaches postrouting) or ``forward`` then ``postrouting``
chains.  ``hook_path="output"``: a packet the node sends itself: output chains
by priority (kproxy's ``filter-output`` at -110 runs *before* ``nat-output``
at -100, as kube-proxy intends, so it sees the service IP, not the DNATed
one), then postrouting; if the destination is local the packet loops back
through the input hook's filter chains (NAT is not re-evaluated: conntrack
already holds the binding).

The tracer also enforces where statements are legal, as the kernel does when
a rule becomes reachable from a base chain: ``dnat`` only in nat chains of
the prerouting/output hooks, ``masquerade`` only in nat postrouting,
``reject`` only in input/forward/output.
"""
from __future__ import annotations

import copy
import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FAMILY = "ip"
TABLE = "kproxy"
ACCEPT, DROP, REJECT = "ACCEPT", "DROP", "REJECT"
HOOK_PATHS = ("prerouting", "output")
JUMP_STACK = 16  # NFT_JUMP_STACK_SIZE
PRIORITY_NAMES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0,
                  "security": 50, "srcnat": 100}
NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9/\-_.]*$")  # nft's unquoted identifier
TOKEN = re.compile(r'"[^"]*"|[{},]|[^\s{},]+')
PROTOS = {"tcp": "tcp", "udp": "udp", "6": "tcp", "17": "udp"}
CT_STATES = {"new", "established", "related", "invalid", "untracked"}
FIB_TYPES = {"local", "unicast", "broadcast", "anycast", "multicast", "blackhole",
             "unreachable", "prohibit"}
SET_FLAGS = {"dynamic", "timeout", "interval", "constant"}
DATA_TYPES = {"ipv4_addr", "inet_proto", "inet_service", "mark"}


class NftError(Exception):
    """Base class for everything this module raises."""


class NftSyntaxError(NftError):
    """Text the tracer does not understand: never silently skipped."""


class NftTransactionError(NftError):
    """A command ``nft -f`` would refuse (missing reference, busy object...)."""


class NftTraceError(NftError):
    """Evaluation went somewhere the kernel would not allow (or loops)."""


# ----------------------------------------------------------------------- model

@dataclass(frozen=True)
class Sel:
    """A selector: ``ip saddr``, ``meta mark and 0x4000``, ``numgen random mod 2``..."""

    kind: str                 # "ip saddr", "tcp dport", "fib daddr type", "numgen", ...
    dtype: str                # ipv4_addr, inet_service, inet_proto, mark, fib, ct_state, integer
    binop: tuple[str, int] | None = None   # meta mark and|or|xor MASK
    mod: int = 0              # numgen random mod N

    def __str__(self) -> str:
        text = f"numgen random mod {self.mod}" if self.kind == "numgen" else self.kind
        return f"{text} {self.binop[0]} {self.binop[1]:#x}" if self.binop else text


@dataclass(frozen=True)
class Verdict:
    kind: str                 # accept, drop, return, jump, goto
    target: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.target}" if self.target else self.kind


@dataclass(frozen=True)
class Match:
    sel: Sel
    negate: bool
    values: tuple | None      # literal alternatives, or None with set_ref
    set_ref: str | None = None


@dataclass(frozen=True)
class VmapLookup:
    sels: tuple[Sel, ...]
    map_ref: str | None       # @name, or None with anon
    anon: tuple[tuple[tuple, Verdict], ...] | None = None


@dataclass(frozen=True)
class SetMark:
    op: str | None            # or/xor/and on the current mark, None to assign
    value: int


@dataclass(frozen=True)
class Update:
    set_ref: str
    sels: tuple[Sel, ...]


@dataclass(frozen=True)
class Dnat:
    ip: ipaddress.IPv4Address
    port: int | None


@dataclass(frozen=True)
class Masquerade:
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Reject:
    pass


TERMINAL = (Verdict, VmapLookup, Dnat, Masquerade, Reject)


@dataclass(frozen=True)
class Rule:
    text: str
    comment: str | None
    stmts: tuple

    def chain_refs(self) -> list[str]:
        out = []
        for st in self.stmts:
            if isinstance(st, Verdict) and st.target:
                out.append(st.target)
            if isinstance(st, VmapLookup) and st.anon:
                out += [v.target for _, v in st.anon if v.target]
        return out

    def set_refs(self) -> list[str]:
        return [st.set_ref for st in self.stmts
                if isinstance(st, Match | Update) and st.set_ref]

    def map_refs(self) -> list[str]:
        return [st.map_ref for st in self.stmts if isinstance(st, VmapLookup) and st.map_ref]


@dataclass
class Chain:
    name: str
    spec: str | None = None   # None for a regular chain
    type: str | None = None
    hook: str | None = None
    priority: int | None = None
    policy: str = "accept"
    rules: list[Rule] = field(default_factory=list)

    @property
    def base(self) -> bool:
        return self.hook is not None


@dataclass
class NftSet:
    name: str
    spec: str
    dtype: str
    flags: frozenset[str]
    timeout: int | None
    elements: set = field(default_factory=set)


@dataclass
class NftMap:
    name: str
    spec: str
    key_types: tuple[str, ...]
    elements: dict[tuple, Verdict] = field(default_factory=dict)


@dataclass
class Table:
    exists: bool = False
    chains: dict[str, Chain] = field(default_factory=dict)
    sets: dict[str, NftSet] = field(default_factory=dict)
    maps: dict[str, NftMap] = field(default_factory=dict)

    def base_chains(self, hook: str) -> list[Chain]:
        chains = [c for c in self.chains.values() if c.hook == hook]
        return sorted(chains, key=lambda c: c.priority)

    def references(self) -> list[tuple[str, str, str]]:
        """``(kind, name, where)`` for every chain, set and map reference."""
        refs = []
        for chain in self.chains.values():
            for rule in chain.rules:
                where = f"chain {chain.name}: {rule.text}"
                refs += [("chain", n, where) for n in rule.chain_refs()]
                refs += [("set", n, where) for n in rule.set_refs()]
                refs += [("map", n, where) for n in rule.map_refs()]
        for m in self.maps.values():
            for key, verdict in m.elements.items():
                if verdict.target:
                    refs.append(("chain", verdict.target, f"map {m.name} element {key}"))
        return refs


# --------------------------------------------------------------------- parsing

def _name(name: str, what: str) -> str:
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


class _Tokens:
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
            self.expect("state")
            return Sel("ct state", "ct_state")
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
            return Verdict(tok, _name(self.next(), "chain"))
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

    def vmap_body(self, dtypes: tuple[str, ...]) -> list[tuple[tuple, Verdict]]:
        def entry():
            key = self.key(dtypes)
            self.expect(":")
            return key, self.verdict()
        entries = self.braced(entry)
        keys = [k for k, _ in entries]
        if len(set(keys)) != len(keys):
            raise self.fail("duplicate key in a verdict map")
        return entries

    def value(self, dtype: str) -> tuple[tuple | None, str | None]:
        tok = self.peek()
        if tok is None:
            raise self.fail("missing value")
        if tok.startswith("@"):
            self.next()
            return None, _name(tok[1:], "set")
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
            return Update(_name(ref[1:], "set"), sels)
        if tok == "meta" and self.peek(1) == "mark" and self.peek(2) == "set":
            self.i += 3
            if self.peek() == "meta":
                self.next()
                self.expect("mark")
                op = self.expect("and", "or", "xor")
                return SetMark(op, parse_literal("mark", self.next()))
            return SetMark(None, parse_literal("mark", self.next()))
        sels = self.concat()
        if self.peek() == "vmap":
            self.next()
            if self.peek() and self.peek().startswith("@"):
                return VmapLookup(sels, _name(self.next()[1:], "map"))
            entries = self.vmap_body(tuple(s.dtype for s in sels))
            return VmapLookup(sels, None, tuple(entries))
        if len(sels) != 1:
            raise self.fail("a concatenation is only understood before vmap")
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
    p = _Tokens(tokens, f"{where}: {text!r}")
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


def _chain_spec(name: str, spec: str) -> Chain:
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


def _map_spec(name: str, spec: str) -> NftMap:
    parts = [p.strip() for p in spec.split(";") if p.strip()]
    m = re.fullmatch(r"type (.+) : verdict", parts[0]) if len(parts) == 1 else None
    types = tuple(t.strip() for t in m.group(1).split(" . ")) if m else ()
    if not m or not set(types) <= DATA_TYPES:
        raise NftSyntaxError(f"map {name}: unknown spec {{ {spec} }}")
    return NftMap(name, spec.strip(), types)


def _set_spec(name: str, spec: str) -> NftSet:
    dtype, flags, timeout = None, frozenset(), None
    for part in (p.strip() for p in spec.split(";") if p.strip()):
        word, _, rest = part.partition(" ")
        if word == "type" and rest in DATA_TYPES:
            dtype = rest
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


_OBJ = rf"{FAMILY} {TABLE} (\S+)"
_COMMANDS = [
    ("add_table", re.compile(rf'^add table {FAMILY} {TABLE}(?: \{{ comment "[^"]*"; \}})?$')),
    ("delete_table", re.compile(rf"^delete table {FAMILY} {TABLE}$")),
    ("add_chain", re.compile(rf"^add chain {_OBJ}(?: \{{ (.*) \}})?$")),
    ("add_map", re.compile(rf"^add map {_OBJ} \{{ (.*) \}}$")),
    ("add_set", re.compile(rf"^add set {_OBJ} \{{ (.*) \}}$")),
    ("flush_chain", re.compile(rf"^flush chain {_OBJ}$")),
    ("flush_map", re.compile(rf"^flush map {_OBJ}$")),
    ("delete_chain", re.compile(rf"^delete chain {_OBJ}$")),
    ("delete_set", re.compile(rf"^delete set {_OBJ}$")),
    ("add_rule", re.compile(rf"^add rule {_OBJ} (.+)$")),
    ("add_element", re.compile(rf"^add element {_OBJ} (\{{ .* \}})$")),
    ("delete_element", re.compile(rf"^delete element {_OBJ} (\{{ .* \}})$")),
]


class _Loader:
    def __init__(self, table: Table) -> None:
        self.tb = table

    def need_table(self, line: str) -> None:
        if not self.tb.exists:
            raise NftTransactionError(f"no such table {FAMILY} {TABLE}: {line}")

    def chain(self, name: str, line: str) -> Chain:
        if name not in self.tb.chains:
            raise NftTransactionError(f"no such chain {name}: {line}")
        return self.tb.chains[name]

    def referenced(self, kind: str, name: str) -> list[str]:
        return [where for k, n, where in self.tb.references() if (k, n) == (kind, name)]

    def check_targets(self, refs: Iterable[str], line: str) -> None:
        for target in refs:
            chain = self.chain(target, line)
            if chain.base:
                raise NftTransactionError(f"jump/goto into base chain {target}: {line}")

    def run(self, line: str) -> None:
        for cmd, rx in _COMMANDS:
            m = rx.match(line)
            if m:
                getattr(self, cmd)(line, *m.groups())
                return
        raise NftSyntaxError(f"unknown command: {line!r}")

    def add_table(self, line: str) -> None:
        self.tb.exists = True

    def delete_table(self, line: str) -> None:
        self.need_table(line)
        self.tb.__init__()

    def add_chain(self, line: str, name: str, spec: str | None) -> None:
        self.need_table(line)
        _name(name, "chain")
        new = _chain_spec(name, spec) if spec is not None else Chain(name)
        old = self.tb.chains.get(name)
        if old is None:
            self.tb.chains[name] = new
        elif spec is not None and (old.type, old.hook, old.priority) != (
                new.type, new.hook, new.priority):
            raise NftTransactionError(f"chain {name} exists with another hook: {line}")

    def add_map(self, line: str, name: str, spec: str) -> None:
        self.need_table(line)
        new = _map_spec(_name(name, "map"), spec)
        old = self.tb.maps.get(name)
        if name in self.tb.sets:
            raise NftTransactionError(f"{name} is a set: {line}")
        if old is None:
            self.tb.maps[name] = new
        elif old.key_types != new.key_types:
            raise NftTransactionError(f"map {name} exists with another type (EEXIST): {line}")

    def add_set(self, line: str, name: str, spec: str) -> None:
        self.need_table(line)
        new = _set_spec(_name(name, "set"), spec)
        old = self.tb.sets.get(name)
        if name in self.tb.maps:
            raise NftTransactionError(f"{name} is a map: {line}")
        if old is None:
            self.tb.sets[name] = new
        elif (old.dtype, old.flags) != (new.dtype, new.flags):
            raise NftTransactionError(f"set {name} exists with another type or flags "
                                      f"(EEXIST): {line}")
        else:
            old.timeout = new.timeout  # the kernel updates a set's timeout in place

    def flush_chain(self, line: str, name: str) -> None:
        self.chain(name, line).rules.clear()

    def flush_map(self, line: str, name: str) -> None:
        if name not in self.tb.maps:
            raise NftTransactionError(f"no such map {name}: {line}")
        self.tb.maps[name].elements.clear()

    def delete_chain(self, line: str, name: str) -> None:
        self.chain(name, line)
        # A chain still holding rules is deleted with them (current kernels);
        # a chain something else jumps to is busy.
        users = self.referenced("chain", name)
        if users:
            raise NftTransactionError(f"chain {name} is in use by {users[0]} (EBUSY): {line}")
        del self.tb.chains[name]

    def delete_set(self, line: str, name: str) -> None:
        if name not in self.tb.sets:
            raise NftTransactionError(f"no such set {name}: {line}")
        users = self.referenced("set", name)
        if users:
            raise NftTransactionError(f"set {name} is in use by {users[0]} (EBUSY): {line}")
        del self.tb.sets[name]

    def add_rule(self, line: str, name: str, text: str) -> None:
        chain = self.chain(name, line)
        rule = parse_rule(text, f"chain {name}")
        self.check_targets(rule.chain_refs(), line)
        for st in rule.stmts:
            if isinstance(st, Match) and st.set_ref:
                self.check_set(st.set_ref, (st.sel.dtype,), line)
            if isinstance(st, Update):
                s = self.check_set(st.set_ref, tuple(x.dtype for x in st.sels), line)
                if "dynamic" not in s.flags:
                    raise NftTransactionError(f"update of set {s.name} without "
                                              f"flags dynamic: {line}")
            if isinstance(st, VmapLookup) and st.map_ref:
                m = self.tb.maps.get(st.map_ref)
                if m is None:
                    raise NftTransactionError(f"no such map {st.map_ref}: {line}")
                if m.key_types != tuple(s.dtype for s in st.sels):
                    raise NftTransactionError(f"map {m.name} is keyed by "
                                              f"{' . '.join(m.key_types)}: {line}")
        chain.rules.append(rule)

    def check_set(self, name: str, dtypes: tuple[str, ...], line: str) -> NftSet:
        s = self.tb.sets.get(name)
        if s is None:
            raise NftTransactionError(f"no such set {name}: {line}")
        if (s.dtype,) != dtypes:
            raise NftTransactionError(f"set {name} holds {s.dtype}: {line}")
        return s

    def add_element(self, line: str, name: str, body: str) -> None:
        p = _Tokens(TOKEN.findall(body), line)
        if name in self.tb.maps:
            m = self.tb.maps[name]
            entries = p.vmap_body(m.key_types)
            if not p.done():
                raise p.fail("trailing text")
            self.check_targets([v.target for _, v in entries if v.target], line)
            for key, verdict in entries:
                if key in m.elements and m.elements[key] != verdict:
                    raise NftTransactionError(f"map {name}: key {key} already maps to "
                                              f"{m.elements[key]} (EEXIST): {line}")
                m.elements[key] = verdict
        elif name in self.tb.sets:
            s = self.tb.sets[name]
            items = p.braced(lambda: parse_literal(s.dtype, p.next()))
            if not p.done():
                raise p.fail("trailing text")
            s.elements.update(items)
        else:
            raise NftTransactionError(f"no such set or map {name}: {line}")


    def delete_element(self, line: str, name: str, body: str) -> None:
        """Keys only; a key that is not there is ENOENT, as in the kernel."""
        if name not in self.tb.maps:
            raise NftTransactionError(f"no such map {name}: {line}")
        m = self.tb.maps[name]
        p = _Tokens(TOKEN.findall(body), line)
        keys = p.braced(lambda: p.key(m.key_types))
        if not p.done():
            raise p.fail("trailing text")
        for key in keys:
            if key not in m.elements:
                raise NftTransactionError(f"map {name}: no element {key} (ENOENT): {line}")
            del m.elements[key]


def load(text: str, table: Table | None = None) -> Table:
    """Apply an ``nft -f`` transaction to ``table`` (a copy: atomic, like nft)."""
    tb = copy.deepcopy(table) if table is not None else Table()
    loader = _Loader(tb)
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            loader.run(line)
        except NftError as exc:
            raise type(exc)(f"line {lineno}: {exc}") from None
    return tb


@functools.lru_cache(maxsize=64)
def _load_cached(text: str) -> Table:
    return load(text)


# ------------------------------------------------------------------ validation

ALLOWED = {  # statement -> (chain types, hooks) it may be reached from
    Dnat: ({"nat"}, {"prerouting", "output"}),
    Masquerade: ({"nat"}, {"postrouting"}),
    Reject: ({"filter", "nat"}, {"input", "forward", "output"}),
}


def _check_legal(stmt, base: Chain, where: str) -> None:
    rule = ALLOWED.get(type(stmt))
    if rule and (base.type not in rule[0] or base.hook not in rule[1]):
        raise NftTraceError(f"{type(stmt).__name__.lower()} reached from base chain "
                            f"{base.name} ({base.type} {base.hook}): {where}")


def reachable(table: Table, start: str) -> list[str]:
    """Chains reachable from ``start`` through rules and verdict maps."""
    seen, todo = [], [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in table.chains:
            continue
        seen.append(name)
        for rule in table.chains[name].rules:
            todo += rule.chain_refs()
            for m in rule.map_refs():
                if m in table.maps:
                    todo += [v.target for v in table.maps[m].elements.values() if v.target]
    return seen


def unreferenced_chains(table: Table) -> list[str]:
    """Regular chains no base chain can reach (harmless, but clutter)."""
    live = {n for c in table.chains.values() if c.base for n in reachable(table, c.name)}
    return sorted(n for n in table.chains if n not in live)


def check_jump_targets(text: str, table: Table | None = None) -> Table:
    """Assert every goto/jump/vmap target and every @set/@map reference is defined.

    Also asserts the transaction loads (references resolve in text order, as
    nft needs) and that statements are legal in every base chain that can
    reach them (``dnat``/``masquerade``/``reject`` hook restrictions).
    """
    try:
        tb = load(text, table)
    except NftTransactionError as exc:
        raise AssertionError(f"transaction nft would refuse: {exc}") from None
    dangling = [(kind, name, where) for kind, name, where in tb.references()
                if name not in {"chain": tb.chains, "set": tb.sets, "map": tb.maps}[kind]]
    assert not dangling, f"undefined references: {dangling}"
    for base in (c for c in tb.chains.values() if c.base):
        for name in reachable(tb, base.name):
            for rule in tb.chains[name].rules:
                for st in rule.stmts:
                    try:
                        _check_legal(st, base, f"{name}: {rule.text}")
                    except NftTraceError as exc:
                        raise AssertionError(str(exc)) from None
    return tb


# --------------------------------------------------------------------- tracing

class _NoMatch(Exception):
    pass


@dataclass
class TraceResult:
    verdict: str                    # ACCEPT, DROP, REJECT
    dnat: str | None                # "ip:port" (or "ip") of the DNAT, None if none
    masquerade: str | None          # the node IP when masqueraded, else None
    chains: list[str]               # every chain entered, in order
    src_ip: str = ""                # the packet as it leaves (after NAT)
    dst_ip: str = ""
    dport: int = 0
    mark: int = 0
    set_updates: list[tuple[str, str]] = field(default_factory=list)
    numgen_mods: list[int] = field(default_factory=list)

    @property
    def masqueraded(self) -> bool:
        return self.masquerade is not None


class _Outcome:
    def __init__(self, kind: str, stmt=None) -> None:
        self.kind, self.stmt = kind, stmt  # accept, drop, reject, dnat, masquerade


class _Tracer:
    def __init__(self, table: Table, src_ip: str, dst_ip: str, proto: str, dport: int,
                 local: set, node_ip: str, sets: dict[str, set], numgen: int) -> None:
        self.tb = table
        self.src = ipaddress.IPv4Address(src_ip)
        self.dst = ipaddress.IPv4Address(dst_ip)
        if proto not in ("tcp", "udp"):
            raise ValueError(f"proto must be tcp or udp, not {proto!r}")
        self.proto, self.dport = proto, int(dport)
        self.local, self.node_ip = local, node_ip
        self.sets, self.numgen = sets, numgen
        self.mark = 0
        self.dnat: str | None = None
        self.masq: str | None = None
        self.chains: list[str] = []
        self.updates: list[tuple[str, str]] = []
        self.mods: list[int] = []

    def is_local(self, addr: ipaddress.IPv4Address) -> bool:
        return addr in self.local or addr.is_loopback

    def sel(self, s: Sel):
        k = s.kind
        if k == "ip saddr":
            return self.src
        if k == "ip daddr":
            return self.dst
        if k in ("tcp dport", "udp dport"):
            if self.proto != k.split()[0]:
                raise _NoMatch  # nft's implicit "meta l4proto tcp" dependency
            return self.dport
        if k == "th dport":
            return self.dport
        if k == "meta l4proto":
            return self.proto
        if k == "meta mark":
            if not s.binop:
                return self.mark
            op, mask = s.binop
            return {"and": self.mark & mask, "or": self.mark | mask,
                    "xor": self.mark ^ mask}[op]
        if k in ("fib saddr type", "fib daddr type"):
            return "local" if self.is_local(self.src if "saddr" in k else self.dst) else "unicast"
        if k == "ct state":
            return "new"
        if k == "numgen":
            self.mods.append(s.mod)
            return self.numgen % s.mod
        raise NftTraceError(f"cannot evaluate {s}")

    @staticmethod
    def member(dtype: str, value, candidates: Iterable) -> bool:
        if dtype == "ipv4_addr":
            return any(value in net for net in candidates)
        return value in candidates

    def key(self, sels: tuple[Sel, ...]) -> tuple:
        return tuple(self.sel(s) for s in sels)

    def rule(self, rule: Rule, base: Chain, chain: str):
        """Run one rule: None if it fell through, else a Verdict or _Outcome."""
        where = f"{chain}: {rule.text}"
        try:
            for st in rule.stmts:
                _check_legal(st, base, where)
                if isinstance(st, Match):
                    have = self.sel(st.sel)
                    pool = st.values if st.set_ref is None else self.sets[st.set_ref]
                    if self.member(st.sel.dtype, have, pool) == st.negate:
                        return None
                elif isinstance(st, VmapLookup):
                    key = self.key(st.sels)
                    entries = dict(st.anon) if st.anon is not None else \
                        self.tb.maps[st.map_ref].elements
                    if key not in entries:
                        return None
                    return entries[key]
                elif isinstance(st, SetMark):
                    self.mark = {None: st.value, "or": self.mark | st.value,
                                 "xor": self.mark ^ st.value,
                                 "and": self.mark & st.value}[st.op]
                elif isinstance(st, Update):
                    value = self.key(st.sels)[0]
                    self.sets[st.set_ref].add(ipaddress.IPv4Network(value))
                    self.updates.append((st.set_ref, str(value)))
                elif isinstance(st, Verdict):
                    return st
                elif isinstance(st, Dnat):
                    return _Outcome("dnat", st)
                elif isinstance(st, Masquerade):
                    return _Outcome("masquerade", st)
                elif isinstance(st, Reject):
                    return _Outcome("reject")
                else:
                    raise NftTraceError(f"cannot evaluate {st!r} in {where}")
        except _NoMatch:
            return None
        return None

    def chain(self, name: str, base: Chain, depth: int = 0):
        """Run a chain: an _Outcome, or None when it returns/falls off the end."""
        if depth > JUMP_STACK:
            raise NftTraceError(f"jump stack overflow (a loop?) at {self.chains[-20:]}")
        self.chains.append(name)
        for rule in self.tb.chains[name].rules:
            v = self.rule(rule, base, name)
            if v is None:
                continue
            if isinstance(v, _Outcome):
                return v
            if v.kind == "accept":
                return _Outcome("accept")
            if v.kind == "drop":
                return _Outcome("drop")
            if v.kind == "return":
                return None
            if v.kind == "goto":
                return self.chain(v.target, base, depth + 1)
            result = self.chain(v.target, base, depth + 1)  # jump
            if result is not None:
                return result
        return None

    def hook(self, hook: str, types: tuple[str, ...] = ("filter", "nat")) -> str | None:
        """Run a hook's base chains by priority: DROP/REJECT, or None to go on."""
        for base in self.tb.base_chains(hook):
            if base.type not in types:
                continue
            out = self.chain(base.name, base)
            if out is None:
                if base.policy == "drop":
                    return DROP
                continue
            if out.kind == "drop":
                return DROP
            if out.kind == "reject":
                return REJECT
            if out.kind == "dnat":
                st = out.stmt
                self.dst = st.ip
                if st.port is not None:
                    self.dport = st.port
                self.dnat = f"{st.ip}:{st.port}" if st.port is not None else str(st.ip)
            elif out.kind == "masquerade":
                self.masq = self.node_ip
                self.src = ipaddress.IPv4Address(self.node_ip)
        return None

    def run(self, hook_path: str) -> str:
        if hook_path == "prerouting":
            stop = self.hook("prerouting")
            if stop:
                return stop
            if self.is_local(self.dst):
                return self.hook("input") or ACCEPT  # local delivery: no postrouting
            return self.hook("forward") or self.hook("postrouting") or ACCEPT
        if hook_path == "output":
            stop = self.hook("output") or self.hook("postrouting")
            if stop:
                return stop
            if self.is_local(self.dst):  # looped back: filter only, NAT is bound
                return (self.hook("prerouting", ("filter",))
                        or self.hook("input", ("filter",)) or ACCEPT)
            return ACCEPT
        raise ValueError(f"hook_path must be one of {HOOK_PATHS}, not {hook_path!r}")


def trace(text: str | Table, *, src_ip: str, dst_ip: str, proto: str, dport: int,
          hook_path: str, local_ips: Iterable[str], node_ip: str,
          affinity: Mapping[str, Iterable[str]] | None = None,
          numgen: int = 0) -> TraceResult:
    """Trace one (new-connection) packet through the rendered ruleset.

    ``affinity`` gives the current contents of dynamic sets (set name ->
    client IPs), e.g. a client already remembered by an endpoint; the table
    itself is not modified.  ``numgen`` is the random number ``numgen random``
    yields (``numgen % N`` is the index picked).
    """
    table = _load_cached(text) if isinstance(text, str) else text
    if not table.exists:
        raise NftTransactionError("the text creates no table")
    sets = {name: set(s.elements) for name, s in table.sets.items()}
    for name, ips in (affinity or {}).items():
        if name not in sets:
            raise KeyError(f"no set {name!r} in the ruleset (known: {sorted(sets)})")
        sets[name] |= {ipaddress.IPv4Network(ip) for ip in ips}
    local = {ipaddress.IPv4Address(ip) for ip in local_ips} | {ipaddress.IPv4Address(node_ip)}
    tracer = _Tracer(table, src_ip, dst_ip, proto, dport, local, node_ip, sets, numgen)
    verdict = tracer.run(hook_path)
    return TraceResult(verdict, tracer.dnat, tracer.masq, tracer.chains,
                       str(tracer.src), str(tracer.dst), tracer.dport, tracer.mark,
                       tracer.updates, tracer.mods)
