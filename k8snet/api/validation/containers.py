"""Containers of a pod spec: ports, env, volume mounts, probes."""
from __future__ import annotations

from .env import _validate_env, _validate_env_from
from .fields import _BOOLEAN, _INTEGER, _LIST, _OBJECT, _STRING, _child, _Errors
from .formats import is_dns1123_label, is_port_name, is_port_number
from .ports import _check_protocol
from .probes import _validate_probe


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
