"""The Deployment controller: a Deployment rolls its pods out through ReplicaSets.

Follows pkg/controller/deployment: deployment_controller.go (what a sync
does), sync.go (getNewReplicaSet, scaleReplicaSet, cleanupDeployment,
calculateStatus), rolling.go (reconcileNewReplicaSet, reconcileOldReplicaSets,
cleanupUnhealthyReplicas, scaleDownOldReplicaSetsForRollingUpdate),
recreate.go, progress.go (syncRolloutStatus) and util/deployment_util.go
(NewRSNewReplicas, ResolveFenceposts, SetNewReplicaSetAnnotations).

For each pod template the Deployment has had there is one ReplicaSet,
``<deploy>-<pod-template-hash>``, whose selector, template labels and pods
carry ``pod-template-hash``.  Its annotations: ``deployment.kubernetes.io/
revision`` (max + 1 for a new template; a template that comes back reuses its
ReplicaSet and takes the next revision), ``desired-replicas`` and
``max-replicas``.  RollingUpdate keeps the pods between ``replicas -
maxUnavailable`` available and ``replicas + maxSurge`` in total (surge
rounds up, unavailable down, counted from AVAILABLE pods); Recreate scales
the old ReplicaSets to 0 and waits for their pods to go before starting the
new one.  ``kubectl rollout restart`` changes the template annotation
``kubectl.kubernetes.io/restartedAt``: just another template.  Old
ReplicaSets scaled to 0 are kept up to ``revisionHistoryLimit`` (10).
Status: replicas, updatedReplicas, readyReplicas, availableReplicas,
unavailableReplicas, observedGeneration, conditions Available and
Progressing; Events ``ScalingReplicaSet`` (``Scaled up replica set web-5d4f8 to 3``).
The arithmetic and the conditions, which need no store, are in deployment_util.py.
"""
from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable

from k8snet.apiserver.controller import Controller
from k8snet.apiserver.events import NORMAL, record
from k8snet.apiserver.store import Event, key_of
from k8snet.control import names
from k8snet.control.deployment_util import (
    DEFAULT_HISTORY,
    DESIRED,
    HASH_LABEL,
    MAX_REPLICAS,
    REVISION,
    REVISION_HISTORY,
    STATUS_KEYS,
    conditions,
    copied_annotations,
    created_key,
    deadline_wait,
    fenceposts,
    new_rs_replicas,
    replicas_of,
    revision_of,
    same_template,
    selector_of,
    selects,
    strategy_type,
)
from k8snet.errors import AlreadyExists, NotFound, StatusError

COMPONENT = "deployment-controller"

