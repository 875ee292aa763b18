"""A packet tracer over kproxy's rendered ``nft -f`` text (``trace --simulate``).

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
flags (its timeout may change), a map key may not be added twice with
different verdicts (EEXIST), a lookup key must have the map's types (no
``numgen`` in a ``mark`` key) and a rule may not use a ``typeof ... th dport``
map an earlier transaction made (nft 1.0.6 cannot parse it back: the bug
kproxy's ``type`` maps avoid).  These were checked against nft 1.0.6 on a
6.x kernel.  Anything not understood raises :class:`NftSyntaxError`: the tracer
never skips text it cannot evaluate.

What the tracer evaluates -- exactly the forms ``kproxy.nft`` emits:

* matches: ``ip saddr|daddr [!=] ADDR[/LEN] | { a, b } | @set``,
  ``tcp|udp|th dport``, ``meta l4proto``, ``fib saddr|daddr type local``
  (against ``local_ips`` and ``node_ip``), ``ct state new`` (every traced
  packet is the first of its connection), ``ct status dnat`` (a DNAT was
  made in an earlier hook), ``meta mark [and|or|xor M] [==|!=] V``,
  ``ct mark`` (the connection's mark, 0 until a rule sets it), and
  ``SEL . SEL ... @set`` (a concatenated key in a set);
* ``SEL . SEL ... vmap @map | { k : verdict, ... }``; ``numgen random mod N``
  anywhere in a key (the ``numgen`` argument is the random number: index
  ``numgen % N`` is taken);
* statements: ``meta mark set meta mark or|xor|and M``,
  ``ct mark set numgen random mod N | M`` (kproxy keeps the endpoint index
  there; a ``type ... . mark`` key takes ``ct mark``, not ``numgen`` itself),
  ``update @set { ip saddr }``, ``dnat to IP[:PORT]``,
  ``dnat ip to SEL . SEL ... map @map`` (data map to ``ip . port``; a key
  that is not in the map ends the rule, as the kernel's lookup does),
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

The unit tests use it as kube-proxy's tests use theirs (``tests/unit/nft_tracer.py``
re-exports it); ``k8snet.trace.simulate`` walks a node's applied ruleset
with it, and ``trace_all`` gives every outcome a random pick can have.
The module is split: ``nftsim_model`` (the data), ``nftsim_parse`` (rules),
``nftsim_load`` (transactions and checks) and this one (tracing).
"""
from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from k8snet.trace.nftsim_load import (
    ALLOWED,
    check_jump_targets,
    check_legal,
    load,
    load_cached,
    reachable,
    unreferenced_chains,
)
from k8snet.trace.nftsim_model import (
    ACCEPT,
    CT_STATES,
    DATA_TYPES,
    DROP,
    FAMILY,
    FIB_TYPES,
    HOOK_PATHS,
    JUMP_STACK,
    NAME,
    PRIORITY_NAMES,
    PROTOS,
    REJECT,
    SET_FLAGS,
    TABLE,
    TERMINAL,
    TOKEN,
    Chain,
    Dnat,
    DnatMap,
    Masquerade,
    Match,
    NftError,
    NftMap,
    NftSet,
    NftSyntaxError,
    NftTraceError,
    NftTransactionError,
    Reject,
    Rule,
    Sel,
    SetCtMark,
    SetLookup,
    SetMark,
    Table,
    Update,
    Verdict,
    VmapLookup,
)
from k8snet.trace.nftsim_parse import parse_literal, parse_priority, parse_rule

__all__ = [
    "ACCEPT", "ALLOWED", "CT_STATES", "DATA_TYPES", "DROP", "FAMILY", "FIB_TYPES", "HOOK_PATHS",
    "JUMP_STACK", "NAME", "PRIORITY_NAMES", "PROTOS", "REJECT", "SET_FLAGS", "TABLE",
    "TERMINAL", "TOKEN", "Chain", "Dnat", "DnatMap", "Masquerade", "Match", "NftError", "NftMap",
    "NftSet", "NftSyntaxError", "NftTraceError", "NftTransactionError", "Reject", "Rule",
    "RuleMet", "Sel", "SetCtMark", "SetLookup", "SetMark", "Table", "TraceResult", "Update",
    "Verdict", "VmapLookup", "check_jump_targets",
    "load", "parse_literal", "parse_priority", "parse_rule", "reachable", "trace", "trace_all",
    "unreferenced_chains",
]


# --------------------------------------------------------------------- tracing

class _NoMatch(Exception):
    pass


@dataclass
class TraceResult:
    """What became of one traced packet."""

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
    rules: list[RuleMet] = field(default_factory=list)   # every rule that matched, in order
    numgen: int = 0                 # the random number this trace drew
    ct_mark: int = 0                # the connection's mark (kproxy: the endpoint index)

    @property
    def masqueraded(self) -> bool:
        return self.masquerade is not None


_NO_MATCH = object()


