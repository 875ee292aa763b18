"""Render a bench results document: printed table, report.md, results.json, PNGs.

Pure rendering; a failed benchmark prints "FAILED: why", a skipped one
"skipped: why", never a number.
"""
from __future__ import annotations

from pathlib import Path

from k8snet.perf import schema
from k8snet.perf.report import markdown_table, text_table, write_outputs

HEAD = ["benchmark", "measurement", "result", "target"]


def _f(value, fmt: str, unit: str = "") -> str:
    return "failed" if value is None else f"{value:{fmt}}{unit}"


def _not_ok(name: str, b: dict) -> list[str] | None:
    if b["status"] == "ok":
        return None
    word = "FAILED" if b["status"] == "failed" else "skipped"
    return [name, "", f"{word}: {b['error']}", ""]


def _bringup(b: dict) -> list[list[str]]:
    return [["bringup", f"default cluster up ({b['nodes']} nodes, {b['pods']} pods)",
             _f(b["up_s"], ".2f", " s") + f", teardown {_f(b['down_s'], '.2f', ' s')}", ""],
            ["bringup", "first ping across nodes (cold ARP) vs steady",
             f"{_f(b['first_ping_ms'], '.2f', ' ms')} vs {_f(b['steady_ping_ms'], '.2f', ' ms')}",
             ""],
            ["bringup", "flows punting to the controller",
             f"{b['flows_to_controller']} of {b['flows']} flows on tor1", "0"]]


def _pods(name: str, b: dict) -> list[list[str]]:
    p50 = b["setup_p50_ms"]
    target = "" if p50 is None else f"p50 ≤ 30 ms: {'met' if p50 <= 30 else 'not met'}"
    return [[name, f"{b['pods']} pods on {b['nodes']} nodes up", _f(b["up_s"], ".2f", " s")
             + f", teardown {_f(b['down_s'], '.2f', ' s')}", ""],
            [name, "per-pod set-up p50 / p99",
             f"{_f(p50, '.1f')} / {_f(b['setup_p99_ms'], '.1f', ' ms')}", target],
            [name, "pods reachable (from a pod and from each node)",
             f"{b['reached']}/{b['probed']}", "all"]]


def _kproxy(b: dict) -> list[list[str]]:
    out = []
    targets = b.get("targets", {})
    full_t = targets.get("nftables_full_sync", {})
    for mode, data in b.get("sync", {}).items():
        for n, run in data["full"].items():
            t = full_t.get(n) if mode == "nftables" else None
            target = f"≤ {t['target_ms']:.0f} ms: {t['status']}" if t else ""
            if "error" in run:
                out.append(["kproxy", f"{mode}: full sync, {n} services",
                            f"FAILED: {run['error']}", target])
                continue
            out.append(["kproxy", f"{mode}: full sync, {n} services",
                        f"{run['sync_ms']:.0f} ms (render {run['render_ms']:.0f} + apply "
                        f"{run['apply_ms']:.0f}; {run['ms_per_1000']:.0f} ms per 1000)",
                        target])
        if data["fitted_ms_per_1000_services"] is not None:
            out.append(["kproxy", f"{mode}: growth (least-squares slope)",
                        f"{data['fitted_ms_per_1000_services']:.0f} ms per 1000 services", ""])
        inc = data.get("incremental")
        if inc:
            t = targets.get("nftables_incremental") if mode == "nftables" else None
            target = f"≤ {t['target_ms']:.0f} ms: {t['status']}" if t else ""
            value = (f"FAILED: {inc['error']}" if "error" in inc else
                     f"{inc['sync_ms']:.0f} ms (partial sync: full render, only changes applied)")
            out.append(["kproxy", f"{mode}: add 1 service with {inc['present']} present",
                        value, target])
    for mode, data in b.get("datapath", {}).items():
        if "error" in data:
            out.append(["kproxy", f"{mode}: data path", f"FAILED: {data['error']}", ""])
            continue
        d = data["direct"]
        out.append(["kproxy", f"{mode}: TCP connect direct (no rules)",
                    f"p50 {d['p50_ms']:.3f} ms, p99 {d['p99_ms']:.3f} ms", ""])
        for others in data["others"]:
            r = data[str(others)]
            pos = f", probe rule {r['probe_rule_position']}" if "probe_rule_position" in r \
                else ""
            out.append(["kproxy", f"{mode}: TCP connect via ClusterIP, {others} others",
                        f"p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms{pos}", ""])
        t = targets.get("nftables_datapath_ratio") if mode == "nftables" else None
        target = f"≤ {t['target']}: {t['status']}" if t else ""
        out.append(["kproxy", f"{mode}: connect p50 ratio {data['others'][1]} / "
                    f"{data['others'][0]} services", _f(data["ratio_p50"], ".2f", "×"), target])
    return out


