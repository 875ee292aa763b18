"""Validation: every cause at once, with the API server's paths and wording."""
from __future__ import annotations

import copy
import glob
import os

import pytest
import yaml

from k8snet.api.validation import (
    FORBIDDEN,
    INTERNAL,
    REQUIRED,
    TYPE_INVALID,
    FieldError,
    Invalid,
    invalid_message,
    is_config_map_key,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_label_value,
    is_port_name,
    is_qualified_name,
    validate,
    validate_label_selector,
)
from k8snet.errors import K8snetError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
LABEL_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def texts(obj) -> list[str]:
    return [str(e) for e in validate(obj)]


def paths(obj) -> list[str]:
    return [e.path for e in validate(obj)]


def service(**spec) -> dict:
    spec.setdefault("selector", {"app": "web"})
    spec.setdefault("ports", [{"port": 80}])
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec}


def container(**fields) -> dict:
    return {"name": "app", "image": "nginx:1.27", **fields}


def pod(*containers, **spec) -> dict:
    spec["containers"] = list(containers) or [container()]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1"}, "spec": spec}


def workload(kind: str, pod_spec: dict | None = None, labels: dict | None = None,
             **spec) -> dict:
    spec.setdefault("selector", {"matchLabels": {"app": "web"}})
    spec["template"] = {"metadata": {"labels": {"app": "web"} if labels is None else labels},
                        "spec": pod_spec or {"containers": [container()]}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web"}, "spec": spec}


def ingress(**spec) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "shop"}, "spec": spec}


def http_path(**fields) -> dict:
    item = {"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}
    item.update(fields)
    return item


def netpol(**spec) -> dict:
    spec.setdefault("podSelector", {})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny"}, "spec": spec}


# ---------------------------------------------------------------- the error type


def test_field_error_text_is_kubernetes_field_error():
    assert str(FieldError("spec.ports[0].name", REQUIRED)) == "spec.ports[0].name: Required value"
    assert str(FieldError("spec.ports[1].nodePort", "FieldValueInvalid", 30090,
                          "provided port is already allocated")) == (
        "spec.ports[1].nodePort: Invalid value: 30090: provided port is already allocated")
    assert str(FieldError("spec.x", FORBIDDEN, "ignored", "not here")) == (
        "spec.x: Forbidden: not here")
    assert str(FieldError("a", "FieldValueDuplicate", "x")) == 'a: Duplicate value: "x"'
    assert str(FieldError("a", "FieldValueInvalid", None, "d")) == "a: Invalid value: null: d"
    assert str(FieldError("a", "FieldValueInvalid", True, "d")) == "a: Invalid value: true: d"
    assert str(FieldError("a", "FieldValueInvalid", 'say "hi"\n', "d")) == (
        'a: Invalid value: "say \\"hi\\"\\n": d')
    assert str(FieldError("a", "FieldValueInvalid", {"b": "2", "a": "1"}, "d")) == (
        'a: Invalid value: map[string]string{"a":"1", "b":"2"}: d')
    assert str(FieldError("a", "FieldValueInvalid", ["x", "y"], "d")) == (
        'a: Invalid value: []string{"x", "y"}: d')
    assert str(FieldError("", TYPE_INVALID, 3, "must be an object")) == (
        "Invalid value: 3: must be an object")


def test_field_error_is_frozen_and_comparable():
    err = FieldError("spec", REQUIRED)
    assert err == FieldError("spec", REQUIRED, "", "")
    with pytest.raises(AttributeError):
        err.path = "other"          # type: ignore[misc]


def test_invalid_message_one_and_several_causes():
    one = [FieldError("spec.ports[0].name", REQUIRED)]
    two = one + [FieldError("spec.ports[1].name", REQUIRED)]
    assert invalid_message("Service", "x", one) == (
        'The Service "x" is invalid: spec.ports[0].name: Required value')
    assert invalid_message("Service", "x", two) == (
        'The Service "x" is invalid: [spec.ports[0].name: Required value, '
        'spec.ports[1].name: Required value]')
    assert invalid_message("Service", "x", one + one) == invalid_message("Service", "x", one)


def test_invalid_exception_carries_kind_name_errors():
    errors = validate(service(ports=[{"port": 80}, {"port": 81}]))
    exc = Invalid("Service", "web", errors)
    assert isinstance(exc, K8snetError)
    assert (exc.kind, exc.name, exc.errors) == ("Service", "web", errors)
    assert str(exc) == ('The Service "web" is invalid: [spec.ports[0].name: Required value, '
                        'spec.ports[1].name: Required value]')


# ---------------------------------------------------------------- names and formats


def test_name_formats_use_the_kubernetes_messages():
    assert is_dns1123_label("web-1") == []
    assert is_dns1123_label("Web_1") == [DNS1123_LABEL_MSG]
    assert is_dns1123_label("a.b") == ["must not contain dots"]
    assert is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]
    assert is_dns1123_subdomain("a.b-c") == []
    assert is_dns1123_subdomain("-a") == [DNS1123_SUBDOMAIN_MSG]
    assert is_dns1035_label("1abc") == [DNS1035_MSG]
    assert is_label_value("") == [] and is_label_value("a_b.C") == []
    assert is_label_value("-x") == [LABEL_VALUE_MSG]
    assert is_qualified_name("example.com/MyName") == []
    assert is_qualified_name("a b") == [LABEL_NAME_MSG]
    assert is_qualified_name("/x") == ["prefix part must be non-empty"]
    assert is_qualified_name("a/b/c")[0].startswith("a valid label key must consist of")


