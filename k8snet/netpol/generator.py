"""Generated NetworkPolicy cases over the e2e model, in the manner of cyclonus.

One dimension of a base policy varies at a time (target, peers, ports,
policyTypes), then multi-step cases (update, delete, relabel) and conflicts.
The base policy (x, ``pod=a``) allows 80/TCP from ``pod in (b,c)`` in ``ns in
(x,y)`` and to ``pod in (a,b)`` in ``ns in (y,z)``.  The oracle decides every
probe: 80/TCP, 81/UDP and at most two more per step.  Tags (``TAG_CATEGORIES``)
come from the policies (``describe``) plus the case's action and conflict.
CLI: ``python3 -m k8snet.netpol.generator [--out FILE] [--count] [--sample N --seed S]``.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import sys
from collections.abc import Iterable, Sequence

import yaml

from k8snet.netpol.cases import Case, Probe, Step, to_dict

NAME_LABEL = "kubernetes.io/metadata.name"
POD_CIDR, NODE1_CIDR, NODE2_CIDR = "10.244.0.0/16", "10.244.1.0/24", "10.244.2.0/24"
BASE_PROBES, MAX_PROBES = ((80, "TCP"), (81, "UDP")), 4
DIRECTIONS = ("ingress", "egress")
TAG_CATEGORIES: dict[str, tuple[str, ...]] = {
    "target": ("target-all-pods", "target-pods-by-label", "target-in", "target-not-in",
               "target-exists", "target-does-not-exist", "target-namespace-y"),
    "direction": DIRECTIONS, "protocol": ("tcp", "udp", "sctp"),
    "rule": ("deny-all", "allow-all", "any-peer", "any-port", "multi-peer", "multi-port",
             "multi-rule", "policy-types-defaulted", "rules-ignored"),
    "peer": ("peer-pods-all", "peer-pods-by-label", "peer-pods-by-expression",
             "peer-namespaces-all", "peer-namespaces-by-label", "peer-namespaces-by-expression",
             "peer-namespace-name-label", "peer-pods-and-namespaces", "peer-ipblock",
             "peer-ipblock-except", "peer-pod-cidr"),
    "port": ("numbered-port", "named-port", "end-port", "protocol-only", "default-protocol"),
    "action": ("update-policy", "delete-policy", "set-pod-labels", "set-namespace-labels"),
    "conflict": ("deny-and-allow", "ingress-vs-egress", "union"), "misc": ("pathological",)}
CATEGORY = {tag: cat for cat, tags in TAG_CATEGORIES.items() for tag in tags}
_TARGET_OPS = {"In": "target-in", "NotIn": "target-not-in", "Exists": "target-exists",
               "DoesNotExist": "target-does-not-exist"}


def _set(fields: dict) -> dict:    # without the unset fields (None, [] and {})
    return {k: v for k, v in fields.items() if v is not None and v != [] and v != {}}


def expr(key: str, op: str, *values: str) -> dict:
    """A matchExpressions requirement; no values for Exists and DoesNotExist."""
    return _set({"key": key, "operator": op, "values": list(values)})


def sel(labels: dict | None = None, *exprs: dict) -> dict:
    """A LabelSelector: ``sel()`` is empty (everything), ``sel({"pod": "a"})``, ..."""
    return _set({"matchLabels": dict(labels or {}), "matchExpressions": list(exprs)})


def port(number: int | str | None = None, protocol: str | None = "TCP",
         end: int | None = None) -> dict:
    """A NetworkPolicyPort; ``protocol=None`` leaves it to the API's default (TCP)."""
    return _set({"protocol": protocol, "port": number, "endPort": end})


def peer(pods: dict | None = None, namespaces: dict | None = None) -> dict:
    """A peer of pods (``podSelector``) and/or namespaces (``namespaceSelector``)."""
    return {k: v for k, v in (("podSelector", pods), ("namespaceSelector", namespaces))
            if v is not None}


def rule(direction: str, peers: list | None = None, ports: list | None = None) -> dict:
    """An ingress (``from``) or egress (``to``) rule; None or [] leaves a field out (any)."""
    return _set({"from" if direction == "ingress" else "to": peers, "ports": ports})


