"""Label selectors: ``matchLabels`` and ``matchExpressions``, and the
equality-based selectors of a Service's ``spec.selector`` and kubectl's ``-l``.

Source: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
"""
from __future__ import annotations

from collections.abc import Mapping


def matches(selector: Mapping | None, labels: Mapping | None) -> bool:
    """A LabelSelector (``{"matchLabels": {...}, "matchExpressions": [...]}``)
    against ``labels``.  Every term must hold; an empty selector matches all,
    a None selector matches nothing (as the API's ``LabelSelectorAsSelector``)."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key"), expr.get("operator")
        values = expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def matches_map(selector: Mapping | None, labels: Mapping | None) -> bool:
    """A Service's ``spec.selector`` (a plain map): every pair present.  An
    empty or missing selector selects nothing (the Service has no managed
    endpoints), as the EndpointSlice controller treats it."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def parse(text: str) -> dict:
    """kubectl's ``-l`` syntax to a LabelSelector: ``a=b,c!=d,e in (x,y),!f,g``.

    Raises ValueError naming the bad term."""
    out: dict = {"matchLabels": {}, "matchExpressions": []}
    for term in _split_terms(text):
        term = term.strip()
        if not term:
            continue
        low = term.replace("  ", " ")
        for word, op in ((" notin ", "NotIn"), (" in ", "In")):
            if word in low:
                key, _, rest = low.partition(word)
                rest = rest.strip()
                if not (rest.startswith("(") and rest.endswith(")")):
                    raise ValueError(f"unable to parse requirement: {term!r}")
                values = [v.strip() for v in rest[1:-1].split(",") if v.strip()]
                out["matchExpressions"].append(
                    {"key": key.strip(), "operator": op, "values": values})
                break
        else:
            if "!=" in term:
                key, _, value = term.partition("!=")
                out["matchExpressions"].append(
                    {"key": key.strip(), "operator": "NotIn", "values": [value.strip()]})
            elif "=" in term:
                key, _, value = term.partition("==" if "==" in term else "=")
                out["matchLabels"][key.strip()] = value.strip()
            elif term.startswith("!"):
                out["matchExpressions"].append({"key": term[1:].strip(),
                                                "operator": "DoesNotExist"})
            else:
                out["matchExpressions"].append({"key": term, "operator": "Exists"})
    return out


def _split_terms(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return terms