def test_port_names_follow_iana_svc_name():
    assert is_port_name("http-alt") == []
    assert is_port_name("1234") == ["must contain at least one letter (a-z)"]
    assert is_port_name("HTTP") == [
        "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        "must contain at least one letter (a-z)"]
    assert is_port_name("a--b") == ["must not contain consecutive hyphens"]
    assert is_port_name("-ab") == ["must not begin or end with a hyphen"]
    assert is_port_name("abcdefghijklmnop") == ["must be no more than 15 characters"]


def test_config_keys_and_env_names():
    assert is_config_map_key("app.conf") == []
    assert is_config_map_key("..x") == ["must not start with '..'"]
    assert is_config_map_key("a/b") == [
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
        "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
        "'[-._a-zA-Z0-9]+')"]
    assert is_env_var_name("MY_VAR.1") == []
    assert is_env_var_name("A=B") == [
        "a valid environment variable name must consist only of printable ASCII characters "
        "other than '='"]


# ---------------------------------------------------------------- metadata


def test_metadata_name_rules_per_kind():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Web_1"}}
    assert texts(ns) == [f'metadata.name: Invalid value: "Web_1": {DNS1123_LABEL_MSG}']
    svc = service()
    svc["metadata"]["name"] = "1web"
    assert texts(svc) == [f'metadata.name: Invalid value: "1web": {DNS1035_MSG}']
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a.b"}}
    assert texts(cm) == []


def test_metadata_name_required_unless_generate_name():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    assert texts(cm) == ["metadata.name: Required value: name or generateName is required"]
    cm["metadata"]["generateName"] = "web-"
    assert texts(cm) == []
    assert texts({"apiVersion": "v1", "kind": "ConfigMap"}) == [
        "metadata.name: Required value: name or generateName is required"]


def test_metadata_namespace_labels_annotations():
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "c", "namespace": "Shop", "labels": {"app": "-x", "a b": "y"},
                        "annotations": {"ok/thing": "1", "bad key": "2"}}}
    assert texts(obj) == [
        f'metadata.namespace: Invalid value: "Shop": {DNS1123_LABEL_MSG}',
        f'metadata.labels: Invalid value: "-x": {LABEL_VALUE_MSG}',
        f'metadata.labels: Invalid value: "a b": {LABEL_NAME_MSG}',
        f'metadata.annotations: Invalid value: "bad key": {LABEL_NAME_MSG}',
    ]


def test_metadata_of_the_wrong_shape_is_an_error_not_an_exception():
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "c", "labels": ["app=web"], "annotations": {"a": 1}}}
    assert texts(obj) == [
        'metadata.labels: Invalid value: []string{"app=web"}: must be an object',
        "metadata.annotations[a]: Invalid value: 1: must be a string",
    ]
    assert texts({"apiVersion": "v1", "kind": "ConfigMap", "metadata": "c"}) == [
        'metadata: Invalid value: "c": must be an object',
        "metadata.name: Required value: name or generateName is required"]


def test_owner_references():
    refs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1",
             "controller": True},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2",
             "controller": True},
            {"apiVersion": "apps/", "kind": "ReplicaSet", "name": "", "uid": "3"}]
    obj = pod()
    obj["metadata"]["ownerReferences"] = refs
    errors = texts(obj)
    assert errors[0].startswith("metadata.ownerReferences: Invalid value: []interface {}{")
    assert errors[0].endswith('Only one reference can have Controller set to true. Found "true" '
                              "in references for ReplicaSet/a and ReplicaSet/b")
    assert errors[1:] == [
        'metadata.ownerReferences.apiVersion: Invalid value: "apps/": version must not be empty',
        'metadata.ownerReferences.name: Invalid value: "": must not be empty']


def test_namespace_field_forbidden_on_cluster_scoped_kinds():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "namespace": "b"}}
    assert texts(ns) == ["metadata.namespace: Forbidden: not allowed on this type"]


def test_kind_and_api_version():
    assert texts({"metadata": {"name": "a"}}) == ["kind: Required value",
                                                  "apiVersion: Required value"]
    dep = workload("Deployment")
    dep["apiVersion"] = "extensions/v1beta1"
    assert texts(dep) == [
        'apiVersion: Unsupported value: "extensions/v1beta1": supported values: "apps/v1"']


def test_other_kinds_get_metadata_checks_only():
    obj = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "Bad"},
           "spec": {"anything": ["goes"]}}
    assert texts(obj) == [f'metadata.name: Invalid value: "Bad": {DNS1123_SUBDOMAIN_MSG}']


# ---------------------------------------------------------------- Services


def test_two_unnamed_ports_give_exactly_two_errors():
    errors = validate(service(ports=[{"port": 80}, {"port": 81}]))
    assert [str(e) for e in errors] == ["spec.ports[0].name: Required value",
                                        "spec.ports[1].name: Required value"]
    assert [e.type for e in errors] == [REQUIRED, REQUIRED]


def test_only_the_unnamed_port_is_reported():
    assert texts(service(ports=[{"port": 80, "name": "http"}, {"port": 81}])) == [
        "spec.ports[1].name: Required value"]
    assert texts(service(ports=[{"port": 80}])) == []


def test_service_type_unsupported():
    assert texts(service(type="Foo")) == [
        'spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"']


def test_service_numbers_are_not_coerced():
    assert texts(service(ports=[{"port": "80"}])) == [
        'spec.ports[0].port: Invalid value: "80": must be an integer']
    assert texts(service(ports=[{"port": True}])) == [
        "spec.ports[0].port: Invalid value: true: must be an integer"]
    assert texts(service(ports=[{"port": 80.0}])) == [
        "spec.ports[0].port: Invalid value: 80: must be an integer"]
    assert texts(service(ports=[{"port": 80, "targetPort": [8080]}])) == [
        "spec.ports[0].targetPort: Invalid value: []interface {}{8080}: "
        "must be an integer or a string"]


