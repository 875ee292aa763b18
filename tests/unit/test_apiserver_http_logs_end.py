"""``kubectl logs -f``: a run's last lines, written just before it exits, arrive,
and the follow ends with the run, as the kubelet's does (``ReadLogs`` reads to
the end of the file once the container is no longer running)."""
from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

from k8snet.apiserver.http import serve
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store

KUBECTL = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl")


class RunLogs:
    """One log per run of the container, chosen by the pod's restartCount (as
    the kubelets' files are); read under the store's lock so that a change made
    in ``store.mutate`` is seen whole."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.runs = [["first"]]

    def logs(self, namespace, name, container, previous, tail):
        with self.store.lock:
            pod = self.store.get("Pod", namespace, name)
            statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
            run = statuses[0].get("restartCount", 0) - (1 if previous else 0)
            return "".join(f"{line}\n" for line in self.runs[run])


def _line(proc: subprocess.Popen, seconds: float = 10.0) -> str | None:
    """The next line kubectl prints, or None after ``seconds`` (never hang)."""
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    return proc.stdout.readline() if ready else None


def _status(state: dict, restarts: int = 0) -> dict:
    return {"phase": "Running", "containerStatuses": [
        {"name": "c", "image": "x", "ready": False, "restartCount": restarts, "state": state}]}


def _follow(tmp_path: Path, store: Store, log: RunLogs):
    """(server, kubectl logs -f p) once kubectl has printed the first line."""
    server = serve(store, logs=log)
    env = dict(os.environ, KUBECONFIG=str(server.write_kubeconfig(tmp_path / "kc")),
               HOME=str(tmp_path))
    proc = subprocess.Popen([KUBECTL, "logs", "-f", "p"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert _line(proc) == "first\n"
    return server, proc


def _lab() -> tuple[Store, RunLogs]:
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                  "spec": {"containers": [{"name": "c", "image": "x"}],
                           "restartPolicy": "Never"},
                  "status": _status({"running": {}})})
    return store, RunLogs(store)


def test_last_line_before_exit_arrives_and_the_follow_ends(tmp_path):
    store, log = _lab()
    server, proc = _follow(tmp_path, store, log)
    try:
        def exit_after_last_line(pod):
            log.runs[0].append("last")
            pod["status"] = _status({"terminated": {"exitCode": 0, "reason": "Completed"}})
        store.mutate("Pod", "default", "p", exit_after_last_line)
        t0 = time.monotonic()
        assert _line(proc, 5) == "last\n"
        assert proc.wait(timeout=5) == 0            # the run ended: so does the follow
        assert time.monotonic() - t0 < 5
    finally:
        proc.kill()
        proc.wait()
        server.stop()


def test_last_line_before_an_immediate_restart_arrives(tmp_path):
    """The run exits and the next starts between two looks: the log the server
    reads is the new run's, and the old run's last line is in the previous log."""
    store, log = _lab()
    server, proc = _follow(tmp_path, store, log)
    try:
        def restart_after_last_line(pod):
            log.runs[0].append("last")
            log.runs.append(["second run"])
            pod["status"] = _status({"running": {}}, restarts=1)
        store.mutate("Pod", "default", "p", restart_after_last_line)
        assert _line(proc, 5) == "last\n"
        assert proc.wait(timeout=5) == 0
        assert proc.stdout.read() == ""              # the next run is not followed
    finally:
        proc.kill()
        proc.wait()
        server.stop()


def test_follow_of_a_run_that_already_ended_prints_it_and_ends(tmp_path):
    store, log = _lab()
    log.runs[0].append("done")
    store.mutate("Pod", "default", "p", lambda pod: pod.update(
        status=_status({"terminated": {"exitCode": 0, "reason": "Completed"}})))
    with serve(store, logs=log) as server:
        env = dict(os.environ, KUBECONFIG=str(server.write_kubeconfig(tmp_path / "kc")),
                   HOME=str(tmp_path))
        done = subprocess.run([KUBECTL, "logs", "-f", "p"], capture_output=True, text=True,
                              env=env, timeout=20)
    assert done.returncode == 0 and done.stdout == "first\ndone\n"