def policy(name: str, ingress: list | None = None, egress: list | None = None,
           target: dict | None = None, ns: str = "x", types: list | None = None) -> dict:
    """A NetworkPolicy.  ``ingress``/``egress``: rules ([] denies all), None when not
    governed; ``types`` defaults to the governed ones, ``[]`` to the API server's."""
    if types is None:
        types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
    spec = {"podSelector": sel({"pod": "a"}) if target is None else target,
            **_set({"ingress": ingress, "egress": egress, "policyTypes": list(types)})}
    return json.loads(json.dumps({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                  "metadata": {"name": name, "namespace": ns}, "spec": spec}))


def one_way(name: str, direction: str, rules: list, **kw) -> dict:   # governs only direction
    return policy(name, **{direction: rules}, **kw)


BASE_PEERS = {"ingress": peer(sel(None, expr("pod", "In", "b", "c")),
                              sel(None, expr("ns", "In", "x", "y"))),
              "egress": peer(sel(None, expr("pod", "In", "a", "b")),
                             sel(None, expr("ns", "In", "y", "z")))}


def base_rule(direction: str, ports: list | None = None, peers: list | None = None) -> dict:
    """The base policy's rule for ``direction``, its ports or peers replaced when given."""
    return rule(direction, [BASE_PEERS[direction]] if peers is None else peers,
                [port(80)] if ports is None else ports)


def step(*policies: dict, probes: Iterable[tuple[int, str]] = (), delete: Sequence[str] = (),
         pods: dict | None = None, namespaces: dict | None = None) -> Step:
    """A step: policies to create or replace, then 80/TCP, 81/UDP and ``probes``."""
    pairs = list(dict.fromkeys([*BASE_PROBES, *probes]))
    if len(pairs) > MAX_PROBES:
        raise ValueError(f"at most {MAX_PROBES} probes per step: {pairs}")
    return Step(tuple(copy.deepcopy(p) for p in policies), tuple(delete),
                copy.deepcopy(pods or {}), copy.deepcopy(namespaces or {}),
                tuple(Probe(n, proto) for n, proto in pairs))


def _on(*pairs: tuple[str, object]) -> set[str]:
    return {tag for tag, on in pairs if on}


def _kinds(s: dict) -> tuple[bool, bool, bool]:    # (empty, matchLabels, matchExpressions)
    labels, exprs = bool(s.get("matchLabels")), bool(s.get("matchExpressions"))
    return not (labels or exprs), labels, exprs


def _peer_tags(p: dict) -> set[str]:
    block, pods, nss = (p.get(k) for k in ("ipBlock", "podSelector", "namespaceSelector"))
    if block is not None:
        return _on(("peer-pod-cidr", block["cidr"] == POD_CIDR),
                   ("peer-ipblock", block["cidr"] != POD_CIDR),
                   ("peer-ipblock-except", block.get("except")))
    keys = {*(nss or {}).get("matchLabels", {}),
            *(e["key"] for e in (nss or {}).get("matchExpressions", []))}
    tags = _on(("peer-pods-and-namespaces", pods is not None and nss is not None),
               ("peer-namespace-name-label", NAME_LABEL in keys))
    for s, kind in ((pods, "pods"), (nss, "namespaces")):
        empty, labels, exprs = _kinds(s) if s is not None else (False, False, False)
        tags |= _on((f"peer-{kind}-all", empty), (f"peer-{kind}-by-label", labels),
                    (f"peer-{kind}-by-expression", exprs))
    return tags


def _port_tags(p: dict) -> set[str]:
    number = p.get("port")
    return _on((p.get("protocol", "TCP").lower(), True), ("default-protocol", "protocol" not in p),
               ("protocol-only", number is None), ("numbered-port", isinstance(number, int)),
               ("named-port", isinstance(number, str)), ("end-port", "endPort" in p))


