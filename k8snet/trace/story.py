"""Tell a traced connection as numbered hops, from the evidence collected.

Pure over its inputs except for route and fabric lookups (``fabric``), which
ask the live kernel and switches.  The order is the guide's: the source's
eth0 and veth, each node's netfilter (kproxy, NetworkPolicy), the route and
the switches, the destination node, the pod; then the verdict.
"""
from __future__ import annotations

import ipaddress

from k8snet import naming
from k8snet.netpol import oracle
from k8snet.netpol.snapshot import from_store
from k8snet.trace import kernel, ovstrace
from k8snet.trace.model import Endpoint, Hop, Lab, TraceResult
from k8snet.trace.nftrace import TraceEvent
from k8snet.trace.picture import EXT, GATEWAY, service_id
from kproxy.nft_names import CLUSTER_IPS_CHECK


def is_loopback(source: Endpoint, ip: str) -> bool:
    """A pod's packet that never leaves it: to 127.0.0.0/8, or to its own
    address (``ip route get`` in the pod: ``local ... dev lo``)."""
    return source.kind == "pod" and (ip.startswith("127.") or ip == source.ip)


def leaving(lab: Lab, source: Endpoint, loopback: bool = False, ip: str = "") -> Hop:
    """The source's own hop: its eth0, and for a pod the veth into its node;
    ``loopback`` (to ``ip``): the pod's lo."""
    if loopback and ip == source.ip:
        return Hop(f"pod {source.name}",
                   [f"lo (namespace {source.netns}): {ip} is the pod's own address, so the "
                    "kernel delivers it locally; it never reaches eth0 or the node"],
                   [(source.element, source.element)])
    if loopback:
        return Hop(f"pod {source.name}",
                   [f"lo 127.0.0.1 (namespace {source.netns}): the pod's containers share "
                    "one network namespace, so localhost is the pod's own"],
                   [(source.element, source.element)])
    if source.kind == "pod":
        return Hop(f"pod {source.name}",
                   [f"eth0 {source.ip} (namespace {source.netns}) -> veth {source.veth} on "
                    f"{source.node}, which routes it"],
                   [(source.element, source.node)])
    return Hop(f"{source.kind} {source.name}", [f"eth0 {source.ip} (namespace {source.netns})"])


def request_ids(events: list[TraceEvent], replies: set[tuple[str, str]]) -> dict[str, set]:
    """Per node, the trace ids of the first request packet (the SYN, or a
    datagram) at each hook it crossed; a packet is a reply when it comes from
    a conntrack entry's reply source.  nft gives one packet a new trace id at
    each hook, so one packet is several ids."""
    out: dict[str, set] = {}
    for e in events:
        if e.kind != "packet":
            continue
        sport = e.field("tcp sport") or e.field("udp sport")
        if (e.field("ip saddr"), sport) in replies:
            continue
        if "tcp" in e.text and "flags == syn " not in e.text + " ":
            continue
        out.setdefault(e.node, set()).add(e.trace_id)
    return out


def netfilter_lines(events: list[TraceEvent], node: str, trace_ids: set) -> list[str]:
    """The rules of kproxy and the netpol agent one packet met on ``node``."""
    out, seen = [], set()
    for e in events:
        if e.node != node or e.trace_id not in trace_ids or e.kind != "rule":
            continue
        if not (e.comment or "dnat" in e.text or e.chain.startswith("KPROXY")):
            continue
        key = (e.table, e.chain, e.comment, e.verdict)
        if key in seen:
            continue
        seen.add(key)
        text = f"{e.table} {e.chain}: " + (f'"{e.comment}"' if e.comment else
                                            e.text.split(" counter ")[0][:70])
        if "dnat to" in e.text:
            text += " dnat to " + e.text.split("dnat to", 1)[1].split(" comment")[0].strip()
        verdict = e.verdict
        if verdict == "drop" and " reject" in f" {e.text.split(' comment ')[0]}":
            verdict = "reject"          # nft's trace says drop for a reject statement
        out.append(f"{text} ({verdict})" if verdict else text)
    return out


def stopping(line: str) -> bool:
    """A netfilter line whose rule ended the packet (not one it only jumped through)."""
    return line.endswith(("(drop)", "(reject)"))


