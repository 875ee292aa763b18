"""What the Deployment controller computes without touching the store.

Follows pkg/controller/deployment/util/deployment_util.go (ResolveFenceposts,
MaxUnavailable, NewRSNewReplicas, EqualIgnoreHash, SetDeploymentCondition,
DeploymentProgressing, DeploymentTimedOut) and progress.go (syncRolloutStatus:
which Progressing condition a status gets).  Everything takes the stored
dicts: a Deployment ``d``, ReplicaSets ``rs``.
"""
from __future__ import annotations

import copy

from k8snet.api.selectors import matches
from k8snet.apiserver.store import now_rfc3339
from k8snet.control import names

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"      # kubectl rollout restart
SKIP_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION,
                              REVISION_HISTORY, DESIRED, MAX_REPLICAS,
                              "deprecated.deployment.rollback.to"})
STATUS_KEYS = ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
               "availableReplicas", "unavailableReplicas", "conditions")
DEFAULT_HISTORY = 10
DEFAULT_DEADLINE = 600


def fenceposts(d: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against ``replicas``
    (ResolveFenceposts, MaxUnavailable): 0, 0 for Recreate."""
    if strategy_type(d) != "RollingUpdate":
        return 0, 0
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    want = replicas_of(d)
    surge = names.int_or_percent(rolling.get("maxSurge"), want, True, "25%")
    unavailable = names.int_or_percent(rolling.get("maxUnavailable"), want, False, "25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, want)


def new_rs_replicas(d: dict, old: list[dict], current: int) -> int:
    """NewRSNewReplicas: how big the new ReplicaSet may be now."""
    if strategy_type(d) == "Recreate":
        return replicas_of(d)
    surge, _ = fenceposts(d)
    total = sum(replicas_of(rs) for rs in old) + current
    room = replicas_of(d) + surge - total
    return current + max(0, min(room, replicas_of(d) - current))


def conditions(d: dict, status: dict, new: dict | None, created: bool, complete: bool,
               now: float) -> list[dict]:
    """The Deployment's conditions after this sync: Available
    (MinimumReplicasAvailable or not) and Progressing (syncRolloutStatus)."""
    conds = [dict(c) for c in (d.get("status") or {}).get("conditions") or []
             if isinstance(c, dict)]
    _, max_unavailable = fenceposts(d)
    if status["availableReplicas"] >= replicas_of(d) - max_unavailable:
        set_condition(conds, now, "Available", "True", "MinimumReplicasAvailable",
                      "Deployment has minimum availability.")
    else:
        set_condition(conds, now, "Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.")
    rs = f'"{new["metadata"]["name"]}"' if new else '""'
    current = next((c for c in conds if c.get("type") == "Progressing"), None)
    if d["spec"].get("paused"):
        change = ("Unknown", "DeploymentPaused", "Deployment is paused")
    elif current is not None and current.get("reason") == "DeploymentPaused":
        change = ("Unknown", "DeploymentResumed", "Deployment is resumed")
    elif new is None:
        return conds
    elif complete:
        change = ("True", "NewReplicaSetAvailable", f"ReplicaSet {rs} has successfully progressed.")
    elif created:
        change = ("True", "NewReplicaSetCreated", f"Created new replica set {rs}")
    elif current is None or progressed(d, status):
        set_condition(conds, now, "Progressing", "True", "ReplicaSetUpdated",
                      f"ReplicaSet {rs} is progressing.", touch=True)
        return conds
    elif deadline_wait(d, now) == 0.0:
        change = ("False", "ProgressDeadlineExceeded",
                  f"ReplicaSet {rs} has timed out progressing.")
    else:
        return conds
    set_condition(conds, now, "Progressing", *change)
    return conds


def set_condition(conds: list[dict], now: float, type_: str, status: str, reason: str,
                  message: str, touch: bool = False) -> None:
    """SetDeploymentCondition: replace the condition of ``type_`` unless it
    already has this status and reason; lastTransitionTime kept while the
    status stays (``touch``: refresh lastUpdateTime anyway, as
    syncRolloutStatus does for ReplicaSetUpdated)."""
    cur = next((c for c in conds if c.get("type") == type_), None)
    if cur is not None and cur.get("status") == status and cur.get("reason") == reason \
            and not touch:
        return
    stamp = now_rfc3339(now)
    since = cur.get("lastTransitionTime", stamp) if cur and cur.get("status") == status \
        else stamp
    conds[:] = [c for c in conds if c.get("type") != type_]
    conds.append({"type": type_, "status": status, "lastUpdateTime": stamp,
                  "lastTransitionTime": since, "reason": reason, "message": message})


def progressed(d: dict, new: dict) -> bool:
    """DeploymentProgressing: more updated, ready or available pods, or
    fewer old ones, than the last status said."""
    old = d.get("status") or {}

    def get(s: dict, k: str) -> int:
        return names.as_int(s.get(k), 0)
    return (get(new, "updatedReplicas") > get(old, "updatedReplicas")
            or get(new, "replicas") - get(new, "updatedReplicas")
            < get(old, "replicas") - get(old, "updatedReplicas")
            or get(new, "readyReplicas") > get(old, "readyReplicas")
            or get(new, "availableReplicas") > get(old, "availableReplicas"))


def deadline_wait(d: dict, now: float) -> float | None:
    """Seconds left before progressDeadlineSeconds runs out (0.0: it has),
    None when no deadline applies."""
    cond = next((c for c in (d.get("status") or {}).get("conditions") or []
                 if isinstance(c, dict) and c.get("type") == "Progressing"), None)
    if cond is None or cond.get("reason") in ("NewReplicaSetAvailable", "DeploymentPaused"):
        return None
    if cond.get("reason") == "ProgressDeadlineExceeded" or d["spec"].get("paused"):
        return None
    deadline = names.as_int(d["spec"].get("progressDeadlineSeconds"), DEFAULT_DEADLINE)
    left = names.safe_time(cond.get("lastUpdateTime")) + deadline - now
    return max(0.0, left)


def strategy_type(d: dict) -> str:
    """``RollingUpdate`` (the default) or ``Recreate``."""
    return (d["spec"].get("strategy") or {}).get("type") or "RollingUpdate"


def replicas_of(obj: dict) -> int:
    """``spec.replicas`` of a Deployment or ReplicaSet (default 1)."""
    return max(0, names.as_int((obj.get("spec") or {}).get("replicas"), 1))


def revision_of(rs: dict) -> int:
    """The ``deployment.kubernetes.io/revision`` annotation (0 when none)."""
    return names.as_int((rs["metadata"].get("annotations") or {}).get(REVISION), 0)


def created_key(obj: dict) -> tuple[float, str]:
    """Sort key: oldest first, then by name (ReplicaSetsByCreationTimestamp)."""
    meta = obj.get("metadata") or {}
    return names.safe_time(meta.get("creationTimestamp")), meta.get("name", "")


def copied_annotations(d: dict) -> dict:
    """The Deployment annotations its ReplicaSets get (all but SKIP_ANNOTATIONS)."""
    return {k: v for k, v in (d["metadata"].get("annotations") or {}).items()
            if k not in SKIP_ANNOTATIONS}


def selector_of(d: dict) -> dict | None:
    """``spec.selector`` when it is a non-empty map, else None."""
    spec = d.get("spec")
    selector = spec.get("selector") if isinstance(spec, dict) else None
    return selector if isinstance(selector, dict) and selector else None


def selects(d: dict, labels: dict) -> bool:
    """``d``'s selector matches ``labels``."""
    selector = selector_of(d)
    return selector is not None and matches(selector, labels)


def same_template(rs: dict, d: dict) -> bool:
    """EqualIgnoreHash: the templates match but for ``pod-template-hash``."""
    theirs = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    ((theirs.get("metadata") or {}).get("labels") or {}).pop(HASH_LABEL, None)
    return _pruned(theirs) == _pruned(d["spec"].get("template") or {})


def _pruned(value: object) -> object:
    """Drop empty maps, lists and nulls (the API's semantic equality)."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value
