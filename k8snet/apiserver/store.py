"""The API store: every object of the lab, in Kubernetes' JSON shape.

One writer path (``create``, ``update``, ``mutate``, ``delete``), one lock,
and a single resourceVersion counter, as etcd gives the API server.  Readers
``list`` and ``get``; controllers ``watch`` from a resourceVersion and get
ADDED / MODIFIED / DELETED events in order.

Objects handed out by ``list``/``get`` are the stored ones, shared and
read-only by contract (the store never changes a stored dict in place: a
write replaces it).  ``mutate`` hands a copy to change.

Behaviour follows https://kubernetes.io/docs/reference/using-api/api-concepts/
(resourceVersion, watch, 410 Gone) and the object meta conventions
(uid, generation, creationTimestamp, deletionTimestamp, ownerReferences).
Kind-specific admission (defaults, validation, ClusterIP/NodePort
allocation) is a ``Strategy`` registered per kind.
"""
from __future__ import annotations

import copy
import queue
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from k8snet.api.kinds import kind_info
from k8snet.errors import AlreadyExists, Conflict, Forbidden, Gone, Invalid, NotFound

HISTORY = 100_000          # events kept for watches that resume from a resourceVersion
ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")   # NamespaceLifecycle admission
SYSTEM_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp",
                 "deletionTimestamp", "deletionGracePeriodSeconds")


def now_rfc3339(t: float | None = None) -> str:
    """``2026-11-29T12:00:00Z``: the API's timestamp format (seconds)."""
    return datetime.fromtimestamp(time.time() if t is None else t, UTC) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> float:
    """Seconds since the epoch for an RFC 3339 timestamp; 0.0 for none."""
    if not text:
        return 0.0
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Event:
    """One watch event: ``type`` ADDED|MODIFIED|DELETED, the object after the
    change (the last state for DELETED), and its resourceVersion (int)."""

    type: str
    kind: str
    object: dict
    rv: int


class Strategy:
    """Admission for one kind, run under the store's lock.  Override what
    applies; raise ``Invalid`` (every cause) to refuse."""

    def prepare_create(self, store: Store, obj: dict) -> None:
        """Fill defaults, validate, allocate; change ``obj`` in place."""

    def prepare_update(self, store: Store, old: dict, obj: dict) -> None:
        """Check an update of ``old`` to ``obj``; change ``obj`` in place."""

    def after_delete(self, store: Store, obj: dict) -> None:
        """Release what the object held (ClusterIPs, NodePorts)."""


def key_of(obj: dict) -> tuple[str, str, str]:
    """(kind, namespace, name) of an object."""
    meta = obj.get("metadata") or {}
    return obj.get("kind", ""), meta.get("namespace", "") or "", meta.get("name", "")


_UIDS = random.Random()          # seeded from the system's entropy once


def new_uid() -> str:
    """A random (version 4) UUID, as the API server gives every object.
    From the process's generator, not ``uuid.uuid4``: its system call per
    object let the lab's other threads in, twice per pod set-up."""
    return str(uuid.UUID(int=_UIDS.getrandbits(128), version=4))