def test_service_port_values():
    assert texts(service(ports=[{"port": 0}, {"name": "b", "port": 70000}])) == [
        "spec.ports[0].name: Required value",
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive"]
    assert texts(service(ports=[{"port": 80, "protocol": "ICMP"}])) == [
        'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", '
        '"UDP"']
    assert texts(service(ports=[{"port": 80, "name": "Web"}])) == [
        f'spec.ports[0].name: Invalid value: "Web": {DNS1123_LABEL_MSG}']


def test_service_target_port_number_or_iana_name():
    assert texts(service(ports=[{"port": 80, "targetPort": "http"}])) == []
    assert texts(service(ports=[{"port": 80, "targetPort": 0}])) == []     # defaulted to port
    assert texts(service(ports=[{"port": 80, "targetPort": 65536}])) == [
        "spec.ports[0].targetPort: Invalid value: 65536: must be between 1 and 65535, inclusive"]
    assert texts(service(ports=[{"port": 80, "targetPort": "8080"}])) == [
        'spec.ports[0].targetPort: Invalid value: "8080": must contain at least one letter (a-z)']


def test_service_duplicate_names_and_port_protocol_pairs():
    dup = service(ports=[{"name": "a", "port": 80}, {"name": "a", "port": 80},
                         {"name": "c", "port": 80, "protocol": "UDP"}])
    assert texts(dup) == [
        'spec.ports[1].name: Duplicate value: "a"',
        'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
        'AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, '
        'IntVal:0, StrVal:""}, NodePort:0}']


def test_service_node_ports():
    assert texts(service(ports=[{"port": 80, "nodePort": 30080}])) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    assert texts(service(type="NodePort", ports=[{"port": 80, "nodePort": 8080}])) == [
        "spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"]
    assert texts(service(type="NodePort", ports=[{"name": "a", "port": 80, "nodePort": 30080},
                                                 {"name": "b", "port": 81, "nodePort": 30080}])
                 ) == ["spec.ports[1].nodePort: Duplicate value: 30080"]
    assert texts(service(type="NodePort", ports=[{"port": 80, "nodePort": "30080"}])) == [
        'spec.ports[0].nodePort: Invalid value: "30080": must be an integer']


def test_service_ports_required_unless_headless_or_external_name():
    assert texts(service(ports=[])) == ["spec.ports: Required value"]
    assert texts(service(ports=[], clusterIP="None")) == []
    assert texts(service(ports=[], type="ExternalName", externalName="db.example.com.")) == []


def test_service_external_name():
    assert texts(service(type="ExternalName")) == ["spec.externalName: Required value"]
    assert texts(service(type="ExternalName", externalName="Bad_Name")) == [
        f'spec.externalName: Invalid value: "Bad_Name": {DNS1123_SUBDOMAIN_MSG}']
    assert texts(service(type="ExternalName", externalName="x.org", clusterIP="10.96.0.5")) == [
        "spec.clusterIPs: Forbidden: may not be set for ExternalName services"]


def test_service_cluster_ip():
    assert texts(service(clusterIP="10.96.0.20")) == []
    assert texts(service(clusterIP="10.96.0.300")) == [
        'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, '
        "(e.g. 10.9.8.7 or 2001:db8::ffff)"]
    assert texts(service(clusterIP="fd00::1")) == [
        'spec.clusterIPs[0]: Invalid value: "fd00::1": expected an IPv4 value as indicated by '
        "`ipFamilies[0]`"]
    assert texts(service(type="NodePort", clusterIP="None")) == [
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort "
        "services"]
    assert texts(service(clusterIP="10.96.0.20", clusterIPs=["10.96.0.21"])) == [
        'spec.clusterIPs: Invalid value: []string{"10.96.0.21"}: first value must match '
        "`clusterIP`"]


def test_service_session_affinity():
    assert texts(service(sessionAffinity="Sticky")) == [
        'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", '
        '"None"']
    ok = {"clientIP": {"timeoutSeconds": 86400}}
    assert texts(service(sessionAffinity="ClientIP", sessionAffinityConfig=ok)) == []
    assert texts(service(sessionAffinity="ClientIP",
                         sessionAffinityConfig={"clientIP": {"timeoutSeconds": 0}})) == [
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater "
        "than 0 and less than 86400"]
    assert texts(service(sessionAffinity="None", sessionAffinityConfig=ok)) == [
        "spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None"]


def test_service_traffic_policies():
    assert texts(service(externalTrafficPolicy="Local")) == [
        'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for '
        "externally-accessible services"]
    assert texts(service(type="NodePort", externalTrafficPolicy="Local")) == []
    assert texts(service(externalIPs=["203.0.113.7"], externalTrafficPolicy="Local")) == []
    assert texts(service(type="LoadBalancer", externalTrafficPolicy="Global")) == [
        'spec.externalTrafficPolicy: Unsupported value: "Global": supported values: "Cluster", '
        '"Local"']
    assert texts(service(internalTrafficPolicy="Node")) == [
        'spec.internalTrafficPolicy: Unsupported value: "Node": supported values: "Cluster", '
        '"Local"']


def test_service_selector_and_flags():
    assert texts(service(selector={"app": "web!"}, publishNotReadyAddresses="true")) == [
        f'spec.selector: Invalid value: "web!": {LABEL_VALUE_MSG}',
        'spec.publishNotReadyAddresses: Invalid value: "true": must be a boolean']
    assert texts(service(selector={"app": 1})) == [
        "spec.selector[app]: Invalid value: 1: must be a string"]


def test_service_external_ips_and_source_ranges():
    assert texts(service(externalIPs=["127.0.0.1", "nope"])) == [
        'spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range '
        "(127.0.0.0/8, ::1/128)",
        'spec.externalIPs[1]: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 '
        "or 2001:db8::ffff)"]
    assert texts(service(loadBalancerSourceRanges=["10.0.0.0/8"])) == [
        "spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is "
        "'LoadBalancer'"]


# ---------------------------------------------------------------- Pods


def test_pod_containers_required():
    no_spec = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    assert texts(no_spec) == ["spec.containers: Required value"]
    empty = pod()
    empty["spec"]["containers"] = []
    assert texts(empty) == ["spec.containers: Required value"]
    assert texts(pod(container(name="a"), container(name="a"))) == [
        'spec.containers[1].name: Duplicate value: "a"']


def test_pod_container_name_and_image():
    assert texts(pod({"name": "Bad_Name"})) == [
        f'spec.containers[0].name: Invalid value: "Bad_Name": {DNS1123_LABEL_MSG}',
        "spec.containers[0].image: Required value"]
    assert texts(pod({"image": "x"})) == ["spec.containers[0].name: Required value"]


def test_pod_container_ports():
    ports = [{"containerPort": 0}, {"containerPort": 70000, "protocol": "icmp"},
             {"containerPort": "80"}, {"containerPort": 81, "name": "web"},
             {"containerPort": 82, "name": "web"}, {"containerPort": 83, "name": "Web"}]
    assert texts(pod(container(ports=ports))) == [
        "spec.containers[0].ports[0].containerPort: Required value",
        "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and "
        "65535, inclusive",
        'spec.containers[0].ports[1].protocol: Unsupported value: "icmp": supported values: '
        '"SCTP", "TCP", "UDP"',
        'spec.containers[0].ports[2].containerPort: Invalid value: "80": must be an integer',
        'spec.containers[0].ports[4].name: Duplicate value: "web"',
        'spec.containers[0].ports[5].name: Invalid value: "Web": must contain only '
        "alpha-numeric characters (a-z, 0-9), and hyphens (-)",
    ]


def test_pod_env():
    env = [
        {"name": "", "value": "x"},
        {"name": "A", "valueFrom": {}},
        {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"},
                                    "secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "C", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "spec.hostname"}}},
        {"name": "E", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "a/b"}}},
        {"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "G", "value": 5},
    ]
    errors = texts(pod(container(env=env)))
    assert errors[:4] == [
        "spec.containers[0].env[0].name: Required value",
        'spec.containers[0].env[1].valueFrom: Invalid value: "": must specify one of: '
        "`fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        'spec.containers[0].env[2].valueFrom: Invalid value: "": may not have more than one '
        "field specified at a time",
        'spec.containers[0].env[3].valueFrom: Invalid value: "": may not be specified when '
        "`value` is not empty",
    ]
    assert errors[4].startswith(
        'spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: Unsupported value: '
        '"spec.hostname": supported values: "metadata.name", ')
    assert errors[5].startswith(
        'spec.containers[0].env[5].valueFrom.configMapKeyRef.key: Invalid value: "a/b": '
        "a valid config key")
    assert errors[6:] == ['spec.containers[0].env[7].value: Invalid value: 5: must be a string']


def test_pod_probes():
    probes = {
        "livenessProbe": {"periodSeconds": -1, "successThreshold": 2},
        "readinessProbe": {"httpGet": {"port": "http"}, "tcpSocket": {"port": 80}},
        "startupProbe": {"grpc": {"port": "9000"}},
    }
    assert texts(pod(container(**probes))) == [
        "spec.containers[0].livenessProbe: Required value: must specify a handler type",
        "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater "
        "than or equal to 0",
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 "
        "handler type",
        'spec.containers[0].startupProbe.grpc.port: Invalid value: "9000": must be an integer',
    ]
    assert texts(pod(container(livenessProbe={"httpGet": {"path": "/healthz", "port": 8080},
                                              "timeoutSeconds": "1"}))) == [
        'spec.containers[0].livenessProbe.timeoutSeconds: Invalid value: "1": must be an '
        "integer"]
    assert texts(pod(container(readinessProbe={"exec": {}}))) == [
        "spec.containers[0].readinessProbe.exec.command: Required value"]
    assert texts(pod(container(livenessProbe={"tcpSocket": {}}))) == [
        "spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 0: must be between 1 "
        "and 65535, inclusive"]


def test_pod_spec_fields():
    bad = pod(restartPolicy="Sometimes", dnsPolicy="Custom", nodeSelector={"zone": 3},
              hostname="Host.1", subdomain="svc")
    assert texts(bad) == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"OnFailure", "Never"',
        'spec.dnsPolicy: Unsupported value: "Custom": supported values: '
        '"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
        "spec.nodeSelector[zone]: Invalid value: 3: must be a string",
        f'spec.hostname: Invalid value: "Host.1": {DNS1123_LABEL_MSG}',
    ]


