"""The pod garbage collector (pods of a deleted Node) and the namespace
controller (a deleted Namespace is Terminating until emptied), over the
store with the API server's strategies and a hand-moved clock."""
from __future__ import annotations

import pytest
from control_helpers import Clock, Kubelet, api_store, converge, node

from k8snet.control.namespace import NamespaceController
from k8snet.control.podgc import SWEEP, PodGCController
from k8snet.errors import Forbidden

QUARANTINE = 40.0


def pod(name: str, node_name: str, namespace: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "nginx"}]}}


def lab() -> tuple:
    clock = Clock()
    store = api_store(clock)
    for name in ("node1", "node2"):
        store.create(node(name))
    store.create(pod("a", "node1"))
    store.create(pod("b", "node2"))
    Kubelet(store).step()
    return clock, store


def test_pods_of_a_deleted_node_go_after_the_quarantine():
    clock, store = lab()
    gc = PodGCController(store, quarantine=QUARANTINE)
    gc.settle()
    store.delete("Node", "", "node2")
    watch = store.watch(["Pod"])
    gc.settle()
    clock.advance(QUARANTINE - 1)
    gc.enqueue(SWEEP)
    gc.settle()
    assert store.find("Pod", "default", "b")["status"]["phase"] == "Running"
    clock.advance(1)
    gc.enqueue(SWEEP)
    gc.settle()
    assert store.find("Pod", "default", "b") is None
    assert store.find("Pod", "default", "a") is not None       # its node is there
    marked = watch.get(0).object                                # marked, then deleted
    assert marked["status"]["phase"] == "Failed"
    assert {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists"}.items() <= \
        [c for c in marked["status"]["conditions"] if c["type"] == "DisruptionTarget"][0].items()
    assert watch.get(0).type == "DELETED"                       # grace 0: at once
    assert gc.errors == 0


def test_a_node_back_within_the_quarantine_keeps_its_pods():
    clock, store = lab()
    gc = PodGCController(store, quarantine=QUARANTINE)
    store.delete("Node", "", "node2")
    gc.settle()
    clock.advance(QUARANTINE / 2)
    store.create(node("node2"))
    gc.settle()
    store.delete("Node", "", "node2")
    clock.advance(QUARANTINE / 2 + 1)
    gc.settle()         # missing again: a new quarantine
    assert store.find("Pod", "default", "b") is not None
    assert 0 < gc.reconcile(SWEEP) <= QUARANTINE


def test_quarantine_delay_is_asked_for():
    _, store = lab()
    gc = PodGCController(store, quarantine=QUARANTINE)
    store.delete("Node", "", "node2")
    assert gc.reconcile(SWEEP) == QUARANTINE
    assert PodGCController(store).quarantine == 40.0


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def conditions(ns: dict) -> dict:
    return {c["type"]: c for c in ns["status"]["conditions"]}


def test_namespace_is_terminating_until_its_content_is_gone():
    clock, store = lab()
    created = store.create(namespace("gone"))
    assert created["spec"]["finalizers"] == ["kubernetes"]
    assert created["status"] == {"phase": "Active"}
    store.create(pod("web", "node1", "gone"))
    store.create({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "cfg", "namespace": "gone"}})
    kubelet = Kubelet(store)
    kubelet.step()
    controller = NamespaceController(store)
    controller.settle()

    marked = store.delete("Namespace", "", "gone")
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["status"]["phase"] == "Terminating"
    assert store.delete("Namespace", "", "gone") == store.get("Namespace", "", "gone")

    controller.settle()
    ns = store.get("Namespace", "", "gone")
    assert ns["status"]["phase"] == "Terminating"
    assert store.find("ConfigMap", "gone", "cfg") is None
    assert store.get("Pod", "gone", "web")["metadata"]["deletionTimestamp"]   # graceful
    remaining = conditions(ns)["NamespaceContentRemaining"]
    assert (remaining["status"], remaining["reason"], remaining["message"]) == \
        ("True", "SomeResourcesRemain", "Some resources are remaining: pods. has 1 resource "
         "instances")
    assert conditions(ns)["NamespaceDeletionContentFailure"]["reason"] == "ContentDeleted"
    with pytest.raises(Forbidden) as refused:
        store.create(pod("late", "node1", "gone"))
    assert str(refused.value) == ('pods "late" is forbidden: unable to create new content in '
                                  "namespace gone because it is being terminated")

    converge([controller], kubelet)          # the kubelet finishes the pod
    assert store.find("Namespace", "", "gone") is None
    assert [o for kind in store.kinds() for o in store.list(kind, "gone")] == []
    assert controller.errors == 0


def test_empty_namespace_goes_at_once_and_updates_keep_the_finalizer():
    _, store = lab()
    store.create(namespace("quick"))
    store.update({"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "quick", "labels": {"a": "b"}}})
    assert store.get("Namespace", "", "quick")["spec"]["finalizers"] == ["kubernetes"]
    controller = NamespaceController(store)
    store.delete("Namespace", "", "quick")
    watch = store.watch(["Namespace"])
    controller.settle()
    assert store.find("Namespace", "", "quick") is None
    types = []
    while (event := watch.get(0)) is not None:
        types.append(event.type)
    assert types == ["MODIFIED", "MODIFIED", "DELETED"]    # conditions, finalized, gone


def test_immortal_and_unfinalized_namespaces():
    _, store = lab()
    with pytest.raises(Forbidden):
        store.delete("Namespace", "", "default")
    controller = NamespaceController(store)
    assert controller.reconcile("no-such-namespace") is None
    assert controller.reconcile("default") is None
