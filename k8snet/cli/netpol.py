"""The CLI's NetworkPolicy instruments: ``probe`` (the matrix) and ``netpol``.

``probe`` connects every chosen pod to every chosen pod for real and prints
the truth table beside the oracle's expectation, as cyclonus does;
``netpol model`` creates the e2e suite's namespaces x, y, z with pods a, b,
c; ``netpol cases`` runs the upstream truth tables or the generated cases
against the live lab.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from difflib import get_close_matches
from pathlib import Path

from k8snet.cli.args import ArgParser
from k8snet.errors import K8snetError
from k8snet.netpol import generator, matrix, model
from k8snet.netpol.cases import load, model_pod_keys
from k8snet.netpol.live import LiveLab, refused_cells
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


def not_found(resource: str, name: str, namespace: str = "") -> str:
    """The API server's NotFound line, as kubectl prints it."""
    where = f' in namespace "{namespace}"' if namespace else ""
    return f'Error from server (NotFound): {resource} "{name}" not found{where}'


def pod_problems(store, keys: list[str]) -> list[str]:
    """Why each ``ns/pod`` key cannot be probed, one line per cause (a missing
    namespace once); empty when every pod is there with a pod-network IP."""
    problems: dict[str, None] = {}
    for key in keys:
        ns, _, name = key.partition("/")
        pod = store.find("Pod", ns, name)
        status, spec = (pod or {}).get("status") or {}, (pod or {}).get("spec") or {}
        if store.find("Namespace", "", ns) is None:
            problems[not_found("namespaces", ns)] = None
        elif pod is None:
            problems[not_found("pods", name, ns)] = None
        elif spec.get("hostNetwork"):
            problems[f"error: probe: pod {key} uses its node's network; NetworkPolicy "
                     "does not apply to it"] = None
        elif status.get("phase") in ("Succeeded", "Failed"):
            problems[f"error: probe: pod {key} has finished ({status['phase']})"] = None
        elif not status.get("podIP"):
            problems[f"error: probe: pod {key} has no IP yet"] = None
    return list(problems)


def _probeable(pod: dict) -> bool:
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and not (pod.get("spec") or {}).get("hostNetwork") \
        and status.get("phase") not in ("Succeeded", "Failed")


def _selected(store, namespaces: list[str], selector: str) -> list[str]:
    """The probeable pods of ``namespaces`` (default: outside the system ones)
    matching ``selector``; K8snetError naming every missing namespace."""
    from k8snet.api.selectors import matches, parse
    missing = [not_found("namespaces", ns) for ns in dict.fromkeys(namespaces)
               if store.find("Namespace", "", ns) is None]
    if missing:
        raise K8snetError("\n".join(missing))
    sel = parse(selector) if selector else {}
    return sorted(
        f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in store.list("Pod")
        if _probeable(p) and matches(sel, p["metadata"].get("labels"))
        and (p["metadata"]["namespace"] in namespaces if namespaces
             else p["metadata"]["namespace"] not in SYSTEM_NAMESPACES))


def choose_pods(store, names: list[str], namespaces: list[str], selector: str) -> list[str]:
    """``ns/pod`` keys, sorted; K8snetError naming every missing pod or
    namespace, or when none or too many.  A bare pod name is in the one
    ``-n`` namespace, else in default."""
    if names:
        home = namespaces[0] if len(namespaces) == 1 else "default"
        keys = list(dict.fromkeys(n if "/" in n else f"{home}/{n}" for n in names))
        problems = pod_problems(store, keys)
        if problems:
            raise K8snetError("\n".join(problems))
    else:
        keys = _selected(store, namespaces, selector)
    if not keys:
        where = f" in namespace {', '.join(namespaces)}" if namespaces else ""
        raise K8snetError(f"probe: no pods to probe{where} (name them, or use -n NAMESPACE "
                          "/ -l; a pod needs an IP on the pod network)")
    if len(keys) > MAX_PODS:
        raise K8snetError(f"probe: {len(keys)} pods make an unreadable matrix; choose at most "
                          f"{MAX_PODS} with -n, -l or names")
    return keys


def _container_ports(store, keys: list[str]) -> Iterator[dict]:
    for key in keys:
        ns, _, name = key.partition("/")
        pod = store.find("Pod", ns, name) or {}
        for c in (pod.get("spec") or {}).get("containers") or []:
            yield from c.get("ports") or []


