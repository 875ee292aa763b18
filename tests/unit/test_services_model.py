"""Service validation, allocation, endpoints and ingress: the pure parts."""
from __future__ import annotations

import pytest

from k8snet.addons.ingress import Backend, Ingress, IngressPath, IngressRule, nginx_conf, resolve
from k8snet.api.model import Container, ContainerPort, Pod
from k8snet.api.service import Allocator, Service, ServicePort
from k8snet.control.endpoints import PodView, endpoints_for
from k8snet.errors import K8snetError


def alloc() -> Allocator:
    return Allocator("10.96.0.0/12", "198.51.100.0/30")


def test_cluster_ips_are_unique_and_static_ones_are_checked():
    a = alloc()
    s1 = a.allocate(Service("a", ports=(ServicePort(80),)))
    s2 = a.allocate(Service("b", ports=(ServicePort(80),)))
    assert s1.cluster_ip != s2.cluster_ip
    assert a.allocate(Service("dns", ports=(ServicePort(53),), cluster_ip="10.96.0.10")
                      ).cluster_ip == "10.96.0.10"
    with pytest.raises(K8snetError, match="already allocated"):
        a.allocate(Service("dns2", ports=(ServicePort(53),), cluster_ip="10.96.0.10"))
    with pytest.raises(K8snetError, match="valid range"):
        a.allocate(Service("out", ports=(ServicePort(53),), cluster_ip="10.0.0.1"))


def test_node_port_out_of_range_is_refused():
    with pytest.raises(K8snetError) as err:
        alloc().allocate(Service("np", type="NodePort", ports=(ServicePort(80, node_port=80),)))
    assert "30000-32767" in str(err.value) and "\n" not in str(err.value)


def test_node_port_already_taken_is_refused_and_nothing_recorded():
    a = alloc()
    a.allocate(Service("one", type="NodePort", ports=(ServicePort(80, node_port=30080),)))
    before = (dict(a.cluster_ips), dict(a.node_ports))
    with pytest.raises(K8snetError, match="already allocated"):
        a.allocate(Service("two", type="NodePort", ports=(ServicePort(80, node_port=30080),)))
    assert (a.cluster_ips, a.node_ports) == before


def test_node_ports_are_allocated_in_range_and_released():
    a = alloc()
    svc = a.allocate(Service("np", type="NodePort", ports=(ServicePort(80),)))
    assert 30000 <= svc.ports[0].node_port <= 32767
    a.release(svc)
    assert not a.node_ports and not a.cluster_ips


def test_load_balancer_pool_exhausted_leaves_pending():
    a = alloc()  # a /30 pool has two usable addresses
    ips = [a.allocate(Service(f"lb{i}", type="LoadBalancer", ports=(ServicePort(80),))
                      ).load_balancer_ip for i in range(3)]
    assert ips[0] and ips[1] and ips[2] == ""


def test_headless_and_external_name_are_not_proxied():
    a = alloc()
    assert not a.allocate(Service("h", ports=(ServicePort(80),), cluster_ip="None")).proxied
    ext = a.allocate(Service("e", type="ExternalName", external_name="db.example.com"))
    assert not ext.proxied and not a.cluster_ips


def web_pod(name: str, port_name: str = "http") -> Pod:
    return Pod(name, labels=(("app", "web"),), containers=(
        Container("c", ports=(ContainerPort(8080, name=port_name),)),))


def test_endpoints_follow_selector_readiness_and_named_ports():
    svc = Service("web", selector=(("app", "web"),),
                  ports=(ServicePort(80, "http", name="http"),))
    views = [PodView(web_pod("a"), "10.244.1.2", "node1", True),
             PodView(web_pod("b"), "10.244.2.2", "node2", False),
             PodView(web_pod("c", port_name="web"), "10.244.3.2", "node3", True),
             PodView(Pod("other", labels=(("app", "db"),)), "10.244.1.9", "node1", True)]
    eps, warnings = endpoints_for(svc, views)
    (port_eps,) = eps.values()
    assert [(e.ip, e.port, e.ready) for e in port_eps] == [
        ("10.244.1.2", 8080, True), ("10.244.2.2", 8080, False)]
    assert len(warnings) == 1 and "c declares no TCP port named" in warnings[0]


def test_service_selecting_nothing_is_allowed_with_no_endpoints():
    svc = Service("none", selector=(("app", "nothing"),), ports=(ServicePort(80),))
    eps, warnings = endpoints_for(svc, [PodView(web_pod("a"), "10.244.1.2", "node1", True)])
    assert list(eps.values()) == [()] and warnings == []


def ingress(backend: str) -> Ingress:
    return Ingress("demo", rules=(IngressRule("a.example", (
        IngressPath("/api", "Prefix", Backend(backend, 80)),
        IngressPath("/exact", "Exact", Backend(backend, 80)))),))


def test_ingress_to_unknown_service_is_an_error():
    with pytest.raises(K8snetError, match='backend service "missing" not found'):
        resolve(ingress("missing"), {})


def test_nginx_conf_has_prefix_and_exact_locations():
    svc = alloc().allocate(Service("web", ports=(ServicePort(80),)))
    conf = nginx_conf([ingress("web")], {svc.key: svc}, "/tmp/x")
    assert "server_name a.example;" in conf
    assert f"location = /api {{ proxy_pass http://{svc.cluster_ip}:80;" in conf
    assert f"location /api/ {{ proxy_pass http://{svc.cluster_ip}:80;" in conf
    assert f"location = /exact {{ proxy_pass http://{svc.cluster_ip}:80;" in conf
    assert "location /exact/" not in conf
    assert "return 404" in conf  # no default backend given
