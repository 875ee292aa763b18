"""Container ``env`` and ``envFrom``."""
from __future__ import annotations

import re

from .fields import _BOOLEAN, _OBJECT, _STRING, _child, _Errors
from .formats import (
    _name_as_prefix,
    is_config_map_key,
    is_dns1123_subdomain,
    is_env_var_name,
    is_qualified_name,
)

_ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                    "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
                    "status.podIP", "status.podIPs")
_ENV_FIELD_SUBSCRIPTED = re.compile(r"(metadata\.(?:labels|annotations))\['(.*)'\]")


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
