"""The perf harness itself, on short real runs: schema, ratios, failures, Ctrl-C.

Each run is kept to a few paths and 1-3 s iperf3 runs so the module stays
well under two minutes.
"""
from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from k8snet.cluster import ovs_rx
from k8snet.cluster.cleanup import our_bridges, our_netns
from k8snet.perf import baselines, paths, report, results, schema
from k8snet.perf.routes import Route
from k8snet.perf.runner import Config, Runner

PERF = [sys.executable, "-m", "k8snet.main", "perf"]
PNG = b"\x89PNG\r\n\x1a\n"


def our_processes() -> list[str]:
    """Measurement processes of ours still alive (iperf3, the connect tool)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if words and (Path(words[0]).name == "iperf3" or "k8snet.perf.tcpconnect" in words):
            found.append(" ".join(words))
    return found


def assert_nothing_left() -> None:
    left = [ns for ns in our_netns() if ns.startswith(("k8snet-perf-", "k8snet-bench-"))]
    assert not left, f"namespaces left: {left}"
    assert not our_bridges(), f"OVS bridges left: {our_bridges()}"
    assert not baselines.leftovers(), baselines.leftovers()
    assert not our_processes(), our_processes()


def anchor_entry(doc: dict, against: str) -> dict:
    kind, _, ident = against.partition(":")
    return doc["baselines"][ident] if kind == "baseline" else doc["paths"][ident]


def median_from_samples(entry: dict, kind: str, value: str) -> float | None:
    """Recomputed here from the raw samples, independently of the harness."""
    rec = entry["metrics"].get(kind)
    if rec is None:
        return None
    ok = [s for s in rec["samples"] if s["status"] == "ok"]
    # Runs the hypervisor disturbed (steal) count only when nothing else is there.
    used = [s for s in ok if not s["disturbed"]] or ok
    values = [s["values"][value] for s in used]
    return statistics.median(values) if values else None


def test_short_run_writes_a_consistent_report(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    res = subprocess.run([*PERF, "--duration", "1", "--topo", "single", "--proxy-mode",
                          "nftables", "--no-shaping", "--only", "pod-clusterip",
                          "--out", str(out)], capture_output=True, text=True, timeout=200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # A live progress line for each measurement.
    # 7 + 3 + 7 + 6 runs: ovs baseline, OVS in the single fabric's layout (TCP x1
    # only), cross-node, ClusterIP; TCP x1 three times each; then 2 x 4 pairs of
    # TCP x1 runs of cross-node with each of its two baselines, beside the cluster,
    # and 2 x 4 of ClusterIP with cross-node, its reference.
    assert re.search(r"\[\s*\d+/47\] pod → ClusterIP \[nftables\]\s+TCP x1\s+\.\.\. "
                     r"[\d.]+ Gbit/s", res.stdout), res.stdout
    assert re.search(r"\[\s*\d+/47\] paired: baseline ovs-fabric-single\s+TCP x1\s+\.\.\. "
                     r"[\d.]+ Gbit/s", res.stdout), res.stdout
    assert re.search(r"\[\s*\d+/47\] paired: pod → pod, across nodes\s+TCP x1\s+\.\.\. "
                     r"[\d.]+ Gbit/s", res.stdout), res.stdout
    assert "[47/47]" in res.stdout
    doc = json.loads((out / "results.json").read_text())
    assert schema.validate_perf(doc) == []
    assert doc["machine"]["cpu_model"] != "unknown"
    assert doc["machine"]["versions"]["iperf3"].startswith("iperf 3")
    assert doc["proxy_modes"]["ipvs"]["status"] in ("measured", "not available")
    assert set(doc["paths"]) == {"nftables/single/pod-clusterip",
                                 "nftables/single/pod-pod-cross-node"}
    assert set(doc["baselines"]) == {"ovs-netdev", "ovs-fabric-single"}
    checked = 0
    for entry in [*doc["paths"].values(), *doc["baselines"].values()]:
        for rec in entry["metrics"].values():
            assert rec["status"] == "ok", rec["error"]
            for s in rec["samples"]:
                assert s["disturbed"] == (s["values"].get("steal_pct", 0.0) > 5.0)
    for entry in doc["paths"].values():
        for ratios in entry["ratios"].values():
            other = anchor_entry(doc, ratios["against"])
            for metric, (kind, value) in results.RATIO_METRICS.items():
                mine = median_from_samples(entry, kind, value)
                theirs = median_from_samples(other, kind, value)
                if mine is None or theirs is None:
                    assert ratios[metric] is None
                else:
                    assert ratios[metric] == pytest.approx(mine / theirs)
                    checked += 1
    assert checked >= 4
    targets = {t["id"]: t for t in doc["targets"]}
    assert set(targets) == {"cross-node-vs-ovs", "cross-node-vs-ovs-layout",
                            "clusterip-vs-pod-ip"}
    cross = doc["paths"]["nftables/single/pod-pod-cross-node"]
    cip = doc["paths"]["nftables/single/pod-clusterip"]
    assert set(cross["paired"]) == {"baseline:ovs-netdev", "baseline:ovs-fabric-single"}
    assert set(cip["paired"]) == {"path:pod-pod-cross-node"}
    for tid, entry, against in (
            ("cross-node-vs-ovs", cross, "baseline:ovs-netdev"),
            ("cross-node-vs-ovs-layout", cross, "baseline:ovs-fabric-single"),
            ("clusterip-vs-pod-ip", cip, "path:pod-pod-cross-node")):
        t, rec = targets[tid], entry["paired"][against]
        assert t["status"] in ("met", "not met")
        assert rec["error"] == "" and rec["rounds"] == 4
        runs = [[s["values"]["gbps"] for s in rec[side]["samples"]]
                for side in ("path", "anchor")]
        assert [len(r) for r in runs] == [4, 4] and t["pairs"] == 4
        # judged on each pair's own ratio; the medians' ratio kept beside it
        assert t["pair_ratios"] == pytest.approx(
            [p / a for p, a in zip(*runs, strict=True)], abs=1e-4)
        assert t["ratio"] == pytest.approx(statistics.median(t["pair_ratios"]), abs=1e-4)
        assert t["value"] == pytest.approx(statistics.median(runs[0]))
        assert t["against_value"] == pytest.approx(statistics.median(runs[1]))
        assert t["ratio_of_medians"] == pytest.approx(t["value"] / t["against_value"])
        assert t["unpaired"]["value"] == pytest.approx(median_from_samples(entry, "tcp1", "gbps"))
    md = (out / "report.md").read_text()
    assert "## Targets" in md and "ClusterIP ≥ 0.95× direct pod IP" in md
    for png in ("throughput.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == PNG
    assert doc["leftovers"] == []
    assert_nothing_left()


def test_a_failed_iperf_run_is_recorded_as_failed(tmp_path: Path) -> None:
    runner = Runner(Config(duration=1), say=lambda *a, **k: None)
    runner.total = 3
    entry = results.path_record(paths.BY_ID["pod-pod-same-node"], "nftables")
    with baselines.veth_pair() as pair:
        # The one-off server listens on 5201; the client is sent where nothing listens.
        route = Route(pair.client_ns, pair.server_ns, pair.server_ip, iperf_port=5999,
                      ping_ip=pair.server_ip)
        runner.measure_entry(entry, route, {"tcp1": 1, "udp": 1, "ping": 1}, "forced failure")
        pids = subprocess.run(["ip", "netns", "pids", pair.server_ns], capture_output=True,
                              text=True).stdout.split()
        assert pids == [], "the one-off iperf3 servers must be killed"
    runner.doc["paths"][entry["key"]] = entry
    doc = results.finish(runner.doc)
    for kind in ("tcp1", "udp"):
        rec = entry["metrics"][kind]
        assert rec["status"] == "failed"
        assert "unable to connect" in rec["error"] or "refused" in rec["error"], rec["error"]
        assert rec["summary"] == {}
        assert rec["samples"][0]["values"] == {}
    assert entry["metrics"]["ping"]["status"] == "ok"  # the pair works: only the port is wrong
    target = next(t for t in doc["targets"] if t["id"] == "same-node-vs-bridge")
    assert target["status"] == "failed"
    assert target["value"] is None and target["ratio"] is None
    assert "unable to connect" in target["reason"] or "refused" in target["reason"]
    written = report.write_perf(doc, tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert schema.validate_perf(saved) == []
    assert "gbps" not in json.dumps(saved["paths"][entry["key"]]["metrics"]["tcp1"])
    row = next(line for line in report.perf_table(doc).splitlines()
               if line.startswith("pod → pod, same node"))
    assert row.split()[6] == "failed"
    assert tmp_path / "report.md" in written
    assert_nothing_left()


def _run_and_signal(tmp_path: Path, args: list[str], wait_for: str, sig: int,
                    group: bool) -> tuple[int, str]:
    """Start ``k8snet perf``, send ``sig`` once ``wait_for`` was printed."""
    proc = subprocess.Popen([*PERF, *args, "--out", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: list[str] = []

    def read() -> None:
        for chunk in iter(lambda: proc.stdout.read(1), ""):
            seen.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while wait_for not in "".join(seen) and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    assert wait_for in "".join(seen), "".join(seen)
    time.sleep(0.5)  # inside the measurement
    # Ctrl-C reaches the terminal's whole foreground group; SIGTERM one process.
    (os.killpg if group else os.kill)(proc.pid, sig)
    code = proc.wait(timeout=90)
    reader.join(timeout=5)
    return code, "".join(seen)


def test_ctrl_c_in_a_cluster_leaves_nothing(tmp_path: Path) -> None:
    code, out = _run_and_signal(
        tmp_path, ["--duration", "3", "--topo", "single", "--proxy-mode", "nftables",
                   "--no-shaping", "--only", "node-pod"],
        "] node → pod", signal.SIGINT, group=True)
    assert code == 130, out
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["interrupted"] is True
    assert schema.validate_perf(doc) == []
    assert doc["leftovers"] == [], "teardown itself must leave nothing for the sweep"
    assert_nothing_left()


def test_sigterm_during_baselines_leaves_nothing(tmp_path: Path) -> None:
    code, out = _run_and_signal(
        tmp_path, ["--duration", "3", "--topo", "single", "--proxy-mode", "nftables",
                   "--no-shaping", "--only", "pod-pod-cross-node"],
        "] baseline:", signal.SIGTERM, group=False)
    assert code == 130, out
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["interrupted"] is True
    assert doc["leftovers"] == []
    assert_nothing_left()


def test_short_bench_run_on_the_api_store(tmp_path: Path) -> None:
    """Pods applied as objects: all Running, timed in the kubelet, all reachable;
    the control-plane figures under their own ids."""
    res = subprocess.run([sys.executable, "-m", "k8snet.main", "bench", "--only",
                          "pods,watch,store-list,endpointslices", "--pods", "6",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=150)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert schema.validate_bench(doc) == []
    assert list(doc["benchmarks"]) == ["pods-6", "watch", "store-list", "endpointslices"]
    assert all(b["status"] == "ok" for b in doc["benchmarks"].values()), doc["benchmarks"]
    pods = doc["benchmarks"]["pods-6"]
    assert len(pods["setup_ms"]) == 6 and pods["reached"] == pods["probed"] > 0
    assert 0 < pods["setup_p50_ms"] < pods["create_to_running_p99_ms"] + 1
    assert doc["benchmarks"]["store-list"]["targets"]["list"]["status"] in ("met", "not met")
    assert "list 10,000 Pods" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "pod_setup.png").read_bytes()[:8] == PNG
    assert doc["leftovers"] == []
    assert_nothing_left()


def test_layout_baseline_copies_the_leafspine_shape_and_leaves_nothing() -> None:
    """Bare OVS in the leafspine layout: 4 bridges, the spanning tree's patch
    links, 5 polled veth ports (2 with the namespaces), and it forwards."""
    with baselines.ovs_fabric("leafspine") as pair:
        bridges = [b for b in subprocess.run(["ovs-vsctl", "list-br"], capture_output=True,
                                             text=True, check=True).stdout.split()
                   if b.startswith(baselines.FABRIC_BR)]
        assert sorted(bridges) == ["k8sbf-leaf1", "k8sbf-leaf2", "k8sbf-spine1",
                                   "k8sbf-spine2"]
        ports = {b: subprocess.run(["ovs-vsctl", "list-ports", b], capture_output=True,
                                   text=True, check=True).stdout.split() for b in bridges}
        veths = sorted(p for ps in ports.values() for p in ps if p[-1].isdigit())
        assert len(veths) == 5, ports
        patches = [p for ps in ports.values() for p in ps if not p[-1].isdigit()]
        assert len(patches) == 2 * 3, ports      # 3 links of the 4 close no loop
        ping = subprocess.run(["ip", "netns", "exec", pair.client_ns, "ping", "-c", "2",
                               "-W", "2", "-i", "0.2", pair.server_ip],
                              capture_output=True, text=True, timeout=20)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        # the switch reads each veth port with a 4 MiB buffer, as the cluster's ports
        sizes = ovs_rx.buffers(veths)
        assert sorted(sizes) == veths and all(
            size >= ovs_rx.RX_BUFFER for per_port in sizes.values() for size in per_port), sizes
        assert baselines.leftovers()             # it is there while in use ...
    assert_nothing_left()                        # ... and gone after
