"""Paths, the error list, and reading fields of the expected JSON type."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .errors import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    NOT_SUPPORTED,
    REQUIRED,
    TOO_LONG,
    TOO_MANY,
    TYPE_INVALID,
    FieldError,
    _go_quote,
)


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
