"""The NetworkPolicy recipes (examples/netpol) hold in the oracle.

Each recipe is a manifest ``NN-<recipe>.yaml`` a user applies as is, and a
case of ``recipes.yaml`` with the reachability written by hand.  Every
manifest must be one the API server accepts, and the oracle's truth table
must equal the written one on every cell but the diagonal (the live runner
does not check a written table's diagonal either; the written diagonal is
held to its natural value, allowed, on its own).  A few recipes are about
what lies outside the model's matrix (DNS, addresses outside the cluster):
those are checked with a kube-dns pod and an external address added.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from k8snet.api.defaults import apply_defaults
from k8snet.api.validation import validate
from k8snet.netpol.cases import Case, Expectation, Probe, load, model_pod_keys
from k8snet.netpol.modelsnap import model_snapshot
from k8snet.netpol.oracle import truth_table
from k8snet.netpol.snapshot import PodInfo, PodPort, Snapshot

RECIPES_DIR = Path(__file__).resolve().parents[2] / "examples" / "netpol"
RECIPES_FILE = RECIPES_DIR / "cases" / "recipes.yaml"
CASES = load(RECIPES_FILE)
BY_NAME = {c.name: c for c in CASES}
PODS = model_pod_keys()
EXTERNAL = "203.0.113.10"          # the lab's ext host, outside the cluster
DNS_POD = PodInfo("kube-system", "coredns-1", {"k8s-app": "kube-dns"}, "10.244.1.2", "node1",
                  (PodPort("dns", 53, "UDP"), PodPort("dns-tcp", 53, "TCP"),
                   PodPort("metrics", 9153, "TCP")))


def snapshot_of(case: Case) -> Snapshot:
    """The model with the case's policies (every recipe is one step)."""
    (step,) = case.steps
    return model_snapshot(policies=step.policies)


def with_dns(snap: Snapshot) -> Snapshot:
    """``snap`` plus a kube-dns pod in kube-system, as the lab's DNS addon runs it."""
    namespaces = {**snap.namespaces, "kube-system": {"kubernetes.io/metadata.name":
                                                     "kube-system"}}
    return dataclasses.replace(snap, namespaces=namespaces, pods=snap.pods + (DNS_POD,))


def disagreements(snap: Snapshot, probe: Probe) -> list[str]:
    got = truth_table(snap, PODS, PODS, probe.port, probe.protocol)
    want = probe.expected(PODS, PODS)
    return [f"{s} -> {d}: written {want[s, d]}, oracle {got[s, d]}"
            for s in PODS for d in PODS if s != d and got[s, d] != want[s, d]]


def allowed(snap: Snapshot, src: str, dst: str, port: int | str, protocol: str = "TCP") -> bool:
    return truth_table(snap, [src], [dst], port, protocol)[src, dst]


# --------------------------------------------------------------------- the files


