"""The defaults the API server fills in when an object is created.

``apply_defaults(obj)`` returns a deep copy of one Kubernetes-JSON object
with the fields kube-apiserver would have set, so that what the store holds
reads like ``kubectl get -o json``.  It follows ``pkg/apis/core/v1/defaults.go``
(Service, Pod, PodSpec, Container, Probe, HTTPGetAction, Volume, Secret,
Namespace), ``pkg/apis/apps/v1/defaults.go`` (Deployment, ReplicaSet,
StatefulSet, DaemonSet), ``pkg/apis/networking/v1/defaults.go``
(NetworkPolicy), ``pkg/apis/discovery/v1/defaults.go`` (EndpointSlice ports),
and, for Services, what the registry's strategy and IP allocator add
(``clusterIPs``, ``ipFamilies``, ``ipFamilyPolicy``) in this IPv4-only lab.

Go defaults two ways, and so does this module: a pointer field is set when
it is absent (``replicas``: an explicit 0 stays 0), a plain field when it
holds its zero value (``protocol: ""`` becomes TCP, a probe's
``periodSeconds: 0`` becomes 10).

Defaults are meant for objects that passed ``validation.validate``; on
anything else they do what they can and never raise.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800      # v1.DefaultClientIPServiceAffinitySeconds
DEFAULT_TERMINATION_GRACE_SECONDS = 30
DEFAULT_SCHEDULER = "default-scheduler"
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
FILE_MODE_0644 = 0o644                          # secret/configMap volume defaultMode (420)


def apply_defaults(obj: dict) -> dict:
    """A deep copy of ``obj`` with the API server's defaults for its kind.

    Kinds without defaults, and values that are not objects, come back
    copied and unchanged.  Never raises on malformed input: a field of an
    unexpected shape is left as it is."""
    out = copy.deepcopy(obj)
    if isinstance(out, dict):
        setter = _SETTERS.get(out.get("kind")) if isinstance(out.get("kind"), str) else None
        if setter is not None:
            setter(out)
    return out


def parse_int_or_percent(value: int | str, total: int, round_up: bool) -> int:
    """An IntOrString scaled against ``total`` (``intstr.GetScaledValueFromIntOrPercent``).

    An int is returned as it is; ``"NN%"`` is NN percent of ``total``,
    rounded up (``maxSurge``) or down (``maxUnavailable``).  Raises
    ValueError, worded as Go's, for a string without ``%``, a percentage
    that is not an integer, or a value that is neither int nor string."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("invalid value for IntOrString: invalid type: neither int nor "
                         "percentage")
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a "
                         "percentage")
    digits = value[:-1]
    if not re.fullmatch(r"[+-]?[0-9]+", digits):
        raise ValueError(f'invalid value for IntOrString: invalid value "{value}": '
                         f'strconv.Atoi: parsing "{digits}": invalid syntax')
    scaled = int(digits) * total
    return -(-scaled // 100) if round_up else scaled // 100


# --------------------------------------------------------------------------
# Helpers: reach into a dict only where it has the expected shape


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_zero(value: Any) -> bool:
    """Go's zero value of a plain field: absent, null, "" or 0."""
    return value is None or value == "" or (_is_int(value) and value == 0)


def _default_nil(holder: dict, key: str, value: Any) -> None:
    """A pointer field: set when absent or null."""
    if holder.get(key) is None:
        holder[key] = copy.deepcopy(value)


def _default_zero(holder: dict, key: str, value: Any) -> None:
    """A plain field: set when it holds its zero value."""
    if _is_zero(holder.get(key)):
        holder[key] = value


def _obj(holder: Any, key: str, create: bool = True) -> dict | None:
    """``holder[key]`` when it is an object (created empty when absent and
    ``create``); None when it holds anything else."""
    if not isinstance(holder, dict):
        return None
    if holder.get(key) is None and create:
        holder[key] = {}
    value = holder.get(key)
    return value if isinstance(value, dict) else None


def _dicts(holder: Any, key: str) -> list[dict]:
    """The objects of the list ``holder[key]``; other items are skipped."""
    value = holder.get(key) if isinstance(holder, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _spec(obj: dict) -> dict | None:
    return _obj(obj, "spec")


# --------------------------------------------------------------------------
# Pods and their templates


_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_PROBE_DEFAULTS = (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                   ("failureThreshold", 3))
_VOLUME_SOURCES = ("emptyDir", "configMap", "secret", "hostPath", "persistentVolumeClaim",
                   "downwardAPI", "projected", "nfs", "csi", "ephemeral")


def _pull_policy(image: Any) -> str:
    """Always for ``:latest`` (or no tag and no digest), else IfNotPresent."""
    if not isinstance(image, str) or not image:
        return "IfNotPresent"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _http_get(action: Any) -> None:
    if isinstance(action, dict):
        _default_zero(action, "path", "/")
        _default_zero(action, "scheme", "HTTP")


def _probe(probe: dict) -> None:
    for key, value in _PROBE_DEFAULTS:
        _default_zero(probe, key, value)
    _http_get(probe.get("httpGet"))


def _container(container: dict, host_network: bool) -> None:
    """``SetDefaults_Container`` and the defaults of its ports, probes, env."""
    if _is_zero(container.get("imagePullPolicy")):
        container["imagePullPolicy"] = _pull_policy(container.get("image"))
    _default_zero(container, "terminationMessagePath", TERMINATION_MESSAGE_PATH)
    _default_zero(container, "terminationMessagePolicy", "File")
    for port in _dicts(container, "ports"):
        _default_zero(port, "protocol", "TCP")
        if host_network and _is_zero(port.get("hostPort")):
            port["hostPort"] = port.get("containerPort")
    for key in _PROBES:
        probe = container.get(key)
        if isinstance(probe, dict):
            _probe(probe)
    lifecycle = container.get("lifecycle")
    for hook in ("postStart", "preStop"):
        handler = lifecycle.get(hook) if isinstance(lifecycle, dict) else None
        _http_get(handler.get("httpGet") if isinstance(handler, dict) else None)
    for env in _dicts(container, "env"):
        field_ref = _obj(_obj(env, "valueFrom", create=False), "fieldRef", create=False)
        if field_ref is not None:
            _default_zero(field_ref, "apiVersion", "v1")


def _volume(volume: dict) -> None:
    """``SetDefaults_Volume`` (no source is an emptyDir) and file modes."""
    if not any(volume.get(source) is not None for source in _VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        holder = volume.get(source)
        if isinstance(holder, dict):
            _default_nil(holder, "defaultMode", FILE_MODE_0644)


def _pod_spec(spec: dict, is_pod: bool) -> None:
    """``SetDefaults_PodSpec``; ``is_pod`` adds ``SetDefaults_Pod`` (a real
    Pod, not a template: enableServiceLinks, hostNetwork host ports)."""
    _default_zero(spec, "dnsPolicy", "ClusterFirst")
    _default_zero(spec, "restartPolicy", "Always")
    _default_nil(spec, "securityContext", {})
    _default_nil(spec, "terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_SECONDS)
    _default_zero(spec, "schedulerName", DEFAULT_SCHEDULER)
    host_network = is_pod and spec.get("hostNetwork") is True
    if is_pod:
        _default_nil(spec, "enableServiceLinks", True)
    for key in ("initContainers", "containers"):
        for container in _dicts(spec, key):
            _container(container, host_network)
    for volume in _dicts(spec, "volumes"):
        _volume(volume)


def _service_account(spec: dict, is_pod: bool) -> None:
    """The pod's ServiceAccount, as the ``ServiceAccount`` admission plugin
    (plugin/pkg/admission/serviceaccount/admission.go) and the v1 conversion
    of PodSpec give it: ``serviceAccountName`` (else the deprecated
    ``serviceAccount``, else, for a Pod, ``default``) in both fields.  A
    template only gets the two fields mirrored, as admission runs on Pods.
    The plugin's other work is left out: it does not refuse a pod whose
    account is missing (the ServiceAccounts controller makes ``default``
    soon after its Namespace) and adds no token volume, because the lab
    has no tokens."""
    name = next((v for v in (spec.get("serviceAccountName"), spec.get("serviceAccount"))
                 if isinstance(v, str) and v), "default" if is_pod else "")
    if name:
        spec["serviceAccountName"] = spec["serviceAccount"] = name


def _pod(obj: dict) -> None:
    spec = _spec(obj)
    if spec is not None:
        _pod_spec(spec, is_pod=True)
        _service_account(spec, is_pod=True)


def _template(spec: dict) -> None:
    template = _obj(spec, "template", create=False)
    pod_spec = _obj(template, "spec", create=False)
    if pod_spec is not None:
        _pod_spec(pod_spec, is_pod=False)
        _service_account(pod_spec, is_pod=False)


# --------------------------------------------------------------------------
# Services, Endpoints, EndpointSlices


def _session_affinity(spec: dict) -> None:
    _default_zero(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client = _obj(_obj(spec, "sessionAffinityConfig", create=False), "clientIP",
                      create=False)
        if client is None or client.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {
                "clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_AFFINITY_SECONDS}}


def _service_ports(spec: dict) -> None:
    for port in _dicts(spec, "ports"):
        _default_zero(port, "protocol", "TCP")
        target = port.get("targetPort")
        if _is_zero(target) and _is_int(port.get("port")):
            port["targetPort"] = port["port"]


def _service_ip_fields(spec: dict, svc_type: Any) -> None:
    """What the strategy and the allocator add to a Service with a cluster IP."""
    if svc_type == "ExternalName":
        return
    cluster_ip = spec.get("clusterIP")
    if isinstance(cluster_ip, str) and cluster_ip and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [cluster_ip]
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = ["IPv4"]
    _default_nil(spec, "ipFamilyPolicy", "SingleStack")


def _service(obj: dict) -> None:
    """``SetDefaults_Service``."""
    spec = _spec(obj)
    if spec is None:
        return
    _session_affinity(spec)
    _default_zero(spec, "type", "ClusterIP")
    svc_type = spec["type"]
    _service_ports(spec)
    accessible = svc_type in ("NodePort", "LoadBalancer") or (
        svc_type == "ClusterIP" and bool(spec.get("externalIPs")))
    if accessible:
        _default_zero(spec, "externalTrafficPolicy", "Cluster")
    if svc_type in ("ClusterIP", "NodePort", "LoadBalancer"):
        _default_nil(spec, "internalTrafficPolicy", "Cluster")
    if svc_type == "LoadBalancer":
        _default_nil(spec, "allocateLoadBalancerNodePorts", True)
    _service_ip_fields(spec, svc_type)


def _endpoints(obj: dict) -> None:
    for subset in _dicts(obj, "subsets"):
        for port in _dicts(subset, "ports"):
            _default_zero(port, "protocol", "TCP")


def _endpoint_slice(obj: dict) -> None:
    for port in _dicts(obj, "ports"):
        _default_nil(port, "name", "")
        _default_nil(port, "protocol", "TCP")


# --------------------------------------------------------------------------
# Namespaces, Secrets, NetworkPolicies


def _namespace(obj: dict) -> None:
    """``SetDefaults_Namespace``: the name as a label, for namespaceSelectors."""
    meta = _obj(obj, "metadata", create=False)
    name = meta.get("name") if meta is not None else None
    labels = _obj(meta, "labels") if isinstance(name, str) and name else None
    if labels is not None:
        labels[NAMESPACE_NAME_LABEL] = name


def _secret(obj: dict) -> None:
    _default_zero(obj, "type", "Opaque")


def _network_policy(obj: dict) -> None:
    """``SetDefaults_NetworkPolicy``: Ingress, plus Egress with egress rules."""
    spec = _spec(obj)
    if spec is None:
        return
    if not spec.get("policyTypes"):
        egress = spec.get("egress")
        has_egress = isinstance(egress, list) and len(egress) > 0
        spec["policyTypes"] = ["Ingress", "Egress"] if has_egress else ["Ingress"]
    for direction in ("ingress", "egress"):
        for rule in _dicts(spec, direction):
            for port in _dicts(rule, "ports"):
                _default_nil(port, "protocol", "TCP")


# --------------------------------------------------------------------------
# apps/v1 workloads


def _rolling_update(strategy: dict, max_unavailable: int | str, max_surge: int | str) -> None:
    rolling = _obj(strategy, "rollingUpdate")
    if rolling is not None:
        _default_nil(rolling, "maxUnavailable", max_unavailable)
        _default_nil(rolling, "maxSurge", max_surge)


def _deployment(obj: dict) -> None:
    """``SetDefaults_Deployment``."""
    spec = _spec(obj)
    if spec is None:
        return
    _default_nil(spec, "replicas", 1)
    strategy = _obj(spec, "strategy")
    if strategy is not None:
        _default_zero(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            _rolling_update(strategy, "25%", "25%")
    _default_nil(spec, "revisionHistoryLimit", 10)
    _default_nil(spec, "progressDeadlineSeconds", 600)
    _template(spec)


def _replica_set(obj: dict) -> None:
    spec = _spec(obj)
    if spec is not None:
        _default_nil(spec, "replicas", 1)
        _template(spec)


def _stateful_set(obj: dict) -> None:
    """``SetDefaults_StatefulSet``."""
    spec = _spec(obj)
    if spec is None:
        return
    _default_zero(spec, "podManagementPolicy", "OrderedReady")
    strategy = _obj(spec, "updateStrategy")
    if strategy is not None:
        if _is_zero(strategy.get("type")):
            strategy["type"] = "RollingUpdate"
            _default_nil(strategy, "rollingUpdate", {})
        rolling = _obj(strategy, "rollingUpdate", create=False)
        if strategy["type"] == "RollingUpdate" and rolling is not None:
            _default_nil(rolling, "partition", 0)
    retention = _obj(spec, "persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        _default_zero(retention, "whenDeleted", "Retain")
        _default_zero(retention, "whenScaled", "Retain")
    _default_nil(spec, "replicas", 1)
    _default_nil(spec, "revisionHistoryLimit", 10)
    _template(spec)


def _daemon_set(obj: dict) -> None:
    """``SetDefaults_DaemonSet``."""
    spec = _spec(obj)
    if spec is None:
        return
    strategy = _obj(spec, "updateStrategy")
    if strategy is not None:
        _default_zero(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            _rolling_update(strategy, 1, 0)
    _default_nil(spec, "revisionHistoryLimit", 10)
    _template(spec)


_SETTERS: dict[str, Callable[[dict], None]] = {
    "Namespace": _namespace,
    "Pod": _pod,
    "Service": _service,
    "Endpoints": _endpoints,
    "EndpointSlice": _endpoint_slice,
    "Secret": _secret,
    "NetworkPolicy": _network_policy,
    "Deployment": _deployment,
    "ReplicaSet": _replica_set,
    "StatefulSet": _stateful_set,
    "DaemonSet": _daemon_set,
}
