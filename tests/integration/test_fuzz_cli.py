"""Fuzzing the CLI (hypothesis): no line ends the cluster or shows a traceback.

Lines are drawn from a grammar of the CLI's commands (kubectl, POD CMD,
pingpods, probe, netpol, trace, draw, controller, loss, mtu, node, dnsrace
and Mininet's harmless ones) with arguments from a hostile vocabulary: right
and wrong names, numbers out of range, quotes, shell metacharacters, empty
words.  Commands that run a shell in the root namespace or block (``sh``,
``py``, ``xterm``, ``-f``/``-w``/``-it``) are not drawn; a POD CMD's program
is a harmless one, its arguments anything.

Each line goes to the real ``K8sCLI.onecmd`` of a running cluster.  After
every example: no output line reports a k8snet bug and the CLI's error log
(cli-errors.log) stays empty.  At the end every fault is undone and the demo
Service still answers, every demo pod still exists.  ``make test`` draws a
bounded sample; ``make fuzz`` (FUZZ_FULL=1) many more.
"""
from __future__ import annotations

import os

import pytest
from conftest import in_pod, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8snet.cli import shell

FULL = os.environ.get("FUZZ_FULL") == "1"
FUZZ = settings(max_examples=400 if FULL else 60, deadline=None, derandomize=not FULL,
                database=None, suppress_health_check=list(HealthCheck))

NODES = ["node1", "node2", "node3"]
WORDS = ["", "''", '"', "'", ";", "|", "&&", "$(id)", "`id`", "--", "-", "-n", "-A", "-o",
         "-l", "--bogus", "--timeout=1s", "kube-system", "default", "nosuch", "web",
         "svc/web", "deploy/web", "pod/client", "node1", "node9", "ext", "0", "1", "-1",
         "100", "101", "1500", "575", "9001", "99999999999999999999", "1e3", "abc",
         "down", "up", "status", "stop", "start", "x/a", "a=b", "a in (b", "http://web/",
         "web:80", "10.96.0.10", "999.1.1.1", "10.0.0.0/33", "\\", "%s", "{}", "é", "*"]
KUBECTL = ["get", "describe", "logs", "exec", "label", "annotate", "scale", "rollout",
           "events", "explain", "api-resources", "wait --timeout=1s", "top", "version",
           "auth can-i", "config view", "run", "expose", "create", "set", "cp", "frob"]
LAB = ["pingpods", "probe", "netpol", "trace", "draw", "controller", "loss", "mtu",
       "node", "dnsrace", "nodes", "net", "dump", "links", "ports", "help"]
PROGRAMS = ["echo", "true", "hostname", "cat", "ls", "ip", "getent hosts", "printf"]
BLOCKING = {"-f", "--follow", "-w", "--watch", "-it", "-i", "-t", "--stdin", "--tty",
            "port-forward", "attach", "proxy", "edit", "debug"}


BUGS = ("k8snet bug", "Traceback", "InternalError", "Internal error occurred")


def _line(first: str, args: list[str]) -> str:
    return " ".join([first, *[a for a in args if a not in BLOCKING]])


@st.composite
def lines(draw, pods: list[str]) -> str:
    args = st.lists(st.sampled_from(WORDS + pods + NODES), max_size=5)
    kind = draw(st.sampled_from(["kubectl", "lab", "pod", "lab", "kubectl"]))
    if kind == "kubectl":
        return _line("kubectl " + draw(st.sampled_from(KUBECTL)), draw(args))
    if kind == "lab":
        return _line(draw(st.sampled_from(LAB)), draw(args))
    return _line(f"{draw(st.sampled_from(pods))} {draw(st.sampled_from(PROGRAMS))}",
                 draw(args))


@pytest.fixture(scope="module")
def cli(cluster, tmp_path_factory):
    script = tmp_path_factory.mktemp("fuzz") / "empty.txt"
    script.write_text("")
    with open(os.devnull) as stdin:
        yield shell.K8sCLI(cluster.net, cluster, stdin=stdin, script=str(script))


def _reset(cli) -> None:
    """Undo every fault a line may have made."""
    for line in ["controller start", *[f"loss {n} 0" for n in NODES],
                 *[f"mtu {n} 1500" for n in NODES], *[f"node {n} up" for n in NODES]]:
        cli.onecmd(line)


PODS: list[str] = []


def test_fuzzed_lines_never_end_the_cluster(cluster, cli, monkeypatch, capfd):
    PODS.extend(sorted(p["metadata"]["name"] for p in cluster.store.list("Pod", "default")))
    before = {p["metadata"]["uid"] for p in cluster.store.list("Pod", "default")}
    errors_log = cluster.rundir.path / "cli-errors.log"
    printed: list[str] = []
    monkeypatch.setattr(shell, "output", printed.append)
    seen: list[str] = []

    @FUZZ
    @given(st.lists(lines(PODS), min_size=1, max_size=3))
    def run(batch):
        for line in batch:
            seen.append(line)
            printed.clear()
            assert cli.onecmd(line) in (False, None), f"{line!r} ended the CLI"
            text = "".join(printed) + "".join(capfd.readouterr())   # ours and kubectl's
            for bug in BUGS:
                assert bug not in text, f"{line!r}: {text}"
            assert not errors_log.exists(), f"{line!r}: {errors_log.read_text()}"

    try:
        run()
    finally:
        _reset(cli)
    print(f"{len(seen)} fuzzed CLI lines")
    assert len(seen) >= 25
    ip = cluster.store.get("Service", "default", "web")["spec"]["clusterIP"]
    wait_for(lambda: "web-" in in_pod(cluster, "client",
                                      f"curl -s --max-time 2 http://{ip}/hostname").stdout,
             30, "the web Service answering after the fuzzing")
    after = {p["metadata"]["uid"] for p in cluster.store.list("Pod", "default")}
    assert before <= after, "a fuzzed line deleted a demo pod"
