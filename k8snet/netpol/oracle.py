"""The NetworkPolicy oracle: whether a connection is allowed, and why.

A pure evaluator over a ``Snapshot``, written from the Kubernetes sources:

* https://kubernetes.io/docs/concepts/services-networking/network-policies/
  (isolation, the union of policies, ingress and egress judged separately,
  the node and self exceptions, ``ipBlock``, named ports, ``endPort``);
* the API reference for ``NetworkPolicySpec`` (``policyTypes`` defaulting),
  ``NetworkPolicyPeer`` (``podSelector`` / ``namespaceSelector`` / ``ipBlock``
  and their AND) and ``NetworkPolicyPort`` (``protocol`` defaults to TCP, a
  missing ``port`` matches every port, a named port is looked up on a pod):
  https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/

A connection is allowed when its source may send it (egress, judged when the
source is a pod, by the policies of the source's namespace) and its
destination may receive it (ingress, judged when the destination is a pod, by
the policies of the destination's namespace).  A pod selected by no policy
for a direction is not isolated for it; an isolated pod accepts exactly what
at least one rule of at least one selecting policy allows.

Two exceptions from the concepts page are applied before any rule:

* "traffic to and from the node where a Pod is running is always allowed"
  (the ``ipBlock`` bullet): ingress from the destination pod's own node and
  egress to the source pod's own node;
* "a pod cannot block access to itself" (the pods bullet): a pod connecting
  to itself is allowed.  Upstream's e2e suite leaves these cells undecided:
  ``test/e2e/network/netpol/network_policy.go`` sets ``ignoreLoopback = true``
  (kubernetes issue #95879) and ``Reachability.Summary`` skips ``from == to``;
  ``Reachability.AllowLoopback`` in ``reachability.go`` is the older form.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from k8snet.api.selectors import matches

from .snapshot import PodInfo, Snapshot

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
INGRESS, EGRESS = "ingress", "egress"


@dataclass(frozen=True)
class Peer:
    """One end of a connection: an IPv4 address, the pod that owns it, or a node."""

    ip: str
    pod: PodInfo | None = None
    node: str = ""      # the address is node NODE's own (kubelet probes, hostNetwork)

    def __str__(self) -> str:
        if self.pod is not None:
            return self.pod.key
        return f"node {self.node} ({self.ip})" if self.node else self.ip


@dataclass(frozen=True)
class Connection:
    src: Peer
    dst: Peer
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class RuleRef:
    """``policy`` ("namespace/name") ``direction``[``index``]: one rule of a policy."""

    policy: str
    direction: str
    index: int

    def __str__(self) -> str:
        return f"{self.policy} {self.direction}[{self.index}]"


@dataclass(frozen=True)
class DirectionVerdict:
    allowed: bool
    isolated: bool
    policies: tuple[str, ...]
    allowed_by: tuple[RuleRef, ...]
    reason: str


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    egress: DirectionVerdict
    ingress: DirectionVerdict
    reason: str


# --------------------------------------------------------------------- peers


def peer(snapshot: Snapshot, ref: str) -> Peer:
    """``"ns/pod"`` is that pod's Peer; an IPv4 address is a Peer with the pod
    that has it, if any.  ValueError names an unknown pod or a bad address."""
    if "/" in ref:
        pod = snapshot.pod(ref)
        if pod is None:
            raise ValueError(f"unknown pod {ref!r}: not in the snapshot (or it has no IP)")
        return Peer(pod.ip, pod)
    try:
        ipaddress.IPv4Address(ref)
    except ValueError:
        raise ValueError(f"{ref!r} is neither namespace/pod nor an IPv4 address") from None
    return Peer(ref, snapshot.pod_by_ip(ref))


# --------------------------------------------------------------------- policies


def policy_key(policy: Mapping) -> str:
    meta = policy.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


def policy_types(spec: Mapping) -> list[str]:
    """``spec.policyTypes``, defaulted as the API does when empty: Ingress,
    plus Egress when the policy has egress rules (NetworkPolicySpec)."""
    types = spec.get("policyTypes")
    if types:
        return list(types)
    egress = spec.get("egress")
    return ["Ingress", "Egress"] if isinstance(egress, list) and egress else ["Ingress"]


def selecting(snapshot: Snapshot, pod: PodInfo, direction: str) -> list[Mapping]:
    """The policies that select ``pod`` for ``direction``: in its namespace,
    ``podSelector`` matching its labels, the direction in ``policyTypes``."""
    kind = "Ingress" if direction == INGRESS else "Egress"
    out = []
    for policy in snapshot.policies:
        meta, spec = policy.get("metadata") or {}, policy.get("spec") or {}
        if (meta.get("namespace") or "default") != pod.namespace:
            continue
        if kind in policy_types(spec) and matches(spec.get("podSelector"), pod.labels):
            out.append(policy)
    return sorted(out, key=policy_key)


def namespace_labels(snapshot: Snapshot, namespace: str) -> dict[str, str]:
    """A namespace's labels, with ``kubernetes.io/metadata.name`` as the API
    server sets it on every namespace (immutable, equal to the name)."""
    labels = dict(snapshot.namespaces.get(namespace) or {})
    labels[NAMESPACE_NAME_LABEL] = namespace
    return labels


@lru_cache(maxsize=4096)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR as Go's ParseCIDR reads it (host bits allowed), None if invalid."""
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def _in_cidr(ip: str, cidr: str) -> bool:
    net = _network(cidr)
    try:
        return net is not None and ipaddress.ip_address(ip) in net
    except ValueError:
        return False


