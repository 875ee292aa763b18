"""k8snet.api.podnames: what a pod name typed at the CLI means, from a pod's
namespace: a Service's name is the resolver's, the own namespace first, a
name in several other namespaces is nobody's."""
from __future__ import annotations

import pytest
from control_helpers import api_store

from k8snet.api.podnames import AmbiguousPodName, pod_ips, pod_named


def _pod(store, ns: str, name: str, ip: str) -> None:
    if store.find("Namespace", "", ns) is None:
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                  "spec": {"containers": [{"name": "c", "image": "x"}]}})
    store.mutate("Pod", ns, name, lambda p: p.setdefault("status", {}).update(podIP=ip))


@pytest.fixture
def store():
    s = api_store()
    for ns, name, ip in (("default", "nginx", "10.244.1.2"), ("default", "client", "10.244.1.3"),
                         ("x", "a", "10.244.1.4"), ("x", "b", "10.244.1.5"),
                         ("y", "b", "10.244.2.5"), ("z", "b", "10.244.3.5"),
                         ("z", "solo", "10.244.3.6")):
        _pod(s, ns, name, ip)
    s.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nginx",
              "namespace": "default"}, "spec": {"selector": {"run": "nginx"},
                                                "ports": [{"port": 80}]}})
    return s


def test_a_service_of_the_same_name_is_left_to_the_resolver(store):
    assert pod_named(store, "nginx", "default") is None        # curl nginx: the Service
    assert pod_named(store, "nginx", "x")["status"]["podIP"] == "10.244.1.2"   # no Service in x
    assert pod_named(store, "nginx")["status"]["podIP"] == "10.244.1.2"        # from a node
    assert pod_named(store, "default/nginx", "default")["status"]["podIP"] == "10.244.1.2"


def test_the_source_namespace_first_then_a_single_other(store):
    assert pod_named(store, "b", "x")["metadata"]["namespace"] == "x"
    assert pod_named(store, "b", "y")["metadata"]["namespace"] == "y"
    assert pod_named(store, "solo", "x")["metadata"]["namespace"] == "z"
    with pytest.raises(AmbiguousPodName, match=r'"b" is in several namespaces \(x, y, z\)'):
        pod_named(store, "b", "default")
    assert pod_named(store, "nope", "x") is None


def test_pod_ips_for_a_command_in_a_namespace(store):
    from_x = pod_ips(store, "x")
    assert from_x["b"] == "10.244.1.5" and from_x["a"] == "10.244.1.4"
    assert from_x["z/b"] == "10.244.3.5" and from_x["nginx"] == "10.244.1.2"
    from_default = pod_ips(store, "default")
    assert "nginx" not in from_default and "b" not in from_default   # Service; ambiguous
    assert from_default["client"] == "10.244.1.3" and from_default["solo"] == "10.244.3.6"
    assert from_default["default/nginx"] == "10.244.1.2"
