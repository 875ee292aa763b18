"""The results document: records from measurements, ratios and targets, pure.

Layout (``schema.py`` checks it)::

    baselines[ID]  = {id, title, role: "baseline", metrics}
    paths[KEY]     = {key, id, title, role, topo, proxy_mode, baseline, reference,
                      route, note, metrics, ratios}      KEY = MODE/TOPO/ID
    metrics[KIND]  = {status, error, samples: [Result...], summary: {VALUE: {median,
                      min, max, n, failed}}}
    ratios         = {"baseline"|"reference": {against, METRIC: ratio|None}}
    targets        = [{..., value, against_value, ratio, status, reason}]

A ratio is always ``median(path) / median(anchor)`` of numbers in this
document, or ``None`` with the reason in the target; a failed measurement
keeps its error text and has no value at all.  A target whose anchor was
also measured in pairs beside the cluster is judged on the median of the
pairs' own ratios (``pair_ratios``: each pair's two runs saw the same
machine), with ``ratio_of_medians`` of the same runs and the separate
blocks' figures (``unpaired``) kept beside it.
"""
from __future__ import annotations

import statistics

from k8snet.perf import stats
from k8snet.perf.measure import FAILED, OK, Result
from k8snet.perf.paths import BY_ID, TARGETS, PathDef, Target

PARTIAL = "partial"
# Ratio name -> (measurement kind, value); latency ratios > 1 mean slower.
RATIO_METRICS = {"tcp1": ("tcp1", "gbps"), "tcp4": ("tcp4", "gbps"),
                 "ping_p50": ("ping", "p50_ms"), "connect_p50": ("connect", "p50_ms")}


STEAL_LIMIT = 5.0  # % of the CPU the hypervisor took during a run: "disturbed" above it


def disturbed(sample: Result) -> bool:
    """Measured while the hypervisor stole more than ``STEAL_LIMIT`` % of the CPU."""
    return sample.status == OK and sample.values.get("steal_pct", 0.0) > STEAL_LIMIT


def kind_record(samples: list[Result]) -> dict:
    """One kind's repeats: every sample kept, a summary over the ok ones.

    Samples taken while the hypervisor stole CPU (``disturbed``) stay in the
    record but are left out of the summary when an undisturbed one exists;
    the summary counts both the failed and the excluded samples.
    """
    ok = [s for s in samples if s.status == OK]
    status = OK if len(ok) == len(samples) else FAILED if not ok else PARTIAL
    used = [s for s in ok if not disturbed(s)] or ok
    keys = sorted({k for s in used for k in s.values})
    summary = {}
    for k in keys:
        summ = stats.summarize([s.values.get(k) for s in used])
        if summ is not None:
            summary[k] = {**summ, "failed": len(samples) - len(ok),
                          "excluded": len(ok) - len(used)}
    errors = [s.error for s in samples if s.status != OK]
    return {"status": status, "error": errors[0] if errors else "",
            "samples": [{**s.to_dict(), "disturbed": disturbed(s)} for s in samples],
            "summary": summary}


def path_key(mode: str, topo: str, path_id: str) -> str:
    return f"{mode}/{topo}/{path_id}"


def path_record(path: PathDef, mode: str, route: str = "") -> dict:
    return {"key": path_key(mode, path.topo, path.id), "id": path.id, "title": path.title,
            "role": path.role, "topo": path.topo, "proxy_mode": mode,
            "baseline": path.baseline, "reference": path.reference, "route": route,
            "note": path.note, "kinds": list(path.kinds), "scope": "full", "metrics": {},
            "ratios": {}}


def median(entry: dict | None, kind: str, value: str) -> float | None:
    """The median of ``value`` over the ok samples of ``kind``, if any."""
    if not entry:
        return None
    summary = (entry.get("metrics", {}).get(kind) or {}).get("summary") or {}
    return (summary.get(value) or {}).get("median")


