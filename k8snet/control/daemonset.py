"""The DaemonSet controller: one pod on every node that should run it.

Follows pkg/controller/daemon: daemon_controller.go (manage,
podsShouldBeOnNode, NodeShouldRunDaemonPod, updateDaemonSetStatus),
update.go (rollingUpdate with maxSurge 0) and util/daemonset_util.go
(ReplaceDaemonSetPodNodeNameNodeAffinity, AddOrUpdateDaemonPodTolerations).

A node should run the pod when the template's ``nodeSelector`` and required
node affinity match it and its NoSchedule/NoExecute taints are tolerated;
a pod already there keeps running unless a NoExecute taint is not tolerated.
Like the real controller, the pods tolerate ``node.kubernetes.io/unschedulable``
(so a cordoned node keeps and gets its daemon pod) and not-ready/unreachable
for NoExecute.  Each pod is created unbound, pinned the way the real controller
pins it: ``spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution``
is one term, ``matchFields: [{key: metadata.name, operator: In, values: [node]}]``,
and the scheduler binds it.  Labels: the template's plus
``controller-revision-hash`` (``ComputeHash`` of the template) and
``pod-template-generation``; each template is kept in a ControllerRevision
of that hash (``kubectl rollout history|undo``).  A deleted Node's pods are removed at once (the
pod garbage collector's part).  RollingUpdate replaces old pods node by node,
at most ``maxUnavailable`` (default 1; percent of desiredNumberScheduled, rounded
up) unavailable at a time; OnDelete leaves that to the user.  Status:
desiredNumberScheduled, currentNumberScheduled, numberReady, numberAvailable,
numberUnavailable, updatedNumberScheduled, numberMisscheduled, observedGeneration.
"""
from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable

from k8snet.api.selectors import matches
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.events import NORMAL, WARNING, record
from k8snet.apiserver.store import Event, key_of
from k8snet.control import names
from k8snet.control.binder import matches_node, node_taints, untolerated_taint
from k8snet.errors import NotFound, StatusError

COMPONENT = "daemonset-controller"
REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
DEFAULT_HISTORY = 10
STATUS_KEYS = ("observedGeneration", "desiredNumberScheduled", "currentNumberScheduled",
               "numberReady", "numberAvailable", "numberUnavailable",
               "updatedNumberScheduled", "numberMisscheduled")
DAEMON_TOLERATIONS = tuple(
    {"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": effect}
    for key, effect in (("not-ready", "NoExecute"), ("unreachable", "NoExecute"),
                        ("disk-pressure", "NoSchedule"), ("memory-pressure", "NoSchedule"),
                        ("pid-pressure", "NoSchedule"), ("unschedulable", "NoSchedule")))
HOST_NETWORK_TOLERATION = {"key": "node.kubernetes.io/network-unavailable",
                           "operator": "Exists", "effect": "NoSchedule"}


