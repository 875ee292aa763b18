"""The control-plane benchmarks, small: shapes, sanity of the numbers, report rows."""
from __future__ import annotations

from test_perf_fakes import bench_doc

from k8snet.perf import bench_cli, bench_control, bench_report, schema


def quiet(_: str) -> None:
    pass


def test_watch_latency_one_at_a_time_and_in_a_burst() -> None:
    res = bench_control.watch_latency(writes=60, say=quiet)
    seq, burst = res["sequential"], res["burst"]
    assert seq["n"] == 60 and burst["n"] == 60
    assert 0 < seq["p50_ms"] <= seq["p95_ms"] <= seq["max_ms"] < 1000
    assert burst["all_seen_s"] >= burst["write_s"] > 0
    assert burst["reconciles"] >= 60


def test_store_list_creates_lists_and_judges_the_target() -> None:
    res = bench_control.store_list(count=300, say=quiet)
    for kind in ("ConfigMap", "Pod"):
        r = res[kind]
        assert r["count"] == 300 and r["create_per_s"] > 0
        assert 0 <= r["list_ms"] <= r["list_max_ms"]
    t = res["targets"]["list"]
    assert t["target_ms"] == 50.0
    assert t["status"] == ("met" if t["value_ms"] <= 50 else "not met")


def test_endpointslice_reconcile_of_a_big_service() -> None:
    res = bench_control.endpointslices(pods=150, say=quiet)
    assert res["slices"] == 2          # at most 100 endpoints a slice
    assert res["first_reconcile_ms"] > 0 and res["noop_reconcile_ms"] > 0
    assert res["pod_write_to_slice"]["n"] == bench_control.SLICE_FLIPS


def test_new_benchmarks_have_ids_and_report_rows() -> None:
    assert bench_cli.BENCHMARKS[:4] == ("bringup", "pods", "kproxy", "dns")
    assert set(bench_cli.CONTROL_BENCHMARKS) == {"watch", "store-list", "endpointslices", "api",
                                                 "netpol"}
    doc = bench_doc()
    doc["benchmarks"]["watch"] = {"status": "ok", "error": "", "seconds": 1.0,
                                  **bench_control.watch_latency(writes=20, say=quiet)}
    doc["benchmarks"]["store-list"] = {"status": "ok", "error": "", "seconds": 1.0,
                                       **bench_control.store_list(count=100, say=quiet)}
    doc["benchmarks"]["endpointslices"] = {"status": "ok", "error": "", "seconds": 1.0,
                                           **bench_control.endpointslices(pods=120, say=quiet)}
    assert schema.validate_bench(doc) == []
    table = bench_report.bench_table(doc)
    assert "store write → a controller's reconcile sees it (20 writes" in table
    assert "list 100 ConfigMaps" in table and "≤ 50 ms: met" in table
    assert "1 Service with 120 pods" in table


def test_earlier_figures_are_shown_beside_ours() -> None:
    doc = bench_doc()
    doc["benchmarks"]["dns"] = {"status": "ok", "error": "", "seconds": 1.0, "replicas": 100,
                                "guestbook_ready_s": 0.71, "deployment_ready_s": 9.5}
    table = bench_report.bench_table(doc)
    assert "0.71 s (earlier: 0.60 s)" in table
    assert "9.50 s (earlier: 8.56 s)" in table


def test_netpol_rows_show_figures_and_targets() -> None:
    doc = bench_doc()
    doc["benchmarks"]["netpol"] = {
        "status": "ok", "error": "", "seconds": 2.0,
        "sync": {"pods": 500, "policies": 1000,
                 "full": {"sync_ms": 639.0, "elements": 25000},
                 "one_changed": {"sync_ms": 61.5, "runs_ms": [61.5] * 7}},
        "datapath": {"ratio_p50": 1.02, "0": {"p50_ms": 0.039}, "1000": {"p50_ms": 0.040}},
        "targets": {"full_sync_1000_policies_500_pods": {"target_ms": 1000.0},
                    "one_policy_changed": {"target_ms": 50.0},
                    "datapath_ratio": {"target": 1.1}}}
    table = bench_report.bench_table(doc)
    assert "1,000 policies over 500 pods (25,000 set elements)" in table
    assert "639 ms" in table and "≤ 1000 ms: met" in table
    assert "61.5 ms" in table and "≤ 50 ms: not met" in table
    assert "1.02x (0.040 / 0.039 ms)" in table
