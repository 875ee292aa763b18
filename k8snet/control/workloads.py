"""Workload controllers: Deployments, ReplicaSets, DaemonSets, StatefulSets.

Each keeps its pods at the declared count, as the controller manager does,
but synchronously: ``scale`` and ``rollout restart`` return when the change
is done.  A rollout surges one new pod, waits until it is ready *and* in the
endpoints, then retires one old pod (out of the endpoints first, then a
short grace period, then stopped), so a service never loses capacity and
never sends a request to a pod that is not serving.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from k8snet.api.model import Node
from k8snet.errors import K8snetError
from k8snet.load.manifests import ALPHANUMS, RESOURCES, PodInstance, Workload, expand

GRACE = 0.5          # seconds between leaving the endpoints and being stopped
READY_TIMEOUT = 60.0  # progressDeadline for one new pod


@dataclass
class WorkloadState:
    workload: Workload
    created: float
    counter: int = 0          # seeds generated names; bumped at every expansion
    restarts: int = 0

    @property
    def owner(self) -> str:
        return f"{self.workload.kind}/{self.workload.name}"


def kind_of(word: str) -> str:
    """kubectl's resource names and short names to a kind."""
    table = {"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
             "replicaset": "ReplicaSet", "replicasets": "ReplicaSet", "rs": "ReplicaSet",
             "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
             "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet"}
    base = word.split(".")[0].lower()
    if base not in table:
        raise K8snetError(f'the server doesn\'t have a resource type "{word}"')
    return table[base]


def ref(kind: str, name: str, sep: str = "/") -> str:
    """``deployment.apps/web`` (or ``deployment.apps "web"`` with sep=" "):
    how kubectl names an object in its output."""
    group = RESOURCES[kind].partition(".")[2]
    singular = f"{kind.lower()}.{group}" if group else kind.lower()
    return f"{singular}/{name}" if sep == "/" else f'{singular} "{name}"'


def restarted_hash(template_hash: str, restarts: int) -> str:
    """A new pod-template-hash, as the restartedAt annotation would give."""
    digest = hashlib.sha256(f"{template_hash}:{restarts}".encode()).digest()
    return "".join(ALPHANUMS[b % len(ALPHANUMS)] for b in digest[:10])


