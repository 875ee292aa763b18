"""The API benchmark on a small scale: real kubectl against the served store."""
from __future__ import annotations

from k8snet.perf import bench_api, bench_report


def test_api_benchmark_measures_kubectl_watch_and_apply(monkeypatch):
    monkeypatch.setattr(bench_api, "PODS", 40)
    monkeypatch.setattr(bench_api, "RUNS", 1)
    monkeypatch.setattr(bench_api, "WATCH_WRITES", 20)
    monkeypatch.setattr(bench_api, "APPLY_OBJECTS", 5)
    data = bench_api.run(say=lambda _: None)
    assert data["pods"] == 40 and data["get_pods_ms"] > 0
    assert data["watch"]["n"] == 20 and data["watch"]["p50_ms"] < 1000
    assert data["apply_objects"] == 5 and data["apply_s"] > 0
    rows = bench_report._api(data)
    assert [r[0] for r in rows] == ["api"] * 3
    assert rows[0][3].startswith("≤ 300 ms: ")
