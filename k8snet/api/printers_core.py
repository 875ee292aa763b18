"""``kubectl get`` columns of the core kinds: Pod, Node, Namespace, ConfigMap,
Secret, ServiceAccount, Event, PersistentVolumeClaim.

Each ``*_row(obj, now)`` returns every cell of the kind's columns, wide ones
included, as the API server's Table carries them (it always renders wide;
kubectl drops priority-1 columns without ``-o wide``).  Where the API server
would have defaulted a field on create (pod phase Pending, namespace phase
Active, secret type Opaque) a missing field prints as that default.

Source: kubernetes pkg/printers/internalversion/printers.go (``printPod``,
``printNode``, ``printNamespace``, ``printConfigMap``, ``printSecret``,
``printServiceAccount``, ``printEvent``, ``printPersistentVolumeClaim`` and
their column definitions in ``AddHandlers``), re-written for plain dicts.
"""
from __future__ import annotations

from collections.abc import Mapping

from k8snet.api.printers_base import (
    AGE,
    NAME,
    NAME_DOC,
    NONE,
    UNKNOWN,
    Column,
    Row,
    created,
    dig,
    dint,
    dlist,
    dmap,
    dstr,
    human_duration,
    name_of,
    parse_time,
    since,
    wide,
)

POD_COLUMNS = [
    NAME,
    Column("Ready", description="The aggregate readiness state of this pod for accepting "
           "traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column("Restarts", description="The number of times the containers in this pod have been "
           "restarted and when the last container in this pod has restarted."),
    AGE,
    wide("IP", "podIP: the IP address allocated to the pod (status.podIPs[0])."),
    wide("Node", "nodeName: the node the pod is scheduled onto."),
    wide("Nominated Node", "nominatedNodeName: the node preemption chose for the pod."),
    wide("Readiness Gates", "readinessGates: true conditions of the pod's readiness gates."),
]


def _restartable(container: Mapping | None) -> bool:
    """An init container with ``restartPolicy: Always`` (a sidecar)."""
    return dstr(container, "restartPolicy") == "Always"


def _finished(status: Mapping) -> float | None:
    return parse_time(dig(status, "lastState", "terminated", "finishedAt"))


def _latest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _condition_true(pod: Mapping, type_: str) -> bool:
    return any(dstr(c, "type") == type_ and dstr(c, "status") == "True"
               for c in dlist(pod, "status", "conditions"))


def _terminated_reason(term: Mapping, prefix: str = "") -> str:
    if dstr(term, "reason"):
        return prefix + dstr(term, "reason")
    if dint(term, "signal"):
        return f"{prefix}Signal:{dint(term, 'signal')}"
    return f"{prefix}ExitCode:{dint(term, 'exitCode')}"


