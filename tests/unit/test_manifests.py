"""Tests for k8snet.load.manifests: real manifests load, bad ones fail in one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from k8snet.api.model import Node
from k8snet.errors import K8snetError
from k8snet.load.manifests import (
    ALPHANUMS,
    ManifestError,
    Probe,
    expand,
    load_paths,
    parse_documents,
)

# A copy of ../shared/testdata/guestbook-all-in-one.yaml, unchanged, so CI finds it.
GUESTBOOK = Path(__file__).resolve().parents[1] / "testdata" / "guestbook-all-in-one.yaml"

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - containerPort: 80
          name: http
"""


def error(text: str, source: str = "app.yaml", **kwargs) -> str:
    with pytest.raises(ManifestError) as info:
        parse_documents(text, source, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, K8snetError)
    assert "\n" not in message, message
    assert message.startswith(f"{source}:"), message
    assert "document " in message, message
    return message


def one(text: str, **kwargs):
    return parse_documents(text, "app.yaml", **kwargs)


# --- the guestbook, unchanged ---------------------------------------------------------

def test_guestbook_parses_unchanged():
    assert GUESTBOOK.is_file(), GUESTBOOK
    ms = load_paths([str(GUESTBOOK)])
    assert [(w.kind, w.name, w.replicas) for w in ms.workloads] == [
        ("Deployment", "redis-master", 1), ("Deployment", "redis-replica", 2),
        ("Deployment", "frontend", 3)]
    assert [s.name for s in ms.services] == ["redis-master", "redis-replica", "frontend"]
    assert ms.services[2].type == "NodePort"
    assert ms.pods == [] and ms.ingresses == [] and ms.namespaces == []
    assert [d.index for d in ms.documents] == [1, 2, 3, 4, 5, 6]
    pods = [p for w in ms.workloads for p in expand(w)]
    assert len(pods) == 6
    assert len({p.name for p in pods}) == 6
    for w in ms.workloads:
        assert set(w.selector) <= set(w.template.labels)
        for p in expand(w):
            assert re.fullmatch(rf"{w.name}-{w.template_hash}-[{ALPHANUMS}]{{5}}", p.name)
            assert set(w.selector) <= set(p.pod.labels)
            assert dict(p.pod.labels)["pod-template-hash"] == w.template_hash
            assert p.owner == f"Deployment/{w.name}"
            assert p.pod.namespace == "default"
    # every service selects the pods of its deployment
    for svc, w in zip(ms.services, ms.workloads, strict=True):
        assert all(set(svc.selector) <= set(p.pod.labels) for p in expand(w))
    frontend = ms.workloads[2].template.containers[0]
    assert frontend.env == (("GET_HOSTS_FROM", "dns"),)
    assert frontend.ports[0].container_port == 80
    assert ms.documents[1].ignored == ["spec.template.spec.containers[0].resources"]
    summary = ms.ignored_summary()
    assert "\n" not in summary
    assert summary.count("spec.template.spec.containers[0].resources") == 1
    assert "Deployment/frontend" in summary


def test_template_hash_is_stable_and_depends_on_the_template():
    a = one(DEPLOY).workloads[0]
    b = one(DEPLOY).workloads[0]
    c = one(DEPLOY.replace("image: nginx", "image: httpd")).workloads[0]
    d = one(DEPLOY.replace("replicas: 2", "replicas: 5")).workloads[0]
    assert a.template_hash == b.template_hash == d.template_hash
    assert a.template_hash != c.template_hash
    assert 1 <= len(a.template_hash) <= 10
    assert set(a.template_hash) <= set(ALPHANUMS)


# --- kinds ------------------------------------------------------------------------

def test_all_kinds_and_namespaces():
    text = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {role: client}}
spec:
  nodeName: node2
  enableServiceLinks: false
  containers:
  - name: c
    command: [sleep, infinity]
    env: [{name: A, value: "1"}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432, name: pg}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: pg, ports: [{containerPort: 5432}]}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: shop}
