"""``k8snet bench``: the non-iperf benchmarks, with the same kind of report as perf.

    k8snet bench [--only bringup,pods,kproxy,dns,watch,store-list,endpointslices,api,netpol]
                 [--pods 10,200,1000] [--sizes 100,...,30000] [--modes nftables,iptables]
                 [--out DIR]

Each benchmark is recorded as ok, failed (with the error) or skipped (with
the reason); one failing does not stop the others.  The control-plane ones
(watch, store-list, endpointslices) run in process, with no cluster and no
root; the others bring their own cluster or namespaces up.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from k8snet.errors import K8snetError
from k8snet.perf import interrupts

CLUSTER_BENCHMARKS = ("bringup", "pods", "kproxy", "dns")
CONTROL_BENCHMARKS = ("watch", "store-list", "endpointslices", "api", "netpol")
# carried from the latest make perf run (k8snet.perf.bench_fabric)
BENCHMARKS = CLUSTER_BENCHMARKS + CONTROL_BENCHMARKS + ("fabric",)
SCHEMA = "k8snet-bench/1"


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers, got '{text}'") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("expected positive numbers")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def bench_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="k8snet bench",
        description="bring-up time, per-pod set-up at scale, kproxy sync scaling, "
                    "apply-to-ready, DNS queries per second, and the control plane: watch "
                    "latency, store list and create rate, EndpointSlice reconcile")
    p.add_argument("--only", type=_names, default=BENCHMARKS,
                   help=f"benchmarks to run, comma-separated (default: {','.join(BENCHMARKS)})")
    p.add_argument("--pods", type=_ints, default=(10, 200, 1000),
                   help="pod counts for the set-up benchmark (default: 10,200,1000)")
    p.add_argument("--sizes", type=_ints, default=(100, 1000, 5000, 10000, 30000),
                   help="service counts for kproxy sync scaling (default: "
                        "100,1000,5000,10000,30000; iptables mode stops at 5000)")
    p.add_argument("--modes", type=_names, default=("nftables", "iptables"),
                   help="kproxy modes for the sync benchmark (default: nftables,iptables)")
    p.add_argument("--dns-duration", type=float, default=3.0,
                   help="seconds of DNS queries per client (default: 3)")
    p.add_argument("--replicas", type=int, default=100,
                   help="Deployment size for the apply-to-ready time (default: 100)")
    p.add_argument("--out", default="results/bench", help="output directory "
                   "(default: results/bench)")
    return p


def nodes_for(pods: int) -> int:
    """25 pods a node, as the earlier scale benchmark had, 2 to 16 nodes
    (10 pods: 2 nodes, 200: 8, 1,000: 16 as issue 14 asks)."""
    return max(2, min(16, -(-pods // 25)))


def say(text: str) -> None:
    print(f"*** {text}", flush=True)


def _record(name: str, fn) -> dict:
    """Run one benchmark; its status, error and wall time around its data."""
    t0 = time.monotonic()
    try:
        data = fn()
    except (K8snetError, RuntimeError, OSError, TimeoutError, KeyError, ValueError,
            subprocess.TimeoutExpired) as exc:
        say(f"{name}: FAILED: {exc}")
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "seconds": time.monotonic() - t0}
    if "skipped" in data:
        say(f"{name}: skipped: {data['skipped']}")
        return {"status": "skipped", "error": data["skipped"],
                "seconds": time.monotonic() - t0}
    return {"status": "ok", "error": "", "seconds": time.monotonic() - t0, **data}


def run_bench(argv: list[str]) -> int:
    args = bench_parser().parse_args(argv)
    unknown = [b for b in args.only if b not in BENCHMARKS]
    if unknown:
        raise K8snetError(f"unknown benchmark {', '.join(unknown)} ({', '.join(BENCHMARKS)})")
    bad = [m for m in args.modes if m not in ("nftables", "iptables")]
    if bad:
        raise K8snetError(f"--modes: {', '.join(bad)} (nftables, iptables)")
    if "kproxy" in args.only and min(args.sizes) <= 10:
        raise K8snetError("--sizes must be above 10 (the data path compares 10 services "
                          "with the largest size)")
    from mininet.log import setLogLevel

    from k8snet.perf import (
        bench_api,
        bench_cluster,
        bench_control,
        bench_fabric,
        bench_kproxy,
        bench_netpol,
        bench_report,
        facts,
        leftovers,
    )
    from k8snet.perf.preflight import free_to_start

    if any(b in CLUSTER_BENCHMARKS for b in args.only):
        free_to_start()
    setLogLevel("warning")
    interrupts.install()
    doc = {"schema": SCHEMA, "kind": "bench",
           "started": datetime.now(UTC).isoformat(timespec="seconds"), "finished": None,
           "wall_s": None, "interrupted": False, "machine": facts.machine(),
           "config": {"only": list(args.only), "pods": list(args.pods),
                      "sizes": list(args.sizes), "modes": list(args.modes),
                      "dns_duration": args.dns_duration, "replicas": args.replicas},
           "benchmarks": {}, "leftovers": []}
    plan = []
    if "bringup" in args.only:
        plan.append(("bringup", lambda: bench_cluster.bringup(say)))
    if "pods" in args.only:
        for n in args.pods:
            plan.append((f"pods-{n}", lambda n=n: bench_cluster.pod_setup(n, nodes_for(n),
                                                                        say)))
    if "kproxy" in args.only:
        plan.append(("kproxy", lambda: bench_kproxy.run(list(args.modes), list(args.sizes),
                                                        say)))
    if "dns" in args.only:
        plan.append(("dns", lambda: bench_cluster.discovery(args.replicas, args.dns_duration,
                                                            say)))
    if "watch" in args.only:
        plan.append(("watch", lambda: bench_control.watch_latency(say=say)))
    if "store-list" in args.only:
        plan.append(("store-list", lambda: bench_control.store_list(say=say)))
    if "endpointslices" in args.only:
        plan.append(("endpointslices", lambda: bench_control.endpointslices(say=say)))
    if "api" in args.only:
        plan.append(("api", lambda: bench_api.run(say=say)))
    if "netpol" in args.only:
        plan.append(("netpol", lambda: bench_netpol.run(say)))
    if "fabric" in args.only:
        perf_results = Path(args.out).parent / "perf" / "results.json"
        plan.append(("fabric", lambda: bench_fabric.from_perf(perf_results)))
    t0 = time.monotonic()
    code = 0
    try:
        for i, (name, fn) in enumerate(plan, 1):
            say(f"[{i}/{len(plan)}] {name}")
            doc["benchmarks"][name] = _record(name, fn)
    except KeyboardInterrupt:
        doc["interrupted"] = True
        print("\n*** interrupted: torn down; writing what was measured", file=sys.stderr)
        code = 130
    finally:
        with interrupts.shielded():
            doc["wall_s"] = time.monotonic() - t0
            doc["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
            doc["leftovers"] = leftovers.sweep()
            written = bench_report.write_bench(doc, Path(args.out))
    print(bench_report.bench_table(doc))
    print(f"\n*** wall time {doc['wall_s']:.0f} s; wrote "
          + ", ".join(str(p) for p in written))
    if doc["leftovers"]:
        print("*** WARNING: left behind (removed now): " + ", ".join(doc["leftovers"]),
              file=sys.stderr)
    return code