class DaemonSetController(Controller):
    """``DaemonSetController(store)``: watches DaemonSets, Pods and Nodes; a
    key is ``("DaemonSet", namespace, name)``."""

    name = COMPONENT
    watches = ("DaemonSet", "Pod", "Node")

    def initial_keys(self) -> Iterable[Hashable]:
        return [key_of(ds) for ds in self.store.list("DaemonSet")]

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """A DaemonSet's own key; a pod's controller (or, orphaned, the sets
        that select it); a Node: every DaemonSet."""
        obj = event.object
        if event.kind == "DaemonSet":
            return [key_of(obj)]
        if event.kind == "Node":
            return self.initial_keys()
        return names.pod_owner_keys(self.store, event, "DaemonSet", _could_own)

    def reconcile(self, key: Hashable) -> float | None:
        _, ns, name = key  # type: ignore[misc]
        ds = self.store.find("DaemonSet", ns, name)
        if ds is None or not names.conforms(ds, names.WORKLOAD_SHAPE) or _selector(ds) is None or \
                not isinstance(ds["spec"].get("template"), dict):
            return None
        digest = names.pod_template_hash(ds["spec"]["template"],
                                         (ds.get("status") or {}).get("collisionCount"))
        nodes = {n["metadata"]["name"]: n for n in self.store.list("Node")
                 if names.conforms(n, names.NODE_SHAPE)}
        if not names.is_terminating(ds):
            self.sync_history(ds, digest)
            self.manage(ds, nodes, self.pods_by_node(ds), digest)
            self.rolling_update(ds, nodes, self.pods_by_node(ds), digest)
        return self.update_status(ds, nodes, self.pods_by_node(ds), digest)

    # --- history ---------------------------------------------------------------

    def sync_history(self, ds: dict, digest: str) -> None:
        """constructHistory: the template kept in a ControllerRevision
        ``<set>-<hash>`` (revision max + 1 when new or come back; what
        ``kubectl rollout history|undo`` reads), the oldest others deleted
        beyond ``revisionHistoryLimit`` (default 10)."""
        meta, template = ds["metadata"], ds["spec"]["template"]
        history = sorted((cr for cr in self.store.list("ControllerRevision", meta["namespace"])
                          if names.is_controlled_by(cr, ds)), key=_revision)
        latest = max(map(_revision, history), default=0)
        current = next((cr for cr in history
                        if cr["metadata"]["name"] == f"{meta['name']}-{digest}"), None)
        if current is None:
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            try:
                self.store.create({
                    "apiVersion": "apps/v1", "kind": "ControllerRevision",
                    "metadata": {"name": f"{meta['name']}-{digest}",
                                 "namespace": meta["namespace"],
                                 "labels": {**labels, REVISION_LABEL: digest},
                                 "ownerReferences": [names.controller_ref(ds)]},
                    "data": names.revision_data(template), "revision": latest + 1})
            except StatusError:
                return
        elif _revision(current) < latest:
            self.store.mutate(*key_of(current), lambda o: o.update(revision=latest + 1))
        old = [cr for cr in history if cr is not current]
        for cr in old[:max(0, len(old) - names.as_int(ds["spec"].get("revisionHistoryLimit"),
                                                      DEFAULT_HISTORY))]:
            try:
                self.store.delete(*key_of(cr))
            except NotFound:
                pass

    # --- pods ------------------------------------------------------------------

    def pods_by_node(self, ds: dict) -> dict[str, list[dict]]:
        """node name -> the pods ``ds`` controls there (adopting matching orphans)."""
        out: dict[str, list[dict]] = {}
        for pod in self.store.list("Pod", ds["metadata"]["namespace"]):
            if not names.conforms(pod, names.POD_SHAPE):
                continue
            if names.controller_of(pod) is None and not names.is_terminating(pod) \
                    and not names.is_terminating(ds) and _selects(ds, names.labels_of(pod)):
                try:
                    pod = self.store.mutate(*key_of(pod), lambda o: names.add_controller(o, ds))
                except NotFound:
                    continue
            if names.is_controlled_by(pod, ds):
                out.setdefault(target_node(pod), []).append(pod)
        for pods in out.values():
            pods.sort(key=lambda p: (names.safe_time(p["metadata"].get("creationTimestamp")),
                                     p["metadata"]["name"]))
        return out

    def manage(self, ds: dict, nodes: dict[str, dict], by_node: dict[str, list[dict]],
               digest: str) -> None:
        """Create missing daemon pods, delete failed, extra and misplaced ones,
        and the pods of Nodes that are gone (podsShouldBeOnNode)."""
        for node_name, node in nodes.items():
            run, keep = should_run(ds, node)
            pods = by_node.get(node_name, [])
            live = [p for p in pods if not names.is_terminating(p)]
            if run and not pods:
                self._create(ds, node_name, digest)
            elif not keep:
                for pod in live:
                    self._delete(ds, pod)
            else:
                running = [p for p in live if names.phase_of(p) != "Failed"]
                for pod in [p for p in live if p not in running] + running[1:]:
                    self._delete(ds, pod)
        for node_name, pods in by_node.items():
            if node_name not in nodes:
                for pod in pods:
                    self._delete(ds, pod, grace_seconds=0)

    def rolling_update(self, ds: dict, nodes: dict[str, dict],
                       by_node: dict[str, list[dict]], digest: str) -> None:
        """rollingUpdate (maxSurge 0): delete old pods while no more than
        maxUnavailable nodes are without an available pod."""
        strategy = ds["spec"].get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return
        now = self.store.clock()
        min_ready = names.as_int(ds["spec"].get("minReadySeconds"), 0)
        desired = sum(1 for n in nodes.values() if should_run(ds, n)[0])
        limit = names.int_or_percent((strategy.get("rollingUpdate") or {}).get("maxUnavailable"),
                                     desired, True, 1) or 1
        unavailable, replace_now, candidates = 0, [], []
        for node_name in sorted(by_node):
            pods = [p for p in by_node[node_name] if not names.is_terminating(p)]
            new = [p for p in pods if names.labels_of(p).get(REVISION_LABEL) == digest]
            old = [p for p in pods if p not in new]
            if node_name not in nodes or len(pods) != 1:
                unavailable += 1
            elif new:
                unavailable += not names.is_available(new[0], min_ready, now)
            elif not names.is_available(old[0], min_ready, now):
                replace_now.append(old[0])
            elif unavailable < limit:
                candidates.append(old[0])
        for pod in replace_now + candidates[:max(0, limit - unavailable)]:
            self._delete(ds, pod)

    def _create(self, ds: dict, node_name: str, digest: str) -> None:
        meta = ds["metadata"]
        pod = names.new_pod(ds["spec"]["template"], meta["namespace"],
                            names.generate_name(f"{meta['name']}-"), ds)
        pod["metadata"]["generateName"] = f"{meta['name']}-"
        pod["metadata"]["labels"].update({REVISION_LABEL: digest,
                                          GENERATION_LABEL: str(meta.get("generation", 1))})
        pin_to_node(pod["spec"], node_name)
        try:
            created = self.store.create(pod)
        except StatusError as exc:
            record(self.store, ds, WARNING, "FailedCreate", f"Error creating: {exc}", COMPONENT)
            return
        record(self.store, ds, NORMAL, "SuccessfulCreate",
               f"Created pod: {created['metadata']['name']}", COMPONENT)

    def _delete(self, ds: dict, pod: dict, grace_seconds: int | None = None) -> None:
        try:
            self.store.delete(*key_of(pod), grace_seconds=grace_seconds)
        except NotFound:
            return
        record(self.store, ds, NORMAL, "SuccessfulDelete",
               f"Deleted pod: {pod['metadata']['name']}", COMPONENT)

    # --- status ------------------------------------------------------------------

    def update_status(self, ds: dict, nodes: dict[str, dict],
                      by_node: dict[str, list[dict]], digest: str) -> float | None:
        """updateDaemonSetStatus; returns when to look again (minReadySeconds)."""
        now = self.store.clock()
        min_ready = names.as_int(ds["spec"].get("minReadySeconds"), 0)
        counts = dict.fromkeys(STATUS_KEYS, 0)
        for node_name, node in nodes.items():
            pods = [p for p in by_node.get(node_name, []) if not names.is_terminating(p)]
            if not should_run(ds, node)[0]:
                counts["numberMisscheduled"] += bool(pods)
                continue
            counts["desiredNumberScheduled"] += 1
            if not pods:
                continue
            pod = sorted(pods, key=lambda p: names.phase_of(p) != "Running")[0]
            counts["currentNumberScheduled"] += 1
            counts["numberReady"] += names.is_ready(pod)
            counts["numberAvailable"] += names.is_available(pod, min_ready, now)
            counts["updatedNumberScheduled"] += \
                names.labels_of(pod).get(REVISION_LABEL) == digest
        counts["numberUnavailable"] = counts["desiredNumberScheduled"] - counts["numberAvailable"]
        counts["observedGeneration"] = ds["metadata"].get("generation", 1)
        names.write_status(self.store, ds, counts, STATUS_KEYS, keep_zero=(
            "desiredNumberScheduled", "currentNumberScheduled", "numberReady",
            "numberMisscheduled"))
        return names.until_available([p for ps in by_node.values() for p in ps], min_ready, now)


