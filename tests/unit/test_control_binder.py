"""The binder (scheduler): filters, choice of node, the scheduler's messages."""
from collections import Counter

import pytest
from control_helpers import cluster, events, node

from k8snet.apiserver.store import Store
from k8snet.control.binder import (
    EVERY_PENDING_POD,
    Binder,
    fit_error,
    matches_node,
    requirement_matches,
    tolerates,
)


def pod(name, node_selector=None, affinity=None, tolerations=None, **spec):
    body = {"containers": [{"name": "c", "image": "nginx"}], **spec}
    if node_selector:
        body["nodeSelector"] = node_selector
    if affinity:
        body["affinity"] = {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": affinity}}}
    if tolerations:
        body["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": body}


def scheduled(store, name):
    found = store.get("Pod", "default", name)
    cond = next(c for c in found["status"]["conditions"] if c["type"] == "PodScheduled")
    return found["spec"].get("nodeName", ""), cond


@pytest.fixture
def store():
    return cluster(3)


def test_binds_to_the_least_loaded_node_ties_by_name(store):
    binder = Binder(store)
    for i in range(4):
        store.create(pod(f"p{i}"))
        binder.settle()
    placed = [scheduled(store, f"p{i}")[0] for i in range(4)]
    assert placed == ["node1", "node2", "node3", "node1"]
    node_name, cond = scheduled(store, "p0")
    assert (cond["status"], cond.get("reason")) == ("True", None)
    assert events(store, "Scheduled")[0] == "Successfully assigned default/p0 to node1"


def test_no_matching_node(store):
    binder = Binder(store)
    store.create(pod("p", node_selector={"disk": "ssd"}))
    binder.settle()
    node_name, cond = scheduled(store, "p")
    assert node_name == ""
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    message = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    assert cond["message"] == message
    binder.enqueue(("Pod", "default", "p"))
    binder.enqueue(EVERY_PENDING_POD)
    binder.settle()
    failed = [e for e in store.list("Event") if e["reason"] == "FailedScheduling"]
    assert [(e["type"], e["message"], e["count"]) for e in failed] == [("Warning", message, 1)]
    store.mutate("Node", "", "node2", lambda n: n["metadata"]["labels"].update(disk="ssd"))
    binder.settle()
    node_name, cond = scheduled(store, "p")
    assert node_name == "node2" and cond["status"] == "True"


def test_full_node():
    store = Store()
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create(node("node1", pods="1"))
    binder = Binder(store)
    store.create(pod("a"))
    store.create(pod("b"))
    binder.settle()
    assert scheduled(store, "a")[0] == "node1"
    assert scheduled(store, "b")[1]["message"] == "0/1 nodes are available: 1 Too many pods."
    store.delete("Pod", "default", "a", grace_seconds=0)
    binder.settle()
    assert scheduled(store, "b")[0] == "node1"


def test_reasons_are_counted_and_sorted_like_the_scheduler(store):
    store.create(node("node4"))
    store.mutate("Node", "", "node1", lambda n: n["status"]["conditions"][0].update(
        status="False"))
    store.mutate("Node", "", "node2", lambda n: n["spec"].update(unschedulable=True))
    store.mutate("Node", "", "node3", lambda n: n["status"]["conditions"][0].update(
        status="Unknown"))
    binder = Binder(store)
    store.create(pod("p", node_selector={"kubernetes.io/hostname": "node1"}))
    binder.settle()
    assert scheduled(store, "p")[1]["message"] == (
        "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
        "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
        "1 node(s) were unschedulable.")
    assert fit_error(3, ["b", "a", "b"]) == "0/3 nodes are available: 1 a, 2 b."
    assert fit_error(0, []) == "no nodes available to schedule pods"


def test_taints_and_tolerations(store):
    for name in ("node1", "node2"):
        store.mutate("Node", "", name, lambda n: n["spec"].update(
            taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    store.mutate("Node", "", "node3", lambda n: n["spec"].update(unschedulable=True))
    binder = Binder(store)
    store.create(pod("plain"))
    store.create(pod("gpu", tolerations=[{"key": "dedicated", "operator": "Equal",
                                          "value": "gpu", "effect": "NoSchedule"}]))
    store.create(pod("cordon-ok", tolerations=[{"key": "node.kubernetes.io/unschedulable",
                                                "operator": "Exists"}]))
    binder.settle()
    assert scheduled(store, "plain")[1]["message"] == (
        "0/3 nodes are available: 1 node(s) were unschedulable, "
        "2 node(s) had untolerated taint {dedicated: gpu}.")
    assert scheduled(store, "gpu")[0] == "node1"
    assert scheduled(store, "cordon-ok")[0] == "node3"
    assert tolerates({"operator": "Exists"}, {"key": "x", "effect": "NoExecute"})
    assert not tolerates({"key": "x", "value": "1"}, {"key": "x", "value": "2",
                                                      "effect": "NoSchedule"})
    assert not tolerates({"key": "x", "operator": "Exists", "effect": "NoExecute"},
                         {"key": "x", "effect": "NoSchedule"})


def test_node_affinity_operators_and_fields():
    n = node("node7", labels={"zone": "a", "cores": "8"})
    labels = n["metadata"]["labels"]
    assert requirement_matches({"key": "zone", "operator": "In", "values": ["a", "b"]}, labels)
    assert requirement_matches({"key": "zone", "operator": "NotIn", "values": ["b"]}, labels)
    assert requirement_matches({"key": "rack", "operator": "NotIn", "values": ["b"]}, labels)
    assert requirement_matches({"key": "zone", "operator": "Exists"}, labels)
    assert requirement_matches({"key": "rack", "operator": "DoesNotExist"}, labels)
    assert requirement_matches({"key": "cores", "operator": "Gt", "values": ["4"]}, labels)
    assert not requirement_matches({"key": "cores", "operator": "Lt", "values": ["4"]}, labels)
    assert not requirement_matches({"key": "zone", "operator": "Gt", "values": ["4"]}, labels)
    by_name = [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                 "values": ["node7"]}]}]
    assert matches_node(pod("x", affinity=by_name)["spec"], n)
    other = [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]},
             {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
    assert matches_node(pod("x", affinity=other)["spec"], n), "terms are ORed"
    assert not matches_node(pod("x", affinity=[{}])["spec"], n), "an empty term matches nothing"
    assert not matches_node(pod("x", node_selector={"zone": "b"}, affinity=other)["spec"], n)


def test_ignores_other_schedulers_bound_and_terminating_pods(store):
    binder = Binder(store)
    store.create(pod("other", schedulerName="my-scheduler"))
    store.create(pod("preset", nodeName="node3"))
    binder.settle()
    assert store.get("Pod", "default", "other")["spec"].get("nodeName") is None
    assert "status" not in store.get("Pod", "default", "other")
    assert "status" not in store.get("Pod", "default", "preset")


def test_no_nodes():
    store = Store()
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    binder = Binder(store)
    store.create(pod("p"))
    binder.settle()
    assert scheduled(store, "p")[1]["message"] == "no nodes available to schedule pods"
    assert binder.errors == 0


def test_a_burst_is_spread_and_the_load_follows_deletions(store):
    """Pods bound in one pass count at once (before their events arrive);
    deleted (or terminating) pods free their node; pods bound before the
    binder started count too."""
    store.create({**pod("early"), "spec": {**pod("early")["spec"], "nodeName": "node3"}})
    binder = Binder(store)
    for i in range(8):
        store.create(pod(f"p{i}"))
    binder.run_once()          # one pass over all eight pending pods
    binder.settle()
    placed = [scheduled(store, f"p{i}")[0] for i in range(8)]
    assert sorted(placed).count("node3") == 2 and sorted(placed).count("node1") == 3
    assert dict(binder.load) == {"node1": 3, "node2": 3, "node3": 3}
    for name in ("p0", "p3", "p6"):
        store.delete("Pod", "default", name)
    binder.settle()
    left = Counter(node for i, node in enumerate(placed) if i not in (0, 3, 6))
    assert +binder.load == left + Counter(["node3"])
    emptiest = min(("node1", "node2", "node3"), key=lambda n: (binder.load[n], n))
    store.create(pod("late"))
    binder.settle()
    assert scheduled(store, "late")[0] == emptiest


def test_host_ports_must_be_free_on_the_node(store):
    """NodePorts: a hostNetwork pod's container ports are host ports (the API
    server defaults hostPort to containerPort); a second pod asking for the
    same protocol and port goes elsewhere, and with nowhere left is pending."""
    from k8snet.api.hostports import host_ports, ports_conflict
    binder = Binder(store)

    def hostnet(name, port=8080, protocol="TCP", host_ip=None):
        port_spec = {"containerPort": port, "hostPort": port, "protocol": protocol}
        if host_ip:
            port_spec["hostIP"] = host_ip
        return pod(name, hostNetwork=True,
                   containers=[{"name": "c", "image": "nginx", "ports": [port_spec]}])

    for i in range(3):
        store.create(hostnet(f"h{i}"))
        binder.settle()
    assert sorted(scheduled(store, f"h{i}")[0] for i in range(3)) == ["node1", "node2", "node3"]
    store.create(hostnet("h3"))
    store.create(hostnet("udp", protocol="UDP"))             # another protocol fits
    binder.settle()
    node_name, cond = scheduled(store, "h3")
    assert node_name == "" and cond["message"] == (
        "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod "
        "ports.")
    assert scheduled(store, "udp")[0] != ""
    store.delete("Pod", "default", "h0", grace_seconds=0)   # room again
    binder.settle()
    assert scheduled(store, "h3")[0] == "node1"
    assert host_ports(hostnet("x", host_ip="10.0.0.1")) == {("10.0.0.1", "TCP", 8080)}
    assert ports_conflict({("10.0.0.1", "TCP", 80)}, [("0.0.0.0", "TCP", 80)])
    assert not ports_conflict({("10.0.0.1", "TCP", 80)}, [("10.0.0.2", "TCP", 80)])
    assert not ports_conflict({("0.0.0.0", "TCP", 80)}, [("0.0.0.0", "UDP", 80)])
