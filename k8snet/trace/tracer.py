"""Trace one connection through the live lab, hop by hop, from evidence.

A real probe connection leaves the source (a pod, a node or ext) from a
unique source port; meanwhile every node traces its packets through
netfilter (``nftrace``).  Afterwards the kernel's conntrack entries and
routes and the fabric's installed flows (``ofproto/trace``) are read, and
the hops are told in the guide's order: DNS, the source's eth0 and veth,
the node's netfilter (kproxy's rule and DNAT, the NetworkPolicy verdict),
the route and the fabric, the destination node, the pod; or where and why it
stopped.  Delivered if and only if the connection succeeded.

``Lab`` carries what a trace needs from a running cluster, nothing more.
"""
from __future__ import annotations

import random

from k8snet.trace import kernel, story
from k8snet.trace.model import Endpoint, Hop, Lab, Target, TraceResult
from k8snet.trace.nftrace import Tracing
from k8snet.trace.target import run_probe


def trace(lab: Lab, source: Endpoint, target: Target, protocol: str = "TCP",
          timeout: float = 1.0) -> TraceResult:
    """Send the probe and tell its path."""
    hops: list[Hop] = []
    sport = random.randint(40000, 59999)
    if target.dns is not None:
        hops.append(target.dns)
    hops.append(story.leaving(lab, source, story.is_loopback(source, target.ip), target.ip))
    http = {"host": target.host, "path": target.path} if protocol == "TCP" else None
    request = {"action": "connect", "ip": target.ip, "port": target.port,
               "protocol": protocol, "sport": sport, "http": http, "timeout": timeout}
    with Tracing(lab.node_netns, protocol, sport) as tracing:
        outcome = run_probe(source.netns, request)
    entries = kernel.probe_entries(
        [e for node, ns in lab.node_netns.items()
         for e in kernel.conntrack_entries(node, ns, protocol, sport)], source.ip,
        target.ip, target.port)
    result = TraceResult(source, target, protocol, hops, bool(outcome.get("connected")),
                         outcome.get("error", ""), outcome.get("reply", ""),
                         events=tracing.events, conntrack=entries)
    story.tell(lab, result, sport)
    return result


