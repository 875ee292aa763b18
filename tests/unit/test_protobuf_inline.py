"""Embedded Go structs in protobuf bodies decode inline, as their JSON is.

``IngressRule`` embeds ``IngressRuleValue``, ``Probe`` embeds ``ProbeHandler``,
``Volume`` embeds ``VolumeSource``, the configMap/secret references embed
``LocalObjectReference`` (k8s.io/api networking/v1 and core/v1 ``types.go``):
each is a field of its own on the wire (``generated.proto``) but its fields are
the parent's in JSON.  Messages here are built by hand from those field numbers.
"""
from __future__ import annotations

from k8snet.apiserver.http import protobuf


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes(num: int, value: bytes | str) -> bytes:
    """A length-delimited field (string, bytes or message)."""
    raw = value.encode() if isinstance(value, str) else value
    return _varint(num << 3 | 2) + _varint(len(raw)) + raw


def _int(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value)


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    """``k8s\\0`` + runtime.Unknown{typeMeta: {apiVersion, kind}, raw}."""
    type_meta = _bytes(1, api_version) + _bytes(2, kind)
    return protobuf.MAGIC + _bytes(1, type_meta) + _bytes(2, raw)


def test_ingress_rule_value_is_inline():
    backend = _bytes(4, _bytes(1, "svc1") + _bytes(2, _int(2, 8080)))   # service{name, port}
    path = _bytes(1, "/") + _bytes(3, "Exact") + _bytes(2, backend)    # HTTPIngressPath
    rule_value = _bytes(1, _bytes(1, path))                             # http{paths}
    rule = _bytes(1, "foo.com") + _bytes(2, rule_value)                 # host, ingressRuleValue
    spec = _bytes(4, "nginx") + _bytes(3, rule)
    raw = _bytes(1, _bytes(1, "demo")) + _bytes(2, spec)
    obj = protobuf.decode(_envelope("networking.k8s.io/v1", "Ingress", raw))
    assert obj == {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "demo"},
        "spec": {"ingressClassName": "nginx", "rules": [{
            "host": "foo.com",
            "http": {"paths": [{"path": "/", "pathType": "Exact", "backend": {
                "service": {"name": "svc1", "port": {"number": 8080}}}}]}}]}}


def test_ingress_rule_without_value_has_no_empty_key():
    """Go writes the embedded struct even when empty; JSON has nothing for it."""
    rule = _bytes(1, "foo.com") + _bytes(2, b"")
    assert protobuf.message("networking.v1.IngressRule", rule) == {"host": "foo.com"}


def test_probe_handlers_are_inline():
    exec_probe = _bytes(1, _bytes(1, _bytes(1, "true"))) + _int(4, 5)     # handler{exec}, period
    port = _int(1, 0) + _int(2, 80)                                        # IntOrString int
    http_probe = _bytes(1, _bytes(2, _bytes(1, "/ready") + _bytes(2, port)))
    tcp_probe = _bytes(1, _bytes(3, _bytes(1, _int(1, 1) + _bytes(3, "http"))))
    grpc_probe = _bytes(1, _bytes(4, _int(1, 9000)))
    container = (_bytes(1, "c") + _bytes(10, exec_probe) + _bytes(11, http_probe)
                 + _bytes(22, tcp_probe))
    assert protobuf.message("core.v1.Container", container) == {
        "name": "c",
        "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 80}},
        "startupProbe": {"tcpSocket": {"port": "http"}}}
    assert protobuf.message("core.v1.Probe", grpc_probe) == {"grpc": {"port": 9000}}


def test_volume_source_and_local_object_references_are_inline():
    volume = _bytes(1, "conf") + _bytes(2, _bytes(19, _bytes(1, _bytes(1, "cm"))))
    assert protobuf.message("core.v1.Volume", volume) == {
        "name": "conf", "configMap": {"name": "cm"}}
    key_ref = _bytes(1, _bytes(1, "sec")) + _bytes(2, "b")
    env = _bytes(1, "B") + _bytes(3, _bytes(4, key_ref))
    assert protobuf.message("core.v1.EnvVar", env) == {
        "name": "B", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "b"}}}
    env_from = _bytes(2, _bytes(1, _bytes(1, "cm")))
    assert protobuf.message("core.v1.EnvFromSource", env_from) == {
        "configMapRef": {"name": "cm"}}


def test_ephemeral_container_common_is_inline():
    common = _bytes(1, "debugger") + _bytes(2, "busybox")
    pod_spec = _bytes(34, _bytes(1, common) + _bytes(2, "c"))
    assert protobuf.message("core.v1.PodSpec", pod_spec) == {"ephemeralContainers": [
        {"name": "debugger", "image": "busybox", "targetContainerName": "c"}]}


def test_the_embedded_fields_are_those_go_declares_without_a_name():
    """The list from k8s.io/api types.go (anonymous struct fields with a protobuf tag)."""
    embedded = {(name, fname) for name, fields in protobuf.schema().items()
                for fname, code in fields.values() if code.startswith("e:")}
    refs = ("ConfigMapVolumeSource", "ConfigMapEnvSource", "SecretEnvSource",
            "ConfigMapKeySelector", "SecretKeySelector", "SecretProjection",
            "ConfigMapProjection")
    assert embedded == {
        ("runtime.Unknown", "typeMeta"), ("core.v1.Volume", "volumeSource"),
        ("core.v1.Probe", "handler"), ("networking.v1.IngressRule", "ingressRuleValue"),
        ("core.v1.EphemeralContainer", "ephemeralContainerCommon"),
        *((f"core.v1.{name}", "localObjectReference") for name in refs)}
