"""apps/v1 workloads: Deployments, ReplicaSets, StatefulSets, DaemonSets
(``pkg/apis/apps/validation``), with the lab's bound on replicas."""
from __future__ import annotations

import re
from typing import Any

from .errors import _GoText, _intstr_text
from .fields import _BOOLEAN, _INT_OR_STRING, _OBJECT, _STRING, _child, _Errors, _is_int, _spec
from .formats import is_dns1123_label, is_percent
from .label_selectors import _check_selector, _selector_is_empty
from .pods import _validate_pod_template

# A lab bound, not the API server's (which takes any int32): every replica is a
# network namespace and processes on this one machine, the binder places at most
# 110 pods on each of at most 64 nodes, and a million replicas took 9 s and 640 MB
# (holding the cluster lock) before failing anyway.  Refused at validation, so
# nothing is created.
MAX_REPLICAS = 5000


def _check_int_or_percent(errs: _Errors, holder: dict, key: str, path: str,
                          default: int | str) -> int:
    """``ValidatePositiveIntOrPercent`` on ``holder[key]`` (``default`` when
    absent); returns Go's ``getIntOrPercentValue``: NN for "NN%", the number
    of any other string or 0, and -1 for a value of the wrong type."""
    value = errs.get(holder, key, path, _INT_OR_STRING)
    if value is None:
        if holder.get(key) is not None:
            return -1                               # wrong type, already reported
        value = default
    if isinstance(value, str):
        errs.each(path, _intstr_text(value), is_percent(value))
        return int(value[:-1]) if _valid_percent(value) else _atoi(value)
    if value < 0:
        errs.invalid(path, _intstr_text(value), "must be greater than or equal to 0")
    return value


def _valid_percent(value: Any) -> bool:
    return isinstance(value, str) and not is_percent(value)


def _atoi(text: str) -> int:
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else 0


def _check_not_over_100(errs: _Errors, holder: dict, key: str, path: str, value: int) -> None:
    """``IsNotMoreThan100Percent``: only percentages are limited."""
    if _valid_percent(holder.get(key)) and value > 100:
        errs.invalid(path, _intstr_text(holder[key]), "must not be greater than 100%")


def _validate_workload_selector(errs: _Errors, spec: dict, kind: str) -> None:
    selector = spec.get("selector")
    if selector is None:
        errs.required("spec.selector")
        return
    _check_selector(errs, selector, "spec.selector")
    if _selector_is_empty(selector):
        errs.invalid("spec.selector", _GoText(
            "&LabelSelector{MatchLabels:map[string]string{},MatchExpressions:"
            "[]LabelSelectorRequirement{},}"),
            f"empty selector is invalid for {kind}")


def _validate_deployment_strategy(errs: _Errors, spec: dict) -> None:
    path = "spec.strategy"
    strategy = errs.get(spec, "strategy", path, _OBJECT) or {}
    kind = errs.get(strategy, "type", _child(path, "type"), _STRING) or "RollingUpdate"
    rolling_path = _child(path, "rollingUpdate")
    rolling = errs.get(strategy, "rollingUpdate", rolling_path, _OBJECT)
    if kind == "Recreate":
        if rolling is not None:
            errs.forbidden(rolling_path, "may not be specified when strategy `type` is 'Recreate'")
    elif kind == "RollingUpdate":
        rolling = rolling or {}
        unavailable_path = _child(rolling_path, "maxUnavailable")
        unavailable = _check_int_or_percent(errs, rolling, "maxUnavailable", unavailable_path,
                                            "25%")
        surge = _check_int_or_percent(errs, rolling, "maxSurge", _child(rolling_path, "maxSurge"),
                                      "25%")
        if unavailable == 0 and surge == 0:
            errs.invalid(unavailable_path, _intstr_text(rolling["maxUnavailable"]),
                         "may not be 0 when `maxSurge` is 0")
        _check_not_over_100(errs, rolling, "maxUnavailable", unavailable_path, unavailable)
    else:
        errs.not_supported(_child(path, "type"), kind, ("Recreate", "RollingUpdate"))


def _validate_replica_counts(errs: _Errors, spec: dict) -> None:
    """``ValidateNonnegativeField`` on the counts, and the lab's :data:`MAX_REPLICAS`."""
    for key in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        value = errs.non_negative(spec, key, f"spec.{key}")
        if key == "replicas" and value is not None and value > MAX_REPLICAS:
            errs.invalid("spec.replicas", value, f"must be less than or equal to "
                         f"{MAX_REPLICAS} in this lab (one machine)")


