"""The data model of the nftables simulator (``k8snet.trace.nftsim``).

Constants, errors, and what a loaded ``ip kproxy`` table holds: chains of
parsed rules (matches, verdict-map lookups, statements, verdicts), sets and
verdict maps.  ``nftsim_parse`` reads rules, ``nftsim_load`` runs ``nft -f``
transactions into a ``Table``, ``nftsim`` traces packets through one.
"""
from __future__ import annotations

import ipaddress
import re
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
PROTOS = {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "6": "tcp", "17": "udp", "132": "sctp"}
CT_STATES = {"new", "established", "related", "invalid", "untracked"}
CT_STATUSES = {"expected", "seen-reply", "assured", "confirmed", "snat", "dnat", "dying"}
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

    kind: str                 # "ip saddr", "tcp dport", "fib daddr type", "ct mark",
    #                           "numgen", ...
    dtype: str                # ipv4_addr, inet_service, inet_proto, mark (meta mark and
    #                           ct mark), fib, ct_state, ct_status, integer (numgen)
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
class SetLookup:
    """``SEL . SEL ... @set``: the concatenated key is an element of the set."""

    sels: tuple[Sel, ...]
    set_ref: str


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
class SetCtMark:
    """``ct mark set VALUE``: the connection's mark becomes a literal or
    what a selector yields (kproxy: ``numgen random mod N``, the index of
    the endpoint it picks)."""

    value: Sel | int


@dataclass(frozen=True)
class Update:
    set_ref: str
    sels: tuple[Sel, ...]


@dataclass(frozen=True)
class Dnat:
    ip: ipaddress.IPv4Address
    port: int | None


@dataclass(frozen=True)
class DnatMap:
    """``dnat ip to SEL . SEL ... map @m``: the DNAT target is the data of the
    element keyed by the packet (``ip . port``); no element, no match."""

    sels: tuple[Sel, ...]
    map_ref: str


@dataclass(frozen=True)
class Masquerade:
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Reject:
    pass


TERMINAL = (Verdict, VmapLookup, Dnat, DnatMap, Masquerade, Reject)


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
                if isinstance(st, Match | Update | SetLookup) and st.set_ref]

    def map_refs(self) -> list[str]:
        return [st.map_ref for st in self.stmts
                if isinstance(st, VmapLookup | DnatMap) and st.map_ref]


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
    comments: dict = field(default_factory=dict)      # element -> its comment

    @property
    def types(self) -> tuple[str, ...]:
        """The key's types: one, or the parts of a concatenation."""
        return tuple(self.dtype.split(" . "))


@dataclass
class NftMap:
    name: str
    spec: str
    key_types: tuple[str, ...]
    elements: dict[tuple, Verdict | tuple] = field(default_factory=dict)
    data_types: tuple[str, ...] | None = None     # None: a verdict map
    comments: dict[tuple, str] = field(default_factory=dict)   # element -> its comment


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
                if isinstance(verdict, Verdict) and verdict.target:
                    refs.append(("chain", verdict.target, f"map {m.name} element {key}"))
        return refs
