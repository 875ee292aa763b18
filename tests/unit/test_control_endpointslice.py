"""EndpointSlice controller and Endpoints mirror over the store, driven by settle().
Expected values: upstream's controllers and the cases in /work/shared/cases (01, 06)."""
from __future__ import annotations

import random
import re

import pytest

from k8snet.apiserver.store import Store
from k8snet.control.endpoint_plan import find_port, service_ports
from k8snet.control.endpoints_mirror import EndpointsMirror
from k8snet.control.endpointslice import NODE_RETRY, EndpointSliceController

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"     # k8s.io/apimachinery/pkg/util/rand: name suffixes


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def node(name, zone=None):
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def service(name, selector, ports=None, ns="default", **spec):
    ports = [{"name": "http", "port": 80, "targetPort": 8080}] if ports is None else ports
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"selector": selector, "clusterIP": "10.96.0.20", "ports": ports, **spec}}


def pod(name, ip, labels, ready=True, node_name="node1", ns="default", ports=None, **spec):
    ports = [{"name": "http", "containerPort": 8080}] if ports is None else ports
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "ports": ports}], **spec},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": str(bool(ready))}]}}


@pytest.fixture
def store():
    s = Store()
    s.create(namespace("default"))
    s.create(node("node1", zone="zone-a"))
    s.create(node("node2"))
    return s


@pytest.fixture
def ctrls(store):
    return (EndpointSliceController(store, rng=random.Random(7)), EndpointsMirror(store))


def settle(*controllers):
    for c in controllers * 5:
        c.settle()
    assert [c.last_error for c in controllers if c.errors] == []


def slices(store, svc, ns="default"):
    return [s for s in store.list("EndpointSlice", ns)
            if s["metadata"]["labels"].get("kubernetes.io/service-name") == svc]


def by_pod(slice_):
    return {e["targetRef"]["name"]: e for e in slice_["endpoints"]}


def kubectl_endpoints(ep):
    """The ENDPOINTS column of `kubectl get endpoints`: ready addresses x ports."""
    out = sorted(f"{a['ip']}:{p['port']}" for sub in ep.get("subsets", [])
                 for a in sub.get("addresses", []) for p in sub.get("ports", []))
    return ",".join(out) or "<none>"


def three_pods(store):
    store.create(service("web", {"app": "web"}))
    for i, (name, ip) in enumerate([("web-a", "10.244.1.3"), ("web-b", "10.244.2.3"),
                                    ("web-c", "10.244.1.4")]):
        store.create(pod(name, ip, {"app": "web"}, node_name="node1" if i != 1 else "node2"))


def test_three_ready_pods_give_one_slice_with_three_ready_endpoints(store, ctrls):
    three_pods(store)
    settle(*ctrls)
    (s,) = slices(store, "web")
    svc, meta = store.get("Service", "default", "web"), s["metadata"]
    assert (s["apiVersion"], s["kind"], s["addressType"]) == ("discovery.k8s.io/v1",
                                                               "EndpointSlice", "IPv4")
    assert re.fullmatch(f"web-[{ALPHANUMS}]{{5}}", meta["name"]) and meta["generateName"] == "web-"
    assert meta["labels"] == {"app": "web", "kubernetes.io/service-name": "web",
                              "endpointslice.kubernetes.io/managed-by":
                                  "endpointslice-controller.k8s.io"}
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                        "uid": svc["metadata"]["uid"], "controller": True,
                                        "blockOwnerDeletion": True}]
    assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [e["targetRef"]["name"] for e in s["endpoints"]] == ["web-a", "web-b", "web-c"]
    uid = store.get("Pod", "default", "web-a")["metadata"]["uid"]
    assert s["endpoints"][0] == {
        "addresses": ["10.244.1.3"], "nodeName": "node1", "zone": "zone-a",
        "conditions": {"ready": True, "serving": True, "terminating": False},
        "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-a", "uid": uid}}
    assert "zone" not in s["endpoints"][1] and s["endpoints"][1]["nodeName"] == "node2"
    assert [e["conditions"]["ready"] for e in s["endpoints"]] == [True] * 3


