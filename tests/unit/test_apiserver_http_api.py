"""The REST API over plain HTTP (no kubectl): discovery, Table, paging, watch,
patch types, Status bodies; and the pure parts (strategic merge, field
selectors, protobuf bodies, Status causes)."""
from __future__ import annotations

import copy
import json
import struct
import urllib.error
import urllib.request

import pytest

from k8snet.apiserver.http import fields, protobuf, serve, strategic
from k8snet.apiserver.http import status as st
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.errors import BadRequest, Invalid

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.fixture
def api():
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    for ns in ("default", "shop"):
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for i in range(3):
        store.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": f"cm{i}", "namespace": "shop",
                                   "labels": {"n": str(i)}}, "data": {"k": str(i)}})
    server = serve(store)
    yield server, store
    server.stop()


def call(server, method, path, body=None, ctype="application/json", accept="application/json",
         raw=False):
    data = None if body is None else (body if isinstance(body, bytes) else
                                      json.dumps(body).encode())
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"Content-Type": ctype, "Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
            code = resp.status
    except urllib.error.HTTPError as err:
        text, code = err.read().decode(), err.code
    try:
        return code, (text if raw else json.loads(text))
    except ValueError:
        return code, text


def test_listens_on_loopback_only(api):
    server, store = api
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0
    with pytest.raises(ValueError):
        serve(store, host="0.0.0.0")