def daemon_tolerations(spec: dict) -> list[dict]:
    """The template's tolerations plus those every daemon pod gets."""
    tolerations = [t for t in spec.get("tolerations") or [] if isinstance(t, dict)]
    extra = list(DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        extra.append(HOST_NETWORK_TOLERATION)
    for tol in extra:
        if not any(t.get("key") == tol["key"] and t.get("effect") == tol["effect"]
                   for t in tolerations):
            tolerations.append(dict(tol))
    return tolerations


def should_run(ds: dict, node: dict) -> tuple[bool, bool]:
    """(should run a pod there, may keep one running there): NodeShouldRunDaemonPod."""
    spec = (ds["spec"].get("template") or {}).get("spec") or {}
    wanted_node = spec.get("nodeName")
    if wanted_node and wanted_node != (node.get("metadata") or {}).get("name"):
        return False, False
    if not matches_node(spec, node):
        return False, False
    tolerations, taints = daemon_tolerations(spec), node_taints(node)
    if untolerated_taint(tolerations, taints, ("NoExecute",)):
        return False, False
    return untolerated_taint(tolerations, taints, ("NoSchedule",)) is None, True


def pin_to_node(spec: dict, node_name: str) -> None:
    """ReplaceDaemonSetPodNodeNameNodeAffinity + the daemon tolerations."""
    spec["tolerations"] = daemon_tolerations(spec)
    affinity = spec["affinity"] = copy.deepcopy(spec.get("affinity") or {})
    node_affinity = affinity["nodeAffinity"] = dict(affinity.get("nodeAffinity") or {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}


def target_node(pod: dict) -> str:
    """``spec.nodeName``, or the node its affinity pins it to (GetTargetNodeName)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for field in (term or {}).get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In" \
                    and len(field.get("values") or []) == 1:
                return field["values"][0]
    return ""


def _revision(cr: dict) -> int:
    return names.as_int(cr.get("revision"), 0)


def _selector(ds: dict) -> dict | None:
    spec = ds.get("spec")
    selector = spec.get("selector") if isinstance(spec, dict) else None
    return selector if isinstance(selector, dict) and selector else None


def _selects(ds: dict, labels: dict) -> bool:
    selector = _selector(ds)
    return selector is not None and matches(selector, labels)


def _could_own(ds: dict, pod: dict) -> bool:
    """An orphan pod may be adopted by a DaemonSet whose selector matches it."""
    return _selects(ds, names.labels_of(pod))
