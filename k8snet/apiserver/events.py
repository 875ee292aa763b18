"""Events (v1 Event) recorded by controllers and kubelets, aggregated as the
client-go event recorder does: the same reason and message for the same
object raise ``count`` and ``lastTimestamp`` instead of adding an Event.
Like client-go's EventCorrelator, the Events to aggregate into are found
through an LRU cache of the last ``CACHE_SIZE`` keys (object uid, reason,
message), not by scanning every Event: recording costs the same with 10 or
10,000 Events stored.

Sources: https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/,
client-go tools/record/events_cache.go (maxLruCacheEntries).
"""
from __future__ import annotations

import weakref
from collections import OrderedDict

from k8snet.apiserver.store import Store, new_uid, now_rfc3339
from k8snet.errors import StatusError

NORMAL, WARNING = "Normal", "Warning"
CACHE_SIZE = 4096

# store -> (namespace, uid, reason, message) -> the Event's name, least recent first
_recent: weakref.WeakKeyDictionary[Store, OrderedDict] = weakref.WeakKeyDictionary()


def record(store: Store, obj: dict, type_: str, reason: str, message: str,
           component: str, host: str = "") -> dict | None:
    """Record that ``reason``/``message`` happened to ``obj``; returns the
    Event, or None when it could not be stored (an event never fails the
    caller)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    involved = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", "v1"),
                "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
                "uid": meta.get("uid", "")}
    now = now_rfc3339(store.clock())
    key = (namespace, involved["uid"], reason, message)
    try:
        with store.lock:
            recent = _recent.setdefault(store, OrderedDict())
            name = recent.get(key)
            ev = store.find("Event", namespace, name) if name else None
            if ev is not None and ev.get("involvedObject", {}).get("uid") == involved["uid"] \
                    and ev.get("reason") == reason and ev.get("message") == message:
                recent.move_to_end(key)
                return store.mutate("Event", namespace, name,
                                    lambda e: e.update(count=e.get("count", 1) + 1,
                                                       lastTimestamp=now))
            created = store.create({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{involved['name']}.{new_uid().replace('-', '')[:16]}",
                             "namespace": namespace},
                "involvedObject": involved, "reason": reason, "message": message,
                "type": type_, "count": 1, "firstTimestamp": now, "lastTimestamp": now,
                "source": {"component": component, **({"host": host} if host else {})},
                "reportingComponent": component})
            recent[key] = created["metadata"]["name"]
            if len(recent) > CACHE_SIZE:
                recent.popitem(last=False)
            return created
    except StatusError:
        return None
