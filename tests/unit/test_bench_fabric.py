"""make bench carries the fabric targets of the latest make perf run."""
from __future__ import annotations

import json

from k8snet.perf import bench_fabric, bench_report


def _target(id_: str, ratio: float, status: str, reason: str = "") -> dict:
    return {"id": id_, "title": f"{id_} title", "ratio": ratio, "value": ratio * 10,
            "against_value": 10.0, "threshold": 0.9, "status": status, "reason": reason}


def test_the_fabric_targets_are_carried_with_their_verdicts(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"started": "2026-11-29T21:00:00+00:00", "targets": [
        _target("same-node-vs-bridge", 0.95, "met"),
        _target("cross-node-vs-ovs", 0.91, "met"),
        _target("cross-leaf-vs-ovs", 0.7, "not met", "three bridges, one thread"),
        {**_target("cross-node-vs-ovs-layout", 0.94, "met"), "pairs": 4,
         "unpaired": {"value": 9.7, "against_value": 10.0, "ratio": 0.97}}]}))
    b = bench_fabric.from_perf(path)
    assert [t["id"] for t in b["targets"]] == ["cross-node-vs-ovs", "cross-leaf-vs-ovs",
                                               "cross-node-vs-ovs-layout"]
    rows = bench_report.bench_rows({"benchmarks": {"fabric": {"status": "ok", **b}}})
    assert rows[0][0] == "fabric" and "2026-11-29T21:00:00" in rows[0][1]
    assert rows[0][2].startswith("0.910x (9.10 / 10.00 Gbit/s)")
    assert rows[0][3] == "≥ 0.9x: met"
    assert rows[1][3] == "≥ 0.9x: not met (three bridges, one thread)"
    assert rows[2][2] == ("0.940x (median of 4 pairs' ratios; medians 9.40 / 10.00 Gbit/s; "
                          "apart 0.970x)")


def test_without_a_perf_run_it_says_where_to_get_one(tmp_path):
    b = bench_fabric.from_perf(tmp_path / "absent.json")
    assert "make perf" in b["skipped"] and "absent.json" in b["skipped"]
    (tmp_path / "bad.json").write_text("{not json")
    assert "unreadable" in bench_fabric.from_perf(tmp_path / "bad.json")["skipped"]
    (tmp_path / "none.json").write_text(json.dumps({"targets": []}))
    assert "cross-node-vs-ovs" in bench_fabric.from_perf(tmp_path / "none.json")["skipped"]


def test_a_failed_fabric_target_is_shown_failed(tmp_path):
    path = tmp_path / "results.json"
    failed = {**_target("cross-node-vs-ovs", 1.0, "failed", "path was not measured"),
              "ratio": None, "value": None, "against_value": None}
    path.write_text(json.dumps({"started": "2026-11-30T08:00:00+00:00", "targets": [failed]}))
    rows = bench_report.bench_rows({"benchmarks": {"fabric": {
        "status": "ok", **bench_fabric.from_perf(path)}}})
    assert rows[0][2] == "failed"
    assert rows[0][3] == "≥ 0.9x: failed (path was not measured)"