def test_pod_dns_config():
    """validatePodDNSConfig: None needs nameservers; limits; IPs; subdomains."""
    assert texts(pod(dnsPolicy="None")) == [
        "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"]
    assert texts(pod(dnsPolicy="None", dnsConfig={"searches": ["a.b"]})) == [
        "spec.dnsConfig.nameservers: Required value: must provide at least one DNS "
        "nameserver when `dnsPolicy` is None"]
    bad = pod(dnsConfig={"nameservers": ["1.1.1.1", "1.0.0.1", "8.8.8.8", "not-an-ip"],
                         "searches": ["example.com.", "Bad_Name"],
                         "options": [{"name": "ndots", "value": "2"}, {"value": "1"}]})
    assert texts(bad) == [
        'spec.dnsConfig.nameservers: Invalid value: []string{"1.1.1.1", "1.0.0.1", "8.8.8.8", '
        '"not-an-ip"}: must not have more than 3 nameservers',
        'spec.dnsConfig.nameservers[3]: Invalid value: "not-an-ip": must be a valid IP '
        'address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
        f'spec.dnsConfig.searches[1]: Invalid value: "Bad_Name": {DNS1123_SUBDOMAIN_MSG}',
        "spec.dnsConfig.options[1]: Required value: must not be empty",
    ]
    many = pod(dnsConfig={"searches": [f"s{i}.example" for i in range(33)]})
    assert texts(many)[0].endswith("must not have more than 32 search paths")
    assert texts(pod(dnsPolicy="None", dnsConfig={"nameservers": ["192.0.2.1"]})) == []


