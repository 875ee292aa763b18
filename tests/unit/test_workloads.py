"""Pure parts of the workload controllers and their kubectl tables."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from k8snet.api.model import Node, Pod
from k8snet.cli.tables import namespaces_table, workloads_table
from k8snet.control.scheduler import pick_node
from k8snet.control.workloads import WorkloadState, kind_of, ref, restarted_hash
from k8snet.errors import K8snetError
from k8snet.load.manifests import PodTemplate, Workload


def test_kubectl_names_objects_with_their_group():
    assert ref("Deployment", "web") == "deployment.apps/web"
    assert ref("Service", "web") == "service/web"
    assert ref("Ingress", "shop") == "ingress.networking.k8s.io/shop"
    assert ref("StatefulSet", "db", " ") == 'statefulset.apps "db"'


@pytest.mark.parametrize("word,kind", [("deploy", "Deployment"), ("deployments", "Deployment"),
                                       ("deployment.apps", "Deployment"), ("sts", "StatefulSet"),
                                       ("ds", "DaemonSet"), ("rs", "ReplicaSet")])
def test_kind_of_accepts_kubectl_short_names(word, kind):
    assert kind_of(word) == kind


def test_kind_of_unknown_word_is_kubectls_error():
    with pytest.raises(K8snetError, match='doesn\'t have a resource type "deploymnt"'):
        kind_of("deploymnt")


def test_restart_hash_is_new_stable_and_name_safe():
    a, b = restarted_hash("58cfd9dcf", 1), restarted_hash("58cfd9dcf", 2)
    assert a != b and a != "58cfd9dcf" and a == restarted_hash("58cfd9dcf", 1)
    assert len(a) == 10 and a.isalnum() and a.islower()


@dataclass
class FakeStatus:
    pod: Pod
    ready: bool
    terminating: bool = False


def test_deployment_table_counts_ready_and_up_to_date():
    wl = Workload("Deployment", "web", "default", 3, (("app", "web"),), PodTemplate(),
                  template_hash="new")
    state = WorkloadState(wl, created=0.0)
    pods = [FakeStatus(Pod("web-new-a", labels=(("pod-template-hash", "new"),)), True),
            FakeStatus(Pod("web-old-b", labels=(("pod-template-hash", "old"),)), True),
            FakeStatus(Pod("web-new-c", labels=(("pod-template-hash", "new"),)), False),
            FakeStatus(Pod("web-old-d", labels=(("pod-template-hash", "old"),)), True,
                       terminating=True)]
    text = workloads_table("Deployment", [state], lambda _: pods, now=30.0)
    assert text.splitlines() == ["NAME   READY   UP-TO-DATE   AVAILABLE   AGE",
                                 "web    2/3     2            2           30s"]


def test_daemonset_table_shows_node_selector():
    wl = Workload("DaemonSet", "agent", "kube-system", 0, (), PodTemplate(
        node_selector=(("disk", "ssd"),)))
    text = workloads_table("DaemonSet", [WorkloadState(wl, 0.0)],
                           lambda _: [FakeStatus(Pod("agent-x"), True)], True, now=5.0)
    assert text.splitlines()[1].split() == ["kube-system", "agent", "1", "1", "1", "1", "1",
                                            "disk=ssd", "5s"]


def test_namespaces_table():
    assert namespaces_table({"default": 0.0, "shop": 50.0}, now=60.0).splitlines() == [
        "NAME      STATUS   AGE", "default   Active   60s", "shop      Active   10s"]


NODES = (Node("node1", 1, "172.18.0.11", "10.244.1.0/24", (("disk", "hdd"),)),
         Node("node2", 2, "172.18.0.12", "10.244.2.0/24", (("disk", "ssd"),)))


def test_node_selector_on_labels_and_well_known_hostname_label():
    ssd = Pod("a", node_selector=(("disk", "ssd"),))
    assert pick_node(ssd, NODES, {"node2": 50}).name == "node2"
    by_host = Pod("b", node_selector=(("kubernetes.io/hostname", "node1"),))
    assert pick_node(by_host, NODES, {"node1": 50}).name == "node1"


def test_node_selector_matching_nothing_is_the_schedulers_message():
    with pytest.raises(K8snetError, match=r"0/2 nodes are available: 2 node\(s\) didn't "
                       r"match Pod's node affinity/selector \(disk=nvme\)"):
        pick_node(Pod("a", node_selector=(("disk", "nvme"),)), NODES, {})


def test_node_name_against_its_selector_is_refused():
    with pytest.raises(K8snetError, match="does not match the pod's nodeSelector"):
        pick_node(Pod("a", node_name="node1", node_selector=(("disk", "ssd"),)), NODES, {})
