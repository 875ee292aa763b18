"""The path matrix: what is measured, in which cluster, against which baseline.

Pure data.  A *baseline* is a bare kernel/OVS path built beside the cluster
(``perf.baselines``); a *reference* is another path of the same cluster that
differs only by the feature under test (ClusterIP against the pod IP it
DNATs to, SNAT against no SNAT, NodePort against ext to the pod IP).
"""
from __future__ import annotations

from dataclasses import dataclass

FULL = ("tcp1", "tcp4", "udp", "ping", "connect")
NO_PING = ("tcp1", "tcp4", "udp", "connect")  # a VIP proxies its ports, not ICMP
REF = ("tcp1", "tcp4")
THROUGHPUT = ("tcp1", "tcp4")

KIND_TITLES = {"tcp1": "TCP x1", "tcp4": "TCP x4", "udp": "UDP", "ping": "ping",
               "connect": "connect"}
NO_PING_NOTE = ("a Service VIP forwards only its declared ports; ICMP to it is not "
                "proxied (see connect time for the latency through the DNAT)")

# Clusters the suite brings up: the fabric named, the proxy mode chosen per run.
SINGLE, LEAFSPINE, SHAPED = "single", "leafspine", "shaped"


@dataclass(frozen=True)
class PathDef:
    id: str
    title: str
    kinds: tuple[str, ...]
    baseline: str | None = None
    reference: str | None = None
    topo: str = SINGLE
    proxy: bool = False         # goes through kproxy's rules: measured in every mode
    role: str = "path"          # "path", or "reference" (only anchors a ratio)
    note: str = ""

    @property
    def is_reference(self) -> bool:
        return self.role == "reference"


PATHS: tuple[PathDef, ...] = (
    PathDef("pod-pod-same-node", "pod → pod, same node", FULL, "linux-bridge"),
    PathDef("node-pod", "node → pod", FULL, "linux-bridge"),
    PathDef("pod-localhost", "pod localhost (containers of one pod)", FULL, "loopback"),
    PathDef("pod-pod-cross-node", "pod → pod, across nodes", FULL, "ovs-netdev"),
    PathDef("pod-clusterip", "pod → ClusterIP", NO_PING, "ovs-netdev",
            "pod-pod-cross-node", proxy=True, note=NO_PING_NOTE),
    PathDef("ext-pod-direct", "ext → pod IP (no NAT)", REF, "ovs-netdev", proxy=True,
            role="reference"),
    PathDef("ext-nodeport", "ext → NodePort", NO_PING, "ovs-netdev", "ext-pod-direct",
            proxy=True, note=NO_PING_NOTE),
    PathDef("ext-lb-cluster", "ext → LoadBalancer, ETP Cluster", NO_PING, "ovs-netdev",
            "ext-pod-direct", proxy=True, note=NO_PING_NOTE),
    PathDef("ext-lb-local", "ext → LoadBalancer, ETP Local", NO_PING, "ovs-netdev",
            "ext-pod-direct", proxy=True, note=NO_PING_NOTE),
    PathDef("pod-ext-nosnat", "pod → ext without SNAT", REF, "ovs-netdev", proxy=True,
            role="reference"),
    PathDef("pod-ext-snat", "pod → ext (egress SNAT)", FULL, "ovs-netdev",
            "pod-ext-nosnat", proxy=True),
    PathDef("pod-pod-cross-leaf", "pod → pod, across leaves (leafspine)", FULL,
            "ovs-netdev", topo=LEAFSPINE),
    PathDef("pod-pod-shaped", "pod → pod, 100 Mbit/s links (HTB)", THROUGHPUT, None,
            topo=SHAPED),
)
BY_ID = {p.id: p for p in PATHS}


@dataclass(frozen=True)
class Target:
    """A ratio the report must show as met or not, with the reason it may miss.

    ``against`` is ``baseline:ID`` or ``path:ID``; with ``max_gbps`` instead,
    the path's own number must stay at or under it (link shaping).
    """

    id: str
    title: str
    path: str
    against: str | None
    threshold: float = 0.0
    metric: str = "tcp1"
    max_gbps: float | None = None
    why: str = ""


