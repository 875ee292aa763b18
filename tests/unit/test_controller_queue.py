"""The controllers' work queue (k8snet.apiserver.controller.Controller): a
key waits at most once, for the earliest time asked, as client-go's delaying
queue.  A fake monotonic clock moves by hand."""
from __future__ import annotations

import pytest

from k8snet.apiserver import controller as controller_mod
from k8snet.apiserver.controller import Controller, SyncController
from k8snet.apiserver.store import Store


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    fake = FakeMonotonic()
    monkeypatch.setattr(controller_mod, "time", fake)
    return fake


class Periodic(SyncController):
    """Looks again every second, like kproxy's canary."""
    name = "periodic"
    watches = ("ConfigMap",)

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.syncs = 0

    def sync(self) -> float:
        self.syncs += 1
        return 1.0


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}, "data": {}}


def test_a_key_run_by_many_events_keeps_one_timer(clock):
    store = Store()
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    c = Periodic(store)
    c.run_once()                                  # the initial sync
    for i in range(20):                           # 20 events, 20 syncs, each asks for 1 s
        store.create(configmap(f"cm{i}"))
        c.run_once()
        clock.t += 0.01
    assert c.syncs == 21
    ran = 0
    for _ in range(300):                          # the next 3 s, a step of 10 ms each
        clock.t += 0.01
        ran += c.run_once()
    assert ran == 3                               # once a second, not 21 times
    assert c.syncs == 24


class Delays(Controller):
    name = "delays"
    watches = ()

    def reconcile(self, key):
        return None


def test_the_earliest_time_asked_wins_and_a_later_one_is_dropped(clock):
    c = Delays(Store())
    c.run_once()
    c.enqueue("k", 5.0)
    c.enqueue("k", 2.0)                           # earlier: replaces
    c.enqueue("k", 9.0)                           # later: the key already waits
    clock.t += 2.0
    assert c._due() == ["k"]
    clock.t += 10.0
    assert c._due() == []                         # the superseded 5 s and the 9 s are gone
    c.enqueue("k", 1.0)                           # after firing, a new timer may be set
    clock.t += 1.0
    assert c._due() == ["k"]


def test_keys_wait_independently(clock):
    c = Delays(Store())
    c.run_once()
    c.enqueue("a", 1.0)
    c.enqueue("b", 2.0)
    c.enqueue("a", 3.0)
    clock.t += 1.0
    assert c._due() == ["a"]
    clock.t += 1.0
    assert c._due() == ["b"]


def test_a_running_controller_is_woken_by_enqueue_not_by_its_idle_backstop(monkeypatch):
    """The loop sleeps up to IDLE_WAIT when idle; enqueue() from another
    thread (now or after a delay) wakes it.  With the backstop at 60 s, a
    lost wake-up would time this test out."""
    import threading
    monkeypatch.setattr(controller_mod, "IDLE_WAIT", 60.0)
    seen: dict[str, threading.Event] = {"now": threading.Event(), "later": threading.Event()}

    class Wakes(Controller):
        name = "wakes"
        watches = ()

        def reconcile(self, key):
            if key in seen:
                seen[key].set()
            return None

    c = Wakes(Store()).start()
    try:
        threading.Thread(target=c.enqueue, args=("later", 0.05)).start()
        threading.Thread(target=c.enqueue, args=("now",)).start()
        assert seen["now"].wait(20) and seen["later"].wait(20)
    finally:
        c.stop()
