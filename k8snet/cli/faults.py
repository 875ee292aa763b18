"""The CLI's fault commands: ``controller stop|start|status``, ``loss NODE
PERCENT``, ``mtu NODE BYTES``, ``node [NODE down|up]`` and ``dnsrace``
(k8snet.cluster.faults and k8snet.cluster.dnsrace do the work)."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from k8snet import naming
from k8snet.cli.args import ArgParser
from k8snet.cluster import dnsrace, faults
from k8snet.control.nodelifecycle import DEFAULT_GRACE, NodeLifecycleController, ready_of
from k8snet.errors import K8snetError
from k8snet.node.heartbeat import LEASE_NAMESPACE

Out = Callable[[str], None]


def _node(cluster, name: str) -> str:
    if name not in cluster.network.nodes:
        raise K8snetError(f"no node named '{name}' (nodes: "
                          f"{', '.join(sorted(cluster.network.nodes))})")
    return name


def controller_command(cluster, words: list[str], out: Out) -> None:
    action = words[0] if words else "status"
    running = faults.controller_running(cluster.network)
    if action == "stop":
        if not running:
            raise K8snetError("controller: already stopped")
        if cluster.supervisor is not None:
            cluster.supervisor.pause("fabric-controller")
        cluster.network.stop_controller(kill=True)
        out("*** controller killed: the switches keep their flows (fail-secure); "
            "changes wait until 'controller start'\n")
    elif action == "start":
        if running:
            raise K8snetError("controller: already running")
        cluster.network.start_controller()
        if cluster.supervisor is not None:
            cluster.supervisor.resume("fabric-controller")
        out("*** controller started with the fabric as it is now\n")
    elif action == "status":
        out(f"controller: {'running' if running else 'stopped'}\n")
    else:
        raise K8snetError("usage: controller stop|start|status")


def loss_command(cluster, words: list[str], out: Out) -> None:
    if len(words) != 2:
        raise K8snetError("usage: loss NODE PERCENT   (loss NODE 0 removes it)")
    node, percent = _node(cluster, words[0]), faults.parse_percent(words[1])
    faults.set_loss(cluster.spec.name, node, percent)
    out(f"*** {node}: {percent}% of packets through eth0 dropped at random\n" if percent
        else f"*** {node}: no loss\n")


def mtu_command(cluster, words: list[str], out: Out) -> None:
    if len(words) != 2:
        raise K8snetError(f"usage: mtu NODE BYTES   (mtu NODE {faults.DEFAULT_MTU} restores)")
    node, mtu = _node(cluster, words[0]), faults.parse_mtu(words[1])
    port = faults.set_mtu(cluster.network, node, mtu)
    out(f"*** {port} (the switch port facing {node}) now takes frames up to {mtu} bytes; "
        f"{node} still sends 1500\n" if mtu != faults.DEFAULT_MTU
        else f"*** {port}: MTU {mtu} again\n")


# --- node [NODE down|up] ---------------------------------------------------------------

def _grace(cluster) -> float:
    return next((c.grace for c in cluster.controllers
                 if isinstance(c, NodeLifecycleController)), DEFAULT_GRACE)


def _renewed(cluster, node: str) -> str:
    lease = cluster.store.find("Lease", LEASE_NAMESPACE, node)
    renew = ((lease or {}).get("spec") or {}).get("renewTime") or ""
    try:
        then = datetime.strptime(renew, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return "<none>"
    return f"{max(0.0, time.time() - then.timestamp()):.1f}s ago"


def node_status(cluster) -> list[str]:
    """One line per node: NAME STATUS LINKS LEASE-RENEWED PODS, then the grace."""
    rows = [("NAME", "STATUS", "LINKS", "LEASE RENEWED", "PODS")]
    for name in sorted(cluster.network.nodes):
        node = cluster.store.find("Node", "", name) or {}
        ready = (ready_of(node) or {}).get("status")
        links = ", ".join(f"{intf}<->{port} "
                          f"{'up' if faults.uplink_check([port])() else 'down'}"
                          for intf, port in faults.node_uplinks(cluster.network, name))
        pods = len(cluster.store.list("Pod", where=lambda p, n=name:
                                      (p.get("spec") or {}).get("nodeName") == n))
        rows.append((name, "Ready" if ready == "True" else "NotReady", links,
                     _renewed(cluster, name), str(pods)))
    widths = [max(len(r[i]) for r in rows) + 3 for i in range(4)]
    lines = ["".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + r[4]
             for r in rows]
    return lines + [f"node-monitor-grace-period: {_grace(cluster):g}s"]


def node_link(cluster, words: list[str], out: Out) -> bool:
    """Mininet's ``link A B up|down`` when A-B is a node's link to its switch
    (either order): done as ``node NODE up|down``, which also keeps and puts
    back the node's routes (the kernel drops them with the link; Mininet's
    command alone would leave the node without its default route).  False
    for any other link: Mininet's own command does it."""
    ends = set(words[:2])
    if len(words) != 3 or words[2] not in ("up", "down") or len(ends) != 2:
        return False
    for node in ends & set(cluster.network.nodes):
        switches = {port.rsplit("-", 1)[0] for _, port in
                    faults.node_uplinks(cluster.network, node)}
        if ends - {node} <= switches:
            node_command(cluster, [node, words[2]], out)
            return True
    return False


