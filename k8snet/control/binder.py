"""The scheduler: bind every pending pod to a node, or say why none fits.

A pod is pending when ``spec.nodeName`` is empty, it is not terminating,
and its ``spec.schedulerName`` is ``default-scheduler`` (or absent).  Each
node goes through the scheduler's filter plugins in their order, and the first
that fails names the node's reason (pkg/scheduler/framework/plugins):

- NodeUnschedulable: ``spec.unschedulable`` (unless the pod tolerates
  ``node.kubernetes.io/unschedulable``) -> ``node(s) were unschedulable``;
- TaintToleration: ``spec.taints`` with effect NoSchedule/NoExecute, plus the
  taint the node lifecycle controller puts on a node whose Ready condition is
  not "True" (``node.kubernetes.io/not-ready``, or ``unreachable`` for
  "Unknown") -> ``node(s) had untolerated taint {node.kubernetes.io/not-ready: }``;
- NodeAffinity: ``spec.nodeSelector`` and ``requiredDuringScheduling...``
  terms (matchExpressions on labels: In, NotIn, Exists, DoesNotExist, Gt, Lt;
  matchFields on ``metadata.name``) -> ``node(s) didn't match Pod's node
  affinity/selector``;
- NodePorts: the pod's host ports (``hostPort`` of its containers; a
  hostNetwork pod's container ports are its host ports) must be free on the
  node: no other pod there has the same protocol and port on the same or a
  wildcard host IP -> ``node(s) didn't have free ports for the requested pod
  ports``;
- NodeResourcesFit, pods only: non-terminating pods on the node must stay
  below ``status.allocatable.pods`` -> ``Too many pods``.

Of the nodes that pass, the one with fewest pods wins (ties: by name); the
binder writes ``spec.nodeName`` and the PodScheduled "True" condition (as
the API server's binding does) and a ``Scheduled`` Event.  When none passes:
PodScheduled "False", reason Unschedulable, the message of the scheduler's
FitError (``0/3 nodes are available: 1 node(s) had untolerated taint
{node.kubernetes.io/not-ready: }, 2 node(s) didn't match Pod's node
affinity/selector.``; reasons counted and sorted as text, as
pkg/scheduler/framework/types.go FitError.Error does) and one Warning Event
FailedScheduling per new message.  Pending pods are tried again when a Node
changes, when a pod goes away, and every ``RETRY_SECONDS``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable

from k8snet.api.hostports import ERR_REASON as MSG_PORTS
from k8snet.api.hostports import HostPort, host_ports, ports_conflict
from k8snet.api.selectors import matches_map
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.events import NORMAL, WARNING, record
from k8snet.apiserver.store import Event, Store, key_of, now_rfc3339
from k8snet.control import names
from k8snet.errors import NotFound

SCHEDULER = "default-scheduler"
RETRY_SECONDS = 5.0
DEFAULT_MAX_PODS = 110                       # the kubelet's default maxPods
EVERY_PENDING_POD = ("*",)                   # the key that re-queues every pending pod
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MSG_UNSCHEDULABLE = "node(s) were unschedulable"
MSG_TAINT = "node(s) had untolerated taint {{{key}: {value}}}"
MSG_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
MSG_TOO_MANY_PODS = "Too many pods"
MSG_NO_NODES = "no nodes available to schedule pods"


# --- node predicates (pure) ------------------------------------------------------

def node_taints(node: dict) -> list[dict]:
    """``spec.taints`` plus the NoSchedule taint a Ready condition other than
    "True" implies (TaintNodesByCondition), unless the node already has it."""
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    ready = next((c for c in (node.get("status") or {}).get("conditions") or []
                  if isinstance(c, dict) and c.get("type") == "Ready"), None)
    status = (ready or {}).get("status")
    if status != "True":
        key = UNREACHABLE if status == "Unknown" else NOT_READY
        if not any(t.get("key") == key for t in taints):
            taints.append({"key": key, "effect": "NoSchedule"})
    return taints


def tolerates(toleration: dict, taint: dict) -> bool:
    """v1 Toleration.ToleratesTaint: effect, key and Equal/Exists value."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    operator = toleration.get("operator") or "Equal"
    if not toleration.get("key"):
        return operator == "Exists"
    if toleration.get("key") != taint.get("key"):
        return False
    return operator == "Exists" or (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(tolerations: list, taints: list[dict],
                      effects: tuple[str, ...] = ("NoSchedule", "NoExecute")) -> dict | None:
    """The first taint with one of ``effects`` that no toleration tolerates."""
    good = [t for t in tolerations or [] if isinstance(t, dict)]
    for taint in taints:
        if taint.get("effect") in effects and not any(tolerates(t, taint) for t in good):
            return taint
    return None


def requirement_matches(req: dict, values: dict) -> bool:
    """One NodeSelectorRequirement against ``values`` (labels or fields)."""
    key, op = req.get("key"), req.get("operator")
    wanted = [str(v) for v in req.get("values") or []]
    present = key in values
    if op == "In":
        return present and values[key] in wanted
    if op == "NotIn":
        return not present or values[key] not in wanted
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            have, limit = int(values[key]), int(wanted[0])
        except (TypeError, ValueError):
            return False
        return have > limit if op == "Gt" else have < limit
    return False


def term_matches(term: dict, node: dict) -> bool:
    """A NodeSelectorTerm: all its requirements hold; an empty term matches nothing."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = names.labels_of(node)
    field_values = {"metadata.name": (node.get("metadata") or {}).get("name", "")}
    return all(isinstance(r, dict) and requirement_matches(r, labels) for r in exprs) and \
        all(isinstance(r, dict) and requirement_matches(r, field_values) for r in fields)


def matches_node(pod_spec: dict, node: dict) -> bool:
    """``nodeSelector`` and required node affinity (any term) both hold."""
    selector = pod_spec.get("nodeSelector") or {}
    if selector and not matches_map(selector, names.labels_of(node)):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not isinstance(required, dict):
        return True
    terms = [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, dict)]
    return any(term_matches(t, node) for t in terms)


def max_pods(node: dict) -> int:
    """``status.allocatable.pods`` (else capacity, else the kubelet default)."""
    status = node.get("status") or {}
    for field in ("allocatable", "capacity"):
        value = (status.get(field) or {}).get("pods")
        if value is not None:
            return names.as_int(value, DEFAULT_MAX_PODS)
    return DEFAULT_MAX_PODS


def why_not(pod: dict, node: dict, pods_on_node: int,
            used_ports: Iterable[HostPort] = ()) -> str | None:
    """The first filter that rejects ``node`` for ``pod`` (its reason), or None;
    ``used_ports`` are the host ports the node's pods hold."""
    spec = pod.get("spec") or {}
    tolerations = spec.get("tolerations") or []
    if (node.get("spec") or {}).get("unschedulable") and untolerated_taint(
            tolerations, [{"key": UNSCHEDULABLE, "effect": "NoSchedule"}]):
        return MSG_UNSCHEDULABLE
    taint = untolerated_taint(tolerations, node_taints(node))
    if taint is not None:
        return MSG_TAINT.format(key=taint.get("key", ""), value=taint.get("value", "") or "")
    if not matches_node(spec, node):
        return MSG_AFFINITY
    wanted = host_ports(pod)
    if wanted and ports_conflict(wanted, used_ports):
        return MSG_PORTS
    if pods_on_node + 1 > max_pods(node):
        return MSG_TOO_MANY_PODS
    return None


def fit_error(total_nodes: int, reasons: Iterable[str]) -> str:
    """FitError.Error: ``0/N nodes are available: <count> <reason>, ....``"""
    if total_nodes == 0:
        return MSG_NO_NODES
    counted = sorted(f"{n} {reason}" for reason, n in Counter(reasons).items())
    return f"0/{total_nodes} nodes are available: {', '.join(counted)}."


def is_pending(pod: dict) -> bool:
    """Unbound, not terminating, and for this scheduler."""
    spec = pod.get("spec")
    if not isinstance(spec, dict) or spec.get("nodeName") or names.is_terminating(pod) \
            or not names.conforms(pod, names.POD_SHAPE):
        return False
    return (spec.get("schedulerName") or SCHEDULER) == SCHEDULER


# --- the controller -----------------------------------------------------------------

class Binder(Controller):
    """``Binder(store)``: watches Pods and Nodes; a key is a pod's
    ``("Pod", namespace, name)`` or ``EVERY_PENDING_POD``."""

    name = SCHEDULER
    watches = ("Pod", "Node")

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        # Pods per node, kept from the watch (and from each bind, before its
        # event arrives: the scheduler cache's "assumed" pods), so a bind
        # costs the same with 10 or 10,000 pods.
        self._node_of: dict[Hashable, str] = {}
        self.load: Counter[str] = Counter()
        self._ports: dict[Hashable, set[HostPort]] = {}     # bound pods' host ports

    def _place(self, key: Hashable, node_name: str | None,
               ports: set[HostPort] | None = None) -> None:
        old = self._node_of.pop(key, None)
        self._ports.pop(key, None)
        if old is not None:
            self.load[old] -= 1
        if node_name:
            self._node_of[key] = node_name
            self.load[node_name] += 1
            if ports:
                self._ports[key] = ports

    def _note(self, pod: dict, gone: bool = False) -> None:
        """Count ``pod`` (and its host ports) on its node unless it is gone
        or terminating."""
        node = None if gone or names.is_terminating(pod) \
            else names.as_dict(pod.get("spec")).get("nodeName")
        self._place(key_of(pod), node if isinstance(node, str) else None, host_ports(pod))

    def used_ports(self, node_name: str) -> list[HostPort]:
        """The host ports the pods bound to ``node_name`` hold."""
        return [p for key, ports in self._ports.items()
                if self._node_of.get(key) == node_name for p in ports]

    def initial_keys(self) -> Iterable[Hashable]:
        self._node_of.clear()
        self._ports.clear()
        self.load.clear()
        for pod in self.store.list("Pod"):
            self._note(pod)
        return [EVERY_PENDING_POD]

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """A pending pod itself; a Node change or a pod that leaves (room
        freed): every pending pod."""
        obj = event.object
        if event.kind == "Node":
            return [EVERY_PENDING_POD]
        self._note(obj, gone=event.type == "DELETED")
        if event.type != "DELETED" and is_pending(obj):
            return [key_of(obj)]
        if event.type == "DELETED" or names.is_terminating(obj):
            return [EVERY_PENDING_POD]
        return []

    def reconcile(self, key: Hashable) -> float | None:
        if key == EVERY_PENDING_POD:
            for pod in self.store.list("Pod", where=is_pending):
                self.enqueue(key_of(pod))
            return None
        _, ns, name = key  # type: ignore[misc]
        pod = self.store.find("Pod", ns, name)
        if pod is None or not is_pending(pod):
            return None
        nodes = self.store.list("Node", where=lambda n: names.conforms(n, names.NODE_SHAPE))
        load = self.load
        reasons, fits = [], []
        for node in nodes:
            node_name = (node.get("metadata") or {}).get("name", "")
            reason = why_not(pod, node, load[node_name], self.used_ports(node_name))
            if reason is None:
                fits.append((load[node_name], node_name))
            else:
                reasons.append(reason)
        if fits:
            self.bind(pod, min(fits)[1])
            return None
        self.unschedulable(pod, fit_error(len(nodes), reasons))
        return RETRY_SECONDS

    def bind(self, pod: dict, node_name: str) -> None:
        """Write ``spec.nodeName`` and PodScheduled "True"; record ``Scheduled``."""
        stamp = now_rfc3339(self.store.clock())

        def change(o: dict) -> None:
            if (o.get("spec") or {}).get("nodeName"):
                return
            o["spec"]["nodeName"] = node_name
            _set_scheduled(o, {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                               "lastTransitionTime": stamp})
        try:
            bound = self.store.mutate(*key_of(pod), change)
        except NotFound:
            return
        self._note(bound)
        if bound["spec"].get("nodeName") == node_name:
            meta = pod["metadata"]
            record(self.store, bound, NORMAL, "Scheduled",
                   f"Successfully assigned {meta.get('namespace')}/{meta.get('name')} "
                   f"to {node_name}", SCHEDULER)

    def unschedulable(self, pod: dict, message: str) -> None:
        """PodScheduled "False" Unschedulable with ``message``; one Warning
        FailedScheduling Event each time the message changes."""
        current = next((c for c in (pod.get("status") or {}).get("conditions") or []
                        if isinstance(c, dict) and c.get("type") == "PodScheduled"), {})
        if current.get("status") == "False" and current.get("message") == message:
            return
        stamp = current.get("lastTransitionTime") if current.get("status") == "False" \
            else now_rfc3339(self.store.clock())
        try:
            updated = self.store.mutate(*key_of(pod), lambda o: _set_scheduled(o, {
                "type": "PodScheduled", "status": "False", "lastProbeTime": None,
                "lastTransitionTime": stamp, "reason": "Unschedulable", "message": message}))
        except NotFound:
            return
        record(self.store, updated, WARNING, "FailedScheduling", message, SCHEDULER)


def _set_scheduled(pod: dict, condition: dict) -> None:
    status = pod.setdefault("status", {})
    conds = [c for c in status.get("conditions") or []
             if isinstance(c, dict) and c.get("type") != "PodScheduled"]
    status["conditions"] = [condition, *conds]
