"""Through the HTTP API: a created object of a kind the lab only stores
carries a ``Warning`` header with ``k8snet run -f``'s note, and the real
kubectl patches a Service's type back to ClusterIP as on Kubernetes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from control_helpers import api_server

JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
       "spec": {"template": {"spec": {"restartPolicy": "Never",
                                      "containers": [{"name": "c", "image": "busybox"}]}}}}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
KUBECTL = next((str(p) for p in (Path(sys.executable).parent / "kubectl",
                                 Path("/usr/bin/kubectl")) if p.exists()), None)


@pytest.fixture
def server():
    srv = api_server()
    yield srv
    srv.stop()


def _post(srv, path: str, body: dict) -> tuple[int, list[str]]:
    req = urllib.request.Request(srv.url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.headers.get_all("Warning") or []


def test_a_stored_only_kind_is_created_with_a_warning(server) -> None:
    code, warnings = _post(server, "/apis/batch/v1/namespaces/default/jobs", JOB)
    assert (code, warnings) == (201, ['299 - "Job stored and listed; no effect in k8snet"'])
    code, warnings = _post(server, "/api/v1/namespaces/default/configmaps", CONFIGMAP)
    assert (code, warnings) == (201, [])


def _kubectl(srv, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    config = srv.write_kubeconfig(tmp_path / "kubeconfig")
    env = dict(os.environ, KUBECONFIG=str(config), HOME=str(tmp_path))
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env,
                          timeout=60, cwd=tmp_path)


@pytest.mark.skipif(KUBECTL is None, reason="no kubectl installed")
def test_kubectl_prints_the_warning_and_retypes_a_service(server, tmp_path) -> None:
    done = _kubectl(server, tmp_path, "create", "job", "once", "--image=busybox")
    assert done.returncode == 0, done.stderr
    assert "Warning: Job stored and listed; no effect in k8snet" in done.stderr
    done = _kubectl(server, tmp_path, "create", "service", "clusterip", "web", "--tcp=80:8080")
    assert done.returncode == 0, done.stderr
    for svc_type in ("LoadBalancer", "ClusterIP", "NodePort", "ClusterIP"):
        done = _kubectl(server, tmp_path, "patch", "svc", "web", "-p",
                        json.dumps({"spec": {"type": svc_type}}))
        assert done.returncode == 0, done.stderr
    spec = json.loads(_kubectl(server, tmp_path, "get", "svc", "web", "-o", "json").stdout)[
        "spec"]
    assert spec["type"] == "ClusterIP" and "nodePort" not in spec["ports"][0]
    assert "externalTrafficPolicy" not in spec
