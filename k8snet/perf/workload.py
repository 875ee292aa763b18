"""Workloads as API objects, and waiting for the state a measurement needs.

The harness drives the cluster as a user does: objects go into the store
(``store.create`` or ``apply``), the binder, controllers and kubelets do the
rest.  Then it waits, bounded, for what it is about to rely on: pods Running
with an IP and Ready, each Service listing them as ready endpoints, and the
node agents (kproxy, the fabric) past that point.  A wait that runs out says
what it still waited for.

``PodClock`` times pods from the store's watch (when each was added, bound,
Running); ``SetupTimer`` times each pod's set-up inside its kubelet (the
sandbox: IP, CNI, resolver files; then the first start of each container),
the same span the earlier per-pod figure measured.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from k8snet.api.convert import endpoint_rows, slices_of
from k8snet.api.selectors import matches, matches_map
from k8snet.apiserver.store import MODIFIED, Store, key_of
from k8snet.load.documents import Document

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47"
IDLE = ("sleep", "infinity")
POLL = 0.02


# --- objects -------------------------------------------------------------------------

def pod(name: str, node: str = "", labels: dict | None = None,
        containers: Iterable[tuple[str, tuple[str, ...]]] = (("app", IDLE),),
        namespace: str = "default") -> dict:
    """A v1 Pod; ``node`` pins it (``spec.nodeName``), "" leaves it to the binder.
    A container with no command runs the built-in server (agnhost netexec)."""
    spec_containers = []
    for cname, command in containers:
        c = {"name": cname, "image": "busybox" if command else AGNHOST}
        if command:
            c["command"] = list(command)
        spec_containers.append(c)
    spec: dict = {"containers": spec_containers}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": dict(labels or {"app": name})},
            "spec": spec}


def create_all(store: Store, objects: Iterable[dict]) -> None:
    for obj in objects:
        store.create(obj)


# --- pod state -----------------------------------------------------------------------

def status(obj: dict) -> dict:
    return obj.get("status") or {}


def is_running(obj: dict) -> bool:
    """Running with an IP, not terminating."""
    return status(obj).get("phase") == "Running" and bool(status(obj).get("podIP")) \
        and not obj["metadata"].get("deletionTimestamp")


def is_ready(obj: dict) -> bool:
    return is_running(obj) and any(c.get("type") == "Ready" and c.get("status") == "True"
                                   for c in status(obj).get("conditions") or [])


def pod_node(obj: dict) -> str:
    return (obj.get("spec") or {}).get("nodeName", "")


def wait_for(pending: Callable[[], list[str]], timeout: float, what: str) -> float:
    """Poll ``pending`` (what is still awaited) until it is empty; the seconds
    it took.  ``TimeoutError`` naming the first few still awaited otherwise."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while True:
        left = pending()
        if not left:
            return time.perf_counter() - t0
        if time.perf_counter() > deadline:
            more = f" (+{len(left) - 5} more)" if len(left) > 5 else ""
            raise TimeoutError(f"{what}: not done after {timeout:g} s; still waiting for "
                               + ", ".join(left[:5]) + more)
        time.sleep(POLL)


def not_ready(store: Store, keys: Iterable[tuple[str, str]],
              check: Callable[[dict], bool] = is_ready) -> list[str]:
    """``ns/name`` of the pods among ``keys`` that do not pass ``check`` yet."""
    out = []
    for ns, name in keys:
        obj = store.find("Pod", ns, name)
        if obj is None or not check(obj):
            phase = status(obj).get("phase", "Pending") if obj else "absent"
            out.append(f"{ns}/{name} ({phase})")
    return out


# --- Services and their endpoints --------------------------------------------------

def expected_endpoints(docs: list[Document]) -> dict[tuple[str, str], int]:
    """Pods each selector Service of ``docs`` should end up with: the replicas
    of the workloads and the bare Pods of ``docs`` whose labels it selects."""
    def ns_of(obj: dict) -> str:
        return (obj.get("metadata") or {}).get("namespace") or "default"

    makers = []      # (namespace, pod labels, count)
    for d in docs:
        spec = d.obj.get("spec") or {}
        if d.kind == "Pod":
            makers.append((ns_of(d.obj), (d.obj.get("metadata") or {}).get("labels") or {}, 1))
        elif d.kind in ("Deployment", "ReplicaSet", "StatefulSet"):
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            makers.append((ns_of(d.obj), labels, int(spec.get("replicas", 1))))
    out = {}
    for d in docs:
        selector = (d.obj.get("spec") or {}).get("selector")
        if d.kind != "Service" or not selector:
            continue
        ns = ns_of(d.obj)
        out[(ns, d.name)] = sum(n for mns, labels, n in makers
                                if mns == ns and matches_map(selector, labels))
    return out


def endpoint_gaps(store: Store, want: dict[tuple[str, str], int]) -> list[str]:
    """Services of ``want`` whose every port does not list all their selected,
    non-terminating pods (at least the count wanted) as ready endpoints."""
    slices = store.list("EndpointSlice")
    out = []
    for (ns, name), count in want.items():
        svc = store.find("Service", ns, name)
        if svc is None:
            out.append(f"service {ns}/{name} (absent)")
            continue
        selector = (svc.get("spec") or {}).get("selector") or {}
        selected = {p["metadata"]["name"] for p in store.list("Pod", ns)
                    if not p["metadata"].get("deletionTimestamp")
                    and matches_map(selector, p["metadata"].get("labels") or {})}
        mine = slices_of(svc, slices)
        for port in (svc.get("spec") or {}).get("ports") or []:
            ready = {r["pod"] for r in endpoint_rows(port, mine)
                     if r["ready"] and not r["terminating"]}
            if len(selected) < count or not selected <= ready:
                out.append(f"service {ns}/{name} port {port.get('name') or port.get('port')}"
                           f" ({len(ready & selected)}/{max(count, len(selected))} ready)")
                break
    return out


