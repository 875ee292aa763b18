"""The ``k8snet`` command as a user runs it: tests, scripts, bad input, crashes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from k8snet.cleanup import our_bridges, our_netns

K8SNET = [sys.executable, "-m", "k8snet.main"]


def k8snet(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*K8SNET, *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def assert_nothing_left() -> None:
    assert not our_netns(), f"namespaces left: {our_netns()}"
    assert not our_bridges(), f"bridges left: {our_bridges()}"


def test_leafspine_pingall():
    res = k8snet("run", "--topo", "leafspine", "--test", "pingall")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "*** Results: 0% dropped" in res.stdout + res.stderr
    assert_nothing_left()


def test_script_runs_cli_commands_and_tears_down(tmp_path):
    script = tmp_path / "cmds"
    script.write_text("kubectl get pods -o wide\n"
                      "kubectl get nodes\n"
                      "client ping -c1 -W1 web-2\n"
                      "web-1 curl -s http://203.0.113.10/hostname\n"
                      "nodes\n")
    res = k8snet("run", "--topo", "single", "--script", str(script))
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    assert "READY   STATUS" in out and "NOMINATED NODE" in out
    assert "node1   Ready" in out
    web2 = [line for line in out.splitlines() if line.startswith("web-2 ")][0]
    ip = web2.split()[5]
    # The pod name was replaced by its IP, as Mininet does for hosts.
    assert f"PING {ip} ({ip})" in out and "1 received" in out
    assert "ext" in out  # netexec on ext answered /hostname
    assert_nothing_left()


def _topo(tmp_path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


BAD_INPUTS = {
    "unknown topology": (lambda p: "nosuch", "unknown topology 'nosuch'"),
    "malformed yaml": (lambda p: _topo(p, "name: bad\nnodes: 2\npods:\n  - name: [x\n"),
                       "bad.yaml:5"),
    "pod cidr overlaps service cidr": (
        lambda p: _topo(p, "name: bad\nnodes: 2\nnetwork:\n  podCIDR: 10.96.0.0/16\n"),
        "overlaps serviceCIDR"),
    "duplicate pod": (
        lambda p: _topo(p, "name: bad\nnodes: 2\npods:\n  - {name: a}\n  - {name: a}\n"),
        "duplicate pod default/a"),
    "no nodes": (lambda p: _topo(p, "name: bad\nnodes: 0\n"), "at least one node"),
    "pod cidr exhausted": (
        lambda p: _topo(p, "name: bad\nnodes: 1\nnetwork: {nodeCIDRMaskSize: 30}\n"
                           "pods:\n  - {name: a}\n  - {name: b}\n  - {name: c}\n"),
        "exhausted"),
    "ingress to unknown service": (
        lambda p: _topo(p, "name: bad\nnodes: 1\ningresses:\n  - metadata: {name: i}\n"
                           "    spec: {defaultBackend: {service: {name: nope, port: "
                           "{number: 80}}}}\n"), '"nope" not found'),
    "node port out of range": (
        lambda p: _topo(p, "name: bad\nnodes: 1\nservices:\n  - name: s\n    type: NodePort\n"
                           "    ports: [{port: 80, nodePort: 80}]\n"), "30000-32767"),
    "node port taken": (
        lambda p: _topo(p, "name: bad\nnodes: 1\nservices:\n"
                           "  - {name: a, type: NodePort, ports: [{port: 80, nodePort: 30001}]}\n"
                           "  - {name: b, type: NodePort, ports: [{port: 80, nodePort: 30001}]}\n"),
        "already allocated"),
    "ipvs missing": (lambda p: "single", "IPVS"),
    "netem missing": (
        lambda p: _topo(p, "name: bad\nnodes: 1\nlinks: {delay: 10ms}\n"), "netem"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_error_line_and_leaves_nothing(case, tmp_path):
    make_topo, expected = BAD_INPUTS[case]
    mode = ["--proxy-mode", "ipvs"] if case == "ipvs missing" else []
    res = k8snet("run", "--topo", make_topo(tmp_path), "--test", "none", *mode)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert expected in lines[0]
    assert "Traceback" not in res.stdout + res.stderr
    assert_nothing_left()


def test_make_clean_after_a_crashed_run():
    proc = subprocess.Popen([*K8SNET, "run", "--topo", "single,2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "k8snet>" not in seen and time.monotonic() < deadline:
            chunk = os.read(proc.stdout.fileno(), 4096).decode()
            if not chunk:
                break
            seen += chunk
        assert "k8snet>" in seen, seen
        assert our_netns() and our_bridges()
        os.kill(proc.pid, signal.SIGKILL)   # a crash: no teardown runs
        proc.wait(timeout=10)
        assert our_netns(), "a crash should leave state for make clean"
    finally:
        if proc.poll() is None:
            proc.kill()
    first = k8snet("clean")
    assert first.returncode == 0
    assert_nothing_left()
    assert "k8snet-" not in subprocess.run(["ip", "-o", "link"], capture_output=True,
                                           text=True).stdout
    second = k8snet("clean")
    assert second.returncode == 0 and "removed 0 processes, 0 namespaces" in second.stdout