def test_not_ready_and_terminating_conditions_then_ready(store, ctrls):
    three_pods(store)
    not_ready = [{"type": "Ready", "status": "False"}]
    store.mutate("Pod", "default", "web-c", lambda p: p["status"].update(conditions=not_ready))
    store.delete("Pod", "default", "web-b")        # bound: only marked (deletionTimestamp)
    settle(*ctrls)
    (s0,) = slices(store, "web")
    assert {n: e["conditions"] for n, e in by_pod(s0).items()} == {
        "web-a": {"ready": True, "serving": True, "terminating": False},
        "web-b": {"ready": False, "serving": True, "terminating": True},
        "web-c": {"ready": False, "serving": False, "terminating": False}}
    ep = store.get("Endpoints", "default", "web")  # the terminating pod is left out
    assert [([a["ip"] for a in sub["addresses"]], [a["ip"] for a in sub["notReadyAddresses"]],
             sub["ports"]) for sub in ep["subsets"]] == [
        (["10.244.1.3"], ["10.244.1.4"], [{"name": "http", "port": 8080, "protocol": "TCP"}])]
    assert ep["subsets"][0]["addresses"][0]["targetRef"]["name"] == "web-a"
    store.mutate("Pod", "default", "web-c", lambda p: p["status"].update(
        conditions=[{"type": "Ready", "status": "True"}]))
    store.delete("Pod", "default", "web-b", grace_seconds=0)
    settle(*ctrls)
    (s1,) = slices(store, "web")                   # the same object, updated in place
    assert s1["metadata"]["uid"] == s0["metadata"]["uid"]
    assert [(e["targetRef"]["name"], e["conditions"]["ready"]) for e in s1["endpoints"]] == [
        ("web-a", True), ("web-c", True)]
    assert kubectl_endpoints(store.get("Endpoints", "default", "web")) == \
        "10.244.1.3:8080,10.244.1.4:8080"


def test_case01_publish_not_ready_addresses_headless(store, ctrls):
    store.create(namespace("pnra"))
    gossip = [{"name": "gossip", "port": 8080, "targetPort": 8080}]
    store.create(service("peers", {"app": "peer"}, gossip, "pnra", clusterIP="None",
                         publishNotReadyAddresses=True))
    store.create(service("peers-ready-only", {"app": "peer"}, gossip, "pnra", clusterIP="None"))
    for i, ip in enumerate(["10.244.1.7", "10.244.2.7"]):
        store.create(pod(f"peer-{i}", ip, {"app": "peer"}, ready=False, ns="pnra",
                         node_name=f"node{i + 1}", hostname=f"peer-{i}", subdomain="peers",
                         ports=[{"name": "gossip", "containerPort": 8080}]))
    store.create(pod("tester", "10.244.1.9", {}, ns="pnra"))
    settle(*ctrls)
    (peers,) = slices(store, "peers", "pnra")
    assert peers["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    assert [(e["addresses"], e["hostname"], e["conditions"]) for e in peers["endpoints"]] == [
        (["10.244.1.7"], "peer-0", {"ready": True, "serving": False, "terminating": False}),
        (["10.244.2.7"], "peer-1", {"ready": True, "serving": False, "terminating": False})]
    (ready_only,) = slices(store, "peers-ready-only", "pnra")
    assert [e["conditions"]["ready"] for e in ready_only["endpoints"]] == [False, False]
    assert all("hostname" not in e for e in ready_only["endpoints"])   # subdomain is "peers"
    ep = store.get("Endpoints", "pnra", "peers")
    assert kubectl_endpoints(ep) == "10.244.1.7:8080,10.244.2.7:8080"
    assert [a["hostname"] for a in ep["subsets"][0]["addresses"]] == ["peer-0", "peer-1"]
    assert ep["subsets"][0]["ports"] == [{"name": "gossip", "port": 8080, "protocol": "TCP"}]
    assert ep["metadata"]["labels"] == {"app": "peers", "service.kubernetes.io/headless": "",
                                        "endpoints.kubernetes.io/managed-by":
                                            "endpoint-controller"}
    other = store.get("Endpoints", "pnra", "peers-ready-only")
    assert kubectl_endpoints(other) == "<none>"
    assert [a["ip"] for a in other["subsets"][0]["notReadyAddresses"]] == ["10.244.1.7",
                                                                          "10.244.2.7"]
    # publishNotReadyAddresses keeps a terminating pod ready, in both objects.
    store.delete("Pod", "pnra", "peer-1")
    settle(*ctrls)
    assert by_pod(slices(store, "peers", "pnra")[0])["peer-1"]["conditions"] == {
        "ready": True, "serving": False, "terminating": True}
    assert kubectl_endpoints(store.get("Endpoints", "pnra", "peers")) == \
        "10.244.1.7:8080,10.244.2.7:8080"
    assert [a["ip"] for a in store.get("Endpoints", "pnra", "peers-ready-only")
            ["subsets"][0]["notReadyAddresses"]] == ["10.244.1.7"]


