"""What the kubelet checks before it runs a pod, and whose pods it trusts.

``ports_taken``/``reject``: the kubelet's own admission of a pod bound to
its node directly, past the scheduler (lifecycle.PredicateAdmitHandler with
the NodePorts predicate): a pod whose host ports another pod on the node
holds is rejected, a Warning Event and ``status.phase`` Failed, and never
run.  ``trusted``: the lab's own system pods run without a sandbox.
Sources: pkg/kubelet/lifecycle/predicate.go, kubelet.go ``rejectPod``.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable

from k8snet.api.hostports import host_ports, ports_conflict
from k8snet.apiserver import events
from k8snet.apiserver.store import Store, key_of, now_rfc3339
from k8snet.errors import K8snetError

COMPONENT = "kubelet"


def ports_taken(store: Store, others: Iterable[tuple[str, str]], pod: dict) -> bool:
    """Whether a host port ``pod`` asks for is held by one of the pods
    ``others`` (namespace, name) running on the node."""
    wanted = host_ports(pod)
    if not wanted:
        return False
    used = [p for key in others for p in host_ports(store.find("Pod", *key) or {})]
    return ports_conflict(wanted, used)


def reject(store: Store, pod: dict, reason: str, why: str, node: str) -> None:
    """kubelet.rejectPod: the Event ``reason`` (``Predicate NodePorts failed:
    <why>``) and the pod Failed with ``Pod was rejected: <that>``."""
    message = f"Predicate {reason} failed: {why}"
    events.record(store, pod, events.WARNING, reason, message, COMPONENT, node)
    try:
        store.mutate("Pod", *key_of(pod)[1:], lambda o: o.__setitem__("status", {
            "phase": "Failed", "reason": reason, "message": f"Pod was rejected: {message}",
            "startTime": (o.get("status") or {}).get("startTime") or now_rfc3339()}))
    except K8snetError:
        pass                             # deleted meanwhile


def trusted(store: Store, pod: dict, owners: Collection[str]) -> bool:
    """A pod of the lab's own Deployments (owner chain Pod -> ReplicaSet ->
    Deployment, by server-assigned uid, which a manifest cannot forge):
    ``owners`` are those Deployments' uids."""
    ns = pod["metadata"].get("namespace", "")
    for ref in pod["metadata"].get("ownerReferences") or []:
        rs = store.find("ReplicaSet", ns, ref.get("name", "")) \
            if ref.get("kind") == "ReplicaSet" else None
        if rs and rs["metadata"].get("uid") == ref.get("uid") and any(
                o.get("uid") in owners for o in rs["metadata"].get("ownerReferences") or []):
            return True
    return False