def fabric(lab: Lab, host: str, netns: str, src_ip: str, dst_ip: str, protocol: str,
           sport: int, dport: int) -> tuple[kernel.Route | None, list, str]:
    """The route out of ``host`` and the switches on the way: (route, steps, reached)."""
    route = kernel.route_get(netns, dst_ip)
    if route is None or route.local or host not in lab.uplinks or route.dev != "eth0":
        return route, [], ""
    switch, switch_if = lab.uplinks[host]
    nexthop = route.via or dst_ip
    fields = {"proto": protocol.lower(), "dl_src": kernel.link_mac(netns, route.dev),
              "dl_dst": kernel.neighbour_mac(netns, nexthop, route.dev),
              "nw_src": src_ip, "nw_dst": dst_ip, "nw_ttl": "64",
              # tcp_src, udp_src, sctp_src: OVS's tp_src is TCP's alone
              f"{protocol.lower()}_src": str(sport), f"{protocol.lower()}_dst": str(dport)}
    if not fields["dl_dst"]:
        return route, [], ""
    return (route, *ovstrace.trace_fabric(switch, switch_if, fields, lab.links))


def netpol_reason(lab: Lab, src_ip: str, dst_ip: str, port: int, protocol: str
                  ) -> tuple[bool, str]:
    """The oracle's word on the connection: (allowed, the reason naming the
    deciding policy)."""
    snap = from_store(lab.store)
    src, dst = snap.pod_by_ip(src_ip), snap.pod_by_ip(dst_ip)
    if src is None and dst is None:
        return True, ""
    node = next((n for n, ip in lab.node_ips.items() if ip == src_ip), "")
    conn = oracle.Connection(oracle.Peer(src_ip, src, node), oracle.Peer(dst_ip, dst), port,
                             protocol)
    verdict = oracle.evaluate(snap, conn)
    return verdict.allowed, verdict.reason


def pod_at(store, ip: str) -> dict | None:
    """The pod (not on the host network) whose IP is ``ip``."""
    found = store.list("Pod", where=lambda p: (p.get("status") or {}).get("podIP") == ip
                       and not (p.get("spec") or {}).get("hostNetwork"))
    return found[0] if found else None


def service_at(store, ip: str, port: int | None = None) -> str:
    """``ns/name`` of the Service whose ClusterIP or LoadBalancer IP is ``ip``,
    else of one with ``ip`` among its ``spec.externalIPs`` (and, when ``port``
    is given, that port among its ports: kproxy, as kube-proxy, captures an
    external IP only on the Service's ports, and it may be a node's own
    address that serves other ports), or ""."""
    services = store.list("Service")
    for svc in services:
        spec, status = svc.get("spec") or {}, svc.get("status") or {}
        ips = [spec.get("clusterIP")] + [i.get("ip") for i in
                                         (status.get("loadBalancer") or {}).get("ingress") or []]
        if ip in ips:
            return f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
    for svc in services:
        spec = svc.get("spec") or {}
        if ip in (spec.get("externalIPs") or []) and (
                port is None or port in [p.get("port") for p in spec.get("ports") or []]):
            return f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
    return ""


def no_such_port(store, key: str, port: int, protocol: str) -> str:
    """``"Service ns/name has no port P/PROTO (it serves ...)"``, or "" when
    the Service ``key`` serves ``port`` (or is not found)."""
    ns, _, name = key.partition("/")
    svc = store.find("Service", ns, name) or {}
    ports = [(p.get("port"), str(p.get("protocol") or "TCP"))
             for p in (svc.get("spec") or {}).get("ports") or []]
    if not ports or (port, protocol.upper()) in ports:
        return ""
    serves = ", ".join(f"{p}/{proto}" for p, proto in ports)
    return f"Service {key} has no port {port}/{protocol.upper()} (it serves {serves})"


def missing_port(store, key: str, port: int, protocol: str, rejected: bool = False) -> str:
    """``"; the Service ns/name has no port P/PROTO (it serves ...): ..."`` when
    the Service ``key`` at the target IP does not serve ``port``.  ``rejected``:
    kproxy's ``cluster-ips-check`` rejected the packet (nftables mode, as
    kube-proxy's: pkg/proxy/nftables/proxier.go); otherwise (iptables mode,
    as kube-proxy's) no rule has the address and port, so nothing forwards
    the packet."""
    what = no_such_port(store, key, port, protocol)
    if not what:
        return ""
    if rejected:
        return f"; the {what}: kproxy rejects a ClusterIP's other ports (ICMP port unreachable)"
    return f"; the {what}: kproxy has no rule for it, so nothing forwards the packet"