def test_case06_named_target_port_resolved_per_pod(store, ctrls):
    store.create(namespace("named"))
    store.create(service("api", {"app": "api"}, ns="named",
                         ports=[{"name": "web", "port": 80, "targetPort": "http"}]))
    store.create(pod("api-v1", "10.244.1.10", {"app": "api"}, ns="named",
                     ports=[{"name": "http", "containerPort": 8080}]))
    store.create(pod("api-v2", "10.244.2.10", {"app": "api"}, ns="named", node_name="node2",
                     ports=[{"name": "http", "containerPort": 9090}]))
    store.create(pod("api-legacy", "10.244.1.11", {"app": "api"}, ns="named",
                     ports=[{"containerPort": 8080}]))
    store.create(pod("tester", "10.244.2.11", {}, ns="named"))
    settle(*ctrls)
    routed = {(a, p["port"]) for s in slices(store, "api", "named") for e in s["endpoints"]
              for a in e["addresses"] for p in s["ports"]}
    assert routed == {("10.244.1.10", 8080), ("10.244.2.10", 9090)}
    groups = {tuple(p["port"] for p in s["ports"]): sorted(by_pod(s))
              for s in slices(store, "api", "named")}
    # Upstream keeps api-legacy's address in a slice of its own, with no port.
    assert groups == {(8080,): ["api-v1"], (9090,): ["api-v2"], (): ["api-legacy"]}
    ep = store.get("Endpoints", "named", "api")
    assert kubectl_endpoints(ep) == "10.244.1.10:8080,10.244.2.10:9090"
    assert "10.244.1.11" not in str(ep)


