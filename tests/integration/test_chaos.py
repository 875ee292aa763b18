"""Chaos under continuous traffic (issue 13): the lab heals itself.

Two loops run for the whole module: ``client`` curls ``http://web/hostname``
(cluster DNS, then the ClusterIP through kproxy, OpenFlow between nodes), and
ext curls the ingress LoadBalancer with ``Host: a.example`` (nginx, the
LoadBalancer path).  Each line is stamped, so every outage is measured.

One fault at a time, then several together: the OpenFlow controller killed,
the cluster DNS container killed, the ingress nginx master killed, a web
container killed, kproxy's table flushed in the client's node.  For each:
the component comes back (supervisor, kubelet, kproxy's canary), traffic is
back within 2 s of that recovery, and afterwards every object of the cluster
is still there.  The figures go to results/chaos.json (and the closing note).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import is_ready, settle, wait_for

from k8snet import naming
from k8snet.cluster.faults import controller_running

ROOT = Path(__file__).resolve().parents[2]
BACK_WITHIN = 2.0           # seconds from a component's recovery to traffic answering
# A killed nginx master takes its workers with it (the container ends with its
# first process), so the pod is restarted and goes NotReady -> Ready: its
# EndpointSlice and kproxy follow before the ingress answers again.
BACK_WITHIN_RESTARTED_POD = 5.0
RECOVER_WITHIN = 30.0


class StampedLoop:
    """``curl`` again and again in a namespace; (time, ok) per request."""

    def __init__(self, netns: str, curl_args: str, expect: str) -> None:
        script = (f"while true; do r=$(curl -s --max-time 1 {curl_args}); "
                  "echo \"$(date +%s.%N) $r\"; sleep 0.05; done")
        self.proc = subprocess.Popen(["ip", "netns", "exec", netns, "timeout", "600",
                                      "sh", "-c", script], stdout=subprocess.PIPE, text=True)
        self.expect = expect
        self.samples: list[tuple[float, bool]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            stamp, _, body = line.strip().partition(" ")
            try:
                when = float(stamp)
            except ValueError:
                continue    # more lines of one body (nginx's 502 page): counted once, failed
            self.samples.append((when, body.startswith(self.expect)))

    def ok_after(self, t: float) -> float | None:
        """Time of the first success after ``t``."""
        return next((s for s, ok in list(self.samples) if s >= t and ok), None)

    def longest_gap(self, start: float, end: float) -> float:
        """Longest time without a success between ``start`` and ``end``."""
        oks = [s for s, ok in list(self.samples) if ok and start <= s <= end]
        edges = [start, *oks, end]
        return max(b - a for a, b in zip(edges, edges[1:], strict=False))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _pod(cluster, namespace: str, label: tuple[str, str]) -> dict:
    key, value = label
    return next(p for p in cluster.store.list("Pod", namespace)
                if (p["metadata"].get("labels") or {}).get(key) == value
                and not p["metadata"].get("deletionTimestamp"))


def _kill_container(cluster, pod: dict) -> tuple[str, int]:
    """SIGKILL the pod's first container; returns (uid, its restartCount before)."""
    rt = cluster.pods.runtime(pod)
    container = next(iter(rt.containers.values()))
    before = container.restart_count
    os.kill(container.proc.proc.pid, signal.SIGKILL)
    return pod["metadata"]["uid"], before


