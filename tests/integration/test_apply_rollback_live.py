"""A failed apply leaves the data plane exactly as before (issue 13, item 5).

On a live cluster, a manifest that replaces a Service (its ports), an
Ingress (its host) and a Deployment (its replicas) and creates a Namespace,
a ConfigMap and a LoadBalancer Service is applied with a failure injected at
each write in turn.  After every attempt: the stored objects are identical,
every node's kproxy rules and the ingress nginx.conf are byte for byte what
they were, the new Service's name does not resolve, and the old Service
still answers.  The store-level proof over every write is
tests/unit/test_apply_atomic.py; this shows nothing downstream moved.
"""
from __future__ import annotations

import copy
import time

import pytest
from conftest import apply_yaml, in_pod, rules, settle, wait_for

from k8snet.apiserver import apply
from k8snet.errors import StatusError
from k8snet.load.documents import parse_text

BEFORE = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: web.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: registry.k8s.io/e2e-test-images/agnhost:2.47
        args: [netexec, --http-port=8080]
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {containers: [{name: c, image: busybox, command: [sleep, infinity]}]}
"""
AFTER = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: blue}
---
""" + BEFORE.split("---\napiVersion: v1\nkind: Pod")[0] \
    .replace("targetPort: 8080}]", "targetPort: 9090}, {name: admin, port: 81}]") \
    .replace("host: web.example", "host: shop.example") \
    .replace("replicas: 2", "replicas: 3") + """---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 443, targetPort: 8080}]
"""
WRITES = 6


def _stored(cluster) -> dict:
    store = cluster.store
    return {kind: copy.deepcopy(store.list(kind)) for kind in sorted(store.kinds())
            if kind not in ("Event", "Lease")}      # heartbeats and events move on their own


def _data_plane(cluster) -> dict:
    conf = cluster.rundir.path / "ingress" / "nginx.conf"
    return {"rules": {node: rules(cluster, node) for node in sorted(cluster.proxies)},
            "nginx.conf": conf.read_text() if conf.exists() else None}


def _answers(cluster) -> bool:
    ip = cluster.store.get("Service", "default", "web")["spec"]["clusterIP"]
    return in_pod(cluster, "client", f"curl -s --max-time 2 http://{ip}/hostname",
                  namespace="default").stdout.startswith("web-")


@pytest.fixture(scope="module")
def lab(empty_cluster):
    apply_yaml(empty_cluster, BEFORE)
    settle(empty_cluster)
    wait_for(lambda: _answers(empty_cluster), 20, "the web Service answering")
    return empty_cluster


@pytest.mark.parametrize("k", range(1, WRITES + 1))
def test_a_failed_apply_moves_nothing_downstream(lab, monkeypatch, k):
    objects, plane = _stored(lab), _data_plane(lab)
    calls = []
    for verb in ("create", "update"):
        real = getattr(lab.store, verb)

        def write(obj, dry_run=False, _real=real):
            calls.append(obj["kind"])
            if len(calls) == k:
                raise StatusError(f"injected at write {k}")
            return _real(obj, dry_run=dry_run)
        monkeypatch.setattr(lab.store, verb, write)
    with pytest.raises(apply.ApplyError, match=f"injected at write {k}"):
        apply.apply(lab.store, parse_text(AFTER, "after.yaml"))
    monkeypatch.undo()
    time.sleep(0.5)                     # what a change would need to reach the nodes
    assert _stored(lab) == objects
    assert _data_plane(lab) == plane
    missing = in_pod(lab, "client", "getent hosts api.default.svc.cluster.local",
                     namespace="default")
    assert missing.returncode != 0 and not missing.stdout
    assert _answers(lab)


def test_the_same_manifest_applies_and_moves_the_data_plane(lab):
    plane = _data_plane(lab)
    lines = apply.apply(lab.store, parse_text(AFTER, "after.yaml")).lines
    assert "service/api created" in lines and "service/web configured" in lines
    wait_for(lambda: _data_plane(lab) != plane, 10, "the data plane following the apply")
    # kproxy's rules and nginx.conf follow on their own clocks: wait for both
    wait_for(lambda: "shop.example" in (_data_plane(lab)["nginx.conf"] or ""), 10,
             "nginx.conf following the Ingress")