def describe(pol: dict) -> set[str]:
    """The tags a policy earns by itself: target, directions, rules, peers, ports."""
    spec = pol["spec"]
    empty, labels, _ = _kinds(spec["podSelector"])
    tags = _on(("target-namespace-y", pol["metadata"]["namespace"] == "y"),
               ("target-all-pods", empty), ("target-pods-by-label", labels),
               ("policy-types-defaulted", "policyTypes" not in spec))
    tags |= {_TARGET_OPS[e["operator"]] for e in spec["podSelector"].get("matchExpressions", [])}
    types = spec.get("policyTypes") or ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for kind, key, peer_key in (("Ingress", "ingress", "from"), ("Egress", "egress", "to")):
        rules = spec.get(key) or []
        if kind not in types:
            tags |= _on(("rules-ignored", rules))
            continue
        tags |= _on((key, True), ("deny-all", not rules), ("multi-rule", len(rules) > 1))
        for r in rules:
            peers, ports = r.get(peer_key) or [], r.get("ports") or []
            tags |= _on(("allow-all", not peers and not ports),
                        ("any-peer", ports and not peers), ("any-port", peers and not ports),
                        ("multi-peer", len(peers) > 1), ("multi-port", len(ports) > 1))
            tags = tags.union(*map(_peer_tags, peers), *map(_port_tags, ports))
    return tags


def case(name: str, *steps: Step, tags: Iterable[str] = ()) -> Case:
    """A case whose tags are ``tags`` plus what its policies describe, in category order."""
    found = set(tags).union(*(describe(p) for s in steps for p in s.policies))
    if found - CATEGORY.keys():
        raise ValueError(f"{name}: unknown tags {sorted(found - CATEGORY.keys())}")
    return Case(name, tuple(steps), source="k8snet.netpol.generator",
                tags=tuple(sorted(found, key=list(CATEGORY).index)))


T81, U80 = ((81, "TCP"),), ((80, "UDP"),)       # the extra probe a port case is about
SERVE_81_UDP = port("serve-81-udp", "UDP")
TARGETS = {"all-pods": sel(), "pod-a": sel({"pod": "a"}),
           "pod-in-a-b": sel(None, expr("pod", "In", "a", "b")),
           "pod-not-in-a": sel(None, expr("pod", "NotIn", "a")),
           "pod-exists": sel(None, expr("pod", "Exists")),
           "pod-does-not-exist": sel(None, expr("pod", "DoesNotExist")),
           "pod-b-not-in-c": sel({"pod": "b"}, expr("pod", "NotIn", "c"))}
PEERS = {"all-pods": peer(sel()), "pods-by-label": peer(sel({"pod": "c"})),
         "pods-by-expression": peer(sel(None, expr("pod", "NotIn", "a"))),
         "all-namespaces": peer(None, sel()), "namespaces-by-label": peer(None, sel({"ns": "y"})),
         "namespaces-by-expression": peer(None, sel(None, expr("ns", "In", "x", "z"))),
         "namespace-by-name": peer(None, sel({NAME_LABEL: "z"})),
         "namespace-name-not-in": peer(None, sel(None, expr(NAME_LABEL, "NotIn", "x"))),
         "pod-c-and-ns-y": peer(sel({"pod": "c"}), sel({"ns": "y"})),
         "all-pods-all-namespaces": peer(sel(), sel()),
         "pod-b-all-namespaces": peer(sel({"pod": "b"}), sel()),
         "ipblock-all-except-node1": {"ipBlock": {"cidr": "0.0.0.0/0", "except": [NODE1_CIDR]}},
         "ipblock-pod-cidr-except-node2": {"ipBlock": {"cidr": POD_CIDR, "except": [NODE2_CIDR]}},
         "ipblock-pod-cidr": {"ipBlock": {"cidr": POD_CIDR}}}
PEER_PAIRS = (("pods-by-label", "namespaces-by-label"),  # OR, against pod-c-and-ns-y (AND)
              ("all-pods", "ipblock-pod-cidr-except-node2"),
              ("namespace-by-name", "pods-by-expression"),
              ("pod-c-and-ns-y", "ipblock-all-except-node1"),
              ("all-namespaces", "ipblock-pod-cidr-except-node2"))
