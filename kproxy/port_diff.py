"""Which Service ports changed since the last sync: cheap enough for 30,000.

The node agent hands the Proxier its whole state each sync, reusing the
``ServicePortState`` object of every Service that did not change.  The
applied ruleset keeps those objects (so their ids stay theirs), and the
ids of the new state minus the ids seen last time are, in a few set
operations, every port that may have changed; only those are compared and
rendered.  A new object equal to the old one is taken over without
rendering (an agent that rebuilt it anyway).  kube-proxy tracks changes
the same way, per Service, in its ServiceChangeTracker.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kproxy.state import ServicePortState

PortKey = tuple[str, str, str, int]     # namespace, Service, protocol, port
Seen = dict[int, tuple[ServicePortState, PortKey | None]]   # id -> (object, key or None)


def port_key(sp: ServicePortState) -> PortKey:
    return sp.service.namespace, sp.service.name, sp.port.protocol, sp.port.port


@dataclass
class PortChanges:
    """Ports to render (a new state) or to remove (None); ports whose state is
    equal but a new object; and the updates of the id index."""

    render: dict[PortKey, ServicePortState | None] = field(default_factory=dict)
    swaps: dict[PortKey, ServicePortState] = field(default_factory=dict)
    seen: dict[int, tuple[ServicePortState, PortKey | None] | None] = \
        field(default_factory=dict)


def diff(applied: dict[PortKey, tuple], seen: Seen,
         ports: Iterable[ServicePortState]) -> PortChanges:
    """What changed from the ports ``applied`` (key -> (state, ...)), whose
    objects ``seen`` indexes, to ``ports``."""
    current = {id(sp): sp for sp in ports}
    out = PortChanges()
    for i in _in_order(seen.keys() - current.keys(), seen):
        out.seen[i] = None
        key = seen[i][1]
        if key is not None and applied.get(key, (None,))[0] is seen[i][0]:
            out.render[key] = None
    for i in _in_order(current.keys() - seen.keys(), current):
        sp = current[i]
        if not sp.service.proxied:
            out.seen[i] = (sp, None)
            continue
        key = port_key(sp)
        out.seen[i] = (sp, key)
        had = applied.get(key)
        if had is not None and had[0] == sp and key not in out.swaps:
            out.render.pop(key, None)
            out.swaps[key] = sp
        else:
            out.swaps.pop(key, None)
            out.render[key] = sp
    return out


def _in_order(ids: set[int], order: dict[int, object]) -> Iterable[int]:
    """``ids`` in ``order``'s order, so that equal states render the same
    text whatever their objects' ids.  The set difference that found them
    runs in C; only a change of more than one port pays for the ordering."""
    return ids if len(ids) < 2 else [i for i in order if i in ids]


def apply_seen(seen: Seen, changes: PortChanges) -> None:
    for i, entry in changes.seen.items():
        if entry is None:
            seen.pop(i, None)
        else:
            seen[i] = entry


def commit_ports(ports: dict[PortKey, tuple], seen: Seen,
                 rendered: dict[PortKey, tuple | None], found: PortChanges) -> None:
    """Record an applied transaction's port entries in ``ports`` and ``seen``
    (None: the port is gone; a swap keeps the entry with the new state)."""
    for key, entry in rendered.items():
        if entry is None:
            ports.pop(key, None)
        else:
            ports[key] = entry
    for key, sp in found.swaps.items():
        ports[key] = (sp, ports[key][1])
    apply_seen(seen, found)


def merge_counts(target: dict, updates: dict) -> None:
    """Apply a transaction's bookkeeping to ``target``: a falsy value (0,
    None, empty) removes the key, anything else replaces it."""
    for k, v in updates.items():
        if v:
            target[k] = v
        else:
            target.pop(k, None)