class DeploymentController(Controller):
    """``DeploymentController(store)``: watches Deployments, ReplicaSets and
    Pods; a key is ``("Deployment", namespace, name)``."""

    name = COMPONENT
    watches = ("Deployment", "ReplicaSet", "Pod")

    def initial_keys(self) -> Iterable[Hashable]:
        return [key_of(d) for d in self.store.list("Deployment")]

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """A Deployment's own key; a ReplicaSet maps to its controller (or,
        orphaned, to the Deployments that select it); a pod to its
        ReplicaSet's controller."""
        obj = event.object
        if event.kind == "Deployment":
            return [key_of(obj)]
        if event.kind == "Pod":
            rs_key = names.controller_key(obj, "ReplicaSet")
            found = self.store.find(*rs_key) if rs_key else None
            if found is None:
                return []
            obj = found
        if names.controller_of(obj) is not None:
            key = names.controller_key(obj, "Deployment")
            return [key] if key else []
        if event.type == "DELETED":
            return []
        ns = names.meta_of(obj).get("namespace", "")
        return [key_of(d) for d in self.store.list("Deployment", ns)
                if selects(d, names.labels_of(obj))]

    def reconcile(self, key: Hashable) -> float | None:
        _, ns, name = key  # type: ignore[misc]
        d = self.store.find("Deployment", ns, name)
        if d is None or not names.conforms(d, names.WORKLOAD_SHAPE) \
                or names.is_terminating(d) or not selector_of(d) \
                or not isinstance(d["spec"].get("template"), dict) \
                or not selects(d, names.labels_of(d["spec"]["template"])):
            return None
        rss = self.claim_replica_sets(d)
        created = False
        if not d["spec"].get("paused"):
            if strategy_type(d) == "Recreate":
                created = self.rollout_recreate(d, rss)
            else:
                created = self.rollout_rolling(d, rss)
        return self.sync_status(key, created)

    # --- ReplicaSets -------------------------------------------------------------

    def claim_replica_sets(self, d: dict) -> list[dict]:
        """ReplicaSets ``d`` controls, adopting orphans its selector matches."""
        owned = []
        for rs in self.store.list("ReplicaSet", d["metadata"].get("namespace", "")):
            if not names.conforms(rs, names.WORKLOAD_SHAPE):
                continue
            ref = names.controller_of(rs)
            if ref is not None:
                if ref.get("uid") == names.uid_of(d):
                    owned.append(rs)
            elif selects(d, names.labels_of(rs)) and not names.is_terminating(rs):
                try:
                    rs = self.store.mutate(*key_of(rs), lambda o: names.add_controller(o, d))
                except NotFound:
                    continue
                if names.is_controlled_by(rs, d):
                    owned.append(rs)
        return sorted(owned, key=created_key)

    def new_and_old(self, d: dict, rss: list[dict], create: bool
                    ) -> tuple[dict | None, list[dict], bool]:
        """(new ReplicaSet or None, old ones, created now): getNewReplicaSet."""
        new = next((rs for rs in rss if same_template(rs, d)), None)
        old = [rs for rs in rss if rs is not new]
        revision = str(max([revision_of(rs) for rs in old], default=0) + 1)
        if new is not None:
            new = self._sync_new(d, new, revision)
        elif create:
            new = self._create_new(d, old, revision)
            if new is not None:
                return new, old, True
        if new is not None:
            self._set_annotation(d, REVISION, new["metadata"]["annotations"].get(REVISION, ""))
        return new, old, False

    def _sync_new(self, d: dict, rs: dict, revision: str) -> dict:
        def change(o: dict) -> None:
            ann = names.child(o["metadata"], "annotations")
            ann.update(copied_annotations(d))
            old = ann.get(REVISION, "")
            if names.as_int(old, 0) < int(revision):
                ann[REVISION] = revision
                if old:
                    history = ann.get(REVISION_HISTORY, "")
                    ann[REVISION_HISTORY] = f"{history},{old}" if history else old
            names.child(o, "spec")["minReadySeconds"] = \
                names.as_int(d["spec"].get("minReadySeconds"), 0)
        return self.store.mutate(*key_of(rs), change)

    def _create_new(self, d: dict, old: list[dict], revision: str) -> dict | None:
        meta, spec = d["metadata"], d["spec"]
        collisions = (d.get("status") or {}).get("collisionCount")
        digest = names.pod_template_hash(spec["template"], collisions)
        template = copy.deepcopy(spec["template"])
        tmeta = template["metadata"] = dict(template.get("metadata") or {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: digest}
        selector = copy.deepcopy(spec["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: digest}
        surge, _ = fenceposts(d)
        want = replicas_of(d)
        annotations = {**copied_annotations(d), REVISION: revision, DESIRED: str(want),
                       MAX_REPLICAS: str(want + surge)}
        replicas = new_rs_replicas(d, old, 0)
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{meta['name']}-{digest}", "namespace": meta["namespace"],
                           "labels": dict(template["metadata"]["labels"]),
                           "annotations": annotations,
                           "ownerReferences": [names.controller_ref(d)]},
              "spec": {"replicas": replicas, "selector": selector, "template": template,
                       "minReadySeconds": names.as_int(spec.get("minReadySeconds"), 0)}}
        try:
            created = self.store.create(rs)
        except AlreadyExists:
            self._bump_collisions(d)
            return None
        except StatusError:
            return None
        if replicas > 0:
            record(self.store, d, NORMAL, "ScalingReplicaSet",
                   f"Scaled up replica set {created['metadata']['name']} to {replicas}",
                   COMPONENT)
        self._set_annotation(d, REVISION, revision)
        return created

    def _bump_collisions(self, d: dict) -> None:
        def change(o: dict) -> None:
            status = names.child(o, "status")
            status["collisionCount"] = names.as_int(status.get("collisionCount"), 0) + 1
        self.store.mutate(*key_of(d), change)

    def _set_annotation(self, d: dict, key: str, value: str) -> None:
        if value and (d["metadata"].get("annotations") or {}).get(key) != value:
            self.store.mutate(*key_of(d), lambda o: names.child(o["metadata"], "annotations")
                              .__setitem__(key, value))

    def scale(self, d: dict, rs: dict, replicas: int) -> tuple[bool, dict]:
        """Set ``rs`` to ``replicas`` and its desired/max annotations
        (scaleReplicaSet); (scaled, the ReplicaSet now)."""
        surge, _ = fenceposts(d)
        ann = {DESIRED: str(replicas_of(d)), MAX_REPLICAS: str(replicas_of(d) + surge)}
        old = replicas_of(rs)
        current = rs["metadata"].get("annotations") or {}
        if old == replicas and all(current.get(k) == v for k, v in ann.items()):
            return False, rs

        def change(o: dict) -> None:
            names.child(o, "spec")["replicas"] = replicas
            names.child(o["metadata"], "annotations").update(ann)
        try:
            rs = self.store.mutate(*key_of(rs), change)
        except NotFound:
            return False, rs
        if old != replicas:
            record(self.store, d, NORMAL, "ScalingReplicaSet",
                   f"Scaled {'up' if replicas > old else 'down'} replica set "
                   f"{rs['metadata']['name']} to {replicas}", COMPONENT)
        return old != replicas, rs

    # --- strategies -------------------------------------------------------------

    def rollout_rolling(self, d: dict, rss: list[dict]) -> bool:
        """rolloutRolling: scale the new ReplicaSet up if we can, else the
        old ones down if we can.  Returns whether a ReplicaSet was created."""
        new, old, created = self.new_and_old(d, rss, create=True)
        if new is None:
            return False
        if replicas_of(new) != replicas_of(d):
            want = replicas_of(d) if replicas_of(new) > replicas_of(d) \
                else new_rs_replicas(d, old, replicas_of(new))
            if self.scale(d, new, want)[0]:
                return created
        self.scale_down_old(d, new, old)
        return created

    def scale_down_old(self, d: dict, new: dict, old: list[dict]) -> bool:
        """reconcileOldReplicaSets: first unhealthy old replicas, then as
        many available ones as maxUnavailable allows."""
        old = [rs for rs in old if replicas_of(rs) > 0]
        if not old:
            return False
        avail = self._availability(d, [new, *old])
        _, max_unavailable = fenceposts(d)
        min_available = replicas_of(d) - max_unavailable
        budget = (sum(replicas_of(rs) for rs in old) + replicas_of(new) - min_available
                  - (replicas_of(new) - avail(new)))
        if budget <= 0:
            return False
        done = 0
        for i, rs in enumerate(old):
            unhealthy = replicas_of(rs) - avail(rs)
            if done >= budget or unhealthy <= 0:
                continue
            step = min(budget - done, unhealthy)
            old[i] = self.scale(d, rs, replicas_of(rs) - step)[1]
            done += step
        extra = sum(avail(rs) for rs in [new, *old]) - min_available
        for rs in old:
            if extra <= 0:
                break
            step = min(replicas_of(rs), extra)
            if step > 0:
                self.scale(d, rs, replicas_of(rs) - step)
                extra -= step
                done += step
        return done > 0

    def rollout_recreate(self, d: dict, rss: list[dict]) -> bool:
        """rolloutRecreate: old ReplicaSets to 0, wait until their pods are
        gone, then the new one to ``replicas``."""
        new, old, _ = self.new_and_old(d, rss, create=False)
        scaled = [self.scale(d, rs, 0)[0] for rs in old if replicas_of(rs) > 0]
        if any(scaled):
            return False
        old_uids = {names.uid_of(rs) for rs in old}
        for pod in self.store.list("Pod", d["metadata"]["namespace"]):
            ref = names.controller_of(pod) or {}
            if ref.get("uid") in old_uids and names.phase_of(pod) not in ("Failed", "Succeeded"):
                return False
        if new is None:
            return self.new_and_old(d, rss, create=True)[2]
        self.scale(d, new, replicas_of(d))
        return False

    def _availability(self, d: dict, rss: list[dict]):
        """A function: ReplicaSet -> its available pods, at most its replicas."""
        pods = self._pods_by_owner(d)
        min_ready = names.as_int(d["spec"].get("minReadySeconds"), 0)
        now = self.store.clock()

        def avail(rs: dict) -> int:
            count = sum(1 for p in pods.get(names.uid_of(rs), [])
                        if names.is_available(p, min_ready, now))
            return min(count, replicas_of(rs))
        return avail

    def _pods_by_owner(self, d: dict) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for pod in self.store.list("Pod", d["metadata"]["namespace"]):
            ref = names.controller_of(pod)
            if ref is not None and names.is_active(pod) and names.conforms(pod, names.POD_SHAPE):
                out.setdefault(ref.get("uid", ""), []).append(pod)
        return out

    # --- status ------------------------------------------------------------------

    def sync_status(self, key: Hashable, created: bool) -> float | None:
        """calculateStatus + syncRolloutStatus; cleans up old ReplicaSets
        once the rollout is complete.  Returns when to look again."""
        _, ns, name = key  # type: ignore[misc]
        d = self.store.find("Deployment", ns, name)
        if d is None:
            return None
        rss = [rs for rs in self.store.list("ReplicaSet", ns) if names.is_controlled_by(rs, d)
               and names.conforms(rs, names.WORKLOAD_SHAPE)]
        new = next((rs for rs in sorted(rss, key=created_key) if same_template(rs, d)), None)
        pods = self._pods_by_owner(d)
        min_ready = names.as_int(d["spec"].get("minReadySeconds"), 0)
        now = self.store.clock()
        mine = [p for rs in rss for p in pods.get(names.uid_of(rs), [])]
        available = sum(1 for p in mine if names.is_available(p, min_ready, now))
        status = {"observedGeneration": d["metadata"].get("generation", 1),
                  "replicas": len(mine),
                  "updatedReplicas": len(pods.get(names.uid_of(new), [])) if new else 0,
                  "readyReplicas": sum(1 for p in mine if names.is_ready(p)),
                  "availableReplicas": available,
                  "unavailableReplicas": max(0, sum(replicas_of(rs) for rs in rss) - available)}
        complete = all(status[k] == replicas_of(d) for k in
                       ("updatedReplicas", "replicas", "availableReplicas"))
        status["conditions"] = conditions(d, status, new, created, complete, now)
        names.write_status(self.store, d, status, STATUS_KEYS, keep_zero=("observedGeneration",))
        if complete:
            self.cleanup(d, [rs for rs in rss if rs is not new], pods)
        waits = [names.until_available(mine, min_ready, now), deadline_wait(d, now)]
        return min([w for w in waits if w is not None], default=None)

    def cleanup(self, d: dict, old: list[dict], pods: dict[str, list[dict]]) -> None:
        """cleanupDeployment: delete the oldest idle ReplicaSets beyond
        ``revisionHistoryLimit``."""
        live = [rs for rs in old if not names.is_terminating(rs)]
        extra = len(live) - names.as_int(d["spec"].get("revisionHistoryLimit"), DEFAULT_HISTORY)
        for rs in sorted(live, key=lambda r: (revision_of(r), created_key(r))):
            if extra <= 0:
                return
            if replicas_of(rs) or pods.get(names.uid_of(rs)) or \
                    (rs.get("status") or {}).get("replicas"):
                continue
            try:
                self.store.delete(*key_of(rs))
            except NotFound:
                pass
            extra -= 1
