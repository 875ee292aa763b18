"""Render a perf results document: the printed table, report.md, results.json.

Rendering is pure (document in, text out) so tests feed it fake documents.
A failed measurement prints as "failed", one not taken as "–"; neither is
ever shown as a number.
"""
from __future__ import annotations

import json
from pathlib import Path

from k8snet.perf import schema, stats
from k8snet.perf.measure import OK
from k8snet.perf.paths import KIND_TITLES
from k8snet.perf.results import STEAL_LIMIT

DASH = "–"


def cell(entry: dict | None, kind: str, value: str, digits: int = 2, scale: float = 1.0) -> str:
    """``median`` (and ``(min–max)`` over repeats), "failed", or "–" if not taken."""
    if not entry or kind not in entry.get("metrics", {}):
        return DASH
    rec = entry["metrics"][kind]
    summ = (rec.get("summary") or {}).get(value)
    if not summ:
        return "failed"
    text = f"{summ['median'] * scale:.{digits}f}"
    if summ["n"] > 1:
        text += f" ({summ['min'] * scale:.{digits}f}–{summ['max'] * scale:.{digits}f})"
    if summ.get("excluded"):
        text += "†"
    if rec["status"] != OK:
        text += f" [{summ['failed']} failed]"
    return text


def gbps(entry: dict, kind: str) -> str:
    """Gbit/s with two decimals, three below 1 Gbit/s (shaped links)."""
    med = median_of(entry, kind, "gbps")
    return cell(entry, kind, "gbps", 3 if med is not None and med < 1 else 2)


def median_of(entry: dict, kind: str, value: str) -> float | None:
    summ = ((entry.get("metrics", {}).get(kind) or {}).get("summary") or {}).get(value)
    return summ["median"] if summ else None


def seconds(value: float | None) -> str:
    return "not recorded" if value is None else f"{value:.0f} s"


def ratio_cell(value: float | None, against: str | None) -> str:
    if not against:
        return DASH
    return "failed" if value is None else f"{value:.2f}×"


def _udp(entry: dict) -> str:
    loss = cell(entry, "udp", "lost_percent", 2)
    if loss in (DASH, "failed"):
        return loss
    return f"{loss}% / {cell(entry, 'udp', 'jitter_ms', 3)} ms"


def _pair(entry: dict, kind: str, p99: bool = True) -> str:
    p50 = cell(entry, kind, "p50_ms", 3)
    if p50 in (DASH, "failed") or not p99:
        return p50
    return f"{p50} / {cell(entry, kind, 'p99_ms', 3)}"


def _ping(entry: dict) -> str:
    if "ping" not in entry.get("kinds", ["ping"]) and entry.get("note"):
        return "n/a"
    return _pair(entry, "ping")


HEAD = ["path", "mode", "TCP x1 Gbit/s", "TCP x4 Gbit/s", "UDP loss % / jitter",
        "ping p50 / p99 ms", "connect p50 / p99 ms", "TCP x1 vs baseline",
        "TCP x1 vs reference"]


def path_row(entry: dict) -> list[str]:
    ratios = entry.get("ratios", {})
    base = ratios.get("baseline", {})
    refr = ratios.get("reference", {})
    as_ref = entry.get("role") == "reference" or entry.get("scope") == "reference"
    title = entry["title"] + (" (reference)" if as_ref else "")
    mode = entry.get("proxy_mode", "") if entry.get("role") != "baseline" else "baseline"
    taken = "tcp1" in entry.get("metrics", {})
    return [title, mode, gbps(entry, "tcp1"), gbps(entry, "tcp4"),
            _udp(entry), _ping(entry), _pair(entry, "connect"),
            (ratio_cell(base.get("tcp1"), base.get("against"))
             + f" {entry['baseline']}") if base and taken else DASH,
            (ratio_cell(refr.get("tcp1"), refr.get("against"))
             + f" {entry['reference']}") if refr and taken else DASH]


def rows(doc: dict) -> list[list[str]]:
    out = [path_row({**b, "role": "baseline"}) for b in doc["baselines"].values()]
    out += [path_row(e) for e in doc["paths"].values()]
    return out


def markdown_table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines)


def text_table(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body)]).rstrip()


