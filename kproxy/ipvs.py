"""Plan a node's proxy state for IPVS mode: pure, no kernel.

Follows kube-proxy's IPVS proxier (pkg/proxy/ipvs/proxier.go, ``syncProxyRules``;
the Kubernetes docs page "Virtual IPs and Service Proxies", IPVS proxy mode):

* every ClusterIP and LoadBalancer IP is bound to the dummy interface
  ``kube-ipvs0``, so the node takes packets to it as local;
* one IPVS virtual server per (IP, protocol, port): the ClusterIP, the
  LoadBalancer IP and, for a node port, the node IP; scheduler ``rr``;
* its real servers are the ready endpoints, forwarded by masquerading (NAT),
  weight 1; ``internalTrafficPolicy: Local`` keeps only this node's endpoints
  on the ClusterIP, ``externalTrafficPolicy: Local`` on the node port and
  LoadBalancer IP (all endpoints when the node has none, so that its pods can
  still reach the Service: kubernetes#97081);
* ``sessionAffinity: ClientIP`` is a persistent virtual server whose timeout
  is ``timeoutSeconds``.

What IPVS cannot do stays in netfilter, as kube-proxy keeps iptables rules and
ipsets beside IPVS: KUBE-MARK-MASQ for traffic to a ClusterIP from outside the
pod CIDR and for node ports and LoadBalancer IPs under the Cluster policy,
KUBE-LOOP-BACK (an endpoint reaching itself is masqueraded, the hairpin),
KUBE-IPVS-FILTER (no other port answers on a service IP, kubernetes#72236),
and the egress SNAT every kproxy mode does.  kproxy writes them as one
nftables table, not iptables and ipsets: nftables named sets *are* ipsets
(``ip daddr . meta l4proto . th dport @cluster-ips`` is kube-proxy's
``KUBE-CLUSTER-IP hash:ip,port``), the whole table is one ``nft -f``
transaction, set elements are added and deleted one by one like ipset's
entries, and the lab's other modes are already written the same way
(``kproxy.nft``).  A Service with no ready endpoint is rejected there too
(ICMP port unreachable), as the nftables and iptables modes do, and
Local-policy drops are explicit where kube-proxy's IPVS mode lets the reply
get lost.

Nothing here touches the kernel: ``build`` turns a ``NodeProxyState`` into the
desired IPVS state and set contents, ``diff`` compares it with what IPVS holds
and returns the netlink steps, ``ruleset`` writes the companion table's text.
``kproxy.ipvs_netlink`` applies them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kproxy.state import NodeProxyState, ServicePortState

DUMMY_DEVICE = "kube-ipvs0"   # kube-proxy's defaultDummyDevice: every ClusterIP and LB IP
SCHEDULER = "rr"              # kube-proxy's defaultScheduler: round robin
FORWARD = "masq"              # real servers are reached by NAT (ipvsadm -m)
WEIGHT = 1
TABLE = "kproxy-ipvs"         # the companion nftables table
FAMILY = "ip"
MASQ_MARK = "0x4000"          # KUBE-MARK-MASQ's bit (--masquerade-bit 14)

SERVICE_KEY = "ipv4_addr . inet_proto . inet_service"
# The companion sets: name -> (nftables type, what kube-proxy calls it).
SETS = {
    "cluster-ips": (SERVICE_KEY, "KUBE-CLUSTER-IP"),
    "load-balancer-ips": (SERVICE_KEY, "KUBE-LOAD-BALANCER"),
    "load-balancer-local": (SERVICE_KEY, "KUBE-LOAD-BALANCER-LOCAL"),
    "nodeports": ("inet_proto . inet_service", "KUBE-NODE-PORT-TCP/UDP/SCTP"),
    "nodeports-local": ("inet_proto . inet_service", "KUBE-NODE-PORT-LOCAL-TCP/UDP/SCTP"),
    "loopback": (f"{SERVICE_KEY} . ipv4_addr", "KUBE-LOOP-BACK"),
    "ipvs-ips": ("ipv4_addr", "KUBE-IPVS-IPS"),
    "no-endpoint-services": (SERVICE_KEY, "no ready endpoint: reject"),
    "no-local-endpoints": (SERVICE_KEY, "internalTrafficPolicy Local, none here: drop"),
    "no-local-endpoints-external": (SERVICE_KEY,
                                    "externalTrafficPolicy Local, none here: drop outsiders"),
}
BASE_CHAINS = {
    "nat-prerouting": "type nat hook prerouting priority dstnat; policy accept;",
    "nat-output": "type nat hook output priority -100; policy accept;",
    "nat-postrouting": "type nat hook postrouting priority srcnat; policy accept;",
    # Before IPVS, which takes packets at local-in (priority 98) and local-out (-99).
    "filter-input": "type filter hook input priority -110; policy accept;",
    "filter-output": "type filter hook output priority -110; policy accept;",
}
_FLAG = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}

ServiceKey = tuple[str, str, int]   # (protocol, address, port)
DestKey = tuple[str, int]           # (address, port)


@dataclass(frozen=True, order=True)
class VirtualServer:
    """One IPVS virtual service (``ipvsadm -A``), kube-proxy's ``utilipvs.VirtualServer``."""

    protocol: str                # "tcp", "udp" or "sctp"
    address: str                 # IPv4, dotted quad
    port: int
    scheduler: str = SCHEDULER
    timeout: int = 0             # persistence in seconds (ClientIP affinity); 0: none

    @property
    def key(self) -> ServiceKey:
        return (self.protocol, self.address, self.port)

    @property
    def spec(self) -> str:
        """``-t 10.96.0.20:80``: how ipvsadm names it."""
        return f"{_FLAG.get(self.protocol, '-' + self.protocol)} {self.address}:{self.port}"

    def __str__(self) -> str:
        persist = f" -p {self.timeout}" if self.timeout else ""
        return f"{self.spec} -s {self.scheduler}{persist}"