def test_discovery_documents(api):
    server, _ = api
    assert call(server, "GET", "/api")[1]["versions"] == ["v1"]
    groups = {g["name"]: g for g in call(server, "GET", "/apis")[1]["groups"]}
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    core = {r["name"]: r for r in call(server, "GET", "/api/v1")[1]["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["categories"] == ["all"]
    assert core["pods"]["singularName"] == "pod" and core["pods"]["namespaced"] is True
    assert "watch" in core["pods"]["verbs"] and "deletecollection" in core["pods"]["verbs"]
    assert core["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert core["pods/log"] == {"name": "pods/log", "singularName": "", "namespaced": True,
                                "kind": "Pod", "verbs": ["get"]}
    assert core["nodes"]["namespaced"] is False
    apps = {r["name"]: r for r in call(server, "GET", "/apis/apps/v1")[1]["resources"]}
    assert apps["deployments/scale"]["group"] == "autoscaling"
    assert apps["deployments/scale"]["kind"] == "Scale"
    assert call(server, "GET", "/apis/nope/v1")[0] == 404
    assert call(server, "GET", "/version")[1]["major"] == "1"
    # OpenAPI v2, kubectl's fallback for a kind v3 lacks: no definitions at all
    swagger = call(server, "GET", "/openapi/v2")[1]
    assert swagger["swagger"] == "2.0" and swagger["definitions"] == {}
    code, body = call(server, "GET", "/openapi/v2", raw=True,
                      accept="application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    assert (code, body) == (200, "")                    # the empty gnostic Document


def test_table_response(api):
    server, _ = api
    code, table = call(server, "GET", "/api/v1/namespaces/shop/configmaps", accept=TABLE)
    assert code == 200 and table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][:2] == ["cm0", 1]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    full = call(server, "GET", "/api/v1/namespaces/shop/configmaps?includeObject=Object",
                accept=TABLE)[1]
    assert full["rows"][0]["object"]["data"] == {"k": "0"}


def test_limit_and_continue(api):
    server, _ = api
    _, page = call(server, "GET", "/api/v1/configmaps?limit=2")
    assert [i["metadata"]["name"] for i in page["items"]] == ["cm0", "cm1"]
    assert page["metadata"]["remainingItemCount"] == 1
    token = page["metadata"]["continue"]
    _, rest = call(server, "GET", f"/api/v1/configmaps?limit=2&continue={token}")
    assert [i["metadata"]["name"] for i in rest["items"]] == ["cm2"]
    assert "continue" not in rest["metadata"]
    assert call(server, "GET", "/api/v1/configmaps?continue=garbage")[0] == 400


def test_watch_stream(api):
    server, store = api
    rv = store.resource_version
    store.create({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "new", "namespace": "shop"}})
    store.delete("ConfigMap", "shop", "cm0")
    code, text = call(server, "GET", f"/api/v1/namespaces/shop/configmaps?watch=true&"
                      f"resourceVersion={rv}&timeoutSeconds=1&allowWatchBookmarks=true", raw=True)
    events = [json.loads(line) for line in text.splitlines()]
    assert code == 200
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == \
        [("ADDED", "new"), ("DELETED", "cm0")]
    _, text = call(server, "GET", "/api/v1/configmaps?watch=1&timeoutSeconds=1&"
                   "labelSelector=n%3D1", raw=True)
    assert [json.loads(line)["object"]["metadata"]["name"] for line in text.splitlines()] == \
        ["cm1"]
    _, text = call(server, "GET", "/api/v1/configmaps?watch=1&timeoutSeconds=1&"
                   "sendInitialEvents=true&allowWatchBookmarks=true&"
                   "resourceVersionMatch=NotOlderThan", raw=True)
    last = json.loads(text.splitlines()[-1])
    assert last["type"] == "BOOKMARK"
    assert last["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_table_sends_columns_once(api):
    server, store = api
    rv = store.resource_version
    for name in ("a", "b"):
        store.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": name, "namespace": "shop"}})
    _, text = call(server, "GET", f"/api/v1/configmaps?watch=true&resourceVersion={rv}&"
                   "timeoutSeconds=1", accept=TABLE, raw=True)
    first, second = (json.loads(line)["object"] for line in text.splitlines())
    assert first["kind"] == "Table" and first["columnDefinitions"]
    assert second["columnDefinitions"] == [] and second["rows"][0]["cells"][0] == "b"


def test_patch_types(api):
    server, store = api
    path = "/api/v1/namespaces/shop/configmaps/cm1"
    code, obj = call(server, "PATCH", path, [{"op": "add", "path": "/data/x", "value": "y"}],
                     "application/json-patch+json")
    assert code == 200 and obj["data"] == {"k": "1", "x": "y"}
    _, obj = call(server, "PATCH", path, {"data": {"k": None}}, "application/merge-patch+json")
    assert obj["data"] == {"x": "y"}
    code, obj = call(server, "PATCH", path, {"data": {"z": "1"}}, "text/plain")
    assert code == 415 and obj["reason"] == "UnsupportedMediaType"
    code, obj = call(server, "PATCH", "/api/v1/namespaces/shop/configmaps/none",
                     {"data": {}}, "application/merge-patch+json")
    assert (code, obj["reason"], obj["message"]) == (404, "NotFound",
                                                      'configmaps "none" not found')
    assert obj["details"] == {"name": "none", "kind": "configmaps"}
    code, obj = call(server, "PATCH", path, {"metadata": {"resourceVersion": "1"}},
                     "application/merge-patch+json")
    assert (code, obj["reason"]) == (409, "Conflict")
    assert store.get("ConfigMap", "shop", "cm1")["data"] == {"x": "y"}


def test_invalid_status_has_causes(api):
    server, _ = api
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
           "spec": {"ports": [{"port": 80}, {"port": 81}]}}
    code, obj = call(server, "POST", "/api/v1/namespaces/shop/services", svc)
    assert (code, obj["reason"]) == (422, "Invalid")
    assert obj["message"].startswith('Service "x" is invalid: [spec.ports[0].name')
    assert obj["details"]["kind"] == "Service" and obj["details"]["name"] == "x"
    assert obj["details"]["causes"][0] == {"reason": "FieldValueRequired",
                                           "message": "Required value",
                                           "field": "spec.ports[0].name"}


def test_dry_run_create_and_delete_collection(api):
    server, store = api
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}}
    code, obj = call(server, "POST", "/api/v1/namespaces/shop/configmaps?dryRun=All", cm)
    assert code == 201 and obj["metadata"]["namespace"] == "shop"
    assert store.find("ConfigMap", "shop", "dry") is None
    code, gone = call(server, "DELETE", "/api/v1/namespaces/shop/configmaps?labelSelector=n%3D2")
    assert code == 200 and [o["metadata"]["name"] for o in gone["items"]] == ["cm2"]
    assert [o["metadata"]["name"] for o in store.list("ConfigMap", "shop")] == ["cm0", "cm1"]


