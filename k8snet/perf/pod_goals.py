"""The pod churn benchmark's goals (issue 14) and its rows in the bench report: pure.

``targets(res)`` judges a ``bench_cluster.pod_setup`` result against each
goal: met, not met (with the measured value that misses it) or failed (with
why; never counted as met).  ``rows(name, res)`` are the report's rows.

Goals: per-pod set-up p50 ≤ 5 ms at every size from 10 to 1,000 pods (Calico
takes about 15 ms a pod), teardown no slower than set-up, and 1,000 pods on
16 nodes up and all reachable within 10 s (kind: 12.5 s for one empty node).
"""
from __future__ import annotations

SETUP_P50_MS = 5.0
UP_SIZE = (1000, 16)          # pods, nodes
UP_S = 10.0


def _judge(value: float | None, target: float | None, unit: str, what: str) -> dict:
    if value is None or target is None:
        return {"target": target, "unit": unit, "status": "failed",
                "reason": f"{what}: not measured"}
    if value <= target:
        return {"target": target, "unit": unit, "status": "met", "reason": ""}
    return {"target": target, "unit": unit, "status": "not met",
            "reason": f"{what} {value:.3g} {unit} > {target:.3g} {unit}"}


def targets(res: dict) -> dict[str, dict]:
    """Each goal that applies to this size, judged."""
    out = {"one_setup_p50": _judge(res.get("one_setup_p50_ms"), SETUP_P50_MS, "ms",
                                   "set-up p50"),
           "one_teardown_vs_setup": _judge(res.get("one_teardown_p50_ms"),
                                           res.get("one_setup_p50_ms"), "ms",
                                           "teardown p50")}
    if (res.get("pods"), res.get("nodes")) == UP_SIZE:
        up = res.get("up_reachable_s")
        judged = _judge(up, UP_S, "s", "created to all Running and reachable")
        if up is None and res.get("probed"):
            judged["reason"] = (f"{res['probed'] - res['reached']} of {res['probed']} "
                                "reachability probes failed")
        elif judged["status"] == "not met":
            judged["reason"] += (f" (all Running {res['up_s']:.1f} s, reach check "
                                 f"{res['reach_check_s']:.1f} s)")
        out["up_reachable"] = judged
    return out


def _f(value, fmt: str, unit: str = "") -> str:
    return "failed" if value is None else f"{value:{fmt}}{unit}"


def _goal(t: dict | None, fmt: str) -> str:
    if not t:
        return ""
    goal = "failed" if t["target"] is None else f"≤ {t['target']:{fmt}} {t['unit']}"
    why = f" ({t['reason']})" if t["reason"] else ""
    return f"{goal}: {t['status']}{why}"


def _cpu(value: float | None) -> str:
    return "" if value is None else f" (kubelet CPU {value:.2f} ms)"


def rows(name: str, b: dict, earlier: str = "") -> list[list[str]]:
    """The report's rows for ``pods-N``; ``earlier`` is appended to the
    under-load set-up figure (the run docs/performance.md reported)."""
    t = b.get("targets") or targets(b)
    rate = f"; {b['pods_per_s']:.0f} pods/s" if b.get("pods_per_s") else ""
    sandbox = (f"; sandbox alone p50 {b['sandbox_p50_ms']:.1f} ms"
               if b.get("sandbox_p50_ms") is not None else "")
    out = [[name, f"{b['pods']} pods on {b['nodes']} nodes: created to all Running",
            _f(b["up_s"], ".2f", " s") + f"{rate} (cluster up "
            f"{_f(b.get('cluster_up_s'), '.2f', ' s')}, teardown {_f(b['down_s'], '.2f', ' s')})",
            ""],
           [name, "per-pod set-up p50 / p99 under load (kubelet: sandbox + containers, "
            "every node at once)",
            f"{_f(b['setup_p50_ms'], '.1f')} / {_f(b['setup_p99_ms'], '.1f', ' ms')}{sandbox}"
            + earlier, ""]]
    if "create_to_running_p50_ms" in b:
        out.append([name, "per-pod creation to Running p50 / p99 (queueing included)",
                    f"{_f(b['create_to_running_p50_ms'], '.0f')} / "
                    f"{_f(b['create_to_running_p99_ms'], '.0f', ' ms')}", ""])
    out.append([name, "pods reachable (from a pod and from each node)",
                f"{b['reached']}/{b['probed']}"
                + (f" in {b['reach_check_s']:.2f} s" if b.get("reach_check_s") else ""), "all"])
    if "up_reachable" in t:
        out.append([name, f"{b['pods']} pods on {b['nodes']} nodes: created to all Running "
                    "and reachable", _f(b.get("up_reachable_s"), ".2f", " s"),
                    _goal(t["up_reachable"], ".0f")])
    if "one_setup_p50_ms" in b:
        n = b.get("one_at_a_time", len(b.get("one_setup_ms") or []))
        settled = (f" (after {b['settled_s']:.1f} s for the burst to settle)"
                   if b.get("settled_s") is not None else "")
        out += [[name, f"per-pod set-up p50, {n} pods one at a time, {b['pods']} present"
                 + settled,
                 _f(b["one_setup_p50_ms"], ".2f", " ms") + _cpu(b.get("one_setup_cpu_p50_ms")),
                 _goal(t.get("one_setup_p50"), ".0f")],
                [name, f"per-pod teardown p50, {n} pods one at a time (kubelet: containers "
                 "stopped, namespace released)", _f(b["one_teardown_p50_ms"], ".2f", " ms")
                 + _cpu(b.get("one_teardown_cpu_p50_ms")),
                 _goal(t.get("one_teardown_vs_setup"), ".2f")]]
    if "delete_all_s" in b:
        out.append([name, f"all {b['pods']} deleted at once: until the last is gone "
                    "(termination drain 0.5 s included)",
                    _f(b["delete_all_s"], ".2f", " s")
                    + f"; per-pod teardown p50 {_f(b.get('teardown_p50_ms'), '.1f', ' ms')}",
                    ""])
    return out
