"""Tests for k8snet.node.envvars: the kubelet's service environment variables."""

from __future__ import annotations

from k8snet.api.service import Service, ServicePort
from k8snet.node.envvars import container_env, env_name, expand, from_services, service_env

KUBERNETES = Service("kubernetes", "default", cluster_ip="10.96.0.1",
                     ports=(ServicePort(443, name="https"),))
REDIS = Service("redis-primary", "default", cluster_ip="10.0.0.11",
                ports=(ServicePort(6379),))


def test_documented_example():
    """kubernetes.io, Service: Environment variables (redis-primary, 10.0.0.11)."""
    assert service_env([REDIS], "default") == {
        "REDIS_PRIMARY_SERVICE_HOST": "10.0.0.11",
        "REDIS_PRIMARY_SERVICE_PORT": "6379",
        "REDIS_PRIMARY_PORT": "tcp://10.0.0.11:6379",
        "REDIS_PRIMARY_PORT_6379_TCP": "tcp://10.0.0.11:6379",
        "REDIS_PRIMARY_PORT_6379_TCP_PROTO": "tcp",
        "REDIS_PRIMARY_PORT_6379_TCP_PORT": "6379",
        "REDIS_PRIMARY_PORT_6379_TCP_ADDR": "10.0.0.11",
    }


def test_kubernetes_service_and_named_port():
    env = service_env([KUBERNETES], "default")
    assert env == {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443",
        "KUBERNETES_PORT": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443",
        "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
    }


def test_multiple_ports_udp_and_named():
    dns = Service("kube-dns", "kube-system", cluster_ip="10.96.0.10", ports=(
        ServicePort(53, protocol="UDP", name="dns"),
        ServicePort(53, protocol="TCP", name="dns-tcp"),
        ServicePort(9153, name="metrics")))
    env = service_env([dns], "kube-system")
    assert env["KUBE_DNS_SERVICE_HOST"] == "10.96.0.10"
    assert env["KUBE_DNS_SERVICE_PORT"] == "53"            # first port
    assert env["KUBE_DNS_SERVICE_PORT_DNS"] == "53"
    assert env["KUBE_DNS_SERVICE_PORT_DNS_TCP"] == "53"
    assert env["KUBE_DNS_SERVICE_PORT_METRICS"] == "9153"
    assert env["KUBE_DNS_PORT"] == "udp://10.96.0.10:53"   # first port, its protocol
    assert env["KUBE_DNS_PORT_53_UDP"] == "udp://10.96.0.10:53"
    assert env["KUBE_DNS_PORT_53_UDP_PROTO"] == "udp"
    assert env["KUBE_DNS_PORT_53_UDP_PORT"] == "53"
    assert env["KUBE_DNS_PORT_53_UDP_ADDR"] == "10.96.0.10"
    assert env["KUBE_DNS_PORT_53_TCP"] == "tcp://10.96.0.10:53"
    assert env["KUBE_DNS_PORT_9153_TCP_PROTO"] == "tcp"
    assert len(env) == 2 + 3 + 1 + 3 * 4


def test_unnamed_single_port_has_no_named_variable():
    env = service_env([REDIS], "default")
    assert not [k for k in env if k.startswith("REDIS_PRIMARY_SERVICE_PORT_")]


def test_headless_external_name_and_unallocated_are_skipped():
    services = [
        Service("db", "default", cluster_ip="None", ports=(ServicePort(5432),)),
        Service("ext", "default", type="ExternalName", external_name="example.com"),
        Service("pending", "default", ports=(ServicePort(80),)),
        REDIS,
    ]
    env = service_env(services, "default")
    assert {k.split("_")[0] for k in env} == {"REDIS"}


def test_namespaces_and_master_services():
    other = Service("web", "shop", cluster_ip="10.96.5.5", ports=(ServicePort(80),))
    services = [KUBERNETES, REDIS, other]
    shop = service_env(services, "shop")
    assert shop["WEB_SERVICE_HOST"] == "10.96.5.5"
    assert shop["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"     # every pod gets it
    assert "REDIS_PRIMARY_SERVICE_HOST" not in shop          # other namespace
    default = service_env(services, "default")
    assert "WEB_SERVICE_HOST" not in default
    assert default["REDIS_PRIMARY_SERVICE_HOST"] == "10.0.0.11"


def test_enable_service_links_false_keeps_only_master_services():
    services = [KUBERNETES, REDIS]
    env = service_env(services, "default", enable_service_links=False)
    assert env == service_env([KUBERNETES], "default")
    env = service_env(services, "shop", enable_service_links=False)
    assert env == service_env([KUBERNETES], "default")
    assert service_env([REDIS], "default", enable_service_links=False) == {}


def test_a_kubernetes_service_in_the_pods_namespace_wins():
    local = Service("kubernetes", "shop", cluster_ip="10.96.9.9", ports=(ServicePort(80),))
    for order in ([KUBERNETES, local], [local, KUBERNETES]):
        assert service_env(order, "shop")["KUBERNETES_SERVICE_HOST"] == "10.96.9.9"
        assert service_env(order, "shop", enable_service_links=False)[
            "KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


def test_ipv6_cluster_ip_is_bracketed():
    svc = Service("v6", "default", cluster_ip="fd00:10:96::a", ports=(ServicePort(80),))
    env = from_services([svc])
    assert env["V6_PORT"] == "tcp://[fd00:10:96::a]:80"
    assert env["V6_PORT_80_TCP_ADDR"] == "fd00:10:96::a"
    assert env["V6_SERVICE_HOST"] == "fd00:10:96::a"


def test_env_name():
    assert env_name("redis-primary") == "REDIS_PRIMARY"
    assert env_name("a-b-c") == "A_B_C"


def test_expand_like_kubernetes():
    ctx = {"HOST": "10.0.0.11", "PORT": "6379"}
    assert expand("$(HOST):$(PORT)", ctx) == "10.0.0.11:6379"
    assert expand("$$(HOST)", ctx) == "$(HOST)"
    assert expand("$(NOPE)", ctx) == "$(NOPE)"
    assert expand("$(HOST", ctx) == "$(HOST"
    assert expand("a$b$", ctx) == "a$b$"


def test_container_env_overrides_and_expands():
    svc = service_env([REDIS], "default")
    env = container_env([("ADDR", "$(REDIS_PRIMARY_SERVICE_HOST):6379"),
                         ("URL", "redis://$(ADDR)"),
                         ("REDIS_PRIMARY_SERVICE_PORT", "1"),
                         ("EMPTY", "")], svc)
    assert env["ADDR"] == "10.0.0.11:6379"
    assert env["URL"] == "redis://10.0.0.11:6379"
    assert env["REDIS_PRIMARY_SERVICE_PORT"] == "1"
    assert env["EMPTY"] == ""
    assert env["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == "10.0.0.11"
