"""Render a node's NetworkPolicy sets as one nftables transaction (pure text).

The table is the netpol agent's own (``ip k8snet-netpol``), apart from
kproxy's.  Its chains are fixed; only set elements change, so a sync is a
list of ``delete element`` and ``add element`` lines (kube-proxy's partial
sync, applied element by element) and a packet's verdict costs the same
whether one policy exists or a thousand::

    forward (hook forward, after kproxy's DNAT in prerouting)
      ct state established,related accept      replies of allowed connections
      ip saddr . ip daddr @loopback accept     a pod reaching itself via a Service
      ip saddr @egress-isolated jump egress    the source pod is isolated for egress
      ip daddr @ingress-isolated jump ingress  the destination pod is isolated for ingress
    egress:  allowed (pod . peer . proto . port, or pod . peer) -> return, else reject
    ingress: allowed -> accept, else reject

Blocked connections are rejected with ICMP "administratively prohibited"
rather than dropped, so that a client learns at once, and learns it was a
policy (a TCP reset would read "connection refused", like a closed port),
as Antrea's reject action does; the rules' counters say how many.
Traffic between a pod and its own node never reaches the forward hook (the
node's packets take output, the pod's to the node take input), so it is
never judged: "traffic to and from the node where a Pod is running is
always allowed" (the NetworkPolicy concepts page); kubelet probes pass.
"""
from __future__ import annotations

from collections.abc import Iterable

from k8snet.netpol.compile import Box, NodeRules

TABLE = "k8snet-netpol"
FAMILY = "ip"
PRIORITY = "filter"        # after kproxy's filter chains (-110), after DNAT

POD_SET = "type ipv4_addr;"
PAIR_SET = "type ipv4_addr . ipv4_addr;"
PAIR_INTERVAL_SET = "type ipv4_addr . ipv4_addr; flags interval;"
BOX_SET = "type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags interval;"

SETS = {
    "ingress-isolated": POD_SET,      # pods some policy isolates for ingress
    "egress-isolated": POD_SET,       # ... for egress
    "loopback": PAIR_SET,             # pod IP . same pod IP
    "ingress-allow": BOX_SET,         # pod . source prefix . protocol . ports
    "ingress-allow-any": PAIR_INTERVAL_SET,   # pod . source prefix (rules without ports)
    "egress-allow": BOX_SET,          # pod . destination prefix . protocol . ports
    "egress-allow-any": PAIR_INTERVAL_SET,
}

CHAINS = {
    "forward": [
        f"type filter hook forward priority {PRIORITY}; policy accept;",
        'ct state established,related accept comment "replies of allowed connections"',
        'ip saddr . ip daddr @loopback accept comment "a pod reaching itself"',
        'ip saddr @egress-isolated jump egress comment "source pod isolated for egress"',
        'ip daddr @ingress-isolated jump ingress comment "destination isolated for ingress"',
    ],
    "egress": [
        'ip saddr . ip daddr . meta l4proto . th dport @egress-allow return '
        'comment "allowed by an egress rule"',
        'ip saddr . ip daddr @egress-allow-any return comment "allowed by an egress rule '
        'without ports"',
        'counter reject with icmp type admin-prohibited comment "egress: no policy allows it"',
    ],
    "ingress": [
        'ip daddr . ip saddr . meta l4proto . th dport @ingress-allow accept '
        'comment "allowed by an ingress rule"',
        'ip daddr . ip saddr @ingress-allow-any accept comment "allowed by an ingress rule '
        'without ports"',
        'counter reject with icmp type admin-prohibited comment "ingress: no policy allows it"',
    ],
}


def _prefix(cidr: str) -> str:
    return cidr[:-3] if cidr.endswith("/32") else cidr


def box_element(box: Box) -> str:
    """``10.244.1.5 . 10.244.0.0/16 . tcp . 80-81``."""
    ports = str(box.first) if box.first == box.last else f"{box.first}-{box.last}"
    return f"{box.pod_ip} . {_prefix(box.cidr)} . {box.protocol.lower()} . {ports}"


def elements(rules: NodeRules) -> dict[str, set[str]]:
    """Every set's elements, as nft text."""
    return {
        "ingress-isolated": set(rules.ingress_isolated),
        "egress-isolated": set(rules.egress_isolated),
        "loopback": {f"{ip} . {ip}" for ip in rules.local_pods},
        "ingress-allow": {box_element(b) for b in rules.ingress},
        "ingress-allow-any": {f"{ip} . {_prefix(c)}" for ip, c in rules.ingress_any},
        "egress-allow": {box_element(b) for b in rules.egress},
        "egress-allow-any": {f"{ip} . {_prefix(c)}" for ip, c in rules.egress_any},
    }


def _lines(verb: str, name: str, items: Iterable[str], chunk: int = 2000) -> list[str]:
    items = sorted(items)
    return [f"{verb} element {FAMILY} {TABLE} {name} {{ {', '.join(items[i:i + chunk])} }}"
            for i in range(0, len(items), chunk)]


def render_full(current: dict[str, set[str]]) -> str:
    """The whole table, replacing whatever an earlier run left."""
    out = [f"add table {FAMILY} {TABLE}", f"delete table {FAMILY} {TABLE}",
           f"table {FAMILY} {TABLE} {{"]
    for name, spec in SETS.items():
        out.append(f"  set {name} {{ {spec} }}")
    for name, lines in CHAINS.items():
        out.append(f"  chain {name} {{")
        out.extend(f"    {line}" for line in lines)
        out.append("  }")
    out.append("}")
    for name in SETS:
        out.extend(_lines("add", name, current.get(name, ())))
    return "\n".join(out) + "\n"


def render_delta(previous: dict[str, set[str]], current: dict[str, set[str]]) -> str:
    """Only what changed: deletions first (an interval set refuses an element
    that overlaps one still present), then additions; "" when nothing did."""
    out: list[str] = []
    for name in SETS:
        out.extend(_lines("delete", name, previous.get(name, set()) - current.get(name, set())))
    for name in SETS:
        out.extend(_lines("add", name, current.get(name, set()) - previous.get(name, set())))
    return "\n".join(out) + "\n" if out else ""


def render_cleanup() -> str:
    """Remove the table (the agent stops)."""
    return f"add table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\n"
