"""Mininet topologies for k8snet: ``single`` and ``leafspine``.

Each only overrides ``build()``, as Mininet's own ``topo.py`` does.  They load
in plain Mininet for the network layer alone:

    mn --custom topologies/topos.py --topo k8s-single,3 --controller remote

(k8snet itself passes the full cluster spec and starts its own controller.)
"""
from __future__ import annotations

import ipaddress

from mininet.link import TCLink
from mininet.topo import Topo

from topologies.links import PatchLink
from topologies.nodes import ExtHost, GatewayRouter, K8sNode, K8sSwitch

GATEWAY_MAC = "02:00:00:00:ff:01"  # the fabric gateway, answered by flows


def node_mac(index: int) -> str:
    return f"02:00:00:00:00:{index:02x}"


def _node_plan(count: int) -> list[dict]:
    """Default address plan: node i is 172.18.0.(10+i), pods 10.244.i.0/24."""
    return [{"name": f"node{i}", "index": i, "ip": f"172.18.0.{10 + i}",
             "pod_cidr": f"10.244.{i}.0/24"} for i in range(1, count + 1)]


class ClusterTopo(Topo):
    """Nodes, switches, the gateway router and ``ext``; subclasses place switches."""

    def build(self, nodes: int = 3, spec=None, **_opts):
        self.spec = spec
        plan = self._plan(nodes)
        self.cluster = spec.name if spec else "mn"
        node_prefix = ipaddress.ip_network(plan["node_cidr"]).prefixlen
        link_opts = plan["link_opts"]
        edge_switches = self.build_switches(len(plan["nodes"]))
        for i, node in enumerate(plan["nodes"]):
            host = self.addHost(
                node["name"], cls=K8sNode, ip=f"{node['ip']}/{node_prefix}",
                mac=node_mac(node["index"]),
                pod_cidr=node["pod_cidr"],
                fabric_gateway=plan["fabric_gateway"],
                netns_name=f"k8snet-{self.cluster}-{node['name']}")
            self.addLink(host, edge_switches[self.edge_for(i, len(plan["nodes"]))],
                         intfName1="eth0", **link_opts)
        gw = self.addHost(
            "gw", cls=GatewayRouter, ip=f"{plan['gateway_router']}/{node_prefix}",
            mac="02:00:00:00:fe:01",
            routes=tuple((p, plan["fabric_gateway"]) for p in plan["routed"]),
            netns_name=f"k8snet-{self.cluster}-gw")
        ext_net = ipaddress.ip_network(plan["external_cidr"])
        ext_gw = str(ext_net[1])
        ext = self.addHost(
            "ext", cls=ExtHost, ip=f"{plan['ext_ip']}/{ext_net.prefixlen}",
            mac="02:00:00:00:fe:10", gateway=ext_gw,
            extra_ips=(f"{plan['ext_dns_ip']}/{ext_net.prefixlen}",),
            resolver=plan["ext_dns_ip"], netns_name=f"k8snet-{self.cluster}-ext")
        self.addLink(gw, edge_switches[0], intfName1="eth0")
        self.addLink(gw, ext, intfName1="eth1", intfName2="eth0",
                     params1={"ip": f"{ext_gw}/{ext_net.prefixlen}"})

    def _plan(self, count: int) -> dict:
        spec = self.spec
        if spec is None:
            return {"nodes": _node_plan(count), "node_cidr": "172.18.0.0/24",
                    "fabric_gateway": "172.18.0.1",
                    "gateway_router": "172.18.0.2",
                    "routed": ("10.244.0.0/16", "198.51.100.0/24"),
                    "external_cidr": "203.0.113.0/24",
                    "ext_ip": "203.0.113.10", "ext_dns_ip": "203.0.113.53",
                    "link_opts": {}}
        net = spec.network
        link_opts = {}
        if spec.link.bw or spec.link.delay or spec.link.loss:
            link_opts = {"cls": TCLink}
            if spec.link.bw:
                link_opts["bw"] = spec.link.bw
        return {"nodes": [{"name": n.name, "index": n.index, "ip": n.ip,
                           "pod_cidr": n.pod_cidr} for n in spec.nodes],
                "node_cidr": net.node_cidr, "fabric_gateway": net.fabric_gateway,
                "gateway_router": net.gateway_router,
                "routed": (net.pod_cidr, net.lb_pool),
                "external_cidr": net.external_cidr, "ext_ip": net.ext_ip,
                "ext_dns_ip": net.ext_dns_ip, "link_opts": link_opts}

    def add_switch(self, name: str, dpid: int) -> str:
        return self.addSwitch(name, cls=K8sSwitch, dpid=f"{dpid:016x}",
                              cluster=self.cluster)

    def build_switches(self, node_count: int) -> list[str]:
        raise NotImplementedError

    def edge_for(self, node_pos: int, node_count: int) -> int:
        return 0


class SingleTopo(ClusterTopo):
    """All nodes on one top-of-rack switch."""

    def build_switches(self, node_count: int) -> list[str]:
        return [self.add_switch("tor1", 1)]


class LeafSpineTopo(ClusterTopo):
    """Every leaf wired to every spine by a pair of OVS patch ports (one
    datapath pass across the fabric); nodes spread evenly over the leaves."""

    def build(self, nodes: int = 4, spines: int = 2, leaves: int = 2,
              spec=None, **opts):
        if spec is not None:
            spines, leaves = spec.fabric.spines, spec.fabric.leaves
        self.spine_count, self.leaf_count = spines, leaves
        super().build(nodes=nodes, spec=spec, **opts)

    def build_switches(self, node_count: int) -> list[str]:
        leaves = [self.add_switch(f"leaf{i}", i)
                  for i in range(1, self.leaf_count + 1)]
        for j in range(1, self.spine_count + 1):
            spine = self.add_switch(f"spine{j}", 100 + j)
            for leaf in leaves:
                self.addLink(leaf, spine, cls=PatchLink)
        return leaves

    def edge_for(self, node_pos: int, node_count: int) -> int:
        per_leaf = -(-node_count // self.leaf_count)
        return node_pos // per_leaf


TOPO_CLASSES = {"single": SingleTopo, "leafspine": LeafSpineTopo}

# For ``mn --custom topologies/topos.py --topo k8s-single,3``.
topos = {"k8s-single": SingleTopo, "k8s-leafspine": LeafSpineTopo}
