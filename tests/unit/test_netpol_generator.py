"""Generated NetworkPolicy cases: count, names, validity, tags, sampling, the CLI."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from k8snet.api.defaults import apply_defaults
from k8snet.api.validation import validate
from k8snet.netpol import cases as case_format
from k8snet.netpol.generator import (
    CATEGORY,
    MAX_PROBES,
    TAG_CATEGORIES,
    describe,
    dump,
    generate,
    main,
    sample,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.fixture(scope="module")
def cases():
    return generate()


def policies(case):
    return [p for s in case.steps for p in s.policies]


def test_at_least_150_cases_with_unique_stable_names(cases):
    assert len(cases) >= 150
    names = [c.name for c in cases]
    assert len(set(names)) == len(names)
    assert all(NAME.match(n) for n in names), [n for n in names if not NAME.match(n)]
    assert names == [c.name for c in generate()]


def test_generation_is_deterministic(cases):
    assert dump(cases) == dump(generate())


def test_round_trip_through_the_case_format(cases):
    for c in cases:
        assert case_format.case_from(case_format.to_dict(c)) == c, c.name
    loaded = yaml.safe_load(dump(cases))
    assert [case_format.case_from(raw) for raw in loaded] == cases


def test_yaml_has_no_aliases(cases):
    text = dump(cases)
    assert "&id" not in text and "*id" not in text


def test_every_policy_is_valid_once_defaulted(cases):
    for c in cases:
        for p in policies(c):
            assert p["apiVersion"] == "networking.k8s.io/v1" and p["kind"] == "NetworkPolicy"
            assert p["metadata"]["namespace"] in ("x", "y")
            assert NAME.match(p["metadata"]["name"])
            assert validate(p) == [], (c.name, [str(e) for e in validate(p)])
            defaulted = apply_defaults(p)
            assert validate(defaulted) == [], (c.name, [str(e) for e in validate(defaulted)])
            assert defaulted["spec"]["policyTypes"]


def test_probes_are_left_to_the_oracle(cases):
    for c in cases:
        for s in c.steps:
            assert 2 <= len(s.probes) <= MAX_PROBES, c.name
            assert {(p.port, p.protocol) for p in s.probes} >= {(80, "TCP"), (81, "UDP")}
            assert all(p.from_oracle for p in s.probes)


def test_steps_use_the_model(cases):
    for c in cases:
        for s in c.steps:
            assert set(s.pod_labels) <= set(case_format.model_pod_keys())
            assert set(s.namespace_labels) <= set(case_format.MODEL_NAMESPACES)
            for ns, labels in s.namespace_labels.items():
                assert labels["kubernetes.io/metadata.name"] == ns
            for key in s.delete_policies:
                assert any(f"{p['metadata']['namespace']}/{p['metadata']['name']}" == key
                           for p in policies(c)), (c.name, key)


def test_every_tag_of_every_category_is_covered(cases):
    counts = Counter(t for c in cases for t in c.tags)
    assert set(counts) <= set(CATEGORY)
    missing = {cat: [t for t in tags if not counts[t]] for cat, tags in TAG_CATEGORIES.items()}
    assert not any(missing.values()), missing
    assert {"target", "peer", "port", "protocol", "direction", "action", "conflict"} \
        <= set(TAG_CATEGORIES)


def test_tags_follow_the_policies(cases):
    by_name = {c.name: c for c in cases}
    assert {"sctp", "protocol-only"} <= set(by_name["port-ingress-sctp-only"].tags)
    assert {"named-port", "udp"} <= set(by_name["port-egress-serve-81-udp"].tags)
    assert {"end-port", "numbered-port"} <= set(by_name["port-ingress-range-80-81-tcp"].tags)
    assert {"peer-ipblock", "peer-ipblock-except"} \
        <= set(by_name["peer-ingress-ipblock-all-except-node1"].tags)
    assert "peer-pod-cidr" in by_name["peer-egress-ipblock-pod-cidr"].tags
    assert "peer-namespace-name-label" in by_name["peer-ingress-namespace-by-name"].tags
    assert "peer-pods-and-namespaces" in by_name["peer-ingress-pod-c-and-ns-y"].tags
    assert "multi-peer" in by_name["peer-egress-pods-by-label-or-namespaces-by-label"].tags
    assert {"deny-all", "ingress", "egress"} <= set(by_name["rules-deny-all-both-pod-a"].tags)
    assert {"target-does-not-exist"} <= set(by_name["target-y-pod-does-not-exist-egress"].tags)
    assert "target-namespace-y" in by_name["target-y-pod-a-ingress"].tags
    assert "policy-types-defaulted" in by_name["rules-types-defaulted-egress"].tags
    assert "rules-ignored" in by_name["rules-ingress-type-ignores-egress-rules"].tags
    assert "union" in by_name["conflict-ingress-except-filled-by-pods"].tags


def test_describe_defaulted_egress_policy_denies_ingress():
    pol = {"metadata": {"name": "p", "namespace": "x"},
           "spec": {"podSelector": {}, "egress": [{"ports": [{"port": "dns"}]}]}}
    tags = describe(pol)
    assert {"policy-types-defaulted", "ingress", "deny-all", "egress", "any-peer",
            "named-port", "tcp", "default-protocol", "target-all-pods"} == tags


def test_multi_step_cases(cases):
    multi = [c for c in cases if len(c.steps) > 1]
    kinds = {t for c in multi for t in c.tags if CATEGORY[t] == "action"}
    assert kinds == set(TAG_CATEGORIES["action"])
    relabel = next(c for c in cases if c.name == "action-ingress-relabel-peer-pod")
    assert relabel.steps[1].pod_labels == {"y/b": {"pod": "b", "new-label": "abc"}}
    assert relabel.steps[2].pod_labels == {"y/b": {"pod": "b"}}


def test_sample_is_deterministic_and_covers_tags(cases):
    first = sample(cases, 30, seed=7)
    assert [c.name for c in first] == [c.name for c in sample(cases, 30, seed=7)]
    assert len(first) == 30 and len({c.name for c in first}) == 30
    assert {t for c in first for t in c.tags} == {t for c in cases for t in c.tags}
    order = [c.name for c in cases]
    assert [order.index(c.name) for c in first] == sorted(order.index(c.name) for c in first)
    other = sample(cases, 30, seed=8)
    assert {t for c in other for t in c.tags} == {t for c in cases for t in c.tags}
    assert sample(cases, 1000, seed=1) == cases
    assert len(sample(cases, 3, seed=1)) == 3


def test_cli_writes_yaml_and_counts(tmp_path, capsys, cases):
    out = tmp_path / "generated.yaml"
    assert main(["--out", str(out), "--count"]) == 0
    assert capsys.readouterr().out.strip() == str(len(cases))
    assert [c.name for c in case_format.load(out)] == [c.name for c in cases]
    assert main(["--count", "--sample", "20", "--seed", "3"]) == 0
    assert capsys.readouterr().out.strip() == "20"


def test_cli_as_module(tmp_path):
    out = tmp_path / "g.yaml"
    proc = subprocess.run([sys.executable, "-m", "k8snet.netpol.generator", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(case_format.load(out)) >= 150
