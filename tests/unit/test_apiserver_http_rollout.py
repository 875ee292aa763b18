"""``kubectl rollout history|undo|status|restart``, ``expose`` and ``wait``
with the real kubectl, against the store served on 127.0.0.1 and the lab's
controllers (run to quiescence after every kubectl line; a tiny kubelet
makes bound pods Running and Ready).

kubectl does history and undo on its own: it reads the ReplicaSets'
``deployment.kubernetes.io/revision`` and ``kubernetes.io/change-cause``
annotations (StatefulSets and DaemonSets: ControllerRevisions) and patches the template
back; the controllers must leave what it reads.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from control_helpers import Kubelet, converge, node

from k8snet.apiserver.http import serve
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.control.binder import Binder
from k8snet.control.daemonset import DaemonSetController
from k8snet.control.deployment import DeploymentController
from k8snet.control.replicaset import ReplicaSetController
from k8snet.control.statefulset import StatefulSetController

VENV = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"
FOUND = [str(VENV)] if VENV.exists() else []
if shutil.which("kubectl") and Path(shutil.which("kubectl")).resolve() != VENV.resolve():
    FOUND.append(shutil.which("kubectl"))
KUBECTLS = FOUND or [pytest.param("kubectl", marks=pytest.mark.skip("no kubectl installed"))]

STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "postgres:15", ports: [{containerPort: 5432}]}]}
"""


@pytest.fixture(params=KUBECTLS)
def kubectl(request, tmp_path):
    """``kubectl(*args)``: run it, then let the controllers and kubelet settle."""
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create(node("node1"))
    controllers = [Binder(store), DeploymentController(store), ReplicaSetController(store),
                   StatefulSetController(store), DaemonSetController(store)]
    kubelet = Kubelet(store)
    with serve(store) as server:
        env = dict(os.environ, KUBECONFIG=str(server.write_kubeconfig(tmp_path / "kc")),
                   KUBECACHEDIR=str(tmp_path / "cache"))

        def run(*args, check=True):
            done = subprocess.run([request.param, *args], env=env, capture_output=True,
                                  text=True, timeout=60, cwd=tmp_path)
            if check and done.returncode:
                raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
            converge(controllers, kubelet)
            return done
        run.store, run.tmp = store, tmp_path
        yield run


def history(text: str) -> list[tuple[str, str]]:
    """(revision, change-cause) rows of ``kubectl rollout history``."""
    return [tuple(line.split(None, 1)) for line in text.splitlines()
            if re.match(r"^\d+\s", line)]


