"""The field error type, kubectl's Invalid message, and Go value formatting.

``FieldError`` is apimachinery's ``field.Error``; its text prints the bad value
the way Go's ``fmt`` does (``%q`` strings, ``%#v`` maps and lists).
"""
from __future__ import annotations

import math
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


def go_plus_v(value: Any) -> str:
    """``value`` (decoded JSON) as Go's ``fmt.Sprintf("%+v", v)`` prints it:
    ``map[spec:map[replicas:three]]`` (keys sorted), ``[a b]``, ``<nil>``;
    the value in a strategic merge patch's Invalid error (patch.go)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float_v(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_plus_v(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_plus_v(v) for v in value) + "]"
    return str(value)


def _go_float_v(value: float) -> str:
    """A float64 as ``%v`` prints it (``%g`` with the shortest repr; an
    exponent from 1e21 up, as strconv's 'g' format with -1 precision)."""
    if math.isnan(value) or math.isinf(value):
        return _go_float(value)
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign, digits = (exp[0], exp[1:]) if exp[0] in "+-" else ("+", exp)
        text = f"{mantissa}e{sign}{int(digits):02d}"
    return text
