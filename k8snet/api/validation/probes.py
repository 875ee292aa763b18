"""Container probes and their handlers (``validateProbe``, ``validateHandler``)."""
from __future__ import annotations

from collections.abc import Callable

from .fields import _INTEGER, _OBJECT, _STRING, _child, _Errors, _is_int
from .formats import _is_http_header_name, is_port_number
from .ports import _check_port_num_or_name

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