@dataclass(frozen=True, order=True)
class RealServer:
    """One destination of a virtual service (``ipvsadm -a``)."""

    address: str
    port: int
    weight: int = WEIGHT
    forward: str = FORWARD       # "masq", "route", "tunnel" or "local"

    @property
    def key(self) -> DestKey:
        return (self.address, self.port)

    def __str__(self) -> str:
        flag = {"masq": "-m", "route": "-g", "tunnel": "-i"}.get(self.forward, "-m")
        return f"-r {self.address}:{self.port} {flag} -w {self.weight}"


@dataclass
class IpvsState:
    """What IPVS and ``kube-ipvs0`` hold: desired, or read back from the kernel."""

    services: dict[ServiceKey, VirtualServer] = field(default_factory=dict)
    destinations: dict[ServiceKey, dict[DestKey, RealServer]] = field(default_factory=dict)
    addresses: set[str] = field(default_factory=set)   # bound to kube-ipvs0, /32 each

    def add(self, vs: VirtualServer, dests: list[RealServer]) -> None:
        self.services[vs.key] = vs
        self.destinations[vs.key] = {d.key: d for d in dests}

    def copy(self) -> IpvsState:
        return IpvsState(dict(self.services),
                         {k: dict(v) for k, v in self.destinations.items()},
                         set(self.addresses))

    def ipvsadm(self) -> str:
        """The state as ``ipvsadm-save -n`` prints it (``ipvsadm -R`` input)."""
        lines = []
        for key in sorted(self.services):
            vs = self.services[key]
            lines.append(f"-A {vs}")
            for dkey in sorted(self.destinations.get(key, {})):
                lines.append(f"-a {vs.spec} {self.destinations[key][dkey]}")
        return "".join(f"{line}\n" for line in lines)


@dataclass
class Desired:
    """The node's IPVS state and the companion sets' elements (``nft`` element text)."""

    ipvs: IpvsState
    sets: dict[str, set[str]]


