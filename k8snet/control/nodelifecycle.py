"""The node lifecycle controller: kubelets' heartbeats in, Node health out.

Modelled on kube-controller-manager's node lifecycle controller
(pkg/controller/nodelifecycle/node_lifecycle_controller.go;
https://kubernetes.io/docs/concepts/architecture/nodes/#node-controller):

- Each kubelet renews its Lease ``kube-node-lease/<node>`` and posts its
  Ready condition (k8snet/node/heartbeat.py).  The controller notes, on its
  own clock, when it last saw either change (the "probe timestamp": no two
  clocks are compared).
- When nothing changed for longer than the node monitor grace period
  (``--node-monitor-grace-period``: 40 s upstream, ``DEFAULT_GRACE`` here, set
  with ``K8SNET_NODE_MONITOR_GRACE_PERIOD`` or ``grace=``), every condition of
  the Node becomes ``Unknown``, reason ``NodeStatusUnknown``, message
  "Kubelet stopped posting node status." (lastHeartbeatTime kept), with a
  Normal Event ``NodeNotReady``: ``kubectl get nodes`` shows NotReady.
- A Node whose Ready condition is ``Unknown`` carries the taints
  ``node.kubernetes.io/unreachable`` NoSchedule and NoExecute (``not-ready``
  for ``False``), removed once it is ``True`` again (TaintNodesByCondition,
  taint-based evictions).
- While the Node's Ready condition is not ``True`` (``Unknown`` or
  ``False``) every pod bound to it gets its Ready condition ``False``
  (MarkPodsNotReady in pkg/controller/util/node/controller_utils.go, called
  from monitorNodeHealth and processPod): only the status changes, with a new
  lastTransitionTime; reason and message stay as they were (upstream sets
  none), and each pod changed gets a Warning Event ``NodeNotReady`` "Node is
  not ready".  The EndpointSlice controller, which reads the pod's Ready
  condition, takes them out of the ready endpoints and Service traffic goes
  to the other nodes.  ``containerStatuses`` are the kubelet's and stay, so
  ``kubectl get pods`` still shows ``1/1 Running`` (printPod counts ready
  running containers), as upstream.  When the node is back its kubelet posts
  Ready ``True`` and, seeing the stored pod status differ from its own, the
  pods' real status again.  Pods are looked at on every pass
  (``MONITOR_PERIOD``), which stands in for upstream's pod informer.

Not modelled, being out of lab scale: evicting the pods once the NoExecute
taint outlives their ``tolerationSeconds`` (300 s by default, added by the
DefaultTolerationSeconds admission plugin); pods stay, not ready, until the
node returns.  Nor zone disruption and its eviction rate limits.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from k8snet.apiserver import events
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import Event, Store, now_rfc3339
from k8snet.errors import K8snetError

COMPONENT = "node-controller"
LEASE_NAMESPACE = "kube-node-lease"
DEFAULT_GRACE = 4.0             # seconds (--node-monitor-grace-period, 40 s upstream)
GRACE_ENV = "K8SNET_NODE_MONITOR_GRACE_PERIOD"
MONITOR_PERIOD = 0.5            # seconds between health checks (--node-monitor-period, 5 s)
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
NEVER_REASON = "NodeStatusNeverUpdated"
NEVER_MESSAGE = "Kubelet never posted node status."
POD_EVENT_REASON = "NodeNotReady"       # MarkPodsNotReady's Warning Event on each pod
POD_EVENT_MESSAGE = "Node is not ready"


def grace_period(text: str | None) -> float:
    """Seconds from ``4``, ``4s`` or ``2.5``; ``DEFAULT_GRACE`` for None or "".
    Raises K8snetError naming the setting for anything else."""
    if text is None or not text.strip():
        return DEFAULT_GRACE
    value = text.strip().removesuffix("s")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0.5 <= seconds <= 600:
        raise K8snetError(f"{GRACE_ENV}: invalid value '{text}': want seconds from 0.5 "
                          "to 600 (e.g. 4 or 4s)")
    return seconds


def ready_of(node: dict) -> dict | None:
    """The Node's Ready condition, or None."""
    for cond in (node.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond
    return None


def unknown_conditions(conditions: list, now: str) -> list:
    """Every condition ``Unknown`` (NodeStatusUnknown), lastTransitionTime
    ``now`` where it changed, lastHeartbeatTime kept; a Ready condition the
    kubelet never posted is added as NodeStatusNeverUpdated."""
    out = []
    for cond in conditions:
        if isinstance(cond, dict) and cond.get("status") != "Unknown":
            cond = dict(cond, status="Unknown", reason=UNKNOWN_REASON,
                        message=UNKNOWN_MESSAGE, lastTransitionTime=now)
        out.append(cond)
    if not any(isinstance(c, dict) and c.get("type") == "Ready" for c in out):
        out.append({"type": "Ready", "status": "Unknown", "reason": NEVER_REASON,
                    "message": NEVER_MESSAGE, "lastTransitionTime": now})
    return out


def wanted_taints(taints: list, ready_status: str | None, now: str) -> list:
    """``taints`` with the controller's own taints as the Ready status wants
    them: unreachable (Unknown) or not-ready (False), NoSchedule and NoExecute
    (the NoExecute one stamped ``timeAdded``); none when "True".  Other taints
    and ones already right are kept as they are; no Ready status: unchanged."""
    if ready_status not in ("True", "False", "Unknown"):
        return list(taints)
    key = {"Unknown": UNREACHABLE, "False": NOT_READY}.get(ready_status)
    ours = (UNREACHABLE, NOT_READY)
    out = [t for t in taints if not (isinstance(t, dict) and t.get("key") in ours
                                     and t.get("key") != key)]
    for effect in ("NoSchedule", "NoExecute") if key else ():
        if not any(isinstance(t, dict) and t.get("key") == key and t.get("effect") == effect
                   for t in out):
            out.append({"key": key, "effect": effect,
                        **({"timeAdded": now} if effect == "NoExecute" else {})})
    return out


@dataclass
class Health:
    """What the controller last saw of a node and when (its own clock)."""

    seen: tuple
    probe: float


class NodeLifecycleController(Controller):
    """``NodeLifecycleController(store, grace=None)``: watches Nodes and
    Leases; a key is a node's name; every node is looked at again every
    ``MONITOR_PERIOD`` seconds.  ``grace`` None reads ``GRACE_ENV``."""

    name = "node-lifecycle"
    watches = ("Node", "Lease")
    resync_seconds = MONITOR_PERIOD

    def __init__(self, store: Store, grace: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(store)
        self.grace = grace if grace is not None else grace_period(os.environ.get(GRACE_ENV))
        self.clock = clock
        self.health: dict[str, Health] = {}

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        meta = event.object.get("metadata") or {}
        if event.kind == "Node" or meta.get("namespace") == LEASE_NAMESPACE:
            yield meta.get("name", "")

    def initial_keys(self) -> Iterable[Hashable]:
        return [n["metadata"]["name"] for n in self.store.list("Node")]

    def _seen(self, node: dict) -> tuple:
        lease = self.store.find("Lease", LEASE_NAMESPACE, node["metadata"]["name"])
        ready = ready_of(node) or {}
        return (((lease or {}).get("spec") or {}).get("renewTime"),
                ready.get("status"), ready.get("lastHeartbeatTime"))

    def reconcile(self, key: Hashable) -> float | None:
        name = str(key)
        node = self.store.find("Node", "", name)
        if node is None:
            self.health.pop(name, None)
            return None
        now = self.clock()
        seen = self._seen(node)
        health = self.health.get(name)
        if health is None or health.seen != seen:
            health = self.health[name] = Health(seen, now)
        silent = now - health.probe > self.grace
        stamp = now_rfc3339(self.store.clock())
        if silent and (ready_of(node) or {}).get("status") != "Unknown":
            node = self._mark_unknown(name, stamp)
            health.seen = self._seen(node)           # our own write is no heartbeat
        self._sync_taints(node, stamp)
        if (ready_of(node) or {}).get("status") in ("False", "Unknown"):
            self._mark_pods_not_ready(name, stamp)
        return None

    def _mark_unknown(self, name: str, stamp: str) -> dict:
        node = self.store.mutate("Node", "", name, lambda o: o.setdefault("status", {}).update(
            conditions=unknown_conditions(list((o.get("status") or {}).get("conditions")
                                               or []), stamp)))
        self.log.info("node %s: no heartbeat for %gs: Ready Unknown", name, self.grace)
        events.record(self.store, node, events.NORMAL, "NodeNotReady",
                      f"Node {name} status is now: NodeNotReady", COMPONENT)
        return node

    def _sync_taints(self, node: dict, stamp: str) -> None:
        have = list((node.get("spec") or {}).get("taints") or [])
        want = wanted_taints(have, (ready_of(node) or {}).get("status"), stamp)
        if want == have:
            return

        def change(obj: dict) -> None:
            spec = obj.setdefault("spec", {})
            if want:
                spec["taints"] = want
            else:
                spec.pop("taints", None)
        self.store.mutate("Node", "", node["metadata"]["name"], change)

    def _mark_pods_not_ready(self, name: str, stamp: str) -> None:
        """MarkPodsNotReady (pkg/controller/util/node/controller_utils.go): the
        Ready condition of every pod bound to node ``name`` to "False", one
        write and one Warning Event per pod that changes; pods already "False"
        or with no Ready condition are left alone, so passes repeat freely."""
        for pod in self.store.list("Pod", where=lambda p: pod_to_mark(p, name)):
            meta = pod["metadata"]
            changed: list[bool] = []
            try:
                stored = self.store.mutate(
                    "Pod", meta["namespace"], meta["name"],
                    lambda o, out=changed: out.append(mark_not_ready(o, stamp)))
            except K8snetError:
                continue                              # deleted meanwhile
            if any(changed):
                events.record(self.store, stored, events.WARNING, POD_EVENT_REASON,
                              POD_EVENT_MESSAGE, COMPONENT)


def pod_to_mark(pod: dict, node: str) -> bool:
    """``pod`` is bound to ``node`` and has a Ready condition not "False"."""
    conds = (pod.get("status") or {}).get("conditions") or []
    return (pod.get("spec") or {}).get("nodeName") == node and any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") != "False"
        for c in conds)


def mark_not_ready(pod: dict, stamp: str) -> bool:
    """Set ``pod``'s Ready condition "False" in place, lastTransitionTime
    ``stamp``, reason and message kept (utilpod.UpdatePodCondition); True if
    it changed."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            if cond.get("status") == "False":
                return False
            cond.update(status="False", lastTransitionTime=stamp)
            return True
    return False
