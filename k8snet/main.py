"""``k8snet`` command line: run a cluster, or clean up after one.

    k8snet run --topo NAME|FILE [-f MANIFEST]... [--script FILE] [--test pingall|none]
    k8snet clean
    k8snet kubeconfig

User errors print one ``error:`` line and exit 1; nothing is left behind.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from k8snet.errors import K8snetError

APPLY_SETTLE = 30.0   # seconds `run -f` waits for the applied pods to start
READY_GRACE = 10.0    # ... and then for them to be ready (a pod may never be)
TERMINATED = 128 + signal.SIGTERM   # the exit status of a run SIGTERM ended (torn down)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="k8snet", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start a cluster and open the CLI")
    run.add_argument("--topo", default="single",
                     help="built-in topology NAME[,NODES] or a YAML file "
                     "(default: single)")
    run.add_argument("-f", "--filename", action="append", default=[], metavar="MANIFEST",
                     help="apply Kubernetes YAML (file or directory) once the cluster "
                     "is up; repeatable")
    run.add_argument("--script", help="run CLI commands from FILE, then tear down")
    run.add_argument("--keep-logs", metavar="DIR", default=None,
                     help="where the run's logs are kept at teardown "
                          "(default: results/logs/<cluster>)")
    run.add_argument("--test", choices=["pingall", "none"], default=None,
                     help="run a test like 'mn --test' and tear down; "
                     "exit non-zero on failure")
    run.add_argument("--proxy-mode", default="nftables",
                     choices=["nftables", "iptables", "ipvs"],
                     help="how kproxy implements services (default: nftables)")
    run.add_argument("-v", "--verbosity", default="info",
                     choices=["debug", "info", "output", "warning", "error"])
    sub.add_parser("clean", help="remove everything k8snet made")
    sub.add_parser("kubeconfig", help="print the kubeconfig path of each running cluster")
    sub.add_parser("perf", help="iperf matrix over every path, with baselines "
                   "('k8snet perf -h')", add_help=False)
    sub.add_parser("bench", help="bring-up, pod set-up, kproxy sync and DNS benchmarks "
                   "('k8snet bench -h')", add_help=False)
    return parser


def _teardown_on_sigterm(during_teardown: bool = False) -> None:
    """SIGTERM, in this process only, stops what is running as Ctrl-C does
    and ends the run (``shell.terminate``: ``Terminated``, a
    KeyboardInterrupt): during bring-up, the CLI's command and the CLI
    itself, interactive or ``--script``; then the cluster is torn down.
    ``during_teardown``: a SIGTERM is only noted, the teardown must finish.

    pyroute2 forks helpers that inherit handlers; a forked copy must just exit,
    never run the teardown itself.
    """
    from k8snet.cli.shell import terminate

    owner = os.getpid()

    def handler(*args):
        if os.getpid() != owner:
            os._exit(0)
        if not during_teardown:
            terminate(*args)

    signal.signal(signal.SIGTERM, handler)


def _run(args: argparse.Namespace) -> int:
    from mininet.log import info, setLogLevel

    from k8snet.cli.shell import Terminated
    from k8snet.cluster.cluster import Cluster
    from k8snet.load import documents, topofile

    setLogLevel(args.verbosity)
    spec = topofile.load(args.topo)
    # Read manifests before anything starts: a file that cannot be read costs nothing.
    docs = documents.load_paths(args.filename) if args.filename else []
    t0 = time.monotonic()
    cluster = Cluster(spec, proxy_mode=args.proxy_mode,
                      keep_logs=Path(args.keep_logs) if args.keep_logs else None)
    _teardown_on_sigterm()
    with cluster:
        try:
            status = _session(args, cluster, docs, time.monotonic() - t0)
        except Terminated:
            info("\n*** SIGTERM: the run ends; tearing the cluster down\n")
            status = TERMINATED
        finally:
            _teardown_on_sigterm(during_teardown=True)
    interactive = not args.script and args.test is None
    if cluster.kept_logs and (interactive or status == TERMINATED):
        info(f"*** Logs of this run kept in {cluster.kept_logs}\n")
    return status


def _session(args: argparse.Namespace, cluster, docs: list, took: float) -> int:
    """The run with its cluster up: apply the manifests, then ``--test``,
    ``--script`` or the interactive CLI.  Returns the run's exit status."""
    from mininet.log import info

    from k8snet.apiserver import apply
    from k8snet.cli.shell import K8sCLI, ping_pods

    spec = cluster.spec
    info(f"*** Cluster {spec.name} up in {took:.1f}s: "
         f"{len(spec.nodes)} nodes, {len(cluster.store.list('Pod'))} system pods\n")
    if docs:
        info(f"*** Applying {', '.join(args.filename)}\n")
        done = apply.apply(cluster.store, docs)
        for line in done.notes + done.lines:
            info(line + "\n")
        waiting = cluster.wait_started(timeout=APPLY_SETTLE)
        if waiting:
            info(f"*** Still starting after {APPLY_SETTLE:g}s: {', '.join(waiting)}\n")
        else:
            unready = cluster.wait_pods_ready(timeout=READY_GRACE)
            if unready:
                info(f"*** Running but not ready after {READY_GRACE:g}s: "
                     f"{', '.join(unready)}\n")
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)   # `sh kubectl ...` in the CLI
    if args.test == "pingall":
        dropped = ping_pods(cluster)
        return 0 if dropped == 0 else 1
    if args.test == "none":
        return 0
    if args.script:
        K8sCLI(cluster.net, cluster, script=args.script)
        return 0
    K8sCLI(cluster.net, cluster)
    return 0


def _kubeconfig() -> int:
    """``k8snet kubeconfig``: the kubeconfig of every running cluster."""
    from k8snet.cluster.rundir import cluster_dirs

    found = [d / "kubeconfig" for d in cluster_dirs() if (d / "kubeconfig").is_file()]
    if not found:
        raise K8snetError("no running k8snet cluster (start one with 'make run-topology')")
    for path in found:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("perf", "bench"):
        from k8snet.perf.cli import main as perf_main
        return perf_main(argv)
    args = _parser().parse_args(argv)
    try:
        if args.command == "kubeconfig":
            return _kubeconfig()
        if args.command == "clean":
            from k8snet.cluster.cleanup import clean
            clean()
            return 0
        return _run(args)
    except K8snetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        from k8snet.cli.shell import Terminated
        if isinstance(exc, Terminated):       # SIGTERM during bring-up
            print("\n*** terminated; cluster torn down", file=sys.stderr)
            return TERMINATED
        print("\n*** interrupted; cluster torn down", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
