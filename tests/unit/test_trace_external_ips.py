"""``trace --simulate`` to a Service's ``spec.externalIPs``: kproxy captures
the external IP on the Service's ports (as a LoadBalancer IP, through the
external chain) and the explainers name the Service.  The lab is
``test_trace_simulate``'s, plus one Service with ``externalIPs: [node2's IP]``
(port 8123 -> 8080) and one with an external IP and no endpoints."""
from __future__ import annotations

import dataclasses

import test_trace_simulate as lab
from test_trace_simulate import CLIENT, EXT, NODES, lines, target

from k8snet.api.service import Service, ServicePort
from k8snet.trace import story
from k8snet.trace.model import Endpoint
from k8snet.trace.simulate import SimInputs, simulate
from k8snet.trace.target import default_port
from kproxy import nft
from kproxy.state import Endpoint as KEndpoint
from kproxy.state import NodeProxyState, ServicePortState

NODE2_IP = NODES["node2"][0]
EMPTY_EIP = "203.0.113.99"


def _stored(name: str, ip: str, external: list[str], port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"clusterIP": ip, "externalIPs": external, "type": "ClusterIP",
                     "ports": [{"port": port, "targetPort": 8080}]}}


def _state(node: str) -> NodeProxyState:
    base = lab.proxy_state(node)
    eip = Service("eip", cluster_ip="10.96.0.50", ports=(ServicePort(8123, 8080),),
                  selector=(("app", "web"),), external_ips=(NODE2_IP,))
    empty = Service("eip-empty", cluster_ip="10.96.0.51", ports=(ServicePort(80, 8080),),
                    selector=(("app", "none"),), external_ips=(EMPTY_EIP,))
    eps = (KEndpoint("10.244.1.5", 8080, "node1", "web-a"),
           KEndpoint("10.244.2.7", 8080, "node2", "web-b"))
    return dataclasses.replace(base, ports=base.ports + (
        ServicePortState(eip, eip.ports[0], eps), ServicePortState(empty, empty.ports[0], ())))


def inputs() -> SimInputs:
    sim = lab.inputs()
    sim.store.create(_stored("eip", "10.96.0.50", [NODE2_IP], 8123))
    sim.store.create(_stored("eip-empty", "10.96.0.51", [EMPTY_EIP], 80))
    return dataclasses.replace(sim, node_rulesets={
        n: nft.render(_state(n), fresh=True)[0] for n in NODES})


def test_the_explainers_name_the_service_of_an_external_ip_on_its_ports_only():
    store = inputs().store
    assert story.service_at(store, NODE2_IP, 8123) == "default/eip"
    assert story.service_at(store, NODE2_IP) == "default/eip"
    assert story.service_at(store, NODE2_IP, 22) == ""      # the node's own port
    assert default_port(store, EMPTY_EIP, "TCP") == 80
    assert default_port(store, NODE2_IP, "TCP") == 8123


def test_pod_to_a_node_ip_that_is_an_external_ip():
    result = simulate(inputs(), CLIENT, target(NODE2_IP, 8123))
    nf = lines(result, "node1: netfilter")
    assert any("(goto external-ip-2)" in line for line in nf), nf
    assert any("Cluster policy masquerades" in line for line in nf), nf
    assert result.delivered
    assert set(result.backend.split(", ")) == {"default/web-a", "default/web-b"}


def test_node_to_its_own_ip_as_external_ip():
    node = Endpoint("node", "node2", NODE2_IP, "ns-node2", node="node2", element="node2")
    result = simulate(inputs(), node, target(NODE2_IP, 8123))
    assert result.delivered, result.verdict


def test_ext_to_a_node_ip_that_is_an_external_ip():
    result = simulate(inputs(), EXT, target(NODE2_IP, 8123))
    assert result.delivered, [(h.title, h.lines) for h in result.hops]


def test_external_ip_without_endpoints_is_rejected_and_named():
    result = simulate(inputs(), CLIENT, target(EMPTY_EIP, 80))
    assert result.verdict == ("simulated: stopped: reject: Service default/eip-empty has no "
                              "endpoints (ICMP port unreachable)")
