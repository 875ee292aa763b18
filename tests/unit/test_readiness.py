"""The readiness state machine: initial delay, period and both thresholds."""
from __future__ import annotations

from k8snet.api.model import Container, ContainerPort, Probe
from k8snet.node.probes import Tracker, implicit_probe


def test_not_ready_until_success_threshold_then_until_failure_threshold():
    t = Tracker(Probe("tcpSocket", port=80, period_seconds=2, success_threshold=2,
                      failure_threshold=3), started=100.0)
    assert not t.ready
    assert t.record(True, 100.0) is False and not t.ready       # 1 of 2 successes
    assert t.record(True, 102.0) is True and t.ready            # flips
    assert t.record(False, 104.0) is False and t.ready          # 1 of 3 failures
    assert t.record(False, 106.0) is False and t.ready
    assert t.record(True, 108.0) is False and t.ready           # failures reset
    for now in (110.0, 112.0):
        t.record(False, now)
    assert t.record(False, 114.0) is True and not t.ready       # third in a row


def test_initial_delay_and_period_decide_when_due():
    t = Tracker(Probe("exec", command=("true",), initial_delay_seconds=5,
                      period_seconds=10), started=100.0)
    assert not t.due(104.9)
    assert t.due(105.0)
    t.record(True, 105.0, "")
    assert not t.due(114.9) and t.due(115.0)


def test_failure_keeps_the_error_text_and_success_clears_it():
    t = Tracker(Probe("httpGet", port=80), started=0.0)
    t.record(False, 1.0, "HTTP probe failed with statuscode: 404")
    assert t.last_error.endswith("404")
    t.record(True, 2.0)
    assert t.last_error == ""


def test_implicit_startup_check_stops_after_first_success():
    probe = implicit_probe(Container("c", ports=(ContainerPort(53, "UDP"),
                                                 ContainerPort(8080))))
    assert probe is not None and probe.handler == "tcpSocket" and probe.port == 8080
    t = Tracker(probe, started=0.0, once=True)
    assert t.due(0.0)
    t.record(True, 0.0)
    assert t.ready and not t.due(1000.0)


def test_udp_only_container_has_no_implicit_check():
    assert implicit_probe(Container("c", ports=(ContainerPort(53, "UDP"),))) is None
