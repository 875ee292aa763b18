"""k8snet.perf.pod_goals: issue 14's pod churn goals judged from a pod_setup
result, and the report rows that show each goal beside its value."""
from __future__ import annotations

from k8snet.perf import pod_goals, schema
from k8snet.perf.bench_report import bench_rows


def _result(pods: int = 200, nodes: int = 8, **over) -> dict:
    res = {"pods": pods, "nodes": nodes, "up_s": 2.5, "cluster_up_s": 2.0, "down_s": 1.0,
           "reach_check_s": 0.5, "reached": 2 * pods - 1, "probed": 2 * pods - 1,
           "dropped_pct": 0.0, "setup_ms": [4.0, 5.0], "setup_p50_ms": 4.5,
           "setup_p99_ms": 5.0, "sandbox_p50_ms": 2.0, "pods_per_s": pods / 2.5,
           "create_to_running_p50_ms": 100.0, "create_to_running_p99_ms": 300.0,
           "up_reachable_s": 3.0, "delete_all_s": 1.2, "teardown_p50_ms": 3.0,
           "one_at_a_time": 16, "one_setup_ms": [3.0, 4.0], "one_setup_p50_ms": 3.5,
           "one_teardown_ms": [1.0, 2.0], "one_teardown_p50_ms": 1.5}
    res.update(over)
    return res


def test_setup_and_teardown_goals_met():
    t = pod_goals.targets(_result())
    assert t["one_setup_p50"]["status"] == "met"
    assert t["one_teardown_vs_setup"] == {"target": 3.5, "unit": "ms", "status": "met",
                                          "reason": ""}
    assert "up_reachable" not in t          # that goal is for 1,000 pods on 16 nodes


def test_a_slow_setup_and_a_teardown_slower_than_setup_are_not_met_with_the_value():
    t = pod_goals.targets(_result(one_setup_p50_ms=12.1, one_teardown_p50_ms=12.5))
    assert t["one_setup_p50"]["status"] == "not met"
    assert t["one_setup_p50"]["reason"] == "set-up p50 12.1 ms > 5 ms"
    assert t["one_teardown_vs_setup"]["status"] == "not met"
    assert "12.5 ms > 12.1 ms" in t["one_teardown_vs_setup"]["reason"]


def test_a_missing_measurement_is_failed_never_met():
    t = pod_goals.targets(_result(one_setup_p50_ms=None, one_teardown_p50_ms=None))
    assert t["one_setup_p50"]["status"] == "failed"
    assert t["one_teardown_vs_setup"]["status"] == "failed"
    assert t["one_setup_p50"]["reason"]


def test_thousand_pods_on_sixteen_nodes_within_ten_seconds():
    met = pod_goals.targets(_result(1000, 16, up_reachable_s=9.5))["up_reachable"]
    assert met["status"] == "met" and met["target"] == 10.0
    slow = pod_goals.targets(_result(1000, 16, up_s=40.0, reach_check_s=1.5,
                                     up_reachable_s=41.5))["up_reachable"]
    assert slow["status"] == "not met"
    assert "41.5 s > 10 s" in slow["reason"] and "all Running 40.0 s" in slow["reason"]


def test_unreachable_pods_fail_the_thousand_pod_goal_saying_how_many():
    t = pod_goals.targets(_result(1000, 16, reached=1990, probed=1999, up_reachable_s=None))
    assert t["up_reachable"]["status"] == "failed"
    assert t["up_reachable"]["reason"] == "9 of 1999 reachability probes failed"


def test_report_rows_show_each_goal_beside_its_value():
    res = _result(1000, 16, one_setup_p50_ms=6.0, up_reachable_s=12.0)
    res["targets"] = pod_goals.targets(res)
    rows = {r[1]: r for r in pod_goals.rows("pods-1000", res, " (earlier: 1 ms)")}
    one = next(r for k, r in rows.items() if k.startswith("per-pod set-up p50, 16 pods"))
    assert one[2] == "6.00 ms" and one[3].startswith("≤ 5 ms: not met (set-up p50 6 ms")
    down = next(r for k, r in rows.items() if k.startswith("per-pod teardown p50"))
    assert down[2] == "1.50 ms" and down[3] == "≤ 6.00 ms: met"
    up = rows["1000 pods on 16 nodes: created to all Running and reachable"]
    assert up[2] == "12.00 s" and up[3].startswith("≤ 10 s: not met")
    assert any("(earlier: 1 ms)" in r[2] for r in rows.values())


def test_bench_document_with_pods_stays_valid_and_renders():
    res = _result(10, 2)
    res["targets"] = pod_goals.targets(res)
    doc = {"schema": "k8snet-bench/1", "started": "2026-01-01T00:00:00+00:00", "wall_s": 1.0,
           "interrupted": False, "leftovers": [],
           "machine": {"cpu_model": "x", "kernel": "6", "nproc": 2,
                       "versions": {k: "1" for k in ("ovs-vswitchd", "iperf3", "nft",
                                                     "python", "k8snet")}},
           "benchmarks": {"pods-10": {"status": "ok", "error": "", "seconds": 1.0, **res}}}
    assert schema.validate_bench(doc) == []
    assert any(r[0] == "pods-10" and "one at a time" in r[1] for r in bench_rows(doc))


def test_the_one_at_a_time_row_says_how_long_the_burst_took_to_settle():
    rows = pod_goals.rows("pods-200", _result(settled_s=2.5))
    [row] = [r for r in rows if r[1].startswith("per-pod set-up p50, 16 pods one at a time")]
    assert row[1].endswith("200 present (after 2.5 s for the burst to settle)")
    [row] = [r for r in pod_goals.rows("pods-200", _result())
             if r[1].startswith("per-pod set-up p50, 16")]
    assert row[1].endswith("200 present")              # results from before the settle step

