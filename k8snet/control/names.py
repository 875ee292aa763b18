"""Names, hashes and the small object predicates every workload controller shares.

Names and hashes, as the controllers make them:

- ``generate_name("web-5d4f8-")`` -> ``web-5d4f8-x7k2q``: a ``generateName``
  suffix of 5 characters from ``ALPHANUMS`` (k8s.io/apimachinery/pkg/util/rand).
- ``pod_template_hash(template, collision_count)``: FNV-1a 32 of the template
  (canonical JSON here, where Go hashes a spew dump) plus the collision count
  as 8 little-endian bytes, its decimal digits mapped by ``safe_encode``
  (pkg/controller/controller_utils.go ComputeHash, rand.SafeEncodeString).
  The Deployment's ``pod-template-hash`` and the DaemonSet's
  ``controller-revision-hash`` both come from it.
- ``revision_hash(data, collision_count)``: FNV-1 32 of a ControllerRevision's
  data (pkg/controller/history/controller_history.go HashControllerRevision);
  a StatefulSet's revision is ``<set>-<hash>``.

Shared predicates (pkg/api/v1/pod/util.go, pkg/controller/controller_utils.go):
ownerReferences (``controller_ref``, ``controller_of``), pod readiness and
availability, "active" pods, and the ``ActivePods`` ranking a controller uses
to choose which pods to delete.
"""
from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterable

from k8snet.apiserver.store import Event, Store, key_of, parse_time
from k8snet.errors import NotFound

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
SUFFIX_LEN = 5
FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}
_rng = random.SystemRandom()


# --- names and hashes ---------------------------------------------------------

def random_suffix(length: int = SUFFIX_LEN) -> str:
    """``x7k2q``: what the API server appends to a ``generateName``."""
    return "".join(_rng.choice(ALPHANUMS) for _ in range(length))


def generate_name(prefix: str) -> str:
    """``prefix`` (e.g. ``web-5d4f8-``) plus a random 5-character suffix."""
    return prefix + random_suffix()


def safe_encode(text: str) -> str:
    """Map each character to ALPHANUMS by its code point (rand.SafeEncodeString)."""
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in text)


def canonical_json(obj: object) -> bytes:
    """Sorted keys, no spaces: the same object always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def fnv1a_32(data: bytes, h: int = FNV32_OFFSET) -> int:
    """FNV-1a 32 (hash/fnv New32a), continuing from ``h``."""
    for byte in data:
        h = ((h ^ byte) * FNV32_PRIME) & 0xFFFFFFFF
    return h


def fnv1_32(data: bytes, h: int = FNV32_OFFSET) -> int:
    """FNV-1 32 (hash/fnv New32), continuing from ``h``."""
    for byte in data:
        h = ((h * FNV32_PRIME) & 0xFFFFFFFF) ^ byte
    return h


def pod_template_hash(template: dict, collision_count: int | None = None) -> str:
    """ComputeHash: the ``pod-template-hash`` label value for ``template``."""
    h = fnv1a_32(canonical_json(template or {}))
    if collision_count is not None:
        h = fnv1a_32((int(collision_count) & 0xFFFFFFFF).to_bytes(8, "little"), h)
    return safe_encode(str(h))


def revision_data(template: dict) -> dict:
    """A ControllerRevision's ``data``: the template as a replace patch
    (statefulset getPatch, daemonset getPatch)."""
    return {"spec": {"template": {**copy.deepcopy(template or {}), "$patch": "replace"}}}


def revision_hash(data: dict, collision_count: int | None = None) -> str:
    """HashControllerRevision: FNV-1 32 of the data, plus the collision count
    as decimal text."""
    h = fnv1_32(canonical_json(data))
    if collision_count is not None:
        h = fnv1_32(str(int(collision_count)).encode(), h)
    return safe_encode(str(h))


# --- shapes ---------------------------------------------------------------------------

_SELECTOR = {"matchLabels": dict, "matchExpressions": [{"key": str, "operator": str,
                                                          "values": list}]}
_NODE_TERMS = {"nodeSelectorTerms": [{"matchExpressions": [dict], "matchFields": [dict]}]}
POD_SPEC_SHAPE = {"nodeName": str, "schedulerName": str, "nodeSelector": dict,
                  "tolerations": [dict], "containers": [dict],
                  "affinity": {"nodeAffinity": {
                      "requiredDuringSchedulingIgnoredDuringExecution": _NODE_TERMS}}}
META_SHAPE = {"labels": dict, "annotations": dict, "ownerReferences": [dict]}
POD_SHAPE = {"metadata": META_SHAPE, "spec": POD_SPEC_SHAPE,
             "status": {"phase": str, "conditions": [dict], "containerStatuses": [dict]}}
NODE_SHAPE = {"metadata": META_SHAPE, "spec": {"taints": [dict]},
              "status": {"conditions": [dict], "allocatable": dict, "capacity": dict}}
WORKLOAD_SHAPE = {"metadata": META_SHAPE, "status": dict, "spec": {
    "selector": _SELECTOR, "template": {"metadata": META_SHAPE, "spec": POD_SPEC_SHAPE},
    "strategy": {"type": str, "rollingUpdate": dict}, "ordinals": dict,
    "updateStrategy": {"type": str, "rollingUpdate": dict}}}


def conforms(value: object, shape: object) -> bool:
    """``value`` has the types ``shape`` names where it has the fields (a
    missing or null field is fine; a list shape ``[s]`` means every item is
    an ``s``).  Controllers skip objects that do not conform, as the API
    server's validation would have refused them."""
    if value is None:
        return True
    if isinstance(shape, type):
        return isinstance(value, shape)
    if isinstance(shape, list):
        return isinstance(value, list) and all(
            item is not None and conforms(item, shape[0]) for item in value)
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(conforms(value.get(k), v)
                                               for k, v in shape.items())
    return True