def test_pod_volume_mounts_must_name_a_volume():
    mounts = [{"name": "data", "mountPath": "/data"}, {"name": "cache", "mountPath": "/data"}]
    ok = pod(container(volumeMounts=mounts[:1]), volumes=[{"name": "data", "emptyDir": {}}])
    assert texts(ok) == []
    bad = pod(container(volumeMounts=mounts), volumes=[{"name": "data", "emptyDir": {}}])
    assert texts(bad) == [
        'spec.containers[0].volumeMounts[1].name: Not found: "cache"',
        'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique']


# ---------------------------------------------------------------- workloads


def test_deployment_without_selector():
    dep = workload("Deployment")
    del dep["spec"]["selector"]
    assert texts(dep) == [
        "spec.selector: Required value",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
        + SELECTOR_MISMATCH]


def test_template_labels_must_match_selector():
    assert texts(workload("Deployment")) == []
    assert texts(workload("Deployment", labels={"app": "x"})) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: '
        + SELECTOR_MISMATCH]
    expr = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}
    assert texts(workload("ReplicaSet", labels={"tier": "b"}, selector=expr)) == []
    dep = workload("Deployment")
    del dep["spec"]["template"]["metadata"]
    assert texts(dep) == ["spec.template.metadata.labels: Invalid value: "
                          "map[string]string(nil): " + SELECTOR_MISMATCH]


def test_empty_template_reports_what_is_missing():
    dep = workload("Deployment")
    dep["spec"]["template"] = {}
    assert texts(dep) == [
        "spec.template.metadata.labels: Invalid value: map[string]string(nil): "
        + SELECTOR_MISMATCH,
        "spec.template.spec.containers: Required value"]


def test_empty_selectors_are_invalid():
    assert texts(workload("ReplicaSet", selector={})) == [
        "spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},"
        "MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for "
        "deployment"]
    assert texts(workload("DaemonSet", selector={}))[0].endswith(
        "empty selector is invalid for daemonset")


def test_replicas_are_non_negative_integers():
    assert texts(workload("Deployment", replicas=-1)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
    assert texts(workload("StatefulSet", replicas="3")) == [
        'spec.replicas: Invalid value: "3": must be an integer']
    assert texts(workload("ReplicaSet", replicas=0)) == []


def test_deployment_strategy():
    def strategy(**fields) -> list[str]:
        return texts(workload("Deployment", strategy=fields))
    assert strategy(type="Recreate") == []
    assert strategy(type="Recreate", rollingUpdate={}) == [
        "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is "
        "'Recreate'"]
    assert strategy(type="Canary") == [
        'spec.strategy.type: Unsupported value: "Canary": supported values: "Recreate", '
        '"RollingUpdate"']
    assert strategy(rollingUpdate={"maxSurge": 0, "maxUnavailable": "0%"}) == [
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0%: may not be 0 when "
        "`maxSurge` is 0"]
    assert strategy(rollingUpdate={"maxSurge": 1, "maxUnavailable": "150%"}) == [
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not be greater "
        "than 100%"]
    assert strategy(rollingUpdate={"maxSurge": "25", "maxUnavailable": -1}) == [
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or "
        "equal to 0",
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: 25: a valid percent string must "
        "be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for "
        "validation is '[0-9]+%')"]
    assert strategy(rollingUpdate={"maxSurge": 0}) == []       # maxUnavailable defaults 25%
    assert strategy(rollingUpdate={"maxSurge": 1.5}) == [
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: 1.5: must be an integer or a "
        "string"]


def test_template_pod_spec_is_validated_with_its_prefix():
    dep = workload("Deployment", {"containers": [{"name": "web", "ports": [
        {"containerPort": 80, "protocol": "HTTP"}]}], "restartPolicy": "Never"})
    assert texts(dep) == [
        "spec.template.spec.containers[0].image: Required value",
        'spec.template.spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": '
        'supported values: "SCTP", "TCP", "UDP"',
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
        '"Always"']
    dep = workload("Deployment", labels={"app": "web", "bad": "-"})
    assert texts(dep) == [f'spec.template.labels: Invalid value: "-": {LABEL_VALUE_MSG}']


def test_stateful_set_fields():
    sts = workload("StatefulSet", podManagementPolicy="Burst", serviceName="DB",
                   updateStrategy={"type": "RollingUpdate",
                                   "rollingUpdate": {"partition": -1}})
    assert texts(sts) == [
        "spec.podManagementPolicy: Invalid value: \"Burst\": must be 'OrderedReady' or "
        "'Parallel'",
        "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than "
        "or equal to 0",
        f'spec.serviceName: Invalid value: "DB": {DNS1123_LABEL_MSG}']
    pod_spec = {"containers": [container(volumeMounts=[{"name": "data", "mountPath": "/d"}])]}
    sts = workload("StatefulSet", pod_spec, serviceName="db",
                   volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {}}])
    assert texts(sts) == []