def ip_block_matches(block: Mapping, ip: str) -> bool:
    """``ipBlock``: ``ip`` inside ``cidr`` and inside none of ``except``."""
    return _in_cidr(ip, str(block.get("cidr") or "")) and not any(
        _in_cidr(ip, str(e)) for e in block.get("except") or ())


def peer_matches(snapshot: Snapshot, policy_ns: str, rule_peer: Mapping, other: Peer) -> bool:
    """One NetworkPolicyPeer against the connection's other end.

    ``ipBlock`` matches any address (a pod's too).  The selectors match pods
    only: ``podSelector`` alone selects in the policy's namespace,
    ``namespaceSelector`` alone every pod of the matching namespaces, both
    together the pods matching both (AND)."""
    block = rule_peer.get("ipBlock")
    if block is not None:
        return ip_block_matches(block, other.ip)
    pod_sel, ns_sel = rule_peer.get("podSelector"), rule_peer.get("namespaceSelector")
    if other.pod is None or (pod_sel is None and ns_sel is None):
        return False
    if ns_sel is None:
        if other.pod.namespace != policy_ns:
            return False
    elif not matches(ns_sel, namespace_labels(snapshot, other.pod.namespace)):
        return False
    return pod_sel is None or matches(pod_sel, other.pod.labels)


def port_matches(entry: Mapping, conn: Connection, target: PodInfo | None) -> bool:
    """One NetworkPolicyPort: ``protocol`` (default TCP) and, if set, ``port``
    (with ``endPort``, the range ``port..endPort``), or a port name resolved
    on ``target`` (the destination pod) by name and protocol."""
    protocol = entry.get("protocol") or "TCP"
    if protocol != conn.protocol:
        return False
    port = entry.get("port")
    if port is None:
        return True
    if isinstance(port, int) and not isinstance(port, bool):
        end = entry.get("endPort")
        return port <= conn.port <= end if isinstance(end, int) else conn.port == port
    if target is None:
        return False
    return target.named_port(str(port), protocol) == conn.port


def rule_matches(snapshot: Snapshot, policy_ns: str, rule: Mapping, direction: str,
                 conn: Connection) -> bool:
    """A rule allows ``conn`` when one of its peers (or, with none, anything)
    is the other end and one of its ports (or, with none, any) matches."""
    other = conn.src if direction == INGRESS else conn.dst
    peers = rule.get("from" if direction == INGRESS else "to") or []
    if peers and not any(peer_matches(snapshot, policy_ns, p, other) for p in peers):
        return False
    ports = rule.get("ports") or []
    return not ports or any(port_matches(p, conn, conn.dst.pod) for p in ports)


