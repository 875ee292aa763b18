"""The path matrix and the run plan: what is measured where, and how many steps."""
from __future__ import annotations

import pytest

from k8snet.perf import baselines, paths, runner
from k8snet.perf.runner import Config, plan


def _jobs(phases, mode: str, topo: str = paths.SINGLE) -> dict[str, tuple[str, ...]]:
    for phase in phases:
        if phase.kind == "cluster" and phase.mode == mode and phase.topo == topo:
            return {j.path.id: j.kinds for j in phase.jobs}
    return {}


def test_the_matrix_covers_every_path_the_issue_names() -> None:
    ids = {p.id for p in paths.PATHS}
    for needed in ("pod-pod-same-node", "pod-pod-cross-node", "pod-pod-cross-leaf",
                   "pod-clusterip", "ext-nodeport", "ext-lb-cluster", "ext-lb-local",
                   "pod-ext-snat", "node-pod", "pod-localhost", "pod-pod-shaped"):
        assert needed in ids
    for p in paths.PATHS:
        if p.reference:
            assert p.reference in paths.BY_ID
            assert paths.BY_ID[p.reference].topo == p.topo
        if p.baseline:
            assert p.baseline in paths.BASELINE_ORDER


def test_every_target_names_a_real_path_and_anchor() -> None:
    for t in paths.TARGETS:
        assert t.path in paths.BY_ID
        assert t.why
        if t.against:
            kind, _, ident = t.against.partition(":")
            assert (ident in paths.BASELINE_ORDER) if kind == "baseline" else \
                (ident in paths.BY_ID)
        else:
            assert t.max_gbps is not None


def test_default_plan_baselines_then_clusters() -> None:
    phases = plan(Config(), ["nftables", "iptables"])
    assert phases[0].kind == "baselines"
    assert [j.baseline for j in phases[0].jobs] == list(paths.BASELINE_ORDER)
    clusters = [(p.topo, p.mode) for p in phases[1:]]
    assert clusters == [("single", "nftables"), ("leafspine", "nftables"),
                        ("shaped", "nftables"), ("single", "iptables")]


def test_the_first_mode_measures_everything_the_second_only_kproxy_paths() -> None:
    phases = plan(Config(), ["nftables", "iptables"])
    nft, ipt = _jobs(phases, "nftables"), _jobs(phases, "iptables")
    assert nft["pod-pod-same-node"] == paths.FULL
    assert nft["pod-clusterip"] == paths.NO_PING
    assert "pod-pod-same-node" not in ipt and "node-pod" not in ipt
    assert ipt["pod-clusterip"] == paths.NO_PING
    assert ipt["ext-nodeport"] == paths.NO_PING
    # Re-measured in iptables only as the ClusterIP's reference: throughput only.
    assert ipt["pod-pod-cross-node"] == paths.REF
    assert ipt["ext-pod-direct"] == paths.REF
    assert not _jobs(phases, "iptables", paths.LEAFSPINE)


def test_only_pulls_in_references_and_their_baselines() -> None:
    phases = plan(Config(only=("pod-clusterip",)), ["nftables"])
    # The cross-node reference carries two targets: bare OVS, and OVS in its layout.
    assert [j.baseline for j in phases[0].jobs] == ["ovs-netdev", "ovs-fabric-single"]
    assert set(_jobs(phases, "nftables")) == {"pod-clusterip", "pod-pod-cross-node"}
    assert len(phases) == 2


def test_layout_baselines_measure_only_what_their_targets_compare() -> None:
    phases = plan(Config(only=("pod-pod-cross-leaf",), target_repeat=3), ["nftables"])
    jobs = {j.baseline: j for j in phases[0].jobs}
    assert list(jobs) == ["ovs-netdev", "ovs-fabric-leafspine"]
    assert jobs["ovs-fabric-leafspine"].counts() == {"tcp1": 3}
    assert jobs["ovs-netdev"].counts()["ping"] == 1


def test_topology_and_shaping_switches() -> None:
    phases = plan(Config(topos=("single",), shaping=False), ["nftables"])
    assert [p.topo for p in phases if p.kind == "cluster"] == ["single"]
    phases = plan(Config(only=("pod-pod-cross-leaf",), topos=("single",)), ["nftables"])
    assert phases == []


