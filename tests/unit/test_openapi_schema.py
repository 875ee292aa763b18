"""The OpenAPI v3 schemas of the built-in kinds, generated from the Python
client's models, as ``GET /openapi/v3/<gv>`` serves them to kubectl explain."""
from __future__ import annotations

import time
import types

import pytest

from k8snet.api import openapi_schema as oas
from k8snet.api.kinds import BUILTIN
from k8snet.apiserver.http import discovery

CORE = "io.k8s.api.core.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
GROUP_VERSIONS = sorted({(k.group, k.version) for k in BUILTIN})
PYDANTIC = hasattr(oas._model("V1Pod"), "model_fields")         # client >= 37


def schemas(group: str, version: str) -> dict[str, dict]:
    kinds = tuple(k.kind for k in BUILTIN if (k.group, k.version) == (group, version))
    return oas.component_schemas(group, version, kinds)


def ref(prop: dict) -> str:
    """The component a property refers to, through kubernetes' allOf wrapper."""
    (only,) = prop["allOf"]
    return only["$ref"].removeprefix(oas.REF)


def test_pod_spec_containers_ports():
    core = schemas("", "v1")
    pod = core[CORE + "Pod"]
    assert pod[oas.GVK] == [{"group": "", "kind": "Pod", "version": "v1"}]
    if PYDANTIC:                    # the older client's classes have no description
        assert pod["description"].startswith("Pod is a collection of containers")
    assert ref(pod["properties"]["metadata"]) == META + "ObjectMeta"
    assert ref(pod["properties"]["spec"]) == CORE + "PodSpec"
    containers = core[CORE + "PodSpec"]["properties"]["containers"]
    assert containers["type"] == "array" and ref(containers["items"]) == CORE + "Container"
    assert "containers" in core[CORE + "PodSpec"]["required"]
    container = core[CORE + "Container"]
    assert container["required"] == ["name"]
    assert ref(container["properties"]["ports"]["items"]) == CORE + "ContainerPort"
    port = core[CORE + "ContainerPort"]
    assert port["properties"]["containerPort"]["type"] == "integer"
    assert "Number of port to expose" in port["properties"]["containerPort"]["description"]
    assert "noqa" not in port["properties"]["containerPort"]["description"]
    assert port["required"] == ["containerPort"]
    assert core[CORE + "PodSpec"]["properties"]["nodeSelector"] == {
        "type": "object", "additionalProperties": {"type": "string"},
        "description": core[CORE + "PodSpec"]["properties"]["nodeSelector"]["description"]}
    created = core[META + "ObjectMeta"]["properties"]["creationTimestamp"]
    assert (created["type"], created["format"]) == ("string", "date-time")


def test_fields_referring_to_a_model_have_a_description():
    core = schemas("", "v1")
    pod = core[CORE + "Pod"]["properties"]
    for field in ("spec", "metadata", "status"):
        assert pod[field]["description"], field
    if PYDANTIC:                    # no field text kept on a reference: the referred type's
        assert pod["spec"]["description"] == core[CORE + "PodSpec"]["description"] == \
            "PodSpec is a description of a pod."
        assert pod["metadata"]["description"].startswith("ObjectMeta is metadata")
    else:                           # the field's own text, as kube-apiserver serves it
        assert pod["spec"]["description"].startswith(
            "Specification of the desired behavior of the pod.")
        assert pod["metadata"]["description"].startswith("Standard object's metadata.")
    net = schemas("networking.k8s.io", "v1")
    selector = net["io.k8s.api.networking.v1.NetworkPolicySpec"]["properties"]["podSelector"]
    assert ref(selector) == META + "LabelSelector" and selector["description"]


@pytest.mark.parametrize(("group", "version"), GROUP_VERSIONS)
def test_every_reference_property_has_a_description(group, version):
    missing = [(name, field) for name, schema in schemas(group, version).items()
               for field, prop in schema.get("properties", {}).items()
               if "allOf" in prop and not prop.get("description")]
    assert missing == []


