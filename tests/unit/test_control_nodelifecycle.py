"""Node heartbeats (Lease + Ready condition) and the node lifecycle controller,
over the store with hand-moved clocks; the kubelet cut off from the API server."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from k8snet.apiserver.store import Store, key_of
from k8snet.control import nodelifecycle as nlc
from k8snet.control.endpointslice import EndpointSliceController
from k8snet.errors import K8snetError
from k8snet.node import heartbeat as hb
from k8snet.node.kubelet import Kubelet, KubeletConfig, NodeFacts
from k8snet.node.runtime import ContainerRuntime, PodRuntime
from tests.unit.control_helpers import T0, Clock, node

GRACE = 4.0


class Link:
    """The node's links to the fabric: ``link.up = False`` cuts it off."""

    def __init__(self) -> None:
        self.up = True

    def __call__(self) -> bool:
        return self.up


def pod(name: str, node_name: str, ip: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": node_name,
                     "containers": [{"name": "c", "ports": [{"containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": "True",
                                       "lastTransitionTime": "2027-01-15T08:00:00Z"}]}}


class Lab:
    """Two nodes with kubelet heartbeats, the controller, one pod on each node."""

    def __init__(self) -> None:
        self.wall = Clock()
        self.mono = Clock(100.0)
        self.store = Store(clock=self.wall)
        for ns in ("default", "kube-node-lease"):
            self.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self.links = {}
        self.beats = {}
        for name in ("node1", "node2"):
            self.store.create(node(name))
            self.links[name] = Link()
            self.beats[name] = hb.NodeHeartbeat(self.store, name, self.links[name],
                                                clock=self.wall)
        self.store.create(pod("web-1", "node1", "10.244.1.5"))
        self.store.create(pod("web-2", "node2", "10.244.2.5"))
        self.controller = nlc.NodeLifecycleController(self.store, GRACE, clock=self.mono)

    def tick(self, seconds: float = 1.0) -> None:
        """Time passes; every heartbeat beats once; the controller looks at every node."""
        self.wall.advance(seconds)
        self.mono.advance(seconds)
        for beat in self.beats.values():
            beat.reconcile(beat.node)
        for name in self.beats:
            self.controller.enqueue(name)
        self.controller.run_once()

    def node(self, name: str) -> dict:
        return self.store.get("Node", "", name)

    def ready(self, name: str) -> dict:
        return nlc.ready_of(self.node(name))

    def pod_ready(self, name: str) -> str:
        conds = self.store.get("Pod", "default", name)["status"]["conditions"]
        return next(c["status"] for c in conds if c["type"] == "Ready")

    def events(self, reason: str) -> list[dict]:
        return [e for e in self.store.list("Event") if e["reason"] == reason]


@pytest.fixture
def lab() -> Lab:
    return Lab()


# --- the kubelet's heartbeat ---------------------------------------------------------

def test_the_heartbeat_keeps_a_lease_owned_by_its_node(lab):
    lab.tick()
    lease = lab.store.get("Lease", "kube-node-lease", "node1")
    assert lease["apiVersion"] == "coordination.k8s.io/v1"
    assert lease["spec"]["holderIdentity"] == "node1"
    assert lease["spec"]["leaseDurationSeconds"] == hb.LEASE_DURATION_SECONDS
    owner = lease["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == ("Node", lab.node("node1")["metadata"]["uid"])
    first = lease["spec"]["renewTime"]
    lab.tick(0.25)
    assert lab.store.get("Lease", "kube-node-lease", "node1")["spec"]["renewTime"] > first


def test_a_ready_node_is_not_rewritten_by_its_beats(lab):
    rv = lab.node("node1")["metadata"]["resourceVersion"]
    for seconds in (1, 1, 600, 3600):
        lab.tick(seconds)
    assert lab.node("node1")["metadata"]["resourceVersion"] == rv, "only the Lease moves"
    assert lab.store.find("Lease", "kube-node-lease", "node1") is not None


def test_a_cut_off_kubelet_posts_nothing(lab):
    lab.tick()
    lab.links["node1"].up = False
    lease_rv = lab.store.get("Lease", "kube-node-lease", "node1")["metadata"]["resourceVersion"]
    assert lab.beats["node1"].reconcile("node1") == hb.RENEW_INTERVAL
    assert lab.store.get("Lease", "kube-node-lease", "node1")["metadata"][
        "resourceVersion"] == lease_rv


def test_without_the_lease_namespace_the_node_status_is_the_heartbeat():
    store = Store(clock=Clock())
    store.create(node("node1"))
    wall = Clock()
    beat = hb.NodeHeartbeat(store, "node1", lambda: True, clock=wall)
    beat.reconcile("node1")
    first = nlc.ready_of(store.get("Node", "", "node1"))["lastHeartbeatTime"]
    wall.advance(2)
    beat.reconcile("node1")
    assert nlc.ready_of(store.get("Node", "", "node1"))["lastHeartbeatTime"] > first
    assert store.find("Lease", "kube-node-lease", "node1") is None


def test_micro_time_is_metav1_microtime():
    assert hb.micro_time(T0 + 0.25) == "2027-01-15T08:00:00.250000Z"


# --- the node lifecycle controller ----------------------------------------------------

def test_beating_nodes_stay_ready_however_long(lab):
    for _ in range(int(GRACE * 3)):
        lab.tick()
    assert lab.ready("node1")["status"] == lab.ready("node2")["status"] == "True"
    assert not lab.node("node1")["spec"].get("taints")


def test_a_silent_node_turns_unknown_after_the_grace_period_and_not_before(lab):
    lab.store.mutate("Node", "", "node1", lambda o: o["status"]["conditions"][0].update(
        lastHeartbeatTime="2027-01-15T07:59:00Z"))
    lab.tick()
    lab.links["node1"].up = False
    for _ in range(int(GRACE)):
        lab.tick()
    assert lab.ready("node1")["status"] == "True", "silent for the grace period exactly"
    lab.tick(0.5)
    ready = lab.ready("node1")
    assert ready["status"] == "Unknown"
    assert (ready["reason"], ready["message"]) == ("NodeStatusUnknown",
                                                   "Kubelet stopped posting node status.")
    assert ready["lastHeartbeatTime"] == "2027-01-15T07:59:00Z"
    assert lab.ready("node2")["status"] == "True"
    event = lab.events("NodeNotReady")[0]
    assert event["involvedObject"]["kind"] == "Node" and event["type"] == "Normal"
    assert event["message"] == "Node node1 status is now: NodeNotReady"
    assert event["source"]["component"] == "node-controller"


def test_an_unreachable_node_is_tainted_and_its_pods_are_not_ready(lab):
    lab.tick()
    lab.links["node1"].up = False
    for _ in range(int(GRACE) + 1):
        lab.tick()
    taints = lab.node("node1")["spec"]["taints"]
    assert {(t["key"], t["effect"]) for t in taints} == {
        (nlc.UNREACHABLE, "NoSchedule"), (nlc.UNREACHABLE, "NoExecute")}
    assert all(("timeAdded" in t) == (t["effect"] == "NoExecute") for t in taints)
    assert lab.pod_ready("web-1") == "False" and lab.pod_ready("web-2") == "True"
    assert lab.store.find("Pod", "default", "web-1"), "pods are not evicted"
    warning = [e for e in lab.events("NodeNotReady") if e["involvedObject"]["kind"] == "Pod"]
    assert [(e["involvedObject"]["name"], e["type"], e["message"]) for e in warning] == [
        ("web-1", "Warning", "Node is not ready")]


def test_the_node_comes_back_ready_and_untainted(lab):
    lab.tick()
    lab.links["node1"].up = False
    for _ in range(int(GRACE) + 2):
        lab.tick()
    lab.links["node1"].up = True
    lab.tick()
    ready = lab.ready("node1")
    assert (ready["status"], ready["reason"]) == ("True", hb.READY_REASON)
    assert not lab.node("node1")["spec"].get("taints")
    back = lab.events("NodeReady")
    assert [(e["message"], e["source"]["component"]) for e in back] == [
        ("Node node1 status is now: NodeReady", "kubelet")]
    # The kubelet reports its pod ready again; the controller leaves it so.
    lab.store.mutate("Pod", "default", "web-1", lambda o: o["status"]["conditions"][0].update(
        status="True"))
    lab.tick()
    assert lab.pod_ready("web-1") == "True"


def test_a_silent_nodes_pods_leave_the_ready_endpoints(lab):
    lab.store.create({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": "web", "namespace": "default"},
                      "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.20",
                               "ports": [{"port": 80, "targetPort": 8080}]}})
    slices = EndpointSliceController(lab.store)
    slices.settle()

    def ready_ips() -> set[str]:
        return {a for s in lab.store.list("EndpointSlice", "default")
                for e in s.get("endpoints") or [] if e["conditions"]["ready"]
                for a in e["addresses"]}
    assert ready_ips() == {"10.244.1.5", "10.244.2.5"}
    lab.tick()
    lab.links["node1"].up = False
    for _ in range(int(GRACE) + 1):
        lab.tick()
    slices.settle()
    assert ready_ips() == {"10.244.2.5"}


def test_a_node_lost_to_the_store_is_forgotten(lab):
    lab.tick()
    lab.store.delete("Node", "", "node2")
    lab.tick()
    assert "node2" not in lab.controller.health



# --- MarkPodsNotReady: the pods of a node that is not Ready -------------------------

def _down(lab: Lab, name: str = "node1") -> None:
    lab.tick()
    lab.links[name].up = False
    for _ in range(int(GRACE) + 1):
        lab.tick()


def test_pods_are_marked_once_status_only_and_kept_so(lab):
    lab.store.mutate("Pod", "default", "web-1", lambda o: o["status"]["conditions"][0].update(
        reason="Custom", message="kept"))
    before = lab.store.get("Pod", "default", "web-1")
    _down(lab)
    after = lab.store.get("Pod", "default", "web-1")
    ready = after["status"]["conditions"][0]
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "Custom", "kept")
    assert ready["lastTransitionTime"] > before["status"]["conditions"][0]["lastTransitionTime"]
    assert {k: v for k, v in after["status"].items() if k != "conditions"} == \
        {k: v for k, v in before["status"].items() if k != "conditions"}, "only the condition"
    rv = after["metadata"]["resourceVersion"]
    for _ in range(5):
        lab.tick()
    assert lab.store.get("Pod", "default", "web-1")["metadata"]["resourceVersion"] == rv
    pods = [e for e in lab.events(nlc.POD_EVENT_REASON) if e["involvedObject"]["kind"] == "Pod"]
    assert len(pods) == 1 and pods[0]["message"] == nlc.POD_EVENT_MESSAGE == "Node is not ready"