@dataclass(frozen=True)
class Step:
    """One netlink change, in the order ``diff`` gives them.

    ``op``: add-address, add-service, update-service, add-dest, update-dest,
    del-dest, del-service or del-address.  ``str()`` is the ipvsadm (or ip)
    command that would do the same, for logs and ``kproxy show``.
    """

    op: str
    service: VirtualServer | None = None
    dest: RealServer | None = None
    address: str = ""

    def __str__(self) -> str:
        if self.op in ("add-address", "del-address"):
            verb = "add" if self.op == "add-address" else "del"
            return f"ip address {verb} {self.address}/32 dev {DUMMY_DEVICE}"
        vs, rs = self.service, self.dest
        if self.op.endswith("-service"):
            verb = {"add-service": "-A", "update-service": "-E", "del-service": "-D"}[self.op]
            return f"{verb} {vs.spec}" if verb == "-D" else f"{verb} {vs}"
        verb = {"add-dest": "-a", "update-dest": "-e", "del-dest": "-d"}[self.op]
        return (f"-d {vs.spec} -r {rs.address}:{rs.port}" if verb == "-d"
                else f"{verb} {vs.spec} {rs}")


# ------------------------------------------------------------------ building

def _key(ip: str, proto: str, port: int) -> str:
    return f"{ip} . {proto} . {port}"


def _dests(endpoints: list) -> list[RealServer]:
    return [RealServer(ep.ip, ep.port) for ep in endpoints]


def _service_port(want: Desired, state: NodeProxyState, sp: ServicePortState,
                  node_ips: tuple[str, ...]) -> None:
    svc, port, proto = sp.service, sp.port, sp.proto
    sets = want.sets
    timeout = svc.affinity_timeout if svc.session_affinity == "ClientIP" else 0
    ready, local = sp.ready(), sp.local(state.node)

    def server(address: str, number: int, endpoints: list, bind: bool) -> None:
        want.ipvs.add(VirtualServer(proto, address, number, SCHEDULER, timeout),
                      _dests(endpoints))
        if bind:
            want.ipvs.addresses.add(address)

    for ep in local:
        # KUBE-LOOP-BACK: dst ip, dst port, src ip of an endpoint reaching itself.
        sets["loopback"].add(f"{_key(ep.ip, proto, ep.port)} . {ep.ip}")

    internal_local = svc.internal_traffic_policy == "Local"
    cluster_key = _key(svc.cluster_ip, proto, port.port)
    server(svc.cluster_ip, port.port, local if internal_local else ready, bind=True)
    sets["cluster-ips"].add(cluster_key)
    if not ready:
        sets["no-endpoint-services"].add(cluster_key)
    elif internal_local and not local:
        sets["no-local-endpoints"].add(cluster_key)

    external_local = svc.external_traffic_policy == "Local"
    external = (local or ready) if external_local else ready
    external_keys = []
    if svc.load_balancer_ip:
        lb_key = _key(svc.load_balancer_ip, proto, port.port)
        server(svc.load_balancer_ip, port.port, external, bind=True)
        sets["load-balancer-ips"].add(lb_key)
        if external_local:
            sets["load-balancer-local"].add(lb_key)
        external_keys.append(lb_key)
    if svc.type in ("NodePort", "LoadBalancer") and port.node_port and node_ips:
        sets["nodeports"].add(f"{proto} . {port.node_port}")
        if external_local:
            sets["nodeports-local"].add(f"{proto} . {port.node_port}")
        for node_ip in node_ips:
            # Node IPs are the node's own: served, never bound to kube-ipvs0.
            server(node_ip, port.node_port, external, bind=False)
            external_keys.append(_key(node_ip, proto, port.node_port))
    for key in external_keys:
        if not ready:
            sets["no-endpoint-services"].add(key)
        elif external_local and not local:
            sets["no-local-endpoints-external"].add(key)


def build(state: NodeProxyState, node_ips: tuple[str, ...] = ()) -> Desired:
    """The desired IPVS state and companion sets of ``state``.

    ``node_ips``: the addresses node ports are served on (kube-proxy's
    ``--nodeport-addresses``); default the node's InternalIP alone.
    """
    ips = node_ips or ((state.node_ip,) if state.node_ip else ())
    want = Desired(IpvsState(), {name: set() for name in SETS})
    for sp in state.ports:            # order is free: diff and ruleset sort
        if sp.service.proxied:
            _service_port(want, state, sp, ips)
    want.sets["ipvs-ips"] = set(want.ipvs.addresses)
    return want


def render(state: NodeProxyState, node_ips: tuple[str, ...] = ()) -> str:
    """The desired virtual servers as ``ipvsadm -R`` input."""
    return build(state, node_ips).ipvs.ipvsadm()