def _declared_ports(store, keys: list[str]) -> list[tuple[int, str]]:
    found = {(int(p.get("containerPort", 0)), p.get("protocol") or "TCP"): None
             for p in _container_ports(store, keys)}
    return sorted(found, key=lambda pp: (pp[1] != "TCP", pp[1], pp[0]))


def check_port_names(store, keys: list[str], probes: list[tuple[int | str, str]],
                     named: bool, protocol_given: bool) -> None:
    """K8snetError for each port name of ``probes`` that no pod of ``keys``
    declares (with that protocol), saying where it was looked for; ``named``:
    the pods were named rather than chosen by namespace or selector."""
    declared = {(p["name"], p.get("protocol") or "TCP") for p in _container_ports(store, keys)
                if p.get("name")}
    spaces = sorted({k.partition("/")[0] for k in keys})
    where = (f"none of the pods {', '.join(keys)} declares" if named else
             f"no pod in namespace{'s' if len(spaces) > 1 else ''} {', '.join(spaces)} "
             "declares")
    names = sorted({n for n, _ in declared})
    have = (f"declared: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}"
            if names else "they declare no named ports")
    def other(port: str, proto: str) -> str:
        found = sorted({p for n, p in declared if n == port and p != proto})
        return (f"; it is declared for {', '.join(found)}: add --protocols "
                f"{','.join(p.lower() for p in found)}") if found else ""

    problems = [f'error: probe: {where} a port named "{port}"'
                f'{f" with protocol {proto}" if protocol_given or other(port, proto) else ""}'
                f' ({have}{other(port, proto)})'
                for port, proto in probes
                if isinstance(port, str) and (port, proto) not in declared]
    if problems:
        raise K8snetError("\n".join(problems))


def _probes(args, store, keys: list[str]) -> list[tuple[int | str, str]]:
    protocols = [p.strip().upper() for p in args.protocols.split(",") if p.strip()]
    bad = [p for p in protocols if p not in ("TCP", "UDP", "SCTP")]
    if bad:
        raise K8snetError(f"probe: unknown protocol {', '.join(bad)} (tcp, udp, sctp)")
    if args.ports:
        ports = [int(p) if p.strip().isdigit() else p.strip()
                 for p in args.ports.split(",") if p.strip()]
        probes = [(port, proto) for proto in protocols or ["TCP"] for port in ports]
        check_port_names(store, keys, probes, bool(args.pods), bool(protocols))
        return probes
    declared = [pp for pp in _declared_ports(store, keys)
                if not protocols or pp[1] in protocols]
    if not declared:
        raise K8snetError("probe: the pods declare no ports; say which with --ports")
    return declared[:8]


def undeclared(store, keys: list[str], port: int | str, protocol: str) -> list[str]:
    """The pods of ``keys`` that declare no container port ``port``/``protocol``
    (a number; names are checked before probing): nothing may listen there."""
    if not isinstance(port, int):
        return []
    return [k for k in keys if not any(
        int(p.get("containerPort", 0)) == port and (p.get("protocol") or "TCP") == protocol
        for p in _container_ports(store, [k]))]