def node_command(cluster, words: list[str], out: Out) -> None:
    """``node`` | ``node status`` | ``node NODE down|up``."""
    if not words or words == ["status"]:
        for line in node_status(cluster):
            out(line + "\n")
        return
    if len(words) != 2 or words[1] not in ("down", "up"):
        raise K8snetError("usage: node [status] | node NODE down|up")
    node, up = _node(cluster, words[0]), words[1] == "up"
    links = faults.set_node_links(cluster.network, cluster.spec.name, node, up,
                                  cluster.rundir.path / "faults",
                                  cluster.spec.network.fabric_gateway)
    names = ", ".join(f"{intf}<->{port}" for intf, port in links)
    if up:
        out(f"*** {node}: {names} up: its kubelet reaches the API server again; Ready and "
            "its pods back in their EndpointSlices at the next heartbeat\n")
    else:
        out(f"*** {node}: {names} down: its kubelet can no longer reach the API server; "
            f"NotReady after the {_grace(cluster):g}s node-monitor-grace-period, then its "
            "pods leave the EndpointSlices (kubectl get nodes; node status)\n")


# --- dnsrace [POD] --------------------------------------------------------------------------

def dnsrace_parser() -> ArgParser:
    parser = ArgParser(prog="dnsrace", add_help=False)
    parser.add_argument("pod", nargs="?", default="client")
    parser.add_argument("-n", dest="count", type=int, default=40)
    parser.add_argument("--name", default="kubernetes.default")
    parser.add_argument("-p", "--parallel", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=11.0)
    return parser


def dnsrace_args(words: list[str]):
    """The parsed, bounded arguments; K8snetError names a bad one."""
    args = dnsrace_parser().parse_args(words)
    for flag, value, low, high in (("-n", args.count, 1, 500),
                                   ("--parallel", args.parallel, 1, 16),
                                   ("--timeout", args.timeout, 1, 30)):
        if not low <= value <= high:
            raise K8snetError(f"dnsrace: {flag} must be from {low} to {high}, not {value:g}")
    if not args.name or args.name.startswith("-") or any(c.isspace() for c in args.name):
        raise K8snetError(f"dnsrace: --name must be a DNS name, not '{args.name}'")
    return args


def dnsrace_command(cluster, words: list[str], out: Out) -> list:
    """Run the lab; print the table and the verdict; return the variants."""
    args = dnsrace_args(words)
    pod = cluster.pods.find(args.pod)
    rt = cluster.pods.runtime(pod)
    node = pod["spec"]["nodeName"]
    node_ns = naming.node_netns(cluster.spec.name, node)
    try:
        with open(f"/etc/netns/{rt.files_name}/resolv.conf") as f:
            nameserver, options = dnsrace.resolv_options(f.read())
    except OSError:
        nameserver, options = "", []
    ref = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
    out(f"*** dnsrace: {args.count} lookups of {args.name} (getent ahosts: A and AAAA) from "
        f"{ref} on {node}, {args.parallel} at a time, via nameserver {nameserver or '?'}; "
        f"conntrack counters of {node}'s namespace (where the ClusterIP is DNATed)\n")
    if any(o.startswith(("single-request", "use-vc")) for o in options):
        out(f"*** note: {ref}'s resolv.conf already has options {' '.join(options)}: "
            "its A and AAAA queries are not sent in parallel\n")
    variants = dnsrace.run(rt.netns, node_ns, args.name, args.count, args.parallel,
                           args.timeout)
    for line in dnsrace.table(variants, node):
        out(line + "\n")
    if any(v.before is None or v.after is None for v in variants):
        out(f"*** conntrack -S failed in {node}'s namespace (conntrack-tools missing, or no "
            "nf_conntrack): the counters are n/a\n")
    out(f"*** {dnsrace.verdict(variants, dnsrace.kernel())}\n")
    return variants