@dataclass(frozen=True)
class RuleMet:
    """A rule a traced packet matched, and what it did (``goto X``, ``dnat``,
    ``accept``..., or ``continue`` when it only set a mark or a set)."""

    chain: str
    rule: Rule
    verdict: str

    def __str__(self) -> str:
        text = f'"{self.rule.comment}"' if self.rule.comment else self.rule.text
        return f"{TABLE} {self.chain}: {text} ({self.verdict})"


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
        self.masq_source: Callable[[str], str] = lambda _dst: node_ip
        self.sets, self.numgen = sets, numgen
        self.mark = self.ct_mark = 0
        self.dnat: str | None = None
        self.masq: str | None = None
        self.chains: list[str] = []
        self.updates: list[tuple[str, str]] = []
        self.mods: list[int] = []
        self.met: list[RuleMet] = []

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
        if k == "ct mark":
            return self.ct_mark
        if k == "ct status":
            return "dnat" if self.dnat is not None else "confirmed"
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
        out = self._rule(rule, base, chain)
        if out is _NO_MATCH:
            return None
        if out is None:
            what = "continue"
        elif isinstance(out, Verdict):
            what = str(out)
        elif out.kind == "dnat":
            st = out.stmt
            what = f"dnat to {st.ip}:{st.port}" if st.port is not None else f"dnat to {st.ip}"
        else:
            what = out.kind
        self.met.append(RuleMet(chain, rule, what))
        return out

    def _rule(self, rule: Rule, base: Chain, chain: str):
        """``_NO_MATCH``, None when every statement ran, else a Verdict or _Outcome."""
        where = f"{chain}: {rule.text}"
        try:
            for st in rule.stmts:
                check_legal(st, base, where)
                if isinstance(st, Match):
                    have = self.sel(st.sel)
                    pool = st.values if st.set_ref is None else self.sets[st.set_ref]
                    if self.member(st.sel.dtype, have, pool) == st.negate:
                        return _NO_MATCH
                elif isinstance(st, SetLookup):
                    if self.key(st.sels) not in self.sets[st.set_ref]:
                        return _NO_MATCH
                elif isinstance(st, DnatMap):
                    data = self.tb.maps[st.map_ref].elements.get(self.key(st.sels))
                    if data is None:
                        return _NO_MATCH      # a lookup miss ends the rule, as in the kernel
                    return _Outcome("dnat", Dnat(*data) if len(data) == 2 else Dnat(data[0], None))
                elif isinstance(st, VmapLookup):
                    key = self.key(st.sels)
                    entries = dict(st.anon) if st.anon is not None else \
                        self.tb.maps[st.map_ref].elements
                    if key not in entries:
                        return _NO_MATCH
                    return entries[key]
                elif isinstance(st, SetMark):
                    self.mark = {None: st.value, "or": self.mark | st.value,
                                 "xor": self.mark ^ st.value,
                                 "and": self.mark & st.value}[st.op]
                elif isinstance(st, SetCtMark):
                    self.ct_mark = st.value if isinstance(st.value, int) else \
                        self.sel(st.value) & 0xFFFFFFFF
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
            return _NO_MATCH
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
                self.masq = self.masq_source(str(self.dst))
                self.src = ipaddress.IPv4Address(self.masq)
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
          numgen: int = 0, masq_source: Callable[[str], str] | None = None) -> TraceResult:
    """Trace one (new-connection) packet through the rendered ruleset.

    ``masq_source`` gives the address ``masquerade`` takes for the packet's
    (translated) destination, the source address of the node's route out:
    the pods' gateway towards one of its own pods (the veth's address),
    ``node_ip`` (the default) for everything else.

    ``affinity`` gives the current contents of dynamic sets (set name ->
    client IPs), e.g. a client already remembered by an endpoint; the table
    itself is not modified.  ``numgen`` is the random number ``numgen random``
    yields (``numgen % N`` is the index picked).
    """
    table = load_cached(text) if isinstance(text, str) else text
    if not table.exists:
        raise NftTransactionError("the text creates no table")
    sets = {name: set(s.elements) for name, s in table.sets.items()}
    for name, ips in (affinity or {}).items():
        if name not in sets:
            raise KeyError(f"no set {name!r} in the ruleset (known: {sorted(sets)})")
        sets[name] |= {ipaddress.IPv4Network(ip) for ip in ips}
    local = {ipaddress.IPv4Address(ip) for ip in local_ips} | {ipaddress.IPv4Address(node_ip)}
    tracer = _Tracer(table, src_ip, dst_ip, proto, dport, local, node_ip, sets, numgen)
    if masq_source is not None:
        tracer.masq_source = masq_source
    verdict = tracer.run(hook_path)
    return TraceResult(verdict, tracer.dnat, tracer.masq, tracer.chains,
                       str(tracer.src), str(tracer.dst), tracer.dport, tracer.mark,
                       tracer.updates, tracer.mods, tracer.met, numgen,
                       ct_mark=tracer.ct_mark)


def trace_all(text: str | Table, *, max_draws: int = 256, **packet) -> list[TraceResult]:
    """Every distinct outcome of ``trace`` over the random numbers ``numgen
    random`` may draw: one result per (verdict, DNAT, SNAT), in the order of
    the first draw giving it.  ``packet`` as for ``trace`` (not ``numgen``)."""
    packet.pop("numgen", None)
    first = trace(text, numgen=0, **packet)
    draws = math.lcm(*first.numgen_mods) if first.numgen_mods else 1
    out, seen = [first], {(first.verdict, first.dnat, first.masquerade)}
    for n in range(1, min(draws, max_draws)):
        res = trace(text, numgen=n, **packet)
        key = (res.verdict, res.dnat, res.masquerade)
        if key not in seen:
            seen.add(key)
            out.append(res)
    return out