def pod_status(pod: Mapping) -> tuple[int, int, str, int, float | None]:
    """(ready, total, STATUS, restarts, last restart time) as ``printPod``
    computes them.

    STATUS is the phase (``status.reason`` when set), overridden by the
    first init container that has not succeeded (``Init:1/2``,
    ``Init:CrashLoopBackOff``...), else by the containers' waiting or
    terminated reason (``ContainerCreating``, ``CrashLoopBackOff``, ``Error``,
    ``Completed``), and by ``Terminating`` once ``deletionTimestamp`` is set
    on a pod that has not finished."""
    spec, status = dmap(pod, "spec"), dmap(pod, "status")
    inits = {dstr(c, "name"): c for c in dlist(spec, "initContainers")}
    total = len(dlist(spec, "containers")) + sum(_restartable(c) for c in inits.values())
    phase = dstr(status, "phase") or "Pending"
    reason = dstr(status, "reason") or phase
    if any(dstr(c, "type") == "PodScheduled" and dstr(c, "reason") == "SchedulingGated"
           for c in dlist(status, "conditions")):
        reason = "SchedulingGated"
    ready = restarts = sidecar_restarts = 0
    last: float | None = None
    sidecar_last: float | None = None
    initializing = False
    for i, cs in enumerate(dlist(status, "initContainerStatuses")):
        restarts += dint(cs, "restartCount")
        last = _latest(last, _finished(cs))
        sidecar = _restartable(inits.get(dstr(cs, "name")))
        if sidecar:
            sidecar_restarts += dint(cs, "restartCount")
            sidecar_last = _latest(sidecar_last, _finished(cs))
        term, wait = dig(cs, "state", "terminated"), dig(cs, "state", "waiting")
        if isinstance(term, Mapping) and dint(term, "exitCode") == 0:
            continue
        if sidecar and dig(cs, "started") is True:
            ready += dig(cs, "ready") is True
            continue
        if isinstance(term, Mapping):
            reason = _terminated_reason(term, "Init:")
        elif dstr(wait, "reason") and dstr(wait, "reason") != "PodInitializing":
            reason = "Init:" + dstr(wait, "reason")
        else:
            reason = f"Init:{i}/{len(dlist(spec, 'initContainers'))}"
        initializing = True
        break
    if not initializing or _condition_true(pod, "Initialized"):
        restarts, last = sidecar_restarts, sidecar_last
        has_running = False
        for cs in reversed(dlist(status, "containerStatuses")):
            restarts += dint(cs, "restartCount")
            last = _latest(last, _finished(cs))
            term, wait = dig(cs, "state", "terminated"), dig(cs, "state", "waiting")
            if dstr(wait, "reason"):
                reason = dstr(wait, "reason")
            elif isinstance(term, Mapping):
                reason = _terminated_reason(term)
            elif dig(cs, "ready") is True and isinstance(dig(cs, "state", "running"), Mapping):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(pod, "Ready") else "NotReady"
    if dig(pod, "metadata", "deletionTimestamp"):
        if dstr(status, "reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return ready, total, reason, restarts, last


def pod_row(pod: Mapping, now: float) -> list:
    """NAME READY STATUS RESTARTS AGE | IP NODE NOMINATED-NODE READINESS-GATES:
    ``["web-1", "1/1", "CrashLoopBackOff", "3 (12s ago)", "5m", "10.244.1.5",
    "node1", "<none>", "<none>"]``."""
    ready, total, reason, restarts, last = pod_status(pod)
    restarts_cell = str(restarts)
    if restarts and last is not None:
        restarts_cell = f"{restarts} ({human_duration(now - last)} ago)"
    status = dmap(pod, "status")
    ips = dlist(status, "podIPs")
    pod_ip = (dstr(ips[0], "ip") if ips else "") or dstr(status, "podIP") or NONE
    gates = dlist(pod, "spec", "readinessGates")
    gates_cell = NONE
    if gates:
        conds = {dstr(c, "type"): dstr(c, "status") for c in dlist(status, "conditions")}
        true = sum(conds.get(dstr(g, "conditionType")) == "True" for g in gates)
        gates_cell = f"{true}/{len(gates)}"
    return [name_of(pod), f"{ready}/{total}", reason, restarts_cell, created(pod, now),
            pod_ip, dstr(pod, "spec", "nodeName") or NONE,
            dstr(status, "nominatedNodeName") or NONE, gates_cell]


NODE_COLUMNS = [
    NAME,
    Column("Status", description="The status of the node"),
    Column("Roles", description="The roles of the node"),
    AGE,
    Column("Version", description="kubeletVersion: the kubelet version reported by the node."),
    wide("Internal-IP", "addresses: the node's InternalIP address."),
    wide("External-IP", "addresses: the node's ExternalIP address."),
    wide("OS-Image", "osImage: the OS image reported by the node."),
    wide("Kernel-Version", "kernelVersion: the kernel version reported by the node."),
    wide("Container-Runtime", "containerRuntimeVersion: the runtime reported by the node."),
]
ROLE_PREFIX = "node-role.kubernetes.io/"


def node_roles(node: Mapping) -> str:
    """``node-role.kubernetes.io/<role>`` labels and ``kubernetes.io/role=<role>``,
    sorted and comma-joined; ``<none>``."""
    roles = set()
    for key, value in dmap(node, "metadata", "labels").items():
        if key.startswith(ROLE_PREFIX) and key[len(ROLE_PREFIX):]:
            roles.add(key[len(ROLE_PREFIX):])
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return ",".join(sorted(roles)) or NONE


def _node_address(node: Mapping, type_: str) -> str:
    for addr in dlist(node, "status", "addresses"):
        if dstr(addr, "type") == type_:
            return dstr(addr, "address")
    return NONE


def node_row(node: Mapping, now: float) -> list:
    """NAME STATUS ROLES AGE VERSION | INTERNAL-IP EXTERNAL-IP OS-IMAGE
    KERNEL-VERSION CONTAINER-RUNTIME.  STATUS is Ready, NotReady or Unknown
    (no Ready condition), plus ``,SchedulingDisabled`` when cordoned."""
    status = "Unknown"
    for cond in dlist(node, "status", "conditions"):
        if dstr(cond, "type") == "Ready":
            status = "Ready" if dstr(cond, "status") == "True" else "NotReady"
    if dig(node, "spec", "unschedulable") is True:
        status += ",SchedulingDisabled"
    info = dmap(node, "status", "nodeInfo")
    return [name_of(node), status, node_roles(node), created(node, now),
            dstr(info, "kubeletVersion"), _node_address(node, "InternalIP"),
            _node_address(node, "ExternalIP"), dstr(info, "osImage") or UNKNOWN,
            dstr(info, "kernelVersion") or UNKNOWN,
            dstr(info, "containerRuntimeVersion") or UNKNOWN]


NAMESPACE_COLUMNS = [NAME, Column("Status", description="The status of the namespace"), AGE]


def namespace_row(ns: Mapping, now: float) -> list:
    """NAME STATUS AGE: ``["default", "Active", "10d"]``."""
    return [name_of(ns), dstr(ns, "status", "phase") or "Active", created(ns, now)]


CONFIGMAP_COLUMNS = [NAME, Column("Data", description="Data contains the configuration data."),
                     AGE]


def configmap_row(cm: Mapping, now: float) -> list:
    """NAME DATA AGE; DATA counts ``data`` and ``binaryData`` keys."""
    return [name_of(cm), len(dmap(cm, "data")) + len(dmap(cm, "binaryData")),
            created(cm, now)]


SECRET_COLUMNS = [NAME, Column("Type", description="Used to facilitate programmatic handling "
                               "of secret data."),
                  Column("Data", description="Data contains the secret data."), AGE]


def secret_row(secret: Mapping, now: float) -> list:
    """NAME TYPE DATA AGE; DATA counts the keys of ``data`` (``stringData`` is
    merged into ``data`` on write by a real API server, so its keys count too)."""
    keys = set(dmap(secret, "data")) | set(dmap(secret, "stringData"))
    return [name_of(secret), dstr(secret, "type") or "Opaque", len(keys),
            created(secret, now)]


SERVICEACCOUNT_COLUMNS = [NAME, Column("Secrets", description="Secrets is a list of the "
                                       "secrets in the same namespace that pods running "
                                       "using this ServiceAccount are allowed to use."), AGE]


def serviceaccount_row(sa: Mapping, now: float) -> list:
    """NAME SECRETS AGE."""
    return [name_of(sa), len(dlist(sa, "secrets")), created(sa, now)]


EVENT_COLUMNS = [
    Column("Last Seen", description="The time at which the most recent occurrence of this "
           "event was recorded."),
    Column("Type", description="Type of this event (Normal, Warning)."),
    Column("Reason", description="A short, machine understandable string that gives the "
           "reason for the transition into the object's current status."),
    Column("Object", description="The object that this event is about."),
    wide("Subobject", "fieldPath: the part of the object the event is about."),
    wide("Source", "The component reporting this event."),
    Column("Message", description="A human-readable description of the status of this "
           "operation."),
    wide("First Seen", "The time at which the event was first recorded."),
    wide("Count", "The number of times this event has occurred."),
    Column("Name", "string", "name", NAME_DOC, 1),
]


def event_row(ev: Mapping, now: float) -> list:
    """LAST SEEN TYPE REASON OBJECT MESSAGE (wide: SUBOBJECT SOURCE between OBJECT
    and MESSAGE, FIRST SEEN COUNT NAME after it).  OBJECT is ``pod/web-1``; times
    fall back from lastTimestamp to firstTimestamp to eventTime; a series
    gives the last seen time and count."""
    first = since(dig(ev, "firstTimestamp"), now)
    if parse_time(dig(ev, "firstTimestamp")) is None:
        first = since(dig(ev, "eventTime"), now)
    last = since(dig(ev, "lastTimestamp"), now)
    if parse_time(dig(ev, "lastTimestamp")) is None:
        last = first
    count = dint(ev, "count")
    series = dig(ev, "series")
    if isinstance(series, Mapping):
        last = since(dig(series, "lastObservedTime"), now)
        count = dint(series, "count")
    elif count == 0:
        count = 1
    kind = dstr(ev, "involvedObject", "kind").lower()
    target = f"{kind}/{dstr(ev, 'involvedObject', 'name')}" \
        if dstr(ev, "involvedObject", "name") else kind
    component = dstr(ev, "source", "component") or dstr(ev, "reportingComponent")
    host = dstr(ev, "source", "host") or dstr(ev, "reportingInstance")
    source = f"{component}, {host}" if host else component
    return [last, dstr(ev, "type"), dstr(ev, "reason"), target,
            dstr(ev, "involvedObject", "fieldPath"), source, dstr(ev, "message").strip(),
            first, count, name_of(ev)]


PVC_COLUMNS = [
    NAME,
    Column("Status", description="phase represents the current phase of "
           "PersistentVolumeClaim."),
    Column("Volume", description="volumeName is the binding reference to the "
           "PersistentVolume backing this claim."),
    Column("Capacity", description="capacity represents the actual resources of the "
           "underlying volume."),
    Column("Access Modes", description="accessModes contains the actual access modes the "
           "volume backing the PVC has."),
    Column("StorageClass", description="StorageClass of the pvc"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
    AGE,
    wide("VolumeMode", "volumeMode defines what type of volume is required by the claim."),
]
_ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                 ("ReadWriteOncePod", "RWOP"))


def access_modes(modes: list) -> str:
    """``GetAccessModesAsString``: ``RWO,ROX,RWX,RWOP`` in that order, once each."""
    return ",".join(short for long, short in _ACCESS_MODES if long in modes)


def pvc_row(pvc: Mapping, now: float) -> list:
    """NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS
    AGE | VOLUMEMODE.  CAPACITY and ACCESS MODES stay empty until bound."""
    phase = dstr(pvc, "status", "phase") or "Pending"
    if dig(pvc, "metadata", "deletionTimestamp"):
        phase = "Terminating"
    volume = dstr(pvc, "spec", "volumeName")
    capacity = modes = ""
    if volume:
        modes = access_modes(dlist(pvc, "status", "accessModes"))
        capacity = str(dig(pvc, "status", "capacity", "storage") or "")
    klass = dstr(pvc, "metadata", "annotations", "volume.beta.kubernetes.io/storage-class") \
        or dstr(pvc, "spec", "storageClassName")
    return [name_of(pvc), phase, volume, capacity, modes, klass,
            dstr(pvc, "spec", "volumeAttributesClassName") or "<unset>", created(pvc, now),
            dstr(pvc, "spec", "volumeMode") or "<unset>"]


PRINTERS: dict[str, tuple[list[Column], Row]] = {
    "Pod": (POD_COLUMNS, pod_row),
    "Node": (NODE_COLUMNS, node_row),
    "Namespace": (NAMESPACE_COLUMNS, namespace_row),
    "ConfigMap": (CONFIGMAP_COLUMNS, configmap_row),
    "Secret": (SECRET_COLUMNS, secret_row),
    "ServiceAccount": (SERVICEACCOUNT_COLUMNS, serviceaccount_row),
    "Event": (EVENT_COLUMNS, event_row),
    "PersistentVolumeClaim": (PVC_COLUMNS, pvc_row),
}
