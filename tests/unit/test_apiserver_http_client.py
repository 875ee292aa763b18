"""The official Python client (kubernetes) lists, watches and creates
against the lab's API server, as it would against a real cluster."""
from __future__ import annotations

import threading

import pytest
from kubernetes import client, config, watch  # the dev extra installs it

from k8snet.apiserver.http import serve
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store


@pytest.fixture
def api(tmp_path):
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "web-1", "namespace": "default",
                               "labels": {"app": "web"}},
                  "spec": {"containers": [{"name": "c", "image": "x"}]}})
    with serve(store) as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
        api_client = config.new_client_from_config(config_file=str(path))
        yield store, api_client


def test_list_create_and_errors(api):
    store, api_client = api
    core = client.CoreV1Api(api_client)
    pods = core.list_namespaced_pod("default", label_selector="app=web")
    assert [p.metadata.name for p in pods.items] == ["web-1"]
    assert pods.items[0].status.phase == "Pending"
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg"), data={"a": "b"})
    made = core.create_namespaced_config_map("default", body)
    assert made.metadata.uid and store.get("ConfigMap", "default", "cfg")["data"] == {"a": "b"}
    with pytest.raises(client.ApiException) as info:
        core.create_namespaced_config_map("default", body)
    assert info.value.status == 409
    bad = client.V1Service(metadata=client.V1ObjectMeta(name="bad"), spec=client.V1ServiceSpec(
        ports=[client.V1ServicePort(port=80), client.V1ServicePort(port=81)]))
    with pytest.raises(client.ApiException) as info:
        core.create_namespaced_service("default", bad)
    assert info.value.status == 422 and "spec.ports[1].name: Required value" in info.value.body


def test_watch_sees_a_new_object(api):
    store, api_client = api
    core = client.CoreV1Api(api_client)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def follow():
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_config_map, "default", resource_version=rv,
                              timeout_seconds=5):
            seen.append((event["type"], event["object"].metadata.name))
            w.stop()
            done.set()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    store.create({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "new", "namespace": "default"}})
    assert done.wait(10)
    assert seen == [("ADDED", "new")]
