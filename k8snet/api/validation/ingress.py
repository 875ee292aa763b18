"""networking.k8s.io/v1 Ingresses and IngressClasses."""
from __future__ import annotations

import re

from .errors import _GoText
from .fields import _INTEGER, _OBJECT, _STRING, _child, _Errors, _index, _spec
from .formats import (
    _regex_error,
    is_dns1035_label,
    is_dns1123_subdomain,
    is_port_name,
    is_port_number,
    is_wildcard_dns1123_subdomain,
)
from .ips import _parse_ip

_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
_BAD_PATH_PARTS = ("//", "/./", "/../", "%2f", "%2F")
# A lab rule beyond the API server, in the spirit of ingress-nginx's admission (its
# ConfigMap option ``strict-validate-path-type``, stricter still: letters, digits, '_',
# '-' and '/' only):
# an Exact or Prefix path is URL path characters, none of which can end an nginx
# token or directive.  ImplementationSpecific stays free-form, as upstream (blog
# manifests use regexes there); the lab's nginx.conf writer refuses what it cannot
# quote safely (``k8snet.addons.ingress_paths``).
_LAB_PATH = re.compile(r"[A-Za-z0-9/._~!&()*+,=:@%-]*")
_LAB_PATH_MSG = ("may contain only letters, digits and the URL path characters "
                 "\"/-._~!&()*+,=:@%\" in this lab (characters such as ';', '{', '}', '#', "
                 "'$', quotes, '\\' and whitespace could break the ingress controller's "
                 "nginx.conf)")


def _validate_ingress_backend(errs: _Errors, backend: dict, path: str) -> None:
    """``validateIngressBackend``: a service (name, port name xor number) or a resource."""
    service = errs.get(backend, "service", _child(path, "service"), _OBJECT)
    resource = errs.get(backend, "resource", _child(path, "resource"), _OBJECT)
    if service is not None and resource is not None:
        errs.invalid(path, "", "cannot set both resource and service backends")
    elif resource is not None:
        for key in ("kind", "name"):
            if not errs.get(resource, key, _child(_child(path, "resource"), key), _STRING):
                errs.required(_child(_child(path, "resource"), key), f"{key} is required")
    elif service is not None:
        service_path = _child(path, "service")
        name = errs.need(service, "name", _child(service_path, "name"), _STRING)
        errs.name(name, _child(service_path, "name"), is_dns1035_label)
        port_path = _child(service_path, "port")
        port = errs.get(service, "port", port_path, _OBJECT) or {}
        before = len(errs)
        port_name = errs.get(port, "name", _child(port_path, "name"), _STRING)
        number = errs.get(port, "number", _child(port_path, "number"), _INTEGER)
        if port_name and number:
            errs.invalid(path, "", "cannot set both port name & port number")
        elif port_name:
            errs.each(_child(port_path, "name"), port_name, is_port_name(port_name))
        elif number:
            errs.each(_child(port_path, "number"), number, is_port_number(number))
        elif len(errs) == before:
            errs.required(path, "port name or number is required")
    else:
        errs.invalid(path, "", "resource or service backend is required")


def _validate_ingress_path(errs: _Errors, item: dict, path: str) -> None:
    """``validateHTTPIngressPath`` (pkg/apis/networking/validation/validation.go),
    plus the lab's character rule for Exact and Prefix paths (``_LAB_PATH``)."""
    path_type = errs.get(item, "pathType", _child(path, "pathType"), _STRING)
    value = errs.get(item, "path", _child(path, "path"), _STRING) or ""
    if path_type is None:
        errs.required(_child(path, "pathType"), "pathType must be specified")
        return
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.invalid(_child(path, "path"), value, "must be an absolute path")
        for part in _BAD_PATH_PARTS:
            if part in value:
                errs.invalid(_child(path, "path"), value, f"must not contain '{part}'")
        for suffix in ("/..", "/."):
            if value.endswith(suffix):
                errs.invalid(_child(path, "path"), value, f"cannot end with '{suffix}'")
        if not _LAB_PATH.fullmatch(value):
            errs.invalid(_child(path, "path"), value, _LAB_PATH_MSG)
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.invalid(_child(path, "path"), value, "must be an absolute path")
    else:
        errs.not_supported(_child(path, "pathType"), path_type, _PATH_TYPES)
    backend = errs.get(item, "backend", _child(path, "backend"), _OBJECT)
    if backend is not None or item.get("backend") is None:
        _validate_ingress_backend(errs, backend or {}, _child(path, "backend"))


