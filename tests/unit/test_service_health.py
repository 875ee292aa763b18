"""kube-proxy's service health check (``pkg/proxy/healthcheck/service_health.go``):
which Services get a listener on ``spec.healthCheckNodePort``, the local
ready endpoint count each answers with (``LocalReadyEndpoints``), and the
answer itself.  No kernel, no socket: the agent is driven against a store
with a Proxier that records and a health server that records; the real
server is shown to refuse the root namespace.  The live listeners are
tests/integration/test_service_health_live.py."""
from __future__ import annotations

import asyncio
import json

import pytest
from test_kproxy_partial import RecordingProxier

from k8snet.api.convert import service_from
from k8snet.api.service import Service, ServicePort
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.errors import K8snetError
from k8snet.node.proxy_agent import ProxyAgent
from kproxy import service_health
from kproxy.healthcheck import (
    health_check_ports,
    local_ready_endpoints,
    needs_health_check,
    response,
)
from kproxy.service_health import ListenFailure, ServiceHealthServer
from kproxy.state import Endpoint, ServicePortState

SERVICE_NAME = "kubernetes.io/service-name"


def _port(name: str, svc_type: str = "LoadBalancer", policy: str = "Local", hc: int = 30001,
          endpoints: tuple[Endpoint, ...] = (), port: int = 80) -> ServicePortState:
    svc = Service(name, type=svc_type, external_traffic_policy=policy,
                  ports=(ServicePort(port),), health_check_node_port=hc)
    return ServicePortState(svc, svc.ports[0], endpoints)


# --- the pure parts ----------------------------------------------------------------