def rejected_port(line: str) -> bool:
    """A netfilter line saying kproxy rejected a ClusterIP's undeclared port."""
    return line.startswith(f"kproxy {CLUSTER_IPS_CHECK}:") and line.endswith("(reject)")


def _first_entry(result: TraceResult, node: str):
    return next((e for e in result.conntrack if e.node == node), None)


def _hashed(flow: str) -> str:
    """ofproto/trace's "-> no live bucket" for a select group means only that
    the bucket is chosen after the hash, in the next datapath pass."""
    return flow.replace("-> no live bucket", "-> the bucket is chosen by the hash below")


def _route_hop(lab: Lab, host: str, netns: str, src_ip: str, dst_ip: str, proto: str,
               sport: int, dport: int) -> Hop:
    route, steps, reached = fabric(lab, host, netns, src_ip, dst_ip, proto, sport, dport)
    hop = Hop(f"{host}: route", [f"ip route get {dst_ip}: {route or 'no route'}"])
    prev = host
    for step in steps:
        hop.lines.append(f"switch {step.bridge} (in_port {step.in_port}):")
        hop.lines += [f"  {_hashed(str(f)) if step.group else f}" for f in step.flows]
        hop.lines.append(f"  ofproto/trace refused the flow: {step.error}" if step.error else
                         f"  patch port to {step.patch_to}: the same datapath pass goes on"
                         if step.patch_to else f"  datapath actions: {step.datapath_actions}")
        hop.path.append((prev, step.bridge))
        prev = step.bridge
    if reached:
        hop.lines.append(f"-> {reached}")
        hop.path.append((prev, reached))
    elif steps and steps[-1].group:
        hop.lines.append(f"{steps[-1].group} is an ECMP select group: the switch hashes the "
                         "connection onto one bucket (one node)")
    return hop


def _netfilter_hop(result: TraceResult, node: str, trace_ids: set, masqueraded: bool = False
                   ) -> Hop:
    hop = Hop(f"{node}: netfilter")
    hop.lines += netfilter_lines(result.events, node, trace_ids) or \
        [("not traced here: masquerading gave the packet a new source port" if masqueraded
          else "no kproxy or netpol rule met")]
    entry = _first_entry(result, node)
    if entry is not None:
        hop.lines.append(f"conntrack: {entry}")
        if entry.dnat:    # kproxy's DNAT goes through a map: conntrack names the endpoint
            hop.lines.append(f"DNAT: {entry.original.dst}:{entry.original.dport} -> "
                             f"{entry.dnat[0]}:{entry.dnat[1]}")
        if entry.snat:
            hop.lines.append(f"SNAT: the source becomes {entry.snat[0]}:{entry.snat[1]}")
    return hop


def _pod_range_of(store, ip: str) -> str:
    """The node whose ``spec.podCIDR`` holds ``ip``, or ""."""
    addr = ipaddress.ip_address(ip)
    for node in store.list("Node"):
        cidr = (node.get("spec") or {}).get("podCIDR")
        if cidr and addr in ipaddress.ip_network(cidr, strict=False):
            return node["metadata"]["name"]
    return ""


def _listening(pod: dict, port: int, protocol: str) -> list[str]:
    """The pod's containers that declare ``port``/``protocol``, each once."""
    return list(dict.fromkeys(
        c["name"] for c in (pod.get("spec") or {}).get("containers") or []
        for p in c.get("ports") or []
        if int(p.get("containerPort", 0)) == port and p.get("protocol", "TCP") == protocol))