PORTS = {  # name: (the rule's ports, extra probes)
    "80-tcp": ([port(80)], ()), "81-tcp": ([port(81)], T81), "81-udp": ([port(81, "UDP")], ()),
    "80-udp": ([port(80, "UDP")], U80), "80-default-protocol": ([port(80, None)], T81),
    "tcp-only": ([port()], T81), "udp-only": ([port(None, "UDP")], U80),
    "sctp-only": ([port(None, "SCTP")], ()), "80-sctp": ([port(80, "SCTP")], ()),
    "range-81-84-sctp": ([port(81, "SCTP", 84)], ()), "unserved-number": ([port(7981)], ()),
    "serve-80-tcp": ([port("serve-80-tcp")], T81), "serve-81-tcp": ([port("serve-81-tcp")], T81),
    "serve-80-udp": ([port("serve-80-udp", "UDP")], U80), "serve-81-udp": ([SERVE_81_UDP], U80),
    "serve-81-udp-as-tcp": ([port("serve-81-udp")], T81),
    "unserved-name": ([port("serve-7981-udp", "UDP")], U80),
    "range-80-81-tcp": ([port(80, "TCP", 81)], T81), "range-53-80-tcp": ([port(53, end=80)], T81),
    "range-80-81-udp": ([port(80, "UDP", 81)], U80),
    "80-tcp-and-81-udp": ([port(80), port(81, "UDP")], T81),
    "80-and-serve-81-tcp": ([port(80, None), port("serve-81-tcp")], T81),
    "udp-and-80-tcp": ([port(None, "UDP"), port(80)], U80),
    "80-udp-and-serve-81-udp": ([port(80, "UDP"), SERVE_81_UDP], U80),
    "any-tcp-and-any-udp": ([port(None, None), port(None, "UDP")], T81)}
PATHOLOGICAL_PORTS = ("serve-81-udp-as-tcp", "unserved-name", "unserved-number")


def to_peers(name: str, d: str, *peers: str, ports: list | None = None, **kw) -> dict:
    """A policy with one rule in direction ``d`` from/to the ``PEERS`` named (none:
    the base policy's peers)."""
    return one_way(name, d, [base_rule(d, ports, [PEERS[p] for p in peers] or None)], **kw)


def one_dimension_cases() -> list[Case]:
    """The base policy with its target, its peers or its ports varied."""
    out = [case(f"target-{ns}-{slug}-{d}",
                step(one_way("base", d, [base_rule(d)], target=selector, ns=ns)))
           for ns in ("x", "y") for slug, selector in TARGETS.items() for d in DIRECTIONS]
    for d in DIRECTIONS:
        out.append(case(f"peer-{d}-any-peer", step(one_way("base", d, [rule(d, [], [port(80)])]))))
        out += [case(f"peer-{d}-{slug}", step(to_peers("base", d, slug))) for slug in PEERS]
        out += [case(f"peer-{d}-{a}-or-{b}", step(to_peers("base", d, a, b)))
                for a, b in PEER_PAIRS]
        out.append(case(f"peer-{d}-two-rules", step(one_way("base", d, [
            rule(d, [PEERS["pods-by-label"]], [port(80)]),
            rule(d, [PEERS["namespaces-by-label"]], [port(81, "UDP")])]))))
    return out + [case(f"port-{d}-{slug}", step(to_peers("base", d, ports=ports), probes=extra),
                       tags=("pathological",) if slug in PATHOLOGICAL_PORTS else ())
                  for d in DIRECTIONS for slug, (ports, extra) in PORTS.items()]


def rule_cases() -> list[Case]:
    """Deny-all and allow-all per policyTypes, and policyTypes against the rules."""
    out = [case(f"rules-{verdict}-{d}-{slug}", step(policy(verdict, ing, eg, target=target)))
           for slug, target in (("all-pods", sel()), ("pod-a", sel({"pod": "a"})))
           for verdict, rules in (("deny-all", []), ("allow-all", [{}]))
           for d, ing, eg in (("ingress", rules, None), ("egress", None, rules),
                              ("both", rules, rules))]
    ing, eg = [base_rule("ingress")], [base_rule("egress")]
    return out + [case(f"rules-{slug}", step(policy("base", *rules, types=types)),
                       tags=("pathological",) if odd else ())
                  for slug, rules, types, odd in (
                      ("both-with-rules", (ing, eg), None, False),
                      ("ingress-rule-deny-egress", (ing, []), None, False),
                      ("egress-rule-deny-ingress", ([], eg), None, False),
                      ("types-defaulted-ingress", (ing, None), [], False),
                      ("types-defaulted-egress", (None, eg), [], True),
                      ("ingress-type-ignores-egress-rules", (ing, eg), ["Ingress"], True),
                      ("egress-type-ignores-ingress-rules", (ing, eg), ["Egress"], True))]