def test_the_typed_service_carries_the_allocated_port() -> None:
    stored = {"metadata": {"name": "web", "namespace": "default"},
              "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                       "healthCheckNodePort": 31234, "ports": [{"port": 80}]}}
    assert service_from(stored).health_check_node_port == 31234
    assert service_from({"metadata": {"name": "x"}, "spec": {}}).health_check_node_port == 0


def test_only_a_local_load_balancer_with_a_port_gets_a_listener() -> None:
    ports = [_port("web", hc=30001), _port("web", hc=30001, port=443),   # one per Service
             _port("cluster", policy="Cluster", hc=30002),
             _port("nodeport", svc_type="NodePort", hc=30003),
             _port("pending", hc=0)]
    assert [needs_health_check(sp) for sp in ports] == [True, True, False, False, False]
    assert health_check_ports(ports) == {("default", "web"): 30001}
    assert health_check_ports([]) == {}


def test_local_ready_endpoints_are_counted_by_ip_on_this_node_only() -> None:
    eps = (Endpoint("10.244.2.5", 8080, "node2"), Endpoint("10.244.2.6", 8080, "node2"),
           Endpoint("10.244.2.7", 8080, "node2", ready=False),      # terminating
           Endpoint("10.244.1.5", 8080, "node1"))
    https = tuple(Endpoint(e.ip, 8443, e.node, ready=e.ready) for e in eps)
    ports = [_port("web", endpoints=eps), _port("web", endpoints=https, port=443),
             _port("other", endpoints=eps[3:])]
    assert local_ready_endpoints(ports, "node2") == {("default", "web"): 2}
    assert local_ready_endpoints(ports, "node1") == {("default", "web"): 1,
                                                    ("default", "other"): 1}
    assert local_ready_endpoints(ports, "node1", only=[("default", "other")]) == {
        ("default", "other"): 1}
    assert local_ready_endpoints(ports, "node3") == {}


def test_the_answer_for_local_endpoints() -> None:
    ok = response("shop", "web", 2)
    assert ok.status == 200
    assert dict(ok.headers) == {"Content-Type": "application/json",
                                "X-Content-Type-Options": "nosniff",
                                "X-Load-Balancing-Endpoint-Weight": "2"}
    assert json.loads(ok.body) == {"service": {"namespace": "shop", "name": "web"},
                                   "localEndpoints": 2, "serviceProxyHealthy": True}
    # Byte for byte as upstream prints it: tab-indented, no newline at the end.
    assert ok.body == (b'{\n\t"service": {\n\t\t"namespace": "shop",\n\t\t"name": "web"\n\t},'
                       b'\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}')


def test_no_local_endpoint_or_an_unhealthy_proxy_is_503() -> None:
    none = response("default", "web", 0)
    assert none.status == 503 and dict(none.headers)["X-Load-Balancing-Endpoint-Weight"] == "0"
    assert json.loads(none.body)["localEndpoints"] == 0
    sick = response("default", "web", 3, proxy_healthy=False)
    assert sick.status == 503
    assert json.loads(sick.body) == {"service": {"namespace": "default", "name": "web"},
                                     "localEndpoints": 3, "serviceProxyHealthy": False}


# --- the server, without sockets ------------------------------------------------


def test_the_server_never_listens_in_the_root_namespace() -> None:
    server = ServiceHealthServer("")
    failures = server.sync_services({("default", "web"): 30001})
    assert failures == [ListenFailure(("default", "web"), 30001,
                                      "a health check port listens only in a node's network "
                                      "namespace, not in the root namespace")]
    assert server.ports() == {} and server._thread is None     # nothing was started
    server.sync_endpoints({("default", "web"): 1})
    server.close()


def test_nothing_is_started_without_such_services() -> None:
    server = ServiceHealthServer("k8snet-x-node1")
    assert server.sync_services({}) == []
    server.sync_endpoints({})
    assert server._loop is None and server._thread is None
    server.close()


def test_the_handler_answers_with_the_synced_count() -> None:
    """The aiohttp response the listener sends, built without a socket."""
    healthy = [True]
    server = ServiceHealthServer("k8snet-x-node1", lambda: healthy[0])
    key = ("default", "web")
    server._ports[key] = 30001              # as if listening
    server.sync_endpoints({key: 2, ("default", "gone"): 5})
    assert server._counts == {key: 2}
    resp = server._answer(key)
    assert resp.status == 200 and resp.body == response("default", "web", 2).body
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Load-Balancing-Endpoint-Weight"] == "2"
    server.sync_endpoints({})
    assert server._answer(key).status == 503
    server.sync_endpoints({key: 1})
    healthy[0] = False
    assert server._answer(key).status == 503


def test_sync_services_closes_the_moved_and_gone_before_opening(monkeypatch) -> None:
    """SyncServices: a Service whose port changed is closed and opened again,
    one gone is closed, one kept is left alone; a failed open is reported
    and not kept (so the next sync tries again)."""
    server = ServiceHealthServer("k8snet-x-node1")
    calls: list[tuple[str, tuple[str, str], int]] = []

    def fake_open(key, port):
        if port == 30666:
            raise OSError(98, "Address already in use")
        calls.append(("open", key, port))
        server._ports[key] = port

    def fake_close(key):
        calls.append(("close", key, server._ports.pop(key)))
        server._counts.pop(key, None)

    monkeypatch.setattr(server, "_open", fake_open)
    monkeypatch.setattr(server, "_close", fake_close)
    a, b, c = ("default", "a"), ("default", "b"), ("default", "c")
    assert server.sync_services({a: 30001, b: 30002}) == []
    calls.clear()
    failed = server.sync_services({a: 30001, b: 30005, c: 30666})
    assert calls == [("close", b, 30002), ("open", b, 30005)]
    assert failed == [ListenFailure(c, 30666, "[Errno 98] Address already in use")]
    assert server.ports() == {a: 30001, b: 30005}
    calls.clear()
    server.close()
    assert sorted(calls) == [("close", a, 30001), ("close", b, 30005)]


def test_listen_in_refuses_before_touching_any_namespace(monkeypatch) -> None:
    entered: list[str] = []
    monkeypatch.setattr(service_health.netns, "in_namespace",
                        lambda name, fn: entered.append(name))
    with pytest.raises(K8snetError, match="not in the root namespace"):
        service_health.listen_in("", 30001)
    assert entered == []


# --- the agent ------------------------------------------------------------------


class RecordingHealth(ServiceHealthServer):
    """Upstream's FakeServiceHealthServer, remembering what it was told."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__("")
        self.services: list[dict] = []
        self.endpoints: list[dict] = []
        self.closed = False
        self.fail = fail

    def sync_services(self, wanted):
        self.services.append(dict(wanted))
        if self.fail:
            return [ListenFailure(k, p, "Address already in use") for k, p in wanted.items()]
        return []

    def sync_endpoints(self, counts):
        self.endpoints.append(dict(counts))

    def close(self):
        self.closed = True


def _store() -> Store:
    by_kind, default = strategies("10.96.0.0/12")
    store = Store(by_kind, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    for i in (1, 2):
        store.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node{i}"},
                      "status": {"addresses": [{"type": "InternalIP",
                                                "address": f"172.18.0.1{i}"}]}})
    return store


def _lb(store: Store, name: str, policy: str = "Local") -> int:
    store.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                  "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy,
                           "selector": {"app": name}, "ports": [{"name": "http", "port": 80}]}})
    return store.get("Service", "default", name)["spec"].get("healthCheckNodePort", 0)


def _slice(store: Store, service: str, *eps: tuple[str, str]) -> None:
    store.create({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": f"{service}-abc", "namespace": "default",
                               "labels": {SERVICE_NAME: service}},
                  "addressType": "IPv4",
                  "endpoints": [{"addresses": [ip], "conditions": {"ready": True},
                                 "nodeName": node} for ip, node in eps],
                  "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})


def test_each_agent_listens_for_local_load_balancers_with_its_own_count() -> None:
    store = _store()
    port = _lb(store, "web")
    _lb(store, "plain", policy="Cluster")
    _slice(store, "web", ("10.244.2.5", "node2"))
    agents = {}
    for node in ("node1", "node2"):
        health = RecordingHealth()
        agents[node] = ProxyAgent(store, node, RecordingProxier("nftables"), "10.244.0.0/16",
                                  "10.96.0.0/12", health=health)
        agents[node].settle()
        assert health.services[-1] == {("default", "web"): port}
    assert agents["node2"].health.endpoints[-1] == {("default", "web"): 1}
    assert agents["node1"].health.endpoints[-1] == {}          # 503, localEndpoints 0
    assert agents["node2"].proxy_healthy()

    store.delete("Service", "default", "web")
    for agent in agents.values():
        agent.settle()
        assert agent.health.services[-1] == {}
        agent.proxier.cleanup = lambda: None       # no kernel rules to remove
        agent.stop()
        assert agent.health.closed


def test_a_port_that_cannot_be_opened_is_an_event_on_the_service() -> None:
    store = _store()
    port = _lb(store, "web")
    agent = ProxyAgent(store, "node1", RecordingProxier("nftables"), "10.244.0.0/16",
                       "10.96.0.0/12", health=RecordingHealth(fail=True))
    agent.settle()
    [event] = [e for e in store.list("Event", "default")
               if e.get("reason") == "FailedToStartServiceHealthcheck"]
    assert event["type"] == "Warning" and event["involvedObject"]["name"] == "web"
    assert event["message"] == (f'node node1 failed to start healthcheck "default/web" on '
                                f"port {port}: Address already in use")
    assert agent._looked is False                 # the next tick tries again


def test_a_cluster_without_such_services_starts_nothing() -> None:
    store = _store()
    _lb(store, "plain", policy="Cluster")
    agent = ProxyAgent(store, "node1", RecordingProxier("nftables"), "10.244.0.0/16",
                       "10.96.0.0/12")
    agent.settle()
    assert isinstance(agent.health, ServiceHealthServer)
    assert agent.health._thread is None and agent.health.ports() == {}
    agent.health.close()


def test_the_real_server_in_the_root_namespace_only_reports() -> None:
    """An agent whose Proxier works in "" (the root namespace, as in unit
    tests) refuses the port: a Warning Event, no listener."""
    store = _store()
    _lb(store, "web")
    agent = ProxyAgent(store, "node1", RecordingProxier("nftables"), "10.244.0.0/16",
                       "10.96.0.0/12")
    agent.settle()
    assert agent.health.ports() == {} and agent.health._thread is None
    assert any(e.get("reason") == "FailedToStartServiceHealthcheck"
               for e in store.list("Event", "default"))
    agent.health.close()


def test_the_aiohttp_response_is_sent_as_built() -> None:
    """aiohttp keeps the exact Content-Type (no charset added) when it sends."""
    from aiohttp.test_utils import make_mocked_request

    server = ServiceHealthServer("k8snet-x-node1")
    key = ("default", "web")
    server._ports[key] = 30001
    server.sync_endpoints({key: 1})

    async def send() -> dict:
        resp = server._answer(key)
        await resp.prepare(make_mocked_request("GET", "/healthz"))
        return dict(resp.headers)

    headers = asyncio.run(send())
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Load-Balancing-Endpoint-Weight"] == "1"
