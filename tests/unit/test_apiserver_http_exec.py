"""``kubectl exec`` over the WebSocket channel protocol (v5, v4), with the
real kubectl: output channels, stdin, the exit code on the error channel."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from k8snet.apiserver.http import serve
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store

VENV = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"
KUBECTLS = [str(VENV)] + ([shutil.which("kubectl")] if shutil.which("kubectl")
                          and Path(shutil.which("kubectl")).resolve() != VENV.resolve()
                          else [])


class Exec:
    """Runs commands here with a container-like environment (no netns)."""

    def target(self, namespace, name, container):
        return [], {"PATH": os.environ["PATH"], "WHO": f"{namespace}/{name}/{container}"}


@pytest.fixture(params=KUBECTLS)
def kubectl(request, tmp_path):
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                  "spec": {"containers": [{"name": "a", "image": "x"},
                                          {"name": "b", "image": "x"}]}})
    with serve(store, execs=Exec()) as server:
        env = dict(os.environ, KUBECONFIG=str(server.write_kubeconfig(tmp_path / "kc")),
                   HOME=str(tmp_path))

        def run(*args, stdin=None):
            return subprocess.run([request.param, *args], env=env, capture_output=True,
                                  text=True, input=stdin, timeout=30)
        yield run


def test_exec_streams_output_and_exit_code(kubectl):
    out = kubectl("exec", "p", "-c", "b", "--", "sh", "-c", "echo $WHO; echo oops >&2; exit 3")
    assert out.returncode == 3
    assert out.stdout == "default/p/b\n"
    assert "oops" in out.stderr and "command terminated with exit code 3" in out.stderr


def test_exec_with_stdin(kubectl):
    out = kubectl("exec", "-i", "p", "-c", "a", "--", "sh", "-c", "tr a-z A-Z", stdin="lab\n")
    assert out.returncode == 0 and out.stdout == "LAB\n"


def test_exec_errors(kubectl):
    out = kubectl("exec", "p", "-c", "nope", "--", "true")
    assert out.returncode != 0 and "container nope is not valid for pod p" in out.stderr
    out = kubectl("exec", "ghost", "--", "true")
    assert 'pods "ghost" not found' in out.stderr
