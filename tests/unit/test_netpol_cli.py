"""``probe`` and ``netpol cases`` as a new user runs them, without root.

The lab is the e2e model (namespaces x, y, z; pods a, b, c) in a plain Store;
the per-pod prober process is replaced by ``FakeProber``: a kernel without
SCTP (the real prober module answers those targets) whose TCP and UDP
connections do exactly what the oracle says.
"""
from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest

from k8snet.apiserver.store import Store
from k8snet.cli import netpol as cli
from k8snet.errors import K8snetError
from k8snet.netpol import live, model, prober
from k8snet.netpol.live import ProbeOutcome, unsupported_reason
from k8snet.netpol.matrix import Matrix, compare, from_json, render_comparison, to_json
from k8snet.netpol.oracle import truth_table
from k8snet.netpol.snapshot import from_store

REASON = "SCTP is not supported by this kernel (no sctp module)"


class FakeProber:
    """``ip netns exec NETNS python3 -m k8snet.netpol.prober`` where NETNS is the pod key."""

    runs: list[str] = []

    def __init__(self, store: Store, argv: list[str]) -> None:
        self.store, self.src = store, argv[3]
        self.stdin = SimpleNamespace(write=self._request, close=lambda: None)
        self.stdout = self.stderr = io.StringIO("")
        FakeProber.runs.append(self.src)

    def _request(self, text: str) -> None:
        request = json.loads(text)
        targets = request["targets"]
        answer = prober.probe([t for t in targets if t["protocol"] == "SCTP"],
                              request["timeout"])
        snap = from_store(self.store)
        for t in targets:
            if t["protocol"] != "SCTP":
                dst = snap.pod_by_ip(t["ip"]).key
                table = truth_table(snap, [self.src], [dst], t["port"], t["protocol"])
                answer["results"][t["id"]] = {"connected": table[(self.src, dst)],
                                              "error": "", "ms": 0.1}
        self.stdout = io.StringIO(json.dumps(answer))

    def wait(self) -> int:
        return 0


