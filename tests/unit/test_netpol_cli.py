"""``probe`` and ``netpol cases`` as a new user runs them, without root.

The lab is the e2e model (namespaces x, y, z; pods a, b, c) in a plain Store;
the per-pod prober process is replaced by ``FakeProber``: a kernel without
SCTP (the real prober module answers those targets) whose TCP and UDP
connections do exactly what the oracle says: blocked ones are rejected with
ICMP admin-prohibited, allowed ones to a port in ``FakeProber.closed`` are
refused by the pod; the pods of ``FakeProber.leaky`` are reached whatever
the policy says (a broken data path).
"""
from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest

from k8snet.apiserver.store import Store
from k8snet.cli import netpol as cli
from k8snet.errors import K8snetError
from k8snet.netpol import live, matrix, model, prober
from k8snet.netpol.live import ProbeOutcome, unsupported_reason
from k8snet.netpol.matrix import Matrix, compare, from_json, render_comparison, to_json
from k8snet.netpol.oracle import truth_table
from k8snet.netpol.snapshot import from_store

REASON = "SCTP is not supported by this kernel (no sctp module)"


class FakeProber:
    """``ip netns exec NETNS python3 -m k8snet.netpol.prober`` where NETNS is the pod key."""

    runs: list[str] = []
    closed: set[tuple[str, int, str]] = set()      # (pod, port, protocol) nobody serves
    leaky: set[str] = set()                       # pods the policy fails to protect

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
                dst = self._destination(snap, t["ip"])
                table = truth_table(snap, [self.src], [dst], t["port"], t["protocol"])
                reached = table[(self.src, dst)] or dst in FakeProber.leaky
                closed = (dst, t["port"], t["protocol"]) in FakeProber.closed
                answer["results"][t["id"]] = {
                    "connected": reached and not closed,
                    "error": "" if reached and not closed else prober.REFUSED if reached
                    else "administratively prohibited", "ms": 0.1}
        self.stdout = io.StringIO(json.dumps(answer))

    def _destination(self, snap, ip: str) -> str:
        """The pod at ``ip``, or behind the model Service whose ClusterIP it is."""
        info = snap.pod_by_ip(ip)
        if info is not None:
            return info.key
        svc = next(s for s in self.store.list("Service") if s["spec"].get("clusterIP") == ip)
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        return f"{ns}/{name.removeprefix(f's-{ns}-')}"

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
    FakeProber.runs, FakeProber.closed, FakeProber.leaky = [], set(), set()
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


# --- 6. a refused connection reached the pod: not a block -----------------------------
# The lab's policy rejects with ICMP admin-prohibited; a TCP reset or an ICMP port
# unreachable from the pod means the packet got through it and nothing listened.

DENY_INGRESS_X = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                  "metadata": {"name": "deny", "namespace": "x"},
                  "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


def test_probe_of_a_port_nobody_serves_is_refused_not_blocked(cluster):
    FakeProber.closed = {(k, 8080, "TCP") for k in ("x/a", "x/b")}
    rc, text = run(cli.probe_command, cluster, "x/a", "x/b", "--ports", "8080")
    assert rc == 0
    lines = text.splitlines()
    assert lines[0] == ("warning: probe: x/a, x/b declare no port 8080/TCP: nothing may "
                        "listen there (R where the pod refuses)")
    assert "x/a  R   R" in text                                   # the observed grid
    assert "4/4 cells agree; 4 refused (R)" in lines
    assert lines.count(matrix.REFUSED_LEGEND) == 1
    assert "expected allowed, got" not in text and "connection refused" not in text
    assert lines[-1] == ("*** 1 probes of 2x2 pods: the lab agrees with the oracle; "
                         "4 cells refused (reached, not served)")


