"""Namespaces, ConfigMaps and Secrets."""
from __future__ import annotations

from .fields import _BOOLEAN, _STRING, _Errors, _spec
from .formats import is_config_map_key

MAX_SECRET_SIZE = 1024 * 1024           # core.MaxSecretSize


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
