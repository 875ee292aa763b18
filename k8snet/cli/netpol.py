"""The CLI's NetworkPolicy instruments: ``probe`` (the matrix) and ``netpol``.

``probe`` connects every chosen pod to every chosen pod for real and prints
the truth table beside the oracle's expectation, as cyclonus does;
``netpol model`` creates the e2e suite's namespaces x, y, z with pods a, b,
c; ``netpol cases`` runs the upstream truth tables or the generated cases
against the live lab.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from k8snet.cli.args import ArgParser
from k8snet.errors import K8snetError
from k8snet.netpol import generator, matrix, model
from k8snet.netpol.cases import load, model_pod_keys
from k8snet.netpol.live import LiveLab
from k8snet.netpol.oracle import truth_table
from k8snet.netpol.snapshot import from_store

SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "ingress-nginx")
MAX_PODS = 30                 # a wider matrix is no longer readable
UPSTREAM = Path(__file__).resolve().parent.parent / "netpol" / "cases" / "upstream.yaml"

Out = Callable[[str], None]


def lab_of(cluster) -> LiveLab:
    """A LiveLab over a running cluster."""
    return LiveLab(cluster.store, lambda pod: cluster.pods.runtime(pod).netns,
                   list(cluster.netpols.values()))


def _probe_parser() -> ArgParser:
    p = ArgParser(prog="probe", add_help=False)
    p.add_argument("pods", nargs="*", help="NS/POD (default: every pod outside the system "
                                           "namespaces, or those of -n / -l)")
    p.add_argument("-n", "--namespace", action="append", default=[])
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--ports", default="", help="80,81 or serve-80-tcp (default: the pods' "
                                               "declared ports)")
    p.add_argument("--protocols", default="", help="tcp,udp,sctp")
    p.add_argument("--via", choices=("pod", "service"), default="pod")
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    return p


def choose_pods(store, names: list[str], namespaces: list[str], selector: str) -> list[str]:
    """``ns/pod`` keys, sorted; K8snetError when none or too many."""
    from k8snet.api.selectors import matches, parse
    if names:
        keys = [n if "/" in n else f"default/{n}" for n in names]
    else:
        sel = parse(selector) if selector else {}
        keys = sorted(
            f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in store.list("Pod")
            if (p.get("status") or {}).get("podIP")
            and not (p.get("spec") or {}).get("hostNetwork")
            and (p["metadata"]["namespace"] in namespaces if namespaces
                 else p["metadata"]["namespace"] not in SYSTEM_NAMESPACES)
            and matches(sel, p["metadata"].get("labels")))
    if not keys:
        raise K8snetError("probe: no pods to probe (name them, or use -n NAMESPACE / -l)")
    if len(keys) > MAX_PODS:
        raise K8snetError(f"probe: {len(keys)} pods make an unreadable matrix; choose at most "
                          f"{MAX_PODS} with -n, -l or names")
    return keys


def _declared_ports(store, keys: list[str]) -> list[tuple[int, str]]:
    found: dict[tuple[int, str], None] = {}
    for key in keys:
        ns, _, name = key.partition("/")
        pod = store.find("Pod", ns, name) or {}
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                found[(int(p.get("containerPort", 0)), p.get("protocol") or "TCP")] = None
    return sorted(found, key=lambda pp: (pp[1] != "TCP", pp[1], pp[0]))


def _probes(args, store, keys: list[str]) -> list[tuple[int | str, str]]:
    protocols = [p.strip().upper() for p in args.protocols.split(",") if p.strip()]
    bad = [p for p in protocols if p not in ("TCP", "UDP", "SCTP")]
    if bad:
        raise K8snetError(f"probe: unknown protocol {', '.join(bad)} (tcp, udp, sctp)")
    if args.ports:
        ports = [int(p) if p.strip().isdigit() else p.strip()
                 for p in args.ports.split(",") if p.strip()]
        return [(port, proto) for proto in protocols or ["TCP"] for port in ports]
    declared = [pp for pp in _declared_ports(store, keys)
                if not protocols or pp[1] in protocols]
    if not declared:
        raise K8snetError("probe: the pods declare no ports; say which with --ports")
    return declared[:8]


def probe_command(cluster, words: list[str], out: Out) -> int:
    """``probe``: the live matrix beside the oracle's; the number of discrepancies."""
    args = _probe_parser().parse_args(words)
    keys = choose_pods(cluster.store, args.pods, args.namespace, args.selector)
    probes = _probes(args, cluster.store, keys)
    lab = lab_of(cluster)
    lab.timeout = args.timeout
    observed = lab.probe(keys, keys, probes, args.via)
    snap = from_store(cluster.store)
    matrices, comparisons, bad = [], [], 0
    for (port, proto), (table, errors) in zip(probes, observed, strict=True):
        got = matrix.Matrix.from_table(port, proto, table, keys, keys)
        want = matrix.Matrix.from_table(port, proto, truth_table(snap, keys, keys, port, proto),
                                        keys, keys)
        comparison = matrix.compare(want, got)
        bad += len(comparison.discrepancies)
        matrices.append(got)
        comparisons.append(comparison)
        if args.output == "table":
            out(matrix.render_comparison(want, got))
            for (s, d), err in sorted(errors.items()):
                if comparison and any(x[:2] == (s, d) for x in comparison.discrepancies):
                    out(f"  {s} -> {d}: {err}\n")
    if args.output == "json":
        out(json.dumps(matrix.to_json(matrices, comparisons), indent=2) + "\n")
    else:
        out(f"*** {len(probes)} probes of {len(keys)}x{len(keys)} pods: "
            f"{'the lab agrees with the oracle' if not bad else f'{bad} discrepancies'}\n")
    return bad