def anchor(doc: dict, entry: dict, which: str) -> tuple[str, dict | None]:
    """The baseline, reference or raw-veth entry ``entry`` is compared with."""
    if which == "veth":
        found = doc["baselines"].get("veth")
        return ("baseline:veth", found) if found else ("", None)
    if which == "baseline":
        bid = entry.get("baseline")
        return (f"baseline:{bid}", doc["baselines"].get(bid)) if bid else ("", None)
    ref = entry.get("reference")
    if not ref:
        return "", None
    key = path_key(entry["proxy_mode"], entry["topo"], ref)
    return f"path:{key}", doc["paths"].get(key)


def compute_ratios(doc: dict) -> None:
    """Fill ``ratios`` of every path from the medians in ``doc`` itself."""
    for entry in doc["paths"].values():
        entry["ratios"] = {}
        for which in ("baseline", "reference", "veth"):
            name, other = anchor(doc, entry, which)
            if not name:
                continue
            entry["ratios"][which] = {"against": name, **{
                metric: stats.ratio(median(entry, kind, value), median(other, kind, value))
                for metric, (kind, value) in RATIO_METRICS.items()}}


def _failure(entry: dict | None, kind: str, what: str) -> str:
    if entry is None:
        return f"{what} was not measured in this run"
    rec = entry["metrics"].get(kind)
    if rec is None:
        return f"{what}: {kind} was not measured"
    return f"{what} failed: {rec.get('error') or rec['status']}"


def _pair_ratios(rec: dict, value: str) -> list[float]:
    """path / anchor of each pair, in the order taken: sample ``i`` of each
    side were run next to each other (runner.measure_pairs: A B, B A, ...).
    A pair counts only when both of its runs are ok and undisturbed."""
    sides = [(rec.get(side) or {}).get("samples") or [] for side in ("path", "anchor")]
    out = []
    for path_s, anchor_s in zip(*sides, strict=False):
        if any(s["status"] != OK or s.get("disturbed") for s in (path_s, anchor_s)):
            continue
        r = stats.ratio(path_s["values"].get(value), anchor_s["values"].get(value))
        if r is not None:
            out.append(r)
    return out


def _pairs(entry: dict, against: str | None, kind: str,
           value: str) -> tuple[float, float, list[float]] | None:
    """(path median, anchor median, each pair's ratio) from the runs that
    alternated with ``against`` beside the cluster (``entry["paired"]``):
    only when the pairs were all taken (no error) and at least two pairs
    are whole (both runs ok)."""
    rec = (entry.get("paired") or {}).get(against or "")
    if not rec or kind != "tcp1" or rec.get("error"):
        return None
    summ = [((rec.get(side) or {}).get("summary") or {}).get(value) for side in ("path", "anchor")]
    ratios = _pair_ratios(rec, value)
    if not all(summ) or len(ratios) < 2:
        return None
    return summ[0]["median"], summ[1]["median"], ratios