def image(run, kind: str = "deploy/web") -> str:
    return run("get", kind, "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout


def test_deployment_history_and_undo(kubectl):
    run = kubectl
    run("create", "deployment", "web", "--image=nginx:1.25", "--port=80")
    run("annotate", "deploy/web", "kubernetes.io/change-cause=create 1.25")
    run("set", "image", "deploy/web", "nginx=nginx:1.26")
    run("annotate", "deploy/web", "kubernetes.io/change-cause=image 1.26", "--overwrite")
    assert history(run("rollout", "history", "deploy/web").stdout) == \
        [("1", "create 1.25"), ("2", "image 1.26")]
    assert "Image:\tnginx:1.25" in run("rollout", "history", "deploy/web",
                                      "--revision=1").stdout
    assert run("rollout", "status", "deploy/web", "--watch=false").stdout == \
        'deployment "web" successfully rolled out\n'
    assert run("rollout", "undo", "deploy/web").stdout == "deployment.apps/web rolled back\n"
    assert image(run) == "nginx:1.25"
    # The old ReplicaSet came back as revision 3, with its change-cause.
    assert history(run("rollout", "history", "deploy/web").stdout) == \
        [("2", "image 1.26"), ("3", "create 1.25")]
    annotations = run.store.get("Deployment", "default", "web")["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "3"
    assert run("rollout", "undo", "deploy/web", "--to-revision=2").returncode == 0
    assert image(run) == "nginx:1.26"
    missing = run("rollout", "undo", "deploy/web", "--to-revision=1", check=False)
    assert missing.returncode == 1
    assert missing.stderr == "error: unable to find specified revision 1 in history\n"
    pods = [p for p in run.store.list("Pod") if not p["metadata"].get("deletionTimestamp")]
    assert [p["spec"]["containers"][0]["image"] for p in pods] == ["nginx:1.26"]


def test_paused_deployment_is_not_rolled_back(kubectl):
    run = kubectl
    run("create", "deployment", "web", "--image=nginx:1.25")
    run("set", "image", "deploy/web", "nginx=nginx:1.26")
    run("rollout", "pause", "deploy/web")
    refused = run("rollout", "undo", "deploy/web", check=False)
    assert refused.returncode == 1 and refused.stderr.startswith(
        "error: you cannot rollback a paused deployment; resume it first")
    assert image(run) == "nginx:1.26"


def test_restart_makes_a_new_revision_and_waits_are_met(kubectl):
    run = kubectl
    run("create", "deployment", "web", "--image=nginx:1.25", "--replicas=2")
    assert run("wait", "--for=condition=Available", "deploy/web", "--timeout=10s").stdout \
        == "deployment.apps/web condition met\n"
    before = {p["metadata"]["name"] for p in run.store.list("Pod")}
    assert run("rollout", "restart", "deploy/web").stdout == "deployment.apps/web restarted\n"
    after = {p["metadata"]["name"] for p in run.store.list("Pod")}
    assert len(after) == 2 and not after & before
    assert [r for r, _ in history(run("rollout", "history", "deploy/web").stdout)] == ["1", "2"]


def test_statefulset_history_and_undo_through_controller_revisions(kubectl):
    run = kubectl
    (run.tmp / "sts.yaml").write_text(STATEFULSET)
    run("apply", "-f", "sts.yaml")
    run("set", "image", "sts/db", "db=postgres:16")
    assert [r for r, _ in history(run("rollout", "history", "sts/db").stdout)] == ["1", "2"]
    assert "Image:\tpostgres:15" in run("rollout", "history", "sts/db", "--revision=1").stdout
    assert run("rollout", "undo", "sts/db").stdout.startswith("statefulset.apps/db rolled back")
    assert image(run, "sts/db") == "postgres:15"
    assert run.store.get("Pod", "default", "db-0")["spec"]["containers"][0]["image"] == \
        "postgres:15"


def test_daemonset_history_and_undo_through_controller_revisions(kubectl):
    run = kubectl
    (run.tmp / "ds.yaml").write_text(
        STATEFULSET.replace("StatefulSet", "DaemonSet").replace("name: db}", "name: agent}")
        .replace("  serviceName: db\n  replicas: 1\n", ""))
    run("apply", "-f", "ds.yaml")
    run("set", "image", "ds/agent", "db=postgres:16")
    run("set", "image", "ds/agent", "db=postgres:17")
    assert [r for r, _ in history(run("rollout", "history", "ds/agent").stdout)] == \
        ["1", "2", "3"]
    run("rollout", "undo", "ds/agent", "--to-revision=1")
    assert image(run, "ds/agent") == "postgres:15"
    assert [r for r, _ in history(run("rollout", "history", "ds/agent").stdout)] == \
        ["2", "3", "4"]
    pods = [p for p in run.store.list("Pod") if p["metadata"]["name"].startswith("agent-")]
    assert [p["spec"]["containers"][0]["image"] for p in pods] == ["postgres:15"]


def test_expose_a_deployment_a_pod_and_a_service(kubectl):
    run = kubectl
    run("create", "deployment", "web", "--image=nginx", "--port=8080")
    assert run("expose", "deploy/web", "--port=80", "--target-port=8080").stdout == \
        "service/web exposed\n"
    svc = run.store.get("Service", "default", "web")
    assert svc["spec"]["selector"] == {"app": "web"}
    assert svc["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 8080}]
    assert svc["spec"]["clusterIP"].startswith("10.")
    pod = next(p["metadata"]["name"] for p in run.store.list("Pod"))
    run("expose", "pod", pod, "--name=one", "--type=NodePort")
    one = run.store.get("Service", "default", "one")["spec"]
    assert one["type"] == "NodePort" and one["ports"][0]["port"] == 8080
    assert 30000 <= one["ports"][0]["nodePort"] <= 32767
    run("expose", "svc/web", "--name=web-lb", "--type=LoadBalancer", "--port=443",
        "--target-port=8080")
    lb = run.store.get("Service", "default", "web-lb")["spec"]
    assert lb["selector"] == {"app": "web"} and lb["type"] == "LoadBalancer"
    rows = [line.split() for line in run("get", "svc").stdout.splitlines()]
    assert [r[:2] for r in rows[1:]] == [["one", "NodePort"], ["web", "ClusterIP"],
                                         ["web-lb", "LoadBalancer"]]