class WorkloadManager:
    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.states: dict[str, WorkloadState] = {}

    # --- lookups --------------------------------------------------------------

    @staticmethod
    def key(kind: str, namespace: str, name: str) -> str:
        return f"{kind}/{namespace}/{name}"

    def find(self, kind: str, name: str, namespace: str = "default") -> WorkloadState:
        state = self.states.get(self.key(kind, namespace, name))
        if state is None:
            raise K8snetError(f'{RESOURCES[kind]} "{name}" not found')
        return state

    def pods_of(self, state: WorkloadState) -> list:
        """The workload's pods, oldest first."""
        ns = state.workload.namespace
        return sorted((s for s in list(self.cluster.pods.values())
                       if s.owner == state.owner and s.pod.namespace == ns),
                      key=lambda s: (s.created, s.pod.name))

    def taken_names(self, namespace: str) -> set[str]:
        return {s.pod.name for s in self.cluster.pods.values() if s.pod.namespace == namespace}

    def instances(self, state: WorkloadState, count: int, taken: set[str],
                  nodes: list[Node] | None = None) -> list[PodInstance]:
        """``count`` new pods for ``state`` (DaemonSet: one per node of ``nodes``)."""
        workload = state.workload
        if workload.kind == "StatefulSet":
            have = {s.pod.name for s in self.pods_of(state)}
            wanted = expand(replace(workload, replicas=len(have) + count))
            return [inst for inst in wanted if inst.name not in have]
        state.counter += 1
        return expand(replace(workload, replicas=count), taken,
                      nodes=nodes if nodes is not None else [], counter=state.counter)

    # --- creating and retiring pods -----------------------------------------

    def start_pods(self, state: WorkloadState, instances: list[PodInstance]) -> list[str]:
        cluster = self.cluster
        with cluster.lock:
            placements = cluster.plan_pods(tuple(inst.pod for inst in instances))
            keys = []
            for inst, (pod, node) in zip(instances, placements, strict=True):
                cluster._add_pod(pod, node, inst.readiness, owner=state.owner)
                keys.append(pod.key)
            cluster.services.sync()
        return keys

    def retire(self, statuses: list) -> None:
        """Out of the endpoints first, then stopped after the grace period."""
        if not statuses:
            return
        cluster = self.cluster
        with cluster.lock:
            for status in statuses:
                status.terminating = True
            cluster.services.sync()
        time.sleep(GRACE)
        for status in statuses:
            if status.pod.key in cluster.pods:
                cluster.delete_pod(status.pod.key, sync=False)
        cluster.services.sync()

    def wait_ready(self, keys: list[str], what: str, timeout: float = READY_TIMEOUT) -> None:
        waiting = self.cluster.wait_ready(keys, timeout)
        if waiting:
            raise K8snetError(f"{what}: pods not ready after {timeout:g}s: "
                              f"{', '.join(k.split('/')[1] for k in waiting)}")

    # --- controller operations ------------------------------------------------

    def create(self, workload: Workload) -> WorkloadState:
        """Record a workload whose first pods (expanded with counter 1) the
        caller planned and places."""
        state = WorkloadState(workload, time.time(), counter=1)
        self.states[self.key(workload.kind, workload.namespace, workload.name)] = state
        return state

    def scale(self, kind: str, name: str, replicas: int, namespace: str = "default",
              out: Callable[[str], None] = print) -> str:
        if replicas < 0:
            raise K8snetError(f"--replicas: Invalid value: {replicas}: must be greater than "
                              "or equal to 0")
        state = self.find(kind, name, namespace)
        if kind == "DaemonSet":
            raise K8snetError(f'daemonsets.apps "{name}" cannot be scaled: a DaemonSet runs '
                              "one pod per matching node")
        state.workload = replace(state.workload, replicas=replicas)
        self.reconcile(state)
        return f"{ref(kind, name)} scaled"

    def reconcile(self, state: WorkloadState) -> list[str]:
        """Bring the pod count to ``replicas``: new pods, or the newest retired
        (StatefulSets: the highest ordinals first)."""
        pods = self.pods_of(state)
        target = state.workload.replicas
        if len(pods) < target:
            taken = self.taken_names(state.workload.namespace)
            keys = self.start_pods(state, self.instances(state, target - len(pods), taken))
            self.wait_ready(keys, f"{ref(state.workload.kind, state.workload.name)}")
            return keys
        if len(pods) > target:
            if state.workload.kind == "StatefulSet":
                pods.sort(key=lambda s: int(s.pod.name.rsplit("-", 1)[1]))
            self.retire(pods[target:])
        return []

    def rollout_restart(self, kind: str, name: str, namespace: str = "default",
                        out: Callable[[str], None] = print) -> str:
        state = self.find(kind, name, namespace)
        state.restarts += 1
        workload = state.workload
        if kind == "Deployment":
            state.workload = replace(workload, template_hash=restarted_hash(
                workload.template_hash, state.restarts))
        self.roll(state, out)
        return f"{ref(kind, name)} restarted"

    def roll(self, state: WorkloadState, out: Callable[[str], None] = print) -> None:
        """Replace every pod with one from the current template, one at a time."""
        workload = state.workload
        old = self.pods_of(state)
        what = f'{workload.kind.lower()} "{workload.name}"'
        if workload.kind in ("StatefulSet", "DaemonSet"):
            # Stable names (or one pod per node): replace in place, highest first.
            for status in reversed(old):
                node = self.cluster.nodes[status.node]
                self.retire([status])
                if workload.kind == "StatefulSet":
                    inst = next(i for i in expand(workload) if i.name == status.pod.name)
                else:
                    inst = self.instances(state, 1, self.taken_names(workload.namespace),
                                          nodes=[node])[0]
                keys = self.start_pods(state, [inst])
                self.wait_ready(keys, what)
                out(f"Waiting for {what} rollout to finish: pod {inst.name} ready")
            return
        target = workload.replicas
        made = 0
        while made < target or old:
            if made < target:
                taken = self.taken_names(workload.namespace)
                keys = self.start_pods(state, self.instances(state, 1, taken))
                self.wait_ready(keys, what)
                made += 1
                out(f"Waiting for {what} rollout to finish: {made} of {target} updated "
                    "replicas are available...")
            if old:
                self.retire([old.pop(0)])
        out(f"{what} successfully rolled out")

    def delete(self, kind: str, name: str, namespace: str = "default") -> str:
        state = self.find(kind, name, namespace)
        del self.states[self.key(kind, namespace, name)]
        self.retire(self.pods_of(state))
        return f'{ref(kind, name, " ")} deleted'

    def node_added(self, node: Node) -> None:
        """A DaemonSet gets a pod on every new node that matches it."""
        for state in list(self.states.values()):
            if state.workload.kind != "DaemonSet":
                continue
            taken = self.taken_names(state.workload.namespace)
            instances = self.instances(state, 0, taken, nodes=[node])
            if instances:
                self.start_pods(state, instances)
