"""``kubectl logs -f``: the log so far, then what it gains, streamed."""
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


class GrowingLog:
    def __init__(self):
        self.lines = ["first"]

    def logs(self, namespace, name, container, previous, tail):
        return "".join(f"{line}\n" for line in self.lines)


def _line(proc: subprocess.Popen, seconds: float = 10.0) -> str | None:
    """The next line kubectl prints, or None after ``seconds`` (never hang)."""
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    return proc.stdout.readline() if ready else None


def _lab(tmp_path):
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                  "spec": {"containers": [{"name": "c", "image": "x"}]}})
    return store


def test_logs_follow_with_tail_starts_at_the_tail_and_follows(tmp_path):
    store = _lab(tmp_path)
    log = GrowingLog()
    log.lines = ["one", "two", "three"]
    with serve(store, logs=log) as server:
        env = dict(os.environ, KUBECONFIG=str(server.write_kubeconfig(tmp_path / "kc")),
                   HOME=str(tmp_path))
        proc = subprocess.Popen([KUBECTL, "logs", "-f", "--tail=1", "p"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        try:
            assert _line(proc) == "three\n"
            log.lines.append("four")
            assert _line(proc) == "four\n"
        finally:
            proc.kill()
            proc.wait()
            proc.wait()


def test_logs_follow_streams_new_lines_until_the_pod_goes(tmp_path):
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                  "spec": {"containers": [{"name": "c", "image": "x"}]}})
    log = GrowingLog()
    with serve(store, logs=log) as server:
        env = dict(os.environ, KUBECONFIG=str(server.write_kubeconfig(tmp_path / "kc")),
                   HOME=str(tmp_path))
        proc = subprocess.Popen([KUBECTL, "logs", "-f", "p"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert _line(proc) == "first\n"
            log.lines.append("second")       # even while the server is between reads
            t0 = time.monotonic()
            assert _line(proc) == "second\n"
            assert time.monotonic() - t0 < 2
            store.delete("Pod", "default", "p")
            assert proc.wait(timeout=5) == 0
        finally:
            proc.kill()
            proc.wait()
