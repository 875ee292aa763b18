"""The garbage collector: objects whose owners are all gone go too.

Follows pkg/controller/garbagecollector/garbagecollector.go
(attemptToDeleteItem) and the documented behaviour
(https://kubernetes.io/docs/concepts/architecture/garbage-collection/):
an object with ``ownerReferences`` whose owners all no longer exist (no
object of that kind and name, or one with another uid) is deleted with
Background propagation, so a Deployment takes its ReplicaSets and they take
their pods, one generation per DELETED event.  An object with some owners
left only loses the references to the missing ones.  ``Orphan`` deletion is
the store's part (it strips the owner from its dependents before deleting),
and so is ``Foreground``.  At start, and at each resync, every object with
owners is checked (the collector's initial graph sync).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable

from k8snet.api.kinds import kind_info
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import Event, key_of
from k8snet.control import names
from k8snet.errors import NotFound

SWEEP = ("sweep",)            # the key that checks every object with owners
SHAPE = {"metadata": names.META_SHAPE, "spec": dict, "status": dict}   # else left alone


class GarbageCollector(Controller):
    """``GarbageCollector(store)``: watches every kind; keys are ``SWEEP``,
    ``("owner", uid)`` (the dependents of a deleted object) and
    ``("object", kind, namespace, name)`` (a new object with owners)."""

    name = "garbage-collector"
    watches = None  # type: ignore[assignment]  # every kind

    def initial_keys(self) -> Iterable[Hashable]:
        return [SWEEP]

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """A deleted object's dependents; an added object that has owners."""
        if event.type == "DELETED":
            return [("owner", names.uid_of(event.object))]
        if event.type == "ADDED" and names.owner_refs(event.object):
            return [("object", *key_of(event.object))]
        return []

    def reconcile(self, key: Hashable) -> float | None:
        if key == SWEEP:
            for kind in self.store.kinds():
                for obj in self.store.list(kind):
                    self.collect(obj)
        elif isinstance(key, tuple) and key[0] == "owner":
            for dependent in self.store.owned_by(key[1]):
                self.collect(dependent)
        elif isinstance(key, tuple) and key[0] == "object":
            obj = self.store.find(*key[1:])
            if obj is not None:
                self.collect(obj)
        return None

    def collect(self, obj: dict) -> None:
        """Delete ``obj`` when every owner is gone; else drop the references
        to the owners that are gone.  Objects already terminating are left."""
        refs = names.owner_refs(obj)
        if not refs or names.is_terminating(obj) or not names.conforms(obj, SHAPE):
            return
        namespace = names.meta_of(obj).get("namespace", "")
        gone = {r.get("uid") for r in refs if not self.owner_exists(r, namespace)}
        try:
            if len(gone) == len({r.get("uid") for r in refs}):
                self.log.info("deleting %s: its owners are gone", key_of(obj))
                self.store.delete(*key_of(obj), propagation="Background")
            elif gone:
                self.store.mutate(*key_of(obj), lambda o: o["metadata"].update(ownerReferences=[
                    r for r in names.owner_refs(o) if r.get("uid") not in gone]))
        except NotFound:
            pass

    def owner_exists(self, ref: dict, namespace: str) -> bool:
        """An object of the reference's kind and name with its uid exists
        (a namespaced owner is looked for in the dependent's namespace)."""
        kind, name = ref.get("kind"), ref.get("name")
        if not kind or not name or not isinstance(kind, str) or not isinstance(name, str):
            return False
        api_version = ref.get("apiVersion")
        info = kind_info(kind, api_version if isinstance(api_version, str) else "v1")
        owner = self.store.find(kind, namespace if info.namespaced else "", name)
        return owner is not None and names.uid_of(owner) == ref.get("uid")