def test_daemon_set_update_strategy():
    def strategy(**rolling) -> list[str]:
        return texts(workload("DaemonSet", updateStrategy={"rollingUpdate": rolling}))
    assert strategy() == []
    assert strategy(maxSurge=1) == [
        "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when "
        "maxUnavailable is non-zero"]
    assert strategy(maxUnavailable=0) == [
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when "
        "maxSurge is 0"]


# ---------------------------------------------------------------- label selectors


def test_label_selector_validator():
    assert validate_label_selector(None, "spec.selector") == []
    selector = {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "a", "operator": "In"},
        {"key": "b", "operator": "Exists", "values": ["x"]},
        {"key": "c", "operator": "Near", "values": ["x"]},
        {"key": "bad key", "operator": "NotIn", "values": ["ok", "-no"]},
    ]}
    assert [str(e) for e in validate_label_selector(selector, "spec.selector")] == [
        "spec.selector.matchExpressions[0].values: Required value: must be specified when "
        "`operator` is 'In' or 'NotIn'",
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when "
        "`operator` is 'Exists' or 'DoesNotExist'",
        'spec.selector.matchExpressions[2].operator: Invalid value: "Near": not a valid '
        "selector operator",
        f'spec.selector.matchExpressions[3].key: Invalid value: "bad key": {LABEL_NAME_MSG}',
        f'spec.selector.matchExpressions[3].values[1]: Invalid value: "-no": {LABEL_VALUE_MSG}',
    ]
    assert [str(e) for e in validate_label_selector({"matchLabels": ["a"]}, "s")] == [
        's.matchLabels: Invalid value: []string{"a"}: must be an object']
    assert [str(e) for e in validate_label_selector("app=web", "s")] == [
        's: Invalid value: "app=web": must be an object']


# ---------------------------------------------------------------- Ingress


def test_ingress_valid():
    rules = [{"host": "shop.example.com", "http": {"paths": [http_path()]}},
             {"host": "*.example.com", "http": {"paths": [http_path(
                 path="/api", pathType="Exact",
                 backend={"service": {"name": "api", "port": {"name": "http"}}})]}}]
    assert texts(ingress(rules=rules, ingressClassName="nginx")) == []


def test_ingress_needs_rules_or_default_backend():
    assert texts(ingress()) == [
        "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or "
        "`rules` must be specified"]
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    assert texts(ingress(defaultBackend=backend)) == []


def test_ingress_paths():
    paths_ = [http_path(pathType=None), http_path(path="api"), http_path(pathType="Regex"),
              http_path(path="/a//b"), http_path(pathType="ImplementationSpecific", path="")]
    rules = [{"host": "10.0.0.1", "http": {"paths": paths_}}, {"host": "*.*.x.com"},
             {"http": {"paths": []}}]
    errors = texts(ingress(rules=rules))
    base = "spec.rules[0].http.paths"
    assert errors[0] == 'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, ' \
                        "not an IP address"
    assert errors[1:5] == [
        f"{base}[0].pathType: Required value: pathType must be specified",
        f'{base}[1].path: Invalid value: "api": must be an absolute path',
        f'{base}[2].pathType: Unsupported value: "Regex": supported values: "Exact", '
        '"ImplementationSpecific", "Prefix"',
        f"{base}[3].path: Invalid value: \"/a//b\": must not contain '//'",
    ]
    assert errors[5].startswith('spec.rules[1].host: Invalid value: "*.*.x.com": a wildcard '
                                "DNS-1123 subdomain must start with '*.'")
    assert errors[6:] == ["spec.rules[2].http.paths: Required value"]


def test_ingress_backends():
    def backend_errors(backend: dict) -> list[str]:
        return texts(ingress(rules=[{"http": {"paths": [http_path(backend=backend)]}}]))
    where = "spec.rules[0].http.paths[0].backend"
    assert backend_errors({"service": {"name": "web", "port": {"name": "http",
                                                               "number": 80}}}) == [
        f'{where}: Invalid value: "": cannot set both port name & port number']
    assert backend_errors({"service": {"name": "web"}}) == [
        f"{where}: Required value: port name or number is required"]
    assert backend_errors({"service": {"name": "Web", "port": {"number": 0}}}) == [
        f'{where}.service.name: Invalid value: "Web": {DNS1035_MSG}',
        f"{where}: Required value: port name or number is required"]
    assert backend_errors({}) == [
        f'{where}: Invalid value: "": resource or service backend is required']
    assert backend_errors({"service": {"name": "web", "port": {"number": "80"}}}) == [
        f'{where}.service.port.number: Invalid value: "80": must be an integer']


def test_ingress_class_controller():
    ic = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
          "metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}
    assert texts(ic) == []
    ic["spec"]["controller"] = "nginx"
    assert texts(ic) == ['spec.controller: Invalid value: "nginx": must be a domain-prefixed '
                         'path (such as "acme.io/foo")']
    del ic["spec"]["controller"]
    assert texts(ic) == ["spec.controller: Required value"]


# ---------------------------------------------------------------- NetworkPolicy


def test_network_policy_valid():
    spec = {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}, "namespaceSelector": {}},
                                  {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                         "ports": [{"port": 5432}, {"port": "postgres", "protocol": "TCP"},
                                   {"port": 30000, "endPort": 32767}]}],
            "egress": [{}]}
    assert texts(netpol(**spec)) == []