def answered(result: TraceResult) -> str:
    """The server's first line; an HTTP error status says it is about the
    path the trace asked for, not the connection (a server with no
    ``/hostname``, the built-in server's, answers 404 and was reached).  A
    connection made and then not answered says so: a server of another
    protocol (DNS on 53) does not answer an HTTP request."""
    if not result.reply:
        what = "the HTTP request" if result.protocol == "TCP" else "the datagram"
        return (f"answered: nothing to {what} ({result.error or 'no reply'}); the "
                "connection itself was made: a server of another protocol stays silent")
    line = f"answered: {result.reply}"
    words = result.reply.split()
    if len(words) >= 2 and words[0].startswith("HTTP/") and words[1].isdigit() \
            and int(words[1]) >= 400:
        line += (f" (the server's answer for {result.target.path}: the connection "
                 "itself was made)")
    return line


def _loopback(lab: Lab, result: TraceResult) -> None:
    src, tgt = result.source, result.target
    ns, _, name = src.name.partition("/")
    pod = lab.store.find("Pod", ns, name) or {}
    listening = _listening(pod, tgt.port, result.protocol)
    hop = Hop(f"pod {src.name}: {tgt.ip}:{tgt.port}",
              [f"container {', '.join(listening)} declares port {tgt.port}" if listening else
               "the answer comes from whichever container listens there (no declared port)"])
    if result.reply:
        hop.lines.append(answered(result))
    result.hops.append(hop)
    result.backend = src.name
    result.verdict = (f"delivered inside {src.name}" if result.delivered else
                      f"stopped: {result.error or 'no answer'} (nothing listens on "
                      f"{tgt.ip}:{tgt.port} in the pod)")


def tell(lab: Lab, result: TraceResult, sport: int) -> None:
    """Append the hops after the source's and set ``backend`` and ``verdict``."""
    src, tgt, proto = result.source, result.target, result.protocol
    if is_loopback(src, tgt.ip):
        _loopback(lab, result)
        return
    replies = {(e.reply.src, str(e.reply.sport)) for e in result.conntrack}
    ids = request_ids(result.events, replies)
    found = service_at(lab.store, tgt.ip, tgt.port)
    svc = service_id(*found.split("/", 1)) if found else ""
    if svc and src.element:
        result.hops[-1].path.append((src.element, svc))
    first = src.node or next((e.node for e in result.conntrack
                              if e.original.dst == tgt.ip), "") or \
        next((e.node for e in result.events if e.kind == "packet"
              and e.field("ip daddr") == tgt.ip and e.node in ids), "")
    if src.kind == "ext" and "gw" in lab.host_netns:
        gw = _route_hop(lab, "gw", lab.host_netns["gw"], src.ip, tgt.ip, proto, sport,
                        tgt.port)
        if first and not any(dst == first for _, dst in gw.path):
            gw.lines.append(f"-> {first} (the node holding this connection's conntrack entry)")
            if gw.path:
                gw.path.append((gw.path[-1][1], first))
        result.hops.append(gw)
    dst_ip, dst_port = tgt.ip, tgt.port
    nodes = [first] if first else []
    stopped = False                   # a rule ended the packet: no hop after it
    if first:
        result.hops.append(_netfilter_hop(result, first, ids.get(first, set())))
        entry = _first_entry(result, first)
        src_after = src.ip
        if entry is not None:
            if entry.dnat:
                dst_ip, dst_port = entry.dnat
            if entry.snat:
                src_after = entry.snat[0]
        stopped = not result.delivered and any(stopping(line)
                                                for line in result.hops[-1].lines)
        if not stopped:
            result.hops.append(_route_hop(lab, first, lab.node_netns[first], src_after,
                                          dst_ip, proto, sport, dst_port))
    pod = pod_at(lab.store, dst_ip)
    last = ((pod or {}).get("spec") or {}).get("nodeName", "")
    if last and last != first and last in lab.node_netns and not stopped:
        nodes.append(last)
        snat = first and (_first_entry(result, first) or None)
        result.hops.append(_netfilter_hop(result, last, ids.get(last, set()),
                                          bool(snat and snat.snat)))
        stopped = not result.delivered and any(stopping(line)
                                                for line in result.hops[-1].lines)
        if not stopped:
            result.hops.append(Hop(f"{last}: route", [
                f"ip route get {dst_ip}: {kernel.route_get(lab.node_netns[last], dst_ip)}"]))
    _destination(lab, result, dst_ip, dst_port, nodes, reached=not stopped)


