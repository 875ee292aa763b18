"""Pods, pod specs and the pod templates of workloads."""
from __future__ import annotations

from collections.abc import Iterable

from .containers import _validate_containers
from .errors import _GoText
from .fields import (
    _BOOLEAN,
    _INTEGER,
    _LIST,
    _OBJECT,
    _STRING,
    _child,
    _Errors,
    _index,
    _spec,
    _struct,
)
from .formats import _range_error, is_dns1123_label, is_dns1123_subdomain
from .ips import _IP_MSG, _parse_ip
from .label_selectors import _selector_is_empty, _selector_matches
from .meta import _validate_annotations, _validate_labels

_VOLUME_SOURCES = ("emptyDir", "configMap", "secret", "hostPath", "persistentVolumeClaim",
                   "downwardAPI", "projected", "nfs", "csi", "ephemeral")


def _validate_volumes(errs: _Errors, spec: dict, path: str) -> set[str]:
    """``ValidateVolumes``, lightly: names, and at most one source (none is emptyDir)."""
    names: set[str] = set()
    for volume_path, volume in errs.objects(spec, "volumes", path):
        sources = [s for s in _VOLUME_SOURCES if volume.get(s) is not None]
        for extra in sources[1:]:
            errs.forbidden(_child(volume_path, extra), "may not specify more than 1 volume type")
        name = errs.need(volume, "name", _child(volume_path, "name"), _STRING)
        errs.name(name, _child(volume_path, "name"), is_dns1123_label)
        if name and name in names:
            errs.duplicate(_child(volume_path, "name"), name)
        names.add(name or "")
    return names


_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")


def _validate_pod_spec(errs: _Errors, spec: dict, path: str,
                       extra_volumes: Iterable[str] = ()) -> None:
    """``ValidatePodSpec``: what the lab acts on, in the API server's order."""
    volumes = _validate_volumes(errs, spec, _child(path, "volumes")) | set(extra_volumes)
    _validate_containers(errs, spec, path, volumes)
    for key, allowed in (("restartPolicy", _RESTART_POLICIES), ("dnsPolicy", _DNS_POLICIES)):
        value = errs.get(spec, key, _child(path, key), _STRING)
        if value and value not in allowed:
            errs.not_supported(_child(path, key), value, allowed)
    _validate_dns_config(errs, spec, _child(path, "dnsConfig"))
    selector = errs.strings(spec, "nodeSelector", _child(path, "nodeSelector"))
    _validate_labels(errs, selector, _child(path, "nodeSelector"))
    for key, check in (("serviceAccountName", is_dns1123_subdomain),
                       ("nodeName", is_dns1123_subdomain),
                       ("hostname", is_dns1123_label), ("subdomain", is_dns1123_label)):
        errs.name(errs.get(spec, key, _child(path, key), _STRING), _child(path, key), check)
    deadline = errs.get(spec, "activeDeadlineSeconds", _child(path, "activeDeadlineSeconds"),
                        _INTEGER)
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        errs.invalid(_child(path, "activeDeadlineSeconds"), deadline,
                     _range_error(1, 2**31 - 1))
    errs.get(spec, "terminationGracePeriodSeconds",
             _child(path, "terminationGracePeriodSeconds"), _INTEGER)
    for key in ("enableServiceLinks", "hostNetwork", "automountServiceAccountToken"):
        errs.get(spec, key, _child(path, key), _BOOLEAN)
    errs.get(spec, "schedulerName", _child(path, "schedulerName"), _STRING)
    errs.get(spec, "securityContext", _child(path, "securityContext"), _OBJECT)


# Limits of resolv.conf as glibc reads it (validation.go: MaxDNSNameservers,
# MaxDNSSearchPaths and MaxDNSSearchListChars, as raised by ExpandedDNSConfig).
MAX_DNS_NAMESERVERS = 3
MAX_DNS_SEARCH_PATHS = 32
MAX_DNS_SEARCH_LIST_CHARS = 2048