# --------------------------------------------------------------------- verdicts


def _open(reason: str) -> DirectionVerdict:
    return DirectionVerdict(True, False, (), (), reason)


def judge(snapshot: Snapshot, conn: Connection, direction: str) -> DirectionVerdict:
    """One direction's verdict: egress for the source pod, ingress for the
    destination pod (not a pod: nothing to judge, allowed)."""
    pod = conn.dst.pod if direction == INGRESS else conn.src.pod
    if pod is None:
        end = "destination" if direction == INGRESS else "source"
        return _open(f"the {end} is not a pod")
    policies = selecting(snapshot, pod, direction)
    names = tuple(policy_key(p) for p in policies)
    if not policies:
        return _open(f"{pod.key} is not isolated for {direction}")
    if conn.src.pod is not None and conn.dst.pod is not None \
            and conn.src.pod.key == conn.dst.pod.key:
        return DirectionVerdict(True, True, names, (),
                                f"{pod.key} to itself: a pod cannot block access to itself")
    other = conn.src if direction == INGRESS else conn.dst
    if other.node and other.node == pod.node:
        side = "from" if direction == INGRESS else "to"
        return DirectionVerdict(True, True, names, (),
                                f"{side} {pod.key}'s own node {pod.node}: always allowed")
    allowed_by = []
    for policy in policies:
        key = policy_key(policy)
        spec = policy.get("spec") or {}
        for i, rule in enumerate(spec.get(direction) or []):
            if rule_matches(snapshot, key.split("/", 1)[0], rule or {}, direction, conn):
                allowed_by.append(RuleRef(key, direction, i))
    if allowed_by:
        return DirectionVerdict(True, True, names, tuple(allowed_by),
                                "allowed by " + ", ".join(str(r) for r in allowed_by))
    return DirectionVerdict(False, True, names, (),
                            f"no rule of {', '.join(names)} allows it")


def evaluate(snapshot: Snapshot, conn: Connection) -> Verdict:
    """The verdict on ``conn``: allowed only if both egress and ingress allow it."""
    egress = judge(snapshot, conn, EGRESS)
    ingress = judge(snapshot, conn, INGRESS)
    allowed = egress.allowed and ingress.allowed
    if allowed:
        reason = f"egress: {egress.reason}; ingress: {ingress.reason}"
    else:
        reason = "; ".join(f"{name} denied: {v.reason}"
                           for name, v in ((EGRESS, egress), (INGRESS, ingress))
                           if not v.allowed)
    return Verdict(allowed, egress, ingress, f"{conn.src} -> {conn.dst} "
                   f"{conn.protocol}/{conn.port}: {reason}")


def resolve_port(dst: Peer, port: int | str, protocol: str) -> int | None:
    """A probe's port on ``dst``: a number as it is, a name looked up on the
    destination pod by name and protocol (None when it has no such port)."""
    if isinstance(port, int):
        return port
    if str(port).isdigit():
        return int(port)
    return dst.pod.named_port(str(port), protocol) if dst.pod is not None else None


def truth_table(snapshot: Snapshot, sources: Iterable[str], destinations: Iterable[str],
                port: int | str, protocol: str) -> dict[tuple[str, str], bool]:
    """``(source, destination) -> allowed`` for every pair of refs (``ns/pod``
    or IPv4).  A named port is resolved per destination pod; where it does
    not resolve no connection can be made and the cell is False."""
    protocol = protocol.upper()
    srcs = [(ref, peer(snapshot, ref)) for ref in sources]
    dsts = [(ref, peer(snapshot, ref)) for ref in destinations]
    table: dict[tuple[str, str], bool] = {}
    for dref, dst in dsts:
        number = resolve_port(dst, port, protocol)
        for sref, src in srcs:
            table[(sref, dref)] = number is not None and evaluate(
                snapshot, Connection(src, dst, number, protocol)).allowed
    return table
