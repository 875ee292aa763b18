"""Report rendering from fake documents: tables, report.md, charts, bench table."""
from __future__ import annotations

from test_perf_fakes import baseline, bench_doc, path, perf_doc, sample_doc, tcp

from k8snet.perf import bench_report, charts, report, results


def _row(table: str, start: str, mode: str) -> str:
    rows = [line for line in table.splitlines() if line.startswith(start) and mode in line]
    assert rows, table
    return rows[0]


def test_printed_table_shows_failed_never_zero() -> None:
    table = report.perf_table(sample_doc())
    row = _row(table, "pod → ClusterIP", "iptables")
    assert "failed" in row
    assert "0.00" not in row
    assert "FAILED" in _row(table, "ClusterIP ≥ 0.95× direct pod IP", "iptables")


def test_printed_table_has_ratios_and_repeats() -> None:
    table = report.perf_table(sample_doc())
    cross = _row(table, "pod → pod, across nodes", "nftables")
    assert "4.20 (4.00–4.40)" in cross
    assert "0.84× ovs-netdev" in cross
    cip = _row(table, "pod → ClusterIP", "nftables")
    assert "0.98× pod-pod-cross-node" in cip
    assert "n/a" in cip  # no ping through a VIP
    assert "(reference)" in _row(table, "pod → pod, across nodes", "iptables")
    assert "95.0 Mbit/s" in table
    assert "ipvs: not available on this kernel (no CONFIG_IP_VS)" in table


def test_report_md_has_machine_targets_modes_and_failures() -> None:
    md = report.report_md(sample_doc(), ["/x/throughput.png"])
    assert "Test CPU, 2 cores; kernel 6.1.0" in md
    assert "| ClusterIP ≥ 0.95× direct pod IP | iptables |" in md
    assert "FAILED" in md and "Connection refused" in md
    assert "## Proxy modes side by side" in md
    assert "ipvs: not available" in md
    assert "![throughput](throughput.png)" in md
    assert "iptables/single/pod-clusterip TCP x1: failed" in md
    assert "ovs-vswitchd forwarding thread" in md  # the fake has ovs at 95% of a core


def test_disturbed_runs_are_marked_and_explained() -> None:
    from test_perf_fakes import ok, path, perf_doc, tcp

    doc = perf_doc([], [path("pod-pod-same-node",
                             tcp1=[tcp(9.0), tcp(9.4), ok("tcp1", gbps=3.0, steal_pct=20.0)])])
    table = report.perf_table(doc)
    assert "9.20 (9.00–9.40)†" in table
    assert "1 of 3 runs were taken while the hypervisor stole" in table
    assert report.disturbed_sentence(sample_doc()) == ""


def test_likely_limit_heuristic() -> None:
    assert "ovs-vswitchd" in report.likely_limit({"ovs_cpu_pct": 99.0, "cpu_busy_pct": 100})
    assert "every core" in report.likely_limit({"ovs_cpu_pct": 2.0, "cpu_busy_pct": 95.0})
    assert "one core" in report.likely_limit({"ovs_cpu_pct": 0.0, "cpu_busy_pct": 70.0}, 2)
    assert "not CPU" in report.likely_limit({"ovs_cpu_pct": 0.0, "cpu_busy_pct": 70.0}, 1)
    assert "not CPU" in report.likely_limit({"ovs_cpu_pct": 1.0, "cpu_busy_pct": 20.0})
    assert "hypervisor took 12%" in report.likely_limit(
        {"ovs_cpu_pct": 74.0, "cpu_busy_pct": 76.0, "steal_pct": 12.0})
    assert report.likely_limit({}) == report.DASH


def test_charts_are_written_and_skip_failed_bars(tmp_path) -> None:
    written = charts.perf_charts(sample_doc(), tmp_path)
    names = sorted(p.name for p in written)
    assert names == ["latency.png", "proxy_modes.png", "throughput.png"]
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert p.stat().st_size > 10_000


def test_write_perf_produces_every_artifact(tmp_path) -> None:
    written = report.write_perf(sample_doc(), tmp_path)
    assert {p.name for p in written} >= {"results.json", "report.md", "throughput.png"}
    assert "schema_problems" not in (tmp_path / "results.json").read_text()


def test_bench_table_says_failed_and_skipped_with_reasons() -> None:
    table = bench_report.bench_table(bench_doc())
    assert "FAILED: K8snetError: no room" in table
    assert "skipped: cluster DNS is not in this checkout" in table
    assert "1.20 s, teardown 0.80 s" in table
    assert "0.80 ms vs 0.30 ms" in table


def test_a_target_judged_on_pairs_says_how_many() -> None:
    cross = path("pod-pod-cross-node", tcp1=[tcp(3.0)])
    cross["paired"] = {"baseline:ovs-netdev": {
        "rounds": 2, "error": "", "path": results.kind_record([tcp(4.5), tcp(4.5)]),
        "anchor": results.kind_record([tcp(5.0), tcp(5.0)])}}
    doc = perf_doc([baseline("ovs-netdev", 5.0)], [cross])
    row = _row(report.perf_table(doc), "pod → pod across nodes ≥ 0.9× bare OVS", "nftables")
    assert "4.50 Gbit/s vs 5.00 Gbit/s (2 pairs: median of their ratios)" in row
    assert "0.90×" in row
    assert "targets[].unpaired" in report.report_md(doc, [])
    assert "targets[].ratio_of_medians" in report.report_md(doc, [])
    assert "Pairs not taken in full" not in report.report_md(doc, [])
    cross["paired"]["baseline:ovs-netdev"]["error"] = "baseline ovs-netdev beside the " \
        "cluster: RuntimeError: no room"
    md = report.report_md(perf_doc([baseline("ovs-netdev", 5.0)], [cross]), [])
    assert "- nftables/single/pod-pod-cross-node with baseline:ovs-netdev: baseline " \
        "ovs-netdev beside the cluster: RuntimeError: no room" in md