spec:
  replicas: 2
  selector:
    matchExpressions: [{key: app, operator: In, values: [rs, other]}]
  template:
    metadata: {labels: {app: rs}}
    spec: {containers: [{name: c}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {disk: ssd}
      containers: [{name: agent}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  ingressClassName: nginx
  rules:
  - host: shop.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: db, port: {number: 5432}}}
"""
    ms = one(text)
    assert [(n.name, n.labels) for n in ms.namespaces] == [("shop", (("team", "a"),))]
    assert [d.index for d in ms.documents] == [1, 3, 4, 5, 6, 7, 8]   # 2 is empty
    (client,) = ms.pods
    assert client.pod.key == "shop/client" and client.pod.node_name == "node2"
    assert client.enable_service_links is False and client.owner == ""
    assert client.env == {"c": (("A", "1"),)}
    assert ms.services[0].headless and ms.services[0].namespace == "shop"
    sts, rs, ds = ms.workloads
    assert (sts.kind, sts.service_name, sts.replicas) == ("StatefulSet", "db", 3)
    assert rs.match_expressions == (("app", "In", ("rs", "other")),)
    assert ds.replicas == 0 and ds.namespace == "kube-system"
    assert ms.ingresses[0].key == "shop/web"
    assert ms.ingresses[0].rules[0].paths[0].backend.port == 5432
    assert ms.documents[-1].ignored == ["spec.ingressClassName"]


def test_default_namespace_and_mismatch():
    ms = one(DEPLOY, namespace="team-a")
    assert ms.workloads[0].namespace == "team-a"
    text = DEPLOY.replace("  name: web\n", "  name: web\n  namespace: other\n")
    msg = error(text, namespace="team-a")
    assert 'the namespace from the provided object "other" does not match the namespace ' \
           '"team-a"' in msg


# --- probes, pod fields, ignored ------------------------------------------------------

def test_readiness_probes_and_pod_fields():
    text = DEPLOY.replace("""          name: http
""", """          name: http
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          initialDelaySeconds: 2
          periodSeconds: 3
      - name: side
        readinessProbe:
          tcpSocket: {port: 9000}
      - name: cli
        readinessProbe:
          exec: {command: [cat, /tmp/ready]}
      hostname: h
      subdomain: sub
      nodeSelector: {disk: ssd}
""")
    tmpl = one(text).workloads[0].template
    probes = dict(tmpl.readiness)
    assert probes["web"] == Probe(handler="httpGet", port="http", path="/healthz",
                                  initial_delay_seconds=2, period_seconds=3)
    assert probes["web"].resolved_port(tmpl.containers[0]) == 80
    assert probes["side"] == Probe(handler="tcpSocket", port=9000)
    assert probes["cli"].command == ("cat", "/tmp/ready")
    assert probes["cli"].period_seconds == 10 and probes["cli"].failure_threshold == 3
    assert (tmpl.hostname, tmpl.subdomain, tmpl.node_selector) == ("h", "sub",
                                                                    (("disk", "ssd"),))
    assert tmpl.enable_service_links is True
    pod = expand(one(text).workloads[0])[0]
    assert pod.probe("web") == probes["web"] and pod.probe("nope") is None
    assert (pod.hostname, pod.subdomain) == ("h", "sub")
    assert pod.node_selector == (("disk", "ssd"),)


@pytest.mark.parametrize("probe, field, wording", [
    ("{periodSeconds: 3}", "readinessProbe", "Required value: must specify a handler type"),
    ("{exec: {command: [x]}, tcpSocket: {port: 1}}", "readinessProbe.tcpSocket",
     "Forbidden: may not specify more than 1 handler type"),
    ("{httpGet: {port: 0}}", "readinessProbe.httpGet.port",
     "Invalid value: 0: must be between 1 and 65535, inclusive"),
    ("{httpGet: {path: /}}", "readinessProbe.httpGet.port", "Required value"),
    ("{tcpSocket: {port: Bad_Name}}", "readinessProbe.tcpSocket.port",
     'Invalid value: "Bad_Name"'),
    ("{exec: {}}", "readinessProbe.exec.command", "Required value"),
    ("{tcpSocket: {port: 80}, initialDelaySeconds: -1}",
     "readinessProbe.initialDelaySeconds",
     "Invalid value: -1: must be greater than or equal to 0"),
])
def test_bad_probes(probe, field, wording):
    text = DEPLOY.replace("          name: http\n",
                          f"          name: http\n        readinessProbe: {probe}\n")
    msg = error(text)
    assert f"spec.template.spec.containers[0].{field}: {wording}" in msg, msg


def test_meaningless_fields_are_listed_not_errors():
    text = DEPLOY.replace("""          name: http
""", """          name: http
          hostPort: 8080
        imagePullPolicy: Always
        resources: {limits: {cpu: 1}}
        volumeMounts: [{name: v, mountPath: /v}]
        securityContext: {runAsUser: 1000}
        livenessProbe: {tcpSocket: {port: 80}}
        env:
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
      volumes: [{name: v, emptyDir: {}}]
      serviceAccountName: sa
      tolerations: []
      affinity: {}
  strategy: {type: Recreate}
""")
    ms = one(text.replace("metadata:\n  name: web\n",
                          "metadata:\n  name: web\n  annotations: {a: b}\n"))
    c = "spec.template.spec.containers[0]"
    assert sorted(ms.documents[0].ignored) == sorted([
        "spec.strategy",
        f"{c}.imagePullPolicy", f"{c}.resources", f"{c}.volumeMounts",
        f"{c}.securityContext", f"{c}.livenessProbe", f"{c}.ports[0].hostPort",
        f"{c}.env[0].valueFrom",
        "spec.template.spec.volumes", "spec.template.spec.serviceAccountName",
        "spec.template.spec.tolerations", "spec.template.spec.affinity"])
    assert ms.ignored[0] == "Deployment/web: spec.strategy"
    assert ms.workloads[0].template.containers[0].env == (("POD_IP", ""),)
    assert one(DEPLOY).ignored_summary() == ""


# --- bad input: one line, naming file, document and field ------------------------------

def test_malformed_yaml_names_the_line():
    msg = error(DEPLOY + "---\nkind: Service\nspec: [a, b\n")
    assert msg.startswith("app.yaml:24: document 2: malformed YAML: expected ',' or ']'"), msg


def test_duplicate_yaml_key():
    msg = error(DEPLOY.replace("  replicas: 2\n", "  replicas: 2\n  replicas: 3\n"))
    assert msg == ('app.yaml:7: document 1: malformed YAML: mapping key "replicas" already '
                   "defined at line 6")


@pytest.mark.parametrize("api, kind, wording", [
    ("apps/v1", "Deploymnet", 'no matches for kind "Deploymnet" in version "apps/v1"'),
    ("apps/v1beta2", "Deployment", 'no matches for kind "Deployment" in version '
     '"apps/v1beta2"'),
    ("extensions/v1beta1", "Ingress", 'no matches for kind "Ingress" in version '
     '"extensions/v1beta1"'),
    ("v1", "ConfigMap", 'no matches for kind "ConfigMap" in version "v1"'),
])
def test_unknown_kind_or_version(api, kind, wording):
    msg = error(f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: x}}\n")
    assert msg.startswith("app.yaml:2: document 1: kind: " + wording), msg


def test_missing_api_version_and_kind():
    assert "error validating data: [apiVersion not set, kind not set]" in \
        error("metadata: {name: x}\n")
    assert "document 1: expected a mapping" in error("- a\n- b\n")


def test_missing_name():
    msg = error(DEPLOY.replace("  name: web\n", "  labels: {a: b}\n"))
    assert msg == ('app.yaml:3: document 1: Deployment.apps "" is invalid: metadata.name: '
                   "Required value: name or generateName is required")
    assert "cannot use generate name" in error(
        DEPLOY.replace("  name: web\n", "  generateName: web-\n"))


@pytest.mark.parametrize("text, field, value", [
    (DEPLOY.replace("name: web\nspec", "name: Web\nspec"), "metadata.name", '"Web"'),
    (DEPLOY.replace("name: web\nspec", "name: web_1\nspec"), "metadata.name", '"web_1"'),
    (DEPLOY.replace("name: web\nspec", "name: web\n  namespace: a.b\nspec"),
     "metadata.namespace", '"a.b"'),
    ("apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n", "metadata.name", '"a.b"'),
    (DEPLOY.replace("Deployment", "StatefulSet").replace("name: web\nspec",
                                                         "name: db.v1\nspec"),
     "metadata.name", '"db.v1"'),
])
def test_invalid_dns_names(text, field, value):
    msg = error(text)
    assert f"{field}: Invalid value: {value}: a lowercase RFC 1123" in msg, msg


def test_long_name():
    msg = error(DEPLOY.replace("name: web\nspec", f"name: {'a' * 254}\nspec"))
    assert "metadata.name: Invalid value" in msg and "no more than 253 characters" in msg


def test_invalid_service_uses_the_api_wording():
    msg = error("apiVersion: v1\nkind: Service\nmetadata: {name: 1db}\n"
                "spec:\n  ports: [{port: 80}]\n")
    assert msg == ('app.yaml:3: document 1: Service "1db" is invalid: metadata.name: '
                   "must be a DNS-1035 label")
    msg = error("apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n"
                "  ports:\n  - {port: 80, name: a}\n  - {port: 70000, name: b}\n")
    assert msg == ('app.yaml:7: document 1: Service "db" is invalid: spec.ports[1].port: '
                   "Invalid value: 70000")


def test_duplicates_across_documents_and_files(tmp_path):
    (tmp_path / "a.yaml").write_text(DEPLOY)
    (tmp_path / "b.yml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n"
        "  ports: [{port: 80}]\n---\n" + DEPLOY)
    (tmp_path / "notes.txt").write_text("not yaml: [")
    with pytest.raises(ManifestError) as info:
        load_paths([str(tmp_path)])
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'b.yml'}:10: document 2: Deployment.apps \"web\" "
                          'is invalid: metadata.name: Duplicate value: "web": '
                          'deployments.apps "web" already exists in namespace default'), msg
    assert f"{tmp_path / 'a.yaml'} document 1" in msg
    # same name, other kind or namespace: fine
    other = DEPLOY.replace("name: web\nspec", "name: web\n  namespace: b\nspec")
    assert len(one(DEPLOY + "---\n" + other).workloads) == 2


def test_directory_is_sorted_and_other_files_skipped(tmp_path):
    (tmp_path / "b.yaml").write_text(DEPLOY.replace("name: web\nspec", "name: b\nspec"))
    (tmp_path / "a.yml").write_text(DEPLOY.replace("name: web\nspec", "name: a\nspec"))
    (tmp_path / "readme.md").write_text("# hi")
    ms = load_paths([str(tmp_path)])
    assert [w.name for w in ms.workloads] == ["a", "b"]
    with pytest.raises(ManifestError, match="does not exist"):
        load_paths([str(tmp_path / "nope.yaml")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ManifestError, match="no \\*.yaml or \\*.yml files"):
        load_paths([str(empty)])


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"])
def test_selector_must_match_template_labels(kind):
    text = DEPLOY.replace("Deployment", kind).replace(
        "        app: web\n    spec", "        app: api\n        tier: x\n    spec")
    msg = error(text)
    assert msg == (f'app.yaml:12: document 1: {kind}.apps "web" is invalid: '
                   'spec.template.metadata.labels: Invalid value: map[string]string'
                   '{"app":"api", "tier":"x"}: `selector` does not match template '
                   '`labels`'), msg


def test_selector_expressions_are_checked():
    text = DEPLOY.replace("    matchLabels:\n      app: web\n",
                          "    matchExpressions: [{key: app, operator: NotIn, "
                          "values: [web]}]\n")
    assert "`selector` does not match template `labels`" in error(text)


def test_selector_required_and_not_empty():
    no_selector = DEPLOY.replace("  selector:\n    matchLabels:\n      app: web\n", "")
    assert "spec.selector: Required value" in error(no_selector)
    empty = DEPLOY.replace("    matchLabels:\n      app: web\n", "    matchLabels: {}\n")
    assert "spec.selector: Invalid value: {}: empty selector is invalid for deployment" \
        in error(empty)


def test_replicas():
    msg = error(DEPLOY.replace("replicas: 2", "replicas: -1"))
    assert msg == ('app.yaml:6: document 1: Deployment.apps "web" is invalid: '
                   "spec.replicas: Invalid value: -1: must be greater than or equal to 0")
    assert 'spec.replicas: Invalid value: "3": must be an integer' in \
        error(DEPLOY.replace("replicas: 2", 'replicas: "3"'))
    assert one(DEPLOY.replace("  replicas: 2\n", "")).workloads[0].replicas == 1
    assert expand(one(DEPLOY.replace("replicas: 2", "replicas: 0")).workloads[0]) == []


def test_container_errors_name_the_field():
    msg = error(DEPLOY.replace("- name: web\n", "- name: Web\n"))
    assert "spec.template.spec.containers[0].name: 'Web' is not a DNS-1123 label" in msg
    msg = error(DEPLOY.replace("containerPort: 80", "containerPort: 0"))
    assert msg.startswith("app.yaml:16: document 1:"), msg
    assert "containers[0].ports[0].containerPort" in msg
    two = DEPLOY.replace("      containers:\n", "      containers:\n      - name: web\n")
    assert 'containers[1].name: Duplicate value: "web"' in error(two)
    assert "spec.template.spec.containers: Required value" in error(
        DEPLOY.replace("      containers:\n", "      containerz:\n"))
    assert 'metadata.labels.app: Invalid value: "bad value"' in error(
        DEPLOY.replace("        app: web\n    spec", "        app: bad value\n    spec"))


# --- expand ------------------------------------------------------------------------

def test_expand_deployment_is_deterministic_per_counter():
    w = one(DEPLOY).workloads[0]
    first = [p.name for p in expand(w, counter=0)]
    assert first == [p.name for p in expand(w, counter=0)]
    assert first != [p.name for p in expand(w, counter=1)]
    avoided = [p.name for p in expand(w, existing_names={first[0]}, counter=0)]
    assert first[0] not in avoided and len(set(avoided)) == 2
    keyed = [p.name for p in expand(w, existing_names={f"default/{first[0]}"}, counter=0)]
    assert first[0] not in keyed


def test_expand_replicaset_and_long_names():
    text = DEPLOY.replace("Deployment", "ReplicaSet")
    pods = expand(one(text).workloads[0])
    assert all(re.fullmatch(rf"web-[{ALPHANUMS}]{{5}}", p.name) for p in pods)
    assert all("pod-template-hash" not in dict(p.pod.labels) for p in pods)
    long = one(text.replace("name: web\nspec", f"name: {'a' * 70}\nspec")).workloads[0]
    (name,) = {len(p.name) for p in expand(long)}
    assert name == 63


def test_expand_statefulset():
    text = DEPLOY.replace("Deployment", "StatefulSet").replace(
        "  replicas: 2\n", "  replicas: 3\n  serviceName: web-hl\n")
    w = one(text).workloads[0]
    pods = expand(w)
    assert [p.name for p in pods] == ["web-0", "web-1", "web-2"]
    assert all(p.hostname == p.name and p.subdomain == "web-hl" for p in pods)
    assert all(p.pod.hostname == p.name for p in pods)
    assert dict(pods[1].pod.labels)["statefulset.kubernetes.io/pod-name"] == "web-1"
    assert dict(pods[1].pod.labels)["apps.kubernetes.io/pod-index"] == "1"
    with pytest.raises(ManifestError, match='pod "web-1" already exists'):
        expand(w, existing_names={"web-1"})


def test_expand_daemonset_one_pod_per_matching_node():
    text = DEPLOY.replace("Deployment", "DaemonSet").replace("  replicas: 2\n", "")
    w = one(text).workloads[0]
    nodes = [Node("node1", 1, "172.18.0.11", "10.244.1.0/24", (("disk", "ssd"),)),
             Node("node2", 2, "172.18.0.12", "10.244.2.0/24"), "node3"]
    pods = expand(w, nodes=nodes)
    assert [p.pod.node_name for p in pods] == ["node1", "node2", "node3"]
    assert all(re.fullmatch(rf"web-[{ALPHANUMS}]{{5}}", p.name) for p in pods)
    assert len({p.name for p in pods}) == 3
    assert expand(w) == []
    picky = one(text.replace("      containers:\n",
                             "      nodeSelector: {disk: ssd}\n      containers:\n"))
    assert [p.pod.node_name for p in expand(picky.workloads[0], nodes=nodes)] == ["node1"]
    by_host = one(text.replace(
        "      containers:\n",
        "      nodeSelector: {kubernetes.io/hostname: node3}\n      containers:\n"))
    assert [p.pod.node_name for p in expand(by_host.workloads[0], nodes=nodes)] == ["node3"]
