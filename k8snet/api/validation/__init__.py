"""Validation of objects, with the API server's field paths and wording.

``validate(obj)`` takes one object as a plain Kubernetes-JSON dict (what
``kubectl get -o json`` shows) and returns every cause at once, each a
``FieldError`` whose ``str()`` is the Kubernetes ``field.Error`` text::

    spec.ports[0].name: Required value
    spec.type: Unsupported value: "Foo": supported values: "ClusterIP", ...

It follows kube-apiserver: ``pkg/apis/core/validation`` (ValidateObjectMeta,
ValidatePodSpec, ValidateService, ...), ``pkg/apis/apps/validation``,
``pkg/apis/networking/validation``, ``pkg/apis/discovery/validation``, the
name and format checks of ``apimachinery/pkg/util/validation`` and the label
selector checks of ``apimachinery/pkg/apis/meta/v1/validation``.  Where the
API server fails earlier, in JSON decoding, a value of the wrong JSON type
is a ``FieldValueTypeInvalid`` error at its path (``must be an integer``);
nothing is coerced.  A few checks of the Service allocators (NodePort range,
the lab's IPv4-only service network) are here too, because they need no
state; allocation conflicts are the store's business.

Objects may be given before or after ``defaults.apply_defaults``: a field the
API server defaults (Service ``type``, port ``protocol``, Pod
``restartPolicy``, probe thresholds, a Deployment's ``strategy``...) is
accepted when absent or empty, as if it held its default.

Deliberate differences from kube-apiserver, for readable messages:
- an unknown strategy ``type`` is reported at ``...strategy.type`` with the
  bad string, where Go prints the whole strategy struct at ``...strategy``;
- a bad selector does not also add Go's ``spec.selector: invalid label
  selector`` nor skip the pod template: its causes are reported instead;
- StatefulSet pod templates are validated like the others (Go only checks
  their labels), with ``volumeClaimTemplates`` counted as volumes.

Lab bounds the API server does not have (a lab on one machine, whose values
reach configuration files): ``spec.replicas`` of a workload is at most
``MAX_REPLICAS``; an Exact or Prefix Ingress path holds URL path characters
only (no ``;``, braces, ``#``, ``$``, quotes, backslash or whitespace).

``validate`` never raises, whatever it is given.

The package, one module per concern, each importing only those before it:
``errors`` (FieldError, Invalid, Go value formatting), ``formats`` (name and
value formats), ``ips``, ``fields`` (paths, the error list, typed reads),
``meta``, ``label_selectors``, ``ports``, ``env``, ``probes``, ``containers``,
``pods``, ``services``, ``endpoints``, ``config``, ``apps``, ``ingress``,
``network_policy`` and ``dispatch`` (``validate``).
"""
from __future__ import annotations

# Names the single module exposed only because it imported them; kept importable from here.
import ipaddress  # noqa: F401
import math  # noqa: F401
import re  # noqa: F401
from collections.abc import Callable, Iterable, Iterator  # noqa: F401
from dataclasses import dataclass  # noqa: F401
from typing import Any  # noqa: F401

from k8snet.errors import K8snetError  # noqa: F401

from .apps import MAX_REPLICAS
from .config import MAX_SECRET_SIZE
from .dispatch import validate
from .errors import (
    DUPLICATE,
    FORBIDDEN,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    NOT_SUPPORTED,
    REQUIRED,
    TOO_LONG,
    TOO_MANY,
    TYPE_INVALID,
    FieldError,
    Invalid,
    invalid_message,
)
from .formats import (
    is_config_map_key,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_label_value,
    is_percent,
    is_port_name,
    is_port_number,
    is_qualified_name,
    is_wildcard_dns1123_subdomain,
)
from .label_selectors import validate_label_selector
from .meta import MAX_ANNOTATIONS_SIZE
from .services import KUBELET_PORT, MAX_CLIENT_IP_AFFINITY_SECONDS, NODE_PORT_RANGE

__all__ = [
    "DUPLICATE",
    "FORBIDDEN",
    "INTERNAL",
    "INVALID",
    "KUBELET_PORT",
    "MAX_ANNOTATIONS_SIZE",
    "MAX_CLIENT_IP_AFFINITY_SECONDS",
    "MAX_REPLICAS",
    "MAX_SECRET_SIZE",
    "NODE_PORT_RANGE",
    "NOT_FOUND",
    "NOT_SUPPORTED",
    "REQUIRED",
    "TOO_LONG",
    "TOO_MANY",
    "TYPE_INVALID",
    "FieldError",
    "Invalid",
    "invalid_message",
    "is_config_map_key",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_env_var_name",
    "is_label_value",
    "is_percent",
    "is_port_name",
    "is_port_number",
    "is_qualified_name",
    "is_wildcard_dns1123_subdomain",
    "validate",
    "validate_label_selector",
]
