"""kproxy benchmark: sync time at scale and data-path cost of many services.

    .venv/bin/python benchmarks/kproxy_sync.py [--sizes 1000,5000,10000]
        [--modes nftables,iptables] [--out results]

Sync time: for each mode and size N (services with 2 endpoints each), a full
sync with a fresh Proxier in a fresh namespace, render timed alone and the
whole ``Proxier.sync``; then, with the largest N present, one service added
and that sync timed (kproxy re-renders and re-applies the full state).

Data path: a node namespace with the kproxy rules between a client and a
server namespace; TCP connect latency to a ClusterIP with 10 versus the
largest N other services present, the measured service last in sort order so
that iptables walks every other service's rule first.

Everything runs in ``k8snet-bench-*`` namespaces (``make clean`` finds them),
created here and always deleted.  Writes OUT/kproxy_sync.json, prints a table.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from k8snet.errors import K8snetError  # noqa: E402
from k8snet.services import Allocator, Service, ServicePort  # noqa: E402
from kproxy import iptables, nft  # noqa: E402
from kproxy.apply import Proxier  # noqa: E402
from kproxy.state import Endpoint, NodeProxyState, ServicePortState  # noqa: E402

SERVICE_CIDR = "10.96.0.0/12"
LB_POOL = "198.51.100.0/24"
POD_CIDR = "10.244.0.0/16"
NODE, NODE_IP = "node1", "172.18.0.11"

NS_SYNC = "k8snet-bench-sync"
NS_NODE, NS_CLI, NS_SRV = "k8snet-bench-node", "k8snet-bench-cli", "k8snet-bench-srv"
ALL_NS = (NS_SYNC, NS_NODE, NS_CLI, NS_SRV)
CLI_IP, CLI_GW = "10.244.1.2", "10.244.1.1"
SRV_IP, SRV_GW = "10.244.2.2", "10.244.2.1"
SRV_PORT, SVC_PORT = 8080, 80
FEW = 10
CONNECTS, WARMUP, CONNECT_TIMEOUT = 300, 100, 2.0
SYNC_DEADLINE_S = 600   # one Proxier.sync; nftables at 10000 takes minutes here

TARGETS_NFT_MS = {1000: 200.0, 10000: 2000.0}
TARGET_INCREMENTAL_MS = 50.0
TARGET_DATAPATH_RATIO = 1.1

SERVER = f"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {SRV_PORT}))
s.listen(1024)
s.settimeout(600)  # bounded: exits when idle for 10 minutes
while True:
    c, _ = s.accept()
    c.close()
"""

CLIENT = """
import json, socket, sys, time
ip, port, n, warm, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), float(sys.argv[5])
ms, failures = [], 0
for i in range(warm + n):
    t0 = time.perf_counter()
    try:
        s = socket.create_connection((ip, port), timeout=timeout)
    except OSError:
        failures += i >= warm
        continue
    dt = time.perf_counter() - t0
    s.close()
    if i >= warm:
        ms.append(dt * 1e3)
print(json.dumps({"ms": ms, "failures": failures}))
"""


def progress(msg: str) -> None:
    print(f"*** {msg}", flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@contextmanager
def deadline(seconds: float, what: str):
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


def _quiet(cmd: str) -> None:
    subprocess.run(cmd, shell=True, capture_output=True, timeout=30)


def delete_ns(*names: str) -> None:
    for ns in names:
        _quiet(f"ip netns delete {ns}")


def fresh_ns(name: str) -> None:
    delete_ns(name)
    sh(f"ip netns add {name}")
    sh(f"ip -n {name} link set lo up")


def leftover_ns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                         timeout=10).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.startswith("k8snet-bench-")]


# ---------------------------------------------------------------------- state

