"""kproxy benchmark: sync time as services grow, and the data-path cost of many.

Sync time: for each mode and size N (services with 2 endpoints each), one
full sync by a fresh Proxier in a fresh namespace (rendering and applying
timed apart), then one service added with the N present: a partial sync,
which renders and applies only that service.  iptables mode stops at
``IPTABLES_MAX`` services (its full restore takes about 12 s at 5,000 here
and grows faster than linearly); larger sizes are reported skipped.

Data path: a node namespace with the kproxy rules between a client and a
server namespace; TCP connect time to a ClusterIP with 10 and with many
other services present (nftables: 10,000 when measured, else the largest
size; iptables: its largest), the measured service last in sort order so
that iptables walks every other service's rule first.

The goals of issue 14 are judged in ``k8snet.perf.kproxy_goals``.
Everything runs in ``k8snet-bench-*`` namespaces (``make clean`` finds
them), created here and always deleted.
"""
from __future__ import annotations

import ipaddress
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from k8snet.api.service import Service, ServicePort
from k8snet.errors import K8snetError
from k8snet.perf import kproxy_goals, measure
from kproxy.apply import Proxier, SyncResult
from kproxy.state import Endpoint, NodeProxyState, ServicePortState

SERVICE_CIDR = "10.96.0.0/12"
POD_CIDR = "10.244.0.0/16"
NODE, NODE_IP = "node1", "172.18.0.11"

NS_SYNC = "k8snet-bench-sync"
NS_NODE, NS_CLI, NS_SRV = "k8snet-bench-node", "k8snet-bench-cli", "k8snet-bench-srv"
ALL_NS = (NS_SYNC, NS_NODE, NS_CLI, NS_SRV)
CLI_IP, CLI_GW = "10.244.1.2", "10.244.1.1"
SRV_IP, SRV_GW = "10.244.2.2", "10.244.2.1"
SRV_PORT, SVC_PORT = 8080, 80
FEW = 10
CONNECTS, WARMUP = 300, 100
SYNC_DEADLINE_S = 600   # one Proxier.sync
DEFAULT_SIZES = (100, 1000, 5000, 10000, 30000)
IPTABLES_MAX = 5000     # iptables-restore of 5,000 Services takes about 12 s here