# ------------------------------------------------------------------- diffing

def diff(desired: IpvsState, current: IpvsState) -> list[Step]:
    """The steps that turn ``current`` into ``desired``, as kube-proxy syncs.

    Addresses first (a new virtual server answers at once), then per virtual
    server: create or update it, add or update its real servers, remove the
    stale ones; then virtual servers no longer wanted (their real servers go
    with them), then addresses no longer wanted.  Nothing that already
    matches is touched, so one changed Service costs about one Service.
    """
    steps = [Step("add-address", address=a)
             for a in sorted(desired.addresses - current.addresses)]
    for key in sorted(desired.services):
        vs, have = desired.services[key], current.services.get(key)
        if have is None:
            steps.append(Step("add-service", vs))
        elif have != vs:
            steps.append(Step("update-service", vs))
        want_d = desired.destinations.get(key, {})
        have_d = current.destinations.get(key, {}) if have is not None else {}
        for dkey in sorted(want_d):
            if dkey not in have_d:
                steps.append(Step("add-dest", vs, want_d[dkey]))
            elif have_d[dkey] != want_d[dkey]:
                steps.append(Step("update-dest", vs, want_d[dkey]))
        steps += [Step("del-dest", vs, have_d[dkey]) for dkey in sorted(have_d)
                  if dkey not in want_d]
    steps += [Step("del-service", current.services[key])
              for key in sorted(current.services) if key not in desired.services]
    steps += [Step("del-address", address=a)
              for a in sorted(current.addresses - desired.addresses)]
    return steps


def apply_step(state: IpvsState, step: Step) -> None:
    """What ``step`` does to ``state`` (the fake kernel and the cache use it)."""
    if step.op == "add-address":
        state.addresses.add(step.address)
    elif step.op == "del-address":
        state.addresses.discard(step.address)
    elif step.op in ("add-service", "update-service"):
        state.services[step.service.key] = step.service
        state.destinations.setdefault(step.service.key, {})
    elif step.op == "del-service":
        state.services.pop(step.service.key, None)
        state.destinations.pop(step.service.key, None)
    elif step.op in ("add-dest", "update-dest"):
        state.destinations.setdefault(step.service.key, {})[step.dest.key] = step.dest
    elif step.op == "del-dest":
        state.destinations.get(step.service.key, {}).pop(step.dest.key, None)
    else:
        raise ValueError(f"unknown IPVS step {step.op!r}")


# ---------------------------------------------------- the companion ruleset

