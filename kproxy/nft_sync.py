"""kproxy's nftables table as a sum of per-Service fragments, and the
transactions that move it from one state to the next.

``plan(previous, state)`` renders only the Service ports whose state
changed (``kproxy.port_diff``: kube-proxy's partial sync,
kubernetes#126013), adds up what their
fragments add and remove, and writes one ``nft -f`` transaction: new
chains, element deletions and additions, stale chains flushed then
deleted.  ``Delta.commit()`` makes the result the next ``previous``, once
the kernel took the transaction.

Elements are reference-counted: the hairpin set holds an endpoint as long
as one Service port has it, the cluster-ips set a ClusterIP as long as one
port of its Service is proxied, a shared chain lives as long as one port
sends packets to it.  Two ports claiming one map key (which the API server's
allocators prevent) resolve to the smallest value whatever the order, so a
run of partial syncs always ends where a full sync of the last state does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kproxy.nft_names import BASE_CHAINS, FAMILY, MAPS, SETS, TABLE
from kproxy.nft_plan import Context, Fragment, SharedSpec, fragment, shared_chain, static_chains
from kproxy.port_diff import PortChanges, PortKey, Seen, commit_ports, diff, merge_counts
from kproxy.state import NodeProxyState, ServicePortState

T = f"{FAMILY} {TABLE}"


class Ruleset:
    """What kproxy's table holds: the fragments of the applied Service ports,
    added up.  Two rulesets are equal when their tables are."""

    def __init__(self, ctx: Context | None = None) -> None:
        self.ctx = ctx
        self.ports: dict[PortKey, tuple[ServicePortState, Fragment]] = {}
        self.seen: Seen = {}                                      # the ports' objects by id
        # (map, key) -> (value, comment) -> refs; the smallest is the element's
        self.values: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
        self.shared: dict[SharedSpec, int] = {}                   # shared chain -> refs
        self.own_chains: dict[str, tuple[str, ...]] = {}          # sessionAffinity chains
        self.own_sets: dict[str, int] = {}                        # affinity set -> timeout

    def copy(self) -> Ruleset:
        """A copy that later commits do not change (they replace inner values)."""
        out = Ruleset(self.ctx)
        out.ports, out.values, out.shared = dict(self.ports), dict(self.values), \
            dict(self.shared)
        out.seen = dict(self.seen)
        out.own_chains, out.own_sets = dict(self.own_chains), dict(self.own_sets)
        return out

    @property
    def chains(self) -> dict[str, list[str]]:
        """Every chain with its rules."""
        if self.ctx is None:
            return {}
        out: dict[str, list[str]] = {name: [] for name in BASE_CHAINS}
        for name, rules in static_chains(self.ctx).items():
            out.setdefault(name, []).extend(rules)
        for spec in self.shared:
            name, rules = shared_chain(self.ctx, spec)
            out[name] = list(rules)
        out.update((name, list(rules)) for name, rules in self.own_chains.items())
        return out

    @property
    def elements(self) -> dict[str, dict[str, tuple[str, str]]]:
        """Map name -> key -> (value ("" in a set), comment)."""
        out: dict[str, dict[str, tuple[str, str]]] = {name: {} for name in (*MAPS, *SETS)}
        for (name, key), values in self.values.items():
            out[name][key] = min(values)
        return out

    @property
    def affinity_sets(self) -> dict[str, int]:
        return dict(self.own_sets)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ruleset):
            return NotImplemented
        return (self.ctx, self.chains, self.elements, self.own_sets) == \
            (other.ctx, other.chains, other.elements, other.own_sets)

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Delta:
    """One transaction: its text, and what ``commit`` records once it is applied."""

    base: Ruleset
    fresh: bool
    ports: dict[PortKey, tuple[ServicePortState, Fragment] | None]
    found: PortChanges = field(default_factory=PortChanges)
    values: dict[tuple[str, str], dict[tuple[str, str], int]] = field(default_factory=dict)
    shared: dict[SharedSpec, int] = field(default_factory=dict)
    chains: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    sets: dict[str, int | None] = field(default_factory=dict)
    text: str = ""

    @property
    def changed(self) -> int:
        """How many Service ports this transaction renders (added, changed or gone)."""
        return len(self.ports)

    def commit(self) -> Ruleset:
        """Record the applied transaction in ``base``; returns it."""
        rs = self.base
        commit_ports(rs.ports, rs.seen, self.ports, self.found)
        for target, updates in ((rs.values, self.values), (rs.shared, self.shared),
                                (rs.own_chains, self.chains), (rs.own_sets, self.sets)):
            merge_counts(target, updates)
        return rs


def plan(previous: Ruleset | None, state: NodeProxyState, fresh: bool = False) -> Delta:
    """The transaction from ``previous`` (what the kernel holds; None or
    ``fresh``: nothing, the table is recreated) to ``state``."""
    ctx = Context(state.node, state.pod_cidr, state.service_cidr)
    if previous is None or fresh or previous.ctx != ctx:
        base, fresh = Ruleset(ctx), True
    else:
        base = previous
    found = diff(base.ports, base.seen, state.ports)
    changes = {key: None if sp is None else (sp, fragment(ctx, sp))
               for key, sp in found.render.items()}
    delta = Delta(base, fresh, changes, found)
    _add_up(delta)
    delta.text = _text(delta)
    return delta


def _add_up(d: Delta) -> None:
    """The new reference counts, chains and sets of everything the changes touch."""
    rs = d.base
    values: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
    shared: dict[SharedSpec, int] = {}

    def count(frag: Fragment, step: int) -> None:
        for name, key, value, comment in frag.elements:
            refs = values.get((name, key))
            if refs is None:
                refs = values[(name, key)] = dict(rs.values.get((name, key), {}))
            refs[(value, comment)] = n = refs.get((value, comment), 0) + step
            if not n:
                del refs[(value, comment)]
        for spec in frag.shared:
            shared[spec] = shared.get(spec, rs.shared.get(spec, 0)) + step

    for key, entry in d.ports.items():
        had = rs.ports.get(key)
        if had is not None:
            count(had[1], -1)
            d.chains.update((name, None) for name, _ in had[1].chains)
            d.sets.update((name, None) for name, _ in had[1].sets)
        if entry is not None:
            count(entry[1], +1)
            d.chains.update(entry[1].chains)
            d.sets.update(entry[1].sets)
    d.values, d.shared = values, shared


def _text(d: Delta) -> str:
    rs, ctx = d.base, d.base.ctx
    out: list[str] = []
    if d.fresh:
        add_table = f'add table {T} {{ comment "k8snet kproxy, node {ctx.node}"; }}'
        out += [add_table, f"delete table {T}", add_table]
        out += [f"add chain {T} {name} {{ {spec} }}" for name, spec in BASE_CHAINS.items()]
        static = static_chains(ctx)
        out += [f"add chain {T} {name}" for name in static if name not in BASE_CHAINS]
        out += [f"add map {T} {name} {{ {spec} }}" for name, spec in MAPS.items()]
        out += [f"add set {T} {name} {{ {spec} }}" for name, spec in SETS.items()]
        out += [f"add rule {T} {name} {r}" for name, rules in static.items() for r in rules]
    born = [shared_chain(ctx, s) for s, n in d.shared.items() if n and not rs.shared.get(s)]
    dead = [shared_chain(ctx, s)[0] for s, n in d.shared.items() if not n and rs.shared.get(s)]
    rewritten = []
    for name, rules in d.chains.items():
        had = rs.own_chains.get(name)
        if rules is None:
            if had is not None:
                dead.append(name)
        elif had is None:
            born.append((name, rules))
        elif had != rules:
            rewritten.append((name, rules))
    out += [f"add chain {T} {name}" for name, _ in born]
    for name, timeout in d.sets.items():
        if timeout and rs.own_sets.get(name) != timeout:
            out.append(f"add set {T} {name} {{ type ipv4_addr; flags dynamic,timeout; "
                       f"timeout {timeout}s; }}")
    out += [f"flush chain {T} {name}" for name, _ in rewritten]
    out += [f"add rule {T} {name} {r}" for name, rules in born + rewritten for r in rules]
    gone: dict[str, list[str]] = {}
    added: dict[str, list[str]] = {}
    for (name, key), refs in d.values.items():
        before = rs.values.get((name, key))
        now, then = (min(refs) if refs else None), (min(before) if before else None)
        if now == then:
            continue
        if then is not None:
            gone.setdefault(name, []).append(key)
        if now is not None:
            value, comment = now
            text = f'{key} comment "{comment}"' if comment else key
            added.setdefault(name, []).append(f"{text} : {value}" if value else text)
    for name in (*MAPS, *SETS):
        if gone.get(name):
            out.append(f"delete element {T} {name} {{ {', '.join(gone[name])} }}")
    for name in (*MAPS, *SETS):
        if added.get(name):
            out.append(f"add element {T} {name} {{ {', '.join(added[name])} }}")
    # Stale chains may jump to each other: empty them all, then delete.
    out += [f"flush chain {T} {name}" for name in dead]
    out += [f"delete chain {T} {name}" for name in dead]
    out += [f"delete set {T} {name}" for name, timeout in d.sets.items()
            if not timeout and name in rs.own_sets]
    return "\n".join(out) + "\n" if out else ""