def test_multi_port_service(store, ctrls):
    store.create(service("mp", {"app": "mp"}, ports=[
        {"name": "http", "port": 80, "targetPort": 8080},
        {"name": "metrics", "port": 9100, "targetPort": "metrics", "appProtocol": "http"},
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"}]))
    full = [{"name": "http", "containerPort": 8080},
            {"name": "metrics", "containerPort": 9100},
            {"name": "dns", "containerPort": 5353, "protocol": "TCP"}]   # TCP: not the UDP port
    store.create(pod("mp-a", "10.244.1.20", {"app": "mp"}, ports=full))
    store.create(pod("mp-b", "10.244.2.20", {"app": "mp"}, ports=full, node_name="node2"))
    store.create(pod("mp-c", "10.244.1.21", {"app": "mp"}, ports=full[:1]))
    settle(*ctrls)
    groups = {tuple((p["name"], p["port"]) for p in s["ports"]): sorted(by_pod(s))
              for s in slices(store, "mp")}
    assert groups == {(("http", 8080), ("metrics", 9100)): ["mp-a", "mp-b"],
                      (("http", 8080),): ["mp-c"]}
    (two,) = [s for s in slices(store, "mp") if len(s["ports"]) == 2]
    assert two["ports"][1] == {"name": "metrics", "port": 9100, "protocol": "TCP",
                               "appProtocol": "http"}
    ep = store.get("Endpoints", "default", "mp")
    assert [([a["ip"] for a in sub["addresses"]], sub["ports"]) for sub in ep["subsets"]] == [
        (["10.244.1.20", "10.244.1.21", "10.244.2.20"],
         [{"name": "http", "port": 8080, "protocol": "TCP"}]),
        (["10.244.1.20", "10.244.2.20"],
         [{"name": "metrics", "port": 9100, "protocol": "TCP", "appProtocol": "http"}])]


def test_label_change_removes_pod_and_port_change_updates_in_place(store, ctrls):
    three_pods(store)
    settle(*ctrls)
    name = slices(store, "web")[0]["metadata"]["name"]
    store.mutate("Pod", "default", "web-a", lambda p: p["metadata"]["labels"].update(app="x"))
    settle(*ctrls)
    (s,) = slices(store, "web")
    assert s["metadata"]["name"] == name and sorted(by_pod(s)) == ["web-b", "web-c"]
    assert kubectl_endpoints(store.get("Endpoints", "default", "web")) == \
        "10.244.1.4:8080,10.244.2.3:8080"
    store.mutate("Service", "default", "web",     # a new port set: the same slice, updated
                 lambda s: s["spec"]["ports"][0].update(targetPort=8443))
    settle(*ctrls)
    (s,) = slices(store, "web")
    assert s["metadata"]["name"] == name
    assert s["ports"] == [{"name": "http", "port": 8443, "protocol": "TCP"}]
    assert kubectl_endpoints(store.get("Endpoints", "default", "web")) == \
        "10.244.1.4:8443,10.244.2.3:8443"


def test_no_change_writes_nothing(store, ctrls):
    three_pods(store)
    settle(*ctrls)
    before = store.list("EndpointSlice") + store.list("Endpoints")
    writes = [c.writes for c in ctrls]
    store.mutate("Pod", "default", "web-a",
                 lambda p: p["metadata"].setdefault("annotations", {}).update(x="1"))
    store.mutate("Service", "default", "web",
                 lambda s: s["metadata"].setdefault("annotations", {}).update(y="2"))
    for c in ctrls:                      # a resync: every key again
        for key in c.initial_keys():
            c.enqueue(key)
    settle(*ctrls)
    assert store.list("EndpointSlice") + store.list("Endpoints") == before  # same rv too
    assert [c.writes for c in ctrls] == writes


def test_at_most_100_endpoints_per_slice_fullest_filled_names_kept(store):
    ctrl = EndpointSliceController(store)
    store.create(service("big", {"app": "big"}))
    for i in range(102):
        store.create(pod(f"big-{i:03d}", f"10.244.1.{i + 2}", {"app": "big"}))
    ctrl.settle()
    names = {s["metadata"]["name"] for s in slices(store, "big")}
    assert sorted(len(s["endpoints"]) for s in slices(store, "big")) == [2, 100]
    store.delete("Pod", "default", "big-000", grace_seconds=0)
    ctrl.settle()
    store.create(pod("big-102", "10.244.2.2", {"app": "big"}))
    ctrl.settle()
    assert {s["metadata"]["name"] for s in slices(store, "big")} == names
    assert sorted(len(s["endpoints"]) for s in slices(store, "big")) == [2, 100]


def test_service_without_pods_has_one_placeholder_slice(store, ctrls):
    store.create(service("empty", {"app": "none"}))
    settle(*ctrls)
    (s,) = slices(store, "empty")
    assert s["endpoints"] == [] and s["ports"] == []
    assert "subsets" not in store.get("Endpoints", "default", "empty")
    name, rv = s["metadata"]["name"], s["metadata"]["resourceVersion"]
    store.create(pod("p", "10.244.1.50", {"app": "none"}))
    settle(*ctrls)
    (s,) = slices(store, "empty")              # the placeholder's name is reused
    assert s["metadata"]["name"] == name
    assert [e["addresses"] for e in s["endpoints"]] == [["10.244.1.50"]]
    store.delete("Pod", "default", "p", grace_seconds=0)
    settle(*ctrls)
    (s,) = slices(store, "empty")
    assert s["metadata"]["name"] == name and s["metadata"]["resourceVersion"] != rv
    assert s["endpoints"] == [] and s["ports"] == []


def test_hand_edits_are_repaired(store, ctrls):
    three_pods(store)
    settle(*ctrls)
    (s,) = slices(store, "web")
    store.mutate("EndpointSlice", "default", s["metadata"]["name"],
                 lambda o: o.update(endpoints=[]))
    store.mutate("Endpoints", "default", "web", lambda o: o.pop("subsets"))
    settle(*ctrls)
    (fixed,) = slices(store, "web")
    assert fixed["metadata"]["name"] == s["metadata"]["name"]
    assert fixed["endpoints"] == s["endpoints"]
    assert len(store.get("Endpoints", "default", "web")["subsets"][0]["addresses"]) == 3
    store.delete("EndpointSlice", "default", s["metadata"]["name"])
    store.delete("Endpoints", "default", "web")
    settle(*ctrls)
    assert [e["targetRef"]["name"] for e in slices(store, "web")[0]["endpoints"]] == \
        ["web-a", "web-b", "web-c"]
    assert store.find("Endpoints", "default", "web") is not None


def test_unmanaged_or_deleted_services_lose_slices_and_endpoints(store, ctrls):
    three_pods(store)
    store.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                  "spec": {"type": "ExternalName", "externalName": "example.org",
                           "selector": {"app": "web"}}})
    store.create(service("nosel", {}))
    manual = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "nosel"},
              "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]}
    store.create(manual)
    settle(*ctrls)
    assert slices(store, "ext") == [] and slices(store, "nosel") == []
    assert store.find("Endpoints", "default", "ext") is None
    assert store.get("Endpoints", "default", "nosel")["subsets"] == manual["subsets"]
    store.create(service("other", {"app": "web"}))
    store.mutate("Service", "default", "web", lambda s: s["spec"].pop("selector"))
    settle(*ctrls)
    assert slices(store, "web") == [] and store.find("Endpoints", "default", "web") is None
    assert len(slices(store, "other")) == 1
    store.delete("Service", "default", "other")            # deleted: slices and Endpoints go
    settle(*ctrls)
    assert slices(store, "other") == [] and store.find("Endpoints", "default", "other") is None


