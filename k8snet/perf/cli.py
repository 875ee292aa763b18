"""``k8snet perf`` and ``k8snet bench``: argument parsing and the run's outer frame.

    k8snet perf  [--topo single,leafspine] [--proxy-mode nftables,iptables]
                 [--duration S] [--repeat N] [--out DIR] [--only PATH,...]
    k8snet bench [--only bringup,pods,kproxy,dns] [--sizes 100,1000,5000] [--out DIR]

Both write DIR/results.json, DIR/report.md and PNG charts, and print a table.
Ctrl-C or SIGTERM tears everything down, writes what was measured so far
(marked interrupted) and exits 130.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from k8snet.errors import K8snetError
from k8snet.perf import interrupts, paths

MODES = ("nftables", "iptables", "ipvs")


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value
    return parse


def perf_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="k8snet perf",
        description="iperf3, ping and connect-time matrix over every cluster path, each "
                    "beside a baseline built in the same run")
    p.add_argument("--topo", type=_csv, default=(paths.SINGLE, paths.LEAFSPINE),
                   help="clusters to bring up, comma-separated: single (every path), "
                        "leafspine (pod to pod across leaves) (default: both)")
    p.add_argument("--proxy-mode", type=_csv, default=("nftables", "iptables"),
                   help="kproxy modes to compare, comma-separated; the first measures "
                        "every path, the others what kproxy handles "
                        "(default: nftables,iptables; ipvs is listed when missing)")
    p.add_argument("--duration", type=_positive(float), default=2.0,
                   help="seconds per iperf3 run (default: 2)")
    p.add_argument("--repeat", type=_positive(int), default=1,
                   help="runs of each measurement; the report gives median, min, max "
                        "(default: 1)")
    p.add_argument("--target-repeat", type=_positive(int), default=3,
                   help="TCP x1 runs of each path and anchor that a target compares, "
                        "for a median that one bad run cannot sway; a baseline anchor is "
                        "also measured beside the cluster in this many pairs with the path "
                        "(rounded up to even), which judge the target (default: 3)")
    p.add_argument("--out", default="results/perf", help="output directory "
                   "(default: results/perf)")
    p.add_argument("--only", type=_csv, default=(),
                   help="path ids to run (with the references they need); see --list")
    p.add_argument("--no-shaping", dest="shaping", action="store_false",
                   help="skip the 100 Mbit/s link-shaping check")
    p.add_argument("--udp-rate", default="200M",
                   help="iperf3 UDP target rate (default: 200M)")
    p.add_argument("--list", action="store_true", help="list the paths and targets, exit")
    return p


def _list() -> int:
    print("PATH ID                TOPO       BASELINE      REFERENCE            TITLE")
    for p in paths.PATHS:
        print(f"{p.id:<22} {p.topo:<10} {p.baseline or '-':<13} {p.reference or '-':<20} "
              f"{p.title}")
    print("\nTARGETS")
    for t in paths.TARGETS:
        print(f"  {t.title}")
    return 0


def _check_modes(modes: tuple[str, ...]) -> None:
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise K8snetError(f"unknown proxy mode {', '.join(unknown)} "
                          f"(nftables, iptables, ipvs)")


def run_perf(argv: list[str]) -> int:
    args = perf_parser().parse_args(argv)
    if args.list:
        return _list()
    from mininet.log import setLogLevel

    from k8snet.perf import leftovers, report
    from k8snet.perf.preflight import free_to_start
    from k8snet.perf.runner import Config, Runner, mode_status, plan

    _check_modes(args.proxy_mode)
    for topo in args.topo:
        if topo not in (paths.SINGLE, paths.LEAFSPINE):
            raise K8snetError(f"--topo: unknown '{topo}' (single, leafspine)")
    try:
        paths.selected(list(args.only) or None)
    except ValueError as exc:
        raise K8snetError(str(exc)) from None
    cfg = Config(topos=args.topo, modes=args.proxy_mode, duration=args.duration,
                 repeat=args.repeat, target_repeat=args.target_repeat, only=args.only,
                 shaping=args.shaping,
                 udp_rate=args.udp_rate, out=args.out)
    free_to_start()
    setLogLevel("warning")
    interrupts.install()
    statuses = {m: mode_status(m) for m in dict.fromkeys((*args.proxy_mode, "ipvs"))}
    usable = [m for m in args.proxy_mode if not statuses[m]]
    if not usable:
        raise K8snetError("no proxy mode can run here: " + "; ".join(
            f"{m}: {statuses[m]}" for m in args.proxy_mode))
    runner = Runner(cfg)
    runner.doc["proxy_modes"] = {
        m: {"status": "measured" if m in usable else "not available", "reason": why}
        for m, why in statuses.items()}
    phases = plan(cfg, usable)
    print(f"*** k8snet perf: {sum(p.steps for p in phases)} measurements, "
          f"{cfg.duration:g} s per iperf3 run, repeat {cfg.repeat} (TCP x1 of target "
          f"paths {max(cfg.repeat, cfg.target_repeat)}); modes "
          f"{', '.join(usable) or 'none'}", flush=True)
    code = 0
    try:
        runner.run(phases)
    except KeyboardInterrupt:
        print("\n*** interrupted: torn down; writing what was measured", file=sys.stderr)
        code = 130
    finally:
        with interrupts.shielded():
            runner.doc["leftovers"] = leftovers.sweep()
            out = Path(cfg.out)
            written = report.write_perf(runner.doc, out)
    print(report.perf_table(runner.doc))
    print(f"\n*** wall time {report.seconds(runner.doc['wall_s'])}; wrote "
          + ", ".join(str(p) for p in written))
    if runner.doc["leftovers"]:
        print("*** WARNING: left behind (removed now): "
              + ", ".join(runner.doc["leftovers"]), file=sys.stderr)
    return code


def run_bench(argv: list[str]) -> int:
    from k8snet.perf.bench_cli import run_bench as bench

    return bench(argv)


def main(argv: list[str]) -> int:
    """``argv[0]`` is "perf" or "bench" (``k8snet.main`` dispatches here)."""
    command, rest = argv[0], argv[1:]
    t0 = time.monotonic()
    try:
        return run_perf(rest) if command == "perf" else run_bench(rest)
    except K8snetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n*** interrupted after {time.monotonic() - t0:.0f} s; torn down",
              file=sys.stderr)
        return 130
