"""Event aggregation (k8snet.apiserver.events.record), as client-go's recorder."""
from __future__ import annotations

from k8snet.apiserver import events
from k8snet.apiserver.store import Store

POD = {"kind": "Pod", "apiVersion": "v1",
       "metadata": {"name": "web", "namespace": "default", "uid": "u-1"}}


def _events(store):
    return store.list("Event", "default")


def test_the_same_reason_and_message_raise_the_count():
    store = Store()
    first = events.record(store, POD, events.NORMAL, "Pulled", "image present", "kubelet")
    again = events.record(store, POD, events.NORMAL, "Pulled", "image present", "kubelet")
    assert again["metadata"]["name"] == first["metadata"]["name"] and again["count"] == 2
    other = events.record(store, POD, events.NORMAL, "Started", "started", "kubelet")
    assert other["count"] == 1 and len(_events(store)) == 2


def test_another_object_or_message_is_another_event():
    store = Store()
    twin = {**POD, "metadata": {**POD["metadata"], "uid": "u-2"}}
    events.record(store, POD, events.WARNING, "BackOff", "a", "kubelet")
    events.record(store, twin, events.WARNING, "BackOff", "a", "kubelet")
    events.record(store, POD, events.WARNING, "BackOff", "b", "kubelet")
    assert sorted((e["involvedObject"]["uid"], e["message"], e["count"])
                  for e in _events(store)) == [("u-1", "a", 1), ("u-1", "b", 1), ("u-2", "a", 1)]


def test_a_deleted_event_is_recorded_anew():
    store = Store()
    first = events.record(store, POD, events.NORMAL, "Killing", "stop", "kubelet")
    store.delete("Event", "default", first["metadata"]["name"])
    again = events.record(store, POD, events.NORMAL, "Killing", "stop", "kubelet")
    assert again["count"] == 1 and again["metadata"]["name"] != first["metadata"]["name"]


def test_past_the_cache_a_new_event_is_created(monkeypatch):
    monkeypatch.setattr(events, "CACHE_SIZE", 2)
    store = Store()
    for reason in ("A", "B", "C"):
        events.record(store, POD, events.NORMAL, reason, "m", "kubelet")
    events.record(store, POD, events.NORMAL, "A", "m", "kubelet")   # A was evicted
    events.record(store, POD, events.NORMAL, "C", "m", "kubelet")   # C was not
    counts = sorted((e["reason"], e["count"]) for e in _events(store))
    assert counts == [("A", 1), ("A", 1), ("B", 1), ("C", 2)]
