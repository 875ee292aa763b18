"""results.json schema: well-formed documents pass, each kind of breakage is caught."""
from __future__ import annotations

import copy
import json

import pytest
from test_perf_fakes import bench_doc, sample_doc

from k8snet.perf import schema


def _problems(mutate) -> list[str]:
    doc = copy.deepcopy(sample_doc())
    mutate(doc)
    return schema.validate_perf(doc)


def test_the_document_survives_a_json_round_trip() -> None:
    doc = sample_doc()
    assert schema.validate_perf(json.loads(json.dumps(doc))) == []


def _first_failed_sample(doc: dict) -> dict:
    return doc["paths"]["iptables/single/pod-clusterip"]["metrics"]["tcp1"]["samples"][0]


_UNPAIRED = {"value": 1.0, "against_value": 2.0, "ratio": 0.5}


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d.pop("machine"), "missing 'machine'"),
    (lambda d: d["machine"]["versions"].pop("iperf3"), "missing 'iperf3'"),
    (lambda d: d["machine"].update(nproc="2"), "machine.nproc"),
    (lambda d: d.update(schema="other/9"), "$.schema"),
    # A failed run must never carry a number, not even 0.
    (lambda d: _first_failed_sample(d)["values"].update(gbps=0.0),
     "a failed sample must carry an error and no values"),
    (lambda d: _first_failed_sample(d).update(error=""),
     "a failed sample must carry an error"),
    (lambda d: d["paths"]["iptables/single/pod-clusterip"]["metrics"]["tcp1"]["summary"]
     .update(gbps={"median": 0.0, "min": 0.0, "max": 0.0, "n": 1}),
     "a failed measurement has no summary numbers"),
    (lambda d: d["paths"]["nftables/single/pod-pod-cross-node"]["metrics"]["tcp1"]["summary"]
     ["gbps"].update(median=9.9), "median outside min..max"),
    (lambda d: d["targets"][0].update(status="not met", reason=""), "must give the reason"),
    (lambda d: d["targets"][0].update(status="maybe"), "not one of"),
    (lambda d: d["paths"]["nftables/single/pod-pod-cross-node"]["ratios"]["baseline"]
     .update(tcp1="0.8"), "not a number"),
    (lambda d: d["paths"]["nftables/single/pod-pod-cross-node"]["metrics"]
     .update(tcp9=d["paths"]["nftables/single/pod-pod-cross-node"]["metrics"]["tcp1"]),
     "unknown kind"),
    (lambda d: d.update(wall_s=float("nan")), "wall_s"),
    (lambda d: d["paths"]["nftables/single/pod-pod-cross-node"].update(
        paired={"veth:pod-pod-same-node": {"rounds": 3, "error": ""}}),
     "only with a baseline or a reference path"),
    (lambda d: d["paths"]["nftables/single/pod-pod-cross-node"].update(
        paired={"baseline:ovs-netdev": {"rounds": "3", "error": "",
                                        "path": {"status": "ok"}}}), "rounds"),
    (lambda d: d["paths"]["nftables/single/pod-pod-cross-node"].update(
        paired={"baseline:ovs-netdev": {"rounds": 3, "error": "", "path": {"status": "ok"}}}),
     "paired.baseline:ovs-netdev.path"),
    (lambda d: d["targets"][0].update(pairs=1, unpaired={"value": 1.0, "against_value": 2.0,
                                                          "ratio": 0.5}), "at least two"),
    (lambda d: d["targets"][0].update(pairs=4), "both 'pairs' and 'unpaired'"),
    (lambda d: d["targets"][0].update(pairs=4, unpaired={"value": "1"}), "unpaired.value"),
    (lambda d: d["targets"][0].update(pairs=2, unpaired=_UNPAIRED, ratio_of_medians=0.9,
                                      pair_ratios=[0.9]), "one ratio for each pair"),
    (lambda d: d["targets"][0].update(pairs=2, unpaired=_UNPAIRED, ratio_of_medians=0.9,
                                      pair_ratios=[0.9, "x"]), "pair_ratios[1]"),
    (lambda d: d["targets"][0].update(pairs=2, unpaired=_UNPAIRED, pair_ratios=[0.9, 0.8]),
     "ratio_of_medians"),
    (lambda d: d["paths"]["nftables/single/pod-pod-cross-node"].update(
        paired={"baseline:ovs-netdev": {"rounds": 0, "error": ""}}), "at least one pair"),
])
def test_each_breakage_is_reported(mutate, expected) -> None:
    problems = _problems(mutate)
    assert any(expected in p for p in problems), problems


def test_bench_schema_requires_a_reason_for_failed_or_skipped() -> None:
    doc = bench_doc()
    doc["benchmarks"]["dns"]["error"] = ""
    assert any("must say why" in p for p in schema.validate_bench(doc))
    doc = bench_doc()
    doc["benchmarks"]["bringup"]["status"] = "fine"
    assert any("not one of" in p for p in schema.validate_bench(doc))