def lb_ip(svc: dict) -> str:
    ingress = (status(svc).get("loadBalancer") or {}).get("ingress") or []
    return next((i.get("ip") for i in ingress if i.get("ip")), "")


def selected_pods(store: Store, namespace: str, selector: dict) -> list[dict]:
    """Pods of ``namespace`` matching a ``matchLabels``/``matchExpressions`` selector."""
    return store.list("Pod", namespace,
                      where=lambda p: matches(selector, p["metadata"].get("labels") or {}))


# --- node agents past a point --------------------------------------------------------

class Synced:
    """The store resourceVersion each agent's last successful reconcile read.

    ``wait(timeout)``: every agent is asked to reconcile again and waited for
    until it has read the store as it is now, so kproxy's rules and the fabric's
    routes include everything stored so far.
    """

    def __init__(self, store: Store, agents: Iterable) -> None:
        self.store = store
        self.agents = list(agents)
        self.read: dict[int, int] = {}
        self.lock = threading.Lock()
        for agent in self.agents:
            self._wrap(agent)

    def _wrap(self, agent) -> None:
        reconcile = agent.reconcile

        def tracked(key):
            rv = self.store.rv
            after = reconcile(key)
            with self.lock:
                self.read[id(agent)] = max(rv, self.read.get(id(agent), 0))
            return after

        agent.reconcile = tracked

    def wait(self, timeout: float = 30.0) -> float:
        target = self.store.rv
        for agent in self.agents:
            for key in agent.initial_keys():
                agent.enqueue(key)

        def behind() -> list[str]:
            with self.lock:
                return [a.name for a in self.agents if self.read.get(id(a), -1) < target]

        return wait_for(behind, timeout, "node agents syncing")


# --- timing pods -----------------------------------------------------------------------

class PodClock:
    """Watches Pods from now on; per pod, when it was added, bound and Running
    (``time.perf_counter()`` as each event is taken off the watch)."""

    def __init__(self, store: Store, wanted: Callable[[dict], bool] = lambda _: True) -> None:
        self.store = store
        self.wanted = wanted
        self.added: dict[tuple[str, str], float] = {}
        self.bound: dict[tuple[str, str], float] = {}
        self.running: dict[tuple[str, str], float] = {}
        self.gone: dict[tuple[str, str], float] = {}
        self.watch = store.watch(["Pod"])

    def pump(self, timeout: float = 0.0) -> None:
        event = self.watch.get(timeout=timeout)
        while event is not None:
            now = time.perf_counter()
            obj = event.object
            if self.wanted(obj):
                key = key_of(obj)[1:]
                self.added.setdefault(key, now)
                if pod_node(obj):
                    self.bound.setdefault(key, now)
                if event.type == MODIFIED and is_running(obj):
                    self.running.setdefault(key, now)
                if event.type == "DELETED":
                    self.gone.setdefault(key, now)
            event = self.watch.get(timeout=0)

    def wait(self, keys: set[tuple[str, str]], table: str, timeout: float, what: str) -> float:
        """Pump events until every key of ``keys`` is in ``table`` (running, gone)."""
        seen = getattr(self, table)
        t0 = time.perf_counter()
        while not keys <= seen.keys():
            if time.perf_counter() - t0 > timeout:
                left = sorted(f"{ns}/{n}" for ns, n in keys - seen.keys())
                more = f" (+{len(left) - 5} more)" if len(left) > 5 else ""
                raise TimeoutError(f"{what}: not done after {timeout:g} s; still waiting "
                                   "for " + ", ".join(left[:5]) + more)
            self.pump(timeout=0.05)
        return max(seen[k] for k in keys) if keys else t0

    def stop(self) -> None:
        self.watch.stop()


class SetupTimer:
    """Milliseconds each pod's set-up took inside its kubelet: the sandbox
    (IP, CNI ADD, resolver files) plus the first start of each container."""

    def __init__(self, kubelets: Iterable) -> None:
        self.ms: dict[tuple[str, str], float] = {}
        self.sandbox_ms: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        for kubelet in kubelets:
            self._wrap(kubelet)

    def _add(self, key: tuple[str, str], seconds: float, sandbox: bool = False) -> None:
        with self.lock:
            self.ms[key] = self.ms.get(key, 0.0) + seconds * 1000
            if sandbox:
                self.sandbox_ms[key] = seconds * 1000

    def _wrap(self, kubelet) -> None:
        sandbox = getattr(kubelet, "_sandbox", None)
        start = getattr(kubelet, "_start", None)
        if sandbox is None or start is None:
            raise RuntimeError("this kubelet has no _sandbox/_start step to time")

        def timed_sandbox(key, obj):
            t0 = time.perf_counter()
            rt = sandbox(key, obj)
            self._add(tuple(key), time.perf_counter() - t0, sandbox=True)
            return rt

        def timed_start(obj, rt, c):
            first = c.proc is None
            t0 = time.perf_counter()
            try:
                return start(obj, rt, c)
            finally:
                if first:
                    self._add(key_of(obj)[1:], time.perf_counter() - t0)

        kubelet._sandbox = timed_sandbox
        kubelet._start = timed_start
