"""Changing a Service's type: the fields of the old type the user left alone
are dropped (kube-apiserver's ``dropTypeDependentFields``), what they held
goes back to the allocators, and a field the user changed too is judged by
validation as before."""
from __future__ import annotations

import copy

import pytest
from control_helpers import api_store

from k8snet.apiserver.service_fields import drop_type_dependent_fields
from k8snet.apiserver.store import Store
from k8snet.errors import Invalid


@pytest.fixture
def store() -> Store:
    return api_store()


def _service(name: str, svc_type: str = "ClusterIP", **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": svc_type, "selector": {"app": name},
                     "ports": [{"port": 80}], **spec}}


def _retype(store: Store, name: str, svc_type: str, **change: object) -> dict:
    """What ``kubectl patch svc NAME -p '{"spec":{"type":...}}'`` sends: the
    stored Service with only the type (and ``change``) altered."""
    obj = copy.deepcopy(store.get("Service", "default", name))
    obj["spec"].update(type=svc_type, **change)
    return store.update(obj)


def test_load_balancer_back_to_cluster_ip_drops_what_the_type_filled(store) -> None:
    store.create(_service("web"))
    lb = _retype(store, "web", "LoadBalancer")
    store.mutate("Service", "default", "web", lambda o: o.setdefault("status", {}).update(
        loadBalancer={"ingress": [{"ip": "198.51.100.1"}]}))
    node_port = lb["spec"]["ports"][0]["nodePort"]
    assert lb["spec"]["externalTrafficPolicy"] == "Cluster"
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True
    back = _retype(store, "web", "ClusterIP")
    spec = back["spec"]
    assert "nodePort" not in spec["ports"][0]
    assert "externalTrafficPolicy" not in spec
    assert "allocateLoadBalancerNodePorts" not in spec
    assert back["status"]["loadBalancer"] == {}
    assert spec["clusterIP"] == lb["spec"]["clusterIP"]              # kept, as upstream
    # the NodePort went back to the allocator
    other = store.create(_service("other", "NodePort", ports=[{"port": 80,
                                                               "nodePort": node_port}]))
    assert other["spec"]["ports"][0]["nodePort"] == node_port


def test_node_port_back_to_cluster_ip(store) -> None:
    store.create(_service("web", "NodePort"))
    spec = _retype(store, "web", "ClusterIP")["spec"]
    assert "externalTrafficPolicy" not in spec and "nodePort" not in spec["ports"][0]
    assert spec["internalTrafficPolicy"] == "Cluster"


def test_a_field_changed_with_the_type_is_the_users_and_validated(store) -> None:
    store.create(_service("web", "NodePort"))
    with pytest.raises(Invalid, match=r"spec.ports\[0\].nodePort: Forbidden: may not be used "
                                      "when `type` is 'ClusterIP'"):
        obj = copy.deepcopy(store.get("Service", "default", "web"))
        obj["spec"]["type"] = "ClusterIP"
        obj["spec"]["ports"][0]["nodePort"] = 31999                  # a net-new NodePort
        store.update(obj)
    with pytest.raises(Invalid, match='spec.externalTrafficPolicy: Invalid value: "Local": '
                                      "may only be set for externally-accessible services"):
        _retype(store, "web", "ClusterIP", externalTrafficPolicy="Local")


def test_leaving_a_load_balancer_drops_its_class_unless_changed(store) -> None:
    store.create(_service("web", "LoadBalancer", loadBalancerClass="example.com/lb",
                          allocateLoadBalancerNodePorts=True))
    spec = _retype(store, "web", "NodePort")["spec"]
    assert "loadBalancerClass" not in spec and "allocateLoadBalancerNodePorts" not in spec
    assert spec["ports"][0]["nodePort"] and spec["externalTrafficPolicy"] == "Cluster"
    store.create(_service("lb2", "LoadBalancer", allocateLoadBalancerNodePorts=True))
    with pytest.raises(Invalid, match="spec.allocateLoadBalancerNodePorts: Forbidden"):
        _retype(store, "lb2", "NodePort", allocateLoadBalancerNodePorts=False)


def test_external_name_drops_the_cluster_ip_and_families(store) -> None:
    store.create(_service("web"))
    spec = _retype(store, "web", "ExternalName", externalName="db.example.com")["spec"]
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        assert key not in spec


def test_cluster_ip_with_external_ips_keeps_its_policy(store) -> None:
    store.create(_service("web", "NodePort", externalIPs=["203.0.113.20"]))
    spec = _retype(store, "web", "ClusterIP")["spec"]
    assert spec["externalTrafficPolicy"] == "Cluster"                # still accessible


def test_drop_only_on_a_type_change_and_on_well_formed_specs() -> None:
    old = _service("web", "NodePort", externalTrafficPolicy="Cluster")
    old["spec"]["ports"][0]["nodePort"] = 30001
    same = copy.deepcopy(old)
    drop_type_dependent_fields(old, same)
    assert same == old
    broken = {"spec": "not an object"}
    drop_type_dependent_fields(old, broken)
    assert broken == {"spec": "not an object"}


def test_a_malformed_node_port_is_left_to_validation(store) -> None:
    store.create(_service("web", "NodePort"))
    with pytest.raises(Invalid, match=r"spec.ports\[0\].nodePort"):
        _retype(store, "web", "ClusterIP", ports=[{"port": 80, "nodePort": [1]}])


def test_an_update_without_node_ports_keeps_them_by_port_name(store) -> None:
    """patchAllocatedValues: an update that leaves nodePort out (kubectl
    apply of the original manifest) keeps each port's NodePort by the port's
    name, even when its number changed; one the update gives to another port
    is not handed out twice."""
    made = store.create(_service("web", "NodePort", ports=[
        {"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]))
    held = {p["name"]: p["nodePort"] for p in made["spec"]["ports"]}
    obj = copy.deepcopy(made)
    obj["spec"]["ports"] = [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]
    kept = {p["name"]: p["nodePort"] for p in store.update(obj)["spec"]["ports"]}
    assert kept == held                                   # http moved to 8080, same NodePort
    obj = copy.deepcopy(store.get("Service", "default", "web"))
    obj["spec"]["ports"] = [{"name": "http", "port": 8080},
                            {"name": "metrics", "port": 9090, "nodePort": held["http"]}]
    swapped = {p["name"]: p["nodePort"] for p in store.update(obj)["spec"]["ports"]}
    assert swapped["metrics"] == held["http"]
    assert swapped["http"] not in (held["http"], 0)       # a fresh one, not the taken one
