"""Readiness: which pods may be endpoints, decided the way the kubelet decides.

``Tracker`` is the pure state machine of one probe (initial delay, period,
success and failure thresholds); ``run_probe`` does one check (httpGet,
tcpSocket and grpc from the pod's node, exec inside the pod).  The kubelet
(``kubelet.py``) runs them.

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
from dataclasses import dataclass, field

from k8snet.api.convert import container_from, probe_from
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


def container_probes(spec: dict) -> dict[str, Probe | None]:
    """A container's (API JSON) readiness, liveness and startup probes, by field name."""
    return {kind: probe_from(spec.get(kind))
            for kind in ("readinessProbe", "livenessProbe", "startupProbe")}


def grpc_ports(spec: dict) -> tuple[int, ...]:
    """The numeric ports a container's (API JSON) gRPC probes check, sorted."""
    return tuple(sorted({p.port for p in container_probes(spec).values()
                         if p is not None and p.handler == "grpc" and isinstance(p.port, int)}))


def trackers(spec: dict, builtin: bool, now: float
             ) -> tuple[Tracker | None, Tracker | None, Tracker | None]:
    """(startup, readiness, liveness) of a container (API JSON) started at
    ``now``: a built-in server without a readiness probe gets the implicit
    start-up check; a liveness probe counts alive until it fails."""
    probes = container_probes(spec)
    readiness, once = probes["readinessProbe"], False
    if readiness is None and builtin:
        readiness, once = implicit_probe(container_from(spec)), True
    liveness = Tracker(probes["livenessProbe"], now) if probes["livenessProbe"] else None
    if liveness is not None:
        liveness.ready = True
    return (Tracker(probes["startupProbe"], now) if probes["startupProbe"] else None,
            Tracker(readiness, now, once=once) if readiness else None, liveness)


def probe_order(startup: Tracker | None, readiness: Tracker | None,
                liveness: Tracker | None) -> list[tuple[str, Tracker]]:
    """The probes the kubelet runs now, by kind: the startup probe alone until
    it succeeds, then readiness and liveness (Kubernetes docs, "Configure
    Liveness, Readiness and Startup Probes")."""
    order = [("startup", startup)] if startup and not startup.ready else \
        [("readiness", readiness), ("liveness", liveness)]
    return [(kind, t) for kind, t in order if t is not None]


def next_due(startup: Tracker | None, readiness: Tracker | None,
             liveness: Tracker | None) -> float | None:
    """When the first probe ``probe_order`` runs is next due (monotonic
    seconds); None when none will run again (an implicit check that passed)."""
    return min((t.next_due for _, t in probe_order(startup, readiness, liveness)
                if not (t.once and t.ready)), default=None)


def implicit_probe(container: Container) -> Probe | None:
    """The start-up check of a built-in server: its first TCP port listens."""
    port = next((p.container_port for p in container.ports if p.protocol == "TCP"), None)
    if port is None:
        return None
    return Probe("tcpSocket", port=port, period_seconds=0.1, timeout_seconds=1,
                 failure_threshold=1000000)


def _connect(node_ns: str, host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection from the node's namespace; errors worded as the
    kubelet's Go dialer words them (``dial tcp IP:PORT: connect: connection refused``)."""
    sock = netns.socket_in(node_ns)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
    except TimeoutError:
        sock.close()
        raise OSError(f"dial tcp {host}:{port}: i/o timeout") from None
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise OSError(f"dial tcp {host}:{port}: connect: {reason}") from None
    return sock


def run_probe(probe: Probe, container: Container, pod_ip: str, node_ns: str,
              pod_ns: str, wrapper: tuple[str, ...] = ()) -> tuple[bool, str]:
    """One check.  Returns (ok, error text).  Never raises.  An exec probe runs
    behind ``wrapper`` (the container's way in: ``ip netns exec`` and its
    sandbox), else in the pod's namespace."""
    timeout = max(float(probe.timeout_seconds), 0.1)
    try:
        if probe.handler == "exec":
            if not probe.command or not shutil.which(probe.command[0]):
                return True, ""          # no image filesystem: see Prober.warn_once
            way_in = list(wrapper) or ["ip", "netns", "exec", pod_ns]
            done = subprocess.run([*way_in, *probe.command],
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
        headers = {"User-Agent": "kube-probe/1.35", "Accept": "*/*", **dict(probe.headers)}
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
