"""The pod garbage collector: pods bound to a Node that is gone go too.

Follows kube-controller-manager's podgc controller
(pkg/controller/podgc/gc_controller.go, ``gcOrphaned``,
``discoverDeletedNodes``, ``markFailedAndDeletePodWithCondition``): a pod
whose ``spec.nodeName`` names no Node puts that node in quarantine
(``quarantineTime``, 40 s, here ``quarantine=``, measured on the store's
clock); once the quarantine is over and the Node still does not exist, each
of its pods gets the condition ``DisruptionTarget`` True, reason
``DeletionByPodGC``, message "PodGC: node no longer exists", phase ``Failed``
unless it already ended, and is deleted with grace period 0: no kubelet is
left to finish a graceful deletion.  A Node that comes back within the
quarantine keeps its pods.  Upstream looks every ``gcCheckPeriod`` (20 s);
here Node additions and deletions and pods bound to a missing node wake it,
and the resync is the backstop.

Not modelled: ``gcTerminated`` (the terminated-pod threshold),
``gcTerminating`` (out-of-service nodes) and ``gcUnscheduledTerminating``.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable

from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import DELETED, MODIFIED, Event, Store, key_of, now_rfc3339
from k8snet.control import names
from k8snet.errors import NotFound

QUARANTINE = 40.0           # seconds (quarantineTime)
SWEEP = "orphaned"          # the one key: look at every bound pod
REASON = "DeletionByPodGC"
MESSAGE = "PodGC: node no longer exists"


def node_of(pod: dict) -> str:
    """``spec.nodeName`` ("" when unbound or odd)."""
    name = names.as_dict(pod.get("spec")).get("nodeName")
    return name if isinstance(name, str) else ""


class PodGCController(Controller):
    """``PodGCController(store, quarantine=QUARANTINE)``."""

    name = "pod-garbage-collector"
    watches = ("Node", "Pod")
    resync_seconds = 20.0       # gcCheckPeriod

    def __init__(self, store: Store, quarantine: float = QUARANTINE) -> None:
        super().__init__(store)
        self.quarantine = quarantine
        self.missing_since: dict[str, float] = {}     # node name -> first seen missing

    def wants(self, event: Event) -> bool:
        """Nodes added or deleted; pods bound to a node that does not exist."""
        if event.kind == "Node":
            return event.type != MODIFIED
        node = node_of(event.object)
        return event.type != DELETED and bool(node) \
            and self.store.find("Node", "", node) is None

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        return [SWEEP]

    def initial_keys(self) -> Iterable[Hashable]:
        return [SWEEP]

    def reconcile(self, key: Hashable) -> float | None:
        """Quarantine the missing nodes of bound pods; delete the pods of
        those missing for ``quarantine`` seconds.  Returns the seconds until
        the next quarantine ends."""
        now = self.store.clock()
        nodes = {n["metadata"]["name"] for n in self.store.list("Node")}
        orphans: dict[str, list[dict]] = {}
        for pod in self.store.list("Pod"):
            node = node_of(pod)
            if node and node not in nodes:
                orphans.setdefault(node, []).append(pod)
        for node in set(self.missing_since) - set(orphans):
            del self.missing_since[node]          # back, or none of its pods left
        wait: float | None = None
        for node, pods in sorted(orphans.items()):
            left = self.missing_since.setdefault(node, now) + self.quarantine - now
            if left > 0:
                wait = left if wait is None else min(wait, left)
                continue
            if self.store.find("Node", "", node) is not None:    # checkIfNodeExists
                continue
            del self.missing_since[node]
            for pod in pods:
                self.log.info("found orphaned pod %s assigned to node %s, deleting",
                              key_of(pod), node)
                self.delete_orphan(pod)
        return wait

    def delete_orphan(self, pod: dict) -> None:
        """Mark the pod Failed with the DisruptionTarget condition, then
        delete it with grace period 0."""
        now = now_rfc3339(self.store.clock())

        def mark(obj: dict) -> None:
            status = obj.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or []
                          if not (isinstance(c, dict) and c.get("type") == "DisruptionTarget")]
            conditions.append({"type": "DisruptionTarget", "status": "True", "reason": REASON,
                               "message": MESSAGE, "lastTransitionTime": now})
            status["conditions"] = conditions
            if status.get("phase") not in ("Succeeded", "Failed"):
                status["phase"] = "Failed"
        try:
            self.store.mutate(*key_of(pod), mark)
            self.store.delete(*key_of(pod), grace_seconds=0)
        except NotFound:
            pass