def test_status_subresource_and_pod_streams(api):
    server, store = api
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace":
                  "shop"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    code, obj = call(server, "PATCH", "/api/v1/namespaces/shop/pods/p/status",
                     {"status": {"phase": "Running"}, "spec": {"nodeName": "ignored"}},
                     "application/strategic-merge-patch+json")
    assert code == 200 and obj["status"]["phase"] == "Running"
    assert "nodeName" not in store.get("Pod", "shop", "p")["spec"]
    code, obj = call(server, "PATCH", "/api/v1/namespaces/shop/pods/p",
                     {"status": {"phase": "Failed"}}, "application/merge-patch+json")
    assert store.get("Pod", "shop", "p")["status"]["phase"] == "Running"
    code, obj = call(server, "POST", "/api/v1/namespaces/shop/pods/p/exec?command=ls")
    assert (code, obj["reason"]) == (501, "NotImplemented")
    code, obj = call(server, "GET", "/api/v1/namespaces/shop/pods/p/log")
    assert code == 501
    assert call(server, "GET", "/api/v1/namespaces/shop/pods/p/nope")[0] == 404


def test_namespace_finalizers_change_only_through_finalize(api):
    """A Namespace stuck in Terminating on a finalizer nobody removes: an
    update or patch of the Namespace keeps spec.finalizers (upstream's
    PrepareForUpdate); PUT .../finalize frees it."""
    server, store = api
    store.create({"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "stuck"}, "spec": {"finalizers": ["example.com/hold"]}})
    core = {r["name"]: r for r in call(server, "GET", "/api/v1")[1]["resources"]}
    assert core["namespaces/finalize"]["verbs"] == ["update"]
    store.delete("Namespace", "", "stuck")
    assert store.get("Namespace", "", "stuck")["status"]["phase"] == "Terminating"
    code, obj = call(server, "PATCH", "/api/v1/namespaces/stuck",
                     {"metadata": {"labels": {"a": "b"}}, "spec": {"finalizers": []}},
                     "application/merge-patch+json")
    assert code == 200 and obj["metadata"]["labels"]["a"] == "b"
    assert obj["spec"]["finalizers"] == ["example.com/hold", "kubernetes"]
    assert call(server, "GET", "/api/v1/namespaces/stuck/finalize")[0] == 405
    ns = copy.deepcopy(store.get("Namespace", "", "stuck"))
    ns["spec"]["finalizers"] = ["kubernetes"]
    ns["status"] = {"phase": "Active"}
    code, obj = call(server, "PUT", "/api/v1/namespaces/stuck/finalize", ns)
    assert code == 200 and obj["spec"]["finalizers"] == ["kubernetes"]
    assert obj["status"]["phase"] == "Terminating"              # the status is kept
    ns = copy.deepcopy(store.get("Namespace", "", "stuck"))
    ns["spec"]["finalizers"] = []
    code, obj = call(server, "PUT", "/api/v1/namespaces/stuck/finalize", ns)
    assert code == 200 and store.find("Namespace", "", "stuck") is None


# --- pure parts -------------------------------------------------------------------

def test_strategic_merge_by_keys_and_directives():
    pod = {"metadata": {"finalizers": ["a"]},
           "spec": {"containers": [{"name": "a", "image": "x",
                                    "env": [{"name": "A", "value": "1"}],
                                    "ports": [{"containerPort": 80}]},
                                   {"name": "b", "image": "y"}],
                    "volumes": [{"name": "v", "emptyDir": {}}],
                    "tolerations": [{"key": "t"}]}}
    patch = {"metadata": {"finalizers": ["b"]},
             "spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                      "containers": [{"name": "a", "env": [{"name": "B", "value": "2"}],
                                      "ports": [{"containerPort": 81}]},
                                     {"name": "b", "$patch": "delete"}],
                      "volumes": [{"name": "w", "configMap": {"name": "c"}}],
                      "tolerations": [{"key": "u"}]}}
    out = strategic.apply(pod, patch, "Pod")
    assert out["metadata"]["finalizers"] == ["a", "b"]
    (only,) = out["spec"]["containers"]
    assert only["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert [p["containerPort"] for p in only["ports"]] == [80, 81]
    assert [v["name"] for v in out["spec"]["volumes"]] == ["v", "w"]
    assert out["spec"]["tolerations"] == [{"key": "u"}]        # no merge key: replaced
    assert pod["spec"]["containers"][1]["name"] == "b"         # the input is untouched
    strategy = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"x": 1}}}}
    recreate = strategic.apply(strategy, {"spec": {"strategy": {
        "$retainKeys": ["type"], "type": "Recreate"}}}, "Deployment")
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}
    svc = strategic.apply({"spec": {"ports": [{"port": 80, "name": "a"}]}},
                          {"spec": {"ports": [{"port": 80, "name": "b"}]}}, "Service")
    assert svc["spec"]["ports"] == [{"port": 80, "name": "b"}]
    replaced = strategic.apply(pod, {"spec": {"containers": [{"$patch": "replace"},
                                                            {"name": "z"}]}}, "Pod")
    assert replaced["spec"]["containers"] == [{"name": "z"}]