def test_network_policy_pod_selector_and_policy_types():
    obj = netpol(policyTypes=["Ingress", "Both"])
    del obj["spec"]["podSelector"]
    assert texts(obj) == [
        "spec.podSelector: Required value",
        'spec.policyTypes[1]: Unsupported value: "Both": supported values: "Ingress", "Egress"']
    assert texts(netpol(podSelector={"matchLabels": {"app": "-"}})) == [
        f'spec.podSelector.matchLabels: Invalid value: "-": {LABEL_VALUE_MSG}']


def test_network_policy_peers():
    peers = [{}, {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}},
             {"ipBlock": {"cidr": "10.0.0.0"}},
             {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16", "10.0.0.0/8"]}}]
    assert texts(netpol(ingress=[{"from": peers}])) == [
        "spec.ingress[0].from[0]: Required value: must specify a peer",
        "spec.ingress[0].from[1]: Forbidden: may not specify both ipBlock and another peer",
        'spec.ingress[0].from[2].ipBlock.cidr: Invalid value: "10.0.0.0": must be a valid CIDR '
        "value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        'spec.ingress[0].from[3].ipBlock.except[0]: Invalid value: "192.168.0.0/16": must be a '
        "strict subset of `cidr`",
        'spec.ingress[0].from[3].ipBlock.except[1]: Invalid value: "10.0.0.0/8": must be a '
        "strict subset of `cidr`",
    ]


def test_network_policy_ports():
    ports = [{"port": 80, "endPort": 79}, {"port": "http", "endPort": 90},
             {"endPort": 90}, {"protocol": "ICMP"}, {"port": 0}]
    assert texts(netpol(egress=[{"ports": ports}])) == [
        "spec.egress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to "
        "`port`",
        "spec.egress[0].ports[1].endPort: Invalid value: 90: may not be specified when `port` "
        "is non-numeric",
        "spec.egress[0].ports[2].endPort: Invalid value: 90: may not be specified when `port` "
        "is not specified",
        'spec.egress[0].ports[3].protocol: Unsupported value: "ICMP": supported values: "TCP", '
        '"UDP", "SCTP"',
        "spec.egress[0].ports[4].port: Invalid value: 0: must be between 1 and 65535, inclusive",
    ]


# ---------------------------------------------------------------- ConfigMaps, Secrets, slices


def test_config_map_keys_and_values():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
          "data": {"ok.conf": "x", "bad/key": "y", "n": 1}}
    errors = texts(cm)
    assert errors[0] == "data[n]: Invalid value: 1: must be a string"
    assert errors[1].startswith('data[bad/key]: Invalid value: "bad/key": a valid config key')
    assert len(errors) == 2


def test_secret_data_is_base64():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "data": {"good": "aGVsbG8=", "short": "abc", "junk": "ab!d", "pad": "a===",
                       "wrapped": "aGVs\nbG8="},
              "stringData": {"plain": "text", "bad key": "x"}}
    errors = texts(secret)
    assert errors[:3] == [
        'data[short]: Invalid value: "abc": illegal base64 data at input byte 0',
        'data[junk]: Invalid value: "ab!d": illegal base64 data at input byte 2',
        'data[pad]: Invalid value: "a===": illegal base64 data at input byte 1',
    ]
    assert errors[3].startswith('data[bad key]: Invalid value: "bad key": a valid config key')
    assert len(errors) == 4


def test_tls_secret_needs_cert_and_key():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "type": "kubernetes.io/tls", "stringData": {"tls.crt": "c"}}
    assert texts(secret) == ["data[tls.key]: Required value"]


def test_endpoint_slice():
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "web-abc"}, "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": True}},
                         {"addresses": []}, {"addresses": ["fd00::1", "127.0.0.1"]}],
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
    assert texts(eps) == [
        "endpoints[1].addresses: Required value: must contain at least 1 address",
        'endpoints[2].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address',
        'endpoints[2].addresses[1]: Invalid value: "127.0.0.1": may not be in the loopback '
        "range (127.0.0.0/8, ::1/128)",
    ]
    del eps["addressType"]
    assert texts(eps)[0] == "addressType: Required value"


def test_endpoints():
    ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
          "subsets": [{"addresses": [{"ip": "10.244.1.5"}], "ports": [{"port": 80}]},
                      {"ports": [{"port": 80}, {"port": 81}]}]}
    assert texts(ep) == [
        "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`",
        "subsets[1].ports[0].name: Required value",
        "subsets[1].ports[1].name: Required value",
    ]


# ---------------------------------------------------------------- never raises


JUNK = [None, [], {}, "", "x", 0, -1, 70000, True, 1.5, [None], [1, "a"], {"a": None},
        {"": []}, [[{}]]]


