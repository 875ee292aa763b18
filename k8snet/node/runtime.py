"""What the kubelet knows of its pods while they run, and the pure rules on it:
restart decisions with CrashLoopBackOff, and the pod status it reports.

Sources: "Pod Lifecycle" (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/):
restartPolicy, container states, the exponential back-off (10 s, doubled
each restart, capped at five minutes, reset after ten minutes of running),
phases and conditions.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from k8snet.apiserver.store import now_rfc3339
from k8snet.node.containers import ContainerProcess
from k8snet.node.probes import Tracker, next_due

BACKOFF_BASE = 10.0        # seconds: the kubelet's initial crash back-off
BACKOFF_MAX = 300.0
BACKOFF_RESET = 600.0      # running this long forgives earlier crashes


@dataclass
class ContainerRuntime:
    """One container of a running pod."""

    name: str
    spec: dict
    proc: ContainerProcess | None = None
    restart_count: int = 0
    started_at: float = 0.0              # wall clock of the current run
    finished: dict | None = None         # terminated state of the current run, once it ended
    last_state: dict | None = None       # the previous run's terminated state
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    backoff_until: float = 0.0           # monotonic
    crashes: int = 0                     # consecutive, for the back-off
    readiness: Tracker | None = None
    liveness: Tracker | None = None
    startup: Tracker | None = None
    builtin: bool = False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.finished is None and self.proc.running

    @property
    def started(self) -> bool:
        """Started: running and past its startup probe."""
        return self.running and (self.startup is None or self.startup.ready)

    @property
    def ready(self) -> bool:
        if not self.started:
            return False
        return self.readiness is None or self.readiness.ready


@dataclass
class PodRuntime:
    """A pod's sandbox and containers on this node."""

    uid: str
    ip: str
    netns: str
    veth: str
    node_ns: str
    log_dir: str
    start_time: str = field(default_factory=now_rfc3339)
    containers: dict[str, ContainerRuntime] = field(default_factory=dict)
    terminating_since: float | None = None
    out_of_endpoints_since: float | None = None   # monotonic; the drain counts from here
    warned: set[str] = field(default_factory=set)
    volume_dir: str = ""                 # its emptyDirs (k8snet.node.volumes), if any
    volumes: dict[str, str] = field(default_factory=dict)
    host_network: bool = False           # in the node's namespace, with the node's IP
    files: str = ""                      # its resolver files' name under /etc/netns

    @property
    def files_name(self) -> str:
        """The pod's directory name under /etc/netns: its namespace's, or for
        a hostNetwork pod the name its own namespace would have had."""
        return self.files or self.netns


def backoff(crashes: int) -> float:
    """Seconds to wait before restart number ``crashes`` (1-based): 0 for the
    first crash, then 10, 20, 40 ... up to 300 (CrashLoopBackOff)."""
    if crashes <= 1:
        return 0.0
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (crashes - 2))


def should_restart(policy: str, exit_code: int) -> bool:
    """restartPolicy: Always restarts every exit; OnFailure a non-zero exit; Never none."""
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def terminated_state(exit_code: int, started_at: float, reason: str = "") -> dict:
    """A ``state.terminated`` entry: Completed for 0, Error otherwise."""
    return {"exitCode": exit_code, "reason": reason or ("Completed" if exit_code == 0
                                                        else "Error"),
            "startedAt": now_rfc3339(started_at), "finishedAt": now_rfc3339()}


def _container_status(c: ContainerRuntime) -> dict:
    if c.running:
        state = {"running": {"startedAt": now_rfc3339(c.started_at)}}
    elif c.finished is not None and not c.waiting_reason:
        state = {"terminated": c.finished}
    else:
        waiting = {"reason": c.waiting_reason or "ContainerCreating"}
        if c.waiting_message:
            waiting["message"] = c.waiting_message
        state = {"waiting": waiting}
    out = {"name": c.name, "image": c.spec.get("image", ""),
           "imageID": "", "containerID": f"k8snet://{c.proc.proc.pid}" if c.proc else "",
           "ready": c.ready, "started": c.started, "restartCount": c.restart_count,
           "state": state, "lastState": {}}
    if c.last_state:
        out["lastState"] = {"terminated": c.last_state}
    return out


