"""The CLI's ``kubectl``: the real kubectl against the lab's API server.

Which lines follow (no time limit, Ctrl-C ends them) and which return (a
bounded time), the lab's ``kubectl run`` shorthand, and the runner itself
with the pinned kubectl against a store served on 127.0.0.1.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from k8snet.apiserver.http import serve
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.cli import kubectl
from k8snet.errors import K8snetError

HAS_KUBECTL = (Path(kubectl.sys.executable).parent / "kubectl").exists()
needs_kubectl = pytest.mark.skipif(not HAS_KUBECTL, reason="no pinned kubectl in the venv")


@pytest.mark.parametrize("line, following", [
    ("get pods", False), ("get pods -w", True), ("-n shop get pods --watch", True),
    ("get pods --watch=false", False), ("logs web-1", False), ("logs -f deploy/web", True),
    ("logs web-1 --follow", True), ("exec web-1 -- ls", False), ("exec -it web-1 -- sh", True),
    ("exec web-1 -i -- sh", True), ("exec web-1 -- tail -f /x", False),
    ("rollout status deploy/web", True), ("rollout status deploy/web --watch=false", False),
    ("rollout restart deploy/web", False), ("wait --for=delete pod/x", True),
    ("attach web-1", True), ("port-forward pod/web-1 8080:8080", True), ("apply -f x", False),
    ("run t --image=busybox -it --rm -- sh", True), ("describe svc web", False),
])
def test_which_lines_follow(line, following):
    words = line.split()
    assert kubectl.follows(words) is following
    assert (kubectl.limit(words) is None) is following


def test_limits_of_returning_lines():
    assert kubectl.limit(["get", "pods"]) == kubectl.TIMEOUT
    assert kubectl.limit(["delete", "ns", "x", "--timeout=5m"]) == 310.0
    assert kubectl.limit(["scale", "deploy/x", "--replicas=2", "--timeout", "90s"]) == 100.0
    assert kubectl.limit(["delete", "pod", "x", "--timeout=1s"]) == kubectl.TIMEOUT
    assert kubectl.limit(["delete", "pod", "x", "--timeout=banana"]) == kubectl.TIMEOUT
    assert kubectl.seconds("1m30s") == 90.0 and kubectl.seconds("500ms") == 0.5
    assert kubectl.seconds("2") == 2.0 and kubectl.seconds("5x") is None


@pytest.mark.parametrize("line, reads", [
    ("apply -f -", True), ("apply --filename=-", True), ("apply -f x.yaml", False),
    ("exec -it p -- sh", True), ("exec p -- sh -c 'cat -'", False), ("edit svc/web", True),
    ("get pods", False), ("attach p", True),
])
def test_only_lines_that_read_input_get_it(line, reads):
    assert kubectl.reads_stdin(line.split()) is reads


def test_verb_skips_global_flags_and_their_values():
    assert kubectl.verb_of(["-n", "shop", "--context", "lab", "get", "pods"]) == (4, "get")
    assert kubectl.verb_of(["--namespace=shop", "logs", "x"]) == (1, "logs")
    assert kubectl.verb_of(["-v", "6"]) == (-1, "")


def test_run_shorthand_becomes_kubectls_own_flags():
    got = kubectl.lab_shorthand("run echo-b --port=5005/UDP --labels=app=udp-echo "
                                "--node=node2 -n udpct".split())
    assert got[:4] == ["run", "echo-b", "--labels=app=udp-echo", "-n"]
    assert "--image=busybox" in got and "--override-type=strategic" in got
    overrides = next(w for w in got if w.startswith("--overrides="))
    assert kubectl.json.loads(overrides.split("=", 1)[1]) == {
        "apiVersion": "v1", "spec": {"nodeName": "node2", "containers": [
            {"name": "echo-b", "ports": [{"containerPort": 5005, "protocol": "UDP"}]}]}}
    assert kubectl.lab_shorthand(["run", "t", "--node", "node1", "--", "sleep", "1"])[-3:] == \
        ["--", "sleep", "1"]
    # Lines kubectl takes as they are stay as they are.
    assert kubectl.lab_shorthand("run t --image=nginx --port=80".split()) is None
    assert kubectl.lab_shorthand(["run"]) is None
    assert kubectl.lab_shorthand("get pods".split()) is None
    assert kubectl.lab_shorthand("run t --overrides={} --node=n".split()) is None
    # A port that is not N/PROTO is left to kubectl (its own error).
    assert "--port=abc" in kubectl.lab_shorthand("run x --port=abc".split())


@pytest.fixture
def lab(tmp_path):
    """(env, store): the real kubectl's environment for a served store."""
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1"},
                  "spec": {"containers": [{"name": "c", "image": "x"}]}})
    with serve(store) as server:
        config = server.write_kubeconfig(tmp_path / "kubeconfig")
        yield kubectl.environment(config, tmp_path / "cache"), store