def _destination(lab: Lab, result: TraceResult, dst_ip: str, dst_port: int,
                 nodes: list[str], reached: bool = True) -> None:
    """The destination's hop (``reached``: no rule ended the packet before it)
    and the verdict."""
    pod = pod_at(lab.store, dst_ip)
    if pod is not None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        key = f"{meta['namespace']}/{meta['name']}"
        node = spec.get("nodeName", "")
        listening = _listening(pod, dst_port, result.protocol)
        hop = Hop(f"{node}: to pod {key}",
                  [f"veth {naming.host_veth(lab.cluster, meta['namespace'], meta['name'])}"
                   f" -> {key} eth0 {dst_ip}:{dst_port}"
                   + (f", container {', '.join(listening)} listening" if listening else "")],
                  [(node, key)])
        if node in lab.node_ips and nodes and nodes[-1] != node:
            hop.lines.append(f"(node {node} never saw the packet)")
        if reached:
            result.hops.append(hop)
        result.backend = key
        _through_ingress(lab, result, pod)
    elif dst_ip == lab.host_ips.get(EXT):
        if reached:
            result.hops.append(Hop("ext", [f"{EXT} {dst_ip}:{dst_port}"], [(GATEWAY, EXT)]))
        result.backend = EXT
    else:
        if reached and result.delivered:      # a node's own address, say: its answer
            result.hops.append(Hop(f"{dst_ip}:{dst_port}", []))
        result.backend = dst_ip
    allowed, reason = netpol_reason(lab, result.source.ip, dst_ip, dst_port, result.protocol)
    if result.delivered:
        result.verdict = f"delivered to {result.backend}"
        result.hops[-1].lines.append(answered(result))
        if reason:
            result.hops[-1].lines.append(f"NetworkPolicy: {reason}")
        return
    why = [line for hop in result.hops for line in hop.lines if stopping(line)]
    result.verdict = f"stopped: {result.error or 'no answer'}"
    if why:
        result.verdict += f"; {why[-1].strip()}"
    elif pod is None and (owner := _pod_range_of(lab.store, dst_ip)):
        result.verdict += (f"; no pod has the address {dst_ip}, in {owner}'s pod range "
                           "(deleted, or never made)")
    elif result.protocol == "UDP" and result.error == "timed out":
        result.verdict += ("; UDP has no handshake: a server that ignores the probe's "
                           "datagram looks the same as a drop")
    target_svc = service_at(lab.store, result.target.ip, result.target.port)
    if target_svc:
        result.verdict += missing_port(lab.store, target_svc, result.target.port,
                                       result.protocol,
                                       rejected=bool(why) and rejected_port(why[-1].strip()))
    if reason and not allowed:
        result.verdict += f"; NetworkPolicy: {reason}"
    if lab.faults:                      # set with loss, node, mtu, controller
        result.verdict += f"; faults set in this lab: {'; '.join(lab.faults)}"


def _through_ingress(lab: Lab, result: TraceResult, controller: dict) -> None:
    """An ingress controller answered: name the backend pod nginx proxied to
    (the built-in server's reply names its pod)."""
    if controller["metadata"]["namespace"] != "ingress-nginx" or "|" not in result.reply:
        return
    name = result.reply.split("|", 1)[1].strip()
    found = lab.store.list("Pod", where=lambda p: p["metadata"]["name"] == name)
    if not found:
        return
    pod = found[0]
    key = f"{pod['metadata']['namespace']}/{name}"
    node = (pod.get("spec") or {}).get("nodeName", "")
    result.hops.append(Hop(f"ingress-nginx proxies to {key}", [
        f"nginx matched the Ingress rule for Host {result.target.host} path "
        f"{result.target.path} and connected to {key} "
        f"({(pod.get('status') or {}).get('podIP', '')}) on {node}"],
        [(result.backend, key)]))
    result.backend = key


def render(result: TraceResult) -> str:
    """The numbered hops as text, then the verdict."""
    head = (f"trace {result.source.name} -> {result.target.text} "
            f"({result.target.ip}:{result.target.port}/{result.protocol})")
    lines = [head]
    for i, hop in enumerate(result.hops, 1):
        lines.append(f"{i:2d}. {hop.title}")
        lines += [f"    {line}" for line in hop.lines]
    lines.append(f"=> {result.verdict}")
    return "\n".join(lines) + "\n"