def test_a_pod_turning_ready_on_a_down_node_is_marked_again(lab):
    _down(lab)
    lab.store.create(pod("web-3", "node1", "10.244.1.6"))
    lab.store.mutate("Pod", "default", "web-1", lambda o: o["status"]["conditions"][0].update(
        status="True"))
    lab.tick(nlc.MONITOR_PERIOD)
    assert lab.pod_ready("web-1") == lab.pod_ready("web-3") == "False"
    assert lab.pod_ready("web-2") == "True"


def test_a_node_posting_ready_false_has_its_pods_marked_too():
    """processPod and monitorNodeHealth: NodeReady "False" or "Unknown" both mark."""
    store = Store(clock=Clock())
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create(node("node1", ready="False"))
    store.create(node("node2"))
    store.create(pod("web-1", "node1", "10.244.1.5"))
    store.create(pod("web-2", "node2", "10.244.2.5"))
    controller = nlc.NodeLifecycleController(store, GRACE, clock=Clock(100.0))
    controller.settle()

    def ready(name: str) -> str:
        return store.get("Pod", "default", name)["status"]["conditions"][0]["status"]
    assert (ready("web-1"), ready("web-2")) == ("False", "True")


def test_mark_not_ready_and_the_pods_it_picks():
    def with_ready(status: str | None, node_name: str = "node1") -> dict:
        obj = pod("p", node_name, "10.244.1.9")
        obj["status"]["conditions"] = [] if status is None else [
            {"type": "Ready", "status": status, "lastTransitionTime": "t0"}]
        return obj
    assert [nlc.pod_to_mark(with_ready(s), "node1") for s in ("True", "Unknown", "False", None)] \
        == [True, True, False, False]
    assert not nlc.pod_to_mark(with_ready("True", "node2"), "node1")
    unknown = with_ready("Unknown")
    assert nlc.mark_not_ready(unknown, "t1") is True
    assert unknown["status"]["conditions"] == [
        {"type": "Ready", "status": "False", "lastTransitionTime": "t1"}]
    assert nlc.mark_not_ready(unknown, "t2") is False
    assert nlc.mark_not_ready(with_ready(None), "t3") is False


