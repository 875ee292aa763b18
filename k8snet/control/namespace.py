"""The namespace controller: a deleted Namespace is emptied, then let go.

Follows kube-controller-manager's namespace controller
(pkg/controller/namespace/namespace_controller.go, ``syncNamespaceFromKey``)
and its deleter (pkg/controller/namespace/deletion/
namespaced_resources_deleter.go, ``Delete``, ``deleteAllContent``,
``finalizeNamespace``).  The API server only marks a deleted Namespace
(``deletionTimestamp``, ``status.phase`` Terminating; k8snet/apiserver/store.py)
and refuses new objects in it ("unable to create new content in namespace
... because it is being terminated").  For each such Namespace that still
carries the ``kubernetes`` finalizer the controller:

- deletes every object in it, of every namespaced kind, with Background
  propagation and the default grace, so pods get their graceful termination
  from their kubelet;
- writes the deleter's five conditions (``NamespaceDeletionDiscoveryFailure``,
  ``NamespaceDeletionGroupVersionParsingFailure``,
  ``NamespaceDeletionContentFailure``, ``NamespaceContentRemaining``,
  ``NamespaceFinalizersRemaining``) with upstream's reasons and messages
  ("Some resources are remaining: pods. has 1 resource instances");
- while something is left, looks again after half the longest remaining pod
  grace period plus a second (upstream's requeue on
  ``ResourcesRemainingError``), and, unlike upstream's namespace informer
  only, whenever an object in the Namespace is deleted;
- once nothing is left, takes ``kubernetes`` off ``spec.finalizers``; the
  update that leaves no finalizer removes the Namespace.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable

from k8snet.api.kinds import kind_info
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.registry import NAMESPACE_FINALIZER
from k8snet.apiserver.store import DELETED, Event, now_rfc3339
from k8snet.control import names
from k8snet.errors import K8snetError, NotFound

DEFAULT_GRACE = 30          # a pod's terminationGracePeriodSeconds when unset
OK = {  # condition type -> (reason, message) when it is False (namespaceConditionUpdater)
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered",
                                          "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions",
                                                    "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted", "All content successfully deleted, "
                                        "may be waiting on finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers",
                                     "All content-preserving finalizers finished"),
}


def is_deleting(ns: dict | None) -> bool:
    """A Namespace marked for deletion."""
    return ns is not None and bool(names.meta_of(ns).get("deletionTimestamp"))


class NamespaceController(Controller):
    """``NamespaceController(store)``: keys are namespace names."""

    name = "namespace"
    watches = None  # type: ignore[assignment]  # Namespaces, and deletions of any kind

    def wants(self, event: Event) -> bool:
        """Namespaces that change; objects deleted from a namespace."""
        if event.kind == "Namespace":
            return event.type != DELETED
        return event.type == DELETED and bool(names.meta_of(event.object).get("namespace"))

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        meta = names.meta_of(event.object)
        name = meta.get("name") if event.kind == "Namespace" else meta.get("namespace")
        if isinstance(name, str) and is_deleting(self.store.find("Namespace", "", name)):
            return [name]
        return []

    def initial_keys(self) -> Iterable[Hashable]:
        return [ns["metadata"]["name"] for ns in self.store.list("Namespace") if is_deleting(ns)]

    def reconcile(self, key: Hashable) -> float | None:
        if not isinstance(key, str):
            return None
        ns = self.store.find("Namespace", "", key)
        if not is_deleting(ns) or \
                NAMESPACE_FINALIZER not in ((ns or {}).get("spec") or {}).get("finalizers", []):
            return None
        failures = self.delete_content(key)
        remaining, finalizers, estimate = self.remaining(key)
        self.write_conditions(key, failures, remaining, finalizers)
        if remaining:
            return estimate // 2 + 1
        self.log.info("namespace %s is empty: removing its finalizer", key)
        try:
            self.store.mutate("Namespace", "", key, lambda o: o["spec"].update(finalizers=[
                f for f in o["spec"].get("finalizers") or [] if f != NAMESPACE_FINALIZER]))
        except NotFound:
            pass
        return None

    def delete_content(self, namespace: str) -> list[str]:
        """Delete every object in ``namespace`` not already going; the errors."""
        failures = []
        for kind in self.store.kinds():
            if not kind_info(kind).namespaced:
                continue
            for obj in self.store.list(kind, namespace):
                if names.is_terminating(obj):
                    continue
                try:
                    self.store.delete(kind, namespace, obj["metadata"]["name"])
                except NotFound:
                    pass
                except K8snetError as exc:
                    failures.append(str(exc))
        return failures

    def remaining(self, namespace: str) -> tuple[dict[str, int], dict[str, int], int]:
        """Objects left per resource, per finalizer, and the longest grace
        period of the pods left (``estimateGracefulTerminationForPods``)."""
        left: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        estimate = 0
        for kind in self.store.kinds():
            if not kind_info(kind).namespaced:
                continue
            for obj in self.store.list(kind, namespace):
                info = kind_info(kind, obj.get("apiVersion", "v1"))
                resource = f"{info.resource}.{info.api_version.rpartition('/')[0]}"
                left[resource] = left.get(resource, 0) + 1
                for f in names.meta_of(obj).get("finalizers") or []:
                    finalizers[str(f)] = finalizers.get(str(f), 0) + 1
                if kind == "Pod" and names.phase_of(obj) not in ("Succeeded", "Failed"):
                    grace = names.as_dict(obj.get("spec")).get("terminationGracePeriodSeconds")
                    estimate = max(estimate, names.as_int(grace, DEFAULT_GRACE))
        return left, finalizers, estimate

    def write_conditions(self, namespace: str, failures: list[str], left: dict[str, int],
                         finalizers: dict[str, int]) -> None:
        """The deleter's conditions; a condition keeps its lastTransitionTime
        while it says the same."""
        wanted = {t: ("False", *ok) for t, ok in OK.items()}
        if failures:
            wanted["NamespaceDeletionContentFailure"] = (
                "True", "ContentDeletionFailed", "Failed to delete all resource types, "
                f"{len(failures)} remaining: {', '.join(failures)}")
        if left:
            wanted["NamespaceContentRemaining"] = (
                "True", "SomeResourcesRemain", "Some resources are remaining: " + ", ".join(
                    f"{r} has {n} resource instances" for r, n in sorted(left.items())))
        if finalizers:
            wanted["NamespaceFinalizersRemaining"] = (
                "True", "SomeFinalizersRemain",
                "Some content in the namespace has finalizers remaining: " + ", ".join(
                    f"{f} in {n} resource instances" for f, n in sorted(finalizers.items())))
        now = now_rfc3339(self.store.clock())

        def change(ns: dict) -> None:
            status = ns.setdefault("status", {})
            status["phase"] = "Terminating"
            old = {c.get("type"): c for c in status.get("conditions") or []
                   if isinstance(c, dict)}
            conditions = []
            for ctype, (state, reason, message) in wanted.items():
                was = old.get(ctype) or {}
                same = (was.get("status"), was.get("reason"), was.get("message")) == \
                    (state, reason, message)
                conditions.append({"type": ctype, "status": state,
                                   "lastTransitionTime": was.get("lastTransitionTime", now)
                                   if same else now, "reason": reason, "message": message})
            status["conditions"] = conditions
        try:
            self.store.mutate("Namespace", "", namespace, change)
        except NotFound:
            pass
