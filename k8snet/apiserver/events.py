"""Events (v1 Event) recorded by controllers and kubelets, aggregated as the
client-go event recorder does: the same reason and message for the same
object raise ``count`` and ``lastTimestamp`` instead of adding an Event.

Source: https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/
"""
from __future__ import annotations

import uuid

from k8snet.apiserver.store import Store, now_rfc3339
from k8snet.errors import StatusError

NORMAL, WARNING = "Normal", "Warning"


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
    try:
        with store.lock:
            for ev in store.list("Event", namespace):
                if (ev.get("involvedObject", {}).get("uid") == involved["uid"]
                        and ev.get("reason") == reason and ev.get("message") == message):
                    return store.mutate("Event", namespace, ev["metadata"]["name"],
                                        lambda e: e.update(count=e.get("count", 1) + 1,
                                                           lastTimestamp=now))
            return store.create({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{involved['name']}.{uuid.uuid4().hex[:16]}",
                             "namespace": namespace},
                "involvedObject": involved, "reason": reason, "message": message,
                "type": type_, "count": 1, "firstTimestamp": now, "lastTimestamp": now,
                "source": {"component": component, **({"host": host} if host else {})},
                "reportingComponent": component})
    except StatusError:
        return None
