"""Fake perf and bench results documents built from the real building blocks.

The other test_perf_* modules import these builders; the tests here check
that the fakes themselves are well formed, so a broken fake cannot hide a bug.
"""
from __future__ import annotations

from k8snet.perf import results, schema
from k8snet.perf.measure import Result, failed
from k8snet.perf.paths import BY_ID

REFUSED = "iperf3: unable to connect to server: Connection refused"


def ok(kind: str, **values: float) -> Result:
    return Result(kind, "ok", dict(values))


def bad(kind: str, error: str = REFUSED) -> Result:
    return failed(kind, error)


def tcp(gbps: float, kind: str = "tcp1") -> Result:
    return ok(kind, gbps=gbps, retransmits=0.0, cpu_busy_pct=80.0, ovs_cpu_pct=95.0)


def baseline(bid: str, *tcp1: float, failed_with: str = "") -> dict:
    samples = [bad("tcp1", failed_with)] if failed_with else [tcp(v) for v in tcp1]
    return {"id": bid, "title": f"baseline {bid}", "role": "baseline", "route": "",
            "metrics": {"tcp1": results.kind_record(samples)}}


def path(pid: str, mode: str = "nftables", scope: str = "full", **kinds: list[Result]) -> dict:
    entry = results.path_record(BY_ID[pid], mode, route="a → b")
    entry["scope"] = scope
    entry["metrics"] = {k: results.kind_record(v) for k, v in kinds.items()}
    return entry


def machine() -> dict:
    return {"cpu_model": "Test CPU", "nproc": 2, "kernel": "6.1.0", "os": "Debian 12",
            "loadavg_start": "0.1 0.1 0.1 1/1 1", "ovs_userspace_tso": "true",
            "ip_vs": False,
            "versions": {"ovs-vswitchd": "ovs 3.1.0", "iperf3": "iperf 3.12",
                         "nft": "nftables v1.0.6", "iptables": "iptables v1.8.9",
                         "python": "3.11.2", "mininet": "2.3.0", "k8snet": "abc1234"}}


def perf_doc(baselines: list[dict], paths: list[dict]) -> dict:
    doc = {"schema": schema.PERF_SCHEMA, "kind": "perf", "started": "2026-01-01T00:00:00+00:00",
           "finished": "2026-01-01T00:04:00+00:00", "wall_s": 240.0, "interrupted": False,
           "machine": machine(),
           "config": {"duration": 3.0, "repeat": 1, "udp_rate": "200M", "udp_length": 1448,
                      "ping_count": 30, "connect_count": 200},
           "proxy_modes": {"nftables": {"status": "measured", "reason": ""},
                           "iptables": {"status": "measured", "reason": ""},
                           "ipvs": {"status": "not available", "reason":
                                    "not available on this kernel (no CONFIG_IP_VS)"}},
           "clusters": [], "links": {}, "leftovers": [],
           "baselines": {b["id"]: b for b in baselines},
           "paths": {p["key"]: p for p in paths}, "targets": []}
    return results.finish(doc)


def sample_doc() -> dict:
    """A small but complete run: ok paths, a failed one, two modes."""
    return perf_doc(
        [baseline("veth", 9.0), baseline("linux-bridge", 10.0), baseline("ovs-netdev", 5.0)],
        [path("pod-pod-same-node", tcp1=[tcp(9.5)],
              ping=[ok("ping", p50_ms=0.08, p99_ms=0.2, received=30.0, sent=30.0,
                       lost_percent=0.0)]),
         path("pod-pod-cross-node", tcp1=[tcp(4.0), tcp(4.4), tcp(4.2)]),
         path("pod-clusterip", tcp1=[tcp(4.1)], connect=[bad("connect", "no connect")]),
         path("pod-pod-cross-node", "iptables", scope="reference", tcp1=[tcp(3.8)]),
         path("pod-clusterip", "iptables", tcp1=[bad("tcp1")]),
         path("pod-pod-shaped", tcp1=[tcp(0.095)])])


def bench_doc() -> dict:
    return {"schema": schema.BENCH_SCHEMA, "kind": "bench", "started": "2026-01-01T00:00:00",
            "finished": None, "wall_s": 10.0, "interrupted": False, "machine": machine(),
            "config": {}, "leftovers": [],
            "benchmarks": {
                "bringup": {"status": "ok", "error": "", "seconds": 3.0, "up_s": 1.2,
                            "down_s": 0.8, "nodes": 3, "pods": 6, "first_ping_ms": 0.8,
                            "steady_ping_ms": 0.3, "flows": 20, "flows_to_controller": 0},
                "pods-10": {"status": "failed", "error": "K8snetError: no room",
                            "seconds": 1.0},
                "dns": {"status": "skipped", "error": "cluster DNS is not in this checkout",
                        "seconds": 0.0}}}


def test_the_fake_perf_document_is_schema_valid() -> None:
    assert schema.validate_perf(sample_doc()) == []


def test_the_fake_bench_document_is_schema_valid() -> None:
    assert schema.validate_bench(bench_doc()) == []