def test_the_kubelet_back_online_writes_its_pods_real_readiness(monkeypatch, lab):
    """The recovery path: the kubelet compares the stored status with its own,
    so the controller's Ready "False" is overwritten on its first pass back."""
    kubelet = Kubelet(lab.store, NodeFacts("node1", "172.18.0.11", "10.244.1.0/24", "ns1"),
                      KubeletConfig("t", "10.96.0.10", "cluster.local", "203.0.113.53", "/tmp"),
                      reachable=lab.links["node1"])
    uid = lab.store.get("Pod", "default", "web-1")["metadata"]["uid"]
    running = SimpleNamespace(running=True, proc=SimpleNamespace(pid=4242))
    spec = {"name": "c", "image": "agnhost"}
    kubelet.pods[("default", "web-1")] = PodRuntime(
        uid, "10.244.1.5", "ns", "veth", "ns1", "/tmp",
        containers={"c": ContainerRuntime("c", spec, proc=running)})
    monkeypatch.setattr(kubelet, "_sync_container", lambda *args: None)
    kubelet.settle()
    assert lab.pod_ready("web-1") == "True"
    _down(lab)
    kubelet.check_once()
    kubelet.settle()
    assert lab.pod_ready("web-1") == "False", "cut off: the kubelet posts nothing"
    lab.links["node1"].up = True
    lab.tick()
    kubelet.check_once()
    kubelet.settle()
    lab.tick()
    assert lab.ready("node1")["status"] == "True"
    assert lab.pod_ready("web-1") == "True"
    conds = {c["type"]: c["status"]
             for c in lab.store.get("Pod", "default", "web-1")["status"]["conditions"]}
    assert conds["ContainersReady"] == "True"

