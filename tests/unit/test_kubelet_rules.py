"""The kubelet's pure rules: back-off, restart policy, pod status, and the
container environment (ConfigMap, Secret, downward API, expansion)."""
from __future__ import annotations

import base64
import logging
import threading
import time

import pytest

from k8snet.node import exits, kubelet, probes, runtime
from k8snet.node.env import EnvError, container_env
from k8snet.node.runtime import ContainerRuntime, PodRuntime, pod_status


def test_backoff_doubles_from_ten_seconds_to_five_minutes():
    assert [runtime.backoff(n) for n in range(1, 9)] == [0, 10, 20, 40, 80, 160, 300, 300]


@pytest.mark.parametrize("policy,code,restart", [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False),
    ("OnFailure", 2, True), ("Never", 1, False)])
def test_restart_policy(policy, code, restart):
    assert runtime.should_restart(policy, code) is restart


POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1",
                    "labels": {"app": "web"}, "annotations": {"team": "blue"}},
       "spec": {"nodeName": "node2", "restartPolicy": "Never", "containers": [{"name": "c"}]},
       "status": {"podIP": "10.244.2.5", "hostIP": "172.18.0.12"}}


class Proc:
    """A stand-in for ContainerProcess: running or exited."""

    def __init__(self, running):
        self.running = running
        self.proc = type("P", (), {"pid": 42})()


def rt_with(container: ContainerRuntime) -> PodRuntime:
    rt = PodRuntime("u-1", "10.244.2.5", "netns", "veth", "node", "/tmp")
    rt.containers[container.name] = container
    return rt


def test_status_of_a_running_ready_pod_and_stable_timestamps():
    c = ContainerRuntime("c", {"name": "c", "image": "x"}, proc=Proc(True),
                         waiting_reason="")
    status = pod_status(POD, rt_with(c), "172.18.0.12")
    assert status["phase"] == "Running" and status["podIP"] == "10.244.2.5"
    ready = next(x for x in status["conditions"] if x["type"] == "Ready")
    assert ready["status"] == "True"
    again = pod_status(dict(POD, status=status), rt_with(c), "172.18.0.12")
    assert again == status, "an unchanged pod must report an identical status"


def test_status_in_crash_loop_and_after_a_final_exit():
    last = runtime.terminated_state(3, 0.0)
    looping = ContainerRuntime("c", {"name": "c"}, proc=Proc(False), restart_count=2,
                               finished=last, last_state=last,
                               waiting_reason="CrashLoopBackOff")
    cs = pod_status(POD, rt_with(looping), "h")["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    assert cs["lastState"]["terminated"]["exitCode"] == 3 and cs["restartCount"] == 2
    done = ContainerRuntime("c", {"name": "c"}, proc=Proc(False), finished=last,
                            waiting_reason="")
    status = pod_status(POD, rt_with(done), "h")
    assert status["phase"] == "Failed"
    assert status["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"


def lookup_from(objs):
    return lambda kind, ns, name: objs.get((kind, ns, name))


CM = {"kind": "ConfigMap", "data": {"LEVEL": "debug", "bad key": "x", "MODE": "fast"}}
SECRET = {"kind": "Secret", "data": {"TOKEN": base64.b64encode(b"s3cret").decode()},
          "stringData": {"EXTRA": "plain"}}
OBJS = {("ConfigMap", "ns", "cfg"): CM, ("Secret", "ns", "sec"): SECRET}


def test_env_sources_in_the_kubelets_order():
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                                          {"secretRef": {"name": "sec"}}],
                 "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath":
                                                                    "metadata.name"}}},
                         {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath":
                                                                   "status.podIP"}}},
                         {"name": "TEAM", "valueFrom": {"fieldRef": {
                             "fieldPath": "metadata.annotations['team']"}}},
                         {"name": "LVL", "valueFrom": {"configMapKeyRef": {"name": "cfg",
                                                                           "key": "LEVEL"}}},
                         {"name": "URL", "value": "http://$(IP):80/$(POD)/$(NOPE)"},
                         {"name": "WEB_SERVICE_HOST", "value": "mine"}]}
    env = container_env(POD, container, {"WEB_SERVICE_HOST": "10.96.0.17"},
                        lookup_from(OBJS))
    assert env["CFG_LEVEL"] == "debug" and "CFG_bad key" not in env
    assert env["TOKEN"] == "s3cret" and env["EXTRA"] == "plain"
    assert (env["POD"], env["IP"], env["TEAM"], env["LVL"]) == \
        ("p", "10.244.2.5", "blue", "debug")
    assert env["URL"] == "http://10.244.2.5:80/p/$(NOPE)"
    assert env["WEB_SERVICE_HOST"] == "mine", "declared env overrides service variables"