def build_services(count: int) -> tuple[list[ServicePortState], ServicePortState]:
    """``count`` services with 2 endpoints each, and one probe sorting after all.

    ClusterIPs come from the Allocator; they are passed explicitly (the next
    free address above the static range, as dynamic allocation would pick)
    because the Allocator's first-free scan is quadratic over 10000 services.
    """
    alloc = Allocator(SERVICE_CIDR, LB_POOL)
    base = int(ipaddress.ip_network(SERVICE_CIDR).network_address) + 16
    ports = []
    for i in range(count):
        ip = str(ipaddress.ip_address(base + i))
        svc = alloc.allocate(Service(name=f"svc-{i:05d}", namespace="bench",
                                     selector=(("app", f"svc-{i:05d}"),), cluster_ip=ip,
                                     ports=(ServicePort(SVC_PORT, SRV_PORT),)))
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
        name = f"probe-{k}"
        svc = alloc.allocate(Service(name=name, namespace="bench", cluster_ip=probe_ip,
                                     selector=(("app", "probe"),),
                                     ports=(ServicePort(SVC_PORT, SRV_PORT),)))
        probe = ServicePortState(svc, svc.ports[0],
                                 (Endpoint(SRV_IP, SRV_PORT, "node2", pod="bench/server"),))
        if probe.id > last:
            return ports, probe
        alloc.release(svc)
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
        progress(f"{what}: FAILED: {exc}")
        return {"render_ms": render_s * 1e3, "error": str(exc), "lines": text.count("\n")}
    return {"render_ms": render_s * 1e3, "sync_ms": sync_s * 1e3,
            "apply_ms": (sync_s - render_s) * 1e3, "lines": text.count("\n")}


def bench_sync(modes: list[str], sizes: list[int], services: list[ServicePortState],
               extra: ServicePortState) -> dict:
    out: dict = {}
    largest = max(sizes)
    for mode in modes:
        runs = {}
        incremental = None
        for n in sizes:
            progress(f"sync {mode}: full sync of {n} services (fresh Proxier, fresh {NS_SYNC})")
            fresh_ns(NS_SYNC)
            try:
                proxier = Proxier(NS_SYNC, mode)
                state = node_state(services[:n])
                run = timed_sync(proxier, mode, state, f"{mode} sync of {n}")
                runs[n] = run
                if "error" in run:
                    continue
                run["ms_per_1000"] = run["sync_ms"] / (n / 1000)
                if n == largest:
                    progress(f"sync {mode}: add one service with {n} present "
                             "(full state re-rendered and re-applied)")
                    add = timed_sync(proxier, mode, node_state([*services[:n], extra]),
                                     f"{mode} incremental sync")
                    incremental = {"present": n, **add}
            finally:
                delete_ns(NS_SYNC)
        slope = None
        ok = [n for n in runs if "error" not in runs[n]]
        if len(ok) >= 2:
            xs, ys = ok, [runs[n]["sync_ms"] for n in ok]
            mx, my = statistics.fmean(xs), statistics.fmean(ys)
            sxx = sum((x - mx) ** 2 for x in xs)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx * 1000
        out[mode] = {"full": {str(n): r for n, r in runs.items()},
                     "fitted_ms_per_1000_services": slope, "incremental": incremental}
    return out


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


def connects(ip: str, port: int, count: int) -> dict:
    budget = (WARMUP + count) * CONNECT_TIMEOUT + 30
    res = subprocess.run(["ip", "netns", "exec", NS_CLI, sys.executable, "-c", CLIENT, ip,
                          str(port), str(count), str(WARMUP), str(CONNECT_TIMEOUT)],
                         capture_output=True, text=True, timeout=budget)
    if res.returncode != 0:
        raise RuntimeError(f"client: {res.stderr.strip()}")
    data = json.loads(res.stdout)
    ms = data["ms"]
    return {"connects": len(ms), "failures": data["failures"],
            "p50_ms": statistics.median(ms) if ms else None,
            "p99_ms": pct(ms, 0.99) if ms else None,
            "mean_ms": statistics.fmean(ms) if ms else None}


def wait_server(deadline_s: float = 10) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if connects(SRV_IP, SRV_PORT, 1)["failures"] == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"server {SRV_IP}:{SRV_PORT} not reachable from the client")


def probe_position(text: str, probe: ServicePortState) -> str:
    rules = [line for line in text.splitlines() if line.startswith("-A KPROXY-SERVICES ")]
    hit = [i for i, line in enumerate(rules) if f"-d {probe.service.cluster_ip}/32 " in line]
    return f"{hit[0] + 1}/{len(rules)}" if hit else "missing"


