"""Validation of objects, with the API server's field paths and wording.

``validate(obj)`` takes one object as a plain Kubernetes-JSON dict (what
``kubectl get -o json`` shows) and returns every cause at once, each a
``FieldError`` whose ``str()`` is the Kubernetes ``field.Error`` text::

    spec.ports[0].name: Required value
    spec.type: Unsupported value: "Foo": supported values: "ClusterIP", ...

It follows kube-apiserver: ``pkg/apis/core/validation`` (ValidateObjectMeta,
ValidatePodSpec, ValidateService, ...), ``pkg/apis/apps/validation``,
``pkg/apis/networking/validation``, ``pkg/apis/discovery/validation``, the
name and format checks of ``apimachinery/pkg/util/validation`` and the label
selector checks of ``apimachinery/pkg/apis/meta/v1/validation``.  Where the
API server fails earlier, in JSON decoding, a value of the wrong JSON type
is a ``FieldValueTypeInvalid`` error at its path (``must be an integer``);
nothing is coerced.  A few checks of the Service allocators (NodePort range,
the lab's IPv4-only service network) are here too, because they need no
state; allocation conflicts are the store's business.

Objects may be given before or after ``defaults.apply_defaults``: a field the
API server defaults (Service ``type``, port ``protocol``, Pod
``restartPolicy``, probe thresholds, a Deployment's ``strategy``...) is
accepted when absent or empty, as if it held its default.

Deliberate differences from kube-apiserver, for readable messages:
- an unknown strategy ``type`` is reported at ``...strategy.type`` with the
  bad string, where Go prints the whole strategy struct at ``...strategy``;
- a bad selector does not also add Go's ``spec.selector: invalid label
  selector`` nor skip the pod template: its causes are reported instead;
- StatefulSet pod templates are validated like the others (Go only checks
  their labels), with ``volumeClaimTemplates`` counted as volumes.

``validate`` never raises, whatever it is given.
"""
from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from k8snet.errors import K8snetError

# The field.ErrorType values (machine readable; also the StatusCause type).
NOT_FOUND = "FieldValueNotFound"
REQUIRED = "FieldValueRequired"
DUPLICATE = "FieldValueDuplicate"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
TYPE_INVALID = "FieldValueTypeInvalid"
INTERNAL = "InternalError"

_TYPE_TEXT = {
    NOT_FOUND: "Not found", REQUIRED: "Required value", DUPLICATE: "Duplicate value",
    INVALID: "Invalid value", NOT_SUPPORTED: "Unsupported value", FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long", TOO_MANY: "Too many", TYPE_INVALID: "Invalid value",
    INTERNAL: "Internal error",
}
_VALUELESS = (REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL)

NODE_PORT_RANGE = (30000, 32767)        # kube-apiserver --service-node-port-range
KUBELET_PORT = 10250
MAX_CLIENT_IP_AFFINITY_SECONDS = 86400  # core.MaxClientIPServiceAffinitySeconds
MAX_SECRET_SIZE = 1024 * 1024           # core.MaxSecretSize
MAX_ANNOTATIONS_SIZE = 256 * 1024       # TotalAnnotationSizeLimitB


# --------------------------------------------------------------------------
# The error type and kubectl's message


@dataclass(frozen=True)
class FieldError:
    """One cause: ``FieldError("spec.ports[0].name", REQUIRED, "", "")``.

    ``type`` is one of the ``field.ErrorType`` strings above; ``value`` the bad
    value (ignored in the text of Required, Forbidden and Too long errors).
    ``str()`` gives Go's ``field.Error.Error()``: ``path: body``.
    """

    path: str
    type: str
    value: Any = ""
    detail: str = ""

    def body(self) -> str:
        """The message without the path (Go's ``ErrorBody``)."""
        text = _TYPE_TEXT.get(self.type, self.type)
        if self.type not in _VALUELESS:
            text = f"{text}: {_go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}" if self.path else self.body()


def invalid_message(kind: str, name: str, errors: list[FieldError]) -> str:
    """kubectl's text for an Invalid status: ``The Service "x" is invalid: ...``.

    One distinct cause is printed alone, several in ``[a, b]``, identical
    ones once (apimachinery's ``ErrorList.ToAggregate``)."""
    causes = list(dict.fromkeys(str(e) for e in errors))
    joined = causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"
    return f"The {kind} {_go_quote(str(name))} is invalid: {joined}"


class Invalid(K8snetError):
    """An object the API server would refuse (HTTP 422, reason Invalid)."""

    def __init__(self, kind: str, name: str, errors: list[FieldError]) -> None:
        self.kind = kind
        self.name = name
        self.errors = list(errors)
        super().__init__(invalid_message(kind, name, self.errors))


# --------------------------------------------------------------------------
# Values printed as Go's fmt prints them in field errors


class _GoText(str):
    """A value printed verbatim: Go Stringers (IntOrString) and literals."""


def _go_value(value: Any) -> str:
    """``value`` as a field error prints it: strings quoted (``%q``), numbers
    and booleans plain, ``None`` as ``null``, maps and lists as ``%#v``."""
    if isinstance(value, _GoText):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, dict):
        return _go_map(value)
    if isinstance(value, (list, tuple)):
        return _go_slice(value)
    return _go_quote(repr(value))


def _go_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f",
               "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_quote(text: str) -> str:
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _go_nested(value: Any) -> str:
    """An element of a ``map[string]interface {}`` or ``[]interface {}``."""
    if value is None:
        return "interface {}(nil)"
    return _go_value(value)


def _go_map(value: dict) -> str:
    keys = sorted(value, key=lambda k: (not isinstance(k, str), str(k)))
    if all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        items = ", ".join(f"{_go_quote(k)}:{_go_quote(value[k])}" for k in keys)
        return "map[string]string{" + items + "}"
    items = ", ".join(f"{_go_nested(k)}:{_go_nested(value[k])}" for k in keys)
    return "map[string]interface {}{" + items + "}"


def _go_slice(value: list | tuple) -> str:
    if all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(_go_quote(v) for v in value) + "}"
    return "[]interface {}{" + ", ".join(_go_nested(v) for v in value) + "}"


def _intstr_text(value: Any) -> _GoText:
    """An IntOrString prints through its String(): ``25%``, ``3``, no quotes."""
    return _GoText(str(value))


# --------------------------------------------------------------------------
# Formats (apimachinery/pkg/util/validation): each returns its messages


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _range_error(low: int, high: int) -> str:
    return f"must be between {low} and {high}, inclusive"


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_WILDCARD_FMT = "\\*\\." + _DNS1123_SUBDOMAIN_FMT
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_PERCENT_FMT = "[0-9]+%"
_HEADER_FMT = "[-A-Za-z0-9]+"

_DNS1123_LABEL = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL = re.compile(_DNS1035_LABEL_FMT)
_WILDCARD = re.compile(_WILDCARD_FMT)
_LABEL_KEY = re.compile(_LABEL_KEY_FMT)
_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)
_CONFIG_KEY = re.compile(_CONFIG_KEY_FMT)
_PERCENT = re.compile(_PERCENT_FMT)
_HEADER = re.compile(_HEADER_FMT)
_PORT_NAME_CHARS = re.compile("[-a-z0-9]+")

_DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                      "characters or '-', and must start and end with an alphanumeric character")
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                          "characters, '-' or '.', and must start and end with an alphanumeric "
                          "character")
_DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or "
                      "'-', start with an alphabetic character, and end with an alphanumeric "
                      "character")
_WILDCARD_MSG = ("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
                 "subdomain, which must consist of lower case alphanumeric characters, '-' or "
                 "'.' and end with an alphanumeric character")
_LABEL_KEY_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                  "end with an alphanumeric character")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character")
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_ENV_NAME_MSG = ("a valid environment variable name must consist only of printable ASCII "
                 "characters other than '='")


def is_dns1123_label(value: str) -> list[str]:
    """RFC 1123 label (``IsDNS1123Label``): Namespace names, container names."""
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _DNS1123_LABEL.fullmatch(value):
        if _DNS1123_SUBDOMAIN.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT,
                                     "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """RFC 1123 subdomain (``IsDNS1123Subdomain``): most object names."""
    errs = [_max_len(253)] if len(value) > 253 else []
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """RFC 1035 label (``IsDNS1035Label``): Service names."""
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _DNS1035_LABEL.fullmatch(value):
        errs.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    """``*.example.com`` (``IsWildcardDNS1123Subdomain``): Ingress hosts."""
    errs = [_max_len(253)] if len(value) > 253 else []
    if not _WILDCARD.fullmatch(value):
        errs.append(_regex_error(_WILDCARD_MSG, _WILDCARD_FMT, "*.example.com"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """A label key, ``[prefix/]name`` (``IsQualifiedName``)."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a valid label key " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName",
                                                    "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in is_dns1123_subdomain(parts[0])]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _LABEL_KEY.fullmatch(name):
        errs.append("name part " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName",
                                                "my.name", "123-abc"))
    return errs


def is_label_value(value: str) -> list[str]:
    """A label value (``IsValidLabelValue``): empty, or up to 63 name characters."""
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _LABEL_VALUE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value",
                                 "12345"))
    return errs


def is_port_name(value: str) -> list[str]:
    """An IANA_SVC_NAME (``IsValidPortName``): container and target port names."""
    errs = [_max_len(15)] if len(value) > 15 else []
    if not _PORT_NAME_CHARS.fullmatch(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_port_number(value: int) -> list[str]:
    """1 to 65535 (``IsValidPortNum``)."""
    return [] if 1 <= value <= 65535 else [_range_error(1, 65535)]


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    return ["must not start with '..'"] if value.startswith("..") else []


def is_config_map_key(value: str) -> list[str]:
    """A ConfigMap or Secret data key (``IsConfigMapKey``)."""
    errs = [_max_len(253)] if len(value) > 253 else []
    if not _CONFIG_KEY.fullmatch(value):
        errs.append(_regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME",
                                 "key-name"))
    return errs + _chdir_prefix(value)


