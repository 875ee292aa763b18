"""IPVS mode: rendered but never applied on a kernel without IP_VS."""
from __future__ import annotations

import os

import pytest
from service_alloc import Allocator

from k8snet.api.service import Service, ServicePort
from k8snet.errors import MissingKernelFeature
from kproxy import ipvs
from kproxy.apply import require_mode
from kproxy.state import Endpoint, NodeProxyState, ServicePortState

EPS = (Endpoint("10.244.1.2", 8080, "node1"), Endpoint("10.244.2.2", 8080, "node2"),
       Endpoint("10.244.2.3", 8080, "node2", ready=False))


def state(**kw) -> tuple[NodeProxyState, Service]:
    svc = Allocator("10.96.0.0/12", "198.51.100.0/24").allocate(
        Service("web", ports=(ServicePort(80, 8080, node_port=kw.pop("node_port", 0)),), **kw))
    return NodeProxyState("node1", "172.18.0.11", "10.244.0.0/16", "10.96.0.0/12",
                          (ServicePortState(svc, svc.ports[0], EPS),)), svc


def test_cluster_ip_is_a_round_robin_virtual_server_over_ready_endpoints():
    st, svc = state()
    text = ipvs.render(st).splitlines()
    assert text[0] == f"-A -t {svc.cluster_ip}:80 -s rr"
    assert text[1:] == [f"-a -t {svc.cluster_ip}:80 -r 10.244.1.2:8080 -m -w 1",
                        f"-a -t {svc.cluster_ip}:80 -r 10.244.2.2:8080 -m -w 1"]


def test_affinity_node_port_lb_and_local_policy():
    st, svc = state(type="LoadBalancer", session_affinity="ClientIP", affinity_timeout=60,
                    external_traffic_policy="Local", node_port=30080)
    text = ipvs.render(st)
    assert f"-A -t {svc.cluster_ip}:80 -s rr -p 60" in text
    assert f"-A -t {svc.load_balancer_ip}:80 -s rr -p 60" in text
    assert "-A -t 172.18.0.11:30080 -s rr -p 60" in text
    # Local policy: the node port and LB IP only use node1's endpoint.
    assert "-a -t 172.18.0.11:30080 -r 10.244.1.2:8080" in text
    assert "-a -t 172.18.0.11:30080 -r 10.244.2.2:8080" not in text
    assert f"-a -t {svc.cluster_ip}:80 -r 10.244.2.2:8080" in text


@pytest.mark.skipif(os.path.exists("/proc/net/ip_vs"), reason="this kernel has IPVS")
def test_ipvs_mode_is_refused_with_a_clear_error_without_ip_vs():
    with pytest.raises(MissingKernelFeature, match="CONFIG_IP_VS"):
        require_mode("ipvs")
