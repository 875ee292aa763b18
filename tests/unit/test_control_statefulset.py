"""StatefulSets: ordered and parallel pod management, identity, rolling update."""
import pytest
from control_helpers import Kubelet, cluster, converge, events, pods, ready, template

from k8snet.control import names
from k8snet.control.binder import Binder
from k8snet.control.gc import GarbageCollector
from k8snet.control.statefulset import StatefulSetController


def statefulset(replicas=3, policy="OrderedReady", **spec):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"replicas": replicas, "serviceName": "db-headless",
                     "podManagementPolicy": policy,
                     "selector": {"matchLabels": {"app": "db"}}, "template": template("db"),
                     **spec}}


class Lab:
    """Controllers plus a kubelet that keeps the pods in ``held`` not ready."""

    def __init__(self):
        self.store = cluster(3)
        self.held: set[str] = set()
        self.kubelet = Kubelet(self.store, ready=lambda p: p["metadata"]["name"] not in self.held)
        self.controllers = [StatefulSetController(self.store), Binder(self.store),
                            GarbageCollector(self.store)]

    def run(self, check=None):
        converge(self.controllers, self.kubelet, check)

    def names(self):
        return sorted(p["metadata"]["name"] for p in pods(self.store, "db"))

    def status(self):
        return self.store.get("StatefulSet", "default", "db")["status"]


@pytest.fixture
def lab():
    return Lab()


def test_ordered_ready_waits_for_lower_ordinals(lab):
    lab.held.add("db-1")
    lab.store.create(statefulset())
    lab.run()
    assert lab.names() == ["db-0", "db-1"], "db-2 waits until db-1 is Running and Ready"
    lab.held.clear()
    lab.run()
    assert lab.names() == ["db-0", "db-1", "db-2"]
    assert events(lab.store, "SuccessfulCreate") == [
        f"create Pod db-{i} in StatefulSet db successful" for i in range(3)]


def test_identity_labels_and_status(lab):
    lab.store.create(statefulset())
    lab.run()
    revision = lab.status()["updateRevision"]
    data = names.revision_data(template("db"))
    assert revision == f"db-{names.revision_hash(data)}"
    for i, pod in enumerate(pods(lab.store, "db")):
        name = f"db-{i}"
        assert pod["metadata"]["name"] == name
        assert pod["spec"]["hostname"] == name and pod["spec"]["subdomain"] == "db-headless"
        assert pod["metadata"]["labels"] == {
            "app": "db", "statefulset.kubernetes.io/pod-name": name,
            "apps.kubernetes.io/pod-index": str(i), "controller-revision-hash": revision}
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    assert lab.status() == {
        "observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3,
        "currentReplicas": 3, "updatedReplicas": 3, "currentRevision": revision,
        "updateRevision": revision}
    (cr,) = lab.store.list("ControllerRevision")
    assert cr["metadata"]["name"] == revision and cr["revision"] == 1 and cr["data"] == data


def test_parallel_creates_all_at_once(lab):
    lab.held.update({"db-0", "db-1", "db-2"})
    lab.store.create(statefulset(policy="Parallel"))
    lab.run()
    assert lab.names() == ["db-0", "db-1", "db-2"]
    assert not any(ready(p) for p in pods(lab.store, "db"))
    assert lab.status()["replicas"] == 3 and "readyReplicas" not in lab.status()


def test_scale_down_from_the_highest_ordinal_one_at_a_time(lab):
    lab.store.create(statefulset(replicas=4))
    lab.run()
    order = []

    def check():
        live = lab.names()
        terminating = [p["metadata"]["name"] for p in lab.store.list("Pod")
                       if p["metadata"].get("deletionTimestamp")]
        assert len(terminating) <= 1, terminating
        for name in terminating:
            if name not in order:
                order.append(name)
        assert live == sorted(live, key=lambda n: int(n.split("-")[1]))
    lab.store.mutate("StatefulSet", "default", "db", lambda s: s["spec"].update(replicas=1))
    lab.run(check)
    assert order == ["db-3", "db-2", "db-1"]
    assert lab.names() == ["db-0"]


def test_rolling_update_replaces_highest_first_and_waits_for_ready(lab):
    lab.store.create(statefulset())
    lab.run()
    old = lab.status()["currentRevision"]
    lab.held.add("db-2")     # its replacement will not become ready
    lab.store.mutate("StatefulSet", "default", "db", lambda s: s["spec"]["template"]["spec"]
                     ["containers"][0].update(image="nginx:2"))
    lab.run()
    images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
              for p in pods(lab.store, "db")}
    assert images == {"db-0": "nginx:1.25", "db-1": "nginx:1.25", "db-2": "nginx:2"}
    status = lab.status()
    assert status["currentRevision"] == old and status["updateRevision"] != old
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)
    lab.held.clear()
    lab.run()
    status = lab.status()
    assert all(p["spec"]["containers"][0]["image"] == "nginx:2" for p in pods(lab.store))
    assert status["currentRevision"] == status["updateRevision"] != old
    assert status["currentReplicas"] == status["updatedReplicas"] == 3


def test_partition_keeps_lower_ordinals_on_the_old_revision(lab):
    lab.store.create(statefulset(updateStrategy={"type": "RollingUpdate",
                                                 "rollingUpdate": {"partition": 2}}))
    lab.run()
    old = lab.status()["currentRevision"]
    lab.store.mutate("StatefulSet", "default", "db", lambda s: s["spec"]["template"]["spec"]
                     ["containers"][0].update(image="nginx:2"))
    lab.run()
    lab.store.delete("Pod", "default", "db-0")
    lab.run()
    revisions = {p["metadata"]["name"]: p["metadata"]["labels"]["controller-revision-hash"]
                 for p in pods(lab.store, "db")}
    assert revisions["db-0"] == revisions["db-1"] == old != revisions["db-2"]
    assert pods(lab.store, "db")[0]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert lab.status()["currentRevision"] == old


def test_failed_pod_is_recreated_with_the_same_name(lab):
    lab.store.create(statefulset(replicas=2))
    lab.run()
    uid = lab.store.get("Pod", "default", "db-1")["metadata"]["uid"]
    lab.store.mutate("Pod", "default", "db-1", lambda p: p["status"].update(phase="Failed"))
    lab.run()
    assert lab.names() == ["db-0", "db-1"]
    assert lab.store.get("Pod", "default", "db-1")["metadata"]["uid"] != uid


def test_odd_statefulsets_are_skipped(lab):
    lab.store.create({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x"},
                      "spec": "junk"})
    lab.store.create({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "y"},
                      "spec": {"selector": {"matchLabels": {"a": "b"}}}})
    lab.run()
    assert lab.controllers[0].errors == 0, lab.controllers[0].last_error


def test_volume_claim_templates_give_each_pod_its_claim(lab):
    vct = [{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}]
    lab.store.create(statefulset(replicas=2, policy="Parallel", volumeClaimTemplates=vct))
    lab.run()
    for i in range(2):
        pod = lab.store.get("Pod", "default", f"db-{i}")
        assert {"name": "data", "persistentVolumeClaim": {"claimName": f"data-db-{i}"}} \
            in pod["spec"]["volumes"]
        claim = lab.store.get("PersistentVolumeClaim", "default", f"data-db-{i}")
        assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