# --- ownership -----------------------------------------------------------------

def controller_ref(owner: dict) -> dict:
    """The ownerReference a controller puts on what it creates
    (metav1.NewControllerRef)."""
    meta = owner.get("metadata") or {}
    return {"apiVersion": owner.get("apiVersion", "v1"), "kind": owner.get("kind", ""),
            "name": meta.get("name", ""), "uid": meta.get("uid", ""),
            "controller": True, "blockOwnerDeletion": True}


def as_dict(value: object) -> dict:
    """``value`` when it is a map, else an empty one (odd objects are read as empty)."""
    return value if isinstance(value, dict) else {}


def meta_of(obj: dict) -> dict:
    """``metadata`` (empty when missing or odd)."""
    return as_dict(as_dict(obj).get("metadata"))


def owner_refs(obj: dict) -> list[dict]:
    """The ownerReferences that are maps."""
    refs = meta_of(obj).get("ownerReferences")
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def controller_of(obj: dict) -> dict | None:
    """The ownerReference with ``controller: true``, or None."""
    return next((ref for ref in owner_refs(obj) if ref.get("controller")), None)


def controller_key(obj: dict, kind: str) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of ``obj``'s controller when it is a ``kind``."""
    ref = controller_of(obj)
    if ref is None or ref.get("kind") != kind or not isinstance(ref.get("name"), str):
        return None
    return kind, meta_of(obj).get("namespace", "") or "", ref["name"]


def pod_owner_keys(store: Store, event: Event, kind: str,
                   could_own: Callable[[dict, dict], bool]) -> list[tuple[str, str, str]]:
    """The ``kind`` objects a pod event concerns: its controller when it has
    one (of that kind, or none at all), else, for an orphan still present,
    every ``kind`` in its namespace that ``could_own(owner, pod)`` (adoption),
    as the workload controllers' pod event handlers map them."""
    pod = event.object
    if controller_of(pod) is not None:
        key = controller_key(pod, kind)
        return [key] if key else []
    if event.type == "DELETED":
        return []
    ns = meta_of(pod).get("namespace", "")
    return [(kind, ns, meta_of(o).get("name", "")) for o in store.list(kind, ns)
            if could_own(o, pod)]


def add_controller(obj: dict, owner: dict) -> None:
    """Make ``owner`` the controller of ``obj`` (a copy being edited), unless
    it already has one (adoption)."""
    if controller_of(obj) is None:
        child(obj, "metadata")["ownerReferences"] = [*owner_refs(obj), controller_ref(owner)]


def child(parent: dict, key: str) -> dict:
    """``parent[key]`` as a map to edit, made first when missing or odd."""
    if not isinstance(parent.get(key), dict):
        parent[key] = {}
    return parent[key]


def uid_of(obj: dict) -> str:
    """``metadata.uid``."""
    return meta_of(obj).get("uid", "")


def is_controlled_by(obj: dict, owner: dict) -> bool:
    """``obj``'s controller reference names ``owner``'s uid (metav1.IsControlledBy)."""
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == uid_of(owner)


def is_terminating(obj: dict) -> bool:
    """``metadata.deletionTimestamp`` is set."""
    return bool(meta_of(obj).get("deletionTimestamp"))


def labels_of(obj: dict) -> dict:
    """``metadata.labels`` (empty when missing or odd)."""
    return as_dict(meta_of(obj).get("labels"))


def as_int(value: object, default: int) -> int:
    """An int field that may be missing or odd; ``default`` then."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return default


def int_or_percent(value: object, total: int, round_up: bool, default: int | str) -> int:
    """intstr.GetScaledValueFromIntOrPercent: ``2`` or ``"25%"`` of ``total``."""
    if value is None:
        value = default
    if isinstance(value, str) and value.endswith("%"):
        pct = as_int(value[:-1], 0)
        scaled = pct * total
        return -(-scaled // 100) if round_up else scaled // 100
    return max(0, as_int(value, 0))


# --- pods ------------------------------------------------------------------------

def phase_of(pod: dict) -> str:
    """``status.phase``: Pending, Running, Succeeded, Failed, Unknown or ""."""
    return as_dict(pod.get("status")).get("phase", "") or ""


def is_active(pod: dict) -> bool:
    """Counts for a controller: not terminating, not Succeeded or Failed
    (controller.FilterActivePods)."""
    return not is_terminating(pod) and phase_of(pod) not in ("Succeeded", "Failed")


def ready_condition(pod: dict) -> dict | None:
    """The pod's ``Ready`` condition, or None."""
    conds = as_dict(pod.get("status")).get("conditions")
    for cond in conds if isinstance(conds, list) else []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond
    return None


