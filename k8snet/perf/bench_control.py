"""Control-plane benchmarks: the API store and the reconcile loop, in process.

No cluster, no root: each builds a fresh ``Store`` with the cluster's
admission (``apiserver.registry.strategies``) and measures

- **watch latency**: from a store write to the moment a running
  ``Controller``'s ``reconcile`` sees the written object, one write at a
  time (each waits for the last to be seen), and for a burst of writes to
  distinct objects (queueing included);
- **store list**: creating 10,000 ConfigMaps and 10,000 Pods (objects/s,
  admission included), then listing each kind (ms; the API server's budget
  for a list this size is the target);
- **EndpointSlice reconcile**: one Service selecting 1,000 ready pods: the
  first reconcile (writes its slices), one with nothing to change, one after
  a pod's readiness flipped, and with the controller's thread running, the
  time from that pod write until its slice shows it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from k8snet.apiserver.controller import Controller
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store, key_of
from k8snet.perf import stats

SERVICE_CIDR = "10.96.0.0/12"
NAMESPACE = "bench"
WATCH_WRITES, WATCH_WARMUP = 1000, 50
LIST_OBJECTS, LIST_RUNS = 10_000, 5
SLICE_PODS, SLICE_FLIPS = 1000, 20
SLICE_IDLE = 0.1
TARGET_LIST_MS = 50.0
SEEN_TIMEOUT = 5.0

Say = Callable[[str], None]


def new_store() -> Store:
    by_kind, default = strategies(SERVICE_CIDR)
    store = Store(by_kind, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    return store


def summary_ms(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50_ms": stats.percentile(ms, 50), "p95_ms": stats.percentile(ms, 95),
            "p99_ms": stats.percentile(ms, 99), "max_ms": max(ms) if ms else None}


def configmap(name: str, seq: int = 0) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NAMESPACE}, "data": {"seq": str(seq)}}


# --- watch latency ---------------------------------------------------------------------

class SeenController(Controller):
    """Stamps, per ConfigMap, the first time its reconcile sees each ``data.seq``."""

    name = "bench-watch"
    watches = ("ConfigMap",)

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.seen: dict[tuple[str, str], float] = {}
        self.changed = threading.Condition()

    def reconcile(self, key) -> None:
        now = time.perf_counter()
        _, ns, name = key
        obj = self.store.find("ConfigMap", ns, name)
        if obj is None:
            return None
        mark = (name, obj["data"]["seq"])
        with self.changed:
            if mark not in self.seen:
                self.seen[mark] = now
                self.changed.notify_all()
        return None

    def wait_seen(self, marks: list[tuple[str, str]], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        with self.changed:
            while not all(m in self.seen for m in marks):
                left = deadline - time.perf_counter()
                if left <= 0:
                    missing = sum(m not in self.seen for m in marks)
                    raise TimeoutError(f"reconcile never saw {missing} of {len(marks)} "
                                       f"writes within {timeout:g} s")
                self.changed.wait(left)


def watch_latency(writes: int = WATCH_WRITES, say: Say = print) -> dict:
    store = new_store()
    store.create(configmap("one"))
    ctl = SeenController(store).start()
    try:
        say(f"watch: {writes} writes one at a time, each seen by a running controller")
        sequential = []
        for i in range(1, writes + WATCH_WARMUP + 1):
            t0 = time.perf_counter()
            store.mutate("ConfigMap", NAMESPACE, "one",
                         lambda o, i=i: o["data"].__setitem__("seq", str(i)))
            ctl.wait_seen([("one", str(i))], SEEN_TIMEOUT)
            if i > WATCH_WARMUP:
                sequential.append(ctl.seen[("one", str(i))] - t0)
        say(f"watch: a burst of {writes} creates of distinct objects")
        written: dict[tuple[str, str], float] = {}
        t_burst = time.perf_counter()
        for i in range(writes):
            name = f"burst-{i:05d}"
            written[(name, "0")] = time.perf_counter()
            store.create(configmap(name))
        write_s = time.perf_counter() - t_burst
        ctl.wait_seen(list(written), SEEN_TIMEOUT * 10)
        burst = [ctl.seen[m] - t for m, t in written.items()]
        all_seen_s = max(ctl.seen[m] for m in written) - t_burst
    finally:
        ctl.stop()
    res = {"writes": writes, "sequential": summary_ms(sequential),
           "burst": {**summary_ms(burst), "write_s": write_s, "all_seen_s": all_seen_s,
                     "reconciles": ctl.reconciles}}
    s, b = res["sequential"], res["burst"]
    say(f"  -> one at a time: p50 {s['p50_ms']:.3f} ms, p95 {s['p95_ms']:.3f} ms; burst: "
        f"p50 {b['p50_ms']:.1f} ms, p95 {b['p95_ms']:.1f} ms, all seen {all_seen_s:.2f} s")
    return res


# --- list ------------------------------------------------------------------------------

def pod(name: str, i: int, node: str = "node1", labels: dict | None = None,
        ready: bool = True) -> dict:
    """A bound pod with a Running, Ready status (as its kubelet would have written)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE,
                         "labels": labels or {"app": "list"}},
            "spec": {"nodeName": node,
                     "containers": [{"name": "web", "image": "x",
                                     "ports": [{"containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": f"10.244.{i // 250}.{2 + i % 250}",
                       "podIPs": [{"ip": f"10.244.{i // 250}.{2 + i % 250}"}],
                       "conditions": [{"type": "Ready", "status": "True" if ready
                                       else "False"}]}}


def _create_and_list(store: Store, kind: str, make: Callable[[int], dict],
                     count: int) -> dict:
    t0 = time.perf_counter()
    for i in range(count):
        store.create(make(i))
    create_s = time.perf_counter() - t0
    runs, ns_runs = [], []
    for _ in range(LIST_RUNS):
        t0 = time.perf_counter()
        listed = store.list(kind)
        runs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.list(kind, NAMESPACE)
        ns_runs.append(time.perf_counter() - t0)
    if len(listed) != count:
        raise RuntimeError(f"listed {len(listed)} {kind}s, created {count}")
    return {"count": count, "create_s": create_s, "create_per_s": count / create_s,
            "list_ms": stats.percentile([r * 1000 for r in runs], 50),
            "list_max_ms": max(runs) * 1000,
            "list_namespace_ms": stats.percentile([r * 1000 for r in ns_runs], 50)}


def store_list(count: int = LIST_OBJECTS, say: Say = print) -> dict:
    res: dict = {"objects": count}
    for kind, make in (("ConfigMap", lambda i: configmap(f"cm-{i:05d}", i)),
                       ("Pod", lambda i: pod(f"pod-{i:05d}", i))):
        say(f"store: create {count} {kind}s, then list them ({LIST_RUNS} times)")
        r = _create_and_list(new_store(), kind, make, count)
        res[kind] = r
        say(f"  -> {r['create_per_s']:.0f} creates/s; list {r['list_ms']:.1f} ms "
            f"(max {r['list_max_ms']:.1f}), in its namespace {r['list_namespace_ms']:.1f} ms")
    worst = max(res[k]["list_ms"] for k in ("ConfigMap", "Pod"))
    res["targets"] = {"list": {"target_ms": TARGET_LIST_MS, "value_ms": worst,
                               "status": "met" if worst <= TARGET_LIST_MS else "not met"}}
    return res


# --- EndpointSlice controller ----------------------------------------------------------

def _ready_in(slice_: dict, pod_name: str) -> bool | None:
    for ep in slice_.get("endpoints") or []:
        if (ep.get("targetRef") or {}).get("name") == pod_name:
            return (ep.get("conditions") or {}).get("ready")
    return None


def _until_slice_shows(store: Store, watch, name: str, ready: bool, t0: float) -> float:
    """Seconds from ``t0`` until a slice event shows pod ``name`` as ``ready``."""
    while True:
        left = t0 + SEEN_TIMEOUT - time.perf_counter()
        event = watch.get(timeout=max(0.0, left))
        if event is None:
            raise TimeoutError(f"slice of {name} not updated in {SEEN_TIMEOUT:g} s")
        if _ready_in(event.object, name) is ready:
            return time.perf_counter() - t0


def _flip(store: Store, name: str) -> bool:
    """Flip the pod's Ready condition; its new value."""
    obj = store.get("Pod", NAMESPACE, name)
    now = obj["status"]["conditions"][0]["status"] != "True"

    def change(o: dict) -> None:
        o["status"]["conditions"][0]["status"] = "True" if now else "False"
    store.mutate("Pod", NAMESPACE, name, change)
    return now


def endpointslices(pods: int = SLICE_PODS, say: Say = print) -> dict:
    from k8snet.control.endpointslice import EndpointSliceController

    store = new_store()
    for n in ("node1", "node2", "node3"):
        store.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}})
    svc = store.create({"apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": "big", "namespace": NAMESPACE},
                        "spec": {"selector": {"app": "big"},
                                 "ports": [{"port": 80, "targetPort": 8080}]}})
    for i in range(pods):
        store.create(pod(f"big-{i:04d}", i, f"node{1 + i % 3}", {"app": "big"}))
    key = key_of(svc)[1:]
    ctl = EndpointSliceController(store)
    say(f"endpointslices: one Service, {pods} ready pods")
    t0 = time.perf_counter()
    ctl.reconcile(key)
    first_s = time.perf_counter() - t0
    slices = store.list("EndpointSlice", NAMESPACE)
    listed = sum(len(s.get("endpoints") or []) for s in slices)
    if listed != pods:
        raise RuntimeError(f"{listed} endpoints in the slices, {pods} pods")
    noop, one = [], []
    for i in range(SLICE_FLIPS // 4):
        t0 = time.perf_counter()
        ctl.reconcile(key)
        noop.append(time.perf_counter() - t0)
        _flip(store, f"big-{i * 7:04d}")
        t0 = time.perf_counter()
        ctl.reconcile(key)
        one.append(time.perf_counter() - t0)
    ctl.start()
    watch = store.watch(["EndpointSlice"])
    e2e = []
    try:
        for i in range(SLICE_FLIPS):
            name = f"big-{(i * 37) % pods:04d}"
            time.sleep(SLICE_IDLE)       # the controller idle (its own write's echo done)
            t0 = time.perf_counter()
            e2e.append(_until_slice_shows(store, watch, name, _flip(store, name), t0))
    finally:
        watch.stop()
        ctl.stop()
    res = {"pods": pods, "slices": len(slices), "first_reconcile_ms": first_s * 1000,
           "noop_reconcile_ms": stats.percentile([v * 1000 for v in noop], 50),
           "one_pod_changed_reconcile_ms": stats.percentile([v * 1000 for v in one], 50),
           "pod_write_to_slice": summary_ms(e2e)}
    say(f"  -> first reconcile {res['first_reconcile_ms']:.0f} ms ({len(slices)} slices); "
        f"nothing changed {res['noop_reconcile_ms']:.0f} ms; one pod changed "
        f"{res['one_pod_changed_reconcile_ms']:.0f} ms; pod write to slice p50 "
        f"{res['pod_write_to_slice']['p50_ms']:.0f} ms")
    return res
