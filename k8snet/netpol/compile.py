"""Compile NetworkPolicies into one node's lookup sets (pure).

The netpol agent keeps no rule per policy: a packet's verdict is one or two
set lookups whatever the number of policies, the way kube-proxy's nftables
mode finds a Service in one map lookup.  For every pod on the node this
module works out:

- whether the pod is isolated for ingress and for egress (some policy
  selects it for that direction);
- the *boxes* it may talk with: ``(pod IP, peer CIDR, protocol, first port,
  last port)``, and for rules without ports ``(pod IP, peer CIDR)`` (all
  ports, all protocols).

nftables interval sets refuse overlapping elements, so the boxes of one pod
are made disjoint: the port axis is cut at every rule's boundary and, in
each piece, the union of the CIDRs allowed there is collapsed to disjoint
prefixes; neighbouring pieces with the same prefixes are merged again.

Semantics follow the API reference of NetworkPolicySpec, NetworkPolicyPeer
and NetworkPolicyPort (https://kubernetes.io/docs/reference/kubernetes-api/
policy-resources/network-policy-v1/): peers in one rule are ORed, the
selectors inside one peer are ANDed; an ``ipBlock`` minus its ``except``;
a named port is resolved on the pod that owns it (the destination pod of
ingress, each destination pod of egress); no ports means every port and
protocol.
"""
from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from k8snet.api.selectors import matches
from k8snet.netpol.snapshot import PodInfo, Snapshot

ALL = ipaddress.IPv4Network("0.0.0.0/0")
MAX_PORT = 65535

Net = ipaddress.IPv4Network
# (protocol or None for every protocol, first port, last port, peer networks)
Grant = tuple[str | None, int, int, tuple[Net, ...]]


@dataclass(frozen=True)
class Box:
    """One element of an allow set: the pod, the peer prefix, protocol, ports."""

    pod_ip: str
    cidr: str
    protocol: str
    first: int
    last: int


@dataclass
class NodeRules:
    """What one node's netpol table holds.

    ``targets[(direction, pod IP)]`` for every isolated pod: its disjoint
    port boxes and its all-protocol peer CIDRs (an empty pair denies all)."""

    targets: dict[tuple[str, str], tuple[frozenset[Box], frozenset[str]]] = field(
        default_factory=dict)
    local_pods: set[str] = field(default_factory=set)

    def isolated(self, direction: str) -> set[str]:
        return {ip for d, ip in self.targets if d == direction}

    @property
    def ingress_isolated(self) -> set[str]:
        return self.isolated("ingress")

    @property
    def egress_isolated(self) -> set[str]:
        return self.isolated("egress")

    def size(self) -> int:
        return sum(len(b) + len(a) for b, a in self.targets.values())


@dataclass
class Contribution:
    """One policy's share of a node: isolated pods and grants per pod IP."""

    ingress_isolated: set[str] = field(default_factory=set)
    egress_isolated: set[str] = field(default_factory=set)
    ingress: dict[str, list[Grant]] = field(default_factory=dict)
    egress: dict[str, list[Grant]] = field(default_factory=dict)

    def targets(self) -> set[tuple[str, str]]:
        return {("ingress", ip) for ip in self.ingress_isolated} | \
            {("egress", ip) for ip in self.egress_isolated}


def policy_types(policy: Mapping) -> list[str]:
    """``spec.policyTypes``, defaulted as the API does: Ingress, plus Egress
    when there are egress rules."""
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return list(types)
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _meta(obj: Mapping) -> Mapping:
    return obj.get("metadata") or {}


