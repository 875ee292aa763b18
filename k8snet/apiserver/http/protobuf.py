"""Kubernetes protobuf request bodies, decoded to the JSON objects they stand for.

    b"k8s\\x00" + runtime.Unknown{typeMeta: {apiVersion, kind}, raw: <the object>}
      -> {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {...}, ...}

kubectl's typed clients send built-in objects this way (``Content-Type:
application/vnd.kubernetes.protobuf``); responses stay JSON, which those
clients accept too.  The wire format is protobuf's (varint, 64-bit, length-
delimited, 32-bit); the field numbers are ``protoschema.SCHEMA``.  Go writes
every non-pointer field, so empty strings, false, zero and empty lists and
maps are dropped, as ``omitempty`` drops them from JSON (``replicas`` keeps
its zero: it is a pointer).  ``Time`` becomes RFC 3339, ``IntOrString`` an int
or a string, ``Quantity`` its string, bytes base64.  A Go struct embedded
in another (``IngressRule.IngressRuleValue``, ``Probe.ProbeHandler``,
``Volume.VolumeSource``; type ``e:`` in the schema) is a field of its own on
the wire but inline in JSON (encoding/json promotes an anonymous struct's
fields), so its fields are merged into the parent.  Sources: api-concepts
("Protobuf encoding"), https://protobuf.dev/programming-guides/encoding/,
k8s.io/api ``types.go`` (the embedded fields) and ``generated.proto``
"""
from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime
from functools import cache

from k8snet.apiserver.http.protoschema import SCHEMA
from k8snet.errors import BadRequest

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
GROUP_PACKAGE = {"": "core", "apps": "apps", "batch": "batch", "networking.k8s.io": "networking",
                 "rbac.authorization.k8s.io": "rbac", "policy": "policy",
                 "scheduling.k8s.io": "scheduling", "meta.k8s.io": "meta",
                 "authorization.k8s.io": "authorization", "authentication.k8s.io": "authentication"}
KEEP_ZERO = ("replicas",)
Field = tuple[str, str]        # (json name, type code)


@cache
def schema() -> dict[str, dict[int, Field]]:
    """``{"core.v1.Pod": {1: ("metadata", "m:meta.v1.ObjectMeta"), ...}}``."""
    entries: list[str] = []
    for line in SCHEMA.splitlines():
        if line.startswith("  ") and entries:
            entries[-1] += " " + line.strip()
        elif line.strip():
            entries.append(line.strip())
    out: dict[str, dict[int, Field]] = {}
    for entry in entries:
        name, _, rest = entry.partition(" ")
        fields = {}
        for spec in rest.split(";"):
            num, fname, typ = spec.split()
            fields[int(num)] = (fname, typ)
        out[name] = fields
    return out


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise BadRequest("protobuf: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes):
    """(field number, wire type, value) for each field of a message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise BadRequest(f"protobuf: unsupported wire type {wire}")
        yield num, wire, value


def _scalar(code: str, wire: int, value: object) -> object:
    if code == "s":
        return bytes(value).decode()
    if code == "y":
        return base64.b64encode(bytes(value)).decode()
    if code == "b":
        return bool(value)
    if code == "d":
        return struct.unpack("<d", value)[0] if wire == 1 else struct.unpack("<f", value)[0]
    number = int(value)                        # int32/int64: two's complement varint
    return number - (1 << 64) if number >= 1 << 63 else number


def _value(code: str, wire: int, value: object) -> object:
    if code.startswith(("m:", "e:")):
        return message(code[2:], bytes(value))
    return _scalar(code, wire, value)


def message(name: str, data: bytes) -> object:
    """The JSON value of message ``name`` encoded in ``data``."""
    fields = schema().get(name)
    if fields is None:
        return {}
    out: dict = {}
    for num, wire, value in _fields(data):
        if num not in fields:
            continue
        fname, code = fields[num]
        if code.startswith("M"):
            key, item = _map_entry(code[1:], bytes(value))
            out.setdefault(fname, {})[key] = item
        elif code.startswith("r"):
            items = out.setdefault(fname, [])
            if wire == 2 and code[1:] in ("i", "b"):       # packed scalars
                pos, raw = 0, bytes(value)
                while pos < len(raw):
                    number, pos = _varint(raw, pos)
                    items.append(_scalar(code[1:], 0, number))
            else:
                items.append(_value(code[1:], wire, value))
        elif code.startswith("e:"):
            embedded = _value(code, wire, value)
            if isinstance(embedded, dict):
                out.update(embedded)
        else:
            out[fname] = _value(code, wire, value)
    return _special(name, _omit_empty(out))


def _map_entry(code: str, data: bytes) -> tuple[str, object]:
    key, item = "", "" if code in ("s", "y") else None
    for num, wire, value in _fields(data):
        if num == 1:
            key = bytes(value).decode()
        elif num == 2:
            item = _value(code, wire, value)
    return key, item


def _omit_empty(obj: dict) -> dict:
    """Drop what Go's JSON ``omitempty`` would (messages stay, even empty)."""
    def empty(key: str, v: object) -> bool:
        if isinstance(v, dict):
            return False
        if v is None or v == "" or v is False or v == []:
            return True
        return isinstance(v, int | float) and v == 0 and key not in KEEP_ZERO
    return {k: v for k, v in obj.items() if not empty(k, v)}


def _special(name: str, obj: dict) -> object:
    if name == "meta.v1.Time":
        seconds = obj.get("seconds", 0)
        if not seconds:
            return None
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if name == "intstr.IntOrString":
        return obj.get("strVal", "") if obj.get("type") == 1 else obj.get("intVal", 0)
    if name == "resource.Quantity":
        return obj.get("string", "0")
    return obj


def decode(body: bytes) -> dict:
    """The JSON object of a ``application/vnd.kubernetes.protobuf`` body."""
    if not body.startswith(MAGIC):
        raise BadRequest("protobuf: the body does not start with the k8s\\x00 prefix")
    unknown = message("runtime.Unknown", body[len(MAGIC):])
    if not isinstance(unknown, dict):
        raise BadRequest("protobuf: not a runtime.Unknown envelope")
    api_version, kind = unknown.get("apiVersion", ""), unknown.get("kind", "")
    group, _, version = api_version.rpartition("/")
    package = GROUP_PACKAGE.get(group)
    name = f"{package}.{version}.{kind}"
    if package is None or name not in schema():
        raise BadRequest(f"protobuf bodies of {kind} ({api_version}) are not understood by "
                         "this server; send JSON (kubectl apply -f, kubectl create -f)")
    raw = base64.b64decode(unknown.get("raw", ""))
    obj = message(name, raw)
    if not isinstance(obj, dict):
        raise BadRequest("protobuf: the object is not a message")
    return {"apiVersion": api_version, "kind": kind, **obj}