def test_missing_sources_fail_unless_optional():
    ref = {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "NOPE"}}}
    with pytest.raises(EnvError, match="couldn't find key NOPE in ConfigMap ns/cfg"):
        container_env(POD, {"env": [ref]}, {}, lookup_from(OBJS))
    with pytest.raises(EnvError, match='secret "gone" not found'):
        container_env(POD, {"envFrom": [{"secretRef": {"name": "gone"}}]}, {},
                      lookup_from(OBJS))
    ref["valueFrom"]["configMapKeyRef"]["optional"] = True
    assert "X" not in container_env(POD, {"env": [ref]}, {}, lookup_from(OBJS))


def _probe(kind: str, period: int = 10, delay: int = 0) -> dict:
    return {kind: {"tcpSocket": {"port": 80}, "periodSeconds": period,
                   "initialDelaySeconds": delay}}


def test_the_startup_probe_runs_alone_until_it_succeeds():
    spec = {"name": "c", **_probe("startupProbe", delay=5), **_probe("readinessProbe"),
            **_probe("livenessProbe", delay=2)}
    startup, readiness, liveness = probes.trackers(spec, builtin=False, now=100.0)
    assert [k for k, _ in probes.probe_order(startup, readiness, liveness)] == ["startup"]
    assert probes.next_due(startup, readiness, liveness) == 105.0   # not readiness's 100
    startup.record(True, 105.0)
    assert [k for k, _ in probes.probe_order(startup, readiness, liveness)] == [
        "readiness", "liveness"]
    assert probes.next_due(startup, readiness, liveness) == 100.0
    assert liveness.ready                                # alive until it fails


def test_a_builtin_server_gets_a_one_off_check_that_ends_once_it_passes():
    spec = {"name": "c", "ports": [{"containerPort": 8080}]}
    startup, readiness, liveness = probes.trackers(spec, builtin=True, now=0.0)
    assert startup is None and liveness is None and readiness.once
    assert probes.next_due(None, readiness, None) == 0.0
    readiness.record(True, 0.1)
    assert probes.next_due(None, readiness, None) is None   # never due again
    assert probes.trackers(spec, builtin=False, now=0.0) == (None, None, None)


def test_the_monitor_sleeps_until_a_probe_is_due_within_its_bounds():
    due_at = []
    for delay in (3, 0):
        c = ContainerRuntime("c", {"name": "c", **_probe("readinessProbe", delay=delay)},
                             proc=Proc(True))
        c.startup, c.readiness, c.liveness = probes.trackers(c.spec, False, now=10.0)
        due_at.append(c)
    pods = [rt_with(due_at[0])]

    def watched(pid):
        return True

    assert runtime.next_pass(pods, watched, soon=10.05, late=10.5) == 10.5   # due at 13
    assert runtime.next_pass(pods, watched, soon=12.0, late=20.0) == 13.0
    pods.append(rt_with(due_at[1]))                                         # due now
    assert runtime.next_pass(pods, watched, soon=10.05, late=20.0) == 10.05
    pods[1].terminating_since = 9.0                                         # not probed
    assert runtime.next_pass(pods, watched, soon=10.05, late=20.0) == 13.0
    assert runtime.next_pass([], watched, soon=10.05, late=10.5) == 10.5     # idle
    # a process without a pidfd is polled: every tick
    assert runtime.next_pass(pods, lambda pid: False, soon=10.05, late=20.0) == 10.05


def test_a_monitor_pass_that_raises_still_waits_a_tick_before_the_next():
    calls = []

    class Stub:
        """What Kubelet._watch_processes uses: an overdue probe, a bad pass."""

        def __init__(self):
            self._stopping, self._exits = threading.Event(), exits.ExitWatch()
            self.log = logging.getLogger("test-monitor")

        def _next_pass(self, last):
            return last + kubelet.MONITOR_TICK

        def check_once(self, exited):
            calls.append(exited)
            raise RuntimeError("bad pass")

    stub = Stub()
    thread = threading.Thread(target=kubelet.Kubelet._watch_processes, args=(stub,),
                              daemon=True)
    logging.getLogger("test-monitor").disabled = True
    thread.start()
    time.sleep(0.5)
    stub._stopping.set()
    stub._exits.wake()
    thread.join(2)
    assert not thread.is_alive()
    assert 2 <= len(calls) <= 0.5 / kubelet.MONITOR_TICK + 2, len(calls)   # not a busy loop
