"""Supervision of the lab's own processes: the OpenFlow controller and ext's
servers are restarted when they die, with back-off, and every restart is an
Event (``kubectl get events -n kube-system``) and a count.

Pods need none of this: the kubelet restarts their containers (cluster DNS,
ingress nginx) by their restartPolicy.  A process stopped on purpose
(``controller stop``) is paused, not restarted.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from k8snet.apiserver import events
from k8snet.apiserver.store import Store

BACKOFF_MIN = 0.5           # seconds before the first restart; doubles each time
BACKOFF_MAX = 30.0
POLL = 0.25
STEADY = 30.0               # running this long resets the back-off

log = logging.getLogger("k8snet.supervisor")


@dataclass
class Supervised:
    """One process: ``alive()`` tells if it runs, ``restart()`` starts it again."""

    name: str
    alive: Callable[[], bool]
    restart: Callable[[], None]
    restarts: int = 0
    paused: bool = False
    backoff: float = BACKOFF_MIN
    next_try: float = 0.0
    since: float = field(default=0.0)


class Supervisor:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self.items: dict[str, Supervised] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, item: Supervised) -> None:
        item.since = self.clock()
        self.items[item.name] = item

    def pause(self, name: str) -> None:
        self.items[name].paused = True

    def resume(self, name: str) -> None:
        item = self.items[name]
        item.paused, item.backoff, item.since = False, BACKOFF_MIN, self.clock()

    def check(self) -> list[str]:
        """Restart what died and is due; the names restarted (one pass, no thread)."""
        done = []
        now = self.clock()
        for item in self.items.values():
            if item.paused:
                continue
            if item.alive():
                if now - item.since > STEADY:
                    item.backoff = BACKOFF_MIN
                continue
            if now < item.next_try:
                continue
            try:
                item.restart()
                item.restarts += 1
                item.since = now
                done.append(item.name)
                self._event(item, events.WARNING, "Restarted",
                            f"{item.name} had exited; restarted (restarts: {item.restarts})")
            except Exception as exc:  # noqa: BLE001 - try again later, never end the lab
                log.warning("restarting %s: %s", item.name, exc)
                self._event(item, events.WARNING, "RestartFailed", f"{item.name}: {exc}")
            item.next_try = now + item.backoff
            item.backoff = min(item.backoff * 2, BACKOFF_MAX)
        return done

    def _event(self, item: Supervised, type_: str, reason: str, message: str) -> None:
        ns = self.store.find("Namespace", "", "kube-system")
        if ns is not None:
            # Recorded in kube-system (a cluster-scoped object's Events would land in
            # "default"), about the kube-system Namespace: the lab's own machinery.
            about = {"kind": "Namespace", "apiVersion": "v1",
                     "metadata": {"name": "kube-system", "namespace": "kube-system",
                                  "uid": ns["metadata"].get("uid", "")}}
            events.record(self.store, about, type_, reason, message, "k8snet-supervisor")

    def start(self) -> Supervisor:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="supervisor")
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(POLL):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