class Watch:
    """A stream of ``Event``s; iterate, or ``get(timeout)``; ``stop()`` ends it."""

    def __init__(self, store: Store, kinds: frozenset[str] | None, namespace: str,
                 where: Callable[[Event], bool] | None = None) -> None:
        self.store = store
        self.kinds = kinds
        self.namespace = namespace
        self.where = where
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.stopped = False

    def wants(self, event: Event) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        ns = (event.object.get("metadata") or {}).get("namespace", "")
        if self.namespace and ns != self.namespace:
            return False
        return self.where is None or self.where(event)

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None after ``timeout`` seconds or once stopped."""
        try:
            event = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return event

    def stop(self) -> None:
        self.stopped = True
        self.store._unwatch(self)
        self.queue.put(None)

    def __iter__(self):
        while not self.stopped:
            event = self.get()
            if event is None:
                return
            yield event


class Store:
    """All objects of one cluster.  Thread-safe."""

    def __init__(self, strategies: dict[str, Strategy] | None = None,
                 clock: Callable[[], float] = time.time,
                 default_strategy: Strategy | None = None) -> None:
        self.lock = threading.RLock()
        self.strategies = strategies or {}
        self.default_strategy = default_strategy or Strategy()
        self._buffer: list[Event] | None = None
        self.clock = clock
        self.objects: dict[str, dict[tuple[str, str], dict]] = {}
        self.rv = 0
        self.history: deque[Event] = deque(maxlen=HISTORY)
        self.watches: list[Watch] = []
        self.dependents: dict[str, set[tuple[str, str, str]]] = {}

    # --- reads -------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> dict:
        """The stored object; raises ``NotFound`` in the API server's words."""
        obj = self.objects.get(kind, {}).get((self._ns(kind, namespace), name))
        if obj is None:
            raise NotFound(f'{kind_info(kind).resource} "{name}" not found',
                           {"kind": kind, "name": name})
        return obj

    def find(self, kind: str, namespace: str, name: str) -> dict | None:
        """The stored object or None."""
        return self.objects.get(kind, {}).get((self._ns(kind, namespace), name))

    def list(self, kind: str, namespace: str = "",
             where: Callable[[dict], bool] | None = None) -> list[dict]:
        """Objects of ``kind`` (in ``namespace``; "" for all), sorted by
        namespace and name, optionally filtered by ``where``."""
        with self.lock:
            items = self.objects.get(kind, {})
            if namespace:
                out = [o for (ns, _), o in items.items() if ns == namespace]
            else:
                out = list(items.values())
        if where is not None:
            out = [o for o in out if where(o)]
        out.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return out

    def kinds(self) -> list[str]:
        """Every kind that has at least one object."""
        with self.lock:
            return sorted(k for k, items in self.objects.items() if items)

    def owned_by(self, uid: str) -> list[dict]:
        """Objects whose ownerReferences name ``uid``."""
        with self.lock:
            return [o for o in (self.find(*k) for k in self.dependents.get(uid, ())) if o]

    @property
    def resource_version(self) -> str:
        return str(self.rv)

    # --- writes ------------------------------------------------------------

    def create(self, obj: dict, dry_run: bool = False) -> dict:
        """Store a new object: uid, resourceVersion, generation 1,
        creationTimestamp.  Raises ``AlreadyExists``, ``NotFound`` (its
        namespace), ``Invalid``."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        kind = obj.get("kind", "")
        info = kind_info(kind, obj.get("apiVersion", "v1"))
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + new_uid().replace("-", "")[:5]
        if not meta.get("name"):
            raise Invalid(f"The {kind} \"\" is invalid: metadata.name: Required value: "
                          "name or generateName is required",
                          ["metadata.name: Required value: name or generateName is required"])
        if info.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        with self.lock:
            key = (meta.get("namespace", ""), meta["name"])
            if key in self.objects.get(kind, {}):
                raise AlreadyExists(f'{info.resource} "{meta["name"]}" already exists',
                                    {"kind": kind, "name": meta["name"]})
            if info.namespaced and kind != "Event":
                ns = self.find("Namespace", "", meta["namespace"])
                if ns is None:
                    raise NotFound(f'namespaces "{meta["namespace"]}" not found')
                if ns["metadata"].get("deletionTimestamp"):
                    raise Forbidden(f'{info.resource} "{meta["name"]}" is forbidden: unable '
                                    "to create new content in namespace "
                                    f'{meta["namespace"]} because it is being terminated')
            obj.setdefault("apiVersion", info.api_version)
            strategy = self._strategy(kind)
            for f in SYSTEM_FIELDS:
                meta.pop(f, None)
            strategy.prepare_create(self, obj)
            meta = obj.setdefault("metadata", {})     # the strategy may have replaced it
            if dry_run:
                meta["uid"] = new_uid()
                meta["creationTimestamp"] = now_rfc3339(self.clock())
                return obj
            meta["uid"] = new_uid()
            meta["generation"] = 1
            meta["creationTimestamp"] = now_rfc3339(self.clock())
            self._write(kind, key, obj, ADDED)
            return obj

    def update(self, obj: dict, dry_run: bool = False) -> dict:
        """Replace an object.  A resourceVersion in ``obj`` must match the
        stored one (else ``Conflict``); system fields are kept; generation
        rises when anything but metadata and status changed; an update that
        changes nothing writes nothing."""
        kind, ns, name = key_of(obj)
        with self.lock:
            old = self.get(kind, ns, name)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise Conflict(f'Operation cannot be fulfilled on {kind_info(kind).resource} '
                               f'"{name}": the object has been modified; please apply your '
                               "changes to the latest version and try again")
            new = copy.deepcopy(obj)
            return self._replace(old, new, dry_run)

    def mutate(self, kind: str, namespace: str, name: str,
               change: Callable[[dict], object]) -> dict:
        """Read-modify-write under the lock: ``change`` gets a copy of the
        object to edit in place (it must not call the store).  Returns the
        stored object (unchanged when ``change`` changed nothing)."""
        with self.lock:
            old = self.get(kind, namespace, name)
            new = copy.deepcopy(old)
            change(new)
            return self._replace(old, new, False)

    def delete(self, kind: str, namespace: str, name: str,
               grace_seconds: int | None = None, propagation: str = "Background",
               dry_run: bool = False) -> dict:
        """Delete an object.  A Pod bound to a node is only marked
        (deletionTimestamp): its kubelet stops it and deletes it with
        ``grace_seconds=0``.  ``propagation`` Orphan removes this owner from its
        dependents; Background leaves them to the garbage collector; Foreground
        deletes them first.  A Namespace is marked Terminating (``_delete_namespace``)."""
        with self.lock:
            obj = self.get(kind, namespace, name)
            if kind == "Namespace" and name in IMMORTAL_NAMESPACES:
                raise Forbidden(f'namespaces "{name}" is forbidden: this namespace may not be '
                                "deleted")
            if dry_run:
                return obj
            meta = obj["metadata"]
            if propagation == "Orphan":
                for dep in self.owned_by(meta["uid"]):
                    self._orphan(dep, meta["uid"])
            elif propagation == "Foreground":
                for dep in self.owned_by(meta["uid"]):
                    dk, dns, dn = key_of(dep)
                    self.delete(dk, dns, dn, grace_seconds, "Foreground")
            if kind == "Namespace":
                return self._delete_namespace(obj)
            if kind == "Pod" and self._graceful(obj, grace_seconds):
                if meta.get("deletionTimestamp"):
                    return obj
                grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30) \
                    if grace_seconds is None else grace_seconds
                marked = copy.deepcopy(obj)
                marked["metadata"]["deletionTimestamp"] = now_rfc3339(self.clock() + grace)
                marked["metadata"]["deletionGracePeriodSeconds"] = grace
                self._write(kind, (meta.get("namespace", ""), name), marked, MODIFIED, obj)
                return marked
            return self._remove(obj)

    # --- watch -------------------------------------------------------------

    def watch(self, kinds: Iterable[str] | None = None, namespace: str = "",
              since: str | int | None = None,
              where: Callable[[Event], bool] | None = None) -> Watch:
        """Events of ``kinds`` (None: all) in ``namespace`` ("": all), from
        ``since`` (a resourceVersion: events after it are replayed first;
        None: only new ones), and only those ``where`` accepts (a watch's
        field selector: it runs in the writer's thread under the store's
        lock, so it must be cheap and must not block).  Raises ``Gone`` when
        ``since`` is older than the history kept."""
        w = Watch(self, frozenset(kinds) if kinds is not None else None, namespace, where)
        with self.lock:
            if since not in (None, "", "0", 0):
                since = int(since)
                if self.history and since < self.history[0].rv - 1:
                    raise Gone(f"too old resource version: {since} ({self.history[0].rv})")
                for event in self.history:
                    if event.rv > since and w.wants(event):
                        w.queue.put(event)
            self.watches.append(w)
        return w

    def _unwatch(self, w: Watch) -> None:
        with self.lock:
            if w in self.watches:
                self.watches.remove(w)

    # --- internals ---------------------------------------------------------

    @staticmethod
    def _ns(kind: str, namespace: str) -> str:
        return (namespace or "default") if kind_info(kind).namespaced else ""

    def _replace(self, old: dict, new: dict, dry_run: bool) -> dict:
        kind, ns, name = key_of(old)
        meta = new.setdefault("metadata", {})
        for f in SYSTEM_FIELDS:
            if f in old["metadata"]:
                meta[f] = old["metadata"][f]
            else:
                meta.pop(f, None)
        meta["name"], new["kind"] = name, kind
        if ns:
            meta["namespace"] = ns
        self._strategy(kind).prepare_update(self, old, new)
        meta = new.setdefault("metadata", {})
        if new == old:
            return old
        if _spec_of(new) != _spec_of(old):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        if dry_run:
            return new
        self._write(kind, (ns, name), new, MODIFIED, old)
        if meta.get("deletionTimestamp") and meta.get("finalizers") == [] and kind != "Pod":
            self._remove(new)
        elif kind == "Namespace" and _finalized_namespace(new):
            self._remove(new)
        return self.find(kind, ns, name) or new

    def _write(self, kind: str, key: tuple[str, str], obj: dict, type_: str,
               old: dict | None = None) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects.setdefault(kind, {})[key] = obj
        self._index(old, remove=True)
        self._index(obj)
        self._emit(Event(type_, kind, obj, self.rv))

    def _remove(self, obj: dict) -> dict:
        kind, ns, name = key_of(obj)
        stored = self.objects.get(kind, {}).pop((ns, name), None)
        if stored is None:
            return obj
        self._index(stored, remove=True)
        self.rv += 1
        gone = dict(stored, metadata=dict(stored["metadata"], resourceVersion=str(self.rv)))
        self._strategy(kind).after_delete(self, gone)
        self._emit(Event(DELETED, kind, gone, self.rv))
        return gone

    def _strategy(self, kind: str) -> Strategy:
        return self.strategies.get(kind) or self.default_strategy

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """All writes inside happen, or (on an exception) none: the objects
        are restored and watchers never see the events.  Holds the lock."""
        with self.lock:
            if self._buffer is not None:          # nested: the outer one decides
                yield
                return
            saved = {kind: dict(items) for kind, items in self.objects.items()}
            deps = {uid: set(keys) for uid, keys in self.dependents.items()}
            self._buffer = []
            try:
                yield
            except BaseException:
                self.objects, self.dependents, self._buffer = saved, deps, None
                raise
            buffered, self._buffer = self._buffer, None
            for event in buffered:
                self._emit(event)

    def _emit(self, event: Event) -> None:
        if self._buffer is not None:
            self._buffer.append(event)
            return
        self.history.append(event)
        for w in self.watches:
            if w.wants(event):
                w.queue.put(event)

    def _index(self, obj: dict | None, remove: bool = False) -> None:
        if obj is None:
            return
        key = key_of(obj)
        for ref in obj["metadata"].get("ownerReferences") or []:
            deps = self.dependents.setdefault(ref.get("uid", ""), set())
            if remove:
                deps.discard(key)
            else:
                deps.add(key)

    def _orphan(self, dep: dict, uid: str) -> None:
        def drop(o: dict) -> None:
            refs = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if refs:
                o["metadata"]["ownerReferences"] = refs
            else:
                o["metadata"].pop("ownerReferences", None)
        self.mutate(*key_of(dep), drop)

    def _graceful(self, pod: dict, grace_seconds: int | None) -> bool:
        bound = bool((pod.get("spec") or {}).get("nodeName"))
        return bound and grace_seconds != 0

    def _delete_namespace(self, ns_obj: dict) -> dict:
        """The namespace registry's Delete (pkg/registry/core/namespace/storage/
        storage.go): a Namespace with ``spec.finalizers`` (the API server gives
        every one ``kubernetes``) is only marked, ``deletionTimestamp`` and
        ``status.phase`` Terminating; deleting it again changes nothing.  The
        namespace controller (k8snet/control/namespace.py) empties it and takes
        its finalizer off, and the update that leaves none removes it
        (``ShouldDeleteNamespaceDuringUpdate``).  One without finalizers (made
        without the API server's strategies) goes at once, with its objects."""
        name = ns_obj["metadata"]["name"]
        if (ns_obj.get("spec") or {}).get("finalizers"):
            if ns_obj["metadata"].get("deletionTimestamp"):
                return ns_obj
            marked = copy.deepcopy(ns_obj)
            marked["metadata"]["deletionTimestamp"] = now_rfc3339(self.clock())
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            marked.setdefault("status", {})["phase"] = "Terminating"
            self._write("Namespace", ("", name), marked, MODIFIED, ns_obj)
            return marked
        for kind in list(self.objects):
            if kind_info(kind).namespaced:
                for (ns, _), obj in list(self.objects[kind].items()):
                    if ns != name:
                        continue
                    if kind == "Pod" and self._graceful(obj, None):
                        self.delete(*key_of(obj))
                    else:
                        self._remove(obj)
        return self._remove(ns_obj)


def _finalized_namespace(ns: dict) -> bool:
    """A Namespace being deleted that no finalizer holds any more."""
    meta = ns.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers") \
        and not (ns.get("spec") or {}).get("finalizers")


def _spec_of(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}