def bench_datapath(modes: list[str], many: int, services: list[ServicePortState],
                   probe: ServicePortState) -> dict:
    out: dict = {}
    vip = probe.service.cluster_ip
    for mode in modes:
        server = None
        res: dict = {}
        try:
            progress(f"data path {mode}: building {NS_NODE} / {NS_CLI} / {NS_SRV}")
            build_datapath()
            server = subprocess.Popen(["ip", "netns", "exec", NS_SRV, sys.executable, "-c",
                                       SERVER], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            wait_server()
            progress(f"data path {mode}: {CONNECTS} connects direct to {SRV_IP}:{SRV_PORT} "
                     "(no rules yet)")
            res["direct"] = connects(SRV_IP, SRV_PORT, CONNECTS)
            proxier = Proxier(NS_NODE, mode)
            for others in (FEW, many):
                progress(f"data path {mode}: sync with {others} other services + probe")
                state = node_state([*services[:others], probe])
                t0 = time.perf_counter()
                try:
                    with deadline(SYNC_DEADLINE_S, f"{mode} data-path sync"):
                        proxier.sync(state)
                except (K8snetError, TimeoutError) as exc:
                    progress(f"data path {mode}: sync FAILED: {exc}")
                    res[str(others)] = {"error": str(exc), "p50_ms": None, "p99_ms": None}
                    break
                sync_s = time.perf_counter() - t0
                if sorted(state.ports, key=lambda s: s.id)[-1] is not probe:
                    raise RuntimeError("probe is not last in sort order")
                progress(f"data path {mode}: {CONNECTS} connects to {vip}:{SVC_PORT} "
                         f"with {others} others")
                run = connects(vip, SVC_PORT, CONNECTS)
                run["sync_s"] = sync_s
                if mode == "iptables":
                    run["probe_rule_position"] = probe_position(proxier.last_text, probe)
                res[str(others)] = run
            few = res[str(FEW)]
            lots = res.setdefault(str(many), {"error": "not reached", "p50_ms": None,
                                               "p99_ms": None})
            res["others"] = [FEW, many]
            res["ratio_p50"] = (lots["p50_ms"] / few["p50_ms"]
                                if lots["p50_ms"] and few["p50_ms"] else None)
            res["ratio_p99"] = (lots["p99_ms"] / few["p99_ms"]
                                if lots["p99_ms"] and few["p99_ms"] else None)
        finally:
            if server is not None:
                server.kill()
                server.wait(timeout=10)
            delete_ns(NS_NODE, NS_CLI, NS_SRV)
        out[mode] = res
    return out


# ---------------------------------------------------------------------- report

def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "FAILED"
    return "met" if value <= target else "NOT met"


def fmt_ms(value: float | None) -> str:
    return "FAILED" if value is None else f"{value:.3f} ms"


def report(res: dict) -> None:
    sync, dp = res["sync"], res.get("datapath", {})
    print(f"\n{'MODE':<9} {'SERVICES':>8} {'RENDER':>10} {'APPLY':>11} {'SYNC':>11} "
          f"{'MS/1000':>8}  TARGET")
    for mode, data in sync.items():
        for n, run in data["full"].items():
            target = ""
            if mode == "nftables" and int(n) in TARGETS_NFT_MS:
                t = TARGETS_NFT_MS[int(n)]
                target = f"<= {t:.0f} ms: {verdict(run.get('sync_ms'), t)}"
            if "error" in run:
                print(f"{mode:<9} {n:>8} {run['render_ms']:>7.0f} ms   FAILED: {run['error']}"
                      f"  {target}")
                continue
            print(f"{mode:<9} {n:>8} {run['render_ms']:>7.0f} ms {run['apply_ms']:>8.0f} ms "
                  f"{run['sync_ms']:>8.0f} ms {run['ms_per_1000']:>8.1f}  {target}")
    print("(APPLY = SYNC - RENDER: the nft / iptables-restore process in the namespace; "
          "the first iptables sync also adds the jumps from the built-in chains)\n")
    rows = []
    for mode, data in sync.items():
        if data["fitted_ms_per_1000_services"] is not None:
            rows.append((f"{mode}: growth (least-squares slope)",
                         f"{data['fitted_ms_per_1000_services']:.1f} ms per 1000 services"))
        inc = data["incremental"]
        if inc:
            target = ""
            if mode == "nftables":
                target = (f" (target <= {TARGET_INCREMENTAL_MS:.0f} ms: "
                          f"{verdict(inc.get('sync_ms'), TARGET_INCREMENTAL_MS)}; "
                          "kproxy re-renders the full state each sync by design)")
            value = (f"FAILED: {inc['error']}" if "error" in inc else
                     f"{inc['sync_ms']:.0f} ms (render {inc['render_ms']:.0f} + apply "
                     f"{inc['apply_ms']:.0f})")
            rows.append((f"{mode}: add 1 service, {inc['present']} present", value + target))
    for mode, data in dp.items():
        d = data["direct"]
        rows.append((f"{mode}: TCP connect direct, no VIP",
                     f"p50 {fmt_ms(d['p50_ms'])}, p99 {fmt_ms(d['p99_ms'])}"))
        for others in data["others"]:
            r = data[str(others)]
            if "error" in r:
                rows.append((f"{mode}: TCP connect via ClusterIP, {others} others",
                             f"FAILED: {r['error']}"))
                continue
            pos = f", probe rule {r['probe_rule_position']}" if "probe_rule_position" in r else ""
            rows.append((f"{mode}: TCP connect via ClusterIP, {others} others",
                         f"p50 {fmt_ms(r['p50_ms'])}, p99 {fmt_ms(r['p99_ms'])} "
                         f"({r['connects']} ok, {r['failures']} failed{pos}; "
                         f"sync {r['sync_s']:.1f} s)"))
        ratio = data["ratio_p50"]
        target = (f" (target <= {TARGET_DATAPATH_RATIO}: "
                  f"{verdict(ratio, TARGET_DATAPATH_RATIO)})" if mode == "nftables" else "")
        p99 = data["ratio_p99"]
        rows.append((f"{mode}: ratio {data['others'][1]}/{data['others'][0]}",
                     ("FAILED" if ratio is None else f"p50 {ratio:.2f}x") + target
                     + ("" if p99 is None else f", p99 {p99:.2f}x")))
    width = max(len(r[0]) for r in rows)
    print(f"{'MEASUREMENT'.ljust(width)}   RESULT")
    for name, value in rows:
        print(f"{name.ljust(width)}   {value}")


def targets(res: dict, sizes: list[int]) -> dict:
    nft_sync = res["sync"].get("nftables")
    nft_dp = res.get("datapath", {}).get("nftables")
    if not nft_sync:
        return {}
    inc = nft_sync["incremental"] or {}
    return {
        "nftables_full_sync": {
            str(n): verdict(nft_sync["full"][str(n)].get("sync_ms"), t)
            for n, t in TARGETS_NFT_MS.items() if n in sizes},
        "nftables_incremental": verdict(inc.get("sync_ms"), TARGET_INCREMENTAL_MS),
        "nftables_datapath_ratio": (verdict(nft_dp["ratio_p50"], TARGET_DATAPATH_RATIO)
                                    if nft_dp else None),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--modes", default="nftables,iptables")
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in ("nftables", "iptables"):
            parser.error(f"unknown mode '{mode}' (nftables, iptables)")
    if not sizes or min(sizes) <= FEW:
        parser.error(f"sizes must be above {FEW}")
    largest = max(sizes)

    progress(f"building {largest} services with 2 endpoints each (+ probe, + 1 to add)")
    services, probe = build_services(largest + 1)
    extra, services = services[largest], services[:largest]
    res: dict = {"machine": {"kernel": platform.release(), "cpus": os.cpu_count(),
                             "python": platform.python_version()},
                 "sizes": sizes, "modes": modes,
                 "probe": {"service": probe.label, "cluster_ip": probe.service.cluster_ip,
                           "endpoint": f"{SRV_IP}:{SRV_PORT}"}}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "kproxy_sync.json")

    def save() -> None:
        res["targets"] = targets(res, sizes) if "sync" in res else {}
        res["leftover_namespaces"] = leftover_ns()
        with open(path, "w") as fh:
            json.dump(res, fh, indent=2)

    try:
        res["sync"] = bench_sync(modes, sizes, services, extra)
        save()
        res["datapath"] = bench_datapath(modes, largest, services, probe)
    finally:
        delete_ns(*ALL_NS)
        if "sync" in res:
            save()
    left = res["leftover_namespaces"]
    report(res)
    if left:
        print(f"\nWARNING: namespaces left behind: {', '.join(left)}")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