def target_rows(doc: dict, with_reason: bool = True) -> list[list[str]]:
    body = []
    for t in doc["targets"]:
        if t.get("max_gbps") is not None:
            measured = DASH if t["value"] is None else f"{t['value'] * 1000:.1f} Mbit/s"
            goal = f"≤ {t['max_gbps'] * 1000:.0f} Mbit/s"
            ratio = DASH
        else:
            measured = DASH if t["value"] is None else f"{t['value']:.2f} Gbit/s"
            against = DASH if t["against_value"] is None else f"{t['against_value']:.2f} Gbit/s"
            measured = f"{measured} vs {against}"
            if t.get("pairs"):
                measured += f" ({t['pairs']} pairs: median of their ratios)"
            goal = f"≥ {t['threshold']:.2f}×"
            ratio = DASH if t["ratio"] is None else f"{t['ratio']:.2f}×"
        status = {stats.MET: "met", stats.NOT_MET: "NOT met",
                  stats.FAILED: "FAILED"}[t["status"]]
        if t.get("within_noise"):
            status += " (within noise)"
        row = [t["title"], t["proxy_mode"], measured, ratio, goal, status]
        body.append(row + [t.get("reason", "")] if with_reason else row)
    return body


TARGET_HEAD = ["target", "mode", "TCP x1 measured vs anchor", "ratio", "goal", "status",
               "reason"]


def perf_table(doc: dict) -> str:
    """The printed summary: every path with its ratios, then the targets."""
    parts = [text_table(HEAD, rows(doc)), ""]
    if doc["targets"]:
        parts.append(text_table(TARGET_HEAD[:-1], target_rows(doc, with_reason=False)))
    else:
        parts.append("(no target among the paths run)")
    reasons = {t["title"]: t["reason"] for t in doc["targets"] if t.get("reason")}
    parts += [f"  {title}: {why}" for title, why in reasons.items()]
    parts += ["", noise_sentence(doc), disturbed_sentence(doc)]
    missing = [f"{m}: {v['reason']}" for m, v in doc["proxy_modes"].items()
               if v["status"] != "measured"]
    if missing:
        parts += ["", "proxy modes not measured: " + "; ".join(missing)]
    return "\n".join(parts)


def disturbed_sentence(doc: dict) -> str:
    """How many runs were left out of medians for hypervisor steal, if any."""
    left = total = 0
    for e in [*doc["baselines"].values(), *doc["paths"].values()]:
        for rec in e["metrics"].values():
            total += len(rec["samples"])
            left += sum(1 for s in rec["samples"] if s.get("disturbed"))
    if not left:
        return ""
    return (f"† {left} of {total} runs were taken while the hypervisor stole more than "
            f"{STEAL_LIMIT:.0f}% of the CPU; they are in results.json (\"disturbed\") but "
            "left out of the median where an undisturbed run of the same measurement "
            "exists.")


def noise_sentence(doc: dict) -> str:
    n = doc.get("noise") or {}
    if n.get("spread") is None:
        return "Run-to-run noise: not estimated (" + n.get("source", "no data") + ")."
    return (f"Run-to-run noise in this run: typically {n['spread'] * 100:.0f}% between runs "
            f"of the same measurement, at most {n['max'] * 100:.0f}% ({n['source']}). "
            "A target whose ratio is within the typical spread of its goal is marked "
            "(within noise).")


def proxy_rows(doc: dict) -> tuple[list[str], list[list[str]]]:
    """Service paths, one column pair per measured proxy mode."""
    modes = [m for m, v in doc["proxy_modes"].items() if v["status"] == "measured"]
    ids: list[str] = []
    for e in doc["paths"].values():
        if e["id"] not in ids and sum(1 for o in doc["paths"].values()
                                      if o["id"] == e["id"]) > 1:
            ids.append(e["id"])
    head = ["path"] + [f"{m} TCP x1 Gbit/s" for m in modes] + \
        [f"{m} connect p50 ms" for m in modes]
    body = []
    for pid in ids:
        by_mode = {e["proxy_mode"]: e for e in doc["paths"].values() if e["id"] == pid}
        title = next(iter(by_mode.values()))["title"]
        body.append([title] + [cell(by_mode.get(m), "tcp1", "gbps") for m in modes]
                    + [cell(by_mode.get(m), "connect", "p50_ms", 3) for m in modes])
    for m, v in doc["proxy_modes"].items():
        if v["status"] != "measured":
            body.append([f"{m}: {v['reason'] or v['status']}"] + [DASH] * (len(head) - 1))
    return head, body


WHERE_HEAD = ["path", "mode", "TCP x1 Gbit/s", "machine busy %", "softirq %", "steal %",
              "ovs-vswitchd % of a core", "likely limit"]
OVS_BOUND, CPU_BOUND = 80.0, 90.0