def is_ready(pod: dict) -> bool:
    """The pod's Ready condition is "True" (podutil.IsPodReady)."""
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def safe_time(text: object) -> float:
    """Seconds since the epoch for an RFC 3339 timestamp; 0.0 for none or junk."""
    try:
        return parse_time(text) if isinstance(text, str) else 0.0
    except ValueError:
        return 0.0


def ready_since(pod: dict) -> float:
    """When the Ready condition last changed (seconds since the epoch; 0.0 if never)."""
    return safe_time((ready_condition(pod) or {}).get("lastTransitionTime"))


def is_available(pod: dict, min_ready_seconds: int, now: float) -> bool:
    """Ready for more than ``min_ready_seconds`` (podutil.IsPodAvailable)."""
    if not is_ready(pod):
        return False
    return min_ready_seconds <= 0 or ready_since(pod) + min_ready_seconds < now


def until_available(pods: Iterable[dict], min_ready_seconds: int, now: float) -> float | None:
    """Seconds until the next ready-but-not-yet-available pod becomes
    available (when to look again), or None."""
    if min_ready_seconds <= 0:
        return None
    waits = [ready_since(p) + min_ready_seconds - now for p in pods
             if is_ready(p) and not is_available(p, min_ready_seconds, now)]
    return max(0.05, min(waits) + 0.01) if waits else None


def restarts(pod: dict) -> int:
    """The highest ``restartCount`` of its containers (maxContainerRestarts)."""
    statuses = as_dict(pod.get("status")).get("containerStatuses")
    statuses = statuses if isinstance(statuses, list) else []
    return max([as_int(s.get("restartCount"), 0) for s in statuses if isinstance(s, dict)],
               default=0)


def deletion_rank(pod: dict, colocated: int = 0) -> tuple:
    """Sort key: pods to delete first come first (controller.ActivePodsWithRanks):
    unassigned, Pending < Unknown < Running, not ready, lower
    pod-deletion-cost, more related pods on its node, ready for less time,
    more restarts, newer."""
    meta = meta_of(pod)
    ready = is_ready(pod)
    cost = as_int(as_dict(meta.get("annotations")).get(POD_DELETION_COST), 0)
    created = safe_time(meta.get("creationTimestamp"))
    return (bool(as_dict(pod.get("spec")).get("nodeName")), _PHASE_RANK.get(phase_of(pod), 0),
            ready, cost, -colocated, -ready_since(pod) if ready else 0.0,
            -restarts(pod), -created)


def pods_to_delete(pods: list[dict], count: int) -> list[dict]:
    """The ``count`` pods a controller removes first (getPodsToDelete),
    ranked by ``deletion_rank`` with the number of these pods on the same node."""
    per_node: dict[str, int] = {}
    for pod in pods:
        node = as_dict(pod.get("spec")).get("nodeName") or ""
        per_node[node] = per_node.get(node, 0) + 1
    ranked = sorted(pods, key=lambda p: deletion_rank(
        p, per_node.get(as_dict(p.get("spec")).get("nodeName") or "", 0)))
    return ranked[:max(0, count)]


def new_pod(template: dict, namespace: str, name: str, owner: dict) -> dict:
    """A pod from a pod template: its labels, annotations and spec, owned by
    ``owner`` (controller.GetPodFromTemplate)."""
    meta = (template or {}).get("metadata") or {}
    pod_meta: dict = {"name": name, "namespace": namespace,
                      "labels": dict(meta.get("labels") or {}),
                      "ownerReferences": [controller_ref(owner)]}
    if meta.get("annotations"):
        pod_meta["annotations"] = dict(meta["annotations"])
    if meta.get("finalizers"):
        pod_meta["finalizers"] = list(meta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": copy.deepcopy((template or {}).get("spec") or {})}


def write_status(store: Store, obj: dict, values: dict, keys: tuple[str, ...],
                 keep_zero: tuple[str, ...] = ()) -> None:
    """Replace ``keys`` in ``obj``'s status by ``values`` (zeros and empty
    values left out unless in ``keep_zero``, as the API's omitempty does),
    keeping its other status fields.  No write when nothing changed."""
    def change(o: dict) -> None:
        status = {k: v for k, v in as_dict(o.get("status")).items() if k not in keys}
        status.update({k: v for k, v in values.items() if v or k in keep_zero})
        o["status"] = status
    try:
        store.mutate(*key_of(obj), change)
    except NotFound:
        pass
