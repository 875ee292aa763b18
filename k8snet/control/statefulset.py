"""The StatefulSet controller: pods with stable names, in order.

Follows pkg/controller/statefulset: stateful_set_control.go
(updateStatefulSet, completeRollingUpdate, truncateHistory),
stateful_set_utils.go (newStatefulSetPod, identityMatches, getPatch,
newRevision) and stateful_set.go (ClaimPods with isMemberOf).

Pod ``<set>-<ordinal>`` for ordinals ``[start, start + replicas)``
(``spec.ordinals.start``, default 0): the template's labels plus
``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index`` and
``controller-revision-hash`` (the revision's name, ``<set>-<hash>``);
``spec.hostname`` the pod name and ``spec.subdomain`` ``spec.serviceName``.
Each template is kept in a ControllerRevision ``<set>-<hash>`` (data: the
template as a replace patch; ``revision`` 1, 2, ...), so a pod below a
RollingUpdate ``partition`` is recreated from the old template.

``podManagementPolicy`` OrderedReady (the default) creates ordinal i only when
every lower one is Running and Ready, and removes pods from the highest
ordinal down, one at a time; Parallel creates and removes them all at once.
RollingUpdate deletes the highest-ordinal pod of an old revision, one at a
time, and waits until its replacement is Running and Ready; OnDelete leaves
that to the user.  Status: replicas, readyReplicas, currentReplicas,
updatedReplicas, availableReplicas, currentRevision, updateRevision,
observedGeneration (collisionCount when a hash collided).
"""
from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable

from k8snet.api.selectors import matches
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.events import NORMAL, WARNING, record
from k8snet.apiserver.store import Event, key_of
from k8snet.control import names
from k8snet.errors import AlreadyExists, NotFound, StatusError

COMPONENT = "statefulset-controller"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
HASH_LABEL = "controller.kubernetes.io/hash"        # on the ControllerRevision
DEFAULT_HISTORY = 10
STATUS_KEYS = ("observedGeneration", "replicas", "readyReplicas", "currentReplicas",
               "updatedReplicas", "availableReplicas", "currentRevision", "updateRevision")


