"""Port fields shared by containers, probes, Services and Endpoints."""
from __future__ import annotations

from .fields import _INT_OR_STRING, _STRING, _Errors
from .formats import is_port_name, is_port_number

_PROTOCOLS = ("SCTP", "TCP", "UDP")


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
