"""Measurement parsers and the connect-time tool: a failed run is "failed", never 0."""
from __future__ import annotations

import json
import threading
import time

import pytest

from k8snet.perf import cpu, measure, tcpconnect


def iperf_tcp_json(bps: float, retransmits: int = 3) -> str:
    return json.dumps({"start": {}, "intervals": [],
                       "end": {"sum_sent": {"bits_per_second": bps * 1.01,
                                            "retransmits": retransmits},
                               "sum_received": {"bits_per_second": bps}}})


def test_tcp_throughput_is_the_receivers_rate() -> None:
    res = measure.parse_iperf("tcp1", iperf_tcp_json(5.0e9), 0)
    assert res.ok
    assert res.values["gbps"] == pytest.approx(5.0)
    assert res.values["retransmits"] == 3


def test_iperf_error_is_failed_with_its_message_and_no_number() -> None:
    text = json.dumps({"start": {}, "intervals": [], "end": {},
                       "error": "unable to connect to server: Connection refused"})
    res = measure.parse_iperf("tcp1", text, 1)
    assert res.status == measure.FAILED
    assert "Connection refused" in res.error
    assert res.values == {}


@pytest.mark.parametrize("text", ["", "not json", "[]", json.dumps({"end": {}})])
def test_missing_or_broken_report_fails(text) -> None:
    res = measure.parse_iperf("tcp4", text, 1, "iperf3: some error")
    assert not res.ok
    assert res.error
    assert "gbps" not in res.values


def test_zero_throughput_is_a_failure_not_a_measurement() -> None:
    res = measure.parse_iperf("tcp1", iperf_tcp_json(0.0), 0)
    assert not res.ok
    assert "no data" in res.error


def test_full_report_with_a_bad_exit_status_still_fails() -> None:
    res = measure.parse_iperf("tcp1", iperf_tcp_json(1e9), 1, "interrupted")
    assert not res.ok
    assert "exited 1" in res.error


def test_udp_reports_loss_jitter_and_delivered_rate() -> None:
    text = json.dumps({"end": {"sum": {"bits_per_second": 2.0e8, "jitter_ms": 0.02,
                                       "lost_packets": 10, "packets": 1000,
                                       "lost_percent": 1.0}}})
    res = measure.parse_iperf("udp", text, 0)
    assert res.ok
    assert res.values["lost_percent"] == 1.0
    assert res.values["jitter_ms"] == 0.02
    assert res.values["gbps"] == pytest.approx(0.2 * 0.99)
    assert res.values["sent_gbps"] == pytest.approx(0.2)


PING_OUT = """PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.
64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.300 ms
64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=0.100 ms
64 bytes from 10.0.0.2: icmp_seq=3 ttl=64 time=0.200 ms
"""


def test_ping_percentiles_and_loss() -> None:
    res = measure.parse_ping(PING_OUT, 4)
    assert res.ok
    assert res.values["p50_ms"] == pytest.approx(0.2)
    assert res.values["p99_ms"] == pytest.approx(0.298)
    assert res.values["lost_percent"] == 25.0


def test_ping_without_any_reply_fails() -> None:
    res = measure.parse_ping("PING 10.0.0.9\n--- 10.0.0.9 ping statistics ---\n"
                             "5 packets transmitted, 0 received, 100% packet loss", 5)
    assert not res.ok
    assert "no echo reply" in res.error


def test_connect_result_parsing() -> None:
    ok = measure.parse_connect(json.dumps({"ms": [0.1, 0.3, 0.2], "failures": 0,
                                           "error": ""}), 3)
    assert ok.ok
    assert ok.values["p50_ms"] == pytest.approx(0.2)
    bad = measure.parse_connect(json.dumps({"ms": [], "failures": 3,
                                            "error": "connect 10.0.0.1:1: refused"}), 3)
    assert not bad.ok
    assert "refused" in bad.error
    assert measure.parse_connect("Traceback ...", 3).status == measure.FAILED


def test_probe_gives_up_fast_on_a_closed_port() -> None:
    t0 = time.monotonic()
    out = tcpconnect.probe("127.0.0.1", 1, count=50, warmup=2, timeout=0.5)
    assert time.monotonic() - t0 < 2
    assert out["ms"] == []
    assert out["failures"] == 50
    assert "127.0.0.1:1" in out["error"]


def test_probe_times_every_connect_to_a_live_server() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = threading.Thread(target=tcpconnect.serve, args=(port, 1.0, "127.0.0.1"),
                              daemon=True)
    server.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # until it listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.01)
    out = tcpconnect.probe("127.0.0.1", port, count=20, warmup=1, timeout=1.0)
    server.join(timeout=5)
    assert len(out["ms"]) == 20
    assert out["failures"] == 0
    assert all(ms > 0 for ms in out["ms"])
    assert not server.is_alive(), "the server must end when idle"


def test_cpu_usage_from_two_snapshots() -> None:
    before = cpu.Snapshot(total=1000, idle=600, softirq=50, steal=10, ovs=100)
    after = cpu.Snapshot(total=1200, idle=650, softirq=90, steal=12, ovs=180)
    use = cpu.usage(before, after, ncpu=2)
    assert use["cpu_busy_pct"] == pytest.approx(75.0)
    assert use["softirq_pct"] == pytest.approx(20.0)
    assert use["steal_pct"] == pytest.approx(1.0)
    assert use["ovs_cpu_pct"] == pytest.approx(80.0)  # 80 ticks of the 100 one core had
    assert cpu.usage(after, after) == {}


def test_settle_waits_for_a_quiet_machine_and_gives_up_on_a_busy_one(monkeypatch):
    from k8snet.perf import cpu
    busy = iter([90.0, 80.0, 10.0])
    monkeypatch.setattr(cpu, "usage", lambda a, b: {"cpu_busy_pct": next(busy)})
    looks, slept = [], []
    monkeypatch.setattr(cpu, "snapshot", lambda: looks.append(1))
    cpu.settle(sleep=slept.append)
    assert len(looks) == 6                               # three windows: busy, busy, quiet
    assert slept == [cpu.SETTLE_WINDOW] * 3
    monkeypatch.setattr(cpu, "usage", lambda a, b: {"cpu_busy_pct": 95.0})
    assert cpu.settle(sleep=lambda s: None, max_s=0.01) >= 0.01   # bounded: never quiet