def _children() -> list[str]:
    """Commands of this process's live children (zombies excluded)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[1] == str(os.getpid()) and fields[0] != "Z":
            found.append(stat.split("(", 1)[1].split(")", 1)[0])
    return found


@needs_kubectl
def test_run_streams_kubectls_output_and_exit_code(lab, tmp_path):
    env, _ = lab
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as o, err.open("w") as e:
        assert kubectl.run(["get", "pods", "-o", "name"], env, print, stdout=o, stderr=e) == 0
        assert kubectl.run(["get", "pod", "nope"], env, print, stdout=o, stderr=e) == 1
    assert out.read_text() == "pod/web-1\n"
    assert err.read_text() == 'Error from server (NotFound): pods "nope" not found\n'
    with err.open("w") as e:
        assert kubectl.run(["get", "pods", "-l", "a in (b"], env, print, stderr=e) == 1
    assert err.read_text() == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label '
        "selector \"a in (b\", field selector \"\": unable to parse requirement: 'a in (b'\n")
    assert (tmp_path / "cache").is_dir()      # the discovery cache goes with the cluster


@needs_kubectl
def test_run_shorthand_creates_the_pod_kubectl_would(lab, tmp_path):
    env, store = lab
    notes: list[str] = []
    with (tmp_path / "out").open("w") as o:
        code = kubectl.run("run echo --port=5005/UDP --node=node2 --labels=app=e".split(), env,
                           notes.append, stdout=o)
    assert code == 0 and (tmp_path / "out").read_text() == "pod/echo created\n"
    assert notes[0].startswith("*** kubectl run echo --labels=app=e --image=busybox ")
    pod = store.get("Pod", "default", "echo")
    assert pod["spec"]["nodeName"] == "node2" and pod["metadata"]["labels"] == {"app": "e"}
    assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 5005,
                                                      "protocol": "UDP"}]


@needs_kubectl
def test_a_returning_line_is_stopped_at_its_limit(tmp_path):
    """A server that accepts and never answers: kubectl would wait for ever."""
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    config = tmp_path / "kubeconfig"
    config.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n"
                      f"- name: c\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\n"
                      "contexts:\n- name: c\n  context: {cluster: c, user: u}\n"
                      "users:\n- name: u\n  user: {}\n")
    env = kubectl.environment(config, tmp_path / "cache")
    try:
        with pytest.raises(K8snetError) as err:
            kubectl.run(["get", "pods"], env, print, timeout=1.0,
                        stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
    finally:
        silent.close()
    assert str(err.value) == "error: kubectl get did not finish in 1s; the lab's CLI stopped it"
    assert "kubectl" not in _children()


@needs_kubectl
def test_ctrl_c_ends_a_watch(lab, tmp_path):
    env, store = lab
    out = tmp_path / "out"

    def later() -> None:
        time.sleep(1.5)
        store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late"},
                      "spec": {"containers": [{"name": "c", "image": "x"}]}})
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGINT)          # what Ctrl-C does to the CLI
    threading.Thread(target=later, daemon=True).start()
    with out.open("w") as o, pytest.raises(KeyboardInterrupt):
        kubectl.run(["get", "pods", "-w"], env, print, stdout=o)
    rows = [line.split()[0] for line in out.read_text().splitlines()]
    assert rows == ["NAME", "web-1", "late"]
    assert "kubectl" not in _children()


@needs_kubectl
def test_completion_is_kubectls(lab):
    env, _ = lab
    assert "pods" in kubectl.complete(["get", "po"], env)
    assert kubectl.complete(["get", "pods", "we"], env) == ["web-1"]
    assert kubectl.complete(["frobnicate", "x"], env) == []


@needs_kubectl
def test_the_clis_kubectl_is_the_real_one(lab, tmp_path, capfd, monkeypatch):
    """``kubectl ...`` typed in the CLI (here from a --script file) runs the
    pinned kubectl with the cluster's kubeconfig; its output streams out."""
    from types import SimpleNamespace

    import k8snet.cli.shell as shell
    env, store = lab
    said: list[str] = []
    monkeypatch.setattr(shell, "output", said.append)       # the CLI's own lines
    cluster = SimpleNamespace(kubeconfig=env["KUBECONFIG"], store=store,
                              rundir=SimpleNamespace(path=tmp_path))
    script = tmp_path / "cmds"
    script.write_text("kubectl get pods -o name\nkubectl get pod nope\n"
                      "kubectl run echo --port=5005/UDP\nkubectl frobnicate\n"
                      "kubectl get pods \"unterminated\n")
    with open(os.devnull) as stdin:
        shell.K8sCLI(SimpleNamespace(), cluster, script=str(script), stdin=stdin)
    out, err = capfd.readouterr()
    assert out.splitlines() == ["pod/web-1", "pod/echo created"]
    assert err.splitlines() == ['Error from server (NotFound): pods "nope" not found',
                                'error: unknown command "frobnicate" for "kubectl"']
    assert said[0].startswith("*** kubectl run echo --image=busybox '--overrides={")
    assert said[1] == "error: cannot parse the command: No closing quotation\n"
    assert store.get("Pod", "default", "echo")["spec"]["containers"][0]["ports"][0][
        "protocol"] == "UDP"
    assert (tmp_path / "kube-cache").is_dir()


def test_no_kubectl_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(kubectl.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(K8snetError, match="kubectl is not installed"):
        kubectl.binary()


def test_a_shell_operator_outside_quotes_makes_it_a_shell_line() -> None:
    assert kubectl.shell_words("get pods | grep web") == ["get", "pods"]
    assert kubectl.shell_words("get pods -o name > /tmp/pods.txt") == ["get", "pods", "-o",
                                                                       "name"]
    assert kubectl.shell_words("explain deployment --recursive|head -20") == [
        "explain", "deployment", "--recursive"]
    assert kubectl.shell_words("get pods; echo done") == ["get", "pods"]
    assert kubectl.shell_words("get pods -o wide") is None
    assert kubectl.shell_words("get pods -o jsonpath='{.items[*].metadata.name}'") is None
    assert kubectl.shell_words("get pods -l 'app in (a|b)'") is None     # quoted
    assert kubectl.shell_words("get pods -l 'a") is None                 # kubectl says why