def evaluate_target(doc: dict, target: Target, entry: dict) -> dict:
    """One target for one measured path: ratio from the document's medians, or,
    where the anchor was also measured in pairs with the path, the median of
    the pairs' ratios."""
    kind, value = RATIO_METRICS[target.metric]
    measured = median(entry, kind, value)
    out = {"id": target.id, "title": target.title, "path": entry["key"],
           "proxy_mode": entry["proxy_mode"], "topo": entry["topo"], "metric": target.metric,
           "value": measured, "against": target.against, "against_value": None,
           "threshold": target.threshold, "max_gbps": target.max_gbps, "ratio": None,
           "status": stats.FAILED, "reason": ""}
    if target.max_gbps is not None:
        out["status"] = (stats.FAILED if measured is None else
                         stats.MET if measured <= target.max_gbps else stats.NOT_MET)
    else:
        kind_of, _, ident = target.against.partition(":")
        if kind_of == "baseline":
            other, name = doc["baselines"].get(ident), f"baseline {ident}"
        else:
            key = path_key(entry["proxy_mode"], entry["topo"], ident)
            other, name = doc["paths"].get(key), f"path {key}"
            out["against"] = f"path:{key}"
        out["against_value"] = median(other, kind, value)
        out["ratio"] = stats.ratio(measured, out["against_value"])
        pairs = _pairs(entry, target.against, kind, value)
        if pairs:
            out["unpaired"] = {"value": measured, "against_value": out["against_value"],
                               "ratio": out["ratio"]}
            measured, out["against_value"], ratios = pairs
            out["value"], out["pairs"] = measured, len(ratios)
            out["pair_ratios"] = [round(r, 4) for r in ratios]
            out["ratio_of_medians"] = stats.ratio(measured, out["against_value"])
            out["ratio"] = statistics.median(ratios)
        out["status"] = stats.evaluate(out["ratio"], target.threshold)
        if out["against_value"] is None:
            out["reason"] = _failure(other, kind, name)
    if measured is None:
        out["reason"] = _failure(entry, kind, f"path {entry['key']}")
    elif out["status"] == stats.NOT_MET:
        out["reason"] = target.why
    return out


def evaluate_targets(doc: dict) -> list[dict]:
    """Every target, once per proxy mode its path was measured in full.

    (A plain path re-measured in another mode only to anchor a ratio is not a
    second verdict on its own target.)
    """
    out = []
    for target in TARGETS:
        for entry in doc["paths"].values():
            if entry["id"] == target.path and entry.get("scope", "full") == "full":
                out.append(evaluate_target(doc, target, entry))
    return out


def noise(doc: dict) -> dict:
    """How far apart this run measured the same thing (TCP x1), from its own numbers.

    Sources: the (max - min) / median of every repeated measurement, and of a
    plain path (no kproxy in it) measured again in another proxy mode's
    cluster.  ``spread`` is the typical (median) one, ``max`` the largest.
    """
    found: list[tuple[float, str]] = []
    for entry in [*doc["baselines"].values(), *doc["paths"].values()]:
        summ = ((entry["metrics"].get("tcp1") or {}).get("summary") or {}).get("gbps")
        if summ and summ["n"] > 1 and summ["median"] > 0:
            name = entry.get("key", f"baseline/{entry['id']}")
            found.append(((summ["max"] - summ["min"]) / summ["median"],
                          f"{summ['n']} runs of {name}"))
    groups: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for entry in doc["paths"].values():
        path = BY_ID.get(entry["id"])
        value = median(entry, "tcp1", "gbps")
        if path is not None and not path.proxy and value:
            groups.setdefault((entry["id"], entry["topo"]), []).append(
                (entry["proxy_mode"], value))
    for (pid, _topo), values in groups.items():
        if len(values) > 1:
            nums = [v for _, v in values]
            mid = stats.summarize(nums)["median"]
            found.append(((max(nums) - min(nums)) / mid, f"{pid} in "
                          + " and ".join(f"the {m} cluster ({v:.2f})" for m, v in values)))
    if not found:
        return {"spread": None, "max": None, "n": 0,
                "source": "nothing was measured twice; use --repeat"}
    top, where = max(found)
    return {"spread": stats.summarize([f for f, _ in found])["median"], "max": top,
            "n": len(found), "source": f"{len(found)} measurements taken more than once; "
                                       f"the widest: {where}"}


def mark_noise(targets: list[dict], spread: float | None) -> None:
    """A target whose ratio is within the run's noise of its threshold says so."""
    for t in targets:
        t["within_noise"] = bool(spread is not None and t["ratio"] is not None
                                 and abs(t["ratio"] - t["threshold"]) <= t["threshold"] * spread)


def finish(doc: dict) -> dict:
    """Ratios, targets and the noise estimate from the measurements, in place."""
    compute_ratios(doc)
    doc["noise"] = noise(doc)
    doc["targets"] = evaluate_targets(doc)
    mark_noise(doc["targets"], doc["noise"]["spread"])
    return doc
