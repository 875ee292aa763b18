"""kproxy benchmark: sync time as services grow, and the data-path cost of many.

Sync time: for each mode and size N (services with 2 endpoints each), one
full sync by a fresh Proxier in a fresh namespace, the render timed alone and
the whole ``Proxier.sync``; then, with the largest N present, one service
added and that sync timed (kproxy re-renders and re-applies the full state).

Data path: a node namespace with the kproxy rules between a client and a
server namespace; TCP connect time to a ClusterIP with 10 and with the
largest N other services present, the measured service last in sort order so
that iptables walks every other service's rule first.

Everything runs in ``k8snet-bench-*`` namespaces (``make clean`` finds them),
created here and always deleted.
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
from k8snet.perf import measure
from kproxy import iptables, nft
from kproxy.apply import Proxier
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
SYNC_DEADLINE_S = 600   # one Proxier.sync; nftables at 10000 takes minutes here

DEFAULT_SIZES = (100, 1000, 5000)
TARGETS_NFT_MS = {1000: 200.0, 10000: 2000.0}
TARGET_INCREMENTAL_MS = 50.0
TARGET_DATAPATH_RATIO = 1.1

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


def render_only(mode: str, state: NodeProxyState, previous) -> tuple[float, str]:
    """Seconds to render ``state`` exactly as the Proxier's next sync will."""
    t0 = time.perf_counter()
    if mode == "nftables":
        text, _ = nft.render(state, previous, fresh=previous is None)
    else:
        text, _ = iptables.render(state, previous)
    return time.perf_counter() - t0, text


# ------------------------------------------------------------------ sync time

def timed_sync(proxier: Proxier, mode: str, state: NodeProxyState, what: str) -> dict:
    """Render alone, then the whole sync; ``{"error": ...}`` when the sync fails."""
    render_s, text = render_only(mode, state, proxier.previous)
    try:
        with deadline(SYNC_DEADLINE_S, what):
            t0 = time.perf_counter()
            proxier.sync(state)
            sync_s = time.perf_counter() - t0
    except (K8snetError, TimeoutError) as exc:
        return {"render_ms": render_s * 1e3, "error": str(exc), "lines": text.count("\n")}
    return {"render_ms": render_s * 1e3, "sync_ms": sync_s * 1e3,
            "apply_ms": (sync_s - render_s) * 1e3, "lines": text.count("\n")}


def slope_per_1000(runs: dict[int, dict]) -> float | None:
    """Least-squares ms per 1000 services over the successful full syncs; pure."""
    ok = [n for n in runs if "error" not in runs[n]]
    if len(ok) < 2:
        return None
    xs, ys = ok, [runs[n]["sync_ms"] for n in ok]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx * 1000


def bench_sync(modes: list[str], sizes: list[int], services: list[ServicePortState],
               extra: ServicePortState, say: Say) -> dict:
    out: dict = {}
    largest = max(sizes)
    for mode in modes:
        runs: dict[int, dict] = {}
        incremental = None
        for n in sizes:
            say(f"kproxy {mode}: full sync of {n} services (fresh Proxier, fresh {NS_SYNC})")
            fresh_ns(NS_SYNC)
            try:
                proxier = Proxier(NS_SYNC, mode)
                run = timed_sync(proxier, mode, node_state(services[:n]), f"{mode} sync of {n}")
                runs[n] = run
                say(f"  -> {'FAILED: ' + run['error'] if 'error' in run else _ms(run)}")
                if "error" in run:
                    continue
                run["ms_per_1000"] = run["sync_ms"] / (n / 1000)
                if n == largest:
                    say(f"kproxy {mode}: add one service with {n} present")
                    add = timed_sync(proxier, mode, node_state([*services[:n], extra]),
                                     f"{mode} incremental sync")
                    incremental = {"present": n, **add}
                    say(f"  -> {'FAILED: ' + add['error'] if 'error' in add else _ms(add)}")
            finally:
                delete_ns(NS_SYNC)
        out[mode] = {"full": {str(n): r for n, r in runs.items()},
                     "fitted_ms_per_1000_services": slope_per_1000(runs),
                     "incremental": incremental}
    return out


def _ms(run: dict) -> str:
    return (f"sync {run['sync_ms']:.0f} ms (render {run['render_ms']:.0f} + apply "
            f"{run['apply_ms']:.0f}), {run['lines']} lines")


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
    rules = [line for line in text.splitlines() if line.startswith("-A KPROXY-SERVICES ")]
    hit = [i for i, line in enumerate(rules) if f"-d {probe.service.cluster_ip}/32 " in line]
    return f"{hit[0] + 1}/{len(rules)}" if hit else "missing"


def bench_datapath(modes: list[str], many: int, services: list[ServicePortState],
                   probe: ServicePortState, say: Say) -> dict:
    out: dict = {}
    vip = probe.service.cluster_ip
    for mode in modes:
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
                    with deadline(SYNC_DEADLINE_S, f"{mode} data-path sync"):
                        proxier.sync(state)
                    run = connects(vip, SVC_PORT)
                    run["sync_s"] = time.perf_counter() - t0
                    if mode == "iptables":
                        run["probe_rule_position"] = probe_position(proxier.last_text, probe)
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


# ---------------------------------------------------------------------- verdicts

def verdict(value: float | None, target: float) -> str:
    """At or under ``target`` is met; no value is "failed" (never counted as 0)."""
    if value is None:
        return "failed"
    return "met" if value <= target else "not met"


def targets(res: dict, sizes: list[int]) -> dict:
    nft_sync = res.get("sync", {}).get("nftables")
    nft_dp = res.get("datapath", {}).get("nftables")
    if not nft_sync:
        return {}
    inc = nft_sync["incremental"] or {}
    return {
        "nftables_full_sync": {
            str(n): {"target_ms": t, "status": verdict(nft_sync["full"][str(n)].get("sync_ms"),
                                                       t)}
            for n, t in TARGETS_NFT_MS.items() if n in sizes},
        "nftables_incremental": {"target_ms": TARGET_INCREMENTAL_MS,
                                 "status": verdict(inc.get("sync_ms"), TARGET_INCREMENTAL_MS)},
        "nftables_datapath_ratio": {"target": TARGET_DATAPATH_RATIO, "status": (
            verdict(nft_dp["ratio_p50"], TARGET_DATAPATH_RATIO) if nft_dp else "failed")},
    }


def run(modes: list[str], sizes: list[int], say: Say) -> dict:
    """The whole kproxy benchmark; namespaces are always deleted."""
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
        res["datapath"] = bench_datapath(modes, largest, services, probe, say)
    finally:
        delete_ns(*ALL_NS)
    res["targets"] = targets(res, sizes)
    return res