def test_one_case_per_manifest_named_after_it():
    stems = sorted(p.stem for p in RECIPES_DIR.glob("[0-9][0-9]-*.yaml"))
    assert len(stems) == 14
    assert [c.name for c in CASES] == stems
    raw = yaml.safe_load(RECIPES_FILE.read_text())
    for item in raw:
        (step,) = item["steps"]
        assert step["manifests"] == [f"../{item['name']}.yaml"], item["name"]
        assert set(step) == {"manifests", "probes"}, item["name"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_manifest_is_valid_and_documented(case: Case):
    path = RECIPES_DIR / f"{case.name}.yaml"
    text = path.read_text()
    header = text.split("\napiVersion:", 1)[0]
    assert header.startswith("# Recipe "), "a comment header says what the recipe does"
    for needed in ("Expect", "netpol model", f"kubectl apply -f examples/netpol/{path.name}",
                   "probe -n x -n y -n z"):
        assert needed in header, f"{path.name}: the header lacks {needed!r}"
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert docs and list(case.steps[0].policies) == docs
    names = set()
    for pol in docs:
        assert pol["apiVersion"] == "networking.k8s.io/v1" and pol["kind"] == "NetworkPolicy"
        assert pol["metadata"]["namespace"] in ("x", "y", "z"), "applies as is, in the model"
        assert pol["spec"].get("policyTypes"), "recipes say which directions they isolate"
        assert validate(pol) == [], (path.name, pol["metadata"]["name"])
        assert validate(apply_defaults(pol)) == [], (path.name, pol["metadata"]["name"])
        names.add(pol["metadata"]["name"])
    assert len(names) == len(docs), "one policy per name in a file"


def test_shared_policies_are_the_same_wherever_they_appear():
    """Recipes that build on another (03/13 on 04, 06 on 05) reuse its policy under
    the same name, so applying them one after the other replaces it unchanged."""
    seen: dict[tuple[str, str], tuple[str, dict]] = {}
    for case in CASES:
        for pol in case.steps[0].policies:
            key = (pol["metadata"]["namespace"], pol["metadata"]["name"])
            if key in seen:
                assert seen[key][1] == pol, f"{key} differs in {seen[key][0]} and {case.name}"
            seen[key] = (case.name, pol)


# --------------------------------------------------------------------- the matrices


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_recipe_holds_in_the_oracle(case: Case):
    snap = snapshot_of(case)
    (step,) = case.steps
    assert step.probes
    for probe in step.probes:
        wrong = disagreements(snap, probe)
        assert not wrong, f"{case.name} {probe.port}/{probe.protocol}:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_written_tables_are_complete_and_loopback_is_allowed(case: Case):
    (step,) = case.steps
    probes = [(p.port, p.protocol) for p in step.probes]
    assert (80, "TCP") in probes
    assert len(set(probes)) == len(probes)
    for probe in step.probes:
        assert not probe.from_oracle, "recipes carry written reachability"
        table = probe.expected(PODS, PODS)
        assert all(table[p, p] for p in PODS), f"{probe.port}/{probe.protocol}: diagonal"


def test_the_comparison_can_fail():
    """One wrong written cell is caught, and named."""
    case = BY_NAME["07-allow-some-pods-from-another-namespace"]
    probe = case.steps[0].probes[0]
    bad = Probe(probe.port, probe.protocol, probe.default,
                probe.expect + (Expectation("x/b", "x/a", True),))
    assert disagreements(snapshot_of(case), bad) == ["x/b -> x/a: written True, oracle False"]


# --------------------------------------------------------------------- outside the matrix


def test_deny_egress_from_app_blocks_dns_and_the_outside_too():
    snap = with_dns(snapshot_of(BY_NAME["10-deny-egress-from-app"]))
    assert not allowed(snap, "x/a", "kube-system/coredns-1", 53, "UDP")
    assert not allowed(snap, "x/a", EXTERNAL, 80)
    assert allowed(snap, "x/b", "kube-system/coredns-1", 53, "UDP")


def test_default_deny_egress_allows_dns_only():
    snap = with_dns(snapshot_of(BY_NAME["11-default-deny-egress-allow-dns"]))
    dns = "kube-system/coredns-1"
    for src in ("x/a", "x/b", "x/c"):
        assert allowed(snap, src, dns, 53, "UDP") and allowed(snap, src, dns, 53, "TCP")
        assert not allowed(snap, src, dns, 9153)            # the DNS pod, another port
        assert not allowed(snap, src, EXTERNAL, 53, "UDP")   # port 53, not the DNS pods
    assert allowed(snap, "y/a", EXTERNAL, 80)


def test_deny_external_egress_keeps_the_pod_network_and_dns():
    snap = with_dns(snapshot_of(BY_NAME["12-deny-external-egress"]))
    assert not allowed(snap, "x/a", EXTERNAL, 80)
    assert not allowed(snap, "x/a", EXTERNAL, 53, "UDP")
    assert allowed(snap, "y/a", EXTERNAL, 80)
    assert allowed(snap, "x/a", "kube-system/coredns-1", 53, "UDP")
    assert allowed(snap, "x/a", "kube-system/coredns-1", 9153)   # inside 10.244.0.0/16


def test_allow_external_to_app_admits_the_outside_on_its_port_only():
    snap = snapshot_of(BY_NAME["13-allow-external-to-app"])
    assert allowed(snap, EXTERNAL, "x/a", 80)
    assert not allowed(snap, EXTERNAL, "x/a", 81)
    assert not allowed(snap, EXTERNAL, "x/a", 80, "UDP")
    assert not allowed(snap, EXTERNAL, "x/b", 80)
    assert allowed(snap, EXTERNAL, "y/a", 81)


def test_namespace_selectors_do_not_admit_the_outside():
    """``namespaceSelector: {}`` is every pod of every namespace, not every address."""
    snap = snapshot_of(BY_NAME["06-allow-from-all-namespaces"])
    assert allowed(snap, "z/c", "x/a", 80)
    assert not allowed(snap, EXTERNAL, "x/a", 80)


def test_named_port_is_resolved_on_the_destination():
    snap = snapshot_of(BY_NAME["14-named-port-and-port-range"])
    assert allowed(snap, "y/a", "x/a", "serve-81-udp", "UDP")
    assert not allowed(snap, "y/a", "x/a", "serve-81-tcp", "TCP")
    assert allowed(snap, "y/a", "x/b", 90) and not allowed(snap, "y/a", "x/b", 91)
