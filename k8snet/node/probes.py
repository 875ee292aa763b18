"""Readiness: which pods may be endpoints, decided the way the kubelet decides.

``Tracker`` is the pure state machine of one probe (initial delay, period,
success and failure thresholds); ``run_probe`` does one check (httpGet and
tcpSocket from the pod's node, exec inside the pod); ``Prober`` is the
kubelet's probe loop, a thread that asks for a service sync whenever some
pod's readiness changes.

A container that got the built-in server (its image cannot run here) has an
implicit start-up check: it is ready once its TCP ports accept connections.
A real image's process would be listening when it starts; Python needs a few
hundred milliseconds, and an endpoint that refuses connections in between
would fail requests during a rollout.
"""
from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mininet.log import warn

from k8snet.api.model import Container, Probe
from k8snet.node import grpc_probe, netns


@dataclass
class Tracker:
    """One container's readiness probe: consecutive results against thresholds."""

    probe: Probe
    started: float
    once: bool = False            # implicit start-up check: stop after the first success
    ready: bool = False
    successes: int = 0
    failures: int = 0
    last_error: str = ""
    next_due: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.next_due = self.started + self.probe.initial_delay_seconds

    def due(self, now: float) -> bool:
        return not (self.once and self.ready) and now >= self.next_due

    def record(self, ok: bool, now: float, error: str = "") -> bool:
        """Count one result; return True when readiness flipped."""
        self.next_due = now + max(self.probe.period_seconds, 0.05)
        self.last_error = "" if ok else error
        before = self.ready
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= max(1, self.probe.success_threshold):
                self.ready = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= max(1, self.probe.failure_threshold):
                self.ready = False
        return self.ready != before


def implicit_probe(container: Container) -> Probe | None:
    """The start-up check of a built-in server: its first TCP port listens."""
    port = next((p.container_port for p in container.ports if p.protocol == "TCP"), None)
    if port is None:
        return None
    return Probe("tcpSocket", port=port, period_seconds=0.1, timeout_seconds=1,
                 failure_threshold=1000000)


def _connect(node_ns: str, host: str, port: int, timeout: float) -> socket.socket:
    sock = netns.socket_in(node_ns)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run_probe(probe: Probe, container: Container, pod_ip: str, node_ns: str,
              pod_ns: str) -> tuple[bool, str]:
    """One check.  Returns (ok, error text).  Never raises."""
    timeout = max(float(probe.timeout_seconds), 0.1)
    try:
        if probe.handler == "exec":
            if not probe.command or not shutil.which(probe.command[0]):
                return True, ""          # no image filesystem: see Prober.warn_once
            done = subprocess.run(["ip", "netns", "exec", pod_ns, *probe.command],
                                  capture_output=True, timeout=timeout)
            return done.returncode == 0, f"exit code {done.returncode}"
        port = probe.resolved_port(container)
        if port is None:
            return False, f'port "{probe.port}" is not declared by the container'
        host = probe.host or pod_ip
        sock = _connect(node_ns, host, port, timeout)
        if probe.handler == "tcpSocket":
            sock.close()
            return True, ""
        if probe.handler == "grpc":
            try:
                return grpc_probe.check(sock, f"{host}:{port}", probe.service, timeout)
            except (OSError, ValueError, RuntimeError) as exc:
                return False, f"gRPC probe failed: {exc}"
            except Exception as exc:  # noqa: BLE001 - h2 protocol errors: not a gRPC server
                return False, f"gRPC probe failed: {type(exc).__name__}: {exc}"
            finally:
                sock.close()
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock
        headers = {"User-Agent": "kube-probe/1.30", "Accept": "*/*", **dict(probe.headers)}
        try:
            conn.request("GET", probe.path or "/", headers=headers)
            status = conn.getresponse().status
        finally:
            conn.close()
        return 200 <= status < 400, f"HTTP probe failed with statuscode: {status}"
    except subprocess.TimeoutExpired:
        return False, f"command timed out after {timeout:g}s"
    except (OSError, http.client.HTTPException) as exc:
        return False, str(exc) or type(exc).__name__


class Prober:
    """The probe loop of every pod.  ``on_change`` runs (in this thread) after
    any pod's readiness flipped, so endpoints follow within one period."""

    TICK = 0.05

    def __init__(self, cluster, on_change: Callable[[], None]) -> None:
        self.cluster = cluster
        self.on_change = on_change
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.warned: set[str] = set()
        self.errors = 0

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="k8snet-prober", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
            self.thread = None

    def warn_once(self, pod_key: str, probe: Probe) -> None:
        key = f"{pod_key}:{probe.command[:1]}"
        if key not in self.warned:
            self.warned.add(key)
            warn(f"*** Warning: pod {pod_key}: exec probe program "
                 f"'{probe.command[0] if probe.command else ''}' does not exist here "
                 "(no image filesystem); treating the probe as passing\n")

    def check_once(self) -> list:
        """Run every probe that is due; return the pods whose readiness differs
        from what the endpoints last showed, with their new readiness."""
        with self.cluster.lock:
            pods = list(self.cluster.pods.values())
        changed = []
        now = time.monotonic()
        for status in pods:
            if status.terminating:
                continue
            for name, tracker in list(status.trackers.items()):
                if not tracker.due(now):
                    continue
                container = next(c for c in status.pod.containers if c.name == name)
                probe = tracker.probe
                if probe.handler == "exec" and (not probe.command
                                                or not shutil.which(probe.command[0])):
                    self.warn_once(status.pod.key, probe)
                ok, error = run_probe(probe, container, status.ip, status.node_netns,
                                      status.netns)
                tracker.record(ok, time.monotonic(), error)
            ready = status.ready
            if ready != status.published:
                changed.append((status, ready))
        return changed

    def _loop(self) -> None:
        while not self.stopping.wait(self.TICK):
            try:
                changed = self.check_once()
                if changed:
                    self.on_change()
                    for status, ready in changed:
                        status.published = ready
            except Exception as exc:  # a probe loop must outlive one bad pass
                self.errors += 1
                if self.errors <= 3:
                    warn(f"*** prober: {type(exc).__name__}: {exc}\n")
