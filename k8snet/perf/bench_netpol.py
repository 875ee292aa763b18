"""NetworkPolicy benchmark: the netpol agent's sync time and its data-path cost.

Sync: 1,000 policies over 500 pods, all on the measured node (the worst
case: every pod is local), compiled, rendered and applied as the netpol
agent does, in a fresh ``k8snet-bench-netpol`` namespace; then one policy
changed with the 1,000 present (the partial compile and the element delta).

Data path: a node namespace between a client and a server namespace (as the
kproxy benchmark builds it) with the netpol table; TCP connect time to the
server with no policy and with 1,000 policies selecting the server (the
client allowed by the last), so any per-policy rule walk would show.

Namespaces are created here and always deleted (``make clean`` finds them).
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable

from k8snet.errors import K8snetError
from k8snet.netpol import nft
from k8snet.netpol.compile import Compiler
from k8snet.netpol.snapshot import PodInfo, PodPort, Snapshot, from_objects
from k8snet.node.nftables import NftSession
from k8snet.perf import bench_kproxy as kb
from k8snet.perf import measure

NS_SYNC = "k8snet-bench-netpol"
NODE = "node1"
NAMESPACES = 10
TARGET_FULL_MS = 1000.0
TARGET_ONE_MS = 50.0
TARGET_DATAPATH_RATIO = 1.1
REPEATS = 7

Say = Callable[[str], None]


def _policy(i: int, namespace: str, selector: dict, peer_role: str, port: int) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"p-{i:04d}", "namespace": namespace, "uid": f"u{i}",
                         "resourceVersion": "1"},
            "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": peer_role}},
                                            "namespaceSelector": {}}],
                                  "ports": [{"port": port, "protocol": "TCP"}]}]}}


def workload(pods: int = 500, policies: int = 1000) -> Snapshot:
    """``pods`` pods in 10 namespaces (app=app-<i % 50>, role=r<i % 20>) and
    ``policies`` policies, each selecting one app and allowing one role on one port."""
    spaces = {f"bench-{n}": {"kubernetes.io/metadata.name": f"bench-{n}"}
              for n in range(NAMESPACES)}
    infos = tuple(PodInfo(f"bench-{i % NAMESPACES}", f"pod-{i}",
                          {"app": f"app-{i % 50}", "role": f"r{i % 20}"},
                          f"10.244.{4 + i // 250}.{2 + i % 250}", NODE,
                          (PodPort("http", 8080),)) for i in range(pods))
    pols = tuple(_policy(i, f"bench-{i % NAMESPACES}", {"app": f"app-{i % 50}"},
                         f"r{(i * 7) % 20}", 8000 + i % 100) for i in range(policies))
    return Snapshot(spaces, infos, pols)


def as_objects(snap: Snapshot) -> tuple[list[dict], list[dict], list[dict]]:
    """The snapshot as stored API objects (what the agent lists from the store)."""
    spaces = [{"metadata": {"name": n, "labels": dict(lab)}} for n, lab in
              snap.namespaces.items()]
    pods = [{"metadata": {"name": p.name, "namespace": p.namespace, "labels": dict(p.labels)},
             "spec": {"nodeName": p.node, "containers": [{"name": "c", "ports": [
                 {"name": q.name, "containerPort": q.port, "protocol": q.protocol}
                 for q in p.ports]}]},
             "status": {"phase": "Running", "podIP": p.ip}} for p in snap.pods]
    return spaces, pods, [dict(p) for p in snap.policies]


def _apply(session: NftSession, text: str) -> float:
    t0 = time.perf_counter()
    session.run(text)
    return (time.perf_counter() - t0) * 1e3


def bench_sync(say: Say, pods: int = 500, policies: int = 1000) -> dict:
    snap = workload(pods, policies)
    say(f"netpol: full sync of {policies} policies over {pods} pods (fresh {NS_SYNC})")
    kb.fresh_ns(NS_SYNC)
    session = NftSession(NS_SYNC)
    try:
        compiler = Compiler(NODE)
        t0 = time.perf_counter()
        current = nft.state(compiler.compile(snap))
        compile_ms = (time.perf_counter() - t0) * 1e3
        text = nft.render_full(current)
        apply_ms = _apply(session, text)
        full = {"compile_ms": compile_ms, "apply_ms": apply_ms,
                "sync_ms": compile_ms + apply_ms,
                "elements": current.size()}
        say(f"  -> {full['sync_ms']:.0f} ms (compile {compile_ms:.0f} + apply "
            f"{apply_ms:.0f}), {full['elements']} set elements")
        say(f"netpol: one policy changed with {policies} present, {REPEATS} times "
            "(changed, changed back)")
        spaces, pods_, _ = as_objects(snap)
        runs = []
        for i in range(REPEATS):
            changed = list(copy.deepcopy(snap.policies))
            if i % 2 == 0:
                changed[0]["spec"]["ingress"][0]["ports"][0]["port"] = 7999
            changed[0]["metadata"]["resourceVersion"] = str(2 + i)
            t0 = time.perf_counter()
            after = nft.state(compiler.compile(from_objects(spaces, pods_, changed)))
            delta = nft.render_delta(current, after)
            compile_ms = (time.perf_counter() - t0) * 1e3
            apply_ms = _apply(session, delta)
            current = after
            runs.append({"compile_ms": compile_ms, "apply_ms": apply_ms,
                         "sync_ms": compile_ms + apply_ms, "lines": delta.count("\n"),
                         "pods_recompiled": compiler.last_changed_targets})
        one = dict(sorted(runs, key=lambda r: r["sync_ms"])[len(runs) // 2])
        one["runs_ms"] = [round(r["sync_ms"], 1) for r in runs]
        say(f"  -> median {one['sync_ms']:.1f} ms (compile {one['compile_ms']:.1f} + apply "
            f"{one['apply_ms']:.1f}), {one['lines']} lines; runs {one['runs_ms']}")
        return {"pods": pods, "policies": policies, "full": full, "one_changed": one,
                "backend": session.backend}
    finally:
        session.close()
        kb.delete_ns(NS_SYNC)


def datapath_snapshot(policies: int) -> Snapshot:
    """The bench client and server as pods of one node; ``policies`` policies
    select the server, the last allowing the client."""
    server = PodInfo("bench-0", "server", {"app": "server"}, kb.SRV_IP, NODE,
                     (PodPort("http", kb.SRV_PORT),))
    client = PodInfo("bench-0", "client", {"role": "client"}, kb.CLI_IP, NODE)
    peers = workload(500, 0).pods
    pols = [_policy(i, "bench-0", {"app": "server"}, f"r{i % 20}", kb.SRV_PORT)
            for i in range(policies - 1)]
    if policies:
        pols.append(_policy(policies, "bench-0", {"app": "server"}, "client", kb.SRV_PORT))
    return Snapshot({"bench-0": {"kubernetes.io/metadata.name": "bench-0"}},
                    (server, client, *peers), tuple(pols))


def bench_datapath(say: Say, policies: int = 1000) -> dict:
    res: dict = {"policies": [0, policies]}
    try:
        say(f"netpol data path: building {kb.NS_NODE} / {kb.NS_CLI} / {kb.NS_SRV}")
        kb.build_datapath()
        with measure.connect_server(kb.NS_SRV, kb.SRV_PORT, idle=120):
            session = NftSession(kb.NS_NODE)
            applied = None
            for count in (0, policies):
                current = nft.state(Compiler(NODE).compile(datapath_snapshot(count)))
                text = (nft.render_full(current) if applied is None
                        else nft.render_delta(applied, current))
                session.run(text)
                applied = current
                say(f"netpol data path: {count} policies selecting the server, "
                    f"{kb.CONNECTS} connects")
                run = kb.connects(kb.SRV_IP, kb.SRV_PORT)
                run["elements"] = current.size()
                res[str(count)] = run
                say(f"  -> p50 {run['p50_ms']:.3f} ms, p99 {run['p99_ms']:.3f} ms")
            session.close()
    except (K8snetError, RuntimeError, OSError) as exc:
        res["error"] = str(exc)
        say(f"  -> FAILED: {exc}")
    finally:
        kb.delete_ns(kb.NS_NODE, kb.NS_CLI, kb.NS_SRV)
    none, many = res.get("0", {}), res.get(str(policies), {})
    res["ratio_p50"] = kb._ratio(many.get("p50_ms"), none.get("p50_ms"))
    return res


def run(say: Say) -> dict:
    """The whole NetworkPolicy benchmark, with its targets."""
    res = {"sync": bench_sync(say), "datapath": bench_datapath(say)}
    res["targets"] = {
        "full_sync_1000_policies_500_pods": {
            "target_ms": TARGET_FULL_MS,
            "status": kb.verdict(res["sync"]["full"]["sync_ms"], TARGET_FULL_MS)},
        "one_policy_changed": {
            "target_ms": TARGET_ONE_MS,
            "status": kb.verdict(res["sync"]["one_changed"]["sync_ms"], TARGET_ONE_MS)},
        "datapath_ratio": {"target": TARGET_DATAPATH_RATIO,
                           "status": kb.verdict(res["datapath"]["ratio_p50"],
                                                TARGET_DATAPATH_RATIO)},
    }
    return res
