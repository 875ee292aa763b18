"""Render a bench results document: printed table, report.md, results.json, PNGs.

Pure rendering; a failed benchmark prints "FAILED: why", a skipped one
"skipped: why", never a number.
"""
from __future__ import annotations

from pathlib import Path

from k8snet.perf import bench_fabric, kproxy_goals, pod_goals, schema
from k8snet.perf.report import markdown_table, text_table, write_outputs

HEAD = ["benchmark", "measurement", "result", "target"]


def _f(value, fmt: str, unit: str = "") -> str:
    return "failed" if value is None else f"{value:{fmt}}{unit}"


def _not_ok(name: str, b: dict) -> list[str] | None:
    if b["status"] == "ok":
        return None
    word = "FAILED" if b["status"] == "failed" else "skipped"
    return [name, "", f"{word}: {b['error']}", ""]


# The run reported in docs/performance.md (before the API store; same kind of 2-core VM,
# another day's host), shown beside ours where it measured the same thing.
EARLIER = {"bringup_up_s": 1.52, "pods-10_setup_p50_ms": 21.7, "pods-200_setup_p50_ms": 17.6,
           "guestbook_ready_s": 0.60, "deployment_ready_s": 8.56,
           "dns_from_pod": 26904, "dns_from_pod_same_node": 62098, "dns_from_node": 62077}


def _earlier(key: str, fmt: str, unit: str = "") -> str:
    value = EARLIER.get(key)
    return "" if value is None else f" (earlier: {value:{fmt}}{unit})"


def _bringup(b: dict) -> list[list[str]]:
    up = _f(b["up_s"], ".2f", " s")
    if b.get("cluster_up_s") is not None and b.get("demo_ready_s") is not None:
        up += (f" = cluster {b['cluster_up_s']:.2f} s + demo Ready "
               f"{b['demo_ready_s']:.2f} s")
    pods = (f"{b['demo_pods']} demo pods + {b['pods'] - b['demo_pods']} system pods"
            if "demo_pods" in b else f"{b['pods']} pods")
    return [["bringup", f"default cluster up ({b['nodes']} nodes, {pods})",
             up + f", teardown {_f(b['down_s'], '.2f', ' s')}" + _earlier("bringup_up_s", ".2f",
                                                                       " s"), ""],
            ["bringup", "first ping across nodes (cold ARP) vs steady",
             f"{_f(b['first_ping_ms'], '.2f', ' ms')} vs {_f(b['steady_ping_ms'], '.2f', ' ms')}",
             ""],
            ["bringup", "flows punting to the controller",
             f"{b['flows_to_controller']} of {b['flows']} flows on tor1", "0"]]


def _pods(name: str, b: dict) -> list[list[str]]:
    return pod_goals.rows(name, b, _earlier(f"{name}_setup_p50_ms", ".1f", " ms"))


def _kproxy(b: dict) -> list[list[str]]:
    return kproxy_goals.rows(b)


DNS_CLIENTS = {"dns_from_pod": "DNS from a pod to kube-dns (ClusterIP, across nodes)",
               "dns_from_pod_same_node": "DNS from a pod on the DNS pod's node (ClusterIP)",
               "dns_from_node": "DNS from the DNS pod's node to its pod IP"}


def _dns(b: dict) -> list[list[str]]:
    out = []
    if "guestbook_ready_s" in b:
        out.append(["dns", "apply to ready endpoints: guestbook (6 pods, 3 services)",
                    _f(b["guestbook_ready_s"], ".2f", " s")
                    + _earlier("guestbook_ready_s", ".2f", " s"), ""])
    if "deployment_ready_s" in b:
        out.append(["dns", f"apply to ready endpoints: {b.get('replicas', '?')}-pod "
                    "Deployment", _f(b["deployment_ready_s"], ".2f", " s")
                    + (_earlier("deployment_ready_s", ".2f", " s")
                       if b.get("replicas") == 100 else ""), ""])
    for key, what in DNS_CLIENTS.items():
        r = b.get(key)
        if r is None:
            continue
        if r.get("status") != "ok":
            out.append(["dns", what, f"FAILED: {r.get('error', 'no result')}", ""])
            continue
        out.append(["dns", what, f"{r['qps']:.0f} q/s ({r['answered']} answered, "
                    f"{r.get('errors', 0)} errors), p50 {_f(r.get('p50_ms'), '.2f')} ms, "
                    f"p99 {_f(r.get('p99_ms'), '.2f')} ms" + _earlier(key, ",.0f", " q/s"), ""])
    if b.get("dns_pod_vs_node_qps_ratio") is not None:
        out.append(["dns", "q/s from a pod over q/s from the node",
                    f"{b['dns_pod_vs_node_qps_ratio']:.2f}×", ""])
    return out


