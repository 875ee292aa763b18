"""Test helpers for the control-plane controllers: a store with Nodes, a fake
clock, a tiny kubelet, and a loop that runs controllers until nothing is left
to do (checking invariants after every step)."""
from __future__ import annotations

from collections.abc import Callable

from k8snet.apiserver.store import Store, key_of, now_rfc3339

T0 = 1_800_000_000.0


class Clock:
    """A clock tests move by hand: ``clock.advance(5)``."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def node(name: str, labels: dict | None = None, ready: str = "True", pods: str = "110",
         unschedulable: bool = False, taints: list | None = None) -> dict:
    """A Node in the lab's shape."""
    index = int("".join(ch for ch in name if ch.isdigit()) or 0)
    obj = {"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "labels": {
               "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
               "kubernetes.io/arch": "amd64", **(labels or {})}},
           "spec": {"podCIDR": f"10.244.{index}.0/24"},
           "status": {"addresses": [{"type": "InternalIP", "address": f"172.18.0.{10 + index}"},
                                    {"type": "Hostname", "address": name}],
                      "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady"}],
                      "allocatable": {"pods": pods}, "capacity": {"pods": pods}}}
    if unschedulable:
        obj["spec"]["unschedulable"] = True
    if taints:
        obj["spec"]["taints"] = taints
    return obj


def cluster(nodes: int = 3, clock: Clock | None = None) -> Store:
    """A store with Namespace default and ``nodes`` Ready nodes node1..nodeN."""
    store = Store(clock=clock or Clock())
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    for i in range(1, nodes + 1):
        store.create(node(f"node{i}"))
    return store


def template(app: str, image: str = "nginx:1.25", **meta) -> dict:
    """A pod template labelled ``app``."""
    return {"metadata": {"labels": {"app": app}, **meta},
            "spec": {"containers": [{"name": app, "image": image}]}}


class Kubelet:
    """Every node's kubelet at once: bound pods start Running and (unless
    ``ready`` says no) Ready; terminating pods are removed."""

    def __init__(self, store: Store, ready: Callable[[dict], bool] = lambda pod: True) -> None:
        self.store = store
        self.ready = ready
        self.ips = 0

    def step(self, check: Callable[[], None] | None = None) -> int:
        changed = 0
        for pod in self.store.list("Pod"):
            if pod["metadata"].get("deletionTimestamp"):
                self.store.delete(*key_of(pod), grace_seconds=0)
            elif pod["spec"].get("nodeName") and self._wants_change(pod):
                self.store.mutate(*key_of(pod), self._run)
            else:
                continue
            changed += 1
            if check:
                check()
        return changed

    def _wants_change(self, pod: dict) -> bool:
        status = pod.get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in status.get("conditions") or [])
        return status.get("phase") != "Running" or ready != bool(self.ready(pod))

    def _run(self, pod: dict) -> None:
        now = now_rfc3339(self.store.clock())
        status = pod.setdefault("status", {})
        if status.get("phase") != "Running":
            self.ips += 1
            ip = f"10.244.0.{self.ips}"
            status.update(phase="Running", podIP=ip, podIPs=[{"ip": ip}], startTime=now,
                          hostIP="172.18.0.11")
        ready = "True" if self.ready(pod) else "False"
        conds = [c for c in status.get("conditions") or [] if c["type"] == "PodScheduled"]
        conds += [{"type": t, "status": s, "lastTransitionTime": now}
                  for t, s in (("Initialized", "True"), ("ContainersReady", ready),
                               ("Ready", ready))]
        status["conditions"] = conds


def converge(controllers: list, kubelet: Kubelet | None = None,
             check: Callable[[], None] | None = None, rounds: int = 300) -> None:
    """Run every controller (and the kubelet) until none has work left,
    calling ``check`` after each step."""
    for _ in range(rounds):
        busy = 0
        for controller in controllers:
            busy += controller.run_once()
            if check:
                check()
        if kubelet is not None:
            busy += kubelet.step(check)
        if not busy:
            return
    raise AssertionError("controllers did not settle")


def pods(store: Store, app: str | None = None, live: bool = True) -> list[dict]:
    """Pods (labelled ``app``), without terminating ones when ``live``."""
    return [p for p in store.list("Pod")
            if (app is None or p["metadata"].get("labels", {}).get("app") == app)
            and not (live and p["metadata"].get("deletionTimestamp"))]


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def events(store: Store, reason: str | None = None) -> list[str]:
    """Messages of the Events (with ``reason``), oldest first."""
    return [e["message"] for e in sorted(store.list("Event"),
                                         key=lambda e: int(e["metadata"]["resourceVersion"]))
            if reason is None or e["reason"] == reason]


def api_store(clock: Clock | None = None) -> Store:
    """A store with the API server's strategies (defaults, validation,
    allocation; service CIDR 10.96.0.0/12) and the ``default`` namespace."""
    from k8snet.apiserver.registry import strategies
    by_kind, default = strategies("10.96.0.0/12")
    store = Store(by_kind, default_strategy=default, **({"clock": clock} if clock else {}))
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    return store


def api_server():
    """An in-process API server over ``api_store()`` (stop it when done)."""
    from k8snet.apiserver.http import serve
    return serve(api_store())