def test_field_selectors():
    pod = {"metadata": {"name": "p", "namespace": "n"}, "spec": {"nodeName": "a"},
           "status": {"phase": "Running"}}
    assert fields.parse("spec.nodeName=a,status.phase!=Pending", "Pod")(pod)
    assert not fields.parse("metadata.namespace==m", "Pod")(pod)
    with pytest.raises(BadRequest, match="field label not supported: spec.nodeName"):
        fields.parse("spec.nodeName=a", "ConfigMap")


def _pb_field(num: int, value) -> bytes:
    def varint(n: int) -> bytes:
        out = b""
        while True:
            byte, n = n & 0x7F, n >> 7
            out += bytes([byte | (0x80 if n else 0)])
            if not n:
                return out
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(num << 3 | 2) + varint(len(data)) + data


def test_protobuf_body_decodes():
    meta = _pb_field(1, "web") + _pb_field(2, "") + _pb_field(
        11, _pb_field(1, "app") + _pb_field(2, "web")) + _pb_field(8, b"")
    port = _pb_field(3, 8080) + _pb_field(4, "TCP") + _pb_field(2, 0)
    container = _pb_field(1, "c") + _pb_field(2, "nginx") + _pb_field(6, port) + \
        _pb_field(8, b"")
    template = _pb_field(2, _pb_field(2, container))
    spec = _pb_field(1, 0) + _pb_field(3, template) + _pb_field(4, _pb_field(
        2, _pb_field(1, _pb_field(1, 1) + _pb_field(3, "25%"))))
    raw = _pb_field(1, meta) + _pb_field(2, spec)
    body = protobuf.MAGIC + _pb_field(1, _pb_field(1, "apps/v1") + _pb_field(2, "Deployment")) \
        + _pb_field(2, raw)
    obj = protobuf.decode(body)
    assert obj["kind"] == "Deployment" and obj["metadata"] == {"name": "web",
                                                                "labels": {"app": "web"}}
    assert obj["spec"]["replicas"] == 0                       # a pointer: zero kept
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container == {"name": "c", "image": "nginx", "resources": {},
                         "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
    assert obj["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == "25%"
    assert struct.calcsize("<d") == 8
    with pytest.raises(BadRequest):
        protobuf.decode(b"not protobuf")


def test_status_from_errors():
    err = Invalid('The Deployment.apps "w" is invalid: spec.replicas: Invalid value: -1: '
                  "must be greater than or equal to 0",
                  ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"])
    body = st.from_error(err)
    assert body["message"].startswith('Deployment.apps "w" is invalid')
    assert body["details"] == {"name": "w", "kind": "Deployment", "group": "apps", "causes": [
        {"reason": "FieldValueInvalid", "field": "spec.replicas",
         "message": "Invalid value: -1: must be greater than or equal to 0"}]}
    assert st.cause("Required value")["field"] == ""


def test_core_v1_endpoints_carry_the_deprecation_warning(api):
    """kube-apiserver >= 1.33 warns on every v1 Endpoints request; kubectl prints it."""
    server, _ = api
    warned = []
    for path in ("/api/v1/endpoints", "/api/v1/namespaces/shop/endpoints",
                 "/api/v1/namespaces/shop/endpoints/nope", "/api/v1/namespaces/shop/configmaps"):
        req = urllib.request.Request(server.url + path, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                headers = resp.headers
        except urllib.error.HTTPError as err:          # the 404 is warned too
            headers = err.headers
        warned.append(headers.get_all("Warning") or [])
    text = '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"'
    assert warned == [[text], [text], [text], []]
