"""The CLI's kubectl verbs against a store (no cluster): what they print,
what they change, and that any malformed line is one K8snetError."""
from __future__ import annotations

import shlex

import pytest

from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.cli.kubectl import RESTARTED_AT, Kubectl
from k8snet.errors import K8snetError

DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "web", "namespace": "default"},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "web"}},
                                "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


class NoPods:
    def exec(self, *a):
        raise K8snetError('Error from server (NotFound): pods "x" not found')

    def logs(self, *a):
        raise K8snetError('Error from server (NotFound): pods "x" not found')


@pytest.fixture
def kubectl():
    by_kind, default = strategies("10.96.0.0/12")
    store = Store(by_kind, default_strategy=default)
    for ns in ("default", "kube-system"):
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    store.create(DEPLOY)
    lines: list[str] = []
    k = Kubectl(store, NoPods(), lines.append)
    k.lines = lines
    return k


def run(k, line):
    k.lines.clear()
    words = shlex.split(line)
    k.run(words[1:] if words[:1] == ["kubectl"] else words)
    return k.lines


def test_get_prints_kubectl_columns_and_names(kubectl):
    out = run(kubectl, "kubectl get deploy")[0].splitlines()
    assert out[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert out[1].split()[0] == "web"
    assert run(kubectl, "kubectl get deploy -o name") == ["deployment.apps/web"]
    assert run(kubectl, "kubectl get pods") == ["No resources found in default namespace."]
    assert "kind: Deployment" in run(kubectl, "kubectl get deploy web -o yaml")[0]


def test_scale_and_rollout_restart_change_the_object(kubectl):
    assert run(kubectl, "kubectl scale deploy web --replicas=5") == \
        ["deployment.apps/web scaled"]
    obj = kubectl.store.get("Deployment", "default", "web")
    assert obj["spec"]["replicas"] == 5 and obj["metadata"]["generation"] == 2
    assert run(kubectl, "kubectl rollout restart deployment/web") == \
        ["deployment.apps/web restarted"]
    template = kubectl.store.get("Deployment", "default", "web")["spec"]["template"]
    assert RESTARTED_AT in template["metadata"]["annotations"]


def test_create_service_and_run_make_objects(kubectl):
    assert run(kubectl, "kubectl create service nodeport web --tcp=80:8080 "
                        "--node-port=30080") == ["service/web created"]
    svc = kubectl.store.get("Service", "default", "web")
    assert svc["spec"]["ports"][0] == {"name": "80-8080", "port": 80, "targetPort": 8080,
                                       "protocol": "TCP", "nodePort": 30080}
    assert svc["spec"]["selector"] == {"app": "web"}
    assert run(kubectl, "kubectl run box --image=busybox --labels=a=b -- sleep 1") == \
        ["pod/box created"]
    pod = kubectl.store.get("Pod", "default", "box")
    assert pod["metadata"]["labels"] == {"run": "box", "a": "b"}
    assert pod["spec"]["containers"][0]["command"] == ["sleep", "1"]


def test_node_port_conflict_names_the_port_index(kubectl):
    run(kubectl, "kubectl create service nodeport a --tcp=80 --node-port=30090")
    with pytest.raises(K8snetError) as info:
        run(kubectl, "kubectl create service nodeport b --tcp=80 --node-port=30090")
    assert 'The Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 30090: ' \
        "provided port is already allocated" in str(info.value)
    assert kubectl.store.find("Service", "default", "b") is None


def test_label_and_wait(kubectl):
    assert run(kubectl, "kubectl label deploy web tier=front") == ["deployment.apps/web labeled"]
    assert kubectl.store.get("Deployment", "default", "web")["metadata"]["labels"] == \
        {"tier": "front"}
    with pytest.raises(K8snetError, match="timed out waiting for the condition"):
        run(kubectl, "kubectl wait --for=condition=Available deploy/web --timeout=0.2s")


def test_delete_says_deleted_or_not_found(kubectl):
    assert run(kubectl, "kubectl delete deploy web nope") == [
        'deployment.apps "web" deleted',
        'Error from server (NotFound): deployments.apps "nope" not found']
    assert run(kubectl, "kubectl delete ns default") == [
        'Error from server (Forbidden): namespaces "default" is forbidden: this namespace '
        "may not be deleted"]


MALFORMED = [
    "", "get", "get pods -n", "get pods -o", "get pods -o bogus", "get nosuchkind",
    "get pods -l 'a in (b'", "get pod/nonexistent", "logs", "logs -c", "exec", "exec x",
    "exec x --", "apply", "apply -f", "apply -f /nonexistent.yaml", "delete", "delete pod",
    "scale", "scale deploy nosuch --replicas=2",
    "scale deploy web --replicas=-1", "scale deploy web --replicas=abc", "scale pod x --replicas=1",
    "rollout", "rollout restart", "rollout undo deploy/web", "rollout status deploy/nosuch",
    "create", "create service", "create service bogus x --tcp=80",
    "create service clusterip x --tcp=abc", "create deployment", "run", "run x --port=abc",
    "run Bad_Name", "run y --labels=novalue", "wait", "wait --for=bogus deploy/web --timeout=0.1s",
    "label deploy web", "frobnicate", "events -n", "logs x --tail=abc",
    "create service nodeport np --tcp=80 --node-port=99999",
]


@pytest.mark.parametrize("line", MALFORMED)
def test_malformed_lines_are_one_error(kubectl, line):
    with pytest.raises(K8snetError) as info:
        kubectl.run(shlex.split(line))
    assert str(info.value).strip() and "\n" not in str(info.value).strip()
