"""The supervisor restarts what died, backs off, records Events, and leaves
paused processes alone (a fake clock, no threads)."""
from __future__ import annotations

from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.cluster.supervisor import BACKOFF_MIN, Supervised, Supervisor


class Proc:
    def __init__(self, fails: int = 0) -> None:
        self.up, self.starts, self.fails = True, 0, fails

    def restart(self) -> None:
        if self.fails:
            self.fails -= 1
            raise RuntimeError("port in use")
        self.up, self.starts = True, self.starts + 1


def setup(fails: int = 0):
    by_kind, default = strategies("10.96.0.0/12")
    store = Store(by_kind, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "kube-system"}})
    now = [100.0]
    sup = Supervisor(store, lambda: now[0])
    proc = Proc(fails)
    sup.watch(Supervised("fabric-controller", lambda: proc.up, proc.restart))
    return store, sup, proc, now


def test_a_dead_process_is_restarted_and_an_event_says_so():
    store, sup, proc, now = setup()
    assert sup.check() == []
    proc.up = False
    assert sup.check() == ["fabric-controller"]
    assert proc.starts == 1 and sup.items["fabric-controller"].restarts == 1
    (event,) = store.list("Event", "kube-system")
    assert event["reason"] == "Restarted" and "fabric-controller" in event["message"]


def test_failed_restarts_back_off_doubling():
    _, sup, proc, now = setup(fails=2)
    proc.up = False
    sup.check()                                  # fails at t=100
    assert sup.check() == []                     # not due yet
    now[0] += BACKOFF_MIN
    sup.check()                                  # fails again, waits 2 x BACKOFF_MIN
    now[0] += BACKOFF_MIN
    assert sup.check() == []
    now[0] += BACKOFF_MIN
    assert sup.check() == ["fabric-controller"] and proc.starts == 1


def test_a_paused_process_is_left_alone_until_resumed():
    _, sup, proc, now = setup()
    sup.pause("fabric-controller")
    proc.up = False
    assert sup.check() == [] and proc.starts == 0
    sup.resume("fabric-controller")
    assert sup.check() == ["fabric-controller"]