def likely_limit(values: dict[str, float | None], ncpu: int = 2) -> str:
    """A heuristic, stated as such: what ran out during the TCP x1 run."""
    ovs, busy = values.get("ovs_cpu_pct"), values.get("cpu_busy_pct")
    if ovs is not None and ovs >= OVS_BOUND:
        return "ovs-vswitchd forwarding thread (userspace datapath, one core)"
    if busy is None:
        return DASH
    steal = values.get("steal_pct") or 0.0
    if steal > STEAL_LIMIT:
        return f"disturbed: the hypervisor took {steal:.0f}% of the CPU"
    if busy >= CPU_BOUND:
        return "CPU: every core busy"
    if busy >= 110.0 / max(ncpu, 1):
        return "CPU: one core (the stream's sender with its softirq work)"
    return "not CPU: a rate limit or TCP itself"


def where_rows(doc: dict) -> list[list[str]]:
    """CPU split during each TCP x1 run, baselines and the fully measured paths."""
    entries = [{**b, "role": "baseline", "proxy_mode": "baseline"}
               for b in doc["baselines"].values()]
    entries += [e for e in doc["paths"].values() if e.get("scope", "full") == "full"]
    body = []
    for e in entries:
        keys = ("cpu_busy_pct", "softirq_pct", "steal_pct", "ovs_cpu_pct")
        values = {k: median_of(e, "tcp1", k) for k in keys}
        if median_of(e, "tcp1", "gbps") is None:
            continue
        body.append([e["title"], e["proxy_mode"], gbps(e, "tcp1")]
                    + [DASH if values[k] is None else f"{values[k]:.0f}" for k in keys]
                    + [likely_limit(values, doc["machine"].get("nproc") or 1)])
    return body


def failures(doc: dict) -> list[str]:
    out = []
    for entry in [*doc["baselines"].values(), *doc["paths"].values()]:
        name = entry.get("key", f"baseline/{entry['id']}")
        for kind, rec in entry["metrics"].items():
            if rec["status"] != OK:
                out.append(f"{name} {KIND_TITLES[kind]}: {rec['status']}: {rec['error']}")
    return out


def _rx_buffer(m: dict) -> str:
    size = m.get("ovs_rx_buffer_bytes")      # absent in results from before it was set
    return f", {size // 2 ** 20} MiB receive buffer on each veth port" if size else ""


def _machine(doc: dict) -> list[str]:
    m = doc["machine"]
    v = m["versions"]
    return [f"- CPU: {m['cpu_model']}, {m['nproc']} cores; kernel {m['kernel']}; {m['os']}",
            f"- load average at start: {m['loadavg_start']}",
            f"- {v['ovs-vswitchd']} (userspace datapath, userspace TSO "
            f"{m['ovs_userspace_tso']}{_rx_buffer(m)}); {v['iperf3']}; {v['nft']}; "
            f"{v['iptables']}; "
            f"Python {v['python']}; Mininet {v['mininet']}; k8snet {v['k8snet']}"]


def _links(doc: dict) -> list[str]:
    out = []
    for name, facts in doc.get("links", {}).items():
        offl = ", ".join(f"{k.replace('-offload', '').replace('generic-', 'g')} "
                         f"{v}" for k, v in facts["offloads"].items())
        out.append(f"- {name}: MTU {facts['mtu']}; {offl}")
    return out


def pair_failures(doc: dict) -> list[str]:
    """Lines for pairs that were not taken in full: their targets were judged
    on the separate blocks instead."""
    out = [f"- {key} with {against}: {rec['error']}"
           for key, e in doc["paths"].items()
           for against, rec in (e.get("paired") or {}).items() if rec.get("error")]
    return ["Pairs not taken in full (those targets are judged on the separate blocks):",
            "", *out, ""] if out else []


