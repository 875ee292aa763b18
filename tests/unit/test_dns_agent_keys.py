"""The DNS agent re-renders the zone for Services and EndpointSlices, and for
a Pod only when its IP comes, goes or changes."""
from __future__ import annotations

from pathlib import Path

from k8snet.addons.dns_agent import DnsAgent
from k8snet.apiserver.store import Event, Store


def _pod(ip: str = "", ready: str = "False") -> dict:
    status = {"conditions": [{"type": "Ready", "status": ready}]}
    if ip:
        status["podIP"] = ip
    return {"kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
            "status": status}


def test_only_a_pods_ip_moves_the_zone(tmp_path: Path):
    agent = DnsAgent(Store(), tmp_path / "zone.json", "cluster.local")
    keys = lambda type_, obj: list(agent.keys_for(Event(type_, obj["kind"], obj, 1)))  # noqa: E731
    assert keys("ADDED", _pod()) == []                              # no IP yet
    assert keys("MODIFIED", _pod("10.244.1.5")) == [agent.SYNC]
    assert keys("MODIFIED", _pod("10.244.1.5", ready="True")) == []  # status only
    assert keys("MODIFIED", _pod("10.244.1.6")) == [agent.SYNC]
    assert keys("DELETED", _pod("10.244.1.6")) == [agent.SYNC]
    assert keys("DELETED", _pod("10.244.1.6")) == []
    svc = {"kind": "Service", "metadata": {"name": "web", "namespace": "default"}}
    assert keys("MODIFIED", svc) == [agent.SYNC]
