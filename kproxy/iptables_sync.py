"""kproxy's iptables rules as a sum of per-Service fragments, and the
``iptables-restore --noflush`` input that moves them from one state to the next.

A fresh sync writes everything: declaring a chain in the input flushes it,
so one restore replaces all of kproxy's chains at once, and chains an
earlier run left are flushed then deleted in the same restore.  Later syncs
are partial, as kube-proxy's have been since KEP-3453 (minimizing
iptables-restore input size): only the Service ports whose state changed
are rendered; their own chains are declared and rewritten, stale ones
deleted, and their rules in the chains every port shares are deleted
(``-D``) or inserted one by one (``-I KPROXY-SERVICES 1`` keeps the node
port rule last) instead of rewriting those chains whole.  Jumps from the
built-in chains are ensured separately (``kproxy.iptables.jump_rules``), so
no built-in chain is ever flushed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kproxy.iptables_plan import (
    FILTER_STATIC,
    LIST_CHAINS,
    NAT_STATIC,
    SERVICES,
    Context,
    Fragment,
    ListRule,
    fragment,
    nodeports_rule,
    static_rules,
)
from kproxy.port_diff import PortChanges, PortKey, Seen, commit_ports, diff, merge_counts
from kproxy.state import NodeProxyState, ServicePortState


class Ruleset:
    """What kproxy's chains hold: the fragments of the applied Service ports."""

    def __init__(self, ctx: Context | None = None) -> None:
        self.ctx = ctx
        self.ports: dict[PortKey, tuple[ServicePortState, Fragment]] = {}
        self.seen: Seen = {}                              # the ports' objects by id
        self.chains: dict[str, tuple[str, ...]] = {}      # the ports' own nat chains
        self.lists: dict[ListRule, int] = {}              # shared-chain rule -> refs

    def copy(self) -> Ruleset:
        out = Ruleset(self.ctx)
        out.ports, out.chains, out.lists = dict(self.ports), dict(self.chains), dict(self.lists)
        out.seen = dict(self.seen)
        return out

    def chain_names(self) -> set[str]:
        """Every nat chain kproxy has."""
        return set(NAT_STATIC) | set(self.chains)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ruleset):
            return NotImplemented
        return (self.ctx, self.chains, set(self.lists)) == \
            (other.ctx, other.chains, set(other.lists))

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Delta:
    base: Ruleset
    fresh: bool
    ports: dict[PortKey, tuple[ServicePortState, Fragment] | None]
    found: PortChanges = field(default_factory=PortChanges)
    chains: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    lists: dict[ListRule, int] = field(default_factory=dict)
    text: str = ""

    @property
    def changed(self) -> int:
        return len(self.ports)

    def commit(self) -> Ruleset:
        """Record the applied restore in ``base``; returns it."""
        rs = self.base
        commit_ports(rs.ports, rs.seen, self.ports, self.found)
        for target, updates in ((rs.chains, self.chains), (rs.lists, self.lists)):
            merge_counts(target, updates)
        return rs


def plan(previous: Ruleset | None, state: NodeProxyState,
         existing: frozenset[str] | set[str] = frozenset()) -> Delta:
    """The restore from ``previous`` (None: a fresh sync, which also deletes
    the KPROXY nat chains in ``existing`` that are no longer wanted) to ``state``."""
    ctx = Context(state.pod_cidr, state.service_cidr, state.node)
    fresh = previous is None or previous.ctx != ctx
    base = Ruleset(ctx) if fresh else previous
    old = base.ports
    found = diff(old, base.seen, state.ports)
    changes = {key: None if sp is None else (sp, fragment(ctx, sp))
               for key, sp in found.render.items()}
    d = Delta(base, fresh, changes, found)
    for key, entry in changes.items():
        had = old.get(key)
        if had is not None:
            d.chains.update((name, None) for name, _ in had[1].chains)
            for rule in had[1].lists:
                d.lists[rule] = d.lists.get(rule, base.lists.get(rule, 0)) - 1
        if entry is not None:
            d.chains.update(entry[1].chains)
            for rule in entry[1].lists:
                d.lists[rule] = d.lists.get(rule, base.lists.get(rule, 0)) + 1
    d.text = _full(d, existing) if fresh else _partial(d)
    return d


def _full(d: Delta, existing: frozenset[str] | set[str]) -> str:
    ctx = d.base.ctx
    entries = sorted((e for e in d.ports.values() if e is not None), key=lambda e: e[0].id)
    own = [name for _, frag in entries for name, _ in frag.chains]
    stale = sorted(set(existing) - set(NAT_STATIC) - set(own))
    lists: dict[tuple[str, str], list[str]] = {where: [] for where in LIST_CHAINS}
    for _, frag in entries:
        for where, rule in frag.lists:
            lists[where].append(rule)
    lists[SERVICES].append(nodeports_rule())
    nat, flt = static_rules(ctx)
    out = ["*nat", *(f":{name} - [0:0]" for name in [*NAT_STATIC, *own, *stale])]
    out += [f"-A {name} {rule}" for (table, name), rules in lists.items() if table == "nat"
            for rule in rules]
    out += nat + [line for _, frag in entries for _, rules in frag.chains for line in rules]
    out += [f"-X {name}" for name in stale]
    out += ["COMMIT", "*filter", *(f":{name} - [0:0]" for name in FILTER_STATIC), *flt]
    out += [f"-A {name} {rule}" for (table, name), rules in lists.items() if table == "filter"
            for rule in rules]
    out.append("COMMIT")
    return "\n".join(out) + "\n"


def _partial(d: Delta) -> str:
    rs = d.base
    born, rewritten, dead = [], [], []
    for name, rules in d.chains.items():
        had = rs.chains.get(name)
        if rules is None:
            if had is not None:
                dead.append(name)
        elif had is None:
            born.append((name, rules))
        elif had != rules:
            rewritten.append((name, rules))
    gone = {t: [] for t in ("nat", "filter")}
    added = {t: [] for t in ("nat", "filter")}
    for (where, rule), refs in d.lists.items():
        before = rs.lists.get((where, rule), 0)
        table, name = where
        if before and not refs:
            gone[table].append(f"-D {name} {rule}")
        elif refs and not before:
            verb = f"-I {name} 1" if where == SERVICES else f"-A {name}"
            added[table].append(f"{verb} {rule}")
    nat = [f":{name} - [0:0]" for name, _ in born + rewritten] + \
        [f":{name} - [0:0]" for name in dead]
    nat += gone["nat"] + added["nat"]
    nat += [line for _, rules in born + rewritten for line in rules]
    nat += [f"-X {name}" for name in dead]
    out = []
    if nat:
        out += ["*nat", *nat, "COMMIT"]
    if gone["filter"] or added["filter"]:
        out += ["*filter", *gone["filter"], *added["filter"], "COMMIT"]
    return "\n".join(out) + "\n" if out else ""
