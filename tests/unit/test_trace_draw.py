"""Pictures of the cluster (issue 12): the model built from a store and a
fabric, and Graphviz's SVG/PNG with a path's hops highlighted."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from k8snet import naming
from k8snet.apiserver.store import Store
from k8snet.trace.draw import edge_id, element_of, graph, highlighted_edges, render, svg_id
from k8snet.trace.picture import (
    Fabric,
    NodeBox,
    Path,
    PathHop,
    Picture,
    PodBox,
    element_ids,
    fabric_from,
    picture_from,
)

CLUSTER = "demo"
SVG_NS = "{http://www.w3.org/2000/svg}"


def node(name, ip, cidr):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "spec": {"podCIDR": cidr},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


def pod(name, node_name, ip, ns="default", ready=True, phase="Running", **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"nodeName": node_name, "containers": [{"name": "c"}], **spec},
            "status": {"phase": phase, "podIP": ip,
                       "conditions": [{"type": "Ready", "status": str(ready)}]}}


def endpoint_slice(svc, pods, ns="default"):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{svc}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "endpoints": [{"addresses": [ip], "targetRef": {"kind": "Pod", "name": p,
                                                              "namespace": ns}}
                          for p, ip in pods]}


@pytest.fixture
def store():
    s = Store()
    for ns in ("default", "kube-system"):
        s.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    s.create(node("node1", "172.18.0.11", "10.244.1.0/24"))
    s.create(node("node2", "172.18.0.12", "10.244.2.0/24"))
    s.create(pod("client", "node1", "10.244.1.5"))
    s.create(pod("web-1", "node1", "10.244.1.6"))
    s.create(pod("web-2", "node2", "10.244.2.7", ready=False))
    s.create(pod("coredns-x", "node2", "10.244.2.3", ns="kube-system"))
    s.create(pod("agent", "node2", "172.18.0.12", hostNetwork=True))
    s.create(pod("pending", "", ""))
    s.create(pod("done", "node1", "10.244.1.9", phase="Succeeded"))
    s.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
              "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20",
                       "externalIPs": ["198.51.100.9"], "ports": [{"port": 80}]},
              "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}})
    s.create(endpoint_slice("web", [("web-2", "10.244.2.7"), ("web-1", "10.244.1.6")]))
    return s


@pytest.fixture
def fabric():
    links = [("node1", "leaf1"), ("node2", "leaf2"), ("leaf1", "spine1"), ("leaf2", "spine1"),
             ("leaf1", "spine2"), ("leaf2", "spine2"), ("gw", "leaf1"), ("gw", "ext"),
             ("spine1", "leaf1"), ("node9", "leaf2")]      # a duplicate and a gone node
    return Fabric(["leaf1", "leaf2", "spine1", "spine2"], links, CLUSTER,
                  {"gw": "172.18.0.2", "ext": "203.0.113.10"})


@pytest.fixture
def picture(store, fabric):
    return picture_from(store, fabric)


def across_nodes() -> Path:
    """client on node1 -> Service web -> web-2 on node2, and web-2's reply's first hop."""
    hops = [("default/client", "node1", "eth0 -> veth"),
            ("node1", "svc:default/web", "DNAT"),          # not an edge of the picture
            ("svc:default/web", "default/web-2", "backend"),  # an endpoint edge, reversed
            ("node1", "leaf1", "eth0"), ("leaf1", "spine1", "ECMP"),
            ("spine1", "leaf2", ""), ("leaf2", "node2", ""),
            ("node2", "default/web-2", "route, veth"),
            ("default/web-2", "node2", "reply")]
    return Path([PathHop(i, src, dst, label) for i, (src, dst, label) in enumerate(hops, 1)])


def svg_root(path):
    root = ET.fromstring(path.read_bytes())
    assert root.tag == f"{SVG_NS}svg"
    return root


def test_picture_from_store_and_fabric(picture):
    assert [n.name for n in picture.nodes] == ["node1", "node2"]
    node1, node2 = picture.nodes
    assert (node1.ip, node1.pod_cidr, node1.pod_gateway) == \
        ("172.18.0.11", "10.244.1.0/24", "10.244.1.1")
    assert [p.key for p in node1.pods] == ["default/client", "default/web-1"]
    assert [p.key for p in node2.pods] == ["default/agent", "default/web-2",
                                           "kube-system/coredns-x"]
    web2 = node2.pods[1]
    assert (web2.ip, web2.ready, web2.veth) == \
        ("10.244.2.7", False, naming.host_veth(CLUSTER, "default", "web-2"))
    assert node2.pods[0].host_network and node2.pods[0].veth == ""
    (web,) = picture.services
    assert (web.key, web.cluster_ip, web.type) == ("svc:default/web", "10.96.0.20", "LoadBalancer")
    assert web.external_ips == ["198.51.100.9", "198.51.100.1"]
    assert web.endpoints == ["default/web-1", "default/web-2"]
    assert len(picture.links) == 8 and ("node9", "leaf2") not in picture.links
    assert picture.labels["gw"] == "172.18.0.2"
    assert element_ids(picture) == {
        "node1", "node2", "default/client", "default/web-1",
        "default/web-2", "default/agent", "kube-system/coredns-x", "leaf1", "leaf2",
        "spine1", "spine2", "gw", "ext", "svc:default/web"}


def test_fabric_from_a_network():
    def host(name):
        return SimpleNamespace(name=name)

    def link(a, b):
        return SimpleNamespace(intf1=SimpleNamespace(node=host(a)),
                               intf2=SimpleNamespace(node=host(b)))

    net = SimpleNamespace(switches=[host("tor1")],
                          links=[link("node1", "tor1"), link("gw", "tor1"), link("gw", "ext")])
    spec = SimpleNamespace(name=CLUSTER, network=SimpleNamespace(gateway_router="172.18.0.2",
                                                                 ext_ip="203.0.113.10"))
    fabric = fabric_from(SimpleNamespace(net=net, spec=spec))
    assert fabric == Fabric(["tor1"], [("node1", "tor1"), ("gw", "tor1"), ("gw", "ext")],
                            CLUSTER, {"gw": "172.18.0.2", "ext": "203.0.113.10"})


def test_svg_ids_are_reversible():
    for element in ("default/web-1", "node@1", "svc:kube-system/kube-dns", "gw",
                    "a_b", "ü/x y"):
        sid = svg_id(element)
        assert element_of(sid) == element
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in sid)
    assert svg_id("default/web-1") == "default_2fweb-1"
    assert edge_id("node@1", "default/web-1") == "edge:node_401->default_2fweb-1"


def test_svg_draws_every_element_and_no_hops_without_a_path(picture, tmp_path):
    out = render(picture, None, tmp_path / "cluster.svg")
    assert out == tmp_path / "cluster.svg"
    root = svg_root(out)
    ids = {el.get("id") for el in root.iter()}
    assert {svg_id(e) for e in element_ids(picture)} <= ids
    assert edge_id("node1", "default/web-1") in ids                # pod—node (its veth)
    assert edge_id("default/web-2", "svc:default/web") in ids      # endpoint
    assert edge_id("ext", "gw") in ids and edge_id("spine1", "leaf2") in ids
    text = out.read_text()
    assert naming.host_veth(CLUSTER, "default", "web-1") in text and "10.244.1.6" in text
    assert "pods&#39; gateway 10.244.1.1" in text or "pods' gateway 10.244.1.1" in text
    assert highlighted_edges(text) == set()


def test_highlighted_edges_are_exactly_the_traced_hops(picture, tmp_path):
    path = across_nodes()
    out = render(picture, path, tmp_path / "trace.svg")
    root = svg_root(out)
    assert highlighted_edges(out.read_text()) == path.pairs()
    hops = {el.get("id"): el for el in root.iter(f"{SVG_NS}g")
            if "hop" in (el.get("class") or "").split()}
    assert len(hops) == len(path.hops)
    labels = "".join(hops[edge_id("node1", "svc:default/web")].itertext())
    assert "2. DNAT" in labels
    ids = {el.get("id") for el in root.iter()}
    assert {svg_id(e) for e in element_ids(picture)} <= ids
    # the base edge a hop replaced is not drawn twice
    assert edge_id("default/web-2", "svc:default/web") not in ids


def test_png(picture, tmp_path):
    out = render(picture, across_nodes(), tmp_path / "trace.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_suffix_and_unknown_elements_are_refused(picture, tmp_path):
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        render(picture, None, tmp_path / "cluster.pdf")
    assert not (tmp_path / "cluster.pdf").exists()
    with pytest.raises(ValueError, match="default/nope"):
        graph(picture, Path([PathHop(1, "default/client", "default/nope")]))


def test_a_picture_built_by_hand(tmp_path):
    pods = [PodBox("default", "a", "10.244.1.2", "veth00000001", True),
            PodBox("default", "b", "10.244.1.3", "veth00000002", True)]
    picture = Picture([NodeBox("node1", "172.18.0.11", "10.244.1.0/24", pods)], ["tor1"],
                      [("node1", "tor1"), ("gw", "tor1"), ("gw", "ext")], "gw", "ext", [])
    path = Path([PathHop(1, "default/a", "node1", "veth00000001"),
                 PathHop(2, "node1", "default/b", "veth00000002"),
                 PathHop(3, "default/b", "default/b", "lo")])
    out = render(picture, path, tmp_path / "same-node.svg")
    assert highlighted_edges(out.read_bytes()) == path.pairs()
