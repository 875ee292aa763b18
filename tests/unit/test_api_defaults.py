"""Defaults: what the API server fills in, per kind, as kubectl get -o json shows it."""
from __future__ import annotations

import copy

import pytest
from test_api_validation import JUNK, every_subpath, replaced, rich_objects

from k8snet.api.defaults import apply_defaults, parse_int_or_percent
from k8snet.api.validation import validate

CONTAINER_DEFAULTS = {"imagePullPolicy": "IfNotPresent",
                      "terminationMessagePath": "/dev/termination-log",
                      "terminationMessagePolicy": "File"}
POD_SPEC_DEFAULTS = {"dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                     "securityContext": {}, "terminationGracePeriodSeconds": 30,
                     "schedulerName": "default-scheduler"}


def service(**spec) -> dict:
    spec.setdefault("selector", {"app": "web"})
    spec.setdefault("ports", [{"port": 80}])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec}


def pod(**container) -> dict:
    container = {"name": "app", "image": "nginx:1.27", **container}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [container]}}


def workload(kind: str, **spec) -> dict:
    spec.setdefault("selector", {"matchLabels": {"app": "web"}})
    spec["template"] = {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web"}, "spec": spec}


def defaulted_template() -> dict:
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                     **CONTAINER_DEFAULTS}], **POD_SPEC_DEFAULTS}}


# ---------------------------------------------------------------- Services


def test_cluster_ip_service_defaults():
    out = apply_defaults(service(ports=[{"port": 80}, {"name": "dns", "port": 53,
                                                       "protocol": "UDP", "targetPort": "dns"}]))
    assert out["spec"] == {
        "selector": {"app": "web"},
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80},
                  {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"}],
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
    }


def test_target_port_zero_or_empty_becomes_port():
    out = apply_defaults(service(ports=[{"name": "a", "port": 80, "targetPort": 0},
                                        {"name": "b", "port": 81, "targetPort": ""},
                                        {"name": "c", "port": 82, "targetPort": 8082}]))
    assert [p["targetPort"] for p in out["spec"]["ports"]] == [80, 81, 8082]


def test_node_port_and_load_balancer_defaults():
    node_port = apply_defaults(service(type="NodePort"))["spec"]
    assert node_port["externalTrafficPolicy"] == "Cluster"
    assert "allocateLoadBalancerNodePorts" not in node_port
    lb = apply_defaults(service(type="LoadBalancer", externalTrafficPolicy="Local"))["spec"]
    assert (lb["externalTrafficPolicy"], lb["allocateLoadBalancerNodePorts"]) == ("Local", True)
    cluster_ip = apply_defaults(service())["spec"]
    assert "externalTrafficPolicy" not in cluster_ip
    with_external_ip = apply_defaults(service(externalIPs=["203.0.113.9"]))["spec"]
    assert with_external_ip["externalTrafficPolicy"] == "Cluster"


def test_session_affinity_defaults():
    client_ip = apply_defaults(service(sessionAffinity="ClientIP"))["spec"]
    assert client_ip["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    kept = apply_defaults(service(sessionAffinity="ClientIP",
                                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}))
    assert kept["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 60}}
    dropped = apply_defaults(service(sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}))
    assert "sessionAffinityConfig" not in dropped["spec"]


def test_cluster_ip_fields():
    out = apply_defaults(service(clusterIP="10.96.0.10"))["spec"]
    assert out["clusterIPs"] == ["10.96.0.10"]
    headless = apply_defaults(service(clusterIP="None", ports=[]))["spec"]
    assert (headless["clusterIPs"], headless["ipFamilies"]) == (["None"], ["IPv4"])
    external = apply_defaults(service(type="ExternalName", externalName="db.example.com",
                                      ports=[]))["spec"]
    assert external == {"type": "ExternalName", "externalName": "db.example.com", "ports": [],
                        "selector": {"app": "web"}, "sessionAffinity": "None"}


# ---------------------------------------------------------------- Pods