def _restarted(cluster, pod: dict, before: int):
    def done():
        now = cluster.store.find("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
        if not now or not is_ready(now):
            return False
        counts = [c.get("restartCount", 0) for c in now["status"].get("containerStatuses", [])]
        return max(counts, default=0) > before
    return done


def _nginx_master(cluster) -> int:
    pod = _pod(cluster, "ingress-nginx", ("app.kubernetes.io/name", "ingress-nginx"))
    runner = next(iter(cluster.pods.runtime(pod).containers.values())).proc.proc.pid
    out = subprocess.run(["pgrep", "-P", str(runner), "-x", "nginx"], capture_output=True,
                         text=True).stdout.split()
    if not out:                          # sandboxed: nginx is a grandchild
        kids = subprocess.run(["pgrep", "-P", str(runner)], capture_output=True,
                              text=True).stdout.split()
        out = [p for k in kids for p in subprocess.run(
            ["pgrep", "-P", k, "-x", "nginx"], capture_output=True, text=True).stdout.split()]
    return int(out[0])


# --- the faults: each returns a predicate that is true once it healed --------------

def kill_controller(cluster):
    before = cluster.supervisor.items["fabric-controller"].restarts
    os.kill(cluster.network.controller.proc.pid, signal.SIGKILL)
    return lambda: (controller_running(cluster.network)
                    and cluster.supervisor.items["fabric-controller"].restarts > before)


def kill_dns(cluster):
    pod = _pod(cluster, "kube-system", ("k8s-app", "kube-dns"))
    _, before = _kill_container(cluster, pod)
    return _restarted(cluster, pod, before)


def kill_web(cluster):
    pod = cluster.store.get("Pod", "default", "web-1")
    _, before = _kill_container(cluster, pod)
    return _restarted(cluster, pod, before)


def kill_nginx(cluster):
    pid = _nginx_master(cluster)
    os.kill(pid, signal.SIGKILL)

    def healed():
        try:
            return _nginx_master(cluster) != pid
        except (StopIteration, IndexError, AttributeError):
            return False
    return healed


def flush_kproxy(cluster):
    node = cluster.store.get("Pod", "default", "client")["spec"]["nodeName"]
    netns = naming.node_netns(cluster.spec.name, node)
    subprocess.run(["ip", "netns", "exec", netns, "nft", "flush", "table", "ip", "kproxy"],
                   check=True)
    ip = cluster.store.get("Service", "default", "web")["spec"]["clusterIP"]
    return lambda: ip in subprocess.run(["ip", "netns", "exec", netns, "nft", "list",
                                         "table", "ip", "kproxy"], capture_output=True,
                                        text=True).stdout


FAULTS = {"controller": kill_controller, "dns": kill_dns, "nginx": kill_nginx,
          "web-container": kill_web, "kproxy-rules": flush_kproxy}


@pytest.fixture(scope="module")
def chaos(cluster):
    svc = cluster.store.get("Service", "ingress-nginx", "ingress-nginx-controller")
    lb = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
    web = StampedLoop(naming.pod_netns(cluster.spec.name, "default", "client"),
                      "http://web/hostname", "web-")
    ingress = StampedLoop(naming.node_netns(cluster.spec.name, "ext"),   # Mininet's ext host
                          f"-H 'Host: a.example' http://{lb}/hostname", "web-")
    figures: dict = {}
    wait_for(lambda: web.ok_after(time.time() - 1) and ingress.ok_after(time.time() - 1),
             30, "both loops answering before the chaos")
    yield cluster, (web, ingress), figures
    web.stop()
    ingress.stop()
    out = ROOT / "results" / "chaos.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


def _objects(cluster) -> set:
    return {(kind, o["metadata"].get("namespace", ""), o["metadata"]["name"])
            for kind in cluster.store.kinds() if kind not in ("Event", "Lease")
            for o in cluster.store.list(kind)}


def _run_faults(chaos, names: list[str]) -> dict:
    cluster, loops, figures = chaos
    objects = _objects(cluster)
    t0 = time.time()
    healed = [FAULTS[name](cluster) for name in names]
    wait_for(lambda: all(h() for h in healed), RECOVER_WITHIN, f"{names} healed")
    recovered = time.time()
    back = {}
    for loop, what in zip(loops, ("web", "ingress"), strict=True):
        first = wait_for(lambda lp=loop: lp.ok_after(recovered), 10, f"{what} answering")
        back[what] = {"back_after_recovery_s": round(max(0.0, first - recovered), 3),
                      "longest_outage_s": round(loop.longest_gap(t0, first), 3)}
    figure = {"recovery_s": round(recovered - t0, 3), **back}
    figures["+".join(names)] = figure
    for what, f in back.items():
        limit = BACK_WITHIN_RESTARTED_POD if what == "ingress" and "nginx" in names \
            else BACK_WITHIN
        assert f["back_after_recovery_s"] <= limit, (names, what, figure)
    settle(cluster)
    assert _objects(cluster) >= objects, f"objects lost: {objects - _objects(cluster)}"
    return figure


@pytest.mark.parametrize("name", list(FAULTS))
def test_one_fault_heals_and_traffic_comes_back(chaos, name):
    _run_faults(chaos, [name])


def test_several_faults_at_once_heal(chaos):
    _run_faults(chaos, ["controller", "dns", "web-container", "kproxy-rules"])
