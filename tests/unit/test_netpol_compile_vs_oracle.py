"""The compiled nftables sets agree with the oracle on every case, cell by cell.

Every upstream case and every generated case is compiled for each node of
the model, the sets' nft text is parsed back and each connection of each
probe is traced through them (``netpol_tracer``); the verdict must be the
oracle's.  The live lab then only has to show that the kernel does what
the sets say (tests/integration/test_netpol.py).
"""
from __future__ import annotations

import copy

import pytest

from k8snet.netpol import generator, nft
from k8snet.netpol.cases import load, model_pod_keys, with_pod_ips
from k8snet.netpol.compile import Compiler
from k8snet.netpol.modelsnap import model_snapshot
from k8snet.netpol.oracle import truth_table
from k8snet.netpol.snapshot import Snapshot
from tests.unit.netpol_tracer import NodeTable, forwarded
from tests.unit.test_netpol_upstream import UPSTREAM

NODES = ["node1", "node2"]
PODS = model_pod_keys()
CASES = load(UPSTREAM) + generator.generate()
IPS = {p.key: p.ip for p in model_snapshot().pods}


def states(case):
    policies: dict[str, dict] = {}
    pod_labels: dict[str, dict] = {}
    ns_labels: dict[str, dict] = {}
    for step in case.steps:
        for pol in with_pod_ips(step, IPS).policies:
            meta = pol["metadata"]
            policies[f"{meta['namespace']}/{meta['name']}"] = copy.deepcopy(pol)
        for key in step.delete_policies:
            policies.pop(key, None)
        pod_labels.update({k: dict(v) for k, v in step.pod_labels.items()})
        ns_labels.update({k: dict(v) for k, v in step.namespace_labels.items()})
        yield step, model_snapshot(pod_labels, ns_labels, policies.values(), NODES)


def traced(snap: Snapshot, tables: dict[str, NodeTable], port, protocol: str) -> dict:
    out = {}
    for s in PODS:
        src = snap.pod(s)
        for d in PODS:
            dst = snap.pod(d)
            number = port if isinstance(port, int) else dst.named_port(port, protocol)
            out[(s, d)] = number is not None and forwarded(
                tables, src.ip, src.node, dst.ip, dst.node, protocol, number)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_compiled_sets_agree_with_the_oracle(case):
    # One compiler per node across the steps: the partial recompiles are tested too.
    compilers = {n: Compiler(n) for n in NODES}
    for n, (step, snap) in enumerate(states(case)):
        tables = {node: NodeTable(_elements(c, snap)) for node, c in compilers.items()}
        for probe in step.probes:
            want = truth_table(snap, PODS, PODS, probe.port, probe.protocol)
            got = traced(snap, tables, probe.port, probe.protocol)
            wrong = [f"{s} -> {d}: oracle {want[s, d]}, sets {got[s, d]}"
                     for s in PODS for d in PODS if want[s, d] != got[s, d]]
            assert not wrong, f"{case.name} step {n} {probe.port}/{probe.protocol}:\n" + \
                "\n".join(wrong[:12])


def _elements(compiler: Compiler, snap: Snapshot) -> nft.State:
    incremental = nft.state(compiler.compile(snap))
    fresh = nft.state(Compiler(compiler.node).compile(snap))
    assert incremental == fresh, "a partial recompile differs from a fresh one"
    return incremental