def report_md(doc: dict, charts: list[Path]) -> str:
    cfg = doc["config"]
    lines = ["# k8snet perf report", "",
             f"Run {doc['started']}, wall time " + seconds(doc['wall_s'])
             + (" — **interrupted, partial results**" if doc["interrupted"] else "") + ".",
             f"iperf3 {cfg['duration']:g} s per run, repeat {cfg['repeat']}; TCP x1 of every "
             f"path and anchor a target compares: "
             f"{max(cfg['repeat'], cfg.get('target_repeat', 1))} runs. Numbers are medians, "
             f"with (min–max) when repeated. UDP at {cfg['udp_rate']}bit/s with "
             f"{cfg['udp_length']}-byte datagrams, {cfg['ping_count']} pings at 50 ms, "
             f"{cfg['connect_count']} TCP connects.", "", "## Machine", "",
             *_machine(doc), *_links(doc), "",
             "## Targets", "",
             "Each ratio is TCP x1 throughput of the path over its anchor, both measured in "
             "this run. A target marked (N pairs) is judged on runs taken in pairs: its "
             "anchor (a baseline built again beside the running cluster, sharing "
             "ovs-vswitchd with the cluster's idle bridges, or a reference path of the same "
             "cluster) alternating run by run with the path (anchor, path, path, anchor, "
             "...), so a slow spell of the machine lands on both sides. Its "
             "ratio is the median of the pairs' own ratios (the two runs of a pair are next "
             "to each other); the ratio of the pairs' medians "
             "(`targets[].ratio_of_medians`) and the separate blocks' ratio, which the Paths "
             "table shows (`targets[].unpaired`), are kept in results.json.", "",
             markdown_table(TARGET_HEAD, target_rows(doc)), "", *pair_failures(doc),
             noise_sentence(doc), "",
             disturbed_sentence(doc), "",
             "## Paths", "",
             "Baselines first, then every path in each cluster. Ratios: TCP x1 of the path "
             "over its baseline (a bare kernel or OVS path) and over its reference (the "
             "same cluster path without the feature under test). Latency ratios are in "
             "results.json.", "",
             markdown_table(HEAD, rows(doc)), "",
             "## Where the time goes", "",
             "CPU during each TCP x1 run, from /proc: the machine's busy and softirq share "
             "of both cores, time stolen by the hypervisor, and ovs-vswitchd's share of one "
             f"core (it forwards netdev ports in one thread). Likely limit: ovs-vswitchd at "
             f"≥ {OVS_BOUND:.0f}% of a core; else every core at ≥ {CPU_BOUND:.0f}% busy; else "
             "one core's worth busy (a single stream runs on one core).", "",
             markdown_table(WHERE_HEAD, where_rows(doc)), "",
             "## Proxy modes side by side", "",
             markdown_table(*proxy_rows(doc)), ""]
    notes = sorted({e["note"] for e in doc["paths"].values() if e.get("note")})
    if notes:
        lines += ["Ping is n/a where " + "; ".join(notes) + ".", ""]
    clusters = [c for c in doc["clusters"]]
    if clusters:
        lines += ["## Clusters", "", markdown_table(
            ["cluster", "topology", "proxy mode", "up s", "down s", "error"],
            [[c["name"], c["topo"], c["proxy_mode"],
              DASH if c["up_s"] is None else f"{c['up_s']:.1f}",
              DASH if c["down_s"] is None else f"{c['down_s']:.1f}", c["error"]]
             for c in clusters]), ""]
    shaped = [e for e in doc["paths"].values() if e["topo"] == "shaped"]
    if shaped or doc.get("netem"):
        lines += ["## Link shaping", ""]
        for e in shaped:
            lines.append(f"- {e['title']}: TCP x1 {cell(e, 'tcp1', 'gbps', 1, 1000)} Mbit/s, "
                         f"TCP x4 {cell(e, 'tcp4', 'gbps', 1, 1000)} Mbit/s "
                         "(topologies/perf-shaped.yaml, `links: {bw: 100}`)")
        if doc.get("netem"):
            lines.append(f"- link delay/loss asked for on this kernel: "
                         f"{doc['netem']['status']}: {doc['netem']['message']}")
        lines.append("")
    if charts:
        lines += ["## Charts", ""] + [f"![{Path(c).stem}]({Path(c).name})" for c in charts]
        lines.append("")
    fails = failures(doc)
    lines += ["## Failed measurements", ""] + ([f"- {f}" for f in fails] or ["None."])
    lines += ["", "Leftovers after the run: "
              + (", ".join(doc["leftovers"]) if doc["leftovers"] else "none") + "."]
    lines += ["", "How to read this report: docs/performance.md.", ""]
    return "\n".join(lines)


def write_outputs(doc: dict, out: Path, problems: list, make_charts,
                  render_md) -> list[Path]:
    """results.json (with any schema problems recorded), the charts, then
    report.md naming them; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    if problems:
        doc["schema_problems"] = problems
    path_json = out / "results.json"
    path_json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    pngs = make_charts(doc, out)
    path_md = out / "report.md"
    path_md.write_text(render_md(doc, pngs))
    return [path_json, path_md, *pngs]


def write_perf(doc: dict, out: Path) -> list[Path]:
    """results.json, charts and report.md into ``out``; returns what was written."""
    from k8snet.perf import charts

    return write_outputs(doc, out, schema.validate_perf(doc), charts.perf_charts, report_md)