def test_pod_on_unknown_node_waits_unless_publish_not_ready(store):
    ctrl = EndpointSliceController(store)
    store.create(service("web", {"app": "web"}))
    store.create(service("pub", {"app": "web"}, publishNotReadyAddresses=True))
    store.create(pod("web-a", "10.244.1.3", {"app": "web"}))
    store.create(pod("web-z", "10.244.9.3", {"app": "web"}, node_name="ghost"))
    ctrl.run_once()
    assert sorted(by_pod(slices(store, "web")[0])) == ["web-a"]
    assert sorted(by_pod(slices(store, "pub")[0])) == ["web-a", "web-z"]
    assert ctrl.reconcile(("default", "web")) == NODE_RETRY
    store.create(node("ghost"))
    ctrl.reconcile(("default", "web"))
    assert sorted(by_pod(slices(store, "web")[0])) == ["web-a", "web-z"]


def test_odd_objects_are_skipped_not_raised_on(store, ctrls):
    store.create(namespace("kube-system"))
    store.create(service("web", {"app": "web"}, ports=[{"name": "bad"}, "junk",
                                                       {"port": 80, "targetPort": "8080"}]))
    app = {"app": "web"}
    for obj in [{"metadata": {"name": "bare", "labels": app}},
                {"metadata": {"name": "weird", "labels": None}, "spec": "x",
                 "status": {"podIPs": "nope", "conditions": [None, 3]}},
                {"metadata": {"name": "v6", "labels": app}, "spec": {"containers": None},
                 "status": {"podIP": "fd00::1", "podIPs": [{"ip": "fd00::1"}, {"ip": 5}]}},
                pod("good", "10.244.1.60", app), pod("gone", "10.244.1.61", app, ns="kube-system"),
                pod("done", "10.244.1.62", app, node_name="node2")]:
        store.create({"apiVersion": "v1", "kind": "Pod", **obj})
    store.mutate("Pod", "default", "done", lambda p: p["status"].update(phase="Succeeded"))
    labels = {"kubernetes.io/service-name": "web",
              "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    store.create({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "endpoints": "x",
                  "metadata": {"name": "web-junk", "labels": labels}, "ports": [1, None]})
    settle(*ctrls)
    (s,) = slices(store, "web")                 # web-junk (not owned by the Service) is gone
    assert s["metadata"]["name"] != "web-junk" and sorted(by_pod(s)) == ["good"]
    assert s["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]
    assert kubectl_endpoints(store.get("Endpoints", "default", "web")) == "10.244.1.60:8080"


def test_find_port_needs_name_and_protocol():
    udp = {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"}
    p = pod("x", "10.0.0.1", {}, ports=[{"name": "dns", "containerPort": 53}])
    assert find_port(p, udp) is None                                        # TCP by default
    p["spec"]["containers"][0]["ports"].append({"name": "dns", "containerPort": 5353,
                                                "protocol": "UDP"})
    assert find_port(p, udp) == 5353
    sidecar = pod("y", "10.0.0.2", {}, ports=[], initContainers=[{
        "restartPolicy": "Always", "ports": [{"name": "dns", "containerPort": 53,
                                              "protocol": "UDP"}]}])
    assert find_port(sidecar, udp) == 53
    assert service_ports(service("d", {"a": "b"}, ports=[{"port": 80}])) == [
        {"name": "", "port": 80, "protocol": "TCP", "targetPort": 80}]
