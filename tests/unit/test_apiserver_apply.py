"""kubectl apply against the store: verbs, all or nothing with every cause,
allocations kept on update, -n, immutable fields."""
from __future__ import annotations

import pytest

from k8snet.apiserver import apply
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.load.documents import ManifestError, parse_text

SVC = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""
DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: x}]}
"""


@pytest.fixture
def store():
    by_kind, default = strategies("10.96.0.0/12")
    s = Store(by_kind, default_strategy=default)
    s.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    return s


def do(store, text, namespace=None):
    return apply.apply(store, parse_text(text, "t.yaml"), namespace).lines


def test_created_unchanged_configured(store):
    assert do(store, SVC + "---" + DEPLOY) == ["service/web created",
                                               "deployment.apps/web created"]
    assert do(store, SVC + "---" + DEPLOY) == ["service/web unchanged",
                                               "deployment.apps/web unchanged"]
    assert do(store, DEPLOY.replace("replicas: 2", "replicas: 3")) == \
        ["deployment.apps/web configured"]
    assert store.get("Deployment", "default", "web")["metadata"]["generation"] == 2


def test_update_keeps_cluster_ip_and_node_port(store):
    do(store, SVC)
    before = store.get("Service", "default", "web")["spec"]
    do(store, SVC.replace("targetPort: 8080", "targetPort: 9090"))
    after = store.get("Service", "default", "web")["spec"]
    assert after["clusterIP"] == before["clusterIP"]
    assert after["ports"][0]["nodePort"] == before["ports"][0]["nodePort"]
    assert after["ports"][0]["targetPort"] == 9090


def test_all_or_nothing_with_every_cause(store):
    bad = (SVC + "---\n" + SVC.replace("name: web}", "name: web2}")
           .replace("name: http, ", "") .replace("ports: [", "ports: [{port: 81}, ")
           + "---\n" + DEPLOY.replace("replicas: 2", "replicas: -1"))
    with pytest.raises(apply.ApplyError) as info:
        do(store, bad)
    text = str(info.value)
    # located at the first cause's field (spec.ports[0]), not the document's first line
    assert 't.yaml:17: document 2: The Service "web2" is invalid: [spec.ports[0].name: ' \
        "Required value, spec.ports[1].name: Required value]" in text
    assert 'The Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: ' \
        "must be greater than or equal to 0" in text
    assert store.list("Service") == [] and store.list("Deployment") == []


def test_namespace_flag_fills_or_refuses(store):
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    do(store, SVC, namespace="shop")
    assert store.find("Service", "shop", "web") is not None
    with pytest.raises(apply.ApplyError, match="does not match the namespace"):
        do(store, SVC.replace("{name: web}", "{name: web, namespace: shop}"), "other")


def test_unknown_kinds_are_stored_with_a_note(store):
    text = ("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app}\n---\n"
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n")
    done = apply.apply(store, parse_text(text, "t.yaml"))
    assert done.lines == ["serviceaccount/app created", "widget.example.com/w created"]
    assert done.notes == ["note: ServiceAccount, Widget stored and listed; no effect in k8snet"]
    assert store.get("Widget", "default", "w")["spec"] == {"size": 3}


def test_unknown_kind_in_a_builtin_group_is_refused(store):
    with pytest.raises(apply.ApplyError,
                       match='t.yaml:1: document 1: no matches for kind "Pdo" in version "v1"'):
        do(store, "apiVersion: v1\nkind: Pdo\nmetadata: {name: x}\n")
    assert store.kinds() == ["Namespace"]


def test_reapply_keeps_what_others_set_and_drops_what_the_manifest_dropped(store):
    labelled = DEPLOY.replace("metadata: {name: web}",
                              "metadata: {name: web, labels: {tier: a, old: x}}")
    do(store, labelled)
    store.mutate("Deployment", "default", "web", lambda o: o["metadata"]["annotations"]
                 .__setitem__("deployment.kubernetes.io/revision", "1"))
    assert do(store, labelled) == ["deployment.apps/web unchanged"]
    assert do(store, labelled.replace(", old: x", "")) == ["deployment.apps/web configured"]
    meta = store.get("Deployment", "default", "web")["metadata"]
    assert meta["labels"] == {"tier": "a"}
    assert meta["annotations"]["deployment.kubernetes.io/revision"] == "1"


def test_pod_spec_is_immutable(store):
    pod = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
           "spec: {containers: [{name: c, image: x}]}\n")
    do(store, pod)
    with pytest.raises(apply.ApplyError, match="pod updates may not change fields"):
        do(store, pod.replace("{name: c, image: x}", "{name: c, image: x, command: [sleep, '1']}"))


def test_selector_is_immutable(store):
    do(store, DEPLOY)
    changed = DEPLOY.replace("{app: web}", "{app: web2}")
    with pytest.raises(apply.ApplyError, match="spec.selector: .*field is immutable"):
        do(store, changed)


def test_malformed_yaml_names_the_line():
    with pytest.raises(ManifestError, match=r"t.yaml:4: document 1: malformed YAML"):
        parse_text("apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n", "t.yaml")


def test_every_missing_field_at_once():
    with pytest.raises(ManifestError) as info:
        parse_text("metadata: {}\n---\n- a\n", "t.yaml")
    text = str(info.value)
    assert "apiVersion not set" in text and "kind not set" in text
    assert "metadata.name: Required value" in text and "got list" in text
