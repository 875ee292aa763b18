"""The real kubectl (pinned in the venv) against a running lab: the cluster
serves its store as the Kubernetes API and writes a kubeconfig."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import EXAMPLES, wait_for

VENV_KUBECTL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"
KUBECTL = str(VENV_KUBECTL) if VENV_KUBECTL.exists() else shutil.which("kubectl")


def kubectl(cluster, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, timeout=30,
                          env=env)


def test_kubeconfig_is_written_for_the_cluster(cluster):
    assert cluster.kubeconfig == Path(f"/run/k8snet/{cluster.spec.name}/kubeconfig")
    assert f"current-context: {cluster.spec.name}" in cluster.kubeconfig.read_text()
    assert "127.0.0.1" in cluster.kubeconfig.read_text()


def test_get_pods_wide_lists_the_lab_pods_with_their_nodes(cluster):
    out = kubectl(cluster, "get", "pods", "-o", "wide")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:]}
    assert rows["web-1"][1:3] == ["1/1", "Running"] and rows["web-1"][6] == "node1"
    assert rows["web-1"][5] == cluster.store.get("Pod", "default", "web-1")["status"]["podIP"]


def test_apply_again_is_unchanged_and_describe_shows_endpoints(cluster):
    out = kubectl(cluster, "apply", "-f", str(EXAMPLES / "demo" / "10-web.yaml"))
    assert out.returncode == 0, out.stderr
    assert "service/web unchanged" in out.stdout
    desc = kubectl(cluster, "describe", "svc", "web")
    assert "Endpoints:" in desc.stdout and ":8080" in desc.stdout


def test_scale_through_kubectl_reaches_the_controllers(cluster):
    kubectl(cluster, "create", "deployment", "kc", "--image=registry.k8s.io/pause:3.9",
            "--replicas=1")
    out = kubectl(cluster, "scale", "deploy/kc", "--replicas=2")
    assert out.returncode == 0 and "scaled" in out.stdout, out.stderr
    wait_for(lambda: (cluster.store.get("Deployment", "default", "kc").get("status") or {})
             .get("readyReplicas") == 2, 30, "2 ready kc pods")
    got = kubectl(cluster, "get", "pods", "-l", "app=kc", "-o", "name")
    assert len(got.stdout.split()) == 2
    kubectl(cluster, "delete", "deploy", "kc")


def test_invalid_service_is_refused_in_the_api_servers_words(cluster, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec:\n"
                   "  ports: [{port: 80}, {port: 81}]\n")
    out = kubectl(cluster, "apply", "-f", str(bad))
    assert out.returncode != 0
    assert 'The Service "bad" is invalid' in out.stderr
    assert "spec.ports[0].name: Required value" in out.stderr
    assert "spec.ports[1].name: Required value" in out.stderr


def test_exec_and_logs_through_the_api(cluster):
    out = kubectl(cluster, "exec", "web-1", "--", "sh", "-c", "echo $HOSTNAME; ip -4 -o addr")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "web-1"
    assert cluster.store.get("Pod", "default", "web-1")["status"]["podIP"] in out.stdout
    out = kubectl(cluster, "exec", "-n", "kube-system", "deploy/kube-dns", "--",
                  "sh", "-c", "echo $HOSTNAME")
    assert out.returncode == 0 and out.stdout.startswith("kube-dns-"), out.stderr
    assert kubectl(cluster, "exec", "web-1", "--", "sh", "-c", "exit 4").returncode == 4
    logs = kubectl(cluster, "logs", "web-1")
    assert "web-1" in logs.stdout, logs.stderr


def test_logs_follow_a_deployment(cluster):
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
    proc = subprocess.Popen([KUBECTL, "logs", "-f", "-n", "kube-system", "deploy/kube-dns"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert first.strip(), proc.stderr.read() if proc.poll() is not None else "no line"
        assert proc.poll() is None, "logs -f must keep following a running pod"
    finally:
        proc.kill()
        proc.wait()
