"""The ReplicaSet controller: keep ``spec.replicas`` pods made from ``spec.template``.

Follows pkg/controller/replicaset/replica_set.go (syncReplicaSet,
manageReplicas, getPodsToDelete), replica_set_utils.go (calculateStatus) and
pkg/controller/controller_ref_manager.go (ClaimPods: adopt orphans that match
the selector, release owned pods that no longer match).

A pod it makes: ``metadata.name`` ``<rs>-<5 ALPHANUMS>`` (``generateName``
``<rs>-``), the template's labels and annotations, the template's spec, and
``ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name, uid,
controller: true, blockOwnerDeletion: true}]``.  Scaling down removes pods in
``ActivePods`` order (unscheduled, then not ready, then newest first);
terminating and finished pods do not count.  Status: ``replicas``,
``fullyLabeledReplicas``, ``readyReplicas``, ``availableReplicas`` (zeros
omitted, as the API omits them) and ``observedGeneration``.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable

from k8snet.api.selectors import matches
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.events import NORMAL, WARNING, record
from k8snet.apiserver.store import Event, key_of
from k8snet.control import names
from k8snet.errors import AlreadyExists, NotFound, StatusError

COMPONENT = "replicaset-controller"
BURST = 500                # pods created or deleted in one sync (burstReplicas)
STATUS_KEYS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
               "observedGeneration")


class ReplicaSetController(Controller):
    """``ReplicaSetController(store)``: watches ReplicaSets and Pods; a key is
    ``("ReplicaSet", namespace, name)``."""

    name = COMPONENT
    watches = ("ReplicaSet", "Pod")

    def initial_keys(self) -> Iterable[Hashable]:
        return [key_of(rs) for rs in self.store.list("ReplicaSet")]

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """A ReplicaSet's own key; a pod maps to its controller, or, when it
        has none, to every ReplicaSet whose selector matches it (adoption)."""
        obj = event.object
        if event.kind == "ReplicaSet":
            return [key_of(obj)]
        return names.pod_owner_keys(self.store, event, "ReplicaSet", _could_own)

    def reconcile(self, key: Hashable) -> float | None:
        _, ns, name = key  # type: ignore[misc]
        rs = self.store.find("ReplicaSet", ns, name)
        if rs is None or not names.conforms(rs, names.WORKLOAD_SHAPE) or not _valid(rs):
            return None
        active = [p for p in self.claim_pods(rs) if names.is_active(p)]
        if not names.is_terminating(rs):
            self.manage(rs, active)
            active = [p for p in self.claim_pods(rs) if names.is_active(p)]
        return self.update_status(rs, active)

    # --- pods ------------------------------------------------------------------

    def claim_pods(self, rs: dict) -> list[dict]:
        """The pods ``rs`` controls after adopting matching orphans and
        releasing owned pods that no longer match its selector."""
        ns = rs["metadata"].get("namespace", "")
        uid = names.uid_of(rs)
        owned = []
        for pod in self.store.list("Pod", ns):
            if not names.conforms(pod, names.POD_SHAPE):
                continue
            ref = names.controller_of(pod)
            fits = _selects(rs, names.labels_of(pod))
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if fits or names.is_terminating(rs):
                    owned.append(pod)
                else:
                    self._set_owner(pod, rs, adopt=False)
            elif fits and not names.is_terminating(pod) and not names.is_terminating(rs):
                adopted = self._set_owner(pod, rs, adopt=True)
                if adopted is not None and names.is_controlled_by(adopted, rs):
                    owned.append(adopted)
        return owned

    def _set_owner(self, pod: dict, rs: dict, adopt: bool) -> dict | None:
        ref = names.controller_ref(rs)

        def change(o: dict) -> None:
            if adopt:
                names.add_controller(o, rs)
                return
            refs = [r for r in names.owner_refs(o) if r.get("uid") != ref["uid"]]
            if refs:
                o["metadata"]["ownerReferences"] = refs
            else:
                o["metadata"].pop("ownerReferences", None)
        try:
            return self.store.mutate(*key_of(pod), change)
        except NotFound:
            return None

    def manage(self, rs: dict, active: list[dict]) -> None:
        """Create or delete pods until ``len(active)`` is ``spec.replicas``."""
        want = max(0, names.as_int(rs["spec"].get("replicas"), 1))
        diff = len(active) - want
        if diff < 0:
            for _ in range(min(-diff, BURST)):
                if not self._create(rs):
                    return
        elif diff > 0:
            for pod in names.pods_to_delete(active, min(diff, BURST)):
                self._delete(rs, pod)

    def _create(self, rs: dict) -> bool:
        meta = rs["metadata"]
        template = rs["spec"].get("template") or {}
        for _ in range(5):
            pod = names.new_pod(template, meta.get("namespace", ""),
                                names.generate_name(f"{meta['name']}-"), rs)
            pod["metadata"]["generateName"] = f"{meta['name']}-"
            try:
                created = self.store.create(pod)
            except AlreadyExists:
                continue
            except StatusError as exc:
                record(self.store, rs, WARNING, "FailedCreate", f"Error creating: {exc}",
                       COMPONENT)
                return False
            record(self.store, rs, NORMAL, "SuccessfulCreate",
                   f"Created pod: {created['metadata']['name']}", COMPONENT)
            return True
        return False

    def _delete(self, rs: dict, pod: dict) -> None:
        try:
            self.store.delete(*key_of(pod))
        except NotFound:
            return
        record(self.store, rs, NORMAL, "SuccessfulDelete",
               f"Deleted pod: {pod['metadata']['name']}", COMPONENT)

    # --- status ----------------------------------------------------------------

    def update_status(self, rs: dict, active: list[dict]) -> float | None:
        """Write the counts (calculateStatus); returns when to look again for
        pods that are ready but not yet available (minReadySeconds)."""
        now = self.store.clock()
        min_ready = names.as_int(rs["spec"].get("minReadySeconds"), 0)
        template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}) \
            .get("labels") or {}
        counts = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(
                1 for p in active
                if all(names.labels_of(p).get(k) == v for k, v in template_labels.items())),
            "readyReplicas": sum(1 for p in active if names.is_ready(p)),
            "availableReplicas": sum(1 for p in active
                                     if names.is_available(p, min_ready, now)),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        names.write_status(self.store, rs, counts, STATUS_KEYS, keep_zero=("replicas",))
        return names.until_available(active, min_ready, now)


def _valid(rs: dict) -> bool:
    """A selector, and a template whose labels it selects (API validation
    refuses anything else; without it the pods made would never count)."""
    template = rs["spec"].get("template") if isinstance(rs.get("spec"), dict) else None
    return isinstance(template, dict) and _selects(rs, names.labels_of(template))


def _selector(rs: dict) -> dict | None:
    spec = rs.get("spec")
    selector = spec.get("selector") if isinstance(spec, dict) else None
    return selector if isinstance(selector, dict) and selector else None


def _selects(rs: dict, labels: dict) -> bool:
    selector = _selector(rs)
    return selector is not None and matches(selector, labels)


def _could_own(rs: dict, pod: dict) -> bool:
    """An orphan pod may be adopted by a ReplicaSet whose selector matches it."""
    return _selects(rs, names.labels_of(pod))