def chains(state: NodeProxyState, node_ips: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The companion table's chains and their rules (with comments).

    kube-proxy's chains, by the names kproxy's nftables mode uses: services
    (KUBE-SERVICES), load-balancer (KUBE-LOAD-BALANCER), node-port
    (KUBE-NODE-PORT), mark-for-masquerade (KUBE-MARK-MASQ), masquerading
    (KUBE-POSTROUTING), and filter-input's last rule is KUBE-IPVS-FILTER.
    """
    ips = node_ips or ((state.node_ip,) if state.node_ip else ())
    pod, svc = state.pod_cidr, state.service_cidr
    tuple3 = "ip daddr . meta l4proto . th dport"
    out: dict[str, list[str]] = {name: [] for name in BASE_CHAINS}

    def add(chain: str, rule: str, comment: str) -> None:
        out.setdefault(chain, []).append(f'{rule} comment "{comment}"')

    add("nat-prerouting", "jump services", "kubernetes service portals")
    add("nat-output", "jump services", "kubernetes service portals")
    add("nat-postrouting", "jump masquerading", "kubernetes postrouting rules")
    add("services", "ip saddr 127.0.0.0/8 return", "connections from localhost")
    add("services", f"{tuple3} @cluster-ips ip saddr != {pod} jump mark-for-masquerade",
        "cluster IP from outside the pod network: masquerade")
    add("services", f"{tuple3} @load-balancer-ips jump load-balancer",
        "LoadBalancer IP")
    if ips:
        add("services", f"ip daddr {{ {', '.join(ips)} }} jump node-port", "node ports")
    add("load-balancer", f"{tuple3} @load-balancer-local return",
        "externalTrafficPolicy Local keeps the client IP")
    add("load-balancer", "jump mark-for-masquerade", "Cluster policy masquerades")
    add("node-port", "meta l4proto . th dport @nodeports-local return",
        "externalTrafficPolicy Local keeps the client IP")
    add("node-port", "meta l4proto . th dport @nodeports jump mark-for-masquerade",
        "Cluster policy masquerades")
    add("mark-for-masquerade", f"meta mark set meta mark or {MASQ_MARK}",
        "mark for SNAT in postrouting")
    add("masquerading", f"{tuple3} . ip saddr @loopback masquerade",
        "hairpin: an endpoint reaching itself (KUBE-LOOP-BACK)")
    add("masquerading", f"meta mark and {MASQ_MARK} == 0 jump egress",
        "unmarked: only egress SNAT applies")
    add("masquerading", f"meta mark and {MASQ_MARK} == 0 return", "not marked")
    add("masquerading", f"meta mark set meta mark xor {MASQ_MARK}", "clear the mark")
    add("masquerading", "masquerade fully-random", "kubernetes service traffic requiring SNAT")
    add("egress", f"ip saddr {pod} ip daddr != {{ {pod}, {svc} }} masquerade fully-random",
        "pod traffic leaving the cluster: SNAT to the node IP")
    for hook in ("filter-input", "filter-output"):
        add(hook, f"ct state new {tuple3} @no-endpoint-services reject",
            "no ready endpoint: ICMP port unreachable")
        add(hook, f"ct state new {tuple3} @no-local-endpoints drop",
            "internalTrafficPolicy Local and no endpoint on this node")
    add("filter-input", f"ct state new ip saddr != {pod} {tuple3} "
        "@no-local-endpoints-external drop",
        "externalTrafficPolicy Local and no endpoint on this node")
    add("filter-input", f"ct state new ip daddr @ipvs-ips {tuple3} != @cluster-ips "
        f"{tuple3} != @load-balancer-ips reject",
        "no other port on a service IP (KUBE-IPVS-FILTER)")
    return out


@dataclass
class Companion:
    """What one companion transaction left: chains' rules and sets' elements."""

    chains: dict[str, list[str]]
    sets: dict[str, set[str]]


def ruleset(state: NodeProxyState, desired: Desired, previous: Companion | None = None,
            node_ips: tuple[str, ...] = ()) -> tuple[str, Companion]:
    """The ``nft -f`` text for the companion table, and what to pass next time.

    Without ``previous`` (the first sync) the table is deleted and written
    whole.  With it the sync is partial: only chains whose rules changed are
    flushed and refilled, and set elements are added and deleted one by one,
    as kube-proxy syncs its ipsets.
    """
    rules = chains(state, node_ips)
    now = Companion(rules, {name: set(elems) for name, elems in desired.sets.items()})
    table = f"{FAMILY} {TABLE}"
    add_table = f'add table {table} {{ comment "k8snet kproxy (ipvs), node {state.node}"; }}'
    out = [add_table]
    if previous is None:
        out += [f"delete table {table}", add_table]
    old_chains = previous.chains if previous else {}
    for name in rules:
        spec = f" {{ {BASE_CHAINS[name]} }}" if name in BASE_CHAINS else ""
        if name in BASE_CHAINS or name not in old_chains:
            out.append(f"add chain {table} {name}{spec}")
    for name, (kind, _) in SETS.items():
        out.append(f"add set {table} {name} {{ type {kind}; }}")
    for name, body in rules.items():
        if old_chains.get(name) != body:
            out.append(f"flush chain {table} {name}")
            out += [f"add rule {table} {name} {rule}" for rule in body]
    for name in SETS:
        old = previous.sets.get(name, set()) if previous else set()
        new = now.sets[name]
        if old - new:
            out.append(f"delete element {table} {name} {{ {', '.join(sorted(old - new))} }}")
        if new - old:
            out.append(f"add element {table} {name} {{ {', '.join(sorted(new - old))} }}")
    return "\n".join(out) + "\n", now


def cleanup() -> str:
    """Remove the companion table, and nothing else."""
    return f"add table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\n"
