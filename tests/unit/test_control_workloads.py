"""Deployments and ReplicaSets: names, hashes, rollouts, scaling, status."""
import re

import pytest
from control_helpers import Clock, Kubelet, cluster, converge, events, pods, ready, template

from k8snet.apiserver.store import now_rfc3339
from k8snet.control import names
from k8snet.control.binder import Binder
from k8snet.control.deployment import DeploymentController
from k8snet.control.deployment_util import fenceposts, new_rs_replicas
from k8snet.control.gc import GarbageCollector
from k8snet.control.replicaset import ReplicaSetController

RS_NAME = re.compile(r"^web-[bcdfghjklmnpqrstvwxz2456789]{1,10}$")
POD_NAME = re.compile(r"^web-[bcdfghjklmnpqrstvwxz2456789]+-[bcdfghjklmnpqrstvwxz2456789]{5}$")


def deployment(replicas=3, surge=1, unavailable=0, strategy="RollingUpdate", **spec):
    strat = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": template("web"), "strategy": strat, **spec}}


@pytest.fixture
def lab():
    store = cluster(3)
    controllers = [DeploymentController(store), ReplicaSetController(store), Binder(store),
                   GarbageCollector(store)]
    return store, controllers, Kubelet(store)


def set_image(store, image):
    store.mutate("Deployment", "default", "web",
                 lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image=image))


def replica_sets(store):
    return {rs["metadata"]["name"]: rs for rs in store.list("ReplicaSet")}


def rollout_guard(store, low, high):
    """A check: live pods of app=web stay within [low available, high total]."""
    seen = {"min": 99, "max": 0}

    def check():
        live = pods(store, "web")
        available = sum(1 for p in live if ready(p))
        seen["max"] = max(seen["max"], len(live))
        seen["min"] = min(seen["min"], available)
        assert available >= low, f"only {available} available"
        assert len(live) <= high, f"{len(live)} pods"
    return check, seen


# --- names and hashes -----------------------------------------------------------------

def test_hash_is_fnv_and_safe_encoded():
    assert names.fnv1a_32(b"") == 0x811C9DC5
    assert names.fnv1a_32(b"a") == 0xE40C292C
    assert names.fnv1_32(b"a") == 0x050C5D7E
    assert names.safe_encode("0123456789") == "".join(
        names.ALPHANUMS[ord(c) % 27] for c in "0123456789")
    tpl = template("web")
    digest = names.pod_template_hash(tpl)
    assert digest == names.safe_encode(str(names.fnv1a_32(names.canonical_json(tpl))))
    assert digest == names.pod_template_hash(template("web"))
    assert names.pod_template_hash(tpl, 1) != digest
    assert names.pod_template_hash(template("web", image="nginx:2")) != digest
    assert re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{5}", names.generate_name(""))


def test_fenceposts_round_surge_up_and_unavailable_down():
    d = deployment(replicas=10, surge="25%", unavailable="25%")
    assert fenceposts(d) == (3, 2)
    assert fenceposts(deployment(replicas=1, surge="25%", unavailable="25%")) == (1, 0)
    assert fenceposts(deployment(replicas=3, surge=0, unavailable="10%")) == (0, 1)
    assert fenceposts(deployment(strategy="Recreate")) == (0, 0)
    old = [{"spec": {"replicas": 3}}]
    assert new_rs_replicas(deployment(replicas=3, surge=1), old, 0) == 1
    assert new_rs_replicas(deployment(replicas=3, surge=0, unavailable=1), old, 0) == 0


def test_pods_to_delete_ranking():
    def pod(name, node="", is_ready=False, created=0):
        status = {"phase": "Running" if node else "Pending",
                  "conditions": [{"type": "Ready", "status": "True" if is_ready else "False",
                                  "lastTransitionTime": now_rfc3339(1e9 + created)}]}
        return {"metadata": {"name": name, "creationTimestamp": now_rfc3339(1e9 + created)},
                "spec": {"nodeName": node}, "status": status}
    given = [pod("old-ready", "n1", True, 0), pod("new-ready", "n2", True, 10),
             pod("not-ready", "n3", False, 5), pod("unscheduled", "", False, 1)]
    order = [p["metadata"]["name"] for p in names.pods_to_delete(given, 4)]
    assert order == ["unscheduled", "not-ready", "new-ready", "old-ready"]


