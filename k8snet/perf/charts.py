"""PNG bar charts of a results document (matplotlib, Agg: no display needed).

Bars are medians; a whisker spans min..max when a measurement was repeated.
Baselines are grey, cluster paths blue, references light blue.  A failed
measurement gets no bar but the word "failed", so it can never pass for 0.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

COLORS = {"baseline": "#8c8c8c", "path": "#1f77b4", "reference": "#9ecae1"}
SECOND = {"baseline": "#c7c7c7", "path": "#ff7f0e", "reference": "#fdd0a2"}


def save(fig, path: Path) -> Path:
    """Lay out, write (long labels kept whole) and free one figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _stat(entry: dict, kind: str, value: str) -> tuple[float | None, float, float, bool]:
    """(median, low error, high error, taken) for a bar."""
    rec = entry.get("metrics", {}).get(kind)
    if rec is None:
        return None, 0.0, 0.0, False
    summ = (rec.get("summary") or {}).get(value)
    if not summ:
        return None, 0.0, 0.0, True
    return summ["median"], summ["median"] - summ["min"], summ["max"] - summ["median"], True


def chart_rows(doc: dict) -> list[tuple[str, dict]]:
    """Baselines, then the paths of the first measured proxy mode (and other topologies)."""
    modes = [m for m, v in doc["proxy_modes"].items() if v["status"] == "measured"]
    primary = modes[0] if modes else None
    out = [(f"baseline: {b['title']}", {**b, "role": "baseline"})
           for b in doc["baselines"].values()]
    out += [(e["title"] + (" (ref)" if e["role"] == "reference" else ""), e)
            for e in doc["paths"].values() if e["proxy_mode"] == primary]
    return out


def _bars(ax, rows, series, unit: str) -> None:
    """Horizontal grouped bars: ``series`` is [(kind, value, label, scale)]."""
    height = 0.8 / len(series)
    for s, (kind, value, _label, scale) in enumerate(series):
        for i, (_, entry) in enumerate(rows):
            med, lo, hi, taken = _stat(entry, kind, value)
            y = i + (s - (len(series) - 1) / 2) * height
            role = entry.get("role", "path")
            color = (COLORS if s == 0 else SECOND)[role]
            if med is None:
                if taken:
                    ax.text(0, y, " failed", va="center", color="red", fontsize=7)
                continue
            ax.barh(y, med * scale, height, xerr=[[lo * scale], [hi * scale]] if lo or hi
                    else None, color=color, error_kw={"elinewidth": 0.8, "capsize": 2})
            ax.text((med + hi) * scale, y, f" {med * scale:.2f}", va="center", fontsize=6)
    ax.margins(x=0.12)  # room for the value labels
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=7)
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.grid(axis="x", alpha=0.3)


def _legend(ax, series) -> None:
    handles = [Patch(color=(COLORS if i == 0 else SECOND)["path"], label=s[2])
               for i, s in enumerate(series)]
    handles.append(Patch(color=COLORS["baseline"], label="baseline"))
    handles.append(Patch(color=COLORS["reference"], label="reference path"))
    ax.legend(handles=handles, fontsize=7, loc="lower right")


def throughput(doc: dict, out: Path) -> Path | None:
    rows = chart_rows(doc)
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5))
    series = [("tcp1", "gbps", "TCP x1", 1.0), ("tcp4", "gbps", "TCP x4", 1.0)]
    _bars(ax, rows, series, "Gbit/s (median; whisker min–max)")
    _legend(ax, series)
    ax.set_title("Throughput per path, beside the baselines measured in the same run",
                 fontsize=9)
    return save(fig, out / "throughput.png")


def latency(doc: dict, out: Path) -> Path | None:
    rows = [r for r in chart_rows(doc)
            if {"ping", "connect"} & set(r[1].get("metrics", {}))]
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(rows) + 1.5), sharey=True)
    for ax, kind, name in ((axes[0], "ping", "ping RTT"), (axes[1], "connect",
                                                           "TCP connect time")):
        series = [(kind, "p50_ms", f"{name} p50", 1.0), (kind, "p99_ms", f"{name} p99", 1.0)]
        _bars(ax, rows, series, "ms")
        _legend(ax, series)
        ax.set_title(name + " (n/a: no bar)", fontsize=9)
    fig.suptitle("Latency per path, beside the baselines measured in the same run",
                 fontsize=10)
    return save(fig, out / "latency.png")


def proxy_modes(doc: dict, out: Path) -> Path | None:
    modes = [m for m, v in doc["proxy_modes"].items() if v["status"] == "measured"]
    ids = []
    for e in doc["paths"].values():
        if e["id"] not in ids and len({o["proxy_mode"] for o in doc["paths"].values()
                                       if o["id"] == e["id"]}) > 1:
            ids.append(e["id"])
    if len(modes) < 2 or not ids:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.5 * len(ids) + 1.8), sharey=True)
    palette = ["#1f77b4", "#d62728", "#2ca02c"]
    height = 0.8 / len(modes)
    for ax, kind, value, unit in ((axes[0], "tcp1", "gbps", "TCP x1 Gbit/s"),
                                  (axes[1], "connect", "p50_ms", "connect p50 ms")):
        for m, mode in enumerate(modes):
            for i, pid in enumerate(ids):
                entry = doc["paths"].get(next((k for k, e in doc["paths"].items()
                                               if e["id"] == pid and e["proxy_mode"] == mode),
                                              ""))
                y = i + (m - (len(modes) - 1) / 2) * height
                med, lo, hi, taken = _stat(entry or {}, kind, value)
                if med is None:
                    if taken:
                        ax.text(0, y, " failed", va="center", color="red", fontsize=7)
                    continue
                ax.barh(y, med, height, color=palette[m % 3],
                        xerr=[[lo], [hi]] if lo or hi else None)
                ax.text(med + hi, y, f" {med:.2f}", va="center", fontsize=6)
        ax.margins(x=0.12)
        ax.set_yticks(range(len(ids)))
        titles = {e["id"]: e["title"] for e in doc["paths"].values()}
        ax.set_yticklabels([titles[i] for i in ids], fontsize=7)
        if not ax.yaxis_inverted():
            ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(handles=[Patch(color=palette[m % 3], label=mode)
                           for m, mode in enumerate(modes)], fontsize=7)
    missing = [f"{m}: {v['reason']}" for m, v in doc["proxy_modes"].items()
               if v["status"] != "measured"]
    fig.suptitle("kproxy modes side by side" + ("\n" + "; ".join(missing) if missing else ""),
                 fontsize=9)
    return save(fig, out / "proxy_modes.png")


def perf_charts(doc: dict, out: Path) -> list[Path]:
    return [p for p in (throughput(doc, out), latency(doc, out), proxy_modes(doc, out)) if p]
