"""The reconcile loop every controller and node agent runs on.

A controller names the kinds it watches, maps each watch event to the keys
it must look at again (``keys_for``), and ``reconcile``s one key at a time:
read what is wanted from the store, look at what exists, fix the
difference.  Keys are de-duplicated while they wait (a burst of events is one
reconcile), a failing key is retried with backoff, and ``reconcile`` may ask
to be called again after some seconds.  Level-triggered, as in
kube-controller-manager and kindnetd: a missed event is repaired by the next
resync.

Unit tests drive it without threads: ``run_once()`` handles what is pending.
"""
from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Hashable, Iterable

from k8snet import logs
from k8snet.apiserver.store import Event, Store, key_of

BACKOFF_MIN = 0.05     # seconds before a failed key is retried; doubles each time
BACKOFF_MAX = 5.0
IDLE_WAIT = 1.0        # seconds an idle controller sleeps at most between looks
_WAKE = object()       # put on the controller's own watch queue to wake its loop


class Controller:
    """Subclass: set ``name`` and ``watches``; implement ``reconcile``."""

    name = "controller"
    watches: tuple[str, ...] = ()
    resync_seconds: float | None = None     # re-list everything this often

    def __init__(self, store: Store) -> None:
        self.store = store
        self.log = logs.get(f"{logs.ROOT}.{self.name}")    # to agents.log only
        self._dirty: dict[Hashable, None] = {}
        self._delayed: list[tuple[float, int, Hashable]] = []
        self._due_at: dict[Hashable, float] = {}      # key -> when its timer fires
        self._failures: dict[Hashable, int] = {}
        self._seq = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._watch = None
        self.reconciles = 0
        self.errors = 0
        self.last_error = ""

    # --- what subclasses provide ---------------------------------------------

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """The keys an event makes dirty; default: the object's own key."""
        return [key_of(event.object)]

    def initial_keys(self) -> Iterable[Hashable]:
        """Every key at start and at each resync; default: every watched object."""
        for kind in self.watches:
            for obj in self.store.list(kind):
                yield key_of(obj)

    def reconcile(self, key: Hashable) -> float | None:
        """Make the world match the store for ``key``; return seconds after
        which to look again, or None."""
        raise NotImplementedError

    def wants(self, event: Event) -> bool:
        """Whether the store should deliver ``event`` at all (a watch's field
        selector, as the kubelet's ``spec.nodeName=NODE``): it runs in the
        writer's thread under the store's lock, so it must be cheap, must
        not block and may only read what is safe to read from any thread.
        An event left out wakes nothing."""
        return True

    # --- the queue ---------------------------------------------------------------

    def enqueue(self, key: Hashable, after: float = 0.0) -> None:
        """Reconcile ``key`` now, or ``after`` seconds from now.  A key waits
        at most once, for the earliest time asked (client-go's delaying
        queue, AddAfter): a key that returns a delay from every reconcile
        keeps one timer, however many events ran it meanwhile."""
        with self._lock:
            if after <= 0:
                self._dirty[key] = None
            else:
                due = time.monotonic() + after
                waiting = self._due_at.get(key)
                if waiting is not None and waiting <= due:
                    return
                self._due_at[key] = due
                self._seq += 1
                heapq.heappush(self._delayed, (due, self._seq, key))
        if self._watch is not None:
            self._watch.queue.put(_WAKE)

    def _due(self) -> list[Hashable]:
        now = time.monotonic()
        with self._lock:
            while self._delayed and self._delayed[0][0] <= now:
                due, _, key = heapq.heappop(self._delayed)
                if self._due_at.get(key) == due:    # else superseded by an earlier time
                    del self._due_at[key]
                    self._dirty[key] = None
            keys = list(self._dirty)
            self._dirty.clear()
        return keys

    def _drain_events(self, timeout: float) -> None:
        event = self._watch.get(timeout=timeout) if self._watch else None
        while event is not None:
            if event is not _WAKE:
                keys = list(self.keys_for(event))
                with self._lock:
                    for key in keys:
                        self._dirty[key] = None
            event = self._watch.get(timeout=0)

    def _handle(self, key: Hashable) -> None:
        self.reconciles += 1
        try:
            after = self.reconcile(key)
        except Exception as exc:  # noqa: BLE001 - a controller must survive any key
            n = self._failures.get(key, 0) + 1
            self._failures[key] = n
            self.errors += 1
            self.last_error = f"{key}: {exc}"
            self.log.exception("reconcile %s failed (%d)", key, n)
            self.enqueue(key, min(BACKOFF_MAX, BACKOFF_MIN * 2 ** (n - 1)))
            return
        self._failures.pop(key, None)
        if after is not None:
            self.enqueue(key, after)

    def run_once(self) -> int:
        """Handle pending events and due keys now; return how many keys ran."""
        if self._watch is None:
            self._begin()
        self._drain_events(0)
        keys = self._due()
        for key in keys:
            self._handle(key)
        return len(keys)

    def settle(self, rounds: int = 50) -> None:
        """``run_once`` until nothing is pending (tests)."""
        for _ in range(rounds):
            if not self.run_once():
                return

    # --- the thread --------------------------------------------------------------

    def _begin(self) -> None:
        with self.store.lock:
            self._watch = self.store.watch(self.watches, where=self.wants)
            keys = list(self.initial_keys())
        with self._lock:
            for key in keys:
                self._dirty[key] = None

    def start(self) -> Controller:
        self._begin()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        next_resync = time.monotonic() + (self.resync_seconds or 1e9)
        while not self._stop.is_set():
            with self._lock:      # events and enqueue() wake it; the bound is a backstop
                wait = 0.0 if self._dirty else min(IDLE_WAIT, next_resync - time.monotonic())
                if self._delayed:
                    wait = min(wait, self._delayed[0][0] - time.monotonic())
                wait = max(0.0, wait)
            self._drain_events(wait)
            if time.monotonic() >= next_resync:
                for key in list(self.initial_keys()):
                    self.enqueue(key)
                next_resync = time.monotonic() + self.resync_seconds
            for key in self._due():
                if self._stop.is_set():
                    return
                self._handle(key)

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)


class SyncController(Controller):
    """A controller with one key: every event marks the whole state dirty
    and one ``sync()`` renders all of it (kube-proxy's shape: a burst of
    changes is one sync)."""

    SYNC = "sync"

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        return [self.SYNC]

    def initial_keys(self) -> Iterable[Hashable]:
        return [self.SYNC]

    def reconcile(self, key: Hashable) -> float | None:
        return self.sync()

    def sync(self) -> float | None:
        """Render and apply the whole desired state; seconds to look again, or None."""
        raise NotImplementedError