@pytest.fixture
def cluster(monkeypatch):
    store = Store()
    for obj in model.objects():
        store.create(obj)
    for i, pod in enumerate(store.list("Pod")):
        store.mutate("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"],
                     lambda p, i=i: p.update(status={"phase": "Running",
                                                     "podIP": f"10.244.1.{10 + i}"}))
    monkeypatch.setattr(prober, "sctp_supported", lambda: False)
    monkeypatch.setattr(live, "subprocess", SimpleNamespace(
        PIPE=-1, Popen=lambda argv, **_: FakeProber(store, argv)))
    FakeProber.runs = []
    runtime = SimpleNamespace(runtime=lambda pod: SimpleNamespace(
        netns=f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"))
    return SimpleNamespace(store=store, pods=runtime, netpols={})


def run(command, cluster, *words: str) -> tuple[int, str]:
    lines: list[str] = []
    rc = command(cluster, list(words), lines.append)
    return rc, "".join(lines)


# --- 1. a protocol the kernel lacks is not run, neither agreeing nor failing -----------

def test_probe_of_sctp_without_the_module_is_not_run(cluster):
    rc, text = run(cli.probe_command, cluster, "x/a", "x/b", "--protocols", "sctp",
                   "--ports", "80")
    assert rc == 0
    assert "\n4 cells not run (-)\n" in text and "cells agree" not in text
    assert text.count(REASON) == 1
    assert f"- not run: {REASON}" in text
    assert "expected" not in text.replace("expected 80/SCTP", "")   # no discrepancy lines
    assert "x/a  -   -" in text                                     # the observed grid
    assert text.splitlines()[-1] == "*** 1 probes of 2x2 pods: no cell was run; " \
                                    "4 cells not run"


def test_probe_of_tcp_and_sctp_compares_only_tcp(cluster):
    rc, text = run(cli.probe_command, cluster, "-n", "x", "--protocols", "tcp,sctp",
                   "--ports", "80")
    assert rc == 0
    assert "9/9 cells agree\n" in text and "\n9 cells not run (-)\n" in text
    assert text.splitlines()[-1] == ("*** 2 probes of 3x3 pods: the lab agrees with the "
                                     "oracle; 9 cells not run")


def test_probe_json_lists_the_cells_not_run(cluster):
    rc, text = run(cli.probe_command, cluster, "x/a", "x/b", "--protocols", "sctp",
                   "--ports", "80", "-o", "json")
    doc = json.loads(text)["probes"][0]
    assert rc == 0 and doc["discrepancies"] == [] and (doc["agree"], doc["total"]) == (0, 0)
    assert doc["observed"]["x/a"]["x/b"] is None
    assert {"from": "x/a", "to": "x/b", "reason": REASON} in doc["not_run"]
    assert len(doc["not_run"]) == 4


def test_case_of_sctp_without_the_module_is_not_run(cluster):
    rc, text = run(cli.netpol_command, cluster, "cases", "upstream", "default-deny-ingress",
                   "default-deny-ingress-sctp", "default-deny-all", "--via", "pod")
    assert rc == 0
    assert "FAIL" not in text
    assert "skip default-deny-ingress-sctp: SCTP not run\n" in text
    assert "ok   default-deny-ingress\n" in text and "ok   default-deny-all\n" in text
    assert text.splitlines()[-1] == f"*** 2/2 cases agree; 1 not run: {REASON}"


def test_probe_outcome_not_run_has_no_discrepancies():
    table = {("x/a", "x/b"): True}
    outcome = ProbeOutcome(0, 80, "SCTP", table, {("x/a", "x/b"): False}, table,
                           not_run=unsupported_reason("SCTP"))
    assert outcome.discrepancies == []
    assert unsupported_reason("SCTP") == REASON


def test_case_summary_counts_not_run_neither_way():
    assert cli.case_summary(3, 1, {"c": {"SCTP": REASON}}) == \
        f"*** 1/2 cases agree; 1 not run: {REASON}\n"
    assert cli.case_summary(2, 0, {}) == "*** 2/2 cases agree\n"


def test_matrix_cells_not_run_are_marked_and_not_compared():
    pods = ["x/a", "x/b"]
    want = Matrix.from_table(80, "SCTP", {(s, d): True for s in pods for d in pods})
    got = Matrix.from_table(80, "SCTP", {(s, d): False for s in pods for d in pods},
                            not_run={("x/a", "x/b"): "why", ("x/b", "x/b"): "why",
                                     ("q/q", "x/a"): "outside"})
    assert got.not_run == {("x/a", "x/b"): "why", ("x/b", "x/b"): "why"}
    assert got.get("x/a", "x/b") is None
    c = compare(want, got)
    assert (c.agree, c.total, c.not_run, c.reasons) == (0, 2, 2, ["why"])
    assert len(c.discrepancies) == 2
    text = render_comparison(want, got)
    assert "0/2 cells agree; 2 not run (-)\n- not run: why\n" in text
    back, expected = from_json(to_json([got], [c]))[0]
    assert back == got and expected == want


# --- 2. a port name no pod declares ----------------------------------------------------

def test_probe_of_a_port_name_nobody_declares_is_an_error(cluster):
    with pytest.raises(K8snetError) as err:
        run(cli.probe_command, cluster, "-n", "x", "--ports", "http")
    assert str(err.value) == ('error: probe: no pod in namespace x declares a port named '
                              '"http" (declared: serve-80-tcp, serve-80-udp, serve-81-tcp, '
                              'serve-81-udp)')
    assert FakeProber.runs == []


def test_port_name_errors_say_where_and_which_protocol(cluster):
    keys = ["x/a", "y/b"]
    with pytest.raises(K8snetError, match=r'^error: probe: none of the pods x/a, y/b declares '
                                          r'a port named "serve-80-tcp" with protocol UDP'):
        cli.check_port_names(cluster.store, keys, [("serve-80-tcp", "UDP")], True, True)
    with pytest.raises(K8snetError, match="no pod in namespaces x, y declares"):
        cli.check_port_names(cluster.store, keys, [(80, "TCP"), ("h", "TCP")], False, False)
    cli.check_port_names(cluster.store, keys, [("serve-80-udp", "UDP"), (80, "SCTP")],
                         False, True)
    # declared for UDP only, probed as TCP (no --protocols): say so and how
    with pytest.raises(K8snetError, match=r'a port named "serve-80-udp" with protocol TCP '
                                          r'\(declared: .*; it is declared for UDP: add '
                                          r'--protocols udp\)$'):
        cli.check_port_names(cluster.store, keys, [("serve-80-udp", "TCP")], False, False)


# --- 3, 4. missing pods and namespaces, in the API server's words, all at once --------

def test_probe_of_a_pod_in_a_missing_namespace(cluster):
    with pytest.raises(K8snetError) as err:
        run(cli.probe_command, cluster, "nosuch/pod")
    assert str(err.value) == 'Error from server (NotFound): namespaces "nosuch" not found'
    assert FakeProber.runs == []


def test_probe_names_every_missing_pod_and_namespace(cluster):
    with pytest.raises(K8snetError) as err:
        run(cli.probe_command, cluster, "x/a", "x/nopod", "nosuch/p", "nosuch/q", "y/zz",
            "--ports", "80")
    assert str(err.value).splitlines() == [
        'Error from server (NotFound): pods "nopod" not found in namespace "x"',
        'Error from server (NotFound): namespaces "nosuch" not found',
        'Error from server (NotFound): pods "zz" not found in namespace "y"']


def test_pods_that_cannot_be_probed_say_why(cluster):
    cluster.store.mutate("Pod", "x", "b", lambda p: p["status"].update(podIP=""))
    cluster.store.mutate("Pod", "x", "c", lambda p: p["status"].update(phase="Succeeded"))
    assert cli.pod_problems(cluster.store, ["x/a", "x/b", "x/c"]) == [
        "error: probe: pod x/b has no IP yet", "error: probe: pod x/c has finished (Succeeded)"]
    assert cli.choose_pods(cluster.store, ["a", "b"], ["y"], "") == ["y/a", "y/b"]


def test_probe_of_a_missing_namespace(cluster):
    with pytest.raises(K8snetError) as err:
        run(cli.probe_command, cluster, "-n", "x", "-n", "nosuch", "-n", "gone")
    assert str(err.value).splitlines() == [
        'Error from server (NotFound): namespaces "nosuch" not found',
        'Error from server (NotFound): namespaces "gone" not found']


def test_probe_of_an_empty_namespace_still_says_no_pods(cluster):
    cluster.store.create({"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": "empty"}})
    with pytest.raises(K8snetError, match="no pods to probe in namespace empty"):
        run(cli.probe_command, cluster, "-n", "empty")


# --- 5. unknown case names ----------------------------------------------------------

def test_unknown_case_name_is_an_error_and_runs_nothing(cluster):
    with pytest.raises(K8snetError) as err:
        run(cli.netpol_command, cluster, "cases", "upstream", "nonexistent-case")
    text = str(err.value)
    assert text.startswith('netpol cases: no case named "nonexistent-case" in upstream (')
    assert "known: default-deny-ingress, " in text
    assert FakeProber.runs == []


def test_unknown_case_name_suggests_near_ones(cluster):
    with pytest.raises(K8snetError, match="did you mean default-deny-ingress"):
        run(cli.netpol_command, cluster, "cases", "upstream", "default-deny-all",
            "default-deny-ingres")
    assert FakeProber.runs == []
