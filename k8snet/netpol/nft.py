"""Render a node's NetworkPolicy state as nftables transactions (pure text).

The table is the netpol agent's own (``ip k8snet-netpol``), apart from
kproxy's.  A packet's verdict costs two map lookups and one or two set
lookups, whatever the number of policies (no rule per policy is walked)::

    forward (hook forward: after kproxy's DNAT, so Services are judged on
             the backend pod's address and port)
      ct state established,related accept      replies of allowed connections
      ip saddr . ip daddr @loopback accept     a pod reaching itself via a Service
      ip saddr vmap @egress-pods               isolated source: jump egress-<pod>
      ip daddr vmap @ingress-pods              isolated destination: goto ingress-<pod>
    ingress-<pod>   (one chain and four sets per isolated pod)
      ip saddr . meta l4proto . th dport @ingress-<pod>-ports accept        exact
      ip saddr . meta l4proto . th dport @ingress-<pod>-port-ranges accept  prefixes, ranges
      ip saddr @ingress-<pod>-any accept       rules without ports: every protocol
      ip daddr . ip saddr @ingress-<pod>-any-ranges accept   keyed by the pod too
      counter reject with icmp type admin-prohibited
    egress-<pod>: the same on ``ip daddr``, ``return`` instead of ``accept``

Per-pod sets keep every change small: one policy changed with a thousand
present rewrites only the sets of the pods it selects (flush and refill),
never a set holding every pod's peers.  Exact peers (a pod's /32 and one
port, the common case) go in hash sets; prefixes and port ranges in
interval sets, whose kernel commit costs several times more (measured here:
10 sets flushed and refilled, 3 ms as hash sets, 16 ms as interval sets).

Every interval set is a concatenation, the prefixes without ports too: their
elements carry the pod's own address first (``10.244.1.5 . 10.0.0.0/8``).
Before any ``add`` or ``delete element``, nft (1.0.6, cache.c) fetches every
element of each interval set in the table that is *not* a concatenation,
and the kernel finds each of those sets by name in a list: with 500 such
sets, almost all empty, adding one element took 30 ms here, against well
under 1 ms with none.  Concatenated interval sets are never fetched.

Blocked connections are rejected with ICMP "administratively prohibited"
rather than dropped, so that a client learns at once, and learns it was a
policy (a TCP reset would read "connection refused", like a closed port),
as Antrea's reject action does; each pod chain's counter says how many.
Traffic between a pod and its own node never reaches the forward hook (the
node's packets take output, the pod's to the node take input), so it is
never judged: "traffic to and from the node where a Pod is running is
always allowed" (the NetworkPolicy concepts page); kubelet probes pass.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from k8snet.netpol.compile import Box, NodeRules

TABLE = "k8snet-netpol"
FAMILY = "ip"
PRIORITY = "filter"        # after kproxy's filter chains (-110) and its DNAT
DIRECTIONS = ("ingress", "egress")

SETS = {   # suffix -> (type, elements keyed by the pod's own address first)
    "ports": ("type ipv4_addr . inet_proto . inet_service;", False),
    "port-ranges": ("type ipv4_addr . inet_proto . inet_service; flags interval;", False),
    "any": ("type ipv4_addr;", False),
    "any-ranges": ("type ipv4_addr . ipv4_addr; flags interval;", True),
}
PODS_MAP = "type ipv4_addr : verdict;"

FORWARD = [
    f"type filter hook forward priority {PRIORITY}; policy accept;",
    'ct state established,related accept comment "replies of allowed connections"',
    'ip saddr . ip daddr @loopback accept comment "a pod reaching itself"',
    'ip saddr vmap @egress-pods comment "source pod isolated for egress"',
    'ip daddr vmap @ingress-pods comment "destination pod isolated for ingress"',
]

# The allowed peers of one isolated pod in one direction, as set element text,
# one frozenset per entry of SETS: ports "10.244.1.5 . tcp . 80", port-ranges
# "10.244.0.0/16 . tcp . 80-81", any "10.244.1.5", any-ranges "203.0.113.0/24".
Allowed = tuple[frozenset[str], ...]


@dataclass
class State:
    """What the table holds: loopback pairs and, per direction, per isolated
    pod IP, its allowed peers."""

    loopback: set[str] = field(default_factory=set)
    pods: dict[str, dict[str, Allowed]] = field(
        default_factory=lambda: {d: {} for d in DIRECTIONS})

    def size(self) -> int:
        return sum(len(part) for d in DIRECTIONS for allowed in self.pods[d].values()
                   for part in allowed)


def _prefix(cidr: str) -> str:
    return cidr[:-3] if cidr.endswith("/32") else cidr


def _ports(box: Box) -> str:
    ports = str(box.first) if box.first == box.last else f"{box.first}-{box.last}"
    return f"{_prefix(box.cidr)} . {box.protocol.lower()} . {ports}"


@lru_cache(maxsize=65536)
def _allowed(boxes: frozenset[Box], anys: frozenset[str]) -> Allowed:
    exact = {b for b in boxes if b.cidr.endswith("/32") and b.first == b.last}
    return (frozenset(_ports(b) for b in exact), frozenset(_ports(b) for b in boxes - exact),
            frozenset(_prefix(c) for c in anys if c.endswith("/32")),
            frozenset(c for c in anys if not c.endswith("/32")))


def state(rules: NodeRules) -> State:
    """The table's state for compiled ``rules`` (pods' texts are remembered,
    so an unchanged pod costs a lookup)."""
    out = State(loopback={f"{ip} . {ip}" for ip in rules.local_pods})
    for (direction, ip), (boxes, anys) in rules.targets.items():
        out.pods[direction][ip] = _allowed(boxes, anys)
    return out


def chain_name(direction: str, ip: str) -> str:
    """``ingress-10-244-1-2``: the chain (and set prefix) of one pod."""
    return f"{direction}-{ip.replace('.', '-')}"


def _elements(verb: str, name: str, items: Iterable[str], chunk: int = 2000) -> list[str]:
    items = sorted(items)
    return [f"{verb} element {FAMILY} {TABLE} {name} {{ {', '.join(items[i:i + chunk])} }}"
            for i in range(0, len(items), chunk)]


def _keyed(ip: str, suffix: str, items: Iterable[str]) -> Iterable[str]:
    """Elements as stored in set ``suffix`` of pod ``ip`` (see SETS)."""
    return (f"{ip} . {item}" for item in items) if SETS[suffix][1] else items


def _pod_chain(direction: str, ip: str) -> list[str]:
    name = chain_name(direction, ip)
    own, peer = ("daddr", "saddr") if direction == "ingress" else ("saddr", "daddr")
    allow = "accept" if direction == "ingress" else "return"
    out = [f"add chain {FAMILY} {TABLE} {name}"]
    for suffix, (_, keyed) in SETS.items():
        key = f"ip {peer}" if suffix.startswith("any") else \
            f"ip {peer} . meta l4proto . th dport"
        if keyed:
            key = f"ip {own} . {key}"
        what = "without ports" if suffix.startswith("any") else "with ports"
        out.append(f"add rule {FAMILY} {TABLE} {name} {key} @{name}-{suffix} {allow} "
                   f'comment "allowed by an {direction} rule {what}"')
    out.append(f"add rule {FAMILY} {TABLE} {name} counter reject with icmp type "
               f'admin-prohibited comment "{direction} of {ip}: no policy allows it"')
    return out


def _add_pod(direction: str, ip: str, allowed: Allowed) -> list[str]:
    name = chain_name(direction, ip)
    verdict = "goto" if direction == "ingress" else "jump"
    out = [f"add set {FAMILY} {TABLE} {name}-{suffix} {{ {spec} }}"
           for suffix, (spec, _) in SETS.items()]
    out += _pod_chain(direction, ip)
    for suffix, items in zip(SETS, allowed, strict=True):
        out += _elements("add", f"{name}-{suffix}", _keyed(ip, suffix, items))
    out.append(f"add element {FAMILY} {TABLE} {direction}-pods {{ {ip} : {verdict} {name} }}")
    return out


def _delete_pod(direction: str, ip: str) -> list[str]:
    name = chain_name(direction, ip)
    return [f"delete element {FAMILY} {TABLE} {direction}-pods {{ {ip} }}",
            f"delete chain {FAMILY} {TABLE} {name}",
            *(f"delete set {FAMILY} {TABLE} {name}-{suffix}" for suffix in SETS)]


def _refill_pod(direction: str, ip: str, old: Allowed, new: Allowed) -> list[str]:
    """Flush and refill the changed sets (one pod's peers each).  Deleting
    and re-adding a changed set instead, with the chain's rules flushed and
    added back, measured slower here: 18-23 ms against 10-21 ms for the
    benchmark's one changed policy (bench_netpol)."""
    name = chain_name(direction, ip)
    out = []
    for suffix, before, after in zip(SETS, old, new, strict=True):
        if before != after:
            out.append(f"flush set {FAMILY} {TABLE} {name}-{suffix}")
            out += _elements("add", f"{name}-{suffix}", _keyed(ip, suffix, after))
    return out


def render_full(current: State) -> str:
    """The whole table, replacing whatever an earlier run left."""
    out = [f"add table {FAMILY} {TABLE}", f"delete table {FAMILY} {TABLE}",
           f"add table {FAMILY} {TABLE}",
           f"add set {FAMILY} {TABLE} loopback {{ type ipv4_addr . ipv4_addr; }}"]
    out += [f"add map {FAMILY} {TABLE} {d}-pods {{ {PODS_MAP} }}" for d in DIRECTIONS]
    out += [f"add chain {FAMILY} {TABLE} forward {{ {FORWARD[0]} }}"]
    out += [f"add rule {FAMILY} {TABLE} forward {rule}" for rule in FORWARD[1:]]
    out += _elements("add", "loopback", current.loopback)
    for d in DIRECTIONS:
        for ip, allowed in sorted(current.pods[d].items()):
            out += _add_pod(d, ip, allowed)
    return "\n".join(out) + "\n"


def render_delta(previous: State, current: State) -> str:
    """Only what changed ("" when nothing did): pods no longer isolated lose
    their chain and sets, new ones get them, changed ones have their sets
    flushed and refilled; loopback pairs are added and deleted one by one."""
    out: list[str] = []
    out += _elements("delete", "loopback", previous.loopback - current.loopback)
    out += _elements("add", "loopback", current.loopback - previous.loopback)
    for d in DIRECTIONS:
        old, new = previous.pods[d], current.pods[d]
        for ip in sorted(set(old) - set(new)):
            out += _delete_pod(d, ip)
        for ip in sorted(set(new) - set(old)):
            out += _add_pod(d, ip, new[ip])
        for ip in sorted(set(old) & set(new)):
            if old[ip] != new[ip]:
                out += _refill_pod(d, ip, old[ip], new[ip])
    return "\n".join(out) + "\n" if out else ""


def render_cleanup() -> str:
    """Remove the table (the agent stops)."""
    return f"add table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\n"