def is_env_var_name(value: str) -> list[str]:
    """An environment variable name (``IsRelaxedEnvVarName``, the default
    since RelaxedEnvironmentVariableValidation went beta)."""
    errs = ["environment variable name must be non-empty"] if not value else []
    if any(not (" " <= ch <= "~") or ch == "=" for ch in value):
        errs.append(_ENV_NAME_MSG)
    return errs


def is_percent(value: str) -> list[str]:
    """``NN%`` (``IsValidPercent``)."""
    if _PERCENT.fullmatch(value):
        return []
    return [_regex_error("a valid percent string must be a numeric string followed by an "
                         "ending '%'", _PERCENT_FMT, "1%", "93%")]


def _is_http_header_name(value: str) -> list[str]:
    if _HEADER.fullmatch(value):
        return []
    return [_regex_error("a valid HTTP header must consist of alphanumeric characters or '-'",
                         _HEADER_FMT, "X-Header-Name")]


def _name_as_prefix(check: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """A generateName may end in '-' (apimachinery's maskTrailingDash)."""
    def prefix_check(value: str) -> list[str]:
        if len(value) > 1 and value.endswith("-"):
            value = value[:-1] + "a"
        return check(value)
    return prefix_check


# --------------------------------------------------------------------------
# IP addresses and CIDRs

_IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
_CIDR_RE = re.compile(r"([^/]+)/([0-9]{1,3})")


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """``a.b.c.d/n`` as Go's ParseCIDR takes it (host bits allowed)."""
    match = _CIDR_RE.fullmatch(value)
    if not match or _parse_ip(match.group(1)) is None:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _special_ip_errors(ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                       text: str) -> list[str]:
    """``ValidateNonSpecialIP``: addresses that can never be endpoints."""
    errs = []
    if ip.is_unspecified:
        errs.append(f"may not be unspecified ({text})")
    if ip.is_loopback:
        errs.append("may not be in the loopback range (127.0.0.0/8, ::1/128)")
    if ip.is_link_local:
        errs.append("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    multicast = ipaddress.ip_network("224.0.0.0/24" if ip.version == 4 else "ff02::/16")
    if ip in multicast:
        errs.append("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
    return errs


# --------------------------------------------------------------------------
# Paths, the error list, and reading fields of the expected JSON type


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_STRING, _INTEGER, _BOOLEAN, _OBJECT, _LIST, _INT_OR_STRING = (
    "string", "integer", "boolean", "object", "list", "int-or-string")
_SHAPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    _STRING: (lambda v: isinstance(v, str), "must be a string"),
    _INTEGER: (_is_int, "must be an integer"),
    _BOOLEAN: (lambda v: isinstance(v, bool), "must be a boolean"),
    _OBJECT: (lambda v: isinstance(v, dict), "must be an object"),
    _LIST: (lambda v: isinstance(v, list), "must be a list"),
    _INT_OR_STRING: (lambda v: _is_int(v) or isinstance(v, str),
                     "must be an integer or a string"),
}


class _Errors(list):
    """The causes found so far, with one method per ``field.ErrorType``."""

    def required(self, path: str, detail: str = "") -> None:
        self.append(FieldError(path, REQUIRED, "", detail))

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.append(FieldError(path, INVALID, value, detail))

    def each(self, path: str, value: Any, messages: list[str]) -> None:
        """One Invalid error per message of a format check."""
        for message in messages:
            self.invalid(path, value, message)

    def not_supported(self, path: str, value: Any, supported: tuple[str, ...]) -> None:
        detail = "supported values: " + ", ".join(_go_quote(s) for s in supported)
        self.append(FieldError(path, NOT_SUPPORTED, value, detail))

    def duplicate(self, path: str, value: Any) -> None:
        self.append(FieldError(path, DUPLICATE, value, ""))

    def forbidden(self, path: str, detail: str) -> None:
        self.append(FieldError(path, FORBIDDEN, "", detail))

    def not_found(self, path: str, value: Any) -> None:
        self.append(FieldError(path, NOT_FOUND, value, ""))

    def too_long(self, path: str, limit: int) -> None:
        self.append(FieldError(path, TOO_LONG, "", f"must have at most {limit} bytes"))

    def too_many(self, path: str, count: int, limit: int) -> None:
        self.append(FieldError(path, TOO_MANY, count, f"must have at most {limit} items"))

    def get(self, obj: Any, key: str, path: str, shape: str) -> Any:
        """``obj[key]`` if it has the JSON type ``shape``; None if absent or
        null (or ``obj`` is no object); a type error and None otherwise."""
        if not isinstance(obj, dict):
            return None
        value = obj.get(key)
        if value is None:
            return None
        accepts, message = _SHAPES[shape]
        if accepts(value):
            return value
        self.append(FieldError(path, TYPE_INVALID, value, message))
        return None

    def need(self, obj: Any, key: str, path: str, shape: str, detail: str = "") -> Any:
        """Like ``get``, and Required when absent or empty ("", [], {})."""
        present = isinstance(obj, dict) and obj.get(key) is not None
        value = self.get(obj, key, path, shape)
        if not present or value in ("", [], {}):
            self.required(path, detail)
            return None
        return value

    def strings(self, obj: Any, key: str, path: str) -> dict[str, str]:
        """A map of strings (labels, selectors, data); bad entries reported."""
        value = self.get(obj, key, path, _OBJECT) or {}
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                self.append(FieldError(path, TYPE_INVALID, k, "must be a string"))
            elif not isinstance(v, str):
                self.append(FieldError(f"{path}[{k}]", TYPE_INVALID, v, "must be a string"))
            else:
                out[k] = v
        return out

    def string_list(self, obj: Any, key: str, path: str) -> list[str]:
        """A list of strings; bad items reported at their index."""
        out = []
        for i, item in enumerate(self.get(obj, key, path, _LIST) or []):
            if isinstance(item, str):
                out.append(item)
            else:
                self.append(FieldError(_index(path, i), TYPE_INVALID, item, "must be a string"))
        return out

    def objects(self, obj: Any, key: str, path: str) -> Iterator[tuple[str, dict]]:
        """``(path[i], item)`` for each object in a list; other items reported."""
        for i, item in enumerate(self.get(obj, key, path, _LIST) or []):
            if isinstance(item, dict):
                yield _index(path, i), item
            else:
                self.append(FieldError(_index(path, i), TYPE_INVALID, item, "must be an object"))

    def name(self, value: Any, path: str, check: Callable[[str], list[str]]) -> None:
        """A name format check on a string already read."""
        if isinstance(value, str) and value:
            self.each(path, value, check(value))

    def non_negative(self, obj: Any, key: str, path: str) -> int | None:
        """``ValidateNonnegativeField`` on an optional integer."""
        value = self.get(obj, key, path, _INTEGER)
        if value is not None and value < 0:
            self.invalid(path, value, "must be greater than or equal to 0")
        return value


def _struct(errs: _Errors, obj: dict, key: str, path: str) -> dict | None:
    """A nested struct: ``{}`` when absent (every field at its zero value, as
    Go decodes it), None when it is not an object (then reported)."""
    if obj.get(key) is None:
        return {}
    return errs.get(obj, key, path, _OBJECT)


def _spec(errs: _Errors, obj: dict) -> dict | None:
    return _struct(errs, obj, "spec", "spec")


# --------------------------------------------------------------------------
# Metadata, labels, annotations, label selectors


def _validate_labels(errs: _Errors, labels: dict[str, str], path: str) -> None:
    """``ValidateLabels``: every key a qualified name, every value a label value."""
    for key, value in labels.items():
        errs.each(path, key, is_qualified_name(key))
        errs.each(path, value, is_label_value(value))


def _validate_annotations(errs: _Errors, annotations: dict[str, str], path: str) -> None:
    for key in annotations:
        errs.each(path, key, is_qualified_name(key.lower()))
    if sum(len(k) + len(v) for k, v in annotations.items()) > MAX_ANNOTATIONS_SIZE:
        errs.too_long(path, MAX_ANNOTATIONS_SIZE)


def _validate_owner_references(errs: _Errors, meta: dict, path: str) -> None:
    """``ValidateOwnerReferences`` (whose paths carry no index, as in Go)."""
    controller = ""
    for _, ref in errs.objects(meta, "ownerReferences", path):
        api_version = errs.get(ref, "apiVersion", _child(path, "apiVersion"), _STRING) or ""
        if not api_version.rpartition("/")[2]:
            errs.invalid(_child(path, "apiVersion"), api_version, "version must not be empty")
        for key in ("kind", "name", "uid"):
            errs.get(ref, key, _child(path, key), _STRING)
            if ref.get(key) in (None, ""):
                errs.invalid(_child(path, key), "", "must not be empty")
        if errs.get(ref, "controller", _child(path, "controller"), _BOOLEAN):
            this = f"{ref.get('kind')}/{ref.get('name')}"
            if controller:
                errs.invalid(path, meta["ownerReferences"],
                             "Only one reference can have Controller set to true. Found "
                             f'"true" in references for {controller} and {this}')
            controller = controller or this


def _validate_meta(errs: _Errors, obj: dict, name_check: Callable[[str], list[str]],
                   cluster_scoped: bool) -> None:
    """``ValidateObjectMeta``.  The namespace may be absent: in the API server
    it comes from the request path."""
    meta = errs.get(obj, "metadata", "metadata", _OBJECT) or {}
    name = errs.get(meta, "name", "metadata.name", _STRING)
    generate = errs.get(meta, "generateName", "metadata.generateName", _STRING)
    errs.name(generate, "metadata.generateName", _name_as_prefix(name_check))
    if not name and not generate:
        errs.required("metadata.name", "name or generateName is required")
    errs.name(name, "metadata.name", name_check)
    namespace = errs.get(meta, "namespace", "metadata.namespace", _STRING)
    if namespace and cluster_scoped:
        errs.forbidden("metadata.namespace", "not allowed on this type")
    elif namespace:
        errs.name(namespace, "metadata.namespace", is_dns1123_label)
    errs.non_negative(meta, "generation", "metadata.generation")
    _validate_labels(errs, errs.strings(meta, "labels", "metadata.labels"), "metadata.labels")
    annotations = errs.strings(meta, "annotations", "metadata.annotations")
    _validate_annotations(errs, annotations, "metadata.annotations")
    _validate_owner_references(errs, meta, "metadata.ownerReferences")
    errs.string_list(meta, "finalizers", "metadata.finalizers")


def _validate_requirement(errs: _Errors, expr: dict, path: str) -> None:
    """``ValidateLabelSelectorRequirement``."""
    operator = errs.get(expr, "operator", _child(path, "operator"), _STRING) or ""
    values = errs.string_list(expr, "values", _child(path, "values"))
    if operator in ("In", "NotIn"):
        if not values:
            errs.required(_child(path, "values"),
                          "must be specified when `operator` is 'In' or 'NotIn'")
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.forbidden(_child(path, "values"),
                           "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    else:
        errs.invalid(_child(path, "operator"), operator, "not a valid selector operator")
    key = errs.get(expr, "key", _child(path, "key"), _STRING) or ""
    errs.each(_child(path, "key"), key, is_qualified_name(key))
    for i, value in enumerate(values):
        errs.each(_index(_child(path, "values"), i), value, is_label_value(value))


def _check_selector(errs: _Errors, selector: Any, path: str) -> None:
    if selector is None:
        return
    if not isinstance(selector, dict):
        errs.append(FieldError(path, TYPE_INVALID, selector, "must be an object"))
        return
    match_labels = _child(path, "matchLabels")
    _validate_labels(errs, errs.strings(selector, "matchLabels", match_labels), match_labels)
    for expr_path, expr in errs.objects(selector, "matchExpressions",
                                        _child(path, "matchExpressions")):
        _validate_requirement(errs, expr, expr_path)


def validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    """A metav1.LabelSelector at ``path`` (``ValidateLabelSelector``):
    ``matchLabels`` a label map; each of ``matchExpressions`` a valid key,
    an operator of In/NotIn/Exists/DoesNotExist, ``values`` required for
    In/NotIn and forbidden for Exists/DoesNotExist.  None is valid (absent)."""
    errs = _Errors()
    _check_selector(errs, selector, path)
    return list(errs)


def _selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """``LabelSelectorAsSelector(selector).Matches(labels)``, shape-tolerant."""
    if not isinstance(selector, dict):
        return False
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, dict):
        if any(labels.get(k) != v for k, v in match_labels.items()):
            return False
    exprs = selector.get("matchExpressions")
    for expr in exprs if isinstance(exprs, list) else []:
        if not isinstance(expr, dict):
            continue
        key, op = expr.get("key"), expr.get("operator")
        values = expr.get("values") if isinstance(expr.get("values"), list) else []
        present = isinstance(key, str) and key in labels
        held = present and labels[key] in values
        if (op == "In" and not held or op == "NotIn" and held
                or op == "Exists" and not present or op == "DoesNotExist" and present):
            return False
    return True


def _selector_is_empty(selector: Any) -> bool:
    return (isinstance(selector, dict) and not selector.get("matchLabels")
            and not selector.get("matchExpressions"))


# --------------------------------------------------------------------------
# Pods


_PROTOCOLS = ("SCTP", "TCP", "UDP")
_ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                    "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
                    "status.podIP", "status.podIPs")
_ENV_FIELD_SUBSCRIPTED = re.compile(r"(metadata\.(?:labels|annotations))\['(.*)'\]")


def _check_protocol(errs: _Errors, obj: dict, path: str) -> None:
    """A port protocol; empty is defaulted to TCP."""
    protocol = errs.get(obj, "protocol", path, _STRING)
    if protocol and protocol not in _PROTOCOLS:
        errs.not_supported(path, protocol, _PROTOCOLS)


def _check_port_num_or_name(errs: _Errors, obj: dict, key: str, path: str,
                            default: int | str | None = None) -> None:
    """``ValidatePortNumOrName`` on an IntOrString; absent means ``default``."""
    value = errs.get(obj, key, path, _INT_OR_STRING)
    if value is None and isinstance(obj, dict) and key in obj and obj[key] is not None:
        return                                    # wrong type, already reported
    value = default if value is None else value
    if isinstance(value, str):
        errs.each(path, value, is_port_name(value))
    elif value is not None:
        errs.each(path, value, is_port_number(value))


def _validate_container_ports(errs: _Errors, container: dict, path: str) -> None:
    names: set[str] = set()
    for port_path, port in errs.objects(container, "ports", path):
        name = errs.get(port, "name", _child(port_path, "name"), _STRING)
        if name:
            messages = is_port_name(name)
            errs.each(_child(port_path, "name"), name, messages)
            if not messages and name in names:
                errs.duplicate(_child(port_path, "name"), name)
            names.add(name)
        number_path = _child(port_path, "containerPort")
        number = errs.get(port, "containerPort", number_path, _INTEGER)
        if number == 0 or number is None and port.get("containerPort") is None:
            errs.required(number_path)
        elif number is not None:
            errs.each(number_path, number, is_port_number(number))
        host_port = errs.get(port, "hostPort", _child(port_path, "hostPort"), _INTEGER)
        if host_port:
            errs.each(_child(port_path, "hostPort"), host_port, is_port_number(host_port))
        _check_protocol(errs, port, _child(port_path, "protocol"))


def _validate_key_ref(errs: _Errors, ref: dict, path: str) -> None:
    """``validateConfigMapKeySelector`` / ``validateSecretKeySelector``."""
    name = errs.get(ref, "name", _child(path, "name"), _STRING) or ""
    errs.each(_child(path, "name"), name, is_dns1123_subdomain(name))
    key = errs.need(ref, "key", _child(path, "key"), _STRING)
    errs.name(key, _child(path, "key"), is_config_map_key)
    errs.get(ref, "optional", _child(path, "optional"), _BOOLEAN)


def _validate_field_ref(errs: _Errors, ref: dict, path: str) -> None:
    """``validateObjectFieldSelector`` for env (apiVersion defaults to v1)."""
    field_path = errs.need(ref, "fieldPath", _child(path, "fieldPath"), _STRING)
    errs.get(ref, "apiVersion", _child(path, "apiVersion"), _STRING)
    if not field_path:
        return
    subscripted = _ENV_FIELD_SUBSCRIPTED.fullmatch(field_path)
    if subscripted:
        key = subscripted.group(2)
        if subscripted.group(1) == "metadata.annotations":
            key = key.lower()
        errs.each(path, key, is_qualified_name(key))
    elif field_path not in _ENV_FIELD_PATHS:
        errs.not_supported(_child(path, "fieldPath"), field_path, _ENV_FIELD_PATHS)


def _validate_value_from(errs: _Errors, env: dict, path: str) -> None:
    """``validateEnvVarValueFrom``: exactly one source, and no ``value`` with it."""
    source = errs.get(env, "valueFrom", path, _OBJECT)
    if source is None:
        return
    checks = {"fieldRef": _validate_field_ref, "resourceFieldRef": None,
              "configMapKeyRef": _validate_key_ref, "secretKeyRef": _validate_key_ref}
    count = 0
    for key, check in checks.items():
        ref = errs.get(source, key, _child(path, key), _OBJECT)
        if ref is not None:
            count += 1
            if check:
                check(errs, ref, _child(path, key))
    if count == 0:
        errs.invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                               "`configMapKeyRef` or `secretKeyRef`")
    elif env.get("value"):
        errs.invalid(path, "", "may not be specified when `value` is not empty")
    elif count > 1:
        errs.invalid(path, "", "may not have more than one field specified at a time")