def probe_command(cluster, words: list[str], out: Out) -> int:
    """``probe``: the live matrix beside the oracle's; the number of discrepancies.

    A cell the pod refused (TCP reset, ICMP port unreachable) reached the pod
    through the policy: it is marked ``R`` and compared as allowed."""
    args = _probe_parser().parse_args(words)
    keys = choose_pods(cluster.store, args.pods, args.namespace, args.selector)
    probes = _probes(args, cluster.store, keys)
    lab = lab_of(cluster)
    lab.timeout = args.timeout
    observed = lab.probe(keys, keys, probes, args.via)
    snap = from_store(cluster.store)
    matrices, comparisons, bad, compared, skipped, refused = [], [], 0, 0, 0, 0
    for (port, proto), (table, errors) in zip(probes, observed, strict=True):
        why = lab.unsupported.get(proto)
        got = matrix.Matrix.from_table(port, proto, table, keys, keys,
                                       {(s, d): why for s in keys for d in keys}
                                       if why else None, refused_cells(errors))
        want = matrix.Matrix.from_table(port, proto, truth_table(snap, keys, keys, port, proto),
                                        keys, keys)
        comparison = matrix.compare(want, got)
        bad += len(comparison.discrepancies)
        compared, skipped = compared + comparison.total, skipped + comparison.not_run
        refused += comparison.refused
        matrices.append(got)
        comparisons.append(comparison)
        if args.output == "table":
            idle = undeclared(cluster.store, keys, port, proto)
            if idle and not why:
                out(f"warning: probe: {', '.join(idle)} "
                    f"{'declares' if len(idle) == 1 else 'declare'} no port {port}/{proto}: "
                    f"nothing may listen there ({matrix.REFUSED} where the pod refuses)\n")
            out(matrix.render_comparison(want, got))
            for (s, d), err in sorted(errors.items()):
                if comparison and any(x[:2] == (s, d) for x in comparison.discrepancies):
                    out(f"  {s} -> {d}: {err}\n")
    if args.output == "json":
        out(json.dumps(matrix.to_json(matrices, comparisons), indent=2) + "\n")
    else:
        plural = "" if refused == 1 else "s"
        verdict = (f"{bad} discrepancies" if bad else "no cell was run" if not compared
                   else "the lab agrees with the oracle")
        out(f"*** {len(probes)} probes of {len(keys)}x{len(keys)} pods: {verdict}"
            f"{f'; {refused} cell{plural} refused (reached, not served)' if refused else ''}"
            f"{f'; {skipped} cells not run' if skipped else ''}\n")
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
    which = args.rest[0] if args.rest else "upstream"
    cases = _cases(which)
    names = set(args.rest[1:])
    if names:
        cases = _named_cases(which, cases, args.rest[1:])
    if args.sample:
        cases = generator.sample(cases, args.sample, seed=1)
    pods = model_pod_keys()
    failed, not_run = 0, {}
    for case in cases:
        lab.reset_model()
        outcomes = lab.run_case(case, pods, args.via)
        bad = [o for o in outcomes if o.discrepancies]
        skipped = {o.protocol: o.not_run for o in outcomes if o.not_run}
        failed += bool(bad)
        if bad or not skipped:
            out(f"{'FAIL' if bad else 'ok  '} {case.name}\n")
        else:
            not_run[case.name] = skipped
            out(f"skip {case.name}: {', '.join(skipped)} not run\n")
        for o in bad:
            out(f"     step {o.step} {o.port}/{o.protocol}: " + "; ".join(
                f"{s}->{d} expected {'allowed' if w else 'blocked'}"
                f"{', got refused: reached the pod' if (s, d) in o.refused else ''}"
                for s, d, w, _ in o.discrepancies[:6]) + "\n")
        quiet = sorted({c for o in outcomes for c in o.refused} - {
            (s, d) for o in bad for s, d, _, _ in o.discrepancies})
        if quiet:
            out(f"     refused (reached the pod, nothing listens): "
                f"{', '.join(f'{s}->{d}' for s, d in quiet[:6])}"
                f"{', ...' if len(quiet) > 6 else ''}\n")
    lab.reset_model()
    out(case_summary(len(cases), failed, not_run))
    return failed


def case_summary(total: int, failed: int, not_run: dict[str, dict[str, str]]) -> str:
    """``*** 2/2 cases agree; 1 not run: SCTP is not supported ...``: the cases
    not run (case -> {protocol: reason}) count neither as agreeing nor failed."""
    ran = total - len(not_run)
    reasons = dict.fromkeys(why for skipped in not_run.values() for why in skipped.values())
    tail = f"; {len(not_run)} not run: {'; '.join(reasons)}" if not_run else ""
    return f"*** {ran - failed}/{ran} cases agree{tail}\n"


def _named_cases(which: str, cases: list, names: list[str]) -> list:
    """The cases called ``names``, in file order; K8snetError naming the unknown ones."""
    known = [c.name for c in cases]
    unknown = [n for n in dict.fromkeys(names) if n not in known]
    if unknown:
        near = dict.fromkeys(m for n in unknown for m in get_close_matches(n, known, 3))
        hint = (f"did you mean {', '.join(near)}?" if near else
                f"known: {', '.join(known[:5])}{', ...' if len(known) > 5 else ''}")
        quoted = ", ".join(f'"{n}"' for n in unknown)
        raise K8snetError(f"netpol cases: no case named {quoted} in {which} "
                          f"({len(known)} cases; {hint})")
    return [c for c in cases if c.name in names]