def test_refused_where_the_policy_blocks_is_a_discrepancy(cluster):
    cluster.store.create(DENY_INGRESS_X)
    FakeProber.closed = {(k, 8080, "TCP") for k in ("x/a", "x/b", "y/a")}
    FakeProber.leaky = {"x/b"}                  # the policy does not hold for x/b
    rc, text = run(cli.probe_command, cluster, "x/a", "x/b", "y/a", "--ports", "8080")
    expected = truth_table(from_store(cluster.store), ["x/a", "x/b", "y/a"], ["x/b"],
                           8080, "TCP")
    blocked = sorted(s for (s, _), ok in expected.items() if not ok)
    assert blocked and rc == len(blocked)
    for src in blocked:
        assert f"{src} -> x/b: expected blocked, got refused: reached the pod" in text
        assert f"  {src} -> x/b: connection refused" in text
    assert "y/a -> x/a" not in text             # blocked by admin-prohibited: agrees
    assert text.splitlines()[-1].startswith(f"*** 1 probes of 3x3 pods: {rc} discrepancies; ")
    # the JSON says which discrepancies were refusals
    rc, text = run(cli.probe_command, cluster, "x/a", "x/b", "y/a", "--ports", "8080",
                   "-o", "json")
    doc = json.loads(text)["probes"][0]
    assert doc["observed"]["y/a"]["x/a"] is False
    assert {"from": blocked[0], "to": "x/b", "expected": False, "observed": True,
            "refused": True} in doc["discrepancies"]
    assert {"from": "y/a", "to": "y/a"} in doc["refused"]
    observed, _ = from_json({"probes": [doc]})[0]
    assert ("y/a", "y/a") in observed.refused and ("y/a", "x/a") not in observed.refused


def test_declared_ports_give_no_warning(cluster):
    rc, text = run(cli.probe_command, cluster, "x/a", "x/b", "--ports", "80")
    assert rc == 0 and "warning" not in text and "refused" not in text
    assert cli.undeclared(cluster.store, ["x/a", "y/b"], 80, "UDP") == []
    assert cli.undeclared(cluster.store, ["x/a", "y/b"], 82, "TCP") == ["x/a", "y/b"]
    assert cli.undeclared(cluster.store, ["x/a"], "serve-80-tcp", "TCP") == []


def test_case_expecting_a_block_fails_on_a_refusal(cluster):
    FakeProber.closed = {("x/a", 80, "TCP")}
    FakeProber.leaky = {"x/a"}
    rc, text = run(cli.netpol_command, cluster, "cases", "upstream", "default-deny-ingress",
                   "--via", "pod")
    assert rc == 1 and "FAIL default-deny-ingress\n" in text
    assert "->x/a expected blocked, got refused: reached the pod" in text


def test_case_expecting_allowed_agrees_with_a_refusal_and_says_so(cluster):
    FakeProber.closed = {("y/b", 80, "TCP")}
    rc, text = run(cli.netpol_command, cluster, "cases", "upstream", "default-deny-ingress",
                   "--via", "pod")
    assert rc == 0 and "ok   default-deny-ingress\n" in text
    assert "     refused (reached the pod, nothing listens): x/a->y/b, " in text


def test_refusal_through_a_service_without_the_pod_is_not_the_pods(cluster):
    store = cluster.store
    store.mutate("Service", "x", "s-x-b", lambda s: s["spec"].update(clusterIP="10.96.0.42"))
    FakeProber.closed = {("x/b", 80, "UDP")}
    lab = cli.lab_of(cluster)
    (table, errors), = lab.probe(["x/a"], ["x/b"], [(80, "UDP")], via="service")
    assert table == {("x/a", "x/b"): False}
    assert errors == {("x/a", "x/b"): "connection refused by the Service, not by x/b: it "
                                      "is no ready endpoint of s-x-b"}
    assert live.refused_cells(errors) == set()
    b_ip = from_store(store).pod("x/b").ip
    store.create({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": "s-x-b-1", "namespace": "x",
                               "labels": {"kubernetes.io/service-name": "s-x-b"}},
                  "addressType": "IPv4",
                  "endpoints": [{"addresses": [b_ip], "conditions": {"ready": True}}],
                  "ports": [{"name": "service-port-udp-80", "port": 80, "protocol": "UDP"}]})
    (table, errors), = lab.probe(["x/a"], ["x/b"], [(80, "UDP")], via="service")
    assert errors == {("x/a", "x/b"): "connection refused"}
    assert live.refused_cells(errors) == {("x/a", "x/b")}
    assert live.reached(table, errors) == {("x/a", "x/b"): True}