def action_cases() -> list[Case]:
    """Multi-step: update, delete, relabel a pod, relabel a namespace."""
    out, y_back = [], {"y": {"ns": "y", NAME_LABEL: "y"}}
    for d in DIRECTIONS:
        base = one_way("base", d, [base_rule(d)])
        updates = {"ports": (base, one_way("base", d, [base_rule(d, [SERVE_81_UDP])])),
                   "peers": (base, to_peers("base", d, "all-namespaces", ports=[port(80)])),
                   "target": (base, one_way("base", d, [base_rule(d)], target=sel())),
                   "deny-to-allow": (one_way("base", d, []), one_way("base", d, [{}]))}
        out += [case(f"action-{d}-update-{slug}", step(old), step(new), tags=("update-policy",))
                for slug, (old, new) in updates.items()]
        out.append(case(f"action-{d}-create-delete", step(base), step(delete=["x/base"]),
                        tags=("delete-policy",)))
        role = to_peers("role-db", d, "all-namespaces", ports=[port(81, "UDP")],
                        target=sel({"role": "db"}))          # x/b joins the target, then leaves
        new_label = one_way("base", d, [rule(d, [peer(sel({"new-label": "abc"}),  # a new peer
                                                      sel(None, expr("ns", "In", "y", "z")))])])
        new_ns = one_way("base", d, [rule(d, [peer(None, sel({"new-ns": "qrs"}))])])
        out += [case(f"action-{d}-relabel-{slug}", step(pol), step(**{kind: on}),
                     step(**{kind: off}), tags=(tag,))
                for slug, pol, kind, on, off, tag in (
                    ("target-pod", role, "pods", {"x/b": {"pod": "b", "role": "db"}},
                     {"x/b": {"pod": "b"}}, "set-pod-labels"),
                    ("peer-pod", new_label, "pods", {"y/b": {"pod": "b", "new-label": "abc"}},
                     {"y/b": {"pod": "b"}}, "set-pod-labels"),
                    ("peer-namespace", new_ns, "namespaces",
                     {"y": {**y_back["y"], "new-ns": "qrs"}}, y_back, "set-namespace-labels"))]
    unlabelled = policy("deny-unlabelled", [], target=sel(None, expr("pod", "DoesNotExist")))
    return out + [
        case("action-both-deny-all-delete", step(policy("deny-all", [], [], target=sel())),
             step(delete=["x/deny-all"]), tags=("delete-policy",)),
        case("action-ingress-union-then-delete-one",
             step(to_peers("allow-b", "ingress", "pods-by-label"),
                  to_peers("allow-y", "ingress", "namespaces-by-label")),
             step(delete=["x/allow-y"]), tags=("delete-policy", "union")),
        case("action-ingress-pod-loses-label", step(unlabelled),
             step(pods={"x/c": {"app": "c"}}), step(pods={"x/c": {"pod": "c"}}),
             tags=("set-pod-labels",)),
        case("action-ingress-namespace-loses-label",
             step(to_peers("base", "ingress", "namespaces-by-label")),
             step(namespaces={"y": {"ns": "renamed", NAME_LABEL: "y"}}),
             step(namespaces=y_back), tags=("set-namespace-labels",))]