def _phase(rt: PodRuntime, policy: str) -> str:
    cs = list(rt.containers.values())
    if any(c.running for c in cs):
        return "Running"
    done = [c for c in cs if c.finished is not None]
    if cs and len(done) == len(cs) and not any(c.waiting_reason == "CrashLoopBackOff"
                                                  for c in cs):
        if policy == "Always":
            return "Running"
        if all(c.finished.get("exitCode") == 0 for c in done):
            return "Succeeded"
        if policy == "Never" or all(c.finished.get("exitCode") == 0 for c in done):
            return "Failed"
    if any(c.restart_count or c.finished for c in cs):
        return "Running"
    return "Pending"


def _condition(old: dict, type_: str, ok: bool, reason: str = "") -> dict:
    status = "True" if ok else "False"
    prev = next((c for c in old.get("conditions") or [] if c.get("type") == type_), None)
    when = prev.get("lastTransitionTime") if prev and prev.get("status") == status else None
    cond = {"type": type_, "status": status, "lastProbeTime": None,
            "lastTransitionTime": when or now_rfc3339()}
    if reason and not ok:
        cond["reason"] = reason
    return cond


def pod_status(pod: dict, rt: PodRuntime | None, host_ip: str) -> dict:
    """The status the kubelet reports for ``pod`` (stored dict) from its
    runtime ``rt`` (None: sandbox not made yet).  Conditions keep their
    lastTransitionTime while their status holds, so an unchanged pod writes
    an identical status."""
    old = pod.get("status") or {}
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    scheduled = next((c for c in old.get("conditions") or []
                      if c.get("type") == "PodScheduled"), None) or \
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
         "lastTransitionTime": now_rfc3339()}
    if rt is None:
        specs = (pod.get("spec") or {}).get("containers") or []
        statuses = [{"name": c.get("name", ""), "image": c.get("image", ""), "imageID": "",
                     "ready": False, "started": False, "restartCount": 0,
                     "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
                    for c in specs]
        return {"phase": "Pending", "hostIP": host_ip,
                "conditions": [_condition(old, "Initialized", True),
                               _condition(old, "Ready", False, "ContainersNotReady"),
                               _condition(old, "ContainersReady", False, "ContainersNotReady"),
                               scheduled],
                "containerStatuses": statuses, "qosClass": "BestEffort"}
    ready = bool(rt.containers) and all(c.ready for c in rt.containers.values()) \
        and rt.terminating_since is None
    return {
        "phase": _phase(rt, policy), "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "podIP": rt.ip, "podIPs": [{"ip": rt.ip}], "startTime": rt.start_time,
        "conditions": [_condition(old, "Initialized", True),
                       _condition(old, "Ready", ready, "ContainersNotReady"),
                       _condition(old, "ContainersReady", ready, "ContainersNotReady"),
                       scheduled],
        "containerStatuses": [_container_status(c) for c in rt.containers.values()],
        "qosClass": "BestEffort"}


def next_wakeup(rt: PodRuntime) -> float | None:
    """Seconds until the earliest pending back-off ends, or None."""
    now = time.monotonic()
    waits = [c.backoff_until - now for c in rt.containers.values()
             if c.backoff_until > now]
    return min(waits) if waits else None


def next_pass(runtimes: list[PodRuntime], watching: Callable[[int], bool], soon: float,
              late: float) -> float:
    """When the kubelet's monitor looks again (monotonic seconds): when the
    first probe of a running container is due, but not before ``soon`` nor
    after ``late``; ``soon`` when some process is polled, not ``watching``
    (no pidfd for it). Terminating pods are not probed."""
    due = late
    for rt in runtimes:
        if rt.terminating_since is not None:
            continue
        for c in list(rt.containers.values()):
            if c.proc is None or c.finished is not None:
                continue
            if not watching(c.proc.proc.pid):
                return soon
            at = next_due(c.startup, c.readiness, c.liveness)
            due = due if at is None else min(due, at)
    return max(due, soon)


def listed_ready(slices: list[dict], ip: str) -> bool:
    """Some EndpointSlice of ``slices`` (API JSON) lists ``ip`` as a ready
    endpoint (``conditions.ready`` not false: unset counts as ready,
    discovery.k8s.io/v1)."""
    return any(ip in (ep.get("addresses") or [])
               and (ep.get("conditions") or {}).get("ready") is not False
               for sl in slices for ep in sl.get("endpoints") or [])