class StatefulSetController(Controller):
    """``StatefulSetController(store)``: watches StatefulSets and Pods; a key
    is ``("StatefulSet", namespace, name)``."""

    name = COMPONENT
    watches = ("StatefulSet", "Pod")

    def initial_keys(self) -> Iterable[Hashable]:
        return [key_of(s) for s in self.store.list("StatefulSet")]

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """A set's own key; a pod maps to its controller, or, orphaned, to
        the sets it could belong to (``<set>-<ordinal>`` and the selector)."""
        obj = event.object
        if event.kind == "StatefulSet":
            return [key_of(obj)]
        return names.pod_owner_keys(self.store, event, "StatefulSet", _member)

    def reconcile(self, key: Hashable) -> float | None:
        _, ns, name = key  # type: ignore[misc]
        sts = self.store.find("StatefulSet", ns, name)
        if sts is None or not names.conforms(sts, names.WORKLOAD_SHAPE) or not _selector(sts) or \
                not isinstance(sts["spec"].get("template"), dict):
            return None
        revisions = self.sync_revisions(sts)
        if revisions is None:
            return None
        current, update = revisions
        if not names.is_terminating(sts):
            self.manage(sts, self.claim_pods(sts), current, update)
        pods = self.claim_pods(sts)
        self.truncate_history(sts, pods, current, update)
        return self.update_status(sts, pods, current, update)

    # --- revisions -------------------------------------------------------------

    def sync_revisions(self, sts: dict) -> tuple[dict, dict] | None:
        """(current, update) ControllerRevisions, creating the update one
        when the template is new (None after a hash collision)."""
        history = self._history(sts)
        data = names.revision_data(sts["spec"]["template"])
        latest = max([_number(cr) for cr in history], default=0)
        update = next((cr for cr in reversed(history) if cr.get("data") == data), None)
        if update is not None and _number(update) < latest:
            update = self.store.mutate(*key_of(update),
                                       lambda o: o.update(revision=latest + 1))
        if update is None:
            update = self._create_revision(sts, data, latest + 1)
            if update is None:
                return None
        wanted = (sts.get("status") or {}).get("currentRevision")
        current = next((cr for cr in history if cr["metadata"]["name"] == wanted), update)
        return current, update

    def _history(self, sts: dict) -> list[dict]:
        return sorted((cr for cr in self.store.list("ControllerRevision",
                                                    sts["metadata"]["namespace"])
                       if names.is_controlled_by(cr, sts) and names.conforms(
                           cr, {"data": {"spec": {"template": dict}}})
                       and isinstance(cr.get("data"), dict)), key=_number)

    def _create_revision(self, sts: dict, data: dict, number: int) -> dict | None:
        collisions = (sts.get("status") or {}).get("collisionCount")
        digest = names.revision_hash(data, collisions)
        labels = dict((sts["spec"]["template"].get("metadata") or {}).get("labels") or {})
        cr = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
              "metadata": {"name": f"{sts['metadata']['name']}-{digest}",
                           "namespace": sts["metadata"]["namespace"],
                           "labels": {**labels, HASH_LABEL: digest},
                           "ownerReferences": [names.controller_ref(sts)]},
              "data": data, "revision": number}
        try:
            return self.store.create(cr)
        except AlreadyExists:
            self.store.mutate(*key_of(sts), lambda o: names.child(o, "status").update(
                collisionCount=names.as_int(o["status"].get("collisionCount"), 0) + 1))
            return None

    def truncate_history(self, sts: dict, pods: dict[int, dict], current: dict,
                         update: dict) -> None:
        """Delete the oldest revisions no pod uses beyond revisionHistoryLimit."""
        live = {current["metadata"]["name"], update["metadata"]["name"]}
        live |= {names.labels_of(p).get(REVISION_LABEL) for p in pods.values()}
        old = [cr for cr in self._history(sts) if cr["metadata"]["name"] not in live]
        limit = names.as_int(sts["spec"].get("revisionHistoryLimit"), DEFAULT_HISTORY)
        for cr in old[:max(0, len(old) - limit)]:
            try:
                self.store.delete(*key_of(cr))
            except NotFound:
                pass

    # --- pods ------------------------------------------------------------------

    def claim_pods(self, sts: dict) -> dict[int, dict]:
        """ordinal -> pod the set controls, adopting orphans that are its members."""
        out: dict[int, dict] = {}
        for pod in self.store.list("Pod", sts["metadata"]["namespace"]):
            if not names.conforms(pod, names.POD_SHAPE):
                continue
            ref = names.controller_of(pod)
            if ref is None and _member(sts, pod) and not names.is_terminating(sts):
                try:
                    pod = self.store.mutate(*key_of(pod),
                                            lambda o: names.add_controller(o, sts))
                except NotFound:
                    continue
            if names.is_controlled_by(pod, sts):
                ordinal = _ordinal(sts, pod)
                if ordinal is not None:
                    out[ordinal] = pod
        return out

    def manage(self, sts: dict, pods: dict[int, dict], current: dict, update: dict) -> None:
        """One pass of updateStatefulSet: create, replace failed, condemn,
        then roll, stopping where OrderedReady must wait."""
        spec = sts["spec"]
        monotonic = spec.get("podManagementPolicy") != "Parallel"
        start = max(0, names.as_int((spec.get("ordinals") or {}).get("start"), 0))
        wanted = range(start, start + max(0, names.as_int(spec.get("replicas"), 1)))
        partition = _partition(sts)
        for ordinal in wanted:
            pod = pods.get(ordinal)
            if pod is None:
                self._create(sts, ordinal, current if ordinal < partition else update)
            elif names.phase_of(pod) in ("Failed", "Succeeded") and \
                    not names.is_terminating(pod):
                self._delete(sts, pod, "failed")
            elif _healthy(pod):
                self._fix_identity(sts, pod, ordinal)
                continue
            if monotonic:
                return
        condemned = sorted((o for o in pods if o not in wanted), reverse=True)
        unhealthy = [o for o in sorted(pods) if not _healthy(pods[o])]
        for ordinal in condemned:
            pod = pods[ordinal]
            if names.is_terminating(pod):
                if monotonic:
                    return
                continue
            if monotonic and not _healthy(pod) and unhealthy[0] != ordinal:
                return
            self._delete(sts, pod, "scale down")
            if monotonic:
                return
        if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
            return
        for ordinal in sorted((o for o in wanted if o >= partition), reverse=True):
            pod = pods.get(ordinal)
            if pod is None:
                return
            if names.labels_of(pod).get(REVISION_LABEL) != update["metadata"]["name"] \
                    and not names.is_terminating(pod):
                self._delete(sts, pod, "update")
                return
            if not _healthy(pod):
                return

    def _create(self, sts: dict, ordinal: int, revision: dict) -> None:
        meta = sts["metadata"]
        name = f"{meta['name']}-{ordinal}"
        template = copy.deepcopy(revision["data"]["spec"]["template"])
        template.pop("$patch", None)
        pod = names.new_pod(template, meta["namespace"], name, sts)
        pod["metadata"]["labels"].update({POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
                                          REVISION_LABEL: revision["metadata"]["name"]})
        _set_identity(sts, pod, name)
        self._claims(sts, pod, name)
        try:
            self.store.create(pod)
        except StatusError as exc:
            record(self.store, sts, WARNING, "FailedCreate",
                   f"create Pod {name} in StatefulSet {meta['name']} failed error: {exc}",
                   COMPONENT)
            return
        record(self.store, sts, NORMAL, "SuccessfulCreate",
               f"create Pod {name} in StatefulSet {meta['name']} successful", COMPONENT)

    def _claims(self, sts: dict, pod: dict, name: str) -> None:
        """volumeClaimTemplates: a PersistentVolumeClaim ``<template>-<pod>`` per
        template (stored; the lab has no storage) and the pod volume naming it,
        as the StatefulSet controller's updateStorage does."""
        spec = pod.setdefault("spec", {})
        for tmpl in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            if not isinstance(tmpl, dict) or not (tmpl.get("metadata") or {}).get("name"):
                continue
            claim = f"{tmpl['metadata']['name']}-{name}"
            volumes = [v for v in spec.get("volumes") or []
                       if v.get("name") != tmpl["metadata"]["name"]]
            volumes.append({"name": tmpl["metadata"]["name"],
                            "persistentVolumeClaim": {"claimName": claim}})
            spec["volumes"] = volumes
            ns = sts["metadata"]["namespace"]
            if self.store.find("PersistentVolumeClaim", ns, claim) is None:
                labels = dict((pod.get("metadata") or {}).get("labels") or {})
                try:
                    self.store.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                       "metadata": {"name": claim, "namespace": ns,
                                                    "labels": labels},
                                       "spec": copy.deepcopy(tmpl.get("spec") or {}),
                                       "status": {"phase": "Pending"}})
                except StatusError as exc:
                    self.log.warning("claim %s/%s: %s", ns, claim, exc)

    def _delete(self, sts: dict, pod: dict, why: str) -> None:
        try:
            self.store.delete(*key_of(pod))
        except NotFound:
            return
        record(self.store, sts, NORMAL, "SuccessfulDelete",
               f"delete Pod {pod['metadata']['name']} in StatefulSet "
               f"{sts['metadata']['name']} successful", COMPONENT)
        self.log.debug("deleted %s (%s)", pod["metadata"]["name"], why)

    def _fix_identity(self, sts: dict, pod: dict, ordinal: int) -> None:
        name = pod["metadata"]["name"]
        want = {POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)}
        fixed = copy.deepcopy(pod)
        names.child(fixed["metadata"], "labels").update(want)
        _set_identity(sts, fixed, name)
        if fixed != pod:
            try:
                self.store.mutate(*key_of(pod), lambda o: o.update(
                    metadata=fixed["metadata"], spec=fixed["spec"]))
            except NotFound:
                pass

    # --- status ------------------------------------------------------------------

    def update_status(self, sts: dict, pods: dict[int, dict], current: dict,
                      update: dict) -> float | None:
        """Counts and revisions; completeRollingUpdate when every pod is
        updated and ready.  Returns when to look again (minReadySeconds)."""
        now = self.store.clock()
        min_ready = names.as_int(sts["spec"].get("minReadySeconds"), 0)
        revisions = [names.labels_of(p).get(REVISION_LABEL) for p in pods.values()
                     if not names.is_terminating(p)]
        ready = [p for p in pods.values() if _healthy(p, terminating=True)]
        cur, upd = current["metadata"]["name"], update["metadata"]["name"]
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods), "readyReplicas": len(ready),
            "availableReplicas": sum(1 for p in ready if names.is_available(p, min_ready, now)),
            "currentReplicas": revisions.count(cur), "updatedReplicas": revisions.count(upd),
            "currentRevision": cur, "updateRevision": upd}
        rolling = (sts["spec"].get("updateStrategy") or {}).get("type") != "OnDelete"
        if rolling and status["updatedReplicas"] == status["replicas"] == status["readyReplicas"]:
            status["currentReplicas"], status["currentRevision"] = status["updatedReplicas"], upd
        names.write_status(self.store, sts, status, STATUS_KEYS,
                           keep_zero=("replicas", "availableReplicas"))
        return names.until_available(list(pods.values()), min_ready, now)