Say = Callable[[str], None]


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Bound a step whose subprocesses we do not spawn (Proxier's own calls).

    SIGALRM raises in the main thread; ``subprocess.run`` kills its child on
    any exception, so nothing is left running.
    """
    def _expired(signum, frame):
        raise TimeoutError(f"{what}: no result within {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------ namespaces

def sh(cmd: str, timeout: float = 30) -> str:
    res = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{cmd}: {res.stderr.strip() or 'failed'}")
    return res.stdout


def delete_ns(*names: str) -> None:
    for ns in names:
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=30)


def fresh_ns(name: str) -> None:
    delete_ns(name)
    sh(f"ip netns add {name}")
    sh(f"ip -n {name} link set lo up")


# ---------------------------------------------------------------------- state

def _service(name: str, ip: str, app: str) -> Service:
    return Service(name=name, namespace="bench", selector=(("app", app),), cluster_ip=ip,
                   ports=(ServicePort(SVC_PORT, SRV_PORT),))


def build_services(count: int) -> tuple[list[ServicePortState], ServicePortState]:
    """``count`` services with 2 endpoints each, and one probe sorting after all.

    ClusterIPs are consecutive addresses above the static range, as dynamic
    allocation would pick them, each used once.
    """
    base = int(ipaddress.ip_network(SERVICE_CIDR).network_address) + 16
    ports = []
    for i in range(count):
        svc = _service(f"svc-{i:05d}", str(ipaddress.ip_address(base + i)), f"svc-{i:05d}")
        eps = []
        for k in (2 * i, 2 * i + 1):
            ep_ip = f"10.244.{4 + k // 250}.{2 + k % 250}"
            eps.append(Endpoint(ep_ip, SRV_PORT, "node1" if k % 2 == 0 else "node2",
                                pod=f"bench/pod-{k}"))
        ports.append(ServicePortState(svc, svc.ports[0], tuple(eps)))
    # The probe: a name whose id sorts after every other service's id, so its
    # KPROXY-SERVICES rule comes last in iptables mode.
    last = max(sp.id for sp in ports)
    probe_ip = str(ipaddress.ip_address(base + count))
    for k in range(10 * count + 1000):
        svc = _service(f"probe-{k}", probe_ip, "probe")
        probe = ServicePortState(svc, svc.ports[0],
                                 (Endpoint(SRV_IP, SRV_PORT, "node2", pod="bench/server"),))
        if probe.id > last:
            return ports, probe
    raise RuntimeError("no probe name sorts after every service")


def node_state(ports: list[ServicePortState]) -> NodeProxyState:
    return NodeProxyState(NODE, NODE_IP, POD_CIDR, SERVICE_CIDR, tuple(ports))


# ------------------------------------------------------------------ sync time

def _record(result: SyncResult) -> dict:
    return {"render_ms": result.render_seconds * 1e3, "sync_ms": result.seconds * 1e3,
            "apply_ms": (result.seconds - result.render_seconds) * 1e3,
            "lines": result.text.count("\n"), "changed": result.changed,
            "partial": not result.fresh}


def timed_sync(proxier: Proxier, state: NodeProxyState, what: str) -> dict:
    """One ``Proxier.sync``, timed (rendering apart); ``{"error": ...}`` when it fails."""
    try:
        with deadline(SYNC_DEADLINE_S, what):
            return _record(proxier.sync(state))
    except (K8snetError, TimeoutError) as exc:
        return {"error": str(exc)}


def slope_per_1000(runs: dict[int, dict]) -> float | None:
    """Least-squares ms per 1000 services over the successful full syncs; pure."""
    ok = [n for n in runs if "error" not in runs[n]]
    if len(ok) < 2:
        return None
    xs, ys = ok, [runs[n]["sync_ms"] for n in ok]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx * 1000


def mode_sizes(mode: str, sizes: list[int]) -> tuple[list[int], dict[int, str]]:
    """(sizes run in ``mode``, {size: why it is skipped})."""
    if mode != "iptables":
        return sizes, {}
    why = (f"iptables mode stops at {IPTABLES_MAX:,} Services (a full iptables-restore "
           "takes minutes beyond)")
    return [n for n in sizes if n <= IPTABLES_MAX], {n: why for n in sizes if n > IPTABLES_MAX}


def bench_sync(modes: list[str], sizes: list[int], services: list[ServicePortState],
               extra: ServicePortState, say: Say) -> dict:
    out: dict = {}
    for mode in modes:
        runs: dict[int, dict] = {}
        added: dict[str, dict] = {}
        run_sizes, skipped = mode_sizes(mode, sizes)
        for n in run_sizes:
            say(f"kproxy {mode}: full sync of {n} services (fresh Proxier, fresh {NS_SYNC})")
            fresh_ns(NS_SYNC)
            try:
                proxier = Proxier(NS_SYNC, mode)
                run = timed_sync(proxier, node_state(services[:n]), f"{mode} sync of {n}")
                runs[n] = run
                say(f"  -> {'FAILED: ' + run['error'] if 'error' in run else _ms(run)}")
                if "error" in run:
                    continue
                run["ms_per_1000"] = run["sync_ms"] / (n / 1000)
                say(f"kproxy {mode}: add one service with {n} present")
                add = timed_sync(proxier, node_state([*services[:n], extra]),
                                 f"{mode} incremental sync")
                added[str(n)] = {"present": n, **add}
                say(f"  -> {'FAILED: ' + add['error'] if 'error' in add else _ms(add)}")
            finally:
                delete_ns(NS_SYNC)
        goal = kproxy_goals.INCREMENTAL.get(mode, (0,))[0]
        pick = str(goal) if str(goal) in added else (max(added, key=int) if added else None)
        out[mode] = {"full": {**{str(n): r for n, r in runs.items()},
                              **{str(n): {"skipped": why} for n, why in skipped.items()}},
                     "fitted_ms_per_1000_services": slope_per_1000(runs),
                     "incremental": added.get(pick) if pick else None,
                     "incremental_all": added}
    return out


def _ms(run: dict) -> str:
    how = "partial" if run["partial"] else "full"
    return (f"{how} sync {run['sync_ms']:.1f} ms (render {run['render_ms']:.1f} + apply "
            f"{run['apply_ms']:.1f}), {run['changed']} Service ports, {run['lines']} lines")


# ------------------------------------------------------------------ data path

def build_datapath() -> None:
    delete_ns(NS_NODE, NS_CLI, NS_SRV)
    for ns in (NS_NODE, NS_CLI, NS_SRV):
        fresh_ns(ns)
    sh(f"ip netns exec {NS_NODE} sysctl -qw net.ipv4.ip_forward=1")
    for ns, dev, ip, gw in ((NS_CLI, "vcli", CLI_IP, CLI_GW), (NS_SRV, "vsrv", SRV_IP, SRV_GW)):
        sh(f"ip -n {NS_NODE} link add {dev} type veth peer name eth0 netns {ns}")
        sh(f"ip -n {NS_NODE} addr add {gw}/24 dev {dev}; ip -n {NS_NODE} link set {dev} up")
        sh(f"ip -n {ns} addr add {ip}/24 dev eth0; ip -n {ns} link set eth0 up; "
           f"ip -n {ns} route add default via {gw}")


def connects(ip: str, port: int) -> dict:
    """``CONNECTS`` timed connects from the client namespace; raises if none worked."""
    res = measure.connect_times(NS_CLI, ip, port, CONNECTS, warmup=WARMUP)
    if not res.ok:
        raise RuntimeError(res.error)
    return {"connects": int(res.values["connects"]), "failures": int(res.values["failures"]),
            "p50_ms": res.values["p50_ms"], "p99_ms": res.values["p99_ms"]}


def probe_position(text: str, probe: ServicePortState) -> str:
    """Where the probe's rule is in KPROXY-SERVICES (``iptables-save`` text)."""
    rules = [line for line in text.splitlines() if line.startswith("-A KPROXY-SERVICES ")]
    hit = [i for i, line in enumerate(rules) if f"-d {probe.service.cluster_ip}/32 " in line]
    return f"{hit[0] + 1}/{len(rules)}" if hit else "missing"


def datapath_size(mode: str, sizes: list[int]) -> int:
    """How many other Services the data path measures with: nftables the
    goal's 10,000 when it is among the sizes, else the largest size run."""
    run_sizes = mode_sizes(mode, sizes)[0] or [FEW + 1]
    goal = kproxy_goals.DATAPATH[0]
    return goal if mode == "nftables" and goal in run_sizes else max(run_sizes)


def bench_datapath(modes: list[str], sizes: list[int], services: list[ServicePortState],
                   probe: ServicePortState, say: Say) -> dict:
    out: dict = {}
    vip = probe.service.cluster_ip
    for mode in modes:
        many = datapath_size(mode, sizes)
        res: dict = {"others": [FEW, many]}
        try:
            say(f"kproxy {mode} data path: building {NS_NODE} / {NS_CLI} / {NS_SRV}")
            build_datapath()
            with measure.connect_server(NS_SRV, SRV_PORT, idle=120):
                say(f"kproxy {mode} data path: {CONNECTS} connects direct to "
                    f"{SRV_IP}:{SRV_PORT}")
                res["direct"] = connects(SRV_IP, SRV_PORT)
                proxier = Proxier(NS_NODE, mode)
                for others in (FEW, many):
                    state = node_state([*services[:others], probe])
                    if sorted(state.ports, key=lambda s: s.id)[-1] is not probe:
                        raise RuntimeError("probe is not last in sort order")
                    say(f"kproxy {mode} data path: sync {others} other services + probe, "
                        f"then {CONNECTS} connects to {vip}:{SVC_PORT}")
                    t0 = time.perf_counter()
                    proxier.previous = None     # a full sync: rules in sort order
                    with deadline(SYNC_DEADLINE_S, f"{mode} data-path sync"):
                        proxier.sync(state)
                    run = connects(vip, SVC_PORT)
                    run["sync_s"] = time.perf_counter() - t0
                    if mode == "iptables":
                        run["probe_rule_position"] = probe_position(
                            sh(f"ip netns exec {NS_NODE} iptables-save -t nat"), probe)
                    res[str(others)] = run
                    say(f"  -> p50 {run['p50_ms']:.3f} ms, p99 {run['p99_ms']:.3f} ms")
        except (K8snetError, RuntimeError, TimeoutError, OSError) as exc:
            res["error"] = str(exc)
            say(f"  -> FAILED: {exc}")
        finally:
            delete_ns(NS_NODE, NS_CLI, NS_SRV)
        few, lots = res.get(str(FEW), {}), res.get(str(many), {})
        res["ratio_p50"] = _ratio(lots.get("p50_ms"), few.get("p50_ms"))
        res["ratio_p99"] = _ratio(lots.get("p99_ms"), few.get("p99_ms"))
        out[mode] = res
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


verdict = kproxy_goals.verdict       # the netpol benchmark judges its targets with it


def run(modes: list[str], sizes: list[int], say: Say) -> dict:
    """The whole kproxy benchmark, judged against its goals; namespaces are
    always deleted."""
    sizes = sorted(set(sizes))
    largest = max(sizes)
    say(f"kproxy: building {largest} services with 2 endpoints each (+ probe, + 1 to add)")
    services, probe = build_services(largest + 1)
    extra, services = services[largest], services[:largest]
    res: dict = {"sizes": sizes, "modes": modes,
                 "probe": {"service": probe.label, "cluster_ip": probe.service.cluster_ip,
                           "endpoint": f"{SRV_IP}:{SRV_PORT}"}}
    try:
        res["sync"] = bench_sync(modes, sizes, services, extra, say)
        res["datapath"] = bench_datapath(modes, sizes, services, probe, say)
    finally:
        delete_ns(*ALL_NS)
    res["targets"] = kproxy_goals.targets(res)
    return res
