"""Loading ``nft -f`` transactions into a ``Table``, and checking them.

A transaction runs in order against a table (optionally the table a
previous transaction left), refusing what the kernel would refuse (missing
references, jumps into base chains, busy objects...): see
``k8snet.trace.nftsim``.
"""
from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable

from k8snet.trace.nftsim_model import (
    FAMILY,
    TABLE,
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
    SetLookup,
    Table,
    Update,
    Verdict,
    VmapLookup,
)
from k8snet.trace.nftsim_parse import (
    Tokens,
    chain_spec,
    check_name,
    map_spec,
    parse_literal,
    parse_rule,
    set_spec,
)

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


def _typeof_th(m: NftMap) -> bool:
    """A map declared ``typeof ... th dport ...``: nft 1.0.6 builds it, but
    cannot parse the declaration back from the kernel."""
    return m.spec.startswith("typeof ") and re.search(r"\bth dport\b", m.spec) is not None


class _Loader:
    def __init__(self, table: Table) -> None:
        self.tb = table
        # The maps the kernel held before this transaction (a map the
        # transaction recreates is a new object, and nft parses it from text).
        self.kernel_typeof_th = [m for m in table.maps.values() if _typeof_th(m)]

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
        check_name(name, "chain")
        new = chain_spec(name, spec) if spec is not None else Chain(name)
        old = self.tb.chains.get(name)
        if old is None:
            self.tb.chains[name] = new
        elif spec is not None and (old.type, old.hook, old.priority) != (
                new.type, new.hook, new.priority):
            raise NftTransactionError(f"chain {name} exists with another hook: {line}")

    def add_map(self, line: str, name: str, spec: str) -> None:
        self.need_table(line)
        new = map_spec(check_name(name, "map"), spec)
        old = self.tb.maps.get(name)
        if name in self.tb.sets:
            raise NftTransactionError(f"{name} is a set: {line}")
        if old is None:
            self.tb.maps[name] = new
        elif (old.key_types, old.data_types) != (new.key_types, new.data_types):
            raise NftTransactionError(f"map {name} exists with another type (EEXIST): {line}")

    def add_set(self, line: str, name: str, spec: str) -> None:
        self.need_table(line)
        new = set_spec(check_name(name, "set"), spec)
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
            if isinstance(st, SetLookup):
                self.check_set(st.set_ref, tuple(x.dtype for x in st.sels), line)
            if isinstance(st, VmapLookup | DnatMap) and st.map_ref:
                self.check_map(st, rule, line)
        chain.rules.append(rule)

    def check_map(self, st: VmapLookup | DnatMap, rule, line: str) -> None:
        m = self.tb.maps.get(st.map_ref)
        if m is None:
            raise NftTransactionError(f"no such map {st.map_ref}: {line}")
        if m.key_types != tuple(s.dtype for s in st.sels):
            raise NftTransactionError(f"map {m.name} is keyed by "
                                      f"{' . '.join(m.key_types)}: {line}")
        if any(m is old for old in self.kernel_typeof_th):
            # nft 1.0.6 re-parses the kernel's typeof userdata and trips on it.
            raise NftTransactionError(f"internal:0:0-0: Error: conflicting protocols specified: "
                                      f"tcp vs. th (nft 1.0.6 cannot use typeof map "
                                      f"{m.name} from an earlier transaction): {line}")
        if isinstance(st, VmapLookup) != (m.data_types is None):
            raise NftTransactionError(f"map {m.name} is "
                                      f"{'a verdict' if m.data_types is None else 'a data'} "
                                      f"map: {line}")
        if isinstance(st, DnatMap):
            if m.data_types not in (("ipv4_addr",), ("ipv4_addr", "inet_service")):
                raise NftTransactionError(f"dnat ip to needs a map to ip daddr [. port]: {line}")
            # nft: "transport protocol mapping is only valid after transport protocol match"
            before = rule.stmts[:rule.stmts.index(st)]
            if len(m.data_types) == 2 and not any(
                    isinstance(s, Match) and s.sel.kind == "meta l4proto" for s in before):
                raise NftSyntaxError(f"dnat to a port needs a transport protocol match "
                                     f"first: {line}")

    def check_set(self, name: str, dtypes: tuple[str, ...], line: str) -> NftSet:
        s = self.tb.sets.get(name)
        if s is None:
            raise NftTransactionError(f"no such set {name}: {line}")
        if s.types != dtypes:
            raise NftTransactionError(f"set {name} holds {s.dtype}: {line}")
        return s

    def add_element(self, line: str, name: str, body: str) -> None:
        p = Tokens(TOKEN.findall(body), line)
        if name in self.tb.maps:
            m = self.tb.maps[name]
            comments: dict = {}
            entries = p.vmap_body(m.key_types, m.data_types, comments)
            if not p.done():
                raise p.fail("trailing text")
            self.check_targets([v.target for _, v in entries
                                if isinstance(v, Verdict) and v.target], line)
            for key, verdict in entries:
                if key in m.elements and m.elements[key] != verdict:
                    raise NftTransactionError(f"map {name}: key {key} already maps to "
                                              f"{m.elements[key]} (EEXIST): {line}")
                m.elements[key] = verdict
                m.comments.pop(key, None)
            m.comments.update(comments)
        elif name in self.tb.sets:
            s = self.tb.sets[name]
            comments = {}

            def item() -> tuple:
                key = p.key(s.types)
                p.element_comment(key, comments)
                return key
            items = p.braced(lambda: parse_literal(s.dtype, p.next())) if len(s.types) == 1 \
                else p.braced(item)
            s.comments.update(comments)
            if not p.done():
                raise p.fail("trailing text")
            s.elements.update(items)
        else:
            raise NftTransactionError(f"no such set or map {name}: {line}")


    def delete_element(self, line: str, name: str, body: str) -> None:
        """Keys only; a key that is not there is ENOENT, as in the kernel."""
        p = Tokens(TOKEN.findall(body), line)
        if name in self.tb.maps:
            held = self.tb.maps[name].elements
            keys = p.braced(lambda: p.key(self.tb.maps[name].key_types))
        elif name in self.tb.sets:
            s = self.tb.sets[name]
            held = s.elements
            keys = p.braced(lambda: p.key(s.types)) if len(s.types) > 1 else \
                p.braced(lambda: parse_literal(s.dtype, p.next()))
        else:
            raise NftTransactionError(f"no such set or map {name}: {line}")
        if not p.done():
            raise p.fail("trailing text")
        for key in keys:
            if key not in held:
                raise NftTransactionError(f"{name}: no element {key} (ENOENT): {line}")
            if isinstance(held, dict):
                del held[key]
                self.tb.maps[name].comments.pop(key, None)
            else:
                held.discard(key)
                self.tb.sets[name].comments.pop(key, None)


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
def load_cached(text: str) -> Table:
    return load(text)


# ------------------------------------------------------------------ validation

ALLOWED = {  # statement -> (chain types, hooks) it may be reached from
    Dnat: ({"nat"}, {"prerouting", "output"}),
    DnatMap: ({"nat"}, {"prerouting", "output"}),
    Masquerade: ({"nat"}, {"postrouting"}),
    Reject: ({"filter", "nat"}, {"input", "forward", "output"}),
}


def check_legal(stmt, base: Chain, where: str) -> None:
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
                    todo += [v.target for v in table.maps[m].elements.values()
                             if isinstance(v, Verdict) and v.target]
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
                        check_legal(st, base, f"{name}: {rule.text}")
                    except NftTraceError as exc:
                        raise AssertionError(str(exc)) from None
    return tb