def _selector(sts: dict) -> dict | None:
    spec = sts.get("spec")
    selector = spec.get("selector") if isinstance(spec, dict) else None
    return selector if isinstance(selector, dict) and selector else None


def _ordinal(sts: dict, pod: dict) -> int | None:
    """The ordinal in ``<set>-<ordinal>``, or None (getParentNameAndOrdinal)."""
    prefix = f"{sts['metadata']['name']}-"
    name = (pod.get("metadata") or {}).get("name", "")
    tail = name[len(prefix):]
    return int(tail) if name.startswith(prefix) and tail.isdigit() else None


def _member(sts: dict, pod: dict) -> bool:
    selector = _selector(sts)
    return selector is not None and _ordinal(sts, pod) is not None \
        and matches(selector, names.labels_of(pod))


def _healthy(pod: dict, terminating: bool = False) -> bool:
    """Running and Ready (isRunningAndReady); not terminating unless allowed."""
    return names.phase_of(pod) == "Running" and names.is_ready(pod) and \
        (terminating or not names.is_terminating(pod))


def _partition(sts: dict) -> int:
    strategy = sts["spec"].get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return 0
    return max(0, names.as_int((strategy.get("rollingUpdate") or {}).get("partition"), 0))


def _number(cr: dict) -> int:
    return names.as_int(cr.get("revision"), 0)


def _set_identity(sts: dict, pod: dict, name: str) -> None:
    spec = names.child(pod, "spec")
    spec["hostname"] = name
    service = sts["spec"].get("serviceName")
    if service:
        spec["subdomain"] = service
