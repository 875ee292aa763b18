"""kproxy's node agent against a store: it hands the Proxier the change, not the
whole state again (kube-proxy's change trackers), and the Proxier applies
only that.  No kernel: the Proxier records its transactions."""
from __future__ import annotations

from test_kproxy_partial import RecordingProxier

from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.node.proxy_agent import ProxyAgent

SERVICE_NAME = "kubernetes.io/service-name"


def new_store() -> Store:
    by_kind, default = strategies("10.96.0.0/12")
    store = Store(by_kind, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"},
                  "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.11"}]}})
    return store


def service(store: Store, name: str) -> str:
    store.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                  "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80}]}})
    return store.get("Service", "default", name)["spec"]["clusterIP"]


def endpoint_slice(store: Store, service_name: str, *ips: str, name: str = "") -> None:
    obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": name or f"{service_name}-abc", "namespace": "default",
                        "labels": {SERVICE_NAME: service_name}},
           "addressType": "IPv4",
           "endpoints": [{"addresses": [ip], "conditions": {"ready": True},
                          "nodeName": "node1" if ip.startswith("10.244.1.") else "node2"}
                         for ip in ips],
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
    if store.find("EndpointSlice", "default", obj["metadata"]["name"]) is None:
        store.create(obj)
    else:
        store.mutate("EndpointSlice", "default", obj["metadata"]["name"],
                     lambda o: o.update(endpoints=obj["endpoints"]))


def test_the_agent_hands_on_the_change_and_the_proxier_applies_only_it():
    store = new_store()
    ips = {name: service(store, name) for name in ("web", "api", "db")}
    endpoint_slice(store, "web", "10.244.1.5", "10.244.2.5")
    endpoint_slice(store, "api", "10.244.1.6")
    proxier = RecordingProxier("nftables")
    agent = ProxyAgent(store, "node1", proxier, "10.244.0.0/16", "10.96.0.0/12")
    agent.settle()
    assert agent.last_changed == 3 and len(proxier.applied) == 1
    assert all(ip in proxier.applied[0] for ip in ips.values())
    before = {sp.service.name: sp for sp in agent.state().ports}
    kept = {sp.service.name: sp for sp in agent._node_state(agent._ports).ports}

    endpoint_slice(store, "web", "10.244.1.5", "10.244.2.5", "10.244.2.9")
    agent.settle()
    assert agent.last_changed == 1 and len(proxier.applied) == 2
    text = proxier.applied[-1]
    assert "10.244.2.9 . 8080" in text and ips["web"] in text
    assert ips["api"] not in text and ips["db"] not in text
    now = {sp.service.name: sp for sp in agent._node_state(agent._ports).ports}
    assert now["api"] is kept["api"] and now["db"] is kept["db"]     # the same objects
    assert now["web"] != before["web"]

    # The Node's heartbeat changes no Service: no transaction.
    store.mutate("Node", "", "node1", lambda o: o["status"].update(phase="Running"))
    agent.settle()
    assert agent.last_changed == 0 and len(proxier.applied) == 2

    # A deleted Service goes, and only it.
    store.delete("Service", "default", "db")
    agent.settle()
    assert agent.last_changed == 1 and ips["db"] in proxier.applied[-1]
    assert ips["web"] not in proxier.applied[-1]
    assert agent.state().ports == agent._node_state(agent._ports).ports


def test_a_resync_rebuilds_everything_but_applies_nothing_new():
    store = new_store()
    service(store, "web")
    endpoint_slice(store, "web", "10.244.1.5")
    proxier = RecordingProxier("iptables")
    agent = ProxyAgent(store, "node1", proxier, "10.244.0.0/16", "10.96.0.0/12")
    agent.settle()
    for key in agent.initial_keys():
        agent.enqueue(key)
    agent.settle()
    assert agent.syncs == 2 and agent.last_changed == 0 and len(proxier.applied) == 1
    proxier.previous = None                       # routes.resync: a full sync from scratch
    for key in agent.initial_keys():
        agent.enqueue(key)
    agent.settle()
    assert agent.last_changed == 1 and len(proxier.applied) == 2
    assert proxier.applied[-1].startswith("*nat\n:KPROXY-SERVICES - [0:0]")