def conflict_cases() -> list[Case]:
    """Several policies at once: egress from x/b, ingress to y/c (as cyclonus)."""
    by_pod, by_ip = [peer(None, sel())], [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    no_ip, no_pod = [{"ipBlock": {"cidr": "0.0.0.0/31"}}], [peer(None, sel({"never": "qrs123"}))]

    def pol(name: str, peers: list | None, d: str) -> dict:   # None: deny all, []: allow all
        ns, pod = ("x", "b") if d == "egress" else ("y", "c")
        return one_way(f"{name}-{d}", d, [] if peers is None else [rule(d, peers)],
                       target=sel({"pod": pod}), ns=ns)

    deny, allow = ("deny-all", None), ("allow-all", [])
    out = [case(f"conflict-{slug}", step(pol(*first, "egress"), pol(*second, "ingress")),
                tags=("ingress-vs-egress",))
           for slug, first, second in (("deny-egress-allow-ingress", deny, allow),
                                       ("allow-egress-deny-ingress", allow, deny))]
    out += [case(f"conflict-{d}-{slug}", step(pol(*first, d), pol(*second, d)), tags=(tag,))
            for d in DIRECTIONS for slug, first, second, tag in (
                ("deny-all-allow-all", deny, allow, "deny-and-allow"),
                ("deny-all-allow-by-pod", deny, ("by-pod", by_pod), "deny-and-allow"),
                ("deny-all-allow-by-ip", deny, ("by-ip", by_ip), "deny-and-allow"),
                ("no-ip-allow-by-pod", ("no-ip", no_ip), ("by-pod", by_pod), "union"),
                ("no-pod-allow-by-ip", ("no-pod", no_pod), ("by-ip", by_ip), "union"))]
    ns_y = {d: to_peers("ns-y", d, "namespaces-by-label") for d in DIRECTIONS}
    unions = {"ingress-overlapping-ports": (
                  to_peers("allow-b-80", "ingress", "pods-by-label", ports=[port(80)]),
                  to_peers("udp-y", "ingress", "namespaces-by-label", ports=[port(None, "UDP")])),
              "ingress-except-filled-by-pods": (
                  to_peers("cidr", "ingress", "ipblock-pod-cidr-except-node2"), ns_y["ingress"]),
              "egress-namespace-and-pod": (
                  ns_y["egress"], to_peers("to-pod-b", "egress", "pod-b-all-namespaces"))}
    out += [case(f"conflict-{slug}", step(*pols), tags=("union",)) for slug, pols in unions.items()]
    return out + [case("conflict-namespace-isolated-both-ways", step(
        policy("deny-ingress", [], target=sel()), policy("deny-egress", None, [], target=sel())),
        tags=("deny-and-allow",))]


def generate() -> list[Case]:
    """Every generated case, in a stable order with unique names."""
    return one_dimension_cases() + rule_cases() + action_cases() + conflict_cases()


def sample(cases: Sequence[Case], n: int, seed: int = 0) -> list[Case]:
    """``n`` cases, the same for the same ``seed``, covering every tag when ``n`` allows:
    a greedy cover (most still-uncovered tags first, ties by a seeded shuffle),
    then seeded picks; in input order."""
    order = list(range(len(cases)))
    random.Random(seed).shuffle(order)
    chosen, uncovered = [], {t for c in cases for t in c.tags}
    while uncovered and len(chosen) < n:
        best = max(order, key=lambda i: len(uncovered.intersection(cases[i].tags)))
        if not uncovered.intersection(cases[best].tags):
            break
        chosen.append(best)
        order.remove(best)
        uncovered.difference_update(cases[best].tags)
    return [cases[i] for i in sorted(chosen + order[:max(0, n - len(chosen))])]


def dump(cases: Iterable[Case]) -> str:
    """The cases as a YAML case file (``k8snet.netpol.cases`` format), without aliases."""
    return yaml.safe_dump(json.loads(json.dumps([to_dict(c) for c in cases])),
                          sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m k8snet.netpol.generator",
                                     description="Generated NetworkPolicy cases as YAML.")
    parser.add_argument("--out", help="write the cases to this file (default: stdout)")
    parser.add_argument("--count", action="store_true", help="print the number of cases")
    parser.add_argument("--sample", type=int, metavar="N", help="only a spread sample of N")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    args = parser.parse_args(argv)
    cases = generate() if args.sample is None else sample(generate(), args.sample, args.seed)
    if args.count:
        print(len(cases))
    if args.out:
        with open(args.out, "w") as f:
            f.write(dump(cases))
    elif not args.count:
        sys.stdout.write(dump(cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
