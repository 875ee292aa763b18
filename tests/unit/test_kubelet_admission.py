"""The kubelet's admission of a pod bound to its node directly
(k8snet.node.admission): host ports another pod holds reject it, Failed."""
from __future__ import annotations

from k8snet.apiserver.store import Store
from k8snet.node import admission


def hostnet(name: str, port: int = 8080) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "node2", "hostNetwork": True, "containers": [
                {"name": "c", "image": "nginx",
                 "ports": [{"containerPort": port, "hostPort": port, "protocol": "TCP"}]}]}}


def test_a_pod_whose_host_port_is_held_is_rejected_failed_with_an_event() -> None:
    store = Store()
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    first, second, other = (store.create(hostnet("a")), store.create(hostnet("b")),
                            store.create(hostnet("c", port=9090)))
    running = [("default", "a")]
    assert admission.ports_taken(store, running, second)
    assert not admission.ports_taken(store, running, other)
    assert not admission.ports_taken(store, [], first)
    admission.reject(store, second, "NodePorts",
                     "node(s) didn't have free ports for the requested pod ports", "node2")
    status = store.get("Pod", "default", "b")["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "NodePorts")
    assert status["message"] == ("Pod was rejected: Predicate NodePorts failed: node(s) "
                                 "didn't have free ports for the requested pod ports")
    [event] = [e for e in store.list("Event") if e["involvedObject"]["name"] == "b"]
    assert (event["type"], event["reason"]) == ("Warning", "NodePorts")