def test_pod_defaults():
    out = apply_defaults(pod(ports=[{"containerPort": 80}]))
    assert out["spec"] == {
        "containers": [{"name": "app", "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        **CONTAINER_DEFAULTS}],
        **POD_SPEC_DEFAULTS,
        "enableServiceLinks": True,
        "serviceAccountName": "default", "serviceAccount": "default",
    }


def test_explicit_pod_values_are_kept():
    obj = pod()
    obj["spec"].update(restartPolicy="Never", enableServiceLinks=False,
                       terminationGracePeriodSeconds=0, dnsPolicy="Default")
    spec = apply_defaults(obj)["spec"]
    assert (spec["restartPolicy"], spec["enableServiceLinks"],
            spec["terminationGracePeriodSeconds"], spec["dnsPolicy"]) == (
        "Never", False, 0, "Default")


@pytest.mark.parametrize("image, policy", [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:1.27", "IfNotPresent"),
    ("localhost:5000/shop/api", "Always"),
    ("localhost:5000/shop/api:1.4", "IfNotPresent"),
    ("nginx@sha256:0123abcd", "IfNotPresent"),
    ("", "IfNotPresent"),
])
def test_image_pull_policy_follows_the_tag(image, policy):
    out = apply_defaults(pod(image=image))
    assert out["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_probe_defaults():
    out = apply_defaults(pod(
        readinessProbe={"httpGet": {"port": 8080}},
        livenessProbe={"tcpSocket": {"port": 80}, "periodSeconds": 0, "failureThreshold": 5},
        lifecycle={"preStop": {"httpGet": {"port": 80}}}))
    container = out["spec"]["containers"][0]
    assert container["readinessProbe"] == {
        "httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert container["livenessProbe"] == {
        "tcpSocket": {"port": 80}, "timeoutSeconds": 1, "periodSeconds": 10,
        "successThreshold": 1, "failureThreshold": 5}
    assert container["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/",
                                                            "scheme": "HTTP"}


def test_env_field_ref_and_volumes():
    obj = pod(env=[{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])
    obj["spec"]["volumes"] = [{"name": "scratch"}, {"name": "conf", "configMap": {"name": "c"}}]
    spec = apply_defaults(obj)["spec"]
    assert spec["containers"][0]["env"][0]["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.name", "apiVersion": "v1"}
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {}},
                               {"name": "conf", "configMap": {"name": "c", "defaultMode": 420}}]


def test_host_network_pods_publish_their_ports():
    obj = pod(ports=[{"containerPort": 9100}])
    obj["spec"]["hostNetwork"] = True
    port = apply_defaults(obj)["spec"]["containers"][0]["ports"][0]
    assert port == {"containerPort": 9100, "hostPort": 9100, "protocol": "TCP"}


# ---------------------------------------------------------------- workloads


def test_deployment_defaults():
    out = apply_defaults(workload("Deployment"))
    assert out["spec"] == {
        "selector": {"matchLabels": {"app": "web"}},
        "template": defaulted_template(),
        "replicas": 1,
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }


def test_deployment_keeps_what_was_given():
    spec = apply_defaults(workload("Deployment", replicas=0,
                                   strategy={"rollingUpdate": {"maxSurge": 0}}))["spec"]
    assert spec["replicas"] == 0
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": "25%"}
    recreate = apply_defaults(workload("Deployment", strategy={"type": "Recreate"}))["spec"]
    assert recreate["strategy"] == {"type": "Recreate"}


def test_replica_set_defaults():
    spec = apply_defaults(workload("ReplicaSet"))["spec"]
    assert spec["replicas"] == 1
    assert spec["template"] == defaulted_template()
    assert set(spec) == {"selector", "template", "replicas"}


def test_stateful_set_defaults():
    spec = apply_defaults(workload("StatefulSet", serviceName="db"))["spec"]
    assert {k: v for k, v in spec.items() if k != "template"} == {
        "selector": {"matchLabels": {"app": "web"}},
        "serviceName": "db",
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                                                 "whenScaled": "Retain"},
        "replicas": 1,
        "revisionHistoryLimit": 10,
    }
    on_delete = apply_defaults(workload("StatefulSet", updateStrategy={"type": "OnDelete"}))
    assert on_delete["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_daemon_set_defaults():
    spec = apply_defaults(workload("DaemonSet"))["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert "replicas" not in spec
    assert "enableServiceLinks" not in spec["template"]["spec"]     # Pods only, not templates


# ---------------------------------------------------------------- other kinds


def test_namespace_gets_its_name_label():
    ns = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "shop", "labels": {"team": "a",
                                                  "kubernetes.io/metadata.name": "other"}}}
    assert apply_defaults(ns)["metadata"]["labels"] == {
        "team": "a", "kubernetes.io/metadata.name": "shop"}
    bare = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}}
    assert apply_defaults(bare)["metadata"] == {
        "name": "dev", "labels": {"kubernetes.io/metadata.name": "dev"}}