def _cases(which: str) -> list:
    if which == "upstream":
        return load(UPSTREAM)
    if which == "generated":
        return generator.generate()
    path = Path(which)
    if not path.exists():
        raise K8snetError(f"netpol cases: no such case file or set '{which}' "
                          "(upstream, generated or a YAML file)")
    return load(path)


def netpol_command(cluster, words: list[str], out: Out) -> int:
    """``netpol model|cases|clear``; the number of failed cases for ``cases``."""
    p = ArgParser(prog="netpol", add_help=False)
    p.add_argument("action", choices=("model", "cases", "clear"))
    p.add_argument("rest", nargs="*")
    p.add_argument("--via", choices=("pod", "service"), default="service")
    p.add_argument("--sample", type=int, default=0)
    p.add_argument("--protocols", default="tcp,udp")
    args = p.parse_args(words)
    lab = lab_of(cluster)
    if args.action == "model":
        protocols = tuple(x.strip().upper() for x in args.protocols.split(",") if x.strip())
        for obj in model.objects(protocols):
            kind, meta = obj["kind"], obj["metadata"]
            if cluster.store.find(kind, meta.get("namespace", ""), meta["name"]) is None:
                cluster.store.create(obj)
        waiting = cluster.wait_ready(model.MODEL_NAMESPACES, timeout=30)
        if waiting:
            raise K8snetError(f"netpol model: not ready after 30s: {', '.join(waiting)}")
        lab.wait_connected(model_pod_keys())
        out("*** model ready: namespaces x, y, z with pods a, b, c; try: probe -n x -n y -n z\n")
        return 0
    if args.action == "clear":
        lab.clear_policies(model.MODEL_NAMESPACES)
        out("*** deleted the NetworkPolicies of namespaces x, y, z\n")
        return 0
    cases = _cases(args.rest[0] if args.rest else "upstream")
    names = set(args.rest[1:])
    if names:
        cases = [c for c in cases if c.name in names]
    if args.sample:
        cases = generator.sample(cases, args.sample, seed=1)
    pods = model_pod_keys()
    failed = 0
    for case in cases:
        lab.reset_model()
        outcomes = lab.run_case(case, pods, args.via)
        bad = [o for o in outcomes if o.discrepancies]
        failed += bool(bad)
        out(f"{'FAIL' if bad else 'ok  '} {case.name}\n")
        for o in bad:
            out(f"     step {o.step} {o.port}/{o.protocol}: " + "; ".join(
                f"{s}->{d} expected {'allowed' if w else 'blocked'}"
                for s, d, w, _ in o.discrepancies[:6]) + "\n")
    lab.reset_model()
    out(f"*** {len(cases) - failed}/{len(cases)} cases agree\n")
    return failed
