"""Object metadata: names, labels, annotations, ownerReferences (``ValidateObjectMeta``)."""
from __future__ import annotations

from collections.abc import Callable

from .fields import _BOOLEAN, _OBJECT, _STRING, _child, _Errors
from .formats import _name_as_prefix, is_dns1123_label, is_label_value, is_qualified_name

MAX_ANNOTATIONS_SIZE = 256 * 1024       # TotalAnnotationSizeLimitB


def _validate_labels(errs: _Errors, labels: dict[str, str], path: str) -> None:
    """``ValidateLabels``: every key a qualified name, every value a label value."""
    for key, value in labels.items():
        errs.each(path, key, is_qualified_name(key))
        errs.each(path, value, is_label_value(value))


def _validate_annotations(errs: _Errors, annotations: dict[str, str], path: str) -> None:
    for key in annotations:
        errs.each(path, key, is_qualified_name(key.lower()))
    if sum(len(k) + len(v) for k, v in annotations.items()) > MAX_ANNOTATIONS_SIZE:
        errs.too_long(path, MAX_ANNOTATIONS_SIZE)


def _validate_owner_references(errs: _Errors, meta: dict, path: str) -> None:
    """``ValidateOwnerReferences`` (whose paths carry no index, as in Go)."""
    controller = ""
    for _, ref in errs.objects(meta, "ownerReferences", path):
        api_version = errs.get(ref, "apiVersion", _child(path, "apiVersion"), _STRING) or ""
        if not api_version.rpartition("/")[2]:
            errs.invalid(_child(path, "apiVersion"), api_version, "version must not be empty")
        for key in ("kind", "name", "uid"):
            errs.get(ref, key, _child(path, key), _STRING)
            if ref.get(key) in (None, ""):
                errs.invalid(_child(path, key), "", "must not be empty")
        if errs.get(ref, "controller", _child(path, "controller"), _BOOLEAN):
            this = f"{ref.get('kind')}/{ref.get('name')}"
            if controller:
                errs.invalid(path, meta["ownerReferences"],
                             "Only one reference can have Controller set to true. Found "
                             f'"true" in references for {controller} and {this}')
            controller = controller or this


def _validate_meta(errs: _Errors, obj: dict, name_check: Callable[[str], list[str]],
                   cluster_scoped: bool) -> None:
    """``ValidateObjectMeta``.  The namespace may be absent: in the API server
    it comes from the request path."""
    meta = errs.get(obj, "metadata", "metadata", _OBJECT) or {}
    name = errs.get(meta, "name", "metadata.name", _STRING)
    generate = errs.get(meta, "generateName", "metadata.generateName", _STRING)
    errs.name(generate, "metadata.generateName", _name_as_prefix(name_check))
    if not name and not generate:
        errs.required("metadata.name", "name or generateName is required")
    errs.name(name, "metadata.name", name_check)
    namespace = errs.get(meta, "namespace", "metadata.namespace", _STRING)
    if namespace and cluster_scoped:
        errs.forbidden("metadata.namespace", "not allowed on this type")
    elif namespace:
        errs.name(namespace, "metadata.namespace", is_dns1123_label)
    errs.non_negative(meta, "generation", "metadata.generation")
    _validate_labels(errs, errs.strings(meta, "labels", "metadata.labels"), "metadata.labels")
    annotations = errs.strings(meta, "annotations", "metadata.annotations")
    _validate_annotations(errs, annotations, "metadata.annotations")
    _validate_owner_references(errs, meta, "metadata.ownerReferences")
    errs.string_list(meta, "finalizers", "metadata.finalizers")
