"""Errors as ``metav1.Status``, the body every failed API call returns.

    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
     "message": "pods \\"x\\" not found", "reason": "NotFound",
     "details": {"name": "x", "kind": "pods"}, "code": 404}

kubectl prints ``Error from server (<reason>): <message>``, except for
Invalid: there it prints ``The <details.kind> "<details.name>" is invalid:
<field>: <message>`` from ``details.causes`` (``field``, ``message``,
``reason`` = the field.ErrorType).  Sources: api-concepts ("Response status
kinds") and k8s.io/apimachinery/pkg/api/errors (NewNotFound, NewInvalid...).
"""
from __future__ import annotations

import re

from k8snet.api.kinds import Kind
from k8snet.errors import Invalid, StatusError

_CAUSE_TYPES = {
    "Not found": "FieldValueNotFound", "Required value": "FieldValueRequired",
    "Duplicate value": "FieldValueDuplicate", "Invalid value": "FieldValueInvalid",
    "Unsupported value": "FieldValueNotSupported", "Forbidden": "FieldValueForbidden",
    "Too long": "FieldValueTooLong", "Too many": "FieldValueTooMany",
    "Internal error": "InternalError",
}
# `The Service "x" is invalid`; ` "" is invalid` (no kind, no name: a patch
# that does not decode, errors.NewInvalid(schema.GroupKind{}, "", ...))
_INVALID_HEAD = re.compile(r'^(?:The )?(\S*) "((?:[^"\\]|\\.)*)" is invalid')


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A Failure ``Status`` (``details`` omitted when empty)."""
    out: dict = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": message, "reason": reason, "code": code}
    if details:
        out["details"] = details
    return out


def success(kind: Kind, name: str, uid: str = "") -> dict:
    """The Success ``Status`` a delete answers with when nothing is left."""
    details = {"name": name, "group": kind.group, "kind": kind.plural}
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}


def cause(text: str) -> dict:
    """A ``field.Error`` string (``spec.ports[0].name: Required value``) as a
    StatusCause ``{"reason", "message", "field"}``."""
    head, sep, rest = text.partition(": ")
    first_word = text.split(":", 1)[0]
    if not sep or head in _CAUSE_TYPES or first_word in _CAUSE_TYPES:
        return {"reason": _reason_of(text), "message": text, "field": ""}
    return {"reason": _reason_of(rest), "message": rest, "field": head}


def _reason_of(body: str) -> str:
    for text, reason in _CAUSE_TYPES.items():
        if body.startswith(text):
            return reason
    return "FieldValueInvalid"


def from_error(err: StatusError, kind: Kind | None = None, name: str = "") -> dict:
    """The Status for a store error.  ``kind`` names the resource in details
    (the API server puts the resource there for NotFound and AlreadyExists,
    and the kind for Invalid)."""
    details: dict = dict(err.details or {})
    if isinstance(err, Invalid):
        message = str(err)
        head = _INVALID_HEAD.match(message)
        qualified = head.group(1) if head else (kind.kind if kind else "")
        obj_name = head.group(2) if head else name
        base, _, group = qualified.partition(".")
        details = {"name": obj_name, "kind": base, "causes": [cause(c) for c in err.causes]}
        if group:
            details["group"] = group
        # the API server's message: `Kind.group "name" is invalid: ...`
        message = re.sub(r"^The ", "", message, count=1)
        return status(err.code, err.reason, message, details)
    if kind is not None and details.get("kind") == kind.kind:
        details["kind"] = kind.plural
        if kind.group:
            details["group"] = kind.group
    elif "kind" in details and kind is None:
        details.pop("kind")
    if name and "name" not in details and err.code in (404, 409):
        details["name"] = name
    return status(err.code, err.reason, str(err), details)


def not_found_path(path: str) -> dict:
    """The 404 for a URL no resource lives at."""
    return status(404, "NotFound", "the server could not find the requested resource",
                  {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not "
                               f"found: {path}"}]})


def method_not_allowed(what: str) -> dict:
    """The 405 for a verb a resource does not take."""
    return status(405, "MethodNotAllowed", f"the server does not allow this method on the "
                  f"requested resource: {what}")


def bad_request(message: str) -> dict:
    """A 400 BadRequest Status."""
    return status(400, "BadRequest", message)