def _validate_env(errs: _Errors, container: dict, path: str) -> None:
    for env_path, env in errs.objects(container, "env", path):
        name = errs.need(env, "name", _child(env_path, "name"), _STRING)
        errs.name(name, _child(env_path, "name"), is_env_var_name)
        errs.get(env, "value", _child(env_path, "value"), _STRING)
        _validate_value_from(errs, env, _child(env_path, "valueFrom"))


def _validate_env_from(errs: _Errors, container: dict, path: str) -> None:
    for source_path, source in errs.objects(container, "envFrom", path):
        prefix = errs.get(source, "prefix", _child(source_path, "prefix"), _STRING)
        errs.name(prefix, _child(source_path, "prefix"), is_env_var_name)
        count = 0
        for key in ("configMapRef", "secretRef"):
            ref = errs.get(source, key, _child(source_path, key), _OBJECT)
            if ref is not None:
                count += 1
                name = errs.need(ref, "name", _child(_child(source_path, key), "name"), _STRING)
                errs.name(name, _child(_child(source_path, key), "name"),
                          _name_as_prefix(is_dns1123_subdomain))
        if count == 0:
            errs.invalid(path, "", "must specify one of: `configMapRef` or `secretRef`")
        elif count > 1:
            errs.invalid(path, "", "may not have more than one field specified at a time")


def _validate_volume_mounts(errs: _Errors, container: dict, path: str,
                            volumes: set[str]) -> None:
    mount_points: set[str] = set()
    for mount_path, mount in errs.objects(container, "volumeMounts", path):
        name = errs.need(mount, "name", _child(mount_path, "name"), _STRING)
        if name and name not in volumes:
            errs.not_found(_child(mount_path, "name"), name)
        point = errs.need(mount, "mountPath", _child(mount_path, "mountPath"), _STRING)
        if point and point in mount_points:
            errs.invalid(_child(mount_path, "mountPath"), point, "must be unique")
        mount_points.add(point or "")
        errs.get(mount, "readOnly", _child(mount_path, "readOnly"), _BOOLEAN)
        errs.get(mount, "subPath", _child(mount_path, "subPath"), _STRING)


_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def _validate_handler(errs: _Errors, probe: dict, path: str) -> None:
    """``validateHandler``: exactly one of exec, httpGet, tcpSocket, grpc."""
    count = 0
    for kind in _HANDLERS:
        handler = errs.get(probe, kind, _child(path, kind), _OBJECT)
        if handler is None:
            continue
        if count:
            errs.forbidden(_child(path, kind), "may not specify more than 1 handler type")
            continue
        count += 1
        _HANDLER_CHECKS[kind](errs, handler, _child(path, kind))
    if count == 0:
        errs.required(path, "must specify a handler type")