def test_network_policy_types():
    def policy_types(**spec) -> list[str]:
        obj = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "p"}, "spec": {"podSelector": {}, **spec}}
        return apply_defaults(obj)["spec"]["policyTypes"]
    assert policy_types() == ["Ingress"]
    assert policy_types(ingress=[{}]) == ["Ingress"]
    assert policy_types(egress=[{"to": []}]) == ["Ingress", "Egress"]
    assert policy_types(egress=[]) == ["Ingress"]             # Go: len(egress) != 0
    assert policy_types(policyTypes=["Egress"]) == ["Egress"]


def test_network_policy_port_protocol():
    obj = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "p"},
           "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80},
                                                              {"port": 53, "protocol": "UDP"}]}]}}
    ports = apply_defaults(obj)["spec"]["ingress"][0]["ports"]
    assert ports == [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]


def test_secret_endpoints_and_slices():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    assert apply_defaults(secret)["type"] == "Opaque"
    ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"},
          "subsets": [{"ports": [{"port": 80}]}]}
    assert apply_defaults(ep)["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "e"}, "ports": [{"port": 80}]}
    assert apply_defaults(eps)["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]


def test_kinds_without_defaults_are_copied_unchanged():
    for obj in ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                 "metadata": {"name": "i"}, "spec": {"rules": []}},
                {"kind": "Widget", "spec": {"a": 1}}):
        out = apply_defaults(obj)
        assert out == obj and out is not obj


# ---------------------------------------------------------------- general properties


def samples() -> list[dict]:
    return [service(type="NodePort"), service(sessionAffinity="ClientIP"), pod(),
            workload("Deployment"), workload("ReplicaSet"),
            workload("StatefulSet", serviceName="db"), workload("DaemonSet"),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "p"}, "spec": {"podSelector": {}, "egress": [{}]}}]


def test_input_is_not_modified():
    for obj in samples():
        before = copy.deepcopy(obj)
        apply_defaults(obj)
        assert obj == before


def test_defaults_are_idempotent_and_stay_valid():
    for obj in samples() + rich_objects():
        once = apply_defaults(obj)
        assert apply_defaults(once) == once
        assert validate(obj) == [] and validate(once) == [], obj["kind"]


def test_malformed_input_never_raises():
    for junk in JUNK:
        assert apply_defaults(junk) == junk
    for obj in samples() + rich_objects():
        for path, _ in list(every_subpath(obj)):
            for junk in JUNK:
                apply_defaults(replaced(obj, path, junk))


# ---------------------------------------------------------------- IntOrString scaling


@pytest.mark.parametrize("value, total, round_up, expected", [
    (3, 10, True, 3),
    (0, 10, False, 0),
    ("25%", 10, True, 3),        # maxSurge rounds up: 2.5 -> 3
    ("25%", 10, False, 2),       # maxUnavailable rounds down: 2.5 -> 2
    ("25%", 1, True, 1),
    ("25%", 1, False, 0),
    ("100%", 7, False, 7),
    ("0%", 7, True, 0),
    ("33%", 3, True, 1),
    ("150%", 4, True, 6),
])
def test_parse_int_or_percent(value, total, round_up, expected):
    assert parse_int_or_percent(value, total, round_up) == expected


@pytest.mark.parametrize("value, message", [
    ("25", "invalid value for IntOrString: invalid type: string is not a percentage"),
    ("a%", 'invalid value for IntOrString: invalid value "a%": strconv.Atoi: parsing "a": '
           "invalid syntax"),
    (True, "invalid value for IntOrString: invalid type: neither int nor percentage"),
    (2.5, "invalid value for IntOrString: invalid type: neither int nor percentage"),
])
def test_parse_int_or_percent_errors(value, message):
    with pytest.raises(ValueError) as err:
        parse_int_or_percent(value, 10, True)
    assert str(err.value) == message