def _ms(summary: dict, fmt: str = ".3f") -> str:
    return (f"p50 {_f(summary.get('p50_ms'), fmt)} ms, p95 {_f(summary.get('p95_ms'), fmt)} "
            f"ms, max {_f(summary.get('max_ms'), fmt)} ms")


def _watch(b: dict) -> list[list[str]]:
    s, burst = b["sequential"], b["burst"]
    return [["watch", f"store write → a controller's reconcile sees it ({s['n']} writes, "
             "one at a time)", _ms(s), ""],
            ["watch", f"burst of {burst['n']} creates → each seen (queueing included)",
             _ms(burst, ".1f") + f"; all seen {_f(burst['all_seen_s'], '.2f', ' s')}", ""]]


def _store_list(b: dict) -> list[list[str]]:
    target = (b.get("targets") or {}).get("list") or {}
    out = []
    for kind in ("ConfigMap", "Pod"):
        r = b.get(kind)
        if not r:
            continue
        t = f"≤ {target['target_ms']:.0f} ms: " + ("met" if r["list_ms"] <= target["target_ms"]
                                                 else "not met") if target else ""
        out.append(["store-list", f"list {r['count']:,} {kind}s",
                    f"{r['list_ms']:.1f} ms (max {r['list_max_ms']:.1f} ms; one namespace "
                    f"{r['list_namespace_ms']:.1f} ms)", t])
        out.append(["store-list", f"create {r['count']:,} {kind}s (admission included)",
                    f"{r['create_per_s']:,.0f} objects/s ({r['create_s']:.2f} s)", ""])
    return out


def _slices(b: dict) -> list[list[str]]:
    w = b["pod_write_to_slice"]
    return [["endpointslices", f"reconcile, 1 Service with {b['pods']:,} pods: first "
             f"({b['slices']} slices) / nothing changed / one pod changed",
             f"{b['first_reconcile_ms']:.1f} / {b['noop_reconcile_ms']:.1f} / "
             f"{b['one_pod_changed_reconcile_ms']:.1f} ms", ""],
            ["endpointslices", "pod Ready flipped → its slice updated (controller running)",
             _ms(w, ".1f"), ""]]


def _met(value: float, target: float, unit: str) -> str:
    return f"≤ {target:g} {unit}: " + ("met" if value <= target else "not met")


def _api(b: dict) -> list[list[str]]:
    t = b["targets"]
    return [["api", f"kubectl get pods -A, {b['pods']:,} pods (wall, kubectl's start "
             "included)", f"{b['get_pods_ms']:.0f} ms (max {b['get_pods_max_ms']:.0f} ms)",
             _met(b["get_pods_ms"], t["get_pods_ms"], "ms")],
            ["api", f"store write → an HTTP watch client ({b['watch']['n']} writes)",
             _ms(b["watch"], ".2f"), _met(b["watch"]["p50_ms"], t["watch_p50_ms"], "ms p50")],
            ["api", f"kubectl apply -f, {b['apply_objects']} objects",
             f"{b['apply_s']:.2f} s", _met(b["apply_s"], t["apply_s"], "s")]]


def _netpol(b: dict) -> list[list[str]]:
    full, one, dp = b["sync"]["full"], b["sync"]["one_changed"], b["datapath"]
    t = b["targets"]
    rows = [["netpol", f"full sync, {b['sync']['policies']:,} policies over "
             f"{b['sync']['pods']} pods ({full['elements']:,} set elements)",
             f"{full['sync_ms']:.0f} ms", _met(full["sync_ms"],
                                               t["full_sync_1000_policies_500_pods"]["target_ms"],
                                               "ms")],
            ["netpol", f"one policy changed with {b['sync']['policies']:,} present (median "
             f"of {len(one['runs_ms'])})", f"{one['sync_ms']:.1f} ms",
             _met(one["sync_ms"], t["one_policy_changed"]["target_ms"], "ms")]]
    if dp.get("ratio_p50") is not None:
        rows.append(["netpol", "connect p50, 1,000 policies selecting the server vs none",
                     f"{dp['ratio_p50']:.2f}x ({dp['1000']['p50_ms']:.3f} / "
                     f"{dp['0']['p50_ms']:.3f} ms)",
                     _met(dp["ratio_p50"], t["datapath_ratio"]["target"], "x")])
    else:
        rows.append(["netpol", "connect p50 data path", "failed", dp.get("error", "")])
    return rows


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
        elif name == "watch":
            body += _watch(b)
        elif name == "store-list":
            body += _store_list(b)
        elif name == "endpointslices":
            body += _slices(b)
        elif name == "api":
            body += _api(b)
        elif name == "netpol":
            body += _netpol(b)
        elif name == "fabric":
            body += bench_fabric.rows(b)
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
        ax.set_xlabel("per-pod set-up time in the kubelet, ms (namespace, veth, address, "
                      "routes, resolver files, processes)")
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