def test_int_or_string_and_quantity_are_described() -> None:
    """The client has no model of either: their text is the lab's own."""
    apps, core = schemas("apps", "v1"), schemas("", "v1")
    assert apps[oas.INT_OR_STRING]["description"].startswith("IntOrString holds an int32 or")
    assert apps[oas.INT_OR_STRING]["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert core[oas.QUANTITY]["description"].startswith("Quantity is a fixed-point number")


def test_the_first_build_of_every_document_is_quick():
    cached = (oas.component_schemas, oas.model_schema, oas.fields_of, oas._core_closure,
              oas._api_owners, oas._kinds_by_model)
    for function in cached:
        function.cache_clear()
    start = time.perf_counter()
    for group, version in GROUP_VERSIONS:
        schemas(group, version)
    assert time.perf_counter() - start < 5.0        # about 1 s on the lab's machine


@pytest.mark.parametrize(("group", "version"), GROUP_VERSIONS)
def test_every_ref_resolves_and_every_kind_has_its_schema(group, version):
    doc = schemas(group, version)
    assert oas.refs_in(doc) <= set(doc)
    for kind in BUILTIN:
        if (kind.group, kind.version) != (group, version):
            continue
        tagged = [n for n, s in doc.items()
                  if {"group": group, "kind": kind.kind, "version": version} in s.get(oas.GVK, [])]
        assert len(tagged) == 1, kind.kind
        assert tagged[0].endswith("." + kind.kind)


def test_every_builtin_kind_has_a_model():
    assert [k.kind for k in BUILTIN if oas.model_for(k) is None] == []
    assert oas.model_for(next(k for k in BUILTIN if k.kind == "Event")) == "CoreV1Event"


def test_deployment_in_apps_v1():
    apps = schemas("apps", "v1")
    deploy = apps["io.k8s.api.apps.v1.Deployment"]
    assert deploy[oas.GVK] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    spec = apps["io.k8s.api.apps.v1.DeploymentSpec"]
    assert spec["properties"]["replicas"]["type"] == "integer"
    assert "desired pods" in spec["properties"]["replicas"]["description"]
    assert set(spec["required"]) >= {"selector", "template"}
    assert ref(spec["properties"]["template"]) == CORE + "PodTemplateSpec"
    assert ref(spec["properties"]["selector"]) == META + "LabelSelector"
    rolling = apps["io.k8s.api.apps.v1.RollingUpdateDeployment"]["properties"]["maxSurge"]
    if PYDANTIC:                    # the older client's IntOrString is an object
        assert ref(rolling) == oas.INT_OR_STRING
        assert apps[oas.INT_OR_STRING]["format"] == "int-or-string"
    assert CORE + "Pod" not in apps                  # only what the apps kinds reach


def test_network_policy_in_networking_v1():
    net = schemas("networking.k8s.io", "v1")
    policy = net["io.k8s.api.networking.v1.NetworkPolicy"]
    assert policy[oas.GVK] == [{"group": "networking.k8s.io", "kind": "NetworkPolicy",
                                "version": "v1"}]
    peer = net["io.k8s.api.networking.v1.NetworkPolicyPeer"]["properties"]
    assert ref(peer["ipBlock"]) == "io.k8s.api.networking.v1.IPBlock"
    assert ref(peer["podSelector"]) == META + "LabelSelector"
    ingress = net["io.k8s.api.networking.v1.IngressSpec"]["properties"]["defaultBackend"]
    assert ref(ingress) == "io.k8s.api.networking.v1.IngressBackend"


@pytest.mark.parametrize(("model", "group", "name"), [
    ("V1ObjectMeta", "apps", META + "ObjectMeta"),
    ("CoreV1Event", "", CORE + "Event"),
    ("DiscoveryV1EndpointPort", "discovery.k8s.io", "io.k8s.api.discovery.v1.EndpointPort"),
    ("V1PodTemplateSpec", "batch", CORE + "PodTemplateSpec"),
    ("V1TopologySelectorTerm", "storage.k8s.io", CORE + "TopologySelectorTerm"),
    ("V1ObjectReference", "discovery.k8s.io", CORE + "ObjectReference"),
    ("V1JobSpec", "batch", "io.k8s.api.batch.v1.JobSpec"),
    ("RbacV1Subject", "rbac.authorization.k8s.io", "io.k8s.api.rbac.v1.Subject"),
    ("V2MetricSpec", "autoscaling", "io.k8s.api.autoscaling.v2.MetricSpec"),
    ("V1CustomResourceDefinitionSpec", "apiextensions.k8s.io",
     "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec"),
])
def test_definition_names_are_the_servers(model, group, name):
    assert oas.definition_name(model, group) == name


def test_quantities_are_named_and_listed_fields_exist():
    core = schemas("", "v1")
    limits = core[CORE + "ResourceRequirements"]["properties"]["limits"]
    assert limits["type"] == "object" and ref(limits["additionalProperties"]) == oas.QUANTITY
    assert ref(core[CORE + "EmptyDirVolumeSource"]["properties"]["sizeLimit"]) == oas.QUANTITY
    assert "oneOf" in core[oas.QUANTITY]
    for model, names in oas.QUANTITY_FIELDS.items():
        types_ = {f.name: f.type for f in oas.fields_of(model)}
        for name in names:
            assert types_[name] in ("str", "Dict[str, str]", "dict(str, str)"), (model, name)


def test_kinds_outside_the_group_version_and_custom_kinds_have_no_schema():
    assert oas.component_schemas("example.com", "v1", ("Widget",)) == {}
    assert oas.component_schemas("apps", "v1", ("Pod",)) == {}


class V1Sample:
    """What the client generated before 37: descriptions in property getters,
    required fields refused as None by their setters."""

    openapi_types = {"size": "int", "label": "str"}
    attribute_map = {"size": "size", "label": "label"}

    @property
    def size(self):
        """Gets the size of this V1Sample.  # noqa: E501

        How big it is, in bytes.  # noqa: E501

        :return: The size of this V1Sample.  # noqa: E501
        :rtype: int
        """
        return self._size

    @size.setter
    def size(self, size):
        if self.local_vars_configuration.client_side_validation and size is None:
            raise ValueError("Invalid value for `size`, must not be `None`")
        self._size = size

    @property
    def label(self):
        """Gets the label of this V1Sample.  # noqa: E501


        :return: The label of this V1Sample.  # noqa: E501
        :rtype: str
        """
        return self._label

    @label.setter
    def label(self, label):
        self._label = label


class V1Holder:
    """Holds a part."""

    openapi_types = {"part": "V1Sample"}
    attribute_map = {"part": "part"}


def test_the_older_clients_models_are_read(monkeypatch):
    oas._kinds_by_model(), oas._core_closure(), oas._api_owners("v1")  # the real client's, cached
    monkeypatch.setattr(oas, "_models", lambda: types.SimpleNamespace(V1Sample=V1Sample,
                                                                       V1Holder=V1Holder))
    oas.fields_of.cache_clear()
    try:
        part = oas.model_schema.__wrapped__("V1Holder", "")["properties"]["part"]
        assert part["description"] == oas.description_of("V1Sample")    # no text: the type's
        size, label = oas.fields_of("V1Sample")
        assert (size.name, size.description, size.required) == \
            ("size", "How big it is, in bytes.", True)
        assert (label.description, label.required) == ("", False)
        assert oas.model_schema.__wrapped__("V1Sample", "") == {
            "type": "object", "required": ["size"],
            "properties": {"size": {"type": "integer", "description": "How big it is, in bytes."},
                           "label": {"type": "string"}},
            "description": "What the client generated before 37: descriptions in property "
                           "getters,\nrequired fields refused as None by their setters."}
    finally:
        oas.fields_of.cache_clear()


def test_served_documents_carry_schemas_and_the_patch_paths():
    doc = discovery.openapi_gv(None, "apps", "v1")
    assert "io.k8s.api.apps.v1.Deployment" in doc["components"]["schemas"]
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert "requestBody" not in patch       # kubectl apply keeps its compiled-in patch types
    root = discovery.openapi_root(None)
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    assert discovery.openapi_root(None) == root
    assert discovery.openapi_gv(None, "apps", "v1") is doc        # made once
    assert discovery.openapi_gv(None, "nope", "v1") is None