def _validate_deployment(errs: _Errors, obj: dict) -> None:
    """``ValidateDeploymentSpec``."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    _validate_replica_counts(errs, spec)
    _validate_workload_selector(errs, spec, "deployment")
    _validate_pod_template(errs, spec, "ReplicaSet")
    _validate_deployment_strategy(errs, spec)
    deadline = errs.non_negative(spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds")
    min_ready = spec.get("minReadySeconds") if _is_int(spec.get("minReadySeconds")) else 0
    if deadline is not None and deadline <= min_ready:
        errs.invalid("spec.progressDeadlineSeconds", deadline,
                     "must be greater than minReadySeconds")
    errs.get(spec, "paused", "spec.paused", _BOOLEAN)


def _validate_replica_set(errs: _Errors, obj: dict) -> None:
    """``ValidateReplicaSetSpec`` (whose empty-selector message says deployment)."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    _validate_replica_counts(errs, spec)
    _validate_workload_selector(errs, spec, "deployment")
    _validate_pod_template(errs, spec, "ReplicaSet")


def _validate_stateful_set_strategy(errs: _Errors, spec: dict) -> None:
    path = "spec.updateStrategy"
    strategy = errs.get(spec, "updateStrategy", path, _OBJECT) or {}
    kind = errs.get(strategy, "type", _child(path, "type"), _STRING) or "RollingUpdate"
    rolling_path = _child(path, "rollingUpdate")
    rolling = errs.get(strategy, "rollingUpdate", rolling_path, _OBJECT)
    if kind == "OnDelete" and rolling is not None:
        errs.invalid(rolling_path, rolling,
                     "only allowed for updateStrategy 'RollingUpdate'")
    elif kind == "RollingUpdate" and rolling is not None:
        errs.non_negative(rolling, "partition", _child(rolling_path, "partition"))
        if rolling.get("maxUnavailable") is not None:
            unavailable_path = _child(rolling_path, "maxUnavailable")
            value = _check_int_or_percent(errs, rolling, "maxUnavailable", unavailable_path, 1)
            if value == 0:
                errs.invalid(unavailable_path, _intstr_text(rolling["maxUnavailable"]),
                             "must be greater than zero")
            _check_not_over_100(errs, rolling, "maxUnavailable", unavailable_path, value)
    elif kind not in ("OnDelete", "RollingUpdate"):
        errs.invalid(_child(path, "type"), kind, "must be 'RollingUpdate' or 'OnDelete'")


def _validate_stateful_set(errs: _Errors, obj: dict) -> None:
    """``ValidateStatefulSetSpec``."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    policy = errs.get(spec, "podManagementPolicy", "spec.podManagementPolicy", _STRING)
    if policy and policy not in ("OrderedReady", "Parallel"):
        errs.invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'")
    _validate_stateful_set_strategy(errs, spec)
    _validate_replica_counts(errs, spec)
    service_name = errs.get(spec, "serviceName", "spec.serviceName", _STRING)
    errs.name(service_name, "spec.serviceName", is_dns1123_label)
    _validate_workload_selector(errs, spec, "statefulset")
    claims = set()
    for claim_path, claim in errs.objects(spec, "volumeClaimTemplates",
                                          "spec.volumeClaimTemplates"):
        meta = errs.get(claim, "metadata", _child(claim_path, "metadata"), _OBJECT) or {}
        name = errs.get(meta, "name", _child(claim_path, "metadata.name"), _STRING)
        claims.add(name or "")
    _validate_pod_template(errs, spec, "StatefulSet", claims)


def _validate_daemon_set_strategy(errs: _Errors, spec: dict) -> None:
    path = "spec.updateStrategy"
    strategy = errs.get(spec, "updateStrategy", path, _OBJECT) or {}
    kind = errs.get(strategy, "type", _child(path, "type"), _STRING) or "RollingUpdate"
    if kind == "OnDelete":
        return
    if kind != "RollingUpdate":
        errs.not_supported(_child(path, "type"), kind, ("RollingUpdate", "OnDelete"))
        return
    rolling_path = _child(path, "rollingUpdate")
    rolling = errs.get(strategy, "rollingUpdate", rolling_path, _OBJECT) or {}
    unavailable_path = _child(rolling_path, "maxUnavailable")
    surge_path = _child(rolling_path, "maxSurge")
    unavailable = _check_int_or_percent(errs, rolling, "maxUnavailable", unavailable_path, 1)
    surge = _check_int_or_percent(errs, rolling, "maxSurge", surge_path, 0)
    _check_not_over_100(errs, rolling, "maxUnavailable", unavailable_path, unavailable)
    _check_not_over_100(errs, rolling, "maxSurge", surge_path, surge)
    if unavailable > 0 and surge > 0:
        errs.invalid(surge_path, _intstr_text(rolling.get("maxSurge")),
                     "may not be set when maxUnavailable is non-zero")
    elif unavailable == 0 and surge == 0:
        errs.required(unavailable_path, "cannot be 0 when maxSurge is 0")


def _validate_daemon_set(errs: _Errors, obj: dict) -> None:
    """``ValidateDaemonSetSpec``."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    _validate_workload_selector(errs, spec, "daemonset")
    _validate_pod_template(errs, spec, "DaemonSet")
    for key in ("minReadySeconds", "revisionHistoryLimit"):
        errs.non_negative(spec, key, f"spec.{key}")
    _validate_daemon_set_strategy(errs, spec)
