"""``trace --simulate``: a connection's path walked through the rendered rules
and the planned flows, without sending anything.

The live trace (``k8snet.trace.tracer``) sends a probe and tells what the
kernel and the switches did; this walks the same path over a model instead:

* the first node's kproxy ruleset (the ``nft -f`` text kproxy applied) through
  ``k8snet.trace.nftsim``: the rules met, the DNAT and the SNAT, and with
  ``numgen random`` every endpoint the random pick can choose ("one of N"),
  each followed as a possible path;
* the NetworkPolicy verdict of the oracle (``k8snet.netpol.oracle``): egress on
  the source pod's node, ingress on the destination pod's node;
* the node's route (a pod's /32 on its veth, the rest of the pod CIDR
  unreachable, the node network on eth0, the rest via the fabric gateway)
  and the fabric switches' flows from ``controllers.fabric_plan`` through
  ``k8snet.trace.ofsim``;
* the destination node and pod.

Hops are ``k8snet.trace.model.Hop`` in ``k8snet.trace.story``'s order and
wording; the verdict starts with ``simulated: ``.  kproxy's iptables mode has
no simulator: its hop says so and the walk goes on untranslated.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from controllers.fabric_plan import ETH_IPV4
from controllers.fabric_state import FabricHost, FabricState
from k8snet import naming
from k8snet.api.model import pod_gateway_of
from k8snet.netpol import oracle
from k8snet.netpol.snapshot import Snapshot, from_store
from k8snet.trace import nftsim, story
from k8snet.trace.model import Endpoint, Hop, Target, TraceResult
from k8snet.trace.ofsim import FakeFabric
from k8snet.trace.ofsim_text import switch_lines
from k8snet.trace.picture import EXT, GATEWAY, service_id
from k8snet.trace.story import pod_at, service_at
from kproxy.nft_names import CLUSTER_IPS_CHECK, REJECT_CHAIN

SIMULATED = "simulated: "
UNSUPPORTED = "simulation of {mode} mode is not supported: kproxy's rules are not walked"


@dataclass
class SimInputs:
    """What a simulation reads: a lab's rendered state, no kernel, no switch.

    ``node_rulesets`` holds, per node, kproxy's whole ruleset as one ``nft -f``
    transaction (a fresh render: a partial sync's text alone is not the
    ruleset); ``notes`` a caveat per node, told in its netfilter hop."""

    store: object                                   # the API store (list, find)
    node_ips: dict[str, str]                        # node -> InternalIP
    pod_cidrs: dict[str, str]                       # node -> its pod CIDR
    node_rulesets: dict[str, str] = field(default_factory=dict)
    fabric_state: FabricState | None = None         # the controller's picture
    proxy_mode: str = "nftables"
    switch_names: dict[int, str] = field(default_factory=dict)   # dpid -> name
    host_ips: dict[str, str] = field(default_factory=dict)       # gw, ext -> address
    cluster_domain: str = "cluster.local"
    notes: dict[str, str] = field(default_factory=dict)
    cluster: str = ""                               # its name, for the pods' veth names


@dataclass
class _Packet:
    src: str
    dst: str
    port: int


# ------------------------------------------------------------------ lookups

def _key(obj: dict) -> str:
    return f"{obj['metadata'].get('namespace', 'default')}/{obj['metadata']['name']}"


def _in(ip: str, cidr: str) -> bool:
    try:
        return ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        return False


def _local_ips(inputs: SimInputs, node: str) -> list[str]:
    """The node's own addresses: InternalIP, and the pods' gateway (the pod
    CIDR's first) while a pod on the pod network has a veth there to hold it."""
    out = [inputs.node_ips[node]]
    cidr = inputs.pod_cidrs.get(node)
    if cidr and inputs.store.list("Pod", where=lambda p: (
            (p.get("spec") or {}).get("nodeName") == node
            and not (p.get("spec") or {}).get("hostNetwork")
            and _in((p.get("status") or {}).get("podIP", ""), cidr))):
        out.append(pod_gateway_of(cidr))
    return out


def _route_source(inputs: SimInputs, node: str):
    """The source address of ``node``'s route to a destination, which
    masquerade takes: the pods' gateway (on the pod's veth) towards one of the
    node's own pods, the node's InternalIP otherwise."""
    cidr = inputs.pod_cidrs.get(node, "")

    def source(dst: str) -> str:
        if cidr and _in(dst, cidr):
            return pod_gateway_of(cidr)
        return inputs.node_ips[node]
    return source


def _node_of_ip(inputs: SimInputs, ip: str) -> str:
    return next((n for n, a in inputs.node_ips.items() if a == ip), "")


def _where(inputs: SimInputs, ip: str) -> str:
    """``ns/pod on node``, ``node X`` or the bare address."""
    pod = pod_at(inputs.store, ip)
    if pod is not None:
        return f"{_key(pod)} on {(pod.get('spec') or {}).get('nodeName', '?')}"
    node = _node_of_ip(inputs, ip)
    return f"node {node}" if node else ip


# ------------------------------------------------------------------ netfilter

def _rule_lines(res: nftsim.TraceResult) -> list[str]:
    """The kproxy rules the packet met, as ``story.netfilter_lines`` tells them."""
    return [str(r) for r in res.rules if r.rule.comment or r.verdict.startswith("dnat")]


def _outcome_lines(inputs: SimInputs, res: nftsim.TraceResult, pkt: _Packet,
                   proto: str) -> list[str]:
    """What became of the packet: the reject or drop and why, the DNAT, the SNAT."""
    if res.verdict == nftsim.REJECT:
        svc = service_at(inputs.store, pkt.dst, pkt.port)
        what = f"Service {svc}" if svc else f"{pkt.dst}:{pkt.port}"
        if REJECT_CHAIN in res.chains:
            why = f"{what} has no endpoints"
        elif res.chains[-1:] == [CLUSTER_IPS_CHECK]:
            # kube-proxy's "Reject traffic to invalid ports of ClusterIPs"
            why = (story.no_such_port(inputs.store, svc, pkt.port, proto) if svc else "") \
                or f"{what} is a ClusterIP without that port"
        else:
            why = f"{what} is rejected"
        return [f"reject: {why} (ICMP port unreachable)"]
    if res.verdict == nftsim.DROP:
        last = next((str(r) for r in reversed(res.rules) if r.verdict == "drop"), "")
        if res.chains[-1:] == [CLUSTER_IPS_CHECK]:
            # kube-proxy's "Drop traffic to unallocated ClusterIPs"
            return [f"drop: {pkt.dst} is in the service CIDR but no Service has it "
                    "(an unallocated ClusterIP)"]
        return [f"drop: {last or 'a chain policy'}"]
    out = []
    if res.dnat:
        out.append(f"DNAT: {pkt.dst}:{pkt.port} -> {res.dst_ip}:{res.dport} "
                   f"({_where(inputs, res.dst_ip)})")
    if res.masquerade:
        out.append(f"SNAT: the source becomes {res.masquerade} (masquerade)")
    return out


def _netfilter(inputs: SimInputs, node: str, pkt: _Packet, proto: str, hook_path: str
               ) -> tuple[list[str], list[nftsim.TraceResult] | None]:
    """(caveats, every outcome) of ``node``'s kproxy ruleset for the packet;
    None when the ruleset cannot be walked (the caveat says why)."""
    notes = [inputs.notes[node]] if inputs.notes.get(node) else []
    if inputs.proxy_mode != "nftables":
        return notes + [UNSUPPORTED.format(mode=inputs.proxy_mode)], None
    text = inputs.node_rulesets.get(node, "")
    if not text:
        return notes + ["no kproxy ruleset recorded for this node (not synced yet)"], None
    if proto.lower() not in ("tcp", "udp"):
        return notes + [f"simulation of {proto} is not supported: kproxy's rules are not "
                        "walked"], None
    try:
        return notes, nftsim.trace_all(text, src_ip=pkt.src, dst_ip=pkt.dst,
                                       proto=proto.lower(), dport=pkt.port,
                                       hook_path=hook_path, local_ips=_local_ips(inputs, node),
                                       node_ip=inputs.node_ips[node],
                                       masq_source=_route_source(inputs, node))
    except nftsim.NftError as exc:
        return notes + [f"the simulator cannot walk this ruleset: {exc}"], None


def _common_prefix(lists: list[list[str]]) -> int:
    n = 0
    while all(len(x) > n for x in lists) and len({x[n] for x in lists}) == 1:
        n += 1
    return n


# ------------------------------------------------------------------ NetworkPolicy

def _peer(snap: Snapshot, inputs: SimInputs, ip: str) -> oracle.Peer:
    return oracle.Peer(ip, snap.pod_by_ip(ip), _node_of_ip(inputs, ip))


def _netpol(snap: Snapshot, inputs: SimInputs, direction: str, src: str, dst: str, port: int,
            proto: str) -> tuple[str, str]:
    """(the hop line, why it stops or "") for one direction of the oracle's verdict."""
    conn = oracle.Connection(_peer(snap, inputs, src), _peer(snap, inputs, dst), port, proto)
    verdict = oracle.evaluate(snap, conn)
    part = verdict.egress if direction == oracle.EGRESS else verdict.ingress
    if part.allowed:
        return f"NetworkPolicy {direction}: {part.reason}", ""
    why = f"NetworkPolicy: {direction} denied: {part.reason}"
    return f"NetworkPolicy {direction}: {part.reason} (drop)", why


# ------------------------------------------------------------------ the fabric

def _fabric_host(state: FabricState | None, name: str) -> FabricHost | None:
    return next((h for h in state.hosts if h.name == name), None) if state else None


def _route_hop(inputs: SimInputs, host: str, pkt: _Packet, title: str
               ) -> tuple[Hop, str | None]:
    """``host``'s route to the packet's destination, and the fabric's flows on
    the way: (the hop, the node or host reached; None when nothing is)."""
    hop = Hop(title)
    cidr = inputs.pod_cidrs.get(host, "")
    if host in inputs.node_ips and pkt.dst in _local_ips(inputs, host):
        hop.lines.append(f"route {pkt.dst}: local ({host}'s own address)")
        return hop, host
    if cidr and _in(pkt.dst, cidr):
        pod = pod_at(inputs.store, pkt.dst)
        if pod is None:
            hop.lines.append(f"route {pkt.dst}: unreachable ({cidr}: this node's pods, "
                             "none has this address)")
            return hop, None
        veth = naming.host_veth(inputs.cluster, *_key(pod).split("/", 1))
        hop.lines.append(f"route {pkt.dst}: dev {veth} (the pod's /32 in {cidr})")
        return hop, host
    state = inputs.fabric_state
    me = _fabric_host(state, host)
    if me is None:
        hop.lines.append(f"route {pkt.dst}: unknown ({host} is not in the fabric state)")
        return hop, None
    peer = next((h for h in state.hosts if h.ip == pkt.dst), None)
    if peer is not None:
        hop.lines.append(f"route {pkt.dst}: dev eth0 (the node network: {peer.name} is a "
                         "neighbour, the frame is switched)")
    else:
        hop.lines.append(f"route {pkt.dst}: via {state.gateway_ip} dev eth0 (the default "
                         "route: the fabric gateway)")
    frame = {"eth_src": me.mac, "eth_dst": peer.mac if peer else state.gateway_mac,
             "eth_type": ETH_IPV4, "ipv4_src": pkt.src, "ipv4_dst": pkt.dst, "ip_ttl": 64}
    try:
        reached, _, steps = FakeFabric(state).walk(me.dpid, me.port, frame)
    except (AssertionError, ValueError) as exc:   # an ambiguous or looping plan
        hop.lines.append(f"the fabric cannot be simulated: {exc} (drop)")
        return hop, None
    prev = host
    for step in steps:
        hop.lines += switch_lines(inputs.switch_names, step, state)
        name = inputs.switch_names.get(step.dpid, f"dpid {step.dpid}")
        hop.path.append((prev, name))
        prev = name
    if reached:
        hop.lines.append(f"-> {reached}")
        hop.path.append((prev, reached))
    else:
        hop.lines.append("dropped by the fabric: no flow takes the packet on (drop)")
    return hop, reached


# ------------------------------------------------------------------ the walk

MAX_NODES = 4          # a path crosses at most this many nodes' netfilter


@dataclass
class _Path:
    """A piece of the walk: its hops, then an end (a backend, or why it
    stopped) or several forks (one per endpoint a random pick may choose)."""

    label: str = ""
    hops: list[Hop] = field(default_factory=list)
    forks: list[_Path] = field(default_factory=list)
    backend: str = ""
    stop: str = ""

    def leaves(self) -> list[_Path]:
        return [leaf for f in self.forks for leaf in f.leaves()] if self.forks else [self]

    def all_hops(self) -> list[Hop]:
        return self.hops + [h for f in self.forks for h in f.all_hops()]


@dataclass
class _Walk:
    inputs: SimInputs
    snap: Snapshot
    source: Endpoint
    protocol: str


def _destination(w: _Walk, node: str, pkt: _Packet, path: _Path, sfx: str) -> None:
    pod = pod_at(w.inputs.store, pkt.dst)
    if pod is not None:
        key, spec = _key(pod), pod.get("spec") or {}
        listening = [c["name"] for c in spec.get("containers") or []
                     for p in c.get("ports") or [] if int(p.get("containerPort", 0)) == pkt.port]
        path.hops.append(Hop(f"{node}: to pod {key}{sfx}", [
            f"veth {naming.host_veth(w.inputs.cluster, *key.split('/', 1))} -> {key} eth0 "
            f"{pkt.dst}:{pkt.port}"
            + (f", container {', '.join(listening)} listening" if listening else "")],
            [(node, key)]))
        path.backend = key
    elif pkt.dst in w.inputs.node_ips.values():
        name = _node_of_ip(w.inputs, pkt.dst)
        path.hops.append(Hop(f"{name}: local{sfx}", [
            f"{pkt.dst}:{pkt.port} is {name}'s own address (input hook)"]))
        path.backend = name
    else:
        path.backend = pkt.dst


def _to_ext(w: _Walk, pkt: _Packet, path: _Path, sfx: str) -> None:
    path.hops.append(Hop(f"{GATEWAY}: route{sfx}", [
        f"the gateway router forwards {pkt.dst} toward the Internet"], [(GATEWAY, EXT)]))
    if pkt.dst == w.inputs.host_ips.get(EXT):
        path.hops.append(Hop(EXT, [f"{EXT} {pkt.dst}:{pkt.port}"], [(GATEWAY, EXT)]))
        path.backend = EXT
    else:
        path.backend = pkt.dst


def _onward(w: _Walk, path: _Path, node: str, pkt: _Packet, sfx: str, nf: list[str],
            depth: int) -> None:
    """After ``node``'s kproxy rules: NetworkPolicy, the route, the next node
    or the destination.  ``nf`` takes the lines of ``node``'s netfilter hop."""
    if depth == 0 and w.source.kind == "pod":
        line, path.stop = _netpol(w.snap, w.inputs, oracle.EGRESS, w.source.ip, pkt.dst,
                                  pkt.port, w.protocol)
        nf.append(line)
        if path.stop:
            return
    dst_pod = w.snap.pod_by_ip(pkt.dst)
    if dst_pod is not None and dst_pod.node == node:
        line, path.stop = _netpol(w.snap, w.inputs, oracle.INGRESS, pkt.src, pkt.dst,
                                  pkt.port, w.protocol)
        nf.append(line)
        if path.stop:
            return
    route, reached = _route_hop(w.inputs, node, pkt, f"{node}: route{sfx}")
    path.hops.append(route)
    if reached is None:
        path.stop = route.lines[-1]
    elif reached == node:
        _destination(w, node, pkt, path, sfx)
    elif reached == GATEWAY:
        _to_ext(w, pkt, path, sfx)
    elif reached not in w.inputs.node_ips:
        path.backend = reached
    elif depth + 1 >= MAX_NODES:
        path.stop = f"the walk gives up after {MAX_NODES} nodes (a forwarding loop?)"
    else:
        _at_node(w, path, reached, pkt, "prerouting", depth + 1, sfx)


def _affinity(store, svc: str) -> int:
    """The ClientIP affinity timeout of Service ``ns/name`` in seconds, or 0."""
    if not svc or "/" not in svc:
        return 0
    obj = store.find("Service", *svc.split("/", 1)) or {}
    spec = obj.get("spec") or {}
    if spec.get("sessionAffinity") != "ClientIP":
        return 0
    config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
    return int(config.get("timeoutSeconds") or 10800)


def _at_node(w: _Walk, path: _Path, node: str, pkt: _Packet, hook_path: str, depth: int,
             sfx: str = "") -> None:
    """``node``'s netfilter hop, forking once per outcome, and what follows."""
    nf_hop = Hop(f"{node}: netfilter{sfx}")
    path.hops.append(nf_hop)
    notes, outcomes = _netfilter(w.inputs, node, pkt, w.protocol, hook_path)
    nf_hop.lines += notes
    svc = service_at(w.inputs.store, pkt.dst, pkt.port)
    if outcomes is None and svc:
        path.stop = f"{notes[-1]} (the Service {svc} is not resolved)"
        return
    runs = outcomes or [None]
    lines = [_rule_lines(r) if r else [] for r in runs]
    common = _common_prefix(lines)
    nf_hop.lines += lines[0][:common]
    many = len(runs) > 1
    if many:
        affinity = _affinity(w.inputs.store, svc)
        nf_hop.lines.append(
            f"one of {len(runs)} endpoints: numgen random picks one per new connection"
            + (f"; sessionAffinity ClientIP then keeps this client on the endpoint it got for "
               f"{affinity} s (the live trace says which: affinity)" if affinity else ""))
    for i, res in enumerate(runs):
        after = _Packet(res.src_ip, res.dst_ip, res.dport) if res else pkt
        child, csfx, ind = path, sfx, ""
        if many:
            child = _Path(label=f"{after.dst}:{after.port}")
            path.forks.append(child)
            csfx, ind = f"{sfx} ({i + 1} of {len(runs)})", "     "
            nf_hop.lines.append(f"  {i + 1}. {after.dst}:{after.port} "
                                f"({_where(w.inputs, after.dst)})")
        mine = lines[i][common:] + (_outcome_lines(w.inputs, res, pkt, w.protocol)
                                    if res else [])
        if res is not None and not lines[i]:
            mine.insert(0, "no kproxy rule met")
        if res is not None and res.verdict != nftsim.ACCEPT:
            child.stop = mine[-1]
        else:
            nf: list[str] = []
            _onward(w, child, node, after, csfx, nf, depth)
            mine += nf
        nf_hop.lines += [ind + line for line in mine]


def _loopback(inputs: SimInputs, source: Endpoint, target: Target, result: TraceResult) -> None:
    ns, _, name = source.name.partition("/")
    pod = inputs.store.find("Pod", ns, name) or {}
    listening = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []
                 for p in c.get("ports") or [] if int(p.get("containerPort", 0)) == target.port]
    result.hops.append(Hop(f"pod {source.name}: {target.ip}:{target.port}", [
        f"container {', '.join(listening)} declares port {target.port}" if listening else
        "the answer comes from whichever container listens there (no declared port)"]))
    result.backend = source.name
    result.delivered = bool(listening)
    result.verdict = SIMULATED + (f"delivered inside {source.name}" if listening else
                                  f"delivered inside {source.name} if a container listens on "
                                  f"{target.port}")