def _check_exec(errs: _Errors, action: dict, path: str) -> None:
    if action.get("command") in (None, []):
        errs.required(_child(path, "command"))
    errs.string_list(action, "command", _child(path, "command"))


def _check_http_get(errs: _Errors, action: dict, path: str) -> None:
    http_path = errs.get(action, "path", _child(path, "path"), _STRING)
    if http_path == "":
        errs.required(_child(path, "path"))
    _check_port_num_or_name(errs, action, "port", _child(path, "port"), default=0)
    scheme = errs.get(action, "scheme", _child(path, "scheme"), _STRING)
    if scheme and scheme not in ("HTTP", "HTTPS"):
        errs.not_supported(_child(path, "scheme"), scheme, ("HTTP", "HTTPS"))
    errs.get(action, "host", _child(path, "host"), _STRING)
    for _, header in errs.objects(action, "httpHeaders", _child(path, "httpHeaders")):
        name = errs.get(header, "name", _child(path, "httpHeaders"), _STRING) or ""
        errs.each(_child(path, "httpHeaders"), name, _is_http_header_name(name))


def _check_tcp_socket(errs: _Errors, action: dict, path: str) -> None:
    _check_port_num_or_name(errs, action, "port", _child(path, "port"), default=0)


def _check_grpc(errs: _Errors, action: dict, path: str) -> None:
    port = errs.get(action, "port", _child(path, "port"), _INTEGER)
    if port is None and action.get("port") is None:
        port = 0
    if port is not None:
        errs.each(_child(path, "port"), port, is_port_number(port))
    errs.get(action, "service", _child(path, "service"), _STRING)


_HANDLER_CHECKS: dict[str, Callable[[_Errors, dict, str], None]] = {
    "exec": _check_exec, "httpGet": _check_http_get, "tcpSocket": _check_tcp_socket,
    "grpc": _check_grpc}
_PROBE_NUMBERS = ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                  "failureThreshold")


def _validate_probe(errs: _Errors, container: dict, kind: str, path: str) -> None:
    """``validateProbe`` and the liveness/readiness/startup specifics.  Zero
    thresholds are defaulted (timeout 1, period 10, success 1, failure 3)."""
    probe = errs.get(container, kind, path, _OBJECT)
    if probe is None:
        return
    _validate_handler(errs, probe, path)
    for key in _PROBE_NUMBERS:
        errs.non_negative(probe, key, _child(path, key))
    grace_path = _child(path, "terminationGracePeriodSeconds")
    grace = errs.get(probe, "terminationGracePeriodSeconds", grace_path, _INTEGER)
    if kind == "readinessProbe" and grace is not None:
        errs.forbidden(grace_path, "must not be set for readinessProbes")
    elif grace is not None and grace <= 0:
        errs.invalid(grace_path, grace, "must be greater than 0")
    success = probe.get("successThreshold")
    if kind != "readinessProbe" and _is_int(success) and success not in (0, 1):
        errs.invalid(_child(path, "successThreshold"), success, "must be 1")


_PULL_POLICIES = ("Always", "IfNotPresent", "Never")


def _validate_container(errs: _Errors, container: dict, path: str, volumes: set[str]) -> None:
    """``validateContainerCommon`` and the probes of a regular container."""
    name = errs.need(container, "name", _child(path, "name"), _STRING)
    errs.name(name, _child(path, "name"), is_dns1123_label)
    errs.need(container, "image", _child(path, "image"), _STRING)
    errs.string_list(container, "command", _child(path, "command"))
    errs.string_list(container, "args", _child(path, "args"))
    errs.get(container, "workingDir", _child(path, "workingDir"), _STRING)
    _validate_container_ports(errs, container, _child(path, "ports"))
    _validate_env(errs, container, _child(path, "env"))
    _validate_env_from(errs, container, _child(path, "envFrom"))
    _validate_volume_mounts(errs, container, _child(path, "volumeMounts"), volumes)
    policy = errs.get(container, "imagePullPolicy", _child(path, "imagePullPolicy"), _STRING)
    if policy and policy not in _PULL_POLICIES:
        errs.not_supported(_child(path, "imagePullPolicy"), policy, _PULL_POLICIES)
    errs.get(container, "resources", _child(path, "resources"), _OBJECT)
    errs.get(container, "securityContext", _child(path, "securityContext"), _OBJECT)
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        _validate_probe(errs, container, kind, _child(path, kind))


def _validate_containers(errs: _Errors, spec: dict, path: str, volumes: set[str]) -> None:
    names: set[str] = set()
    containers_path = _child(path, "containers")
    if not errs.need(spec, "containers", containers_path, _LIST):
        return
    for key in ("containers", "initContainers"):
        for item_path, container in errs.objects(spec, key, _child(path, key)):
            _validate_container(errs, container, item_path, volumes)
            name = container.get("name")
            if isinstance(name, str) and name:
                if name in names:
                    errs.duplicate(_child(item_path, "name"), name)
                names.add(name)


_VOLUME_SOURCES = ("emptyDir", "configMap", "secret", "hostPath", "persistentVolumeClaim",
                   "downwardAPI", "projected", "nfs", "csi", "ephemeral")


def _validate_volumes(errs: _Errors, spec: dict, path: str) -> set[str]:
    """``ValidateVolumes``, lightly: names, and at most one source (none is emptyDir)."""
    names: set[str] = set()
    for volume_path, volume in errs.objects(spec, "volumes", path):
        sources = [s for s in _VOLUME_SOURCES if volume.get(s) is not None]
        for extra in sources[1:]:
            errs.forbidden(_child(volume_path, extra), "may not specify more than 1 volume type")
        name = errs.need(volume, "name", _child(volume_path, "name"), _STRING)
        errs.name(name, _child(volume_path, "name"), is_dns1123_label)
        if name and name in names:
            errs.duplicate(_child(volume_path, "name"), name)
        names.add(name or "")
    return names


_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")


def _validate_pod_spec(errs: _Errors, spec: dict, path: str,
                       extra_volumes: Iterable[str] = ()) -> None:
    """``ValidatePodSpec``: what the lab acts on, in the API server's order."""
    volumes = _validate_volumes(errs, spec, _child(path, "volumes")) | set(extra_volumes)
    _validate_containers(errs, spec, path, volumes)
    for key, allowed in (("restartPolicy", _RESTART_POLICIES), ("dnsPolicy", _DNS_POLICIES)):
        value = errs.get(spec, key, _child(path, key), _STRING)
        if value and value not in allowed:
            errs.not_supported(_child(path, key), value, allowed)
    selector = errs.strings(spec, "nodeSelector", _child(path, "nodeSelector"))
    _validate_labels(errs, selector, _child(path, "nodeSelector"))
    for key, check in (("serviceAccountName", is_dns1123_subdomain),
                       ("nodeName", is_dns1123_subdomain),
                       ("hostname", is_dns1123_label), ("subdomain", is_dns1123_label)):
        errs.name(errs.get(spec, key, _child(path, key), _STRING), _child(path, key), check)
    deadline = errs.get(spec, "activeDeadlineSeconds", _child(path, "activeDeadlineSeconds"),
                        _INTEGER)
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        errs.invalid(_child(path, "activeDeadlineSeconds"), deadline,
                     _range_error(1, 2**31 - 1))
    errs.get(spec, "terminationGracePeriodSeconds",
             _child(path, "terminationGracePeriodSeconds"), _INTEGER)
    for key in ("enableServiceLinks", "hostNetwork", "automountServiceAccountToken"):
        errs.get(spec, key, _child(path, key), _BOOLEAN)
    errs.get(spec, "schedulerName", _child(path, "schedulerName"), _STRING)
    errs.get(spec, "securityContext", _child(path, "securityContext"), _OBJECT)


def _validate_pod(errs: _Errors, obj: dict) -> None:
    spec = _spec(errs, obj)
    if spec is None:
        return
    _validate_pod_spec(errs, spec, "spec")
    if spec.get("ephemeralContainers"):
        errs.forbidden("spec.ephemeralContainers", "cannot be set on create")


def _validate_pod_template(errs: _Errors, spec: dict, kind: str,
                           extra_volumes: Iterable[str] = ()) -> None:
    """``ValidatePodTemplateSpecFor...``: the template's labels match the
    selector, its pod spec is valid, and it restarts Always."""
    path = "spec.template"
    template = _struct(errs, spec, "template", path)
    if template is None:
        return
    meta = errs.get(template, "metadata", _child(path, "metadata"), _OBJECT) or {}
    labels = errs.strings(meta, "labels", _child(path, "labels"))
    selector = spec.get("selector")
    if not _selector_is_empty(selector) and not _selector_matches(selector, labels):
        shown = meta.get("labels") if isinstance(meta.get("labels"), dict) else None
        errs.invalid("spec.template.metadata.labels",
                     _GoText("map[string]string(nil)") if shown is None else labels,
                     "`selector` does not match template `labels`")
    _validate_labels(errs, labels, _child(path, "labels"))
    annotations = errs.strings(meta, "annotations", _child(path, "annotations"))
    _validate_annotations(errs, annotations, _child(path, "annotations"))
    pod_spec = _struct(errs, template, "spec", _child(path, "spec"))
    if pod_spec is None:
        return
    _validate_pod_spec(errs, pod_spec, _child(path, "spec"), extra_volumes)
    restart = pod_spec.get("restartPolicy")
    if isinstance(restart, str) and restart not in ("", "Always"):
        errs.not_supported("spec.template.spec.restartPolicy", restart, ("Always",))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.forbidden("spec.template.spec.activeDeadlineSeconds",
                       f"activeDeadlineSeconds in {kind} is not Supported")


# --------------------------------------------------------------------------
# Services


_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")


def _service_port_key(protocol: str, port: int) -> _GoText:
    """How Go prints the ``core.ServicePort`` key of a duplicate port."""
    return _GoText(
        f'core.ServicePort{{Name:"", Protocol:{_go_quote(protocol)}, '
        f'AppProtocol:(*string)(nil), Port:{port}, '
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}')


