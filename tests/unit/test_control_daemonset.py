"""DaemonSets: one pod per fitting node, pinned by node affinity; rolling update."""
import pytest
from control_helpers import Kubelet, cluster, converge, node, pods, ready, template

from k8snet.control import names
from k8snet.control.binder import Binder
from k8snet.control.daemonset import DaemonSetController, target_node
from k8snet.control.gc import GarbageCollector


def daemonset(node_selector=None, **spec):
    tpl = template("agent")
    if node_selector:
        tpl["spec"]["nodeSelector"] = node_selector
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": tpl, **spec}}


class Lab:
    def __init__(self):
        self.store = cluster(3)
        self.kubelet = Kubelet(self.store)
        self.controllers = [DaemonSetController(self.store), Binder(self.store),
                            GarbageCollector(self.store)]

    def run(self, check=None):
        converge(self.controllers, self.kubelet, check)

    def placement(self):
        return sorted(p["spec"].get("nodeName", "") for p in pods(self.store, "agent"))

    def status(self):
        return self.store.get("DaemonSet", "default", "agent")["status"]


@pytest.fixture
def lab():
    return Lab()


def test_one_pod_per_node_pinned_by_node_affinity(lab):
    lab.store.create(daemonset())
    lab.run()
    assert lab.placement() == ["node1", "node2", "node3"]
    digest = names.pod_template_hash(template("agent"))
    for pod in pods(lab.store, "agent"):
        spec = pod["spec"]
        assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] \
            == {"nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [spec["nodeName"]]}]}]}
        assert target_node(pod) == spec["nodeName"]
        assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                "effect": "NoSchedule"} in spec["tolerations"]
        assert pod["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": digest,
                                             "pod-template-generation": "1"}
        assert pod["metadata"]["name"].startswith("agent-")
    assert lab.status() == {
        "observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
        "numberReady": 3, "numberAvailable": 3, "updatedNumberScheduled": 3,
        "numberMisscheduled": 0}


def test_follows_nodes(lab):
    lab.store.create(daemonset())
    lab.run()
    lab.store.create(node("node4"))
    lab.run()
    assert lab.placement() == ["node1", "node2", "node3", "node4"]
    lab.store.delete("Node", "", "node2")
    lab.run()
    assert lab.placement() == ["node1", "node3", "node4"]
    assert lab.status()["desiredNumberScheduled"] == 3


def test_follows_node_selector_and_labels(lab):
    lab.store.create(daemonset(node_selector={"role": "edge"}))
    lab.run()
    assert lab.placement() == []
    assert lab.status()["desiredNumberScheduled"] == 0
    for name in ("node1", "node3"):
        lab.store.mutate("Node", "", name, lambda n: n["metadata"]["labels"].update(role="edge"))
    lab.run()
    assert lab.placement() == ["node1", "node3"]
    lab.store.mutate("Node", "", "node1", lambda n: n["metadata"]["labels"].pop("role"))
    lab.run()
    assert lab.placement() == ["node3"]


def test_required_node_affinity_in_the_template(lab):
    tpl_affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["node2"]}]}]}}}
    ds = daemonset()
    ds["spec"]["template"]["spec"]["affinity"] = tpl_affinity
    lab.store.create(ds)
    lab.run()
    assert lab.placement() == ["node1", "node3"]


def test_cordoned_node_keeps_its_pod_not_ready_node_gets_none(lab):
    lab.store.mutate("Node", "", "node1", lambda n: n["spec"].update(unschedulable=True))
    lab.store.mutate("Node", "", "node2", lambda n: n["status"]["conditions"][0].update(
        status="False"))
    lab.store.create(daemonset())
    lab.run()
    assert lab.placement() == ["node1", "node3"], "daemon pods tolerate unschedulable"
    lab.store.mutate("Node", "", "node3", lambda n: n["status"]["conditions"][0].update(
        status="False"))
    lab.run()
    assert lab.placement() == ["node1", "node3"], "a pod keeps running on a NotReady node"


def test_rolling_update_respects_max_unavailable(lab):
    lab.store.create(node("node4"))
    lab.store.create(daemonset(updateStrategy={"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": 2}}))
    lab.run()
    seen = {"worst": 0}

    def check():
        nodes = {n["metadata"]["name"] for n in lab.store.list("Node")}
        covered = {p["spec"].get("nodeName") for p in pods(lab.store, "agent") if ready(p)}
        seen["worst"] = max(seen["worst"], len(nodes - covered))
        assert len(nodes - covered) <= 2
    lab.store.mutate("DaemonSet", "default", "agent", lambda d: d["spec"]["template"]["spec"]
                     ["containers"][0].update(image="nginx:2"))
    lab.run(check)
    assert seen["worst"] == 2
    assert lab.placement() == ["node1", "node2", "node3", "node4"]
    assert all(p["spec"]["containers"][0]["image"] == "nginx:2" for p in pods(lab.store))
    status = lab.status()
    assert status["updatedNumberScheduled"] == 4 and status["observedGeneration"] == 2


def test_on_delete_waits_for_the_user(lab):
    lab.store.create(daemonset(updateStrategy={"type": "OnDelete"}))
    lab.run()
    lab.store.mutate("DaemonSet", "default", "agent", lambda d: d["spec"]["template"]["spec"]
                     ["containers"][0].update(image="nginx:2"))
    lab.run()
    assert lab.status().get("updatedNumberScheduled", 0) == 0
    victim = pods(lab.store, "agent")[0]
    lab.store.delete("Pod", "default", victim["metadata"]["name"])
    lab.run()
    images = sorted(p["spec"]["containers"][0]["image"] for p in pods(lab.store, "agent"))
    assert images == ["nginx:1.25", "nginx:1.25", "nginx:2"]