# --- the pure parts --------------------------------------------------------------------

def test_unknown_conditions_keep_heartbeats_and_add_a_never_posted_ready():
    conds = [{"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": "t0",
              "lastTransitionTime": "t0"}]
    out = nlc.unknown_conditions(conds, "t9")
    assert out[0]["status"] == "Unknown" and out[0]["lastHeartbeatTime"] == "t0"
    assert out[0]["lastTransitionTime"] == "t9"
    assert out[1] == {"type": "Ready", "status": "Unknown", "reason": nlc.NEVER_REASON,
                      "message": nlc.NEVER_MESSAGE, "lastTransitionTime": "t9"}
    assert nlc.unknown_conditions(out, "t10") == out      # already Unknown: unchanged


def test_wanted_taints_swap_only_the_controllers_own():
    mine = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    unknown = nlc.wanted_taints([mine], "Unknown", "t1")
    assert unknown[0] is mine and [t["key"] for t in unknown[1:]] == [nlc.UNREACHABLE] * 2
    not_ready = nlc.wanted_taints(unknown, "False", "t2")
    assert [t["key"] for t in not_ready] == ["dedicated", nlc.NOT_READY, nlc.NOT_READY]
    assert nlc.wanted_taints(not_ready, "True", "t3") == [mine]
    assert nlc.wanted_taints(unknown, "Unknown", "t4") == unknown     # timeAdded kept
    assert nlc.wanted_taints([mine], None, "t5") == [mine]


@pytest.mark.parametrize("text,want", [(None, nlc.DEFAULT_GRACE), ("", nlc.DEFAULT_GRACE),
                                       ("3", 3.0), ("2.5s", 2.5)])
def test_grace_period(text, want):
    assert nlc.grace_period(text) == want


@pytest.mark.parametrize("bad", ["0", "-1", "soon", "1h", "1000"])
def test_a_bad_grace_period_names_the_setting(bad):
    with pytest.raises(K8snetError, match=nlc.GRACE_ENV):
        nlc.grace_period(bad)


def test_the_default_grace_period_is_lab_scale():
    assert nlc.DEFAULT_GRACE <= 5 and hb.RENEW_INTERVAL * 2 < nlc.DEFAULT_GRACE


# --- the kubelet, cut off ---------------------------------------------------------------

def test_a_cut_off_kubelet_leaves_its_pods_alone_and_looks_again_when_back(monkeypatch, lab):
    link = Link()
    kubelet = Kubelet(lab.store, NodeFacts("node1", "172.18.0.11", "10.244.1.0/24", "ns1"),
                      KubeletConfig("t", "10.96.0.10", "cluster.local", "203.0.113.53", "/tmp"),
                      reachable=link)
    seen = []

    def sandbox(key, pod):
        seen.append(key)
        raise K8snetError("no sandboxes in unit tests")
    monkeypatch.setattr(kubelet, "_sandbox", sandbox)
    link.up = False
    before = lab.store.get("Pod", "default", "web-1")
    assert kubelet.reconcile(("default", "web-1")) is None
    kubelet.check_once()
    kubelet.run_once()
    assert seen == [] and lab.store.get("Pod", "default", "web-1") is before
    link.up = True
    kubelet.check_once()
    kubelet.run_once()
    assert ("default", "web-1") in seen and key_of(before)[1:] == ("default", "web-1")


def test_a_deleted_nodes_lease_is_garbage_collected(lab):
    from k8snet.control.gc import GarbageCollector
    lab.tick()
    gc = GarbageCollector(lab.store)
    gc.settle()
    assert lab.store.find("Lease", "kube-node-lease", "node2") is not None
    lab.store.delete("Node", "", "node2")
    gc.settle()
    assert lab.store.find("Lease", "kube-node-lease", "node2") is None
    assert lab.store.find("Lease", "kube-node-lease", "node1") is not None
