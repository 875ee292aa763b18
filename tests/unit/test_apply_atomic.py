"""A failed apply leaves the store exactly as it was (issue 13, atomic apply).

A manifest that creates some objects and replaces others (a Service whose
ports change, an Ingress whose rules change, a scaled Deployment) is applied
with a failure injected at each write in turn: a refusal (StatusError) or a
crash (RuntimeError) of the k-th create/update.  Whatever k, every object,
resourceVersion and allocation is as before, and no watcher saw an event.
The data plane is driven only by those events (controllers and node agents
watch the store), so it cannot have moved either: the live check is in
tests/integration/test_apply_rollback_live.py.
"""
from __future__ import annotations

import copy

import pytest

from k8snet.apiserver import apply
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.errors import StatusError
from k8snet.load.documents import parse_text

BEFORE = """
apiVersion: v1
kind: Service
metadata: {name: web, labels: {tier: front}}
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
    spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 8080}]}]}
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
""" + "---" + BEFORE.replace("targetPort: 8080}]", "targetPort: 9090}, "
                                               "{name: admin, port: 81}]") \
    .replace("host: web.example", "host: shop.example") \
    .replace("replicas: 2", "replicas: 5") + """---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  type: LoadBalancer
  selector: {app: api}
  ports: [{port: 443, targetPort: 8443}]
"""
WRITES = 6          # Namespace, ConfigMap, Service, Ingress, Deployment, Service (api)


@pytest.fixture
def store():
    by_kind, default = strategies("10.96.0.0/12")
    s = Store(by_kind, default_strategy=default)
    s.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    apply.apply(s, parse_text(BEFORE, "before.yaml"))
    return s


def snapshot(store: Store) -> dict:
    return {kind: copy.deepcopy(store.list(kind)) for kind in sorted(store.kinds())}


def fail_at(monkeypatch, store: Store, k: int, error: Exception) -> list[str]:
    """Make the k-th write (create or update, counted from 1) raise ``error``."""
    calls: list[str] = []
    for verb in ("create", "update"):
        real = getattr(store, verb)

        def write(obj, dry_run=False, _real=real, _verb=verb):
            calls.append(f"{_verb} {obj['kind']}/{obj['metadata'].get('name')}")
            if len(calls) == k:
                raise error
            return _real(obj, dry_run=dry_run)
        monkeypatch.setattr(store, verb, write)
    return calls


def test_the_manifest_applies_when_nothing_fails(store):
    lines = apply.apply(store, parse_text(AFTER, "after.yaml")).lines
    assert lines == ["namespace/shop created", "configmap/settings created",
                     "service/web configured", "ingress.networking.k8s.io/web configured",
                     "deployment.apps/web configured", "service/api created"]
    assert [p["port"] for p in store.get("Service", "default", "web")["spec"]["ports"]] == \
        [80, 81]


@pytest.mark.parametrize("k", range(1, WRITES + 1))
@pytest.mark.parametrize("error", [StatusError("injected refusal"),
                                   RuntimeError("injected crash")],
                         ids=["refused", "crashed"])
def test_a_failure_at_any_write_leaves_everything_as_before(store, monkeypatch, k, error):
    before = snapshot(store)
    watch = store.watch()
    rv = store.rv
    calls = fail_at(monkeypatch, store, k, error)
    with pytest.raises(apply.ApplyError) as info:
        apply.apply(store, parse_text(AFTER, "after.yaml"))
    assert "injected" in str(info.value)
    if isinstance(error, RuntimeError):         # a bug is reported, not a traceback
        assert "Internal error occurred: RuntimeError: injected crash" in str(info.value)
    assert len(calls) >= k                      # the failure really happened at write k
    monkeypatch.undo()
    assert snapshot(store) == before            # objects, resourceVersions, allocations
    assert watch.get(timeout=0.05) is None      # no watcher saw anything
    # The allocators see the store as it was: the ClusterIP and NodePort the
    # failed apply took are free again, and the next write continues from rv.
    web = store.get("Service", "default", "web")
    assert len(web["spec"]["ports"]) == 1
    created = store.create({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "after", "namespace": "default"}})
    assert int(created["metadata"]["resourceVersion"]) > rv


def test_a_refusal_reports_every_cause_and_the_document(store, monkeypatch):
    fail_at(monkeypatch, store, 3, StatusError('The Service "web" is invalid: injected'))
    with pytest.raises(apply.ApplyError) as info:
        apply.apply(store, parse_text(AFTER, "after.yaml"))
    assert 'after.yaml:' in str(info.value) and "document 3" in str(info.value)
