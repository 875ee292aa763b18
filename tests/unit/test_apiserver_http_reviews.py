"""The review resources kubectl auth can-i and whoami create: answered, never
stored, listed in discovery as create-only; and the real kubectl's commands."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from k8snet.apiserver.http import protobuf, serve
from k8snet.apiserver.http.reviews import REASON
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.control.serviceaccount import ServiceAccountsController

SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SSRR = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
SSR = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
KUBECTLS = [str(p) for p in (Path(sys.executable).parent / "kubectl", Path("/usr/bin/kubectl"))
            if p.exists()]


@pytest.fixture
def api():
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    server = serve(store)
    yield server, store
    server.stop()


def call(server, method, path, body=None, ctype="application/json", headers=None):
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"Content-Type": ctype, "Accept": "application/json",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def access(**attrs) -> dict:
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": attrs}


def test_an_access_review_is_allowed_and_not_stored(api):
    server, store = api
    before = store.resource_version
    code, got = call(server, "POST", SSAR, access(resourceAttributes={
        "namespace": "default", "verb": "create", "resource": "pods"}))
    assert code == 201
    assert got["kind"] == "SelfSubjectAccessReview"
    assert got["spec"]["resourceAttributes"]["resource"] == "pods"
    assert got["status"] == {"allowed": True, "reason": REASON}
    code, got = call(server, "POST", SSAR, access(nonResourceAttributes={
        "path": "/healthz", "verb": "get"}))
    assert code == 201 and got["status"]["allowed"] is True
    assert store.resource_version == before and "SelfSubjectAccessReview" not in store.kinds()


def test_an_access_review_needs_exactly_one_kind_of_attributes(api):
    server, _ = api
    code, got = call(server, "POST", SSAR, access())
    assert code == 422 and got["reason"] == "Invalid"
    assert got["message"].startswith('SelfSubjectAccessReview.authorization.k8s.io "" is '
                                     "invalid: spec.resourceAttributes: Invalid value: null: "
                                     "exactly one of")
    code, got = call(server, "POST", SSAR, access(resourceAttributes={"verb": "get"},
                                                  nonResourceAttributes={"path": "/"}))
    assert code == 422 and got["details"]["causes"][0]["field"] == "spec.nonResourceAttributes"
    review = access(resourceAttributes={"verb": "get"})
    code, _ = call(server, "POST", SSAR, dict(review, metadata={"creationTimestamp": None}))
    assert code == 201
    code, got = call(server, "POST", SSAR, dict(review, metadata={"name": "x"}))
    assert code == 422 and got["details"]["causes"][0]["field"] == "metadata"


def test_rules_review_lists_everything_for_a_namespace(api):
    server, _ = api
    code, got = call(server, "POST", SSRR, {"spec": {"namespace": "default"}})
    assert code == 201 and got["status"]["incomplete"] is False
    assert got["status"]["resourceRules"] == [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    assert got["status"]["nonResourceRules"] == [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
    code, got = call(server, "POST", SSRR, {"spec": {}})
    assert code == 400 and got["message"] == "no namespace on request"


def test_self_review_names_the_user_or_whom_kubectl_impersonates(api):
    server, _ = api
    code, got = call(server, "POST", SSR, {})
    assert code == 201 and got["kind"] == "SelfSubjectReview"
    assert got["status"]["userInfo"] == {"username": "system:unsecured",
                                         "groups": ["system:masters", "system:authenticated"]}
    _, got = call(server, "POST", SSR, {}, headers={
        "Impersonate-User": "system:serviceaccount:shop:default", "Impersonate-Uid": "u1",
        "Impersonate-Extra-Team": "net"})
    assert got["status"]["userInfo"] == {
        "username": "system:serviceaccount:shop:default", "uid": "u1",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:shop",
                   "system:authenticated"],
        "extra": {"team": ["net"]}}


def test_reviews_are_create_only(api):
    server, _ = api
    for path in (SSAR, SSRR, SSR):
        code, got = call(server, "GET", path)
        assert code == 405 and got["reason"] == "MethodNotAllowed"


def test_discovery_lists_the_review_groups(api):
    server, _ = api
    _, groups = call(server, "GET", "/apis")
    names = [g["name"] for g in groups["groups"]]
    assert "authorization.k8s.io" in names and "authentication.k8s.io" in names
    _, group = call(server, "GET", "/apis/authorization.k8s.io")
    assert group["preferredVersion"]["groupVersion"] == "authorization.k8s.io/v1"
    _, listed = call(server, "GET", "/apis/authorization.k8s.io/v1")
    assert listed["resources"] == [
        {"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview",
         "namespaced": False, "kind": "SelfSubjectAccessReview", "verbs": ["create"]},
        {"name": "selfsubjectrulesreviews", "singularName": "selfsubjectrulesreview",
         "namespaced": False, "kind": "SelfSubjectRulesReview", "verbs": ["create"]}]
    _, listed = call(server, "GET", "/apis/authentication.k8s.io/v1")
    assert [r["name"] for r in listed["resources"]] == ["selfsubjectreviews"]


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (lengths under 128 here)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_protobuf_bodies_as_kubectl_sends_them():
    attrs = _field(1, b"default") + _field(2, b"create") + _field(5, b"pods")
    raw = _field(1, b"") + _field(2, _field(1, attrs))
    type_meta = _field(1, b"authorization.k8s.io/v1") + _field(2, b"SelfSubjectAccessReview")
    body = protobuf.MAGIC + _field(1, type_meta) + _field(2, raw)
    assert protobuf.decode(body) == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "metadata": {}, "spec": {"resourceAttributes": {
            "namespace": "default", "verb": "create", "resource": "pods"}}}


@pytest.mark.skipif(not KUBECTLS, reason="no kubectl installed")
@pytest.mark.parametrize("kubectl", KUBECTLS)
def test_kubectl_auth_can_i_and_whoami(api, kubectl, tmp_path):
    server, store = api
    controller = ServiceAccountsController(store).start()
    env = dict(os.environ, KUBECONFIG=str(server.write_kubeconfig(tmp_path / "kubeconfig")),
               HOME=str(tmp_path))

    def run(*args):
        return subprocess.run([kubectl, *args], capture_output=True, text=True, env=env,
                              timeout=60)
    try:
        done = run("auth", "can-i", "create", "pods")
        assert (done.returncode, done.stdout) == (0, "yes\n"), done.stderr
        done = run("auth", "can-i", "--list")
        assert done.returncode == 0 and "*.*" in done.stdout, done.stderr
        done = run("auth", "whoami")
        assert done.returncode == 0 and "system:unsecured" in done.stdout, done.stderr
        done = run("auth", "whoami", "--as=jane")
        assert "jane" in done.stdout, done.stderr
        deadline = time.monotonic() + 10
        while store.find("ServiceAccount", "default", "default") is None \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        done = run("get", "serviceaccount", "default", "-o", "name")
        assert done.stdout == "serviceaccount/default\n", done.stderr
    finally:
        controller.stop()