def _validate_dns_config(errs: _Errors, spec: dict, path: str) -> None:
    """``validatePodDNSConfig``: dnsPolicy None needs a dnsConfig with a
    nameserver; at most 3 nameservers, each an IP; at most 32 search paths
    of 2,048 characters in all, each a DNS subdomain (a trailing dot is
    fine); every option named."""
    config = errs.get(spec, "dnsConfig", path, _OBJECT)
    if spec.get("dnsPolicy") == "None":
        if config is None:
            errs.required(path, "must provide `dnsConfig` when `dnsPolicy` is None")
            return
        if not config.get("nameservers"):
            errs.required(_child(path, "nameservers"),
                          "must provide at least one DNS nameserver when `dnsPolicy` is None")
            return
    if config is None:
        return
    servers_path = _child(path, "nameservers")
    servers = errs.get(config, "nameservers", servers_path, _LIST) or []
    if len(servers) > MAX_DNS_NAMESERVERS:
        errs.invalid(servers_path, servers,
                     f"must not have more than {MAX_DNS_NAMESERVERS} nameservers")
    for i, server in enumerate(servers):
        if not isinstance(server, str) or _parse_ip(server) is None:
            errs.invalid(_index(servers_path, i), server, _IP_MSG)
    searches_path = _child(path, "searches")
    searches = errs.get(config, "searches", searches_path, _LIST) or []
    if len(searches) > MAX_DNS_SEARCH_PATHS:
        errs.invalid(searches_path, searches,
                     f"must not have more than {MAX_DNS_SEARCH_PATHS} search paths")
    if len(" ".join(str(s) for s in searches)) > MAX_DNS_SEARCH_LIST_CHARS:
        errs.invalid(searches_path, searches, f"must not have more than "
                     f"{MAX_DNS_SEARCH_LIST_CHARS} characters (including spaces) in the "
                     "search list")
    for i, search in enumerate(searches):
        if isinstance(search, str):
            trimmed = search[:-1] if search.endswith(".") else search
            errs.each(_index(searches_path, i), trimmed, is_dns1123_subdomain(trimmed))
    for option_path, option in errs.objects(config, "options", _child(path, "options")):
        if not errs.get(option, "name", _child(option_path, "name"), _STRING):
            errs.required(option_path, "must not be empty")
        errs.get(option, "value", _child(option_path, "value"), _STRING)


def _validate_pod(errs: _Errors, obj: dict) -> None:
    spec = _spec(errs, obj)
    if spec is None:
        return
    _validate_pod_spec(errs, spec, "spec")
    if spec.get("ephemeralContainers"):
        errs.forbidden("spec.ephemeralContainers", "cannot be set on create")


def _validate_pod_template(errs: _Errors, spec: dict, kind: str,
                           extra_volumes: Iterable[str] = ()) -> None:
    """``ValidatePodTemplateSpecFor...``: the template's labels match the
    selector, its pod spec is valid, and it restarts Always."""
    path = "spec.template"
    template = _struct(errs, spec, "template", path)
    if template is None:
        return
    meta = errs.get(template, "metadata", _child(path, "metadata"), _OBJECT) or {}
    labels = errs.strings(meta, "labels", _child(path, "labels"))
    selector = spec.get("selector")
    if not _selector_is_empty(selector) and not _selector_matches(selector, labels):
        shown = meta.get("labels") if isinstance(meta.get("labels"), dict) else None
        errs.invalid("spec.template.metadata.labels",
                     _GoText("map[string]string(nil)") if shown is None else labels,
                     "`selector` does not match template `labels`")
    _validate_labels(errs, labels, _child(path, "labels"))
    annotations = errs.strings(meta, "annotations", _child(path, "annotations"))
    _validate_annotations(errs, annotations, _child(path, "annotations"))
    pod_spec = _struct(errs, template, "spec", _child(path, "spec"))
    if pod_spec is None:
        return
    _validate_pod_spec(errs, pod_spec, _child(path, "spec"), extra_volumes)
    restart = pod_spec.get("restartPolicy")
    if isinstance(restart, str) and restart not in ("", "Always"):
        errs.not_supported("spec.template.spec.restartPolicy", restart, ("Always",))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.forbidden("spec.template.spec.activeDeadlineSeconds",
                       f"activeDeadlineSeconds in {kind} is not Supported")