def _verdict(leaves: list[_Path]) -> str:
    if all(not p.stop for p in leaves):
        if len(leaves) == 1:
            return f"{SIMULATED}delivered to {leaves[0].backend}"
        return (f"{SIMULATED}delivered to one of {len(leaves)}: "
                + ", ".join(p.backend for p in leaves))
    if all(p.stop == leaves[0].stop for p in leaves):
        return f"{SIMULATED}stopped: {leaves[0].stop}"
    return f"{SIMULATED}one of {len(leaves)}: " + "; ".join(
        f"{p.label}: " + (f"stopped: {p.stop}" if p.stop else f"delivered to {p.backend}")
        for p in leaves)


def simulate(inputs: SimInputs, source: Endpoint, target: Target, protocol: str = "TCP"
             ) -> TraceResult:
    """Walk ``source`` -> ``target`` through ``inputs``; nothing is sent.

    Where a random pick chooses among endpoints, every choice is walked (the
    hops of each are told in turn, their titles end "(i of N)");
    ``delivered`` is True when every choice reaches its destination and
    ``backend`` names them all, comma-separated."""
    hops: list[Hop] = [target.dns] if target.dns is not None else []
    loopback = story.is_loopback(source, target.ip)
    hops.append(story.leaving(None, source, loopback, target.ip))
    result = TraceResult(source, target, protocol, hops, False)
    if loopback:
        _loopback(inputs, source, target, result)
        return result
    svc = service_at(inputs.store, target.ip, target.port)
    if svc and source.element:
        ns, _, name = svc.partition("/")
        hops[-1].path.append((source.element, service_id(ns, name)))
    pkt = _Packet(source.ip, target.ip, target.port)
    if source.kind in ("pod", "node"):
        first = source.node
    else:   # ext reaches the cluster through the gateway router and the fabric
        route, first = _route_hop(inputs, GATEWAY, pkt, f"{GATEWAY}: route")
        hops.append(route)
    if first not in inputs.node_ips:
        why = hops[-1].lines[-1] if source.kind == EXT else f"unknown node {first!r}"
        result.verdict = f"{SIMULATED}stopped: {why}"
        return result
    walk = _Path()
    _at_node(_Walk(inputs, from_store(inputs.store), source, protocol), walk, first, pkt,
             "output" if source.kind == "node" else "prerouting", 0)
    leaves = walk.leaves()
    result.hops += walk.all_hops()
    result.delivered = all(not p.stop for p in leaves)
    result.backend = ", ".join(p.backend for p in leaves if p.backend)
    result.verdict = _verdict(leaves)
    return result