# --- Deployment -> ReplicaSet -> Pods ----------------------------------------------------

def test_deployment_creates_one_replicaset_and_three_pods(lab):
    store, controllers, kubelet = lab
    store.create(deployment())
    converge(controllers, kubelet)
    (rs,) = store.list("ReplicaSet")
    digest = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{digest}" and RS_NAME.match(rs["metadata"]["name"])
    assert digest == names.pod_template_hash(template("web"))
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": digest}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == digest
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4"}
    ref = rs["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("Deployment", "web", True)
    live = pods(store, "web")
    assert len(live) == 3
    for pod in live:
        assert POD_NAME.match(pod["metadata"]["name"])
        assert pod["metadata"]["name"].startswith(rs["metadata"]["name"] + "-")
        assert pod["metadata"]["labels"] == {"app": "web", "pod-template-hash": digest}
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert pod["metadata"]["ownerReferences"][0]["controller"] is True
    assert sorted(p["spec"]["nodeName"] for p in live) == ["node1", "node2", "node3"]
    d = store.get("Deployment", "default", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    status = d["status"]
    assert {k: status[k] for k in ("replicas", "updatedReplicas", "readyReplicas",
                                   "availableReplicas", "observedGeneration")} == \
        {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
         "observedGeneration": 1}
    conds = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conds == {"Available": ("True", "MinimumReplicasAvailable"),
                     "Progressing": ("True", "NewReplicaSetAvailable")}
    assert events(store, "ScalingReplicaSet") == [
        f"Scaled up replica set {rs['metadata']['name']} to 3"]
    assert rs["status"] == {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3,
                            "availableReplicas": 3, "observedGeneration": 1}


def test_rolling_update_surge_one_keeps_three_available(lab):
    store, controllers, kubelet = lab
    store.create(deployment(surge=1, unavailable=0))
    converge(controllers, kubelet)
    (old,) = replica_sets(store)
    set_image(store, "nginx:1.26")
    check, seen = rollout_guard(store, low=3, high=4)
    converge(controllers, kubelet, check)
    assert seen == {"min": 3, "max": 4}
    rss = replica_sets(store)
    assert len(rss) == 2, "kubectl get rs shows the old and the new ReplicaSet"
    new = next(n for n in rss if n != old)
    assert rss[old]["spec"]["replicas"] == 0 and rss[new]["spec"]["replicas"] == 3
    assert rss[new]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert all(p["spec"]["containers"][0]["image"] == "nginx:1.26" for p in pods(store, "web"))
    assert events(store, "ScalingReplicaSet")[1:] == [
        f"Scaled up replica set {new} to 1", f"Scaled down replica set {old} to 2",
        f"Scaled up replica set {new} to 2", f"Scaled down replica set {old} to 1",
        f"Scaled up replica set {new} to 3", f"Scaled down replica set {old} to 0"]
    d = store.get("Deployment", "default", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert d["status"]["updatedReplicas"] == 3 and d["status"]["observedGeneration"] == 2


def test_rolling_update_unavailable_one_never_surges(lab):
    store, controllers, kubelet = lab
    store.create(deployment(surge=0, unavailable=1))
    converge(controllers, kubelet)
    set_image(store, "nginx:1.26")
    check, seen = rollout_guard(store, low=2, high=3)
    converge(controllers, kubelet, check)
    assert seen == {"min": 2, "max": 3}
    assert sorted(rs["spec"]["replicas"] for rs in store.list("ReplicaSet")) == [0, 3]


def test_progressing_while_new_pods_are_not_ready():
    store = cluster(3)
    controllers = [DeploymentController(store), ReplicaSetController(store), Binder(store)]
    kubelet = Kubelet(store, ready=lambda pod: "nginx:1.25" in str(pod["spec"]))
    store.create(deployment(surge=1, unavailable=0))
    converge(controllers, kubelet)
    set_image(store, "nginx:bad")
    converge(controllers, kubelet)
    status = store.get("Deployment", "default", "web")["status"]
    conds = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conds["Progressing"] == ("True", "ReplicaSetUpdated")
    assert conds["Available"] == ("True", "MinimumReplicasAvailable")
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"],
            status["unavailableReplicas"]) == (4, 1, 3, 1)
    assert len(pods(store, "web")) == 4, "the rollout waits for the new pod"


def test_scale_up_and_down(lab):
    store, controllers, kubelet = lab
    store.create(deployment())
    converge(controllers, kubelet)
    first = {p["metadata"]["name"] for p in pods(store, "web")}
    store.clock.advance(60)
    store.mutate("Deployment", "default", "web", lambda d: d["spec"].update(replicas=5))
    converge(controllers, kubelet)
    assert len(pods(store, "web")) == 5
    newest = {p["metadata"]["name"] for p in pods(store, "web")} - first
    store.mutate("Deployment", "default", "web", lambda d: d["spec"].update(replicas=2))
    converge(controllers, kubelet)
    assert len(pods(store, "web")) == 2 and len(store.list("ReplicaSet")) == 1
    (rs,) = store.list("ReplicaSet")
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "2"
    assert store.get("Deployment", "default", "web")["status"]["replicas"] == 2
    assert events(store, "ScalingReplicaSet")[-1] == \
        f"Scaled down replica set {rs['metadata']['name']} to 2"
    assert not newest & {p["metadata"]["name"] for p in pods(store)}, "newest go first"


def test_recreate_stops_old_pods_before_starting_new(lab):
    store, controllers, kubelet = lab
    store.create(deployment(strategy="Recreate"))
    converge(controllers, kubelet)
    set_image(store, "nginx:1.26")

    def check():
        images = {p["spec"]["containers"][0]["image"] for p in store.list("Pod")}
        assert len(images) <= 1, f"old and new pods at once: {images}"
    converge(controllers, kubelet, check)
    live = pods(store, "web")
    assert len(live) == 3 and all(p["spec"]["containers"][0]["image"] == "nginx:1.26"
                                  for p in live)
    assert sorted(rs["spec"]["replicas"] for rs in store.list("ReplicaSet")) == [0, 3]


def test_rollout_restart_and_revisions(lab):
    store, controllers, kubelet = lab
    store.create(deployment())
    converge(controllers, kubelet)
    (first,) = replica_sets(store)
    store.mutate("Deployment", "default", "web", lambda d: d["spec"]["template"]["metadata"]
                 .setdefault("annotations", {})
                 .update({"kubectl.kubernetes.io/restartedAt": "2026-11-29T12:00:00Z"}))
    converge(controllers, kubelet)
    assert len(replica_sets(store)) == 2
    assert all(p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
               for p in pods(store, "web"))
    store.mutate("Deployment", "default", "web", lambda d: d["spec"]["template"]["metadata"]
                 .pop("annotations"))
    converge(controllers, kubelet)
    rss = replica_sets(store)
    assert len(rss) == 2, "the old template came back: its ReplicaSet is used again"
    ann = rss[first]["metadata"]["annotations"]
    assert rss[first]["spec"]["replicas"] == 3
    assert ann["deployment.kubernetes.io/revision"] == "3"
    assert ann["deployment.kubernetes.io/revision-history"] == "1"


def test_revision_history_limit_keeps_old_replicasets(lab):
    store, controllers, kubelet = lab
    store.create(deployment(revisionHistoryLimit=1))
    converge(controllers, kubelet)
    for image in ("nginx:2", "nginx:3", "nginx:4"):
        set_image(store, image)
        converge(controllers, kubelet)
    rss = store.list("ReplicaSet")
    revisions = sorted(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                       for rs in rss)
    assert revisions == ["3", "4"]


def test_paused_deployment_does_not_roll(lab):
    store, controllers, kubelet = lab
    store.create(deployment())
    converge(controllers, kubelet)
    store.mutate("Deployment", "default", "web", lambda d: d["spec"].update(paused=True))
    set_image(store, "nginx:1.26")
    converge(controllers, kubelet)
    assert len(store.list("ReplicaSet")) == 1
    cond = [c for c in store.get("Deployment", "default", "web")["status"]["conditions"]
            if c["type"] == "Progressing"][0]
    assert (cond["status"], cond["reason"]) == ("Unknown", "DeploymentPaused")
    store.mutate("Deployment", "default", "web", lambda d: d["spec"].update(paused=False))
    converge(controllers, kubelet)
    assert len(store.list("ReplicaSet")) == 2


def test_deleted_pod_is_replaced(lab):
    store, controllers, kubelet = lab
    store.create(deployment())
    converge(controllers, kubelet)
    victim = pods(store, "web")[0]["metadata"]["name"]
    store.delete("Pod", "default", victim)
    converge(controllers, kubelet)
    names_now = {p["metadata"]["name"] for p in pods(store, "web")}
    assert len(names_now) == 3 and victim not in names_now
    assert all(ready(p) for p in pods(store, "web"))


# --- ReplicaSet on its own ---------------------------------------------------------------

def replicaset(replicas=2, min_ready=0):
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": "web"}}, "template": template("web")}}


def test_replicaset_adopts_orphans_and_releases_strays():
    store = cluster(1)
    rsc = ReplicaSetController(store)
    store.create({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "stray", "labels": {"app": "web"}},
                  "spec": {"containers": [{"name": "c", "image": "x"}]}})
    store.create(replicaset(replicas=2))
    rsc.settle()
    stray = store.get("Pod", "default", "stray")
    assert stray["metadata"]["ownerReferences"][0]["name"] == "web"
    assert len(store.list("Pod")) == 2
    store.mutate("Pod", "default", "stray", lambda p: p["metadata"]["labels"].update(app="x"))
    rsc.settle()
    assert "ownerReferences" not in store.get("Pod", "default", "stray")["metadata"]
    assert len(pods(store, "web")) == 2
    assert events(store, "SuccessfulCreate")[0].startswith("Created pod: web-")


def test_replicaset_status_counts_available_after_min_ready_seconds():
    clock = Clock()
    store = cluster(1, clock)
    rsc = ReplicaSetController(store)
    controllers = [rsc, Binder(store)]
    store.create(replicaset(replicas=2, min_ready=10))
    converge(controllers, Kubelet(store))
    status = store.get("ReplicaSet", "default", "web")["status"]
    assert status == {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2,
                      "observedGeneration": 1}
    clock.advance(11)
    rsc.enqueue(("ReplicaSet", "default", "web"))
    rsc.settle()
    assert store.get("ReplicaSet", "default", "web")["status"]["availableReplicas"] == 2


def test_scale_down_removes_unscheduled_pods_first():
    store = cluster(1)
    rsc = ReplicaSetController(store)
    store.create(replicaset(replicas=3))
    rsc.settle()
    bound = store.list("Pod")[:2]
    for pod in bound:
        store.mutate("Pod", "default", pod["metadata"]["name"],
                     lambda p: p["spec"].update(nodeName="node1"))
    store.mutate("ReplicaSet", "default", "web", lambda rs: rs["spec"].update(replicas=2))
    rsc.settle()
    assert {p["metadata"]["name"] for p in store.list("Pod")} == \
        {p["metadata"]["name"] for p in bound}


def test_controllers_skip_odd_objects(lab):
    store, controllers, kubelet = lab
    store.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}})
    store.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"},
                  "spec": {"selector": {"matchLabels": {"app": "b"}}, "template": "junk"}})
    store.create({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "c"},
                  "spec": {"replicas": "many", "selector": {"matchLabels": {"app": "c"}}}})
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "d", "ownerReferences": [{"kind": "ReplicaSet", "controller": True}]}})
    converge(controllers, kubelet)
    assert all(c.errors == 0 for c in controllers), [c.last_error for c in controllers]
