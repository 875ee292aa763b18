"""The kproxy benchmark's goals (issue 14) and its rows in the bench report: pure.

``targets(res)`` judges a ``bench_kproxy.run`` result against each goal:
met, not met (with the measured value that misses it) or failed / not
measured (with why; never counted as met).  ``rows(res)`` are the report's
rows: every measurement, each goal beside the value it judges.
"""
from __future__ import annotations

FULL_SYNC_MS = {1000: 100.0, 10000: 1000.0}     # nftables, 2 endpoints per Service
LINEAR = (10000, 30000)        # per-Service cost at the larger size over the smaller one...
LINEAR_MAX = 1.5               # ...at most this (a quadratic cost makes it 3)
INCREMENTAL = {"nftables": (10000, 20.0), "iptables": (5000, 200.0)}   # present, ms
DATAPATH = (10000, 1.1)        # Services present, connect p50 over that with 10


def verdict(value: float | None, target: float) -> str:
    """At or under ``target`` is met; no value is "failed" (never counted as 0)."""
    if value is None:
        return "failed"
    return "met" if value <= target else "not met"


def _judge(value: float | None, target: float, unit: str, missing: str) -> dict:
    status = verdict(value, target) if not missing else "failed"
    if missing:
        reason = missing
    elif status == "not met":
        sep = "" if unit == "×" else " "
        reason = f"{value:.4g}{sep}{unit} > {target:g}{sep}{unit}"
    else:
        reason = ""
    return {"status": status, "reason": reason}


def _run(res: dict, mode: str, n: int) -> tuple[dict, str]:
    """The full-sync record of ``n`` Services in ``mode``, or why there is none."""
    sync = res.get("sync", {}).get(mode)
    if sync is None:
        return {}, f"{mode} not run (--modes)"
    run = sync["full"].get(str(n))
    if run is None:
        return {}, f"{n} Services not in --sizes"
    for key in ("skipped", "error"):
        if key in run:
            return run, f"{n} Services: {run[key]}"
    return run, ""


def _per_service(run: dict, n: int) -> float:
    return run["sync_ms"] / n


def targets(res: dict) -> dict:
    """Every goal of issue 14's kproxy rows, judged."""
    out: dict = {"nftables_full_sync": {}}
    for n, target in FULL_SYNC_MS.items():
        run, why = _run(res, "nftables", n)
        out["nftables_full_sync"][str(n)] = {
            "target_ms": target, **_judge(run.get("sync_ms"), target, "ms", why)}
    small, big = (_run(res, "nftables", n) for n in LINEAR)
    why = small[1] or big[1]
    ratio = None if why else _per_service(big[0], LINEAR[1]) / _per_service(small[0], LINEAR[0])
    out["nftables_linear"] = {"sizes": list(LINEAR), "target": LINEAR_MAX, "value": ratio,
                              **_judge(ratio, LINEAR_MAX, "×", why)}
    for mode, (present, target) in INCREMENTAL.items():
        inc = (res.get("sync", {}).get(mode) or {}).get("incremental_all", {}).get(str(present))
        why = "" if inc else _run(res, mode, present)[1] or f"no incremental sync at {present}"
        if inc and "error" in inc:
            why = f"{present} Services: {inc['error']}"
        judged = _judge(None if why else inc["sync_ms"], target, "ms", why)
        if not why and not inc.get("partial"):
            judged = {"status": "not met", "reason": "a full sync, not a partial one"}
        out[f"{mode}_incremental"] = {"present": present, "target_ms": target, **judged}
    dp = (res.get("datapath") or {}).get("nftables") or {}
    others, target = DATAPATH
    why = ("nftables data path not run" if not dp else dp.get("error", "")
           or ("" if str(others) in dp else f"{others} Services not in --sizes"))
    out["nftables_datapath_ratio"] = {"others": others, "target": target,
                                      **_judge(None if why else dp.get("ratio_p50"), target,
                                               "×", why)}
    return out


# ---------------------------------------------------------------------- report

def _goal(t: dict | None, target: str) -> str:
    if not t:
        return ""
    tail = f" ({t['reason']})" if t.get("reason") else ""
    return f"{target}: {t['status']}{tail}"