def _check_host(errs: _Errors, host: str, path: str) -> None:
    if _parse_ip(host) is not None:
        errs.invalid(path, host, "must be a DNS name, not an IP address")
    check = is_wildcard_dns1123_subdomain if "*" in host else is_dns1123_subdomain
    errs.each(path, host, check(host))


def _validate_ingress_rules(errs: _Errors, spec: dict) -> None:
    for rule_path, rule in errs.objects(spec, "rules", "spec.rules"):
        host = errs.get(rule, "host", _child(rule_path, "host"), _STRING)
        if host:
            _check_host(errs, host, _child(rule_path, "host"))
        http = errs.get(rule, "http", _child(rule_path, "http"), _OBJECT)
        if http is None:
            continue
        paths_path = _child(_child(rule_path, "http"), "paths")
        if not http.get("paths"):
            errs.required(paths_path)
        for item_path, item in errs.objects(http, "paths", paths_path):
            _validate_ingress_path(errs, item, item_path)


def _validate_ingress(errs: _Errors, obj: dict) -> None:
    """``ValidateIngressCreate`` / ``validateIngressSpec``."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    default = errs.get(spec, "defaultBackend", "spec.defaultBackend", _OBJECT)
    rules = spec.get("rules")
    if not rules and default is None:
        shown = "[]networking.IngressRule(nil)" if rules is None else "[]networking.IngressRule{}"
        errs.invalid("spec", _GoText(shown), "either `defaultBackend` or `rules` must be specified")
    if default is not None:
        _validate_ingress_backend(errs, default, "spec.defaultBackend")
    _validate_ingress_rules(errs, spec)
    for tls_path, tls in errs.objects(spec, "tls", "spec.tls"):
        hosts_path = _child(tls_path, "hosts")
        for i, host in enumerate(errs.string_list(tls, "hosts", hosts_path)):
            check = is_wildcard_dns1123_subdomain if "*" in host else is_dns1123_subdomain
            errs.each(_index(hosts_path, i), host, check(host))
        secret = errs.get(tls, "secretName", _child(tls_path, "secretName"), _STRING)
        errs.name(secret, _child(tls_path, "secretName"), is_dns1123_subdomain)
    class_name = errs.get(spec, "ingressClassName", "spec.ingressClassName", _STRING)
    if class_name is not None:
        errs.each("spec.ingressClassName", class_name, is_dns1123_subdomain(class_name))
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    legacy = annotations.get("kubernetes.io/ingress.class")
    if isinstance(legacy, str) and class_name is not None and legacy != class_name:
        errs.invalid("annotations.kubernetes.io/ingress.class", legacy,
                     "must match `ingressClassName` when both are specified")


def _validate_ingress_class(errs: _Errors, obj: dict) -> None:
    """``validateIngressClassSpec``: a domain-prefixed controller name."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    controller = errs.get(spec, "controller", "spec.controller", _STRING) or ""
    if len(controller) > 250:
        errs.too_long("spec.controller", 250)
    domain, slash, rest = controller.partition("/")
    if not controller:
        errs.required("spec.controller")
    elif not slash or not domain or not rest:
        errs.invalid("spec.controller", controller,
                     'must be a domain-prefixed path (such as "acme.io/foo")')
    else:
        errs.each("spec.controller", domain, is_dns1123_subdomain(domain))
        if not re.fullmatch(r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+", rest):
            errs.invalid("spec.controller", rest, _regex_error(
                "Invalid path", "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+"))
    errs.get(spec, "parameters", "spec.parameters", _OBJECT)