DNS_CLIENTS = {"dns_from_pod": "DNS from a pod to kube-dns (ClusterIP, across nodes)",
               "dns_from_pod_same_node": "DNS from a pod on the DNS pod's node (ClusterIP)",
               "dns_from_node": "DNS from the DNS pod's node to its pod IP"}


def _dns(b: dict) -> list[list[str]]:
    out = []
    if "guestbook_ready_s" in b:
        out.append(["dns", "apply to ready endpoints: guestbook (6 pods, 3 services)",
                    _f(b["guestbook_ready_s"], ".2f", " s"), ""])
    if "deployment_ready_s" in b:
        out.append(["dns", f"apply to ready endpoints: {b.get('replicas', '?')}-pod "
                    "Deployment", _f(b["deployment_ready_s"], ".2f", " s"), ""])
    for key, what in DNS_CLIENTS.items():
        r = b.get(key)
        if r is None:
            continue
        if r.get("status") != "ok":
            out.append(["dns", what, f"FAILED: {r.get('error', 'no result')}", ""])
            continue
        out.append(["dns", what, f"{r['qps']:.0f} q/s ({r['answered']} answered, "
                    f"{r.get('errors', 0)} errors), p50 {_f(r.get('p50_ms'), '.2f')} ms, "
                    f"p99 {_f(r.get('p99_ms'), '.2f')} ms", ""])
    if b.get("dns_pod_vs_node_qps_ratio") is not None:
        out.append(["dns", "q/s from a pod over q/s from the node",
                    f"{b['dns_pod_vs_node_qps_ratio']:.2f}×", ""])
    return out


def bench_rows(doc: dict) -> list[list[str]]:
    body = []
    for name, b in doc["benchmarks"].items():
        bad = _not_ok(name, b)
        if bad:
            body.append(bad)
        elif name == "bringup":
            body += _bringup(b)
        elif name.startswith("pods-"):
            body += _pods(name, b)
        elif name == "kproxy":
            body += _kproxy(b)
        elif name == "dns":
            body += _dns(b)
    return body


def bench_table(doc: dict) -> str:
    return text_table(HEAD, bench_rows(doc))


def report_md(doc: dict, charts: list[Path]) -> str:
    m = doc["machine"]
    v = m["versions"]
    lines = ["# k8snet bench report", "",
             f"Run {doc['started']}, wall time " + _f(doc['wall_s'], ".0f", " s")
             + (" — **interrupted, partial results**" if doc["interrupted"] else "") + ".", "",
             f"- CPU: {m['cpu_model']}, {m['nproc']} cores; kernel {m['kernel']}; {m['os']}",
             f"- {v['ovs-vswitchd']}; {v['nft']}; {v['iptables']}; Python {v['python']}; "
             f"k8snet {v['k8snet']}", "",
             markdown_table(HEAD, bench_rows(doc)), ""]
    if charts:
        lines += ["## Charts", ""] + [f"![{p.stem}]({p.name})" for p in charts] + [""]
    lines += ["Leftovers after the run: "
              + (", ".join(doc["leftovers"]) if doc["leftovers"] else "none") + ".", ""]
    return "\n".join(lines)


def charts(doc: dict, out: Path) -> list[Path]:
    from k8snet.perf.charts import plt, save

    written = []
    pods = {k: b for k, b in doc["benchmarks"].items()
            if k.startswith("pods-") and b["status"] == "ok"}
    if pods:
        fig, ax = plt.subplots(figsize=(7, 4))
        for b in pods.values():
            values = sorted(b["setup_ms"])
            ax.plot(values, [(i + 1) / len(values) for i in range(len(values))],
                    drawstyle="steps-post", label=f"{b['pods']} pods on {b['nodes']} nodes")
        ax.set_xlabel("per-pod set-up time, ms (namespace, veth, address, routes, process)")
        ax.set_ylabel("fraction of pods")
        ax.set_title("Pod set-up time (cumulative)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        written.append(save(fig, out / "pod_setup.png"))
    kp = doc["benchmarks"].get("kproxy")
    if kp and kp["status"] == "ok" and kp.get("sync"):
        fig, ax = plt.subplots(figsize=(7, 4))
        for mode, data in kp["sync"].items():
            ok = [(int(n), r) for n, r in data["full"].items() if "sync_ms" in r]
            xs = [n for n, _ in ok]
            ax.plot(xs, [r["sync_ms"] for _, r in ok], marker="o", label=f"{mode}: full sync")
            ax.plot(xs, [r["render_ms"] for _, r in ok], linestyle="--", marker=".",
                    label=f"{mode}: render only")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("services (2 endpoints each)")
        ax.set_ylabel("ms")
        ax.set_title("kproxy sync time as services grow", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        written.append(save(fig, out / "kproxy_sync.png"))
    return written


def write_bench(doc: dict, out: Path) -> list[Path]:
    """results.json, charts and report.md into ``out``; returns what was written."""
    return write_outputs(doc, out, schema.validate_bench(doc), charts, report_md)