def _validate_service_port(errs: _Errors, port: dict, path: str, require_name: bool,
                           names: set[str]) -> None:
    """``validateServicePort``."""
    name = errs.get(port, "name", _child(path, "name"), _STRING)
    if require_name and not name:
        errs.required(_child(path, "name"))
    elif name:
        errs.each(_child(path, "name"), name, is_dns1123_label(name))
        if name in names:
            errs.duplicate(_child(path, "name"), name)
        names.add(name)
    number = errs.get(port, "port", _child(path, "port"), _INTEGER)
    if number is not None or port.get("port") is None:
        errs.each(_child(path, "port"), number or 0, is_port_number(number or 0))
    _check_protocol(errs, port, _child(path, "protocol"))
    target = port.get("targetPort")
    if isinstance(target, bool) or target not in (0, ""):    # 0 and "" are defaulted
        _check_port_num_or_name(errs, port, "targetPort", _child(path, "targetPort"))
    app_protocol = errs.get(port, "appProtocol", _child(path, "appProtocol"), _STRING)
    if app_protocol is not None:
        errs.each(_child(path, "appProtocol"), app_protocol, is_qualified_name(app_protocol))


def _validate_service_node_ports(errs: _Errors, ports: list[tuple[str, dict]],
                                 svc_type: str) -> None:
    """NodePorts: forbidden for ClusterIP, in range, unique per protocol."""
    seen: set[tuple[str, int]] = set()
    for path, port in ports:
        node_port = errs.get(port, "nodePort", _child(path, "nodePort"), _INTEGER)
        if not node_port:
            continue
        if svc_type == "ClusterIP":
            errs.forbidden(_child(path, "nodePort"), "may not be used when `type` is 'ClusterIP'")
            continue
        low, high = NODE_PORT_RANGE
        if svc_type in ("NodePort", "LoadBalancer") and not low <= node_port <= high:
            errs.invalid(_child(path, "nodePort"), node_port,
                         "provided port is not in the valid range. "
                         f"The range of valid ports is {low}-{high}")
        protocol = port.get("protocol") or "TCP"
        key = (protocol if isinstance(protocol, str) else "", node_port)
        if key in seen:
            errs.duplicate(_child(path, "nodePort"), node_port)
        seen.add(key)


def _validate_service_port_uniqueness(errs: _Errors, ports: list[tuple[str, dict]]) -> None:
    seen: set[tuple[str, int]] = set()
    for path, port in ports:
        number, protocol = port.get("port"), port.get("protocol") or "TCP"
        if not _is_int(number) or not isinstance(protocol, str):
            continue
        if (protocol, number) in seen:
            errs.duplicate(path, _service_port_key(protocol, number))
        seen.add((protocol, number))


def _validate_cluster_ips(errs: _Errors, spec: dict, svc_type: str) -> None:
    """``ValidateServiceClusterIPsRelatedFields`` for the lab's IPv4-only
    service network.  The API server copies ``clusterIP`` into ``clusterIPs``
    first, so a bad ``clusterIP`` is reported at ``spec.clusterIPs[0]``."""
    cluster_ip = errs.get(spec, "clusterIP", "spec.clusterIP", _STRING) or ""
    given = spec.get("clusterIPs") is not None
    cluster_ips = errs.string_list(spec, "clusterIPs", "spec.clusterIPs")
    families = errs.string_list(spec, "ipFamilies", "spec.ipFamilies")
    policy = errs.get(spec, "ipFamilyPolicy", "spec.ipFamilyPolicy", _STRING)
    if svc_type == "ExternalName":
        for key, present in (("clusterIPs", cluster_ip or cluster_ips), ("ipFamilies", families),
                             ("ipFamilyPolicy", policy is not None)):
            if present:
                errs.forbidden(f"spec.{key}", "may not be set for ExternalName services")
        return
    if given and cluster_ip and cluster_ips and cluster_ips[0] != cluster_ip:
        errs.invalid("spec.clusterIPs", cluster_ips, "first value must match `clusterIP`")
    elif given and cluster_ips and not cluster_ip:
        errs.invalid("spec.clusterIPs", cluster_ips,
                     "must be empty when `clusterIP` is not specified")
    for i, family in enumerate(families):
        if family not in ("IPv4", "IPv6"):
            errs.not_supported(_index("spec.ipFamilies", i), family, ("IPv4", "IPv6"))
    if policy is not None and policy not in _IP_FAMILY_POLICIES:
        errs.not_supported("spec.ipFamilyPolicy", policy, _IP_FAMILY_POLICIES)
    ips = cluster_ips or ([cluster_ip] if cluster_ip else [])
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                errs.invalid("spec.clusterIPs", ips, "'None' must be the first and only value")
            continue
        parsed = _parse_ip(ip)
        if parsed is None:
            errs.invalid(_index("spec.clusterIPs", i), ip, _IP_MSG)
        elif parsed.version == 6 and (families[i:i + 1] or ["IPv4"]) == ["IPv4"]:
            errs.invalid(_index("spec.clusterIPs", i), ip,
                         f"expected an IPv4 value as indicated by `ipFamilies[{i}]`")
    if len(ips) > 2:
        errs.invalid("spec.clusterIPs", ips, "may only hold up to 2 values")


def _validate_session_affinity(errs: _Errors, spec: dict) -> None:
    affinity = errs.get(spec, "sessionAffinity", "spec.sessionAffinity", _STRING) or "None"
    config_path = "spec.sessionAffinityConfig"
    config = errs.get(spec, "sessionAffinityConfig", config_path, _OBJECT)
    if affinity not in ("ClientIP", "None"):
        errs.not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None"))
    elif affinity == "None" and config is not None:
        errs.forbidden(config_path, "must not be set when session affinity is None")
    elif affinity == "ClientIP" and config is not None:
        client_path = _child(config_path, "clientIP")
        client = errs.get(config, "clientIP", client_path, _OBJECT)
        timeout_path = _child(client_path, "timeoutSeconds")
        timeout = errs.get(client, "timeoutSeconds", timeout_path, _INTEGER)
        if timeout is not None and not 0 < timeout <= MAX_CLIENT_IP_AFFINITY_SECONDS:
            errs.invalid(timeout_path, timeout, "must be greater than 0 and less than "
                                                f"{MAX_CLIENT_IP_AFFINITY_SECONDS}")


def _validate_traffic_policies(errs: _Errors, spec: dict, svc_type: str,
                               external_ips: list[str]) -> None:
    """``validateServiceExternalTrafficPolicy`` and the internal one."""
    external = errs.get(spec, "externalTrafficPolicy", "spec.externalTrafficPolicy", _STRING)
    accessible = svc_type in ("NodePort", "LoadBalancer") or (
        svc_type == "ClusterIP" and bool(external_ips))
    if external and not accessible:
        errs.invalid("spec.externalTrafficPolicy", external,
                     "may only be set for externally-accessible services")
    elif external and external not in ("Cluster", "Local"):
        errs.not_supported("spec.externalTrafficPolicy", external, ("Cluster", "Local"))
    internal = errs.get(spec, "internalTrafficPolicy", "spec.internalTrafficPolicy", _STRING)
    if internal is not None and internal not in ("Cluster", "Local"):
        errs.not_supported("spec.internalTrafficPolicy", internal, ("Cluster", "Local"))


def _validate_service_ips(errs: _Errors, spec: dict, svc_type: str) -> list[str]:
    """externalIPs (no special addresses) and loadBalancerSourceRanges."""
    external_ips = errs.string_list(spec, "externalIPs", "spec.externalIPs")
    for i, ip in enumerate(external_ips):
        parsed = _parse_ip(ip)
        if parsed is None:
            errs.invalid(_index("spec.externalIPs", i), ip, _IP_MSG)
        else:
            errs.each(_index("spec.externalIPs", i), ip, _special_ip_errors(parsed, ip))
    ranges_path = "spec.LoadBalancerSourceRanges"     # sic: the API server's capital L
    ranges = errs.string_list(spec, "loadBalancerSourceRanges", ranges_path)
    if ranges and svc_type != "LoadBalancer":
        errs.forbidden(ranges_path, "may only be used when `type` is 'LoadBalancer'")
    for i, cidr in enumerate(ranges):
        if _parse_cidr(cidr.strip()) is None:
            errs.invalid(_index(ranges_path, i), cidr.strip(), _CIDR_MSG)
    return external_ips


