"""``spec.healthCheckNodePort``: allocated from the NodePort range for a
LoadBalancer with ``externalTrafficPolicy: Local``, checked when asked for
(in range, free), kept across updates, immutable while needed, and released
when the Service is deleted or no longer needs it (kube-apiserver
``pkg/registry/core/service/storage/alloc.go``)."""
from __future__ import annotations

import copy

import pytest
from control_helpers import api_store

from k8snet.apiserver.store import Store
from k8snet.errors import Invalid, StatusError


@pytest.fixture
def store() -> Store:
    return api_store()


def _lb(name: str, policy: str = "Local", **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy,
                     "selector": {"app": name}, "ports": [{"port": 80}], **spec}}


def _change(store: Store, name: str, **spec: object) -> dict:
    obj = copy.deepcopy(store.get("Service", "default", name))
    obj["spec"].update(spec)
    return store.update(obj)


def test_local_load_balancer_gets_a_free_port_from_the_range(store) -> None:
    spec = store.create(_lb("web"))["spec"]
    assert spec["ports"][0]["nodePort"] == 30000
    assert spec["healthCheckNodePort"] == 30001                 # after its NodePorts
    assert "healthCheckNodePort" not in store.create(_lb("cluster", "Cluster"))["spec"]
    nodeport = store.create({**_lb("np"), "spec": {**_lb("np")["spec"], "type": "NodePort"}})
    assert "healthCheckNodePort" not in nodeport["spec"]


def test_a_requested_port_must_be_in_range_and_free(store) -> None:
    assert store.create(_lb("web", healthCheckNodePort=32000))["spec"][
        "healthCheckNodePort"] == 32000
    with pytest.raises(StatusError) as taken:
        store.create(_lb("web2", healthCheckNodePort=32000))
    assert taken.value.code == 500
    assert str(taken.value) == ("Internal error occurred: failed to allocate requested "
                                "HealthCheck NodePort 32000: provided port is already allocated")
    with pytest.raises(StatusError, match="HealthCheck NodePort 40000: provided port is not in "
                                          "the valid range. The range of valid ports is "
                                          "30000-32767"):
        store.create(_lb("web3", healthCheckNodePort=40000))
    with pytest.raises(StatusError, match="already allocated"):   # a NodePort holds it
        store.create(_lb("web4", healthCheckNodePort=30000))
    with pytest.raises(Invalid, match=r"spec.ports\[0\].nodePort: Invalid value: 32000: "
                                      "provided port is already allocated"):
        store.create(_lb("web5", policy="Cluster", ports=[{"port": 80, "nodePort": 32000}]))
    assert [s["metadata"]["name"] for s in store.list("Service")] == ["web"]


def test_only_a_local_load_balancer_may_set_it(store) -> None:
    with pytest.raises(Invalid, match="spec.healthCheckNodePort: Invalid value: 31000: may only "
                                      "be set when `type` is 'LoadBalancer' and "
                                      "`externalTrafficPolicy` is 'Local'"):
        store.create(_lb("web", "Cluster", healthCheckNodePort=31000))


def test_kept_across_updates_and_immutable(store) -> None:
    port = store.create(_lb("web"))["spec"]["healthCheckNodePort"]
    obj = copy.deepcopy(store.get("Service", "default", "web"))
    del obj["spec"]["healthCheckNodePort"]                      # a client that left it out
    obj["spec"]["selector"] = {"app": "other"}
    assert store.update(obj)["spec"]["healthCheckNodePort"] == port
    with pytest.raises(Invalid, match="spec.healthCheckNodePort: Forbidden: field is immutable"):
        _change(store, "web", healthCheckNodePort=port + 100)


def test_released_when_no_longer_needed_or_deleted(store) -> None:
    port = store.create(_lb("web"))["spec"]["healthCheckNodePort"]
    spec = _change(store, "web", externalTrafficPolicy="Cluster")["spec"]
    assert "healthCheckNodePort" not in spec
    assert store.create(_lb("b", healthCheckNodePort=port))["spec"]["healthCheckNodePort"] == port
    store.delete("Service", "default", "b")
    assert store.create(_lb("c", healthCheckNodePort=port))["spec"]["healthCheckNodePort"] == port
    back = _change(store, "c", type="ClusterIP")["spec"]           # LoadBalancer -> ClusterIP
    assert "healthCheckNodePort" not in back and "externalTrafficPolicy" not in back
    assert store.create(_lb("d", healthCheckNodePort=port))["spec"]["healthCheckNodePort"] == port


def test_becoming_local_allocates_one(store) -> None:
    store.create(_lb("web", "Cluster"))
    spec = _change(store, "web", externalTrafficPolicy="Local")["spec"]
    assert spec["healthCheckNodePort"] == 30001
