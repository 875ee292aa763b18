"""The API store: metadata, resourceVersion, watch, graceful pod deletion."""
import time

import pytest

from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import Store, key_of
from k8snet.errors import AlreadyExists, Conflict, Gone, NotFound


def ns(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def cm(name, data=None, namespace="default", owner=None):
    meta = {"name": name, "namespace": namespace}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": owner["kind"],
                                    "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"]}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {}}


@pytest.fixture
def store():
    s = Store()
    s.create(ns("default"))
    return s


def test_create_sets_metadata(store):
    obj = store.create(cm("a"))
    meta = obj["metadata"]
    assert meta["generation"] == 1
    assert len(meta["uid"]) == 36
    assert meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) == 2


def test_duplicate_and_missing_namespace(store):
    store.create(cm("a"))
    with pytest.raises(AlreadyExists, match='configmaps "a" already exists'):
        store.create(cm("a"))
    with pytest.raises(NotFound, match='namespaces "nope" not found'):
        store.create(cm("a", namespace="nope"))


def test_update_generation_and_noop(store):
    obj = store.create(cm("a", {"x": "1"}))
    same = store.mutate("ConfigMap", "default", "a", lambda o: None)
    assert same["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    new = store.mutate("ConfigMap", "default", "a", lambda o: o["data"].update(x="2"))
    assert new["metadata"]["generation"] == 2
    status = store.mutate("ConfigMap", "default", "a",
                          lambda o: o.setdefault("status", {}).update(ok=True))
    assert status["metadata"]["generation"] == 2


def test_conflict_on_stale_resource_version(store):
    obj = store.create(cm("a"))
    store.mutate("ConfigMap", "default", "a", lambda o: o["data"].update(y="1"))
    with pytest.raises(Conflict):
        store.update(obj)


def test_watch_from_resource_version_replays(store):
    start = store.resource_version
    store.create(cm("a"))
    store.create(cm("b"))
    store.delete("ConfigMap", "default", "a")
    w = store.watch(["ConfigMap"], since=start)
    seen = [(e.type, e.object["metadata"]["name"]) for e in
            (w.get(0), w.get(0), w.get(0))]
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    assert w.get(0) is None


def test_watch_too_old_is_gone():
    s = Store()
    s.history = type(s.history)(maxlen=2)
    s.create(ns("default"))
    for i in range(4):
        s.create(cm(f"c{i}"))
    with pytest.raises(Gone):
        s.watch(since=1)


def test_bound_pod_is_marked_then_removed(store):
    pod = {"kind": "Pod", "metadata": {"name": "p"},
           "spec": {"nodeName": "node1", "containers": [{"name": "c"}]}}
    store.create(pod)
    marked = store.delete("Pod", "default", "p")
    assert marked["metadata"]["deletionTimestamp"]
    assert store.find("Pod", "default", "p") is not None
    store.delete("Pod", "default", "p", grace_seconds=0)
    assert store.find("Pod", "default", "p") is None


def test_namespace_delete_takes_objects(store):
    store.create(ns("x"))
    store.create(cm("a", namespace="x"))
    store.delete("Namespace", "", "x")
    assert store.list("ConfigMap", "x") == []


def test_orphan_propagation_drops_owner_reference(store):
    owner = store.create(cm("owner"))
    store.create(cm("dep", owner=owner))
    assert [key_of(o) for o in store.owned_by(owner["metadata"]["uid"])] == \
        [("ConfigMap", "default", "dep")]
    store.delete("ConfigMap", "default", "owner", propagation="Orphan")
    assert "ownerReferences" not in store.get("ConfigMap", "default", "dep")["metadata"]


def test_list_ten_thousand_is_sorted(store):
    for i in range(200):
        store.create(cm(f"n{i:04d}"))
    names = [o["metadata"]["name"] for o in store.list("ConfigMap")]
    assert names == sorted(names) and len(names) == 200


class Counter(Controller):
    name = "counter"
    watches = ("ConfigMap",)

    def __init__(self, store):
        super().__init__(store)
        self.seen = []

    def reconcile(self, key):
        self.seen.append(key)
        if key[2] == "boom" and len(self.seen) < 3:
            raise RuntimeError("transient")
        return None


def test_controller_dedups_and_retries(store):
    c = Counter(store)
    c.run_once()
    store.create(cm("a"))
    store.mutate("ConfigMap", "default", "a", lambda o: o["data"].update(z="1"))
    c.run_once()
    assert c.seen == [("ConfigMap", "default", "a")]
    store.create(cm("boom"))
    c.run_once()
    assert c.errors == 1
    time.sleep(0.1)
    c.run_once()
    assert c.seen[-1] == ("ConfigMap", "default", "boom") and c.errors == 1


def test_controller_thread_sees_event_quickly(store):
    c = Counter(store).start()
    try:
        store.create(cm("fast"))
        deadline = time.monotonic() + 2
        while ("ConfigMap", "default", "fast") not in c.seen and time.monotonic() < deadline:
            time.sleep(0.005)
        assert ("ConfigMap", "default", "fast") in c.seen
    finally:
        c.stop()


def test_a_watch_with_a_field_selector_gets_only_what_it_accepts(store):
    mine = store.watch(["Pod"], where=lambda ev: (ev.object.get("spec") or {})
                       .get("nodeName") == "node1")
    for name, node in (("a", "node1"), ("b", "node2"), ("c", "")):
        spec = {"containers": [{"name": "c", "image": "x"}], **({"nodeName": node} if node else {})}
        store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
    store.delete("Pod", "default", "a", grace_seconds=0)
    store.delete("Pod", "default", "b", grace_seconds=0)
    got = []
    while (ev := mine.get(timeout=0.05)) is not None:
        got.append((ev.type, ev.object["metadata"]["name"]))
    assert got == [("ADDED", "a"), ("DELETED", "a")]


def test_new_uids_are_distinct_version_4_uuids():
    import uuid

    from k8snet.apiserver.store import new_uid
    uids = [new_uid() for _ in range(2000)]
    assert len(set(uids)) == len(uids)
    assert all(uuid.UUID(u).version == 4 and str(uuid.UUID(u)) == u for u in uids)
