"""The review resources: what ``kubectl auth can-i`` and ``kubectl auth whoami`` ask.

    POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews
      {"spec": {"resourceAttributes": {"namespace": "default", "verb": "create",
                                       "resource": "pods"}}}
      -> 201 the review with "status": {"allowed": true, "reason": "..."}
    POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews   (can-i --list)
      {"spec": {"namespace": "default"}}
      -> "status": {"resourceRules": [every verb on everything], "nonResourceRules": [...],
                    "incomplete": false}
    POST /apis/authentication.k8s.io/v1/selfsubjectreviews       (whoami)
      -> "status": {"userInfo": {"username": ..., "groups": [...]}}

Virtual resources, as in kube-apiserver: create only, answered from the
request and never stored (pkg/registry/authorization/selfsubjectaccessreview,
.../selfsubjectrulesreview and pkg/registry/authentication/selfsubjectreview,
``rest.go``).  The lab has no authentication and no authorization: every
request is allowed, so an access review always says yes and the rules review
lists ``*`` for everything.  Who asks is who kube-apiserver's old insecure port
said (plain HTTP, no credentials, like the lab's loopback listener):
``system:unsecured`` in ``system:masters``, unless kubectl impersonates
(``--as``, ``--as-group``, ``--as-uid``: the ``Impersonate-*`` headers),
which the lab allows to anyone.  The reviews' shapes and validation follow
k8s.io/api/authorization/v1 and authentication/v1 ``types.go`` and
pkg/apis/authorization/validation.  Not served: SubjectAccessReview,
LocalSubjectAccessReview and TokenReview (no client of the lab sends them).
"""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from aiohttp import web

import k8snet.apiserver.http.status as st
from k8snet.api.validation import FieldError, invalid_message
from k8snet.apiserver.http.common import answer, body_of, error, failure
from k8snet.apiserver.store import now_rfc3339
from k8snet.errors import BadRequest, Invalid, StatusError

AUTHORIZATION = "authorization.k8s.io"
AUTHENTICATION = "authentication.k8s.io"
REASON = "the k8snet lab has no authorization: every request is allowed"
USER = {"username": "system:unsecured", "groups": ["system:masters", "system:authenticated"]}
EVERYTHING = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
              "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
              "incomplete": False}
Review = Callable[[dict, web.Request], dict]


def _resource(plural: str, kind: str) -> dict:
    """The ``APIResource`` of a create-only, cluster-scoped review."""
    return {"name": plural, "singularName": plural[:-1], "namespaced": False, "kind": kind,
            "verbs": ["create"]}


# (group, version) -> the APIResources discovery lists, as kube-apiserver does
RESOURCES: dict[tuple[str, str], list[dict]] = {
    (AUTHENTICATION, "v1"): [_resource("selfsubjectreviews", "SelfSubjectReview")],
    (AUTHORIZATION, "v1"): [_resource("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
                            _resource("selfsubjectrulesreviews", "SelfSubjectRulesReview")],
}
GROUPS: dict[str, list[str]] = {AUTHENTICATION: ["v1"], AUTHORIZATION: ["v1"]}


def resource_list(group: str, version: str) -> dict | None:
    """``GET /apis/<group>/<version>`` of a review group; None for any other."""
    resources = RESOURCES.get((group, version))
    if resources is None:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}",
            "resources": [dict(r) for r in resources]}


def user_of(request: web.Request) -> dict:
    """The ``UserInfo`` of a request: ``USER``, or whom kubectl impersonates
    (``Impersonate-User``, ``-Group``, ``-Uid``, ``-Extra-<key>``), with the
    groups kube-apiserver's impersonation filter adds."""
    headers = request.headers
    name = headers.get("Impersonate-User", "")
    if not name:
        return {k: list(v) if isinstance(v, list) else v for k, v in USER.items()}
    groups = list(headers.getall("Impersonate-Group", []))
    if name.startswith("system:serviceaccount:") and name.count(":") == 3:
        groups += ["system:serviceaccounts", f"system:serviceaccounts:{name.split(':')[2]}"]
    extra: dict[str, list[str]] = {}
    for key, value in headers.items():
        if key.lower().startswith("impersonate-extra-"):
            extra.setdefault(unquote(key[len("impersonate-extra-"):]).lower(), []).append(value)
    auto = "system:unauthenticated" if name == "system:anonymous" else "system:authenticated"
    if auto not in groups:
        groups.append(auto)
    user: dict = {"username": name, "groups": groups}
    if headers.get("Impersonate-Uid"):
        user["uid"] = headers["Impersonate-Uid"]
    if extra:
        user["extra"] = extra
    return user


