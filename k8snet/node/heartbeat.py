"""The kubelet's heartbeats: its node's Lease and Ready condition.

A kubelet tells the control plane it is alive in two ways
(https://kubernetes.io/docs/concepts/architecture/nodes/#node-heartbeats,
KEP-589 "Efficient node heartbeats"):

- it renews the Lease ``kube-node-lease/<node>`` (coordination.k8s.io/v1)
  every ``RENEW_INTERVAL`` seconds (a quarter of ``leaseDurationSeconds``, as
  the kubelet's ``renewIntervalFraction``; 10 s of 40 s upstream, 1 s of 4 s in
  the lab);
- it posts the Node's ``Ready`` condition when it changes (``KubeletReady``,
  with a ``NodeReady`` Event, when it was anything else).  Upstream it posts
  an unchanged status again every ``nodeStatusReportFrequency`` (5 min); the
  lab does not, so an idle cluster writes nothing but Leases.  Without a
  Lease (its namespace not made yet) the Node status is the heartbeat: its
  ``lastHeartbeatTime`` at every beat, as before node leases.

Both go through the API server, so a kubelet cut off from it posts nothing:
``reachable()`` says whether the node can reach the API server (in the lab:
whether any of its links to the fabric is up).  The node lifecycle controller
(k8snet/control/nodelifecycle.py) notices the silence.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable

from k8snet.apiserver import events
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import Store, now_rfc3339
from k8snet.errors import K8snetError

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 4       # the lease's spec.leaseDurationSeconds (40 upstream)
RENEW_INTERVAL = 1.0             # seconds between renewals: 0.25 x the duration, as the kubelet
COMPONENT = "kubelet"
READY_REASON = "KubeletReady"
READY_MESSAGE = "kubelet is posting ready status"


def micro_time(t: float) -> str:
    """A metav1.MicroTime: ``2026-11-29T12:00:00.123456Z`` (Lease renewTime)."""
    whole = int(t)
    return now_rfc3339(whole)[:-1] + f".{int((t - whole) * 1e6):06d}Z"


def ready_condition(now: str) -> dict:
    """The Ready condition a healthy kubelet posts, both times ``now`` (RFC 3339)."""
    return {"type": "Ready", "status": "True", "reason": READY_REASON,
            "message": READY_MESSAGE, "lastHeartbeatTime": now, "lastTransitionTime": now}


def lease_object(node: dict, renew: str) -> dict:
    """The node's Lease, held by the node, owned by its Node (so it goes with it)."""
    name = node["metadata"]["name"]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NAMESPACE,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                              "uid": node["metadata"].get("uid", "")}]},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                     "renewTime": renew}}


def posted_status(conditions: list, now: str, beat: bool) -> tuple[list, bool] | None:
    """The conditions to post (and whether Ready turned True), or None when
    the stored ones need no update: Ready already "True" and no ``beat``
    asked for (a new lastHeartbeatTime)."""
    ready = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"),
                 None)
    if ready is not None and ready.get("status") == "True":
        if not beat:
            return None
        fresh = dict(ready, lastHeartbeatTime=now)
        return [fresh if c is ready else c for c in conditions], False
    others = [c for c in conditions if c is not ready]
    return [*others, ready_condition(now)], True


class NodeHeartbeat(Controller):
    """``NodeHeartbeat(store, node_name, reachable)``: one loop that renews the
    node's Lease and posts its Ready condition while ``reachable()`` is True,
    and posts nothing while it is False."""

    watches: tuple[str, ...] = ()

    def __init__(self, store: Store, node: str, reachable: Callable[[], bool],
                 clock: Callable[[], float] = time.time) -> None:
        self.name = f"heartbeat-{node}"
        super().__init__(store)
        self.node = node
        self.reachable = reachable
        self.clock = clock

    def initial_keys(self) -> Iterable[Hashable]:
        return [self.node]

    def reconcile(self, key: Hashable) -> float | None:
        """Renew the Lease, then post the Ready condition if it is not "True";
        again after RENEW_INTERVAL seconds."""
        node = self.store.find("Node", "", self.node)
        if node is None or not self.reachable():
            return RENEW_INTERVAL
        now = self.clock()
        leased = self._renew_lease(node, micro_time(now))
        self._post_status(now_rfc3339(now), beat=not leased)
        return RENEW_INTERVAL

    def _post_status(self, now: str, beat: bool) -> None:
        turned: list[bool] = []

        def change(obj: dict) -> None:
            status = obj.setdefault("status", {})
            posted = posted_status(list(status.get("conditions") or []), now, beat)
            if posted is not None:
                status["conditions"], ready_now = posted
                turned.append(ready_now)

        node = self.store.mutate("Node", "", self.node, change)
        if turned and turned[0]:
            events.record(self.store, node, events.NORMAL, "NodeReady",
                          f"Node {self.node} status is now: NodeReady", COMPONENT, self.node)

    def _renew_lease(self, node: dict, renew: str) -> bool:
        """Renew (or create) the Lease; False when it cannot be stored yet."""
        try:
            if self.store.find("Lease", LEASE_NAMESPACE, self.node) is None:
                self.store.create(lease_object(node, renew))
            else:
                self.store.mutate("Lease", LEASE_NAMESPACE, self.node,
                                  lambda o: o.setdefault("spec", {}).update(
                                      renewTime=renew, holderIdentity=self.node))
        except K8snetError:
            return False
        return True