def every_subpath(value, path=()):
    """Each (path, value) inside a JSON document, root first."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from every_subpath(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from every_subpath(item, path + (i,))


def replaced(doc, path, junk):
    if not path:
        return copy.deepcopy(junk)
    out = copy.deepcopy(doc)
    holder = out
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = copy.deepcopy(junk)
    return out


def rich_objects() -> list[dict]:
    """One object of each kind with most fields set (each is valid)."""
    probe = {"httpGet": {"path": "/", "port": "http", "scheme": "HTTP",
                         "httpHeaders": [{"name": "X", "value": "1"}]},
             "periodSeconds": 5, "timeoutSeconds": 1, "successThreshold": 1,
             "failureThreshold": 3, "initialDelaySeconds": 0}
    app = container(
        ports=[{"containerPort": 80, "name": "http", "protocol": "TCP", "hostPort": 8080}],
        readinessProbe=probe, command=["run"], args=["--x"], imagePullPolicy="Always",
        livenessProbe={"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 5},
        startupProbe={"grpc": {"port": 9000, "service": "s"}},
        env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name",
                                                      "apiVersion": "v1"}}},
             {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
             {"name": "C", "value": "c"}],
        envFrom=[{"configMapRef": {"name": "c"}, "prefix": "P_"}, {"secretRef": {"name": "s"}}],
        volumeMounts=[{"name": "v", "mountPath": "/v", "readOnly": True, "subPath": "x"}])
    pod_spec = {"containers": [app], "initContainers": [container(name="init")],
                "volumes": [{"name": "v", "emptyDir": {}}], "nodeSelector": {"a": "b"},
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "hostname": "h",
                "subdomain": "s", "serviceAccountName": "default", "nodeName": "node-1",
                "terminationGracePeriodSeconds": 30, "enableServiceLinks": True}
    meta = {"name": "web", "namespace": "shop", "labels": {"app": "web"},
            "annotations": {"note": "x"}, "generation": 1,
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u",
                                 "controller": True}], "finalizers": ["f"]}
    return [
        {**service(type="NodePort", ports=[
            {"name": "a", "port": 80, "nodePort": 30080, "targetPort": "http",
             "protocol": "TCP", "appProtocol": "http"}],
            sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 5}},
            externalTrafficPolicy="Local", internalTrafficPolicy="Cluster",
            clusterIP="10.96.0.9", clusterIPs=["10.96.0.9"], ipFamilies=["IPv4"],
            ipFamilyPolicy="SingleStack", externalIPs=["203.0.113.9"],
            publishNotReadyAddresses=True), "metadata": meta},
        service(type="LoadBalancer", loadBalancerSourceRanges=["10.0.0.0/8"],
                allocateLoadBalancerNodePorts=True),
        service(type="ExternalName", externalName="db.example.com"),
        pod(*pod_spec["containers"], **{k: v for k, v in pod_spec.items() if k != "containers"}),
        workload("Deployment", pod_spec, replicas=2, minReadySeconds=1, revisionHistoryLimit=3,
                 progressDeadlineSeconds=60, paused=False,
                 strategy={"type": "RollingUpdate",
                           "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}}),
        workload("StatefulSet", pod_spec, serviceName="db", podManagementPolicy="Parallel",
                 updateStrategy={"type": "RollingUpdate",
                                 "rollingUpdate": {"partition": 0, "maxUnavailable": 1}},
                 volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {}}]),
        workload("DaemonSet", pod_spec, updateStrategy={
            "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
        workload("ReplicaSet", pod_spec, selector={"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["web"]},
            {"key": "tier", "operator": "DoesNotExist"}]}),
        {**ingress(rules=[{"host": "a.com", "http": {"paths": [http_path()]}}],
                   tls=[{"hosts": ["a.com"], "secretName": "t"}], ingressClassName="nginx",
                   defaultBackend={"resource": {"apiGroup": "x.io", "kind": "B", "name": "b"}}),
         "metadata": {"name": "i", "annotations": {"kubernetes.io/ingress.class": "nginx"}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
         "metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}},
        netpol(podSelector={"matchLabels": {"app": "db"}}, policyTypes=["Ingress", "Egress"],
               ingress=[{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                                  {"podSelector": {"matchLabels": {"a": "b"}},
                                   "namespaceSelector": {}}],
                         "ports": [{"port": 80, "endPort": 90, "protocol": "TCP"}]}],
               egress=[{"to": [{"namespaceSelector": {}}], "ports": [{"port": "dns"}]}]),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": {"a": "b"}},
         "data": {"k": "aGk="}, "stringData": {"tls.crt": "c", "tls.key": "k"},
         "type": "kubernetes.io/tls", "immutable": True},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"},
         "binaryData": {"b": "aGk="}, "immutable": False},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"},
         "spec": {"finalizers": ["kubernetes"]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "e"},
         "addressType": "IPv4",
         "endpoints": [{"addresses": ["10.0.0.1"], "nodeName": "n", "hostname": "h",
                        "conditions": {"ready": True, "serving": True, "terminating": False}}],
         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"},
         "subsets": [{"addresses": [{"ip": "10.0.0.1", "hostname": "h"}],
                      "notReadyAddresses": [{"ip": "10.0.0.2"}],
                      "ports": [{"port": 80, "name": "a", "protocol": "TCP"}]}]},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}},
    ]


def test_rich_objects_are_valid():
    for obj in rich_objects():
        assert texts(obj) == [], obj["kind"]


def test_validate_never_raises_on_junk():
    for junk in JUNK + [JUNK, {"kind": "Service", "spec": JUNK}]:
        assert isinstance(validate(junk), list)
    for obj in rich_objects():
        for path, _ in list(every_subpath(obj)):
            for junk in JUNK:
                errors = validate(replaced(obj, path, junk))
                assert all(e.type != INTERNAL for e in errors), (obj["kind"], path, junk, errors)
                for error in errors:
                    str(error)


def test_non_objects_are_one_error_at_the_root():
    assert texts(None) == ["Invalid value: null: must be an object"]
    assert texts([1]) == ["Invalid value: []interface {}{1}: must be an object"]


# ---------------------------------------------------------------- the repository's manifests


def test_example_manifests_are_valid():
    files = sorted(glob.glob(os.path.join(REPO, "examples", "**", "*.yaml"), recursive=True))
    assert files
    for name in files:
        with open(name) as f:
            for doc in yaml.safe_load_all(f):
                if isinstance(doc, list):
                    continue    # a NetworkPolicy case file: test_netpol_recipes checks it
                if doc:
                    assert texts(doc) == [], (name, doc.get("kind"))
