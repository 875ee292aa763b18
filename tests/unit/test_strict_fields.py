"""Unknown fields (strict decoding, KEP-2885): found from the Kubernetes
client's models, refused or warned per ``fieldValidation``, and located on
their line by ``k8snet run -f`` / ``kubectl apply`` in the CLI."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from control_helpers import api_server, api_store

from k8snet.api.validation.strict import (
    decode_message,
    drop_unknown_fields,
    model_of,
    strict_message,
    type_errors,
    unknown_fields,
)
from k8snet.apiserver import apply
from k8snet.load.documents import parse_text

TYPO = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "typo", "labelz": {}},
        "spec": {"selectr": {"app": "web"}, "ports": [{"port": 80, "prot": "TCP"}]}}


def test_unknown_fields_at_every_depth_in_document_order() -> None:
    assert unknown_fields(TYPO) == ["metadata.labelz", "spec.selectr", "spec.ports[0].prot"]
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                  "metadata": {"labels": {"a": "b"}},
                  "spec": {"containers": [{"name": "c", "image": "x"},
                                          {"name": "d", "image": "x", "imagePullPolicyy": "x",
                                           "resources": {"limits": {"cpu": "1"}}}]}}}}
    assert unknown_fields(deploy) == ["spec.template.spec.containers[1].imagePullPolicyy"]
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "n"},
              "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "1.0.0.0/8"}}],
                                                       "ports": [{"port": "http"}]}]}}
    assert unknown_fields(policy) == []
    assert model_of("apps/v1", "Deployment") == "V1Deployment"


def test_a_kind_the_client_names_with_its_group_is_checked_too() -> None:
    assert model_of("v1", "Event") == "CoreV1Event"
    assert model_of("discovery.k8s.io/v1", "EndpointSlice") == "V1EndpointSlice"
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
             "involvedObject": {"kind": "Pod", "name": "p"}, "reasn": "Started"}
    assert unknown_fields(event) == ["reasn"]


def test_dropping_unknown_fields_keeps_the_rest() -> None:
    obj = json.loads(json.dumps(TYPO))
    assert drop_unknown_fields(obj) == unknown_fields(TYPO)
    assert obj == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "typo"},
                   "spec": {"ports": [{"port": 80}]}}
    assert drop_unknown_fields(obj) == []


def test_what_cannot_be_checked_is_not_called_unknown() -> None:
    assert unknown_fields({"apiVersion": "monitoring.coreos.com/v1", "kind": "Probe",
                           "metadata": {"name": "p"}, "spec": {"targets": {}}}) == []
    assert unknown_fields({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                           "metadata": {"name": "k"}, "spec": {"template": {}}}) == []
    assert model_of("v1", "Probe") is None and model_of("apps/v1", "Service") is None
    assert unknown_fields({"apiVersion": "example.com/v1", "kind": "Widget",
                           "spec": {"anything": 1}}) == []          # no model: a custom kind
    assert unknown_fields({"apiVersion": "v1", "kind": "Service",
                           "spec": "not an object"}) == []         # a shape error: validation's
    assert unknown_fields({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                           "data": {"any-key": "v"}}) == []        # map keys are data
    assert unknown_fields("nonsense") == []


def test_the_api_servers_message_names_every_field() -> None:
    assert strict_message(TYPO, unknown_fields(TYPO)) == (
        'Service in version "v1" cannot be handled as a Service: strict decoding error: '
        'unknown field "metadata.labelz", unknown field "spec.selectr", '
        'unknown field "spec.ports[0].prot"')


MULTI_BAD = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "multi"},
             "spec": {"replicas": "three", "selectr": {"matchLabels": {"app": "m"}},
                      "selector": {"matchLabels": {"app": "m"}},
                      "template": {"metadata": {"labels": {"app": "m"}},
                                   "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
REPLICAS = ("json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
            "of type int32")


def test_type_errors_in_gos_words_every_one_in_document_order() -> None:
    assert type_errors(MULTI_BAD) == [("spec.replicas", REPLICAS)]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": 1}},
           "spec": {"hostNetwork": "yes", "terminationGracePeriodSeconds": 1.5,
                    "securityContext": {"runAsUser": "root", "supplementalGroups": ["x"]},
                    "containers": [{"name": "c", "image": "x", "ports": [
                        {"containerPort": 2**31, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": 1}}}],        # a Quantity may be a number
                    "volumes": "none", "affinity": None}}
    assert type_errors(pod) == [
        ("metadata.labels[a]", "json: cannot unmarshal number into Go struct field "
                               "ObjectMeta.metadata.labels of type string"),
        ("spec.hostNetwork", "json: cannot unmarshal string into Go struct field "
                             "PodSpec.spec.hostNetwork of type bool"),
        ("spec.terminationGracePeriodSeconds", "json: cannot unmarshal number 1.5 into Go "
         "struct field PodSpec.spec.terminationGracePeriodSeconds of type int64"),
        ("spec.securityContext.runAsUser", "json: cannot unmarshal string into Go struct field "
         "PodSecurityContext.spec.securityContext.runAsUser of type int64"),
        ("spec.securityContext.supplementalGroups[0]", "json: cannot unmarshal string into Go "
         "struct field PodSecurityContext.spec.securityContext.supplementalGroups of type int64"),
        ("spec.containers[0].ports[0].containerPort", "json: cannot unmarshal number 2147483648 "
         "into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"),
        ("spec.volumes", "json: cannot unmarshal string into Go struct field PodSpec.spec.volumes "
                         "of type []v1.Volume")]
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 80, "targetPort": "http", "protocol": 6}]}}
    assert type_errors(svc) == []       # IntOrString, and a named string type: not named here
    assert type_errors({"apiVersion": "example.com/v1", "kind": "Widget",
                        "spec": {"replicas": "x"}}) == [] and type_errors([]) == []


def test_the_type_error_comes_first_then_the_strict_decoding_error() -> None:
    assert decode_message(MULTI_BAD, [t for _, t in type_errors(MULTI_BAD)],
                          unknown_fields(MULTI_BAD)) == (
        f'Deployment in version "v1" cannot be handled as a Deployment: {REPLICAS}, '
        'strict decoding error: unknown field "spec.selectr"')


def test_apply_refuses_unknown_fields_on_their_line_and_applies_nothing() -> None:
    store = api_store()
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n---\n"
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: typo\nspec:\n"
            "  selectr:\n    app: web\n  ports:\n  - port: 80\n")
    with pytest.raises(apply.ApplyError) as info:
        apply.apply(store, parse_text(text, "typo.yaml"))
    assert str(info.value) == ('typo.yaml:11: document 2: Service in version "v1" cannot be '
                               'handled as a Service: strict decoding error: unknown field '
                               '"spec.selectr"')
    assert store.find("ConfigMap", "default", "fine") is None       # nothing half-applied


@pytest.fixture
def server():
    srv = api_server()
    yield srv
    srv.stop()


def _send(srv, method: str, path: str, body: dict, ctype: str = "application/json"):
    req = urllib.request.Request(srv.url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": ctype, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get_all("Warning") or []
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers.get_all("Warning") or []


def test_field_validation_strict_warn_and_ignore(server) -> None:
    base = "/api/v1/namespaces/default/services"
    body = {**TYPO, "metadata": {"name": "typo"}}
    code, status, _ = _send(server, "POST", f"{base}?fieldValidation=Strict", body)
    assert code == 400 and status["reason"] == "BadRequest"
    assert status["message"] == ('Service in version "v1" cannot be handled as a Service: '
                                 'strict decoding error: unknown field "spec.selectr", '
                                 'unknown field "spec.ports[0].prot"')
    code, made, warnings = _send(server, "POST", base, body)       # Warn, the default
    assert code == 201 and warnings == ['299 - "unknown field \\"spec.selectr\\""',
                                        '299 - "unknown field \\"spec.ports[0].prot\\""']
    assert "selectr" not in made["spec"] and "prot" not in made["spec"]["ports"][0]  # dropped
    code, _, warnings = _send(server, "POST", f"{base}?fieldValidation=Ignore",
                              {**body, "metadata": {"name": "typo2"}})
    assert code == 201 and warnings == []
    code, status, _ = _send(server, "POST", f"{base}?fieldValidation=Sometimes", body)
    assert code == 400 and '"Sometimes"' in status["message"]
    # a patch and a server-side apply are held to the same rule
    code, status, _ = _send(server, "PATCH", f"{base}/typo2?fieldValidation=Strict",
                            {"spec": {"sessionAfinity": "ClientIP"}},
                            "application/merge-patch+json")
    assert code == 422 and status["reason"] == "Invalid"      # patch.go: NewInvalid on "patch"
    assert status["message"].startswith(' "" is invalid: patch: Invalid value: "{')
    assert status["message"].endswith(
        'strict decoding error: unknown field "spec.sessionAfinity"')   # nothing stored
    code, status, _ = _send(server, "PATCH", f"{base}/typo3?fieldValidation=Strict&"
                            "fieldManager=kubectl", {**body, "metadata": {"name": "typo3"}},
                            "application/apply-patch+yaml")
    assert code == 400 and 'unknown field "spec.selectr"' in status["message"]
    with pytest.raises(urllib.error.HTTPError) as info:       # refused before it was stored
        urllib.request.urlopen(server.url + f"{base}/typo3", timeout=10)
    assert info.value.code == 404
    code, made, warnings = _send(server, "PATCH", f"{base}/typo3?fieldManager=kubectl",
                                 {**body, "metadata": {"name": "typo3"}},
                                 "application/apply-patch+yaml")
    assert code == 201 and len(warnings) == 2 and "selectr" not in made["spec"]


def test_apply_gives_the_type_error_and_the_unknown_field_at_once() -> None:
    store = api_store()
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n---\n"
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: multi\nspec:\n"
            "  replicas: three\n  selectr:\n    matchLabels: {app: m}\n"
            "  selector:\n    matchLabels: {app: m}\n  template:\n    metadata:\n"
            "      labels: {app: m}\n    spec:\n      containers:\n      - {name: c, image: x}\n")
    with pytest.raises(apply.ApplyError) as info:
        apply.apply(store, parse_text(text, "multi-bad.yaml"))
    assert str(info.value) == (
        f'multi-bad.yaml:11: document 2: Deployment in version "v1" cannot be handled as a '
        f'Deployment: {REPLICAS}, strict decoding error: unknown field "spec.selectr"')
    assert store.find("ConfigMap", "default", "fine") is None       # nothing half-applied


def test_a_type_error_fails_decoding_in_every_field_validation_mode(server) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    prefix = f'Deployment in version "v1" cannot be handled as a Deployment: {REPLICAS}'
    code, status, _ = _send(server, "POST", f"{base}?fieldValidation=Strict", MULTI_BAD)
    assert code == 400 and status["reason"] == "BadRequest"
    assert status["message"] == f'{prefix}, strict decoding error: unknown field "spec.selectr"'
    for mode in ("Warn", "Ignore"):          # upstream: the type error alone, no warnings
        code, status, warnings = _send(server, "POST", f"{base}?fieldValidation={mode}",
                                       MULTI_BAD)
        assert (code, status["message"], warnings) == (400, prefix, [])
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server.url + f"{base}/multi", timeout=10)
    assert info.value.code == 404
    good = {**MULTI_BAD, "spec": {**MULTI_BAD["spec"], "replicas": 1}}
    code, _, _ = _send(server, "POST", f"{base}?fieldValidation=Warn", good)
    assert code == 201
    code, status, _ = _send(server, "PUT", f"{base}/multi?fieldValidation=Strict", MULTI_BAD)
    assert code == 400 and status["message"].startswith(prefix)


def test_a_patch_with_a_wrong_type_is_invalid_in_the_patch_handlers_words(server) -> None:
    """kube-apiserver's patch handler (patch.go): the patched object does not
    decode, so the answer is a 422 on the field ``patch`` with no kind and no
    name (kubectl prints "The request is invalid: patch: ..."), in every
    fieldValidation mode, and nothing is stored."""
    base = "/apis/apps/v1/namespaces/default/deployments"
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                       "template": {"metadata": {"labels": {"a": "b"}},
                                    "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    assert _send(server, "POST", base, deploy)[0] == 201
    code, status, _ = _send(server, "PATCH", f"{base}/d?fieldValidation=Ignore",
                            {"spec": {"replicas": "three"}}, "application/merge-patch+json")
    assert code == 422 and status["reason"] == "Invalid"
    assert status["details"]["kind"] == "" and status["details"]["name"] == ""
    [cause] = status["details"]["causes"]
    assert cause["field"] == "patch" and cause["reason"] == "FieldValueInvalid"
    assert cause["message"].startswith('Invalid value: "{\\"apiVersion\\":\\"apps/v1\\"')
    assert cause["message"].endswith('": json: cannot unmarshal string into Go struct field '
                                     'DeploymentSpec.spec.replicas of type int32')
    assert status["message"] == ' "" is invalid: patch: ' + cause["message"]
    code, status, _ = _send(server, "PATCH", f"{base}/d?fieldValidation=Strict",
                            {"spec": {"replicas": "three", "paused": "yes", "selectr": {}}},
                            "application/strategic-merge-patch+json")
    assert code == 422
    assert status["message"] == (
        ' "" is invalid: patch: Invalid value: "map[spec:map[paused:yes replicas:three '
        'selectr:map[]]]": cannot convert string to int32, cannot convert string to bool, '
        'strict decoding error: unknown field "spec.selectr"')
    code, status, _ = _send(server, "PATCH", f"{base}/d",
                            [{"op": "replace", "path": "/spec/template/spec/containers",
                              "value": "c"}], "application/json-patch+json")
    assert code == 422 and status["message"].endswith(
        "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec."
        "containers of type []v1.Container")
    with urllib.request.urlopen(server.url + f"{base}/d", timeout=10) as resp:
        stored = json.loads(resp.read())
    assert stored["spec"]["replicas"] == 1 and stored["metadata"]["generation"] == 1


def test_the_converters_words_for_each_kind_of_type_error() -> None:
    from k8snet.api.validation.strict import converter_text
    head = "json: cannot unmarshal {} into Go struct field X.spec.f of type {}"
    assert converter_text(head.format("string", "int32")) == "cannot convert string to int32"
    assert converter_text(head.format("number", "string")) == "cannot convert int64 to string"
    assert converter_text(head.format("number 1.5", "int32")) == (
        "cannot convert float64 to int32")
    assert converter_text(head.format("object", "bool")) == (
        "cannot convert map[string]interface {} to bool")
    assert converter_text(head.format("string", "[]v1.Container")) == (
        "cannot restore slice from string")
    assert converter_text(head.format("array", "map[string]string")) == (
        "cannot restore map from slice")
    assert converter_text(head.format("string", "v1.PodSpec")) == (
        "cannot restore struct from: string")
    assert converter_text("something else") == "something else"


def test_go_plus_v_prints_decoded_json_as_go_does() -> None:
    from k8snet.api.validation.errors import go_plus_v
    assert go_plus_v({"b": [1, 2.5, None, True], "a": {"x": "y z"}}) == (
        "map[a:map[x:y z] b:[1 2.5 <nil> true]]")
    assert go_plus_v(1e21) == "1e+21" and go_plus_v(2.0) == "2" and go_plus_v([]) == "[]"