def _validate_service(errs: _Errors, obj: dict) -> None:
    """``ValidateService`` (and the allocators' stateless checks)."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    svc_type = errs.get(spec, "type", "spec.type", _STRING) or "ClusterIP"
    cluster_ip = spec.get("clusterIP")
    cluster_ips = spec.get("clusterIPs")
    headless = cluster_ip == "None" or cluster_ips == ["None"]
    ports = list(errs.objects(spec, "ports", "spec.ports"))
    if not ports and spec.get("ports") in (None, []) and not headless \
            and svc_type != "ExternalName":
        errs.required("spec.ports")
    if svc_type == "LoadBalancer":
        for path, port in ports:
            if port.get("port") == KUBELET_PORT:
                errs.invalid(path, KUBELET_PORT, f"may not expose port {KUBELET_PORT} "
                                                 "externally since it is used by kubelet")
    if svc_type in ("LoadBalancer", "NodePort") and headless:
        errs.invalid("spec.clusterIPs[0]", "None",
                     f"may not be set to 'None' for {svc_type} services")
    if svc_type == "ExternalName":
        name = errs.get(spec, "externalName", "spec.externalName", _STRING) or ""
        cname = name[:-1] if name.endswith(".") else name
        if cname:
            errs.each("spec.externalName", cname, is_dns1123_subdomain(cname))
        else:
            errs.required("spec.externalName")
    names: set[str] = set()
    for path, port in ports:
        _validate_service_port(errs, port, path, len(spec.get("ports") or []) > 1, names)
    if spec.get("selector") is not None:
        selector = errs.strings(spec, "selector", "spec.selector")
        _validate_labels(errs, selector, "spec.selector")
    _validate_session_affinity(errs, spec)
    _validate_cluster_ips(errs, spec, svc_type)
    external_ips = _validate_service_ips(errs, spec, svc_type)
    if svc_type not in _SERVICE_TYPES:
        errs.not_supported("spec.type", svc_type, _SERVICE_TYPES)
    _validate_service_node_ports(errs, ports, svc_type)
    _validate_service_port_uniqueness(errs, ports)
    _validate_traffic_policies(errs, spec, svc_type, external_ips)
    errs.get(spec, "publishNotReadyAddresses", "spec.publishNotReadyAddresses", _BOOLEAN)
    allocate = errs.get(spec, "allocateLoadBalancerNodePorts",
                        "spec.allocateLoadBalancerNodePorts", _BOOLEAN)
    if allocate is not None and svc_type != "LoadBalancer":
        errs.forbidden("spec.allocateLoadBalancerNodePorts",
                       "may only be used when `type` is 'LoadBalancer'")
    errs.get(spec, "loadBalancerIP", "spec.loadBalancerIP", _STRING)


# --------------------------------------------------------------------------
# Endpoints and EndpointSlices (light)


def _validate_endpoint_ports(errs: _Errors, holder: dict, path: str, slice_style: bool) -> None:
    port_items = list(errs.objects(holder, "ports", path))
    names: set[str] = set()
    for port_path, port in port_items:
        name = errs.get(port, "name", _child(port_path, "name"), _STRING) or ""
        if not slice_style and len(port_items) > 1 and not name:
            errs.required(_child(port_path, "name"))
        elif name:
            errs.each(_child(port_path, "name"), name, is_dns1123_label(name))
        if slice_style and name in names:
            errs.duplicate(_child(port_path, "name"), name)
        names.add(name)
        number = errs.get(port, "port", _child(port_path, "port"), _INTEGER)
        if not slice_style:
            errs.each(_child(port_path, "port"), number or 0, is_port_number(number or 0))
        _check_protocol(errs, port, _child(port_path, "protocol"))


def _check_endpoint_ip(errs: _Errors, ip: str, path: str, family: int | None = None) -> None:
    parsed = _parse_ip(ip)
    if parsed is None or family and parsed.version != family:
        errs.invalid(path, ip, f"must be a valid IPv{family} address" if family else _IP_MSG)
    else:
        errs.each(path, ip, _special_ip_errors(parsed, ip))


def _validate_endpoints(errs: _Errors, obj: dict) -> None:
    """``ValidateEndpoints``: each subset has addresses, valid IPs and ports."""
    for subset_path, subset in errs.objects(obj, "subsets", "subsets"):
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            errs.required(subset_path, "must specify `addresses` or `notReadyAddresses`")
        for key in ("addresses", "notReadyAddresses"):
            for address_path, address in errs.objects(subset, key, _child(subset_path, key)):
                ip = errs.get(address, "ip", _child(address_path, "ip"), _STRING) or ""
                _check_endpoint_ip(errs, ip, _child(address_path, "ip"))
                hostname = errs.get(address, "hostname", _child(address_path, "hostname"), _STRING)
                errs.name(hostname, _child(address_path, "hostname"), is_dns1123_label)
        _validate_endpoint_ports(errs, subset, _child(subset_path, "ports"), slice_style=False)


_ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def _validate_endpoint_slice(errs: _Errors, obj: dict) -> None:
    """``ValidateEndpointSlice``: addressType, 1-100 addresses per endpoint, ports."""
    address_type = errs.need(obj, "addressType", "addressType", _STRING)
    if address_type and address_type not in _ADDRESS_TYPES:
        errs.not_supported("addressType", address_type, _ADDRESS_TYPES)
    for endpoint_path, endpoint in errs.objects(obj, "endpoints", "endpoints"):
        addresses_path = _child(endpoint_path, "addresses")
        addresses = errs.string_list(endpoint, "addresses", addresses_path)
        if not addresses:
            errs.required(addresses_path, "must contain at least 1 address")
        elif len(addresses) > 100:
            errs.too_many(addresses_path, len(addresses), 100)
        for i, address in enumerate(addresses):
            if address_type in ("IPv4", "IPv6"):
                _check_endpoint_ip(errs, address, _index(addresses_path, i),
                                   int(address_type[-1]))
        for key, check in (("nodeName", is_dns1123_subdomain), ("hostname", is_dns1123_label)):
            value = errs.get(endpoint, key, _child(endpoint_path, key), _STRING)
            errs.name(value, _child(endpoint_path, key), check)
        conditions = errs.get(endpoint, "conditions", _child(endpoint_path, "conditions"),
                              _OBJECT)
        for key in ("ready", "serving", "terminating"):
            errs.get(conditions, key, _child(_child(endpoint_path, "conditions"), key), _BOOLEAN)
    _validate_endpoint_ports(errs, obj, "ports", slice_style=True)


# --------------------------------------------------------------------------
# Namespaces, ConfigMaps, Secrets


def _validate_namespace(errs: _Errors, obj: dict) -> None:
    errs.string_list(_spec(errs, obj), "finalizers", "spec.finalizers")


def _validate_config_map(errs: _Errors, obj: dict) -> None:
    """``ValidateConfigMap``: valid keys, string values, no key in both maps."""
    data = errs.strings(obj, "data", "data")
    binary = errs.strings(obj, "binaryData", "binaryData")
    for key in data:
        errs.each(f"data[{key}]", key, is_config_map_key(key))
        if key in binary:
            errs.invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
    for key, value in binary.items():
        errs.each(f"binaryData[{key}]", key, is_config_map_key(key))
        _check_base64(errs, value, f"binaryData[{key}]")
    size = sum(len(v) for v in data.values()) + sum(len(v) for v in binary.values())
    if size > MAX_SECRET_SIZE:
        errs.too_long("", MAX_SECRET_SIZE)
    errs.get(obj, "immutable", "immutable", _BOOLEAN)


_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _base64_error_offset(text: str) -> int | None:
    """Where Go's ``base64.StdEncoding.Decode`` stops on ``text`` (its
    ``illegal base64 data at input byte N``), or None when it decodes."""
    at, size = 0, len(text)
    while True:
        count = 0                                   # characters of this quantum
        while count < 4:
            if at == size:
                return None if count == 0 else at - count
            char = text[at]
            at += 1
            if char in _BASE64:
                count += 1
            elif char in "\r\n":
                continue
            elif char != "=" or count < 2:
                return at - 1
            else:
                return _base64_padding_error(text, at, count)


def _base64_padding_error(text: str, at: int, count: int) -> int | None:
    """The rest of a quantum that reached its first '=' after ``count`` characters."""
    size = len(text)
    if count == 2:
        while at < size and text[at] in "\r\n":
            at += 1
        if at == size:
            return size
        if text[at] != "=":
            return at - 1
        at += 1
    while at < size and text[at] in "\r\n":
        at += 1
    return at if at < size else None


def _check_base64(errs: _Errors, value: str, path: str) -> None:
    offset = _base64_error_offset(value)
    if offset is not None:
        errs.invalid(path, value, f"illegal base64 data at input byte {offset}")


def _validate_secret(errs: _Errors, obj: dict) -> None:
    """``ValidateSecret``: ``stringData`` is merged into ``data`` first, as
    the API server's conversion does, so key errors are at ``data[key]``."""
    data = errs.strings(obj, "data", "data")
    string_data = errs.strings(obj, "stringData", "stringData")
    for key, value in data.items():
        _check_base64(errs, value, f"data[{key}]")
    keys = list(dict.fromkeys([*data, *string_data]))
    for key in keys:
        errs.each(f"data[{key}]", key, is_config_map_key(key))
    size = sum(len(v) * 3 // 4 for v in data.values()) + sum(len(v) for v in string_data.values())
    if size > MAX_SECRET_SIZE:
        errs.too_long("data", MAX_SECRET_SIZE)
    secret_type = errs.get(obj, "type", "type", _STRING)
    if secret_type == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in keys:
                errs.required(f"data[{key}]")
    errs.get(obj, "immutable", "immutable", _BOOLEAN)


# --------------------------------------------------------------------------
# apps/v1 workloads


def _check_int_or_percent(errs: _Errors, holder: dict, key: str, path: str,
                          default: int | str) -> int:
    """``ValidatePositiveIntOrPercent`` on ``holder[key]`` (``default`` when
    absent); returns Go's ``getIntOrPercentValue``: NN for "NN%", the number
    of any other string or 0, and -1 for a value of the wrong type."""
    value = errs.get(holder, key, path, _INT_OR_STRING)
    if value is None:
        if holder.get(key) is not None:
            return -1                               # wrong type, already reported
        value = default
    if isinstance(value, str):
        errs.each(path, _intstr_text(value), is_percent(value))
        return int(value[:-1]) if _valid_percent(value) else _atoi(value)
    if value < 0:
        errs.invalid(path, _intstr_text(value), "must be greater than or equal to 0")
    return value


def _valid_percent(value: Any) -> bool:
    return isinstance(value, str) and not is_percent(value)


def _atoi(text: str) -> int:
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else 0


def _check_not_over_100(errs: _Errors, holder: dict, key: str, path: str, value: int) -> None:
    """``IsNotMoreThan100Percent``: only percentages are limited."""
    if _valid_percent(holder.get(key)) and value > 100:
        errs.invalid(path, _intstr_text(holder[key]), "must not be greater than 100%")


def _validate_workload_selector(errs: _Errors, spec: dict, kind: str) -> None:
    selector = spec.get("selector")
    if selector is None:
        errs.required("spec.selector")
        return
    _check_selector(errs, selector, "spec.selector")
    if _selector_is_empty(selector):
        errs.invalid("spec.selector", _GoText(
            "&LabelSelector{MatchLabels:map[string]string{},MatchExpressions:"
            "[]LabelSelectorRequirement{},}"),
            f"empty selector is invalid for {kind}")


def _validate_deployment_strategy(errs: _Errors, spec: dict) -> None:
    path = "spec.strategy"
    strategy = errs.get(spec, "strategy", path, _OBJECT) or {}
    kind = errs.get(strategy, "type", _child(path, "type"), _STRING) or "RollingUpdate"
    rolling_path = _child(path, "rollingUpdate")
    rolling = errs.get(strategy, "rollingUpdate", rolling_path, _OBJECT)
    if kind == "Recreate":
        if rolling is not None:
            errs.forbidden(rolling_path, "may not be specified when strategy `type` is 'Recreate'")
    elif kind == "RollingUpdate":
        rolling = rolling or {}
        unavailable_path = _child(rolling_path, "maxUnavailable")
        unavailable = _check_int_or_percent(errs, rolling, "maxUnavailable", unavailable_path,
                                            "25%")
        surge = _check_int_or_percent(errs, rolling, "maxSurge", _child(rolling_path, "maxSurge"),
                                      "25%")
        if unavailable == 0 and surge == 0:
            errs.invalid(unavailable_path, _intstr_text(rolling["maxUnavailable"]),
                         "may not be 0 when `maxSurge` is 0")
        _check_not_over_100(errs, rolling, "maxUnavailable", unavailable_path, unavailable)
    else:
        errs.not_supported(_child(path, "type"), kind, ("Recreate", "RollingUpdate"))


def _validate_replica_counts(errs: _Errors, spec: dict) -> None:
    for key in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        errs.non_negative(spec, key, f"spec.{key}")


def _validate_deployment(errs: _Errors, obj: dict) -> None:
    """``ValidateDeploymentSpec``."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    _validate_replica_counts(errs, spec)
    _validate_workload_selector(errs, spec, "deployment")
    _validate_pod_template(errs, spec, "ReplicaSet")
    _validate_deployment_strategy(errs, spec)
    deadline = errs.non_negative(spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds")
    min_ready = spec.get("minReadySeconds") if _is_int(spec.get("minReadySeconds")) else 0
    if deadline is not None and deadline <= min_ready:
        errs.invalid("spec.progressDeadlineSeconds", deadline,
                     "must be greater than minReadySeconds")
    errs.get(spec, "paused", "spec.paused", _BOOLEAN)


def _validate_replica_set(errs: _Errors, obj: dict) -> None:
    """``ValidateReplicaSetSpec`` (whose empty-selector message says deployment)."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    _validate_replica_counts(errs, spec)
    _validate_workload_selector(errs, spec, "deployment")
    _validate_pod_template(errs, spec, "ReplicaSet")


def _validate_stateful_set_strategy(errs: _Errors, spec: dict) -> None:
    path = "spec.updateStrategy"
    strategy = errs.get(spec, "updateStrategy", path, _OBJECT) or {}
    kind = errs.get(strategy, "type", _child(path, "type"), _STRING) or "RollingUpdate"
    rolling_path = _child(path, "rollingUpdate")
    rolling = errs.get(strategy, "rollingUpdate", rolling_path, _OBJECT)
    if kind == "OnDelete" and rolling is not None:
        errs.invalid(rolling_path, rolling,
                     "only allowed for updateStrategy 'RollingUpdate'")
    elif kind == "RollingUpdate" and rolling is not None:
        errs.non_negative(rolling, "partition", _child(rolling_path, "partition"))
        if rolling.get("maxUnavailable") is not None:
            unavailable_path = _child(rolling_path, "maxUnavailable")
            value = _check_int_or_percent(errs, rolling, "maxUnavailable", unavailable_path, 1)
            if value == 0:
                errs.invalid(unavailable_path, _intstr_text(rolling["maxUnavailable"]),
                             "must be greater than zero")
            _check_not_over_100(errs, rolling, "maxUnavailable", unavailable_path, value)
    elif kind not in ("OnDelete", "RollingUpdate"):
        errs.invalid(_child(path, "type"), kind, "must be 'RollingUpdate' or 'OnDelete'")


def _validate_stateful_set(errs: _Errors, obj: dict) -> None:
    """``ValidateStatefulSetSpec``."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    policy = errs.get(spec, "podManagementPolicy", "spec.podManagementPolicy", _STRING)
    if policy and policy not in ("OrderedReady", "Parallel"):
        errs.invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'")
    _validate_stateful_set_strategy(errs, spec)
    _validate_replica_counts(errs, spec)
    service_name = errs.get(spec, "serviceName", "spec.serviceName", _STRING)
    errs.name(service_name, "spec.serviceName", is_dns1123_label)
    _validate_workload_selector(errs, spec, "statefulset")
    claims = set()
    for claim_path, claim in errs.objects(spec, "volumeClaimTemplates",
                                          "spec.volumeClaimTemplates"):
        meta = errs.get(claim, "metadata", _child(claim_path, "metadata"), _OBJECT) or {}
        name = errs.get(meta, "name", _child(claim_path, "metadata.name"), _STRING)
        claims.add(name or "")
    _validate_pod_template(errs, spec, "StatefulSet", claims)


def _validate_daemon_set_strategy(errs: _Errors, spec: dict) -> None:
    path = "spec.updateStrategy"
    strategy = errs.get(spec, "updateStrategy", path, _OBJECT) or {}
    kind = errs.get(strategy, "type", _child(path, "type"), _STRING) or "RollingUpdate"
    if kind == "OnDelete":
        return
    if kind != "RollingUpdate":
        errs.not_supported(_child(path, "type"), kind, ("RollingUpdate", "OnDelete"))
        return
    rolling_path = _child(path, "rollingUpdate")
    rolling = errs.get(strategy, "rollingUpdate", rolling_path, _OBJECT) or {}
    unavailable_path = _child(rolling_path, "maxUnavailable")
    surge_path = _child(rolling_path, "maxSurge")
    unavailable = _check_int_or_percent(errs, rolling, "maxUnavailable", unavailable_path, 1)
    surge = _check_int_or_percent(errs, rolling, "maxSurge", surge_path, 0)
    _check_not_over_100(errs, rolling, "maxUnavailable", unavailable_path, unavailable)
    _check_not_over_100(errs, rolling, "maxSurge", surge_path, surge)
    if unavailable > 0 and surge > 0:
        errs.invalid(surge_path, _intstr_text(rolling.get("maxSurge")),
                     "may not be set when maxUnavailable is non-zero")
    elif unavailable == 0 and surge == 0:
        errs.required(unavailable_path, "cannot be 0 when maxSurge is 0")


def _validate_daemon_set(errs: _Errors, obj: dict) -> None:
    """``ValidateDaemonSetSpec``."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    _validate_workload_selector(errs, spec, "daemonset")
    _validate_pod_template(errs, spec, "DaemonSet")
    for key in ("minReadySeconds", "revisionHistoryLimit"):
        errs.non_negative(spec, key, f"spec.{key}")
    _validate_daemon_set_strategy(errs, spec)


# --------------------------------------------------------------------------
# networking.k8s.io/v1


_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
_BAD_PATH_PARTS = ("//", "/./", "/../", "%2f", "%2F")


def _validate_ingress_backend(errs: _Errors, backend: dict, path: str) -> None:
    """``validateIngressBackend``: a service (name, port name xor number) or a resource."""
    service = errs.get(backend, "service", _child(path, "service"), _OBJECT)
    resource = errs.get(backend, "resource", _child(path, "resource"), _OBJECT)
    if service is not None and resource is not None:
        errs.invalid(path, "", "cannot set both resource and service backends")
    elif resource is not None:
        for key in ("kind", "name"):
            if not errs.get(resource, key, _child(_child(path, "resource"), key), _STRING):
                errs.required(_child(_child(path, "resource"), key), f"{key} is required")
    elif service is not None:
        service_path = _child(path, "service")
        name = errs.need(service, "name", _child(service_path, "name"), _STRING)
        errs.name(name, _child(service_path, "name"), is_dns1035_label)
        port_path = _child(service_path, "port")
        port = errs.get(service, "port", port_path, _OBJECT) or {}
        before = len(errs)
        port_name = errs.get(port, "name", _child(port_path, "name"), _STRING)
        number = errs.get(port, "number", _child(port_path, "number"), _INTEGER)
        if port_name and number:
            errs.invalid(path, "", "cannot set both port name & port number")
        elif port_name:
            errs.each(_child(port_path, "name"), port_name, is_port_name(port_name))
        elif number:
            errs.each(_child(port_path, "number"), number, is_port_number(number))
        elif len(errs) == before:
            errs.required(path, "port name or number is required")
    else:
        errs.invalid(path, "", "resource or service backend is required")


def _validate_ingress_path(errs: _Errors, item: dict, path: str) -> None:
    """``validateHTTPIngressPath``."""
    path_type = errs.get(item, "pathType", _child(path, "pathType"), _STRING)
    value = errs.get(item, "path", _child(path, "path"), _STRING) or ""
    if path_type is None:
        errs.required(_child(path, "pathType"), "pathType must be specified")
        return
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.invalid(_child(path, "path"), value, "must be an absolute path")
        for part in _BAD_PATH_PARTS:
            if part in value:
                errs.invalid(_child(path, "path"), value, f"must not contain '{part}'")
        for suffix in ("/..", "/."):
            if value.endswith(suffix):
                errs.invalid(_child(path, "path"), value, f"cannot end with '{suffix}'")
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.invalid(_child(path, "path"), value, "must be an absolute path")
    else:
        errs.not_supported(_child(path, "pathType"), path_type, _PATH_TYPES)
    backend = errs.get(item, "backend", _child(path, "backend"), _OBJECT)
    if backend is not None or item.get("backend") is None:
        _validate_ingress_backend(errs, backend or {}, _child(path, "backend"))


def _check_host(errs: _Errors, host: str, path: str) -> None:
    if _parse_ip(host) is not None:
        errs.invalid(path, host, "must be a DNS name, not an IP address")
    check = is_wildcard_dns1123_subdomain if "*" in host else is_dns1123_subdomain
    errs.each(path, host, check(host))


def _validate_ingress_rules(errs: _Errors, spec: dict) -> None:
    for rule_path, rule in errs.objects(spec, "rules", "spec.rules"):
        host = errs.get(rule, "host", _child(rule_path, "host"), _STRING)
        if host:
            _check_host(errs, host, _child(rule_path, "host"))
        http = errs.get(rule, "http", _child(rule_path, "http"), _OBJECT)
        if http is None:
            continue
        paths_path = _child(_child(rule_path, "http"), "paths")
        if not http.get("paths"):
            errs.required(paths_path)
        for item_path, item in errs.objects(http, "paths", paths_path):
            _validate_ingress_path(errs, item, item_path)


def _validate_ingress(errs: _Errors, obj: dict) -> None:
    """``ValidateIngressCreate`` / ``validateIngressSpec``."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    default = errs.get(spec, "defaultBackend", "spec.defaultBackend", _OBJECT)
    rules = spec.get("rules")
    if not rules and default is None:
        shown = "[]networking.IngressRule(nil)" if rules is None else "[]networking.IngressRule{}"
        errs.invalid("spec", _GoText(shown), "either `defaultBackend` or `rules` must be specified")
    if default is not None:
        _validate_ingress_backend(errs, default, "spec.defaultBackend")
    _validate_ingress_rules(errs, spec)
    for tls_path, tls in errs.objects(spec, "tls", "spec.tls"):
        hosts_path = _child(tls_path, "hosts")
        for i, host in enumerate(errs.string_list(tls, "hosts", hosts_path)):
            check = is_wildcard_dns1123_subdomain if "*" in host else is_dns1123_subdomain
            errs.each(_index(hosts_path, i), host, check(host))
        secret = errs.get(tls, "secretName", _child(tls_path, "secretName"), _STRING)
        errs.name(secret, _child(tls_path, "secretName"), is_dns1123_subdomain)
    class_name = errs.get(spec, "ingressClassName", "spec.ingressClassName", _STRING)
    if class_name is not None:
        errs.each("spec.ingressClassName", class_name, is_dns1123_subdomain(class_name))
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    legacy = annotations.get("kubernetes.io/ingress.class")
    if isinstance(legacy, str) and class_name is not None and legacy != class_name:
        errs.invalid("annotations.kubernetes.io/ingress.class", legacy,
                     "must match `ingressClassName` when both are specified")


def _validate_ingress_class(errs: _Errors, obj: dict) -> None:
    """``validateIngressClassSpec``: a domain-prefixed controller name."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    controller = errs.get(spec, "controller", "spec.controller", _STRING) or ""
    if len(controller) > 250:
        errs.too_long("spec.controller", 250)
    domain, slash, rest = controller.partition("/")
    if not controller:
        errs.required("spec.controller")
    elif not slash or not domain or not rest:
        errs.invalid("spec.controller", controller,
                     'must be a domain-prefixed path (such as "acme.io/foo")')
    else:
        errs.each("spec.controller", domain, is_dns1123_subdomain(domain))
        if not re.fullmatch(r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+", rest):
            errs.invalid("spec.controller", rest, _regex_error(
                "Invalid path", "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+"))
    errs.get(spec, "parameters", "spec.parameters", _OBJECT)


def _validate_policy_port(errs: _Errors, port: dict, path: str) -> None:
    """``ValidateNetworkPolicyPort``."""
    protocol = errs.get(port, "protocol", _child(path, "protocol"), _STRING)
    if protocol is not None and protocol not in ("TCP", "UDP", "SCTP"):
        errs.not_supported(_child(path, "protocol"), protocol, ("TCP", "UDP", "SCTP"))
    number = errs.get(port, "port", _child(path, "port"), _INT_OR_STRING)
    end_path = _child(path, "endPort")
    end = errs.get(port, "endPort", end_path, _INTEGER)
    if _is_int(number):
        errs.each(_child(path, "port"), number, is_port_number(number))
        if end is not None:
            if end < number:
                errs.invalid(end_path, number, "must be greater than or equal to `port`")
            errs.each(end_path, end, is_port_number(end))
    elif isinstance(number, str):
        if end is not None:
            errs.invalid(end_path, end, "may not be specified when `port` is non-numeric")
        errs.each(_child(path, "port"), number, is_port_name(number))
    elif end is not None and port.get("port") is None:
        errs.invalid(end_path, end, "may not be specified when `port` is not specified")


def _validate_ip_block(errs: _Errors, block: dict, path: str) -> None:
    """``ValidateIPBlock``: a CIDR, and each except a strict subset of it."""
    cidr_text = errs.need(block, "cidr", _child(path, "cidr"), _STRING)
    excepts = errs.string_list(block, "except", _child(path, "except"))
    if not cidr_text:
        return
    cidr = _parse_cidr(cidr_text)
    if cidr is None:
        errs.invalid(_child(path, "cidr"), cidr_text, _CIDR_MSG)
        return
    for i, text in enumerate(excepts):
        inner = _parse_cidr(text)
        if inner is None:
            errs.invalid(_index(_child(path, "except"), i), text, _CIDR_MSG)
        elif inner.version != cidr.version or inner.network_address not in cidr \
                or inner.prefixlen <= cidr.prefixlen:
            errs.invalid(_index(_child(path, "except"), i), text,
                         "must be a strict subset of `cidr`")


def _validate_policy_peer(errs: _Errors, peer: dict, path: str) -> None:
    """``ValidateNetworkPolicyPeer``: selectors, or an ipBlock alone."""
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            _check_selector(errs, peer[key], _child(path, key))
    block = errs.get(peer, "ipBlock", _child(path, "ipBlock"), _OBJECT)
    if block is not None:
        count += 1
        _validate_ip_block(errs, block, _child(path, "ipBlock"))
    if count == 0:
        errs.required(path, "must specify a peer")
    elif count > 1 and block is not None:
        errs.forbidden(path, "may not specify both ipBlock and another peer")


def _validate_network_policy(errs: _Errors, obj: dict) -> None:
    """``ValidateNetworkPolicySpec``."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    if spec.get("podSelector") is None:
        errs.required("spec.podSelector")
    _check_selector(errs, spec.get("podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for rule_path, rule in errs.objects(spec, direction, f"spec.{direction}"):
            for port_path, port in errs.objects(rule, "ports", _child(rule_path, "ports")):
                _validate_policy_port(errs, port, port_path)
            for peer_path, peer in errs.objects(rule, peers, _child(rule_path, peers)):
                _validate_policy_peer(errs, peer, peer_path)
    types = errs.string_list(spec, "policyTypes", "spec.policyTypes")
    if len(types) > 2:
        errs.invalid("spec.policyTypes", _GoText(
            "[]networking.PolicyType{" + ", ".join(_go_quote(t) for t in types) + "}"),
            "may not specify more than two policyTypes")
        return
    for i, policy_type in enumerate(types):
        if policy_type not in ("Ingress", "Egress"):
            errs.not_supported(_index("spec.policyTypes", i), policy_type, ("Ingress", "Egress"))


# --------------------------------------------------------------------------
# Dispatch


@dataclass(frozen=True)
class _Rule:
    api_version: str
    name_check: Callable[[str], list[str]]
    namespaced: bool
    check: Callable[[_Errors, dict], None] | None = None


_RULES: dict[str, _Rule] = {
    "Namespace": _Rule("v1", is_dns1123_label, False, _validate_namespace),
    "Node": _Rule("v1", is_dns1123_subdomain, False),
    "Pod": _Rule("v1", is_dns1123_subdomain, True, _validate_pod),
    "Service": _Rule("v1", is_dns1035_label, True, _validate_service),
    "Endpoints": _Rule("v1", is_dns1123_subdomain, True, _validate_endpoints),
    "ConfigMap": _Rule("v1", is_dns1123_subdomain, True, _validate_config_map),
    "Secret": _Rule("v1", is_dns1123_subdomain, True, _validate_secret),
    "EndpointSlice": _Rule("discovery.k8s.io/v1", is_dns1123_subdomain, True,
                           _validate_endpoint_slice),
    "Deployment": _Rule("apps/v1", is_dns1123_subdomain, True, _validate_deployment),
    "ReplicaSet": _Rule("apps/v1", is_dns1123_subdomain, True, _validate_replica_set),
    "StatefulSet": _Rule("apps/v1", is_dns1123_subdomain, True, _validate_stateful_set),
    "DaemonSet": _Rule("apps/v1", is_dns1123_subdomain, True, _validate_daemon_set),
    "Ingress": _Rule("networking.k8s.io/v1", is_dns1123_subdomain, True, _validate_ingress),
    "IngressClass": _Rule("networking.k8s.io/v1", is_dns1123_subdomain, False,
                          _validate_ingress_class),
    "NetworkPolicy": _Rule("networking.k8s.io/v1", is_dns1123_subdomain, True,
                           _validate_network_policy),
}
_CLUSTER_SCOPED = frozenset({"PersistentVolume", "ClusterRole", "ClusterRoleBinding",
                             "StorageClass", "PriorityClass", "CustomResourceDefinition"})


def validate(obj: Any) -> list[FieldError]:
    """Every reason the API server would refuse to create ``obj``.

    ``obj`` is one object as Kubernetes JSON (a dict with apiVersion, kind,
    metadata...).  Returns the causes in the API server's order, an empty
    list when the object is valid.  The kinds the lab acts on (Namespace,
    Pod, Service, Endpoints, EndpointSlice, ConfigMap, Secret, Deployment,
    ReplicaSet, StatefulSet, DaemonSet, Ingress, IngressClass, NetworkPolicy)
    are checked in depth; any other kind only for its kind, apiVersion and
    metadata.  Never raises: a value of the wrong shape is an error at its
    path, and anything but a dict is one error at the root (path "").
    """
    errs = _Errors()
    try:
        _validate_object(errs, obj)
    except Exception as exc:      # a bug here must not take the API server down
        errs.append(FieldError("", INTERNAL, None, f"validation failed: {exc!r}"))
    return list(errs)


def _validate_object(errs: _Errors, obj: Any) -> None:
    if not isinstance(obj, dict):
        errs.append(FieldError("", TYPE_INVALID, obj, "must be an object"))
        return
    kind = errs.need(obj, "kind", "kind", _STRING)
    api_version = errs.need(obj, "apiVersion", "apiVersion", _STRING)
    rule = _RULES.get(kind or "")
    if rule and api_version and api_version != rule.api_version:
        errs.not_supported("apiVersion", api_version, (rule.api_version,))
    if rule is None:
        _validate_meta(errs, obj, is_dns1123_subdomain, kind in _CLUSTER_SCOPED)
        return
    _validate_meta(errs, obj, rule.name_check, not rule.namespaced)
    if rule.check:
        rule.check(errs, obj)
