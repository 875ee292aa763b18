"""The perf workload as API objects, the waits on it, and the routes read from the store."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from k8snet.apiserver.controller import Controller
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.control.endpointslice import EndpointSliceController
from k8snet.load import documents, topofile
from k8snet.perf import cluster_spec as cs
from k8snet.perf import routes, workload

ROOT = Path(__file__).resolve().parents[2]


def new_store() -> Store:
    by_kind, default = strategies("10.96.0.0/12")
    store = Store(by_kind, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    for n in ("node1", "node2", "node3"):
        store.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}})
    return store


def run(store: Store, name: str, ip: str, ready: bool = True) -> None:
    """Write the status a kubelet would: Running with ``ip``, Ready or not."""
    def change(o: dict) -> None:
        o["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": str(ready)}]}
    store.mutate("Pod", "default", name, change)


def test_the_perf_workload_is_admitted_and_pinned() -> None:
    spec = cs.load("single")
    assert spec.name == "perf-single"
    store = new_store()
    objects = cs.perf_objects(spec)
    workload.create_all(store, objects)
    pods = {p["metadata"]["name"]: p for p in store.list("Pod")}
    assert {n: workload.pod_node(p) for n, p in pods.items()} == {
        cs.CLIENT: "node1", cs.PEER: "node1", cs.SERVER: "node3"}
    assert [c["name"] for c in pods[cs.CLIENT]["spec"]["containers"]] == ["app", "sidecar"]
    services = {s["metadata"]["name"]: s for s in store.list("Service")}
    assert set(services) == set(cs.SERVICES)
    np_ports = {p["name"]: p["nodePort"] for p in services[cs.SVC_NODE_PORT]["spec"]["ports"]}
    assert np_ports == {"iperf": cs.NODE_PORT_IPERF, "iperf-udp": cs.NODE_PORT_IPERF,
                        "connect": cs.NODE_PORT_CONNECT}
    assert services[cs.SVC_LB_LOCAL]["spec"]["externalTrafficPolicy"] == "Local"
    assert all(s["spec"]["clusterIP"] for s in services.values())


def test_leafspine_puts_the_server_on_another_leaf() -> None:
    spec = cs.load("leafspine")
    server = next(o for o in cs.perf_objects(spec) if o["metadata"]["name"] == cs.SERVER)
    assert server["spec"]["nodeName"] == spec.nodes[-1].name != spec.nodes[0].name


def test_expected_endpoints_count_replicas_and_pods() -> None:
    guestbook = documents.load_paths([str(ROOT / "examples" / "guestbook.yaml")])
    assert workload.expected_endpoints(guestbook) == {
        ("default", "redis-master"): 1, ("default", "redis-replica"): 2,
        ("default", "frontend"): 3}
    demo = documents.load_paths([str(ROOT / "examples" / "demo")])
    assert workload.expected_endpoints(demo)[("default", "web")] == 3


def test_endpoint_gaps_until_every_selected_pod_is_a_ready_endpoint() -> None:
    store = new_store()
    workload.create_all(store, cs.perf_objects(cs.load("single")))
    ctl = EndpointSliceController(store)
    want = {("default", s): 1 for s in cs.SERVICES}
    ctl.settle()
    assert len(workload.endpoint_gaps(store, want)) == len(cs.SERVICES)
    run(store, cs.SERVER, "10.244.3.2", ready=False)
    ctl.settle()
    assert "(0/1 ready)" in workload.endpoint_gaps(store, want)[0]
    run(store, cs.SERVER, "10.244.3.2")
    ctl.settle()
    assert workload.endpoint_gaps(store, want) == []
    # More wanted than exist (a Deployment still scaling up) is a gap too.
    assert workload.endpoint_gaps(store, {("default", cs.SVC_CLUSTER_IP): 2})
    assert "absent" in workload.endpoint_gaps(store, {("default", "nope"): 1})[0]


def test_not_ready_and_wait_for_say_what_is_missing() -> None:
    store = new_store()
    store.create(workload.pod("a", "node1"))
    keys = [("default", "a"), ("default", "b")]
    assert workload.not_ready(store, keys) == ["default/a (Pending)", "default/b (absent)"]
    run(store, "a", "10.244.1.2", ready=False)
    assert workload.not_ready(store, keys[:1], workload.is_running) == []
    assert workload.not_ready(store, keys[:1]) == ["default/a (Running)"]
    with pytest.raises(TimeoutError, match="pods: not done after 0.05 s; still waiting for "
                                           "default/a"):
        workload.wait_for(lambda: workload.not_ready(store, keys[:1]), 0.05, "pods")


def test_route_reads_pods_nodes_and_services_from_the_store() -> None:
    spec = cs.load("single")
    store = new_store()
    workload.create_all(store, cs.perf_objects(spec))
    for name, ip in ((cs.CLIENT, "10.244.1.2"), (cs.PEER, "10.244.1.3"),
                     (cs.SERVER, "10.244.3.2")):
        run(store, name, ip)
    store.mutate("Service", "default", cs.SVC_LB_LOCAL, lambda o: o.__setitem__(
        "status", {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}))
    cluster = SimpleNamespace(spec=spec, store=store, proxy_mode="nftables", pods=SimpleNamespace(
        runtime=lambda p: SimpleNamespace(netns=f"ns-{p['metadata']['name']}")))
    same = routes.route(cluster, "pod-pod-same-node")
    assert (same.client_ns, same.server_ns, same.ip) == ("ns-perf-client", "ns-perf-peer",
                                                         "10.244.1.3")
    cip = routes.route(cluster, "pod-clusterip")
    assert cip.ip == store.get("Service", "default", cs.SVC_CLUSTER_IP)["spec"]["clusterIP"]
    np = routes.route(cluster, "ext-nodeport")
    assert (np.client_ns, np.ip, np.iperf_port) == ("k8snet-perf-single-ext",
                                                    spec.node("node3").ip, cs.NODE_PORT_IPERF)
    assert routes.route(cluster, "ext-lb-local").ip == "198.51.100.7"
    with pytest.raises(RuntimeError, match="perf-lb-cluster got no LoadBalancer IP"):
        routes.route(cluster, "ext-lb-cluster")
    node_pod = routes.route(cluster, "node-pod")
    assert node_pod.client_ns == "k8snet-perf-single-node1"
    with pytest.raises(KeyError):
        routes.route(cluster, "no-such-path")


class Echo(Controller):
    name = "echo"
    watches = ("ConfigMap",)

    def reconcile(self, key):
        return None


def test_synced_waits_until_each_agent_read_the_store_as_it_is_now() -> None:
    store = new_store()
    agents = [Echo(store), Echo(store)]
    synced = workload.Synced(store, agents)
    for a in agents:
        a.start()
    try:
        store.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "x", "namespace": "default"}})
        store.create(workload.pod("unwatched", "node1"))    # no agent watches Pods
        assert synced.wait(timeout=5) < 5
        assert all(synced.read[id(a)] >= store.rv for a in agents)
    finally:
        for a in agents:
            a.stop()


def test_synced_times_out_naming_the_agent_behind() -> None:
    store = new_store()
    synced = workload.Synced(store, [Echo(store)])      # never started
    with pytest.raises(TimeoutError, match="still waiting for echo"):
        synced.wait(timeout=0.05)


def test_pod_clock_stamps_added_bound_and_running() -> None:
    store = new_store()
    clock = workload.PodClock(store, lambda p: p["metadata"]["name"].startswith("p"))
    store.create(workload.pod("p1", "node2"))
    store.create(workload.pod("other", "node1"))
    run(store, "p1", "10.244.2.2")
    last = clock.wait({("default", "p1")}, "running", 1, "p1")
    assert clock.added[("default", "p1")] <= clock.bound[("default", "p1")] <= last
    assert ("default", "other") not in clock.added
    with pytest.raises(TimeoutError, match="still waiting for default/p2"):
        clock.wait({("default", "p2")}, "running", 0.05, "p2")
    clock.stop()


def test_setup_timer_adds_the_sandbox_and_each_first_container_start() -> None:
    class FakeKubelet:
        def _sandbox(self, key, pod):
            time.sleep(0.01)
            return "rt"

        def _start(self, pod, rt, c):
            time.sleep(0.005)

    kubelet = FakeKubelet()
    timer = workload.SetupTimer([kubelet])
    pod = workload.pod("a", "node1")
    container = SimpleNamespace(proc=None)
    assert kubelet._sandbox(("default", "a"), pod) == "rt"
    kubelet._start(pod, "rt", container)
    container.proc = object()          # a restart is not set-up
    kubelet._start(pod, "rt", container)
    assert 14 < timer.ms[("default", "a")] < 30
    with pytest.raises(RuntimeError, match="no _sandbox/_start"):
        workload.SetupTimer([object()])


def test_pod_builder_runs_the_built_in_server_without_a_command() -> None:
    server = workload.pod("s", containers=(("app", ()),))
    assert "command" not in server["spec"]["containers"][0]
    assert "nodeName" not in server["spec"]
    idle = workload.pod("i", "node2", labels={"x": "y"})
    assert idle["spec"]["containers"][0]["command"] == ["sleep", "infinity"]
    assert idle["metadata"]["labels"] == {"x": "y"}


def test_lb_ip_and_topofile_names() -> None:
    assert workload.lb_ip({"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}) \
        == "1.2.3.4"
    assert workload.lb_ip({}) == ""
    assert cs.load("shaped").name == "perf-shaped"
    assert topofile.load("single").name == "single"


def test_wait_for_returns_the_seconds_it_took() -> None:
    flag = threading.Event()
    threading.Timer(0.05, flag.set).start()
    took = workload.wait_for(lambda: [] if flag.is_set() else ["flag"], 2, "flag")
    assert 0.04 < took < 1
