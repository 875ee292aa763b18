"""The upstream e2e cases (k8snet/netpol/cases/upstream.yaml) hold in the oracle.

Each case is applied step by step to the e2e model snapshot and every probe's
written truth table is compared with the oracle's, cell by cell, except the
diagonal: upstream ignores pod-to-itself cells (``ignoreLoopback = true`` in
test/e2e/network/netpol/network_policy.go) and the oracle allows them.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

import k8snet.netpol
from k8snet.api.validation import validate
from k8snet.netpol.cases import Case, Expectation, Probe, Step, load, model_pod_keys, with_pod_ips
from k8snet.netpol.modelsnap import model_snapshot
from k8snet.netpol.oracle import truth_table

UPSTREAM = Path(k8snet.netpol.__file__).parent / "cases" / "upstream.yaml"
CASES = load(UPSTREAM)
PODS = model_pod_keys()
IPS = {p.key: p.ip for p in model_snapshot().pods}
COMMIT = "9db638c0807a720aa050ebcef69c32e4d4cce280"


def states(case: Case):
    """``(step index, step, snapshot after the step)`` for each step of ``case``."""
    policies: dict[str, dict] = {}
    pod_labels: dict[str, dict] = {}
    ns_labels: dict[str, dict] = {}
    for n, step in enumerate(case.steps):
        for pol in with_pod_ips(step, IPS).policies:
            meta = pol["metadata"]
            policies[f"{meta['namespace']}/{meta['name']}"] = copy.deepcopy(pol)
        for key in step.delete_policies:
            assert key in policies, f"{case.name}: deleting {key}, which does not exist"
            del policies[key]
        pod_labels.update({k: dict(v) for k, v in step.pod_labels.items()})
        ns_labels.update({k: dict(v) for k, v in step.namespace_labels.items()})
        yield n, step, model_snapshot(pod_labels, ns_labels, policies.values())


def disagreements(snapshot, probe: Probe) -> list[str]:
    got = truth_table(snapshot, PODS, PODS, probe.port, probe.protocol)
    want = probe.expected(PODS, PODS)
    return [f"{s} -> {d}: written {want[s, d]}, oracle {got[s, d]}"
            for s in PODS for d in PODS if s != d and got[s, d] != want[s, d]]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_upstream_case_holds_in_the_oracle(case: Case):
    for n, step, snap in states(case):
        for probe in step.probes:
            wrong = disagreements(snap, probe)
            assert not wrong, (f"{case.name} ({case.upstream!r}) step {n} "
                               f"{probe.port}/{probe.protocol}:\n  " + "\n  ".join(wrong))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_upstream_case_is_well_formed(case: Case):
    assert case.upstream.startswith("should ")
    assert case.source == f"test/e2e/network/netpol/network_policy.go@{COMMIT}"
    for step in case.steps:
        assert step.probes, f"{case.name}: every upstream step ends in ValidateOrFail"
        for probe in step.probes:
            assert probe.default is True        # NewReachability(..., true) throughout
        for pol in with_pod_ips(step, IPS).policies:
            assert validate(pol) == [], (case.name, pol["metadata"])
            assert pol["spec"]["policyTypes"], "upstream's helpers always set policyTypes"
    sctp = any(p.protocol == "SCTP" for s in case.steps for p in s.probes)
    assert sctp == ("sctp" in case.tags)


def test_every_upstream_it_is_translated():
    # 42 Its in the TCP context, 3 UDP, 3 SCTP; the UDP and SCTP texts repeat TCP ones.
    assert len(CASES) == 48
    assert len({c.upstream for c in CASES}) == 42
    assert sum("udp" in c.tags for c in CASES) == 3
    assert sum("sctp" in c.tags for c in CASES) == 3


def test_loopback_cells_are_allowed_by_the_oracle():
    deny_all = next(c for c in CASES if c.name == "default-deny-all")
    (_, step, snap), = states(deny_all)
    table = truth_table(snap, PODS, PODS, 80, "TCP")
    assert all(table[p, p] for p in PODS)
    assert not table["x/a", "x/b"] and not table["y/a", "x/a"]


def test_the_comparison_can_fail():
    """A written table with one wrong cell is caught, naming the cell."""
    case = next(c for c in CASES if c.name == "allow-from-same-namespace-pod-selector")
    (_, step, snap), = states(case)
    probe = step.probes[0]
    bad = Probe(probe.port, probe.protocol, True,
                probe.expect + (Expectation("x/c", "x/a", True),))
    assert disagreements(snap, bad) == ["x/c -> x/a: written True, oracle False"]


def test_steps_replace_delete_and_relabel():
    case = Case("t", (
        Step(policies=({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": "p", "namespace": "x"},
                        "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                                 "ingress": []}},)),
        Step(pod_labels={"x/a": {"pod": "a", "k": "v"}}, namespace_labels={"y": {"t": "1"}}),
        Step(delete_policies=("x/p",)),
    ))
    snaps = [s for _, _, s in states(case)]
    assert len(snaps[0].policies) == 1 and snaps[2].policies == ()
    assert snaps[1].pod("x/a").labels == {"pod": "a", "k": "v"}
    assert snaps[1].namespaces["y"] == {"t": "1"}
    assert snaps[2].pod("x/a").labels == {"pod": "a", "k": "v"}
