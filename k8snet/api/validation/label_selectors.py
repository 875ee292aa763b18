"""metav1.LabelSelector: validation and matching."""
from __future__ import annotations

from typing import Any

from .errors import TYPE_INVALID, FieldError
from .fields import _STRING, _child, _Errors, _index
from .formats import is_label_value, is_qualified_name
from .meta import _validate_labels


def _validate_requirement(errs: _Errors, expr: dict, path: str) -> None:
    """``ValidateLabelSelectorRequirement``."""
    operator = errs.get(expr, "operator", _child(path, "operator"), _STRING) or ""
    values = errs.string_list(expr, "values", _child(path, "values"))
    if operator in ("In", "NotIn"):
        if not values:
            errs.required(_child(path, "values"),
                          "must be specified when `operator` is 'In' or 'NotIn'")
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.forbidden(_child(path, "values"),
                           "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    else:
        errs.invalid(_child(path, "operator"), operator, "not a valid selector operator")
    key = errs.get(expr, "key", _child(path, "key"), _STRING) or ""
    errs.each(_child(path, "key"), key, is_qualified_name(key))
    for i, value in enumerate(values):
        errs.each(_index(_child(path, "values"), i), value, is_label_value(value))


def _check_selector(errs: _Errors, selector: Any, path: str) -> None:
    if selector is None:
        return
    if not isinstance(selector, dict):
        errs.append(FieldError(path, TYPE_INVALID, selector, "must be an object"))
        return
    match_labels = _child(path, "matchLabels")
    _validate_labels(errs, errs.strings(selector, "matchLabels", match_labels), match_labels)
    for expr_path, expr in errs.objects(selector, "matchExpressions",
                                        _child(path, "matchExpressions")):
        _validate_requirement(errs, expr, expr_path)


def validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    """A metav1.LabelSelector at ``path`` (``ValidateLabelSelector``):
    ``matchLabels`` a label map; each of ``matchExpressions`` a valid key,
    an operator of In/NotIn/Exists/DoesNotExist, ``values`` required for
    In/NotIn and forbidden for Exists/DoesNotExist.  None is valid (absent)."""
    errs = _Errors()
    _check_selector(errs, selector, path)
    return list(errs)


def _selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """``LabelSelectorAsSelector(selector).Matches(labels)``, shape-tolerant."""
    if not isinstance(selector, dict):
        return False
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, dict):
        if any(labels.get(k) != v for k, v in match_labels.items()):
            return False
    exprs = selector.get("matchExpressions")
    for expr in exprs if isinstance(exprs, list) else []:
        if not isinstance(expr, dict):
            continue
        key, op = expr.get("key"), expr.get("operator")
        values = expr.get("values") if isinstance(expr.get("values"), list) else []
        present = isinstance(key, str) and key in labels
        held = present and labels[key] in values
        if (op == "In" and not held or op == "NotIn" and held
                or op == "Exists" and not present or op == "DoesNotExist" and present):
            return False
    return True


def _selector_is_empty(selector: Any) -> bool:
    return (isinstance(selector, dict) and not selector.get("matchLabels")
            and not selector.get("matchExpressions"))
