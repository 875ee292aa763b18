"""``kubectl get`` columns of the workload kinds: Deployment, ReplicaSet,
StatefulSet, DaemonSet, ControllerRevision.

Each ``*_row(obj, now)`` returns every cell of the kind's columns, wide ones
included (the API server always renders wide).  ``spec.replicas`` missing
counts as 1, the API server's default.

Source: kubernetes pkg/printers/internalversion/printers.go
(``printDeployment``, ``printReplicaSet``, ``printStatefulSet``,
``printDaemonSet``, ``printControllerRevision``), re-written for plain dicts.
"""
from __future__ import annotations

from collections.abc import Mapping

from k8snet.api.printers_base import (
    AGE,
    CONTAINERS_DOC,
    IMAGES_DOC,
    NAME,
    NONE,
    Column,
    Row,
    container_cells,
    created,
    dig,
    dint,
    dlist,
    dmap,
    dstr,
    format_label_selector,
    format_labels,
    name_of,
    selector_string,
    template_containers,
    wide,
)

SELECTOR_DOC = ("Label selector for pods. Existing ReplicaSets whose pods are selected by "
                "this will be the ones affected by this deployment.")


def _replicas(obj: Mapping) -> int:
    return dint(obj, "spec", "replicas", default=1)


DEPLOYMENT_COLUMNS = [
    NAME,
    Column("Ready", description="Number of the pod with ready state"),
    Column("Up-to-date", description="Total number of non-terminated pods targeted by this "
           "deployment that have the desired template spec."),
    Column("Available", description="Total number of available pods (ready for at least "
           "minReadySeconds) targeted by this deployment."),
    AGE,
    wide("Containers", CONTAINERS_DOC),
    wide("Images", IMAGES_DOC),
    wide("Selector", SELECTOR_DOC),
]


def deployment_row(dep: Mapping, now: float) -> list:
    """NAME READY UP-TO-DATE AVAILABLE AGE | CONTAINERS IMAGES SELECTOR:
    ``["web", "2/3", 3, 2, "5m", "web", "nginx:1.27", "app=web"]``.  The
    selector is printed without ``<none>`` (as upstream), ``<invalid>`` if bad."""
    try:
        selector = selector_string(dig(dep, "spec", "selector"))
    except ValueError:
        selector = "<invalid>"
    names, images = container_cells(template_containers(dep))
    status = dmap(dep, "status")
    return [name_of(dep), f"{dint(status, 'readyReplicas')}/{_replicas(dep)}",
            dint(status, "updatedReplicas"), dint(status, "availableReplicas"),
            created(dep, now), names, images, selector]


REPLICASET_COLUMNS = [
    NAME,
    Column("Desired", "integer", description="Replicas is the number of desired replicas."),
    Column("Current", "integer", description="Replicas is the most recently observed number "
           "of replicas."),
    Column("Ready", "integer", description="The number of ready replicas for this replica "
           "set."),
    AGE,
    wide("Containers", CONTAINERS_DOC),
    wide("Images", IMAGES_DOC),
    wide("Selector", "Selector is a label query over pods that should match the replica "
         "count."),
]


def replicaset_row(rs: Mapping, now: float) -> list:
    """NAME DESIRED CURRENT READY AGE | CONTAINERS IMAGES SELECTOR."""
    names, images = container_cells(template_containers(rs))
    return [name_of(rs), _replicas(rs), dint(rs, "status", "replicas"),
            dint(rs, "status", "readyReplicas"), created(rs, now), names, images,
            format_label_selector(dig(rs, "spec", "selector"))]


STATEFULSET_COLUMNS = [
    NAME,
    Column("Ready", description="Number of the pod with ready state"),
    AGE,
    wide("Containers", CONTAINERS_DOC),
    wide("Images", IMAGES_DOC),
]


def statefulset_row(sts: Mapping, now: float) -> list:
    """NAME READY AGE | CONTAINERS IMAGES: ``["db", "1/3", "2m", "db", "redis:7"]``."""
    names, images = container_cells(template_containers(sts))
    return [name_of(sts), f"{dint(sts, 'status', 'readyReplicas')}/{_replicas(sts)}",
            created(sts, now), names, images]


DAEMONSET_COLUMNS = [
    NAME,
    Column("Desired", "integer", description="The total number of nodes that should be "
           "running the daemon pod."),
    Column("Current", "integer", description="The number of nodes that are running at least "
           "1 daemon pod and are supposed to run the daemon pod."),
    Column("Ready", "integer", description="The number of nodes that should be running the "
           "daemon pod and have one or more of the daemon pod running and ready."),
    Column("Up-to-date", "integer", description="The total number of nodes that are running "
           "updated daemon pod"),
    Column("Available", "integer", description="The number of nodes that should be running "
           "the daemon pod and have one or more of the daemon pod running and available."),
    Column("Node Selector", description="NodeSelector is a selector which must be true for "
           "the pod to fit on a node."),
    AGE,
    wide("Containers", CONTAINERS_DOC),
    wide("Images", IMAGES_DOC),
    wide("Selector", "A label query over pods that are managed by the daemon set."),
]


def daemonset_row(ds: Mapping, now: float) -> list:
    """NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE |
    CONTAINERS IMAGES SELECTOR, counts from ``status``."""
    status = dmap(ds, "status")
    names, images = container_cells(template_containers(ds))
    return [name_of(ds), dint(status, "desiredNumberScheduled"),
            dint(status, "currentNumberScheduled"), dint(status, "numberReady"),
            dint(status, "updatedNumberScheduled"), dint(status, "numberAvailable"),
            format_labels(dmap(ds, "spec", "template", "spec", "nodeSelector")),
            created(ds, now), names, images,
            format_label_selector(dig(ds, "spec", "selector"))]


CONTROLLERREVISION_COLUMNS = [
    NAME,
    Column("Controller", description="Controller of the object"),
    Column("Revision", description="Revision indicates the revision of the state represented "
           "by Data."),
    AGE,
]


def controllerrevision_row(cr: Mapping, now: float) -> list:
    """NAME CONTROLLER REVISION AGE: ``["web-7c9d", "statefulset.apps/web", 1, "4m"]``."""
    controller = NONE
    for ref in dlist(cr, "metadata", "ownerReferences"):
        if dig(ref, "controller") is True:
            group = dstr(ref, "apiVersion").rpartition("/")[0]
            kind = dstr(ref, "kind") + (f".{group}" if group else "")
            controller = f"{kind.lower()}/{dstr(ref, 'name')}" if kind else dstr(ref, "name")
            break
    return [name_of(cr), controller, dint(cr, "revision"), created(cr, now)]


PRINTERS: dict[str, tuple[list[Column], Row]] = {
    "Deployment": (DEPLOYMENT_COLUMNS, deployment_row),
    "ReplicaSet": (REPLICASET_COLUMNS, replicaset_row),
    "StatefulSet": (STATEFULSET_COLUMNS, statefulset_row),
    "DaemonSet": (DAEMONSET_COLUMNS, daemonset_row),
    "ControllerRevision": (CONTROLLERREVISION_COLUMNS, controllerrevision_row),
}
