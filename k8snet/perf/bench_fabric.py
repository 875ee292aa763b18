"""The fabric's rows of issue 14's table in ``make bench``, from the latest
``make perf`` run (results/perf/results.json): pure.

The fabric is measured by ``make perf`` (iperf3 through the emulation against
a bare OVS bridge in the same run, repeated, with shaping off); running it a
second time inside ``make bench`` would double the longest benchmark, so the
bench report carries those targets as they were judged, with the perf run's
date, and says so when there is no perf run to carry.
"""
from __future__ import annotations

import json
from pathlib import Path

FABRIC_TARGETS = ("cross-node-vs-ovs", "cross-leaf-vs-ovs", "cross-node-vs-ovs-layout",
                  "cross-leaf-vs-ovs-layout")
PERF_RESULTS = Path("results/perf/results.json")


def from_perf(path: Path = PERF_RESULTS) -> dict:
    """``{"perf_started", "source", "targets": [perf target, ...]}`` for the
    fabric targets of ``path``, or ``{"skipped": why}`` when it has none."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {"skipped": f"no make perf results at {path}: the fabric is measured by "
                           "'make perf' (iperf3 against bare OVS in the same run)"}
    except (OSError, ValueError) as exc:
        return {"skipped": f"{path}: unreadable ({exc})"}
    found = [t for t in doc.get("targets") or [] if isinstance(t, dict)
             and t.get("id") in FABRIC_TARGETS]
    if not found:
        return {"skipped": f"{path} has none of {', '.join(FABRIC_TARGETS)}"}
    return {"perf_started": doc.get("started", "?"), "source": str(path), "targets": found}


def rows(b: dict) -> list[list[str]]:
    """The report's rows: each target's ratio beside its goal, met or not and why."""
    out = []
    for t in b["targets"]:
        ratio = t.get("ratio")
        if ratio is None:
            value = "failed"
        elif t.get("pairs"):
            medians = f"{t['value']:.2f} / {t['against_value']:.2f} Gbit/s"
            apart = (t.get("unpaired") or {}).get("ratio")
            value = (f"{ratio:.3f}x (median of {t['pairs']} pairs' ratios; medians "
                     f"{medians}" + (f"; apart {apart:.3f}x" if apart is not None else "")
                     + ")")
        else:
            value = f"{ratio:.3f}x ({t['value']:.2f} / {t['against_value']:.2f} Gbit/s)"
        why = f" ({t['reason']})" if t.get("reason") else ""
        out.append(["fabric", f"{t['title']} (make perf, {b['perf_started']})", value,
                    f"≥ {t['threshold']}x: {t['status']}{why}"])
    return out
