"""The ingress and DNS agents against a store: what they write, and that a
bad Ingress is reported on the Ingress (a Warning Event), never dropped silently."""
from __future__ import annotations

import json
import time

from k8snet.addons.dns_agent import DnsAgent
from k8snet.addons.ingress_agent import IngressAgent
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store


def new_store() -> Store:
    by_kind, default = strategies("10.96.0.0/12")
    store = Store(by_kind, default_strategy=default)
    for ns in ("default", "ingress-nginx"):
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    store.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                  "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}})
    return store


def ingress(name: str, service: str) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"rules": [{"host": f"{name}.example", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}}


def test_ingress_agent_writes_a_checked_config_and_reports_bad_backends(tmp_path):
    store = new_store()
    agent = IngressAgent(store, tmp_path)
    store.create(ingress("good", "web"))
    store.create(ingress("bad", "nope"))
    agent.settle()
    conf = (tmp_path / "nginx.conf").read_text()
    web_ip = store.get("Service", "default", "web")["spec"]["clusterIP"]
    assert f"proxy_pass http://{web_ip}:80" in conf
    assert "server_name good.example" in conf
    events = [e for e in store.list("Event", "default")
              if e["involvedObject"]["name"] == "bad"]
    assert [e["type"] for e in events] == ["Warning"] and events[0]["reason"] == "BadConfig"
    assert 'service "default/nope" not found' in events[0]["message"]
    assert not [e for e in store.list("Event", "default")
                if e["involvedObject"]["name"] == "good"]
    writes = agent.writes
    agent.enqueue(agent.SYNC)
    agent.settle()
    assert agent.writes == writes, "an unchanged config is not rewritten"


def test_dns_agent_snapshot_follows_services(tmp_path):
    store = new_store()
    path = tmp_path / "snapshot.json"
    agent = DnsAgent(store, path, "cluster.local", min_sync_period=0)
    agent.settle()
    names = [s["name"] for s in json.loads(path.read_text())["services"]]
    assert names == ["web"]
    store.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
                  "spec": {"clusterIP": "None", "selector": {"app": "db"},
                           "ports": [{"name": "pg", "port": 5432}]}})
    agent.settle()
    snap = json.loads(path.read_text())
    assert {s["name"]: s["cluster_ip"] for s in snap["services"]}["db"] == "None"
    writes = agent.writes
    agent.enqueue(agent.SYNC)
    agent.settle()
    assert agent.writes == writes


def test_dns_agent_writes_a_burst_once_per_min_sync_period(tmp_path):
    store = new_store()
    path = tmp_path / "snapshot.json"
    agent = DnsAgent(store, path, "cluster.local", min_sync_period=0.3)
    assert agent.sync() is None and agent.writes == 1
    for i in range(5):                       # a burst of new Services
        store.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}"},
                      "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}})
        wait = agent.sync()
        assert wait is not None and 0 < wait <= 0.3
    assert agent.writes == 1                 # none written inside the period
    time.sleep(wait)
    assert agent.sync() is None and agent.writes == 2
    names = {s["name"] for s in json.loads(path.read_text())["services"]}
    assert {f"s{i}" for i in range(5)} <= names   # the whole burst in one write