TARGETS: tuple[Target, ...] = (
    Target("same-node-vs-bridge", "pod → pod on one node ≥ 0.9× the Linux bridge",
           "pod-pod-same-node", "baseline:linux-bridge", 0.9,
           why="both are bound by one core (one stream); the pods are routed by their "
               "node (veth, forward path with kproxy's hooks and conntrack, veth), where "
               "the baseline only bridges"),
    Target("cross-node-vs-ovs", "pod → pod across nodes ≥ 0.9× bare OVS (issue 14)",
           "pod-pod-cross-node", "baseline:ovs-netdev", 0.9,
           why="both are bound by ovs-vswitchd's one forwarding thread; the pods' packets "
               "also cross each node's routing and a second veth, in softirq on "
               "that thread's core (see cross-node-vs-ovs-layout for the fabric's shape)"),
    Target("cross-leaf-vs-ovs", "pod → pod across leaves ≥ 0.8× bare OVS (issue 14)",
           "pod-pod-cross-leaf", "baseline:ovs-netdev", 0.8,
           why="both are bound by ovs-vswitchd's one forwarding thread; the pods' packets "
               "also cross three bridges (one datapath pass) and each node's "
               "routing and a second veth (see cross-leaf-vs-ovs-layout)"),
    Target("cross-node-vs-ovs-layout",
           "pod → pod across nodes ≥ 0.9× bare OVS in the fabric's layout",
           "pod-pod-cross-node", "baseline:ovs-fabric-single", 0.9,
           why="the nodes' kernel hops (routing, a second veth) run in softirq on "
               "the switch thread's core; these OVS-bound paths vary 10-26% between runs "
               "here"),
    Target("cross-leaf-vs-ovs-layout",
           "pod → pod across leaves ≥ 0.8× bare OVS in the fabric's layout",
           "pod-pod-cross-leaf", "baseline:ovs-fabric-leafspine", 0.8,
           why="the nodes' kernel hops (routing, a second veth) run in softirq on "
               "the switch thread's core; these OVS-bound paths vary 10-26% between runs "
               "here"),
    Target("clusterip-vs-pod-ip", "ClusterIP ≥ 0.95× direct pod IP", "pod-clusterip",
           "path:pod-pod-cross-node", 0.95,
           why="the DNAT costs a conntrack lookup per packet on the client's node, but "
               "both paths are bound by ovs-vswitchd, so a gap this size is mostly noise"),
    Target("snat-vs-no-snat", "egress SNAT ≥ 0.9× without SNAT", "pod-ext-snat",
           "path:pod-ext-nosnat", 0.9,
           why="masquerade rewrites every packet on the node; both paths are bound by "
               "ovs-vswitchd, so a gap this size is mostly noise"),
    Target("nodeport-vs-pod-ip", "NodePort from ext ≥ 0.9× ext to the pod IP",
           "ext-nodeport", "path:ext-pod-direct", 0.9,
           why="the node DNATs every packet; both paths are bound by ovs-vswitchd, so a "
               "gap this size is mostly noise (see the min–max of the three runs)"),
    Target("shaping-100mbit", "a 100 Mbit/s link delivers ≤ 100 Mbit/s", "pod-pod-shaped",
           None, max_gbps=0.100,
           why="HTB lets a burst through above the rate; a longer --duration averages "
               "it out"),
)


def target_anchors(chosen: list[PathDef]) -> set[str]:
    """``path:ID`` and ``baseline:ID`` of everything a target among ``chosen`` compares."""
    ids = {p.id for p in chosen}
    out: set[str] = set()
    for t in TARGETS:
        if t.path in ids:
            out.add(f"path:{t.path}")
            if t.against:
                out.add(t.against)
    return out


def paired_anchors(path_id: str) -> tuple[str, ...]:
    """What the targets of ``path_id`` compare it with (``baseline:ID`` or
    ``path:ID``), in target order: the runs of each alternate with the
    path's in its cluster (a baseline built again beside it, a reference
    path of the same cluster)."""
    found = [t.against for t in TARGETS if t.path == path_id and t.against]
    return tuple(dict.fromkeys(found))


def selected(only: list[str] | None) -> list[PathDef]:
    """The paths to run: all, or those named, plus the references they need."""
    if not only:
        return list(PATHS)
    unknown = [o for o in only if o not in BY_ID]
    if unknown:
        raise ValueError(f"unknown path(s): {', '.join(unknown)} "
                         f"(known: {', '.join(BY_ID)})")
    wanted = set(only)
    for pid in only:
        ref = BY_ID[pid].reference
        if ref:
            wanted.add(ref)
    return [p for p in PATHS if p.id in wanted]


def kinds_for(path: PathDef, primary: bool, needed_as_reference: bool) -> tuple[str, ...]:
    """What to measure of ``path`` in one proxy mode's cluster.

    The first mode measures every path fully; a further mode re-measures only
    what kproxy handles, and the plain paths those need as a reference
    (throughput only).  ``()`` means: skip in this mode.
    """
    if primary or path.proxy and not path.is_reference:
        return path.kinds
    if path.proxy or needed_as_reference:
        return tuple(k for k in path.kinds if k in REF)
    return ()


BASELINE_ORDER = ("veth", "linux-bridge", "ovs-netdev", "ovs-fabric-single",
                  "ovs-fabric-leafspine", "loopback")


def baselines_needed(paths: list[PathDef], full_run: bool = False) -> list[str]:
    """Baselines the paths and their targets compare with, in a fixed order; a full
    run also measures the raw veth pair, the floor every namespace path is built on."""
    used = {p.baseline for p in paths if p.baseline}
    used |= {a.split(":", 1)[1] for a in target_anchors(paths) if a.startswith("baseline:")}
    if full_run:
        used.add("veth")
    return [b for b in BASELINE_ORDER if b in used]
