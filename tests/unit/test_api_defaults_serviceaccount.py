"""Pods name a ServiceAccount: ``default`` unless they say otherwise, in
``serviceAccountName`` and the deprecated ``serviceAccount`` alike."""
from __future__ import annotations

import pytest

from k8snet.api.defaults import apply_defaults


def pod(**spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}], **spec}}


def deployment(**spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}],
                                           **spec}}}}


def names(spec: dict) -> tuple:
    return spec.get("serviceAccountName"), spec.get("serviceAccount")


@pytest.mark.parametrize("given, want", [
    ({}, "default"),
    ({"serviceAccountName": ""}, "default"),
    ({"serviceAccountName": "builder"}, "builder"),
    ({"serviceAccount": "legacy"}, "legacy"),                       # the deprecated alias
    ({"serviceAccountName": "new", "serviceAccount": "old"}, "new"),  # the new field wins
])
def test_a_pod_names_its_service_account(given, want):
    assert names(apply_defaults(pod(**given))["spec"]) == (want, want)


def test_the_pod_is_otherwise_unchanged_no_token_volume():
    spec = apply_defaults(pod())["spec"]
    assert "volumes" not in spec and "automountServiceAccountToken" not in spec
    assert "volumeMounts" not in spec["containers"][0]


def test_templates_are_mirrored_not_defaulted():
    assert names(apply_defaults(deployment())["spec"]["template"]["spec"]) == (None, None)
    spec = apply_defaults(deployment(serviceAccountName="builder"))["spec"]["template"]["spec"]
    assert names(spec) == ("builder", "builder")


def test_defaulting_twice_changes_nothing():
    once = apply_defaults(pod(serviceAccount="legacy"))
    assert apply_defaults(once) == once