def _sync_text(run: dict, partial: bool = False) -> str:
    how = ""
    if partial:
        how = (f"partial: {run.get('changed', '?')} Service port rendered, "
               if run.get("partial") else "full sync, ")
    return (f"{run['sync_ms']:.1f} ms ({how}render {run['render_ms']:.1f} + apply "
            f"{run['apply_ms']:.1f}; {run['lines']} lines)")


def rows(b: dict) -> list[list[str]]:
    """The kproxy rows of the bench report: [benchmark, measurement, result, target]."""
    out = []
    t = b.get("targets", {})
    full_t = t.get("nftables_full_sync", {})
    for mode, data in b.get("sync", {}).items():
        for n, run in data["full"].items():
            goal = full_t.get(n) if mode == "nftables" else None
            target = _goal(goal, f"≤ {goal['target_ms']:g} ms") if goal else ""
            what = f"{mode}: full sync, {int(n):,} Services"
            if "skipped" in run or "error" in run:
                word = "skipped" if "skipped" in run else "FAILED"
                out.append(["kproxy", what, f"{word}: {run.get('skipped') or run['error']}",
                            target])
                continue
            out.append(["kproxy", what, f"{run['sync_ms']:.0f} ms (render {run['render_ms']:.0f}"
                        f" + apply {run['apply_ms']:.0f}; {run['ms_per_1000']:.0f} ms per "
                        "1000)", target])
        if data.get("fitted_ms_per_1000_services") is not None:
            out.append(["kproxy", f"{mode}: growth (least-squares slope)",
                        f"{data['fitted_ms_per_1000_services']:.0f} ms per 1000 Services", ""])
        lin = t.get("nftables_linear") if mode == "nftables" else None
        if lin:
            small, big = lin["sizes"]
            value = "" if lin["value"] is None else f"{lin['value']:.2f}×"
            out.append(["kproxy", f"{mode}: full sync per Service, {big:,} over {small:,}",
                        value or "not measured", _goal(lin, f"≤ {lin['target']:g}× (linear)")])
        inc_t = t.get(f"{mode}_incremental") or {}
        for n, inc in (data.get("incremental_all") or {}).items():
            goal = inc_t if str(inc_t.get("present")) == n else None
            target = _goal(goal, f"≤ {goal['target_ms']:g} ms") if goal else ""
            value = f"FAILED: {inc['error']}" if "error" in inc else _sync_text(inc, True)
            out.append(["kproxy", f"{mode}: add 1 Service with {int(n):,} present", value,
                        target])
        if inc_t and str(inc_t["present"]) not in (data.get("incremental_all") or {}):
            out.append(["kproxy", f"{mode}: add 1 Service with {inc_t['present']:,} present",
                        "not measured", _goal(inc_t, f"≤ {inc_t['target_ms']:g} ms")])
    for mode, data in b.get("datapath", {}).items():
        if "error" in data:
            out.append(["kproxy", f"{mode}: data path", f"FAILED: {data['error']}",
                        _goal(t.get("nftables_datapath_ratio"), "≤ 1.1×")
                        if mode == "nftables" else ""])
            continue
        d = data["direct"]
        out.append(["kproxy", f"{mode}: TCP connect direct (no rules)",
                    f"p50 {d['p50_ms']:.3f} ms, p99 {d['p99_ms']:.3f} ms", ""])
        for others in data["others"]:
            r = data[str(others)]
            pos = f", probe rule {r['probe_rule_position']}" if "probe_rule_position" in r \
                else ""
            out.append(["kproxy", f"{mode}: TCP connect via ClusterIP, {others:,} others",
                        f"p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms{pos}", ""])
        goal = t.get("nftables_datapath_ratio") if mode == "nftables" else None
        ratio = "failed" if data["ratio_p50"] is None else f"{data['ratio_p50']:.2f}×"
        out.append(["kproxy", f"{mode}: connect p50 ratio {data['others'][1]:,} / "
                    f"{data['others'][0]} Services", ratio,
                    _goal(goal, f"≤ {goal['target']:g}×") if goal else ""])
    return out