def _echo(body: dict, kind: str, group: str) -> dict:
    """What the review was sent, with its kind, apiVersion and empty metadata."""
    out = {k: v for k, v in body.items() if k not in ("status",)}
    out.update(kind=kind, apiVersion=f"{group}/v1")
    out.setdefault("metadata", {})
    return out


def access_review(body: dict, request: web.Request) -> dict:
    """A SelfSubjectAccessReview: exactly one of resource and non-resource
    attributes (``ValidateSelfSubjectAccessReviewSpec``); always allowed."""
    spec = body.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    has_resource = isinstance(spec.get("resourceAttributes"), dict)
    has_non_resource = isinstance(spec.get("nonResourceAttributes"), dict)
    errors = []
    if has_resource and has_non_resource:
        errors.append(FieldError("spec.nonResourceAttributes", "FieldValueInvalid",
                                 spec["nonResourceAttributes"],
                                 "cannot be specified in combination with resourceAttributes"))
    if not has_resource and not has_non_resource:
        errors.append(FieldError("spec.resourceAttributes", "FieldValueInvalid", None,
                                 "exactly one of nonResourceAttributes or resourceAttributes "
                                 "must be specified"))
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    meta = {k: v for k, v in meta.items()          # Go's zero ObjectMeta: null, "", {}, []
            if k != "managedFields" and v not in (None, "", {}, [])}
    if meta:
        errors.append(FieldError("metadata", "FieldValueInvalid", meta, "must be empty"))
    if errors:
        kind = f"SelfSubjectAccessReview.{AUTHORIZATION}"
        raise Invalid(invalid_message(kind, "", errors), [str(e) for e in errors])
    out = _echo(body, "SelfSubjectAccessReview", AUTHORIZATION)
    out["status"] = {"allowed": True, "reason": REASON}
    return out


def rules_review(body: dict, request: web.Request) -> dict:
    """A SelfSubjectRulesReview: every verb on every resource and URL."""
    spec = body.get("spec")
    if not isinstance(spec, dict) or not spec.get("namespace"):
        raise BadRequest("no namespace on request")
    out = _echo(body, "SelfSubjectRulesReview", AUTHORIZATION)
    out["status"] = {k: [dict(r) for r in v] if isinstance(v, list) else v
                     for k, v in EVERYTHING.items()}
    return out


def self_review(body: dict, request: web.Request) -> dict:
    """A SelfSubjectReview: who the request came from."""
    return {"kind": "SelfSubjectReview", "apiVersion": f"{AUTHENTICATION}/v1",
            "metadata": {"creationTimestamp": now_rfc3339()},
            "status": {"userInfo": user_of(request)}}


REVIEWS: dict[str, Review] = {
    f"/apis/{AUTHORIZATION}/v1/selfsubjectaccessreviews": access_review,
    f"/apis/{AUTHORIZATION}/v1/selfsubjectrulesreviews": rules_review,
    f"/apis/{AUTHENTICATION}/v1/selfsubjectreviews": self_review,
}


async def create(request: web.Request) -> web.Response:
    """``POST`` a review: 201 and the review with its status; any other
    method is refused, as for every create-only resource."""
    review = REVIEWS.get(request.path.rstrip("/"))
    if review is None:
        return failure(st.not_found_path(request.path))
    if request.method != "POST":
        return failure(st.method_not_allowed(f"{request.method} {request.path}"))
    try:
        body = await body_of(request)
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        return answer(review(body, request), 201)
    except StatusError as err:
        return error(err)