class World:
    """Pods and namespaces indexed for selector lookups, with the answers to
    selector questions remembered for the length of one compile (many
    policies ask the same ones)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.by_ns: dict[str, list[PodInfo]] = defaultdict(list)
        for p in snapshot.pods:
            self.by_ns[p.namespace].append(p)
        self._peers: dict[tuple[str, str], list[PodInfo]] = {}
        self._hosts: dict[str, Net] = {}

    def namespaces(self, selector: Mapping) -> list[str]:
        return [ns for ns, labels in self.snapshot.namespaces.items()
                if matches(selector, labels)]

    def pods_in(self, namespaces: Iterable[str], selector: Mapping | None) -> list[PodInfo]:
        sel = selector if selector is not None else {}
        return [p for ns in namespaces for p in self.by_ns.get(ns, ()) if matches(sel, p.labels)]

    def peer_pods(self, peer: Mapping, policy_ns: str) -> list[PodInfo]:
        """The pods a pod/namespace-selector peer names (empty for ipBlock)."""
        key = (policy_ns, repr(peer))
        found = self._peers.get(key)
        if found is None:
            if "namespaceSelector" in peer and peer["namespaceSelector"] is not None:
                spaces = self.namespaces(peer["namespaceSelector"])
            else:
                spaces = [policy_ns]
            found = self._peers[key] = self.pods_in(spaces, peer.get("podSelector"))
        return found

    def host(self, ip: str) -> Net:
        net = self._hosts.get(ip)
        if net is None:
            net = self._hosts[ip] = ipaddress.IPv4Network(f"{ip}/32")
        return net


def ip_block(block: Mapping) -> list[Net]:
    """``cidr`` minus every ``except``, as disjoint networks."""
    nets = [ipaddress.IPv4Network(block["cidr"], strict=False)]
    for text in block.get("except") or []:
        hole = ipaddress.IPv4Network(text, strict=False)
        out: list[Net] = []
        for net in nets:
            if hole.subnet_of(net):
                out.extend(net.address_exclude(hole))
            elif not net.subnet_of(hole):
                out.append(net)
        nets = out
    return nets


def _port_ranges(port: Mapping, owner: PodInfo | None) -> tuple[str, int, int] | None:
    """One NetworkPolicyPort as (protocol, first, last) on ``owner``; None when
    a named port is not on the owner (or there is no owner)."""
    protocol = port.get("protocol") or "TCP"
    value = port.get("port")
    if value is None:
        return protocol, 0, MAX_PORT
    if isinstance(value, str) and not value.isdigit():
        number = owner.named_port(value, protocol) if owner else None
        return (protocol, number, number) if number is not None else None
    first = int(value)
    last = int(port.get("endPort") or first)
    return protocol, first, last


def _peer_nets(rule: Mapping, world: World, ns: str) -> tuple[Net, ...]:
    """The networks an ingress rule's ``from`` names (all addresses when empty)."""
    peers = rule.get("from") or []
    if not peers:
        return (ALL,)
    nets: list[Net] = []
    for peer in peers:
        if peer.get("ipBlock"):
            nets.extend(ip_block(peer["ipBlock"]))
        else:
            nets.extend(world.host(p.ip) for p in world.peer_pods(peer, ns))
    return tuple(nets)


def _ingress_grants(rule: Mapping, nets: tuple[Net, ...], pod: PodInfo) -> list[Grant]:
    if not nets:
        return []
    ports = rule.get("ports") or []
    if not ports:
        return [(None, 0, MAX_PORT, nets)]
    grants = []
    for port in ports:
        rng = _port_ranges(port, pod)
        if rng is not None:
            grants.append((rng[0], rng[1], rng[2], nets))
    return grants


def _egress_grants(rule: Mapping, world: World, ns: str) -> list[Grant]:
    peers = rule.get("to") or []
    ports = rule.get("ports") or []
    blocks: list[Net] = []
    pods: list[PodInfo] = []
    if not peers:
        blocks = [ALL]
        pods = list(world.snapshot.pods)
    for peer in peers:
        if peer.get("ipBlock"):
            blocks.extend(ip_block(peer["ipBlock"]))
        else:
            pods.extend(world.peer_pods(peer, ns))
    if not ports:
        nets = blocks + [world.host(p.ip) for p in pods]
        return [(None, 0, MAX_PORT, tuple(nets))] if nets else []
    grants: list[Grant] = []
    for port in ports:
        value = port.get("port")
        if isinstance(value, str) and not value.isdigit():
            # A named port is the destination pod's: resolve it pod by pod.
            for p in pods:
                rng = _port_ranges(port, p)
                if rng is not None:
                    grants.append((rng[0], rng[1], rng[2], (world.host(p.ip),)))
            continue
        rng = _port_ranges(port, None)
        nets = blocks + [world.host(p.ip) for p in pods]
        if rng is not None and nets:
            grants.append((rng[0], rng[1], rng[2], tuple(nets)))
    return grants


def contribution(policy: Mapping, world: World, local: list[PodInfo]) -> Contribution:
    """What ``policy`` adds for the pods in ``local`` (the node's pods)."""
    meta, spec = _meta(policy), policy.get("spec") or {}
    ns = meta.get("namespace") or "default"
    out = Contribution()
    selected = [p for p in local if p.namespace == ns
                and matches(spec.get("podSelector") or {}, p.labels)]
    if not selected:
        return out
    types = policy_types(policy)
    if "Ingress" in types:
        rules = [(rule, _peer_nets(rule, world, ns)) for rule in spec.get("ingress") or []]
        for pod in selected:
            out.ingress_isolated.add(pod.ip)
            grants = [g for rule, nets in rules for g in _ingress_grants(rule, nets, pod)]
            if grants:
                out.ingress[pod.ip] = grants
    if "Egress" in types:
        grants = [g for rule in spec.get("egress") or [] for g in _egress_grants(rule, world, ns)]
        for pod in selected:
            out.egress_isolated.add(pod.ip)
            if grants:
                out.egress[pod.ip] = grants
    return out


@lru_cache(maxsize=65536)
def _span(net: Net) -> tuple[int, int]:
    return int(net.network_address), int(net.broadcast_address)


def _merged(nets: Iterable[Net]) -> tuple[tuple[int, int], ...]:
    """The union of ``nets`` as sorted, disjoint, non-adjacent address ranges."""
    out: list[list[int]] = []
    for lo, hi in sorted(_span(n) for n in nets):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


@lru_cache(maxsize=65536)
def _prefix_text(start: int, length: int) -> str:
    return f"{ipaddress.IPv4Address(start)}/{length}"


