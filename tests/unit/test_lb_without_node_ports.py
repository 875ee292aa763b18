"""``allocateLoadBalancerNodePorts: false``: a LoadBalancer without NodePorts
(KEP-1864).  The API server allocates none (those asked for stay), and kproxy
serves the load balancer IP with no node port rule in either mode."""
from __future__ import annotations

from control_helpers import api_store

from k8snet.api.service import Service, ServicePort
from kproxy import iptables, nft
from kproxy.state import Endpoint, NodeProxyState, ServicePortState


def _lb(name: str, ports: list[dict], allocate: bool) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": allocate,
                     "selector": {"app": name}, "ports": ports}}


def test_the_api_server_allocates_no_node_port_unless_asked() -> None:
    store = api_store()
    bare = store.create(_lb("bare", [{"name": "a", "port": 80}, {"name": "b", "port": 81}],
                            False))
    assert [p.get("nodePort") for p in bare["spec"]["ports"]] == [None, None]
    asked = store.create(_lb("asked", [{"name": "a", "port": 80, "nodePort": 30555},
                                       {"name": "b", "port": 81}], False))
    assert [p.get("nodePort") for p in asked["spec"]["ports"]] == [30555, None]
    usual = store.create(_lb("usual", [{"port": 80}], True))
    assert 30000 <= usual["spec"]["ports"][0]["nodePort"] <= 32767


def test_kproxy_serves_the_lb_ip_with_no_node_port_rule() -> None:
    svc = Service(name="lb", cluster_ip="10.96.0.90", type="LoadBalancer",
                  load_balancer_ip="198.51.100.9", ports=(ServicePort(80, 8080),),
                  selector=(("app", "lb"),))               # as the API stores it: no nodePort
    state = NodeProxyState("node1", "172.18.0.11", "10.244.0.0/16", "10.96.0.0/12",
                           (ServicePortState(svc, svc.ports[0],
                                             (Endpoint("10.244.1.5", 8080, "node1", pod="p"),)),))
    nft_text = nft.render(state, fresh=True)[0]
    assert f"{svc.load_balancer_ip} . tcp . 80" in nft_text       # the LB IP is served
    assert "tcp . 0" not in nft_text                               # and no node port 0
    ipt_text = iptables.render(state)[0]
    assert f"-d {svc.load_balancer_ip}/32" in ipt_text
    assert "--dport 0 " not in ipt_text
