"""The garbage collector: dependents go with their owners, unless orphaned."""
from control_helpers import Kubelet, cluster, converge, pods, template

from k8snet.control.binder import Binder
from k8snet.control.deployment import DeploymentController
from k8snet.control.gc import GarbageCollector
from k8snet.control.replicaset import ReplicaSetController


def deployment():
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": template("web")}}


def configmap(name, *owners):
    meta = {"name": name, "namespace": "default"}
    if owners:
        meta["ownerReferences"] = [{"apiVersion": o.get("apiVersion", "v1"), "kind": o["kind"],
                                    "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]}
                                   for o in owners]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def lab():
    store = cluster(2)
    controllers = [DeploymentController(store), ReplicaSetController(store), Binder(store),
                   GarbageCollector(store)]
    return store, controllers, Kubelet(store)


def test_deleting_a_deployment_takes_its_replicasets_and_pods():
    store, controllers, kubelet = lab()
    store.create(deployment())
    converge(controllers, kubelet)
    assert len(store.list("ReplicaSet")) == 1 and len(pods(store, "web")) == 2
    store.delete("Deployment", "default", "web")
    converge(controllers, kubelet)
    assert store.list("ReplicaSet") == []
    assert store.list("Pod") == []


def test_orphaned_dependents_stay():
    store, controllers, kubelet = lab()
    store.create(deployment())
    converge(controllers, kubelet)
    store.delete("Deployment", "default", "web", propagation="Orphan")
    converge(controllers, kubelet)
    (rs,) = store.list("ReplicaSet")
    assert "ownerReferences" not in rs["metadata"]
    assert len(pods(store, "web")) == 2
    store.delete("ReplicaSet", "default", rs["metadata"]["name"], propagation="Orphan")
    converge(controllers, kubelet)
    live = pods(store, "web")
    assert len(live) == 2 and all("ownerReferences" not in p["metadata"] for p in live)


def test_sweep_at_start_and_partial_owners():
    store = cluster(0)
    a = store.create(configmap("a"))
    b = store.create(configmap("b"))
    store.create(configmap("child-of-a", a))
    store.create(configmap("child-of-both", a, b))
    store.delete("ConfigMap", "default", "a")
    gc = GarbageCollector(store)
    gc.settle()
    assert store.find("ConfigMap", "default", "child-of-a") is None
    both = store.get("ConfigMap", "default", "child-of-both")
    assert [r["name"] for r in both["metadata"]["ownerReferences"]] == ["b"]
    store.delete("ConfigMap", "default", "b")
    gc.settle()
    assert store.find("ConfigMap", "default", "child-of-both") is None


def test_owner_recreated_with_another_uid_and_cluster_scoped_owner():
    store = cluster(1)
    gc = GarbageCollector(store)
    old = store.create(configmap("owner"))
    store.delete("ConfigMap", "default", "owner")
    store.create(configmap("owner"))
    store.create(configmap("dependent", old))
    gc.settle()
    assert store.find("ConfigMap", "default", "dependent") is None
    node1 = store.get("Node", "", "node1")
    store.create(configmap("per-node", node1))
    gc.settle()
    assert store.find("ConfigMap", "default", "per-node") is not None
    store.delete("Node", "", "node1")
    gc.settle()
    assert store.find("ConfigMap", "default", "per-node") is None
    assert gc.errors == 0