def _prefixes(ranges: tuple[tuple[int, int], ...]) -> list[str]:
    """The fewest CIDR prefixes covering exactly ``ranges``."""
    out = []
    for lo, hi in ranges:
        while lo <= hi:
            size = lo & -lo if lo else 1 << 32
            while size > hi - lo + 1:
                size >>= 1
            out.append(_prefix_text(lo, 32 - size.bit_length() + 1))
            lo += size
    return out


def disjoint(grants: Iterable[Grant]) -> tuple[set[tuple[str, int, int, str]], set[str]]:
    """Disjoint (protocol, first, last, cidr) boxes and all-protocol CIDRs
    covering exactly the union of ``grants``."""
    any_nets: list[Net] = []
    by_proto: dict[str, list[tuple[int, int, tuple[Net, ...]]]] = defaultdict(list)
    for proto, first, last, nets in grants:
        if proto is None:
            any_nets.extend(nets)
        else:
            by_proto[proto].append((first, last, nets))
    boxes: set[tuple[str, int, int, str]] = set()
    for proto, ranges in by_proto.items():
        cuts = sorted({f for f, _, _ in ranges} | {last + 1 for _, last, _ in ranges})
        previous: tuple[tuple[int, int], ...] = ()
        start = 0
        pieces: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []
        for lo, nxt in zip(cuts, cuts[1:], strict=False):
            hi = nxt - 1
            here = _merged(n for f, last, ns in ranges if f <= lo and hi <= last for n in ns)
            if here != previous:
                if previous:
                    pieces.append((start, lo - 1, previous))
                start, previous = lo, here
        if previous:
            pieces.append((start, cuts[-1] - 1, previous))
        for lo, hi, spans in pieces:
            boxes.update((proto, lo, hi, cidr) for cidr in _prefixes(spans))
    return boxes, set(_prefixes(_merged(any_nets)))


class Compiler:
    """One node's compiler, remembering each policy's contribution so that a
    change to a few policies recompiles only the pods those policies select.

    ``compile(snapshot)`` returns the node's ``NodeRules``.  Pods and
    namespaces are compared by what NetworkPolicy reads (IPs, labels,
    nodes, named ports); when they differ every contribution is redone."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.world_key: tuple | None = None
        self.policy_keys: dict[str, tuple] = {}
        self.parts: dict[str, Contribution] = {}
        self.selecting: dict[tuple[str, str], set[str]] = defaultdict(set)  # target -> policies
        self.rules = NodeRules()
        self.last_changed_targets = 0

    @staticmethod
    def _world_key(snapshot: Snapshot) -> tuple:
        pods = tuple(sorted((p.namespace, p.name, p.ip, p.node, tuple(sorted(p.labels.items())),
                             p.ports) for p in snapshot.pods))
        spaces = tuple(sorted((n, tuple(sorted(lab.items())))
                              for n, lab in snapshot.namespaces.items()))
        return pods, spaces

    def compile(self, snapshot: Snapshot) -> NodeRules:
        world_key = self._world_key(snapshot)
        world = World(snapshot)
        local = [p for p in snapshot.pods if p.node == self.node]
        fresh = world_key != self.world_key
        wanted: dict[str, tuple] = {}
        for pol in snapshot.policies:
            meta = _meta(pol)
            key = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
            wanted[key] = (meta.get("uid"), meta.get("resourceVersion"), repr(pol.get("spec")))
        changed = set(wanted) ^ set(self.policy_keys) if not fresh else set(wanted)
        changed |= {k for k in wanted if k in self.policy_keys and self.policy_keys[k] != wanted[k]}
        if fresh:
            changed |= set(self.parts)
        touched: set[tuple[str, str]] = set()
        by_key = {f"{_meta(p).get('namespace') or 'default'}/{_meta(p).get('name')}": p
                  for p in snapshot.policies}
        for key in changed:
            old = self.parts.pop(key, None)
            if old is not None:
                for target in old.targets():
                    self.selecting[target].discard(key)
                    touched.add(target)
            if key in wanted:
                part = contribution(by_key[key], world, local)
                self.parts[key] = part
                for target in part.targets():
                    self.selecting[target].add(key)
                    touched.add(target)
        self.policy_keys = wanted
        self.world_key = world_key
        if fresh:
            touched |= set(self.rules.targets)
            self.rules = NodeRules()
        self._rebuild(touched)
        self.rules.local_pods = {p.ip for p in local}
        self.last_changed_targets = len(touched)
        return self.rules

    def _rebuild(self, touched: set[tuple[str, str]]) -> None:
        targets = self.rules.targets
        for target in touched:
            targets.pop(target, None)
            keys = self.selecting.get(target)
            if not keys:
                self.selecting.pop(target, None)
                continue
            direction, ip = target
            grants: list[Grant] = [g for key in sorted(keys) for g in (
                self.parts[key].ingress if direction == "ingress" else self.parts[key].egress
            ).get(ip, ())]
            boxes, any_nets = disjoint(grants)
            targets[target] = (frozenset(Box(ip, cidr, proto, lo, hi)
                                         for proto, lo, hi, cidr in boxes),
                               frozenset(any_nets))