def test_step_count_matches_the_jobs() -> None:
    phases = plan(Config(target_repeat=1), ["nftables", "iptables"])
    steps = sum(p.steps for p in phases)
    paired = sum(2 * j.pair_rounds * len(j.pairs) for p in phases for j in p.jobs)
    assert steps == sum(len(j.kinds) for p in phases for j in p.jobs) + paired
    assert steps > 80  # the whole matrix, both modes


def test_every_ratio_target_is_measured_again_in_pairs_in_its_cluster() -> None:
    phases = plan(Config(target_repeat=3), ["nftables", "iptables"])
    pairs = {(p.mode, p.topo, j.path.id): (j.pairs, j.pair_rounds)
             for p in phases if p.kind == "cluster" for j in p.jobs if j.pairs}
    refs = {"pod-clusterip": ("path:pod-pod-cross-node",),
            "ext-nodeport": ("path:ext-pod-direct",), "pod-ext-snat": ("path:pod-ext-nosnat",)}
    assert pairs == {
        ("nftables", paths.SINGLE, "pod-pod-same-node"): (("baseline:linux-bridge",), 4),
        ("nftables", paths.SINGLE, "pod-pod-cross-node"): (
            ("baseline:ovs-netdev", "baseline:ovs-fabric-single"), 4),
        ("nftables", paths.LEAFSPINE, "pod-pod-cross-leaf"): (
            ("baseline:ovs-netdev", "baseline:ovs-fabric-leafspine"), 4),
        # a reference path alternates with its path in the same cluster, in each mode
        **{(mode, paths.SINGLE, pid): (against, 4) for mode in ("nftables", "iptables")
           for pid, against in refs.items()}}
    # an even number of pairs, so the order anchor, path, path, anchor balances
    assert {j.pair_rounds for p in plan(Config(target_repeat=4), ["nftables"])
            for j in p.jobs if j.pairs} == {4}
    # a path measured only to anchor another mode's ratio is not judged: no pairs
    assert not [j for p in phases if p.mode == "iptables" for j in p.jobs
                if j.pairs and not j.path.proxy]


def test_target_paths_and_anchors_get_more_tcp1_runs() -> None:
    phases = plan(Config(target_repeat=3, only=("pod-clusterip",)), ["nftables"])
    base = phases[0].jobs[0]
    assert base.baseline == "ovs-netdev" and base.counts()["tcp1"] == 3
    assert base.counts()["ping"] == 1
    jobs = {j.path.id: j.counts() for j in phases[1].jobs}
    assert jobs["pod-clusterip"] == {"tcp1": 3, "tcp4": 1, "udp": 1, "connect": 1}
    assert jobs["pod-pod-cross-node"]["tcp1"] == 3
    # + 4 pairs of runs of cross-node with each of its two baselines, beside the
    # cluster, and of ClusterIP with cross-node, its reference
    assert phases[0].steps + phases[1].steps == 7 + 3 + 7 + 6 + 2 * 4 * 2 + 2 * 4
    # --repeat above --target-repeat wins; node -> pod has no target: no extra runs.
    phases = plan(Config(repeat=4, target_repeat=3, only=("node-pod",)), ["nftables"])
    assert phases[1].jobs[0].counts() == {k: 4 for k in paths.FULL}


def test_unknown_path_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown path"):
        paths.selected(["pod-to-mars"])


def test_the_progress_counter_ends_each_phase_at_its_planned_steps(monkeypatch) -> None:
    """A cluster that never started (its paths skipped, its pairs never taken)
    still advances the counter by the phase's planned steps."""
    monkeypatch.setattr(baselines, "teardown", lambda: None)
    monkeypatch.setattr(runner.Runner, "_cluster", lambda self, phase: None)
    phases = [p for p in plan(Config(only=("pod-pod-cross-node",)), ["nftables"])
              if p.kind == "cluster"]
    assert phases[0].steps > 2 * 4 * 2          # its own runs and 2 x 4 pairs
    run = runner.Runner(Config(), say=lambda *a, **k: None)
    run.run(phases)
    assert run.done == run.total == phases[0].steps
