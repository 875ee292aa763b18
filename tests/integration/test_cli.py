"""The ``k8snet`` command as a user runs it: tests, scripts, bad input, crashes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from k8snet.cluster.cleanup import our_bridges, our_etc_netns, our_netns

K8SNET = [sys.executable, "-m", "k8snet.main"]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def k8snet(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*K8SNET, *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def assert_nothing_left() -> None:
    assert not our_netns(), f"namespaces left: {our_netns()}"
    assert not our_bridges(), f"bridges left: {our_bridges()}"
    assert not our_etc_netns(), f"/etc/netns left: {our_etc_netns()}"


def test_leafspine_pingall():
    res = k8snet("run", "--topo", "leafspine", "-f", "examples/demo", "--test", "pingall",
                 cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    # The demo's 6 pods and the 2 system pods, across both leaves: 8 x 7 pod pairs,
    # 8 pods to ext, each node to its pods (8), and the 4 nodes to each other (12).
    assert "*** Results: 0% dropped (84/84 received)" in res.stdout + res.stderr
    assert_nothing_left()


def test_script_runs_cli_commands_and_tears_down(tmp_path):
    script = tmp_path / "cmds"
    script.write_text("kubectl get pods -o wide\n"
                      "kubectl get nodes\n"
                      "client ping -c1 -W1 web-2\n"
                      "web-1 curl -s http://203.0.113.10/hostname\n"
                      "ext curl -s http://203.0.113.10/hostname\n"
                      "sh echo after-ext\n"
                      "nodes\n"
                      "netpol model\n"
                      "x/a echo hi-from-x-a\n")
    res = k8snet("run", "--topo", "single", "-f", "examples/demo", "--script", str(script),
                 cwd=REPO)
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    assert "READY   STATUS" in out and "NOMINATED NODE" in out
    assert "node1   Ready" in out
    web2 = [line for line in out.splitlines() if line.startswith("web-2 ")][0]
    ip = web2.split()[5]
    # The pod name was replaced by its IP, as Mininet does for hosts.
    assert f"PING {ip} ({ip})" in out and "1 received" in out
    assert "ext" in out  # netexec on ext answered /hostname
    # a Mininet host's output without a final newline does not run into the next
    assert out.splitlines().count("ext") == 2 and "after-ext" in out.splitlines(), out[-2000:]
    # README's tour: a pod of namespace x, never Mininet's x (xterm) command
    assert "hi-from-x-a" in out and "KeyError" not in out, out[-2000:]
    assert_nothing_left()


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _topo(tmp_path, text: str) -> str:
    return _write(tmp_path, "bad.yaml", text)


# case: (topology, manifest or None, what the one error line says).  A
# topology is the network only: its mistakes stop the run before anything
# starts.  A manifest is applied once the cluster is up: the API server's
# refusal ends the run, and the cluster is torn down.
BAD_INPUTS = {
    "unknown topology": (lambda p: "nosuch", None, "unknown topology 'nosuch'"),
    "malformed yaml": (lambda p: _topo(p, "name: bad\nnodes: 2\npods:\n  - name: [x\n"),
                       None, "bad.yaml:5"),
    "pod cidr overlaps service cidr": (
        lambda p: _topo(p, "name: bad\nnodes: 2\nnetwork:\n  podCIDR: 10.96.0.0/16\n"),
        None, "overlaps serviceCIDR"),
    "workloads in a topology": (
        lambda p: _topo(p, "name: bad\nnodes: 2\npods:\n  - {name: a}\n"),
        None, "pods: a topology describes the network only"),
    "no nodes": (lambda p: _topo(p, "name: bad\nnodes: 0\n"), None, "at least one node"),
    "node port out of range": (
        lambda p: "single",
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
        "spec: {type: NodePort, ports: [{port: 80, nodePort: 80}]}\n",
        "m.yaml:4: document 1: The Service \"s\" is invalid: spec.ports[0].nodePort: "
        "Invalid value: 80: provided port is not in the valid range. The range of valid "
        "ports is 30000-32767"),
    "node port taken": (
        lambda p: "single",
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
        "spec: {type: NodePort, ports: [{port: 80, nodePort: 30001}]}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
        "spec: {type: NodePort, ports: [{port: 80, nodePort: 30001}]}\n",
        "m.yaml:9: document 2: The Service \"b\" is invalid: spec.ports[0].nodePort: "
        "Invalid value: 30001: provided port is already allocated"),
    "ipvs missing": (lambda p: "single", None, "IPVS"),
    "netem missing": (
        lambda p: _topo(p, "name: bad\nnodes: 1\nlinks: {delay: 10ms}\n"), None, "netem"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_error_line_and_leaves_nothing(case, tmp_path):
    make_topo, manifest, expected = BAD_INPUTS[case]
    mode = ["--proxy-mode", "ipvs"] if case == "ipvs missing" else []
    files = ["-f", _write(tmp_path, "m.yaml", manifest)] if manifest else []
    res = k8snet("run", "--topo", make_topo(tmp_path), *files, "--test", "none", *mode)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    errors = [line for line in lines if line.lower().startswith("error")]
    assert errors == lines[-1:] and lines[-1].startswith("error: "), res.stderr
    assert expected in lines[-1]
    if manifest is None:                 # refused before anything was built
        assert "*** Creating network" not in res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert_nothing_left()


def test_exhausted_pod_cidr_leaves_the_pod_pending_with_the_reason(tmp_path):
    """A /30 per node holds one pod (its gateway takes an address): the
    system pods fill both nodes, and the scheduler says why a third cannot run."""
    topo = _topo(tmp_path, "name: tiny\nnodes: 2\nnetwork: {nodeCIDRMaskSize: 30}\n")
    pod = _write(tmp_path, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: extra}\n"
                 "spec: {containers: [{name: c, image: x}]}\n")
    script = _write(tmp_path, "cmds", f"kubectl apply -f {pod}\n"
                    "kubectl wait --for=condition=PodScheduled=False pod/extra --timeout=10s\n"
                    "kubectl get pods\nkubectl events\n")
    res = k8snet("run", "--topo", topo, "--script", script)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "pod/extra condition met" in out
    assert [line.split()[:3] for line in out.splitlines() if line.startswith("extra ")] == \
        [["extra", "0/1", "Pending"]]
    assert "FailedScheduling" in out and "0/2 nodes are available: 2 Too many pods." in out
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
        assert our_etc_netns(), "pods' resolver files are left too"
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
    assert not our_processes(), our_processes()


def our_processes() -> list[str]:
    """Command lines of k8snet's servers still running (DNS, netexec, the
    ingress controller's nginx runner, the fabric controller)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmd for m in ("-m k8snet.addons.dns", "-m k8snet.node.netexec",
                                  "-m k8snet.addons.ingress_runner", "controllers.run")):
            found.append(f"{pid}: {cmd}")
    return found


def test_run_with_manifests_and_kubectl_workload_commands(tmp_path):
    """``k8snet run -f DIR --script``: the examples apply, then scale, rollout,
    get and delete work through the CLI as a user types them (kubectl
    returns at once; ``rollout status`` and ``wait`` wait, as in Kubernetes)."""
    script = tmp_path / "cmds"
    script.write_text("kubectl get deploy -n shop\n"
                      "kubectl get sts,ds -n shop\n"
                      "kubectl get statefulsets -n shop\n"
                      "kubectl get daemonsets -n shop\n"
                      "kubectl scale deploy api --replicas=3 -n shop\n"
                      "kubectl rollout restart deployment/frontend -n shop\n"
                      "kubectl rollout status deployment/api -n shop\n"
                      "kubectl rollout status deployment/frontend -n shop\n"
                      "kubectl get deployments -n shop\n"
                      "kubectl get ns\n"
                      "kubectl delete -f examples/three-tier/40-node-agent.yaml\n"
                      "kubectl wait --for=delete pod -l app=node-agent -n shop --timeout=30s\n"
                      "kubectl get pods -n shop\n")
    res = k8snet("run", "--topo", "single", "-f", "examples/three-tier", "--script",
                 str(script), timeout=300, cwd=REPO)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "error" not in out.lower(), out
    assert "namespace/shop created" in out
    assert "statefulset.apps/db created" in out and "daemonset.apps/node-agent created" in out
    assert "deployment.apps/api scaled" in out
    assert "deployment.apps/frontend restarted" in out
    assert 'deployment "api" successfully rolled out' in out
    assert 'deployment "frontend" successfully rolled out' in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["api"][1:4] == ["3/3", "3", "3"]
    assert lines["frontend"][1:4] == ["3/3", "3", "3"]
    assert lines["db"][1] == "2/2"
    assert lines["node-agent"][1:4] == ["3", "3", "3"]
    assert "shop" in lines and lines["shop"][1] == "Active"
    assert 'daemonset.apps "node-agent" deleted' in out
    pods_listing = out[out.rindex("NAME   "):]
    assert "node-agent-" not in pods_listing and "db-1 " in pods_listing
    assert_nothing_left()


def test_run_with_a_bad_manifest_fails_and_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
                   "spec:\n  replicas: -1\n  selector: {matchLabels: {a: b}}\n"
                   "  template: {metadata: {labels: {a: b}}, spec: {containers: "
                   "[{name: c, image: x}]}}\n")
    t0 = time.monotonic()
    res = k8snet("run", "--topo", "single", "-f", str(bad), "--test", "none")
    assert res.returncode == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.stderr
    assert f'{bad}:5: document 1: The Deployment.apps "x" is invalid: spec.replicas: ' \
        "Invalid value: -1: must be greater than or equal to 0" in errors[0]
    assert time.monotonic() - t0 < 10
    assert_nothing_left()


def _start_script(tmp_path, lines: str) -> tuple[subprocess.Popen, list[str]]:
    """``k8snet run --script`` with ``lines``, in a process group of its own;
    its output lines collect in the list as they come."""
    script = tmp_path / "cmds"
    script.write_text(lines)
    proc = subprocess.Popen([*K8SNET, "run", "--topo", "single", "--script", str(script)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            start_new_session=True)
    seen: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            seen.append(line)

    threading.Thread(target=read, daemon=True).start()
    return proc, seen


def _wait_seen(seen: list[str], text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(text in line for line in seen), "".join(seen)[-3000:]


def _group_left(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_ends_a_script_blocked_on_a_following_line(tmp_path):
    """A script line that never ends (``kubectl get pods -w``): SIGTERM to
    k8snet alone stops it, skips the script's other lines and tears the
    cluster down; nothing of the run's process group is left."""
    proc, seen = _start_script(tmp_path, "kubectl get pods -A -w\nsh echo never-run\n")
    try:
        _wait_seen(seen, "NAMESPACE")                 # kubectl -w is watching
        time.sleep(1)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=90) == 143, "".join(seen)[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = "".join(seen)
    assert "never-run" not in out and "Interrupt" not in out, out[-3000:]
    assert "SIGTERM: the run ends" in out, out[-3000:]
    assert_nothing_left()
    deadline = time.monotonic() + 5
    while _group_left(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_left(proc.pid), "kubectl -w left running"


def test_make_clean_stops_an_sh_line_after_a_crash(tmp_path):
    """``sh sleep 200`` runs in a process group of its own, written down in
    the run directory: after ``kill -9`` of k8snet, make clean stops it,
    the shell and its ``sleep`` both."""
    proc, seen = _start_script(tmp_path, "sh echo sh-started; sleep 200\n")
    try:
        _wait_seen(seen, "sh-started")
        leader = None
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().split(b"\0")
            except OSError:
                continue
            if cmd[:1] == [b"timeout"] and b"echo sh-started; sleep 200" in cmd:
                leader = int(pid)
        assert leader is not None and os.getsid(leader) == leader
        os.kill(proc.pid, signal.SIGKILL)   # a crash: no teardown runs
        proc.wait(timeout=10)
        assert _group_left(leader)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    res = k8snet("clean")
    assert res.returncode == 0, res.stdout + res.stderr
    assert_nothing_left()
    deadline = time.monotonic() + 5
    while _group_left(leader) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_left(leader), "sh sleep 200 left running"


def test_a_daemon_started_in_a_node_goes_with_the_cluster(tmp_path):
    """Processes left in the hosts' namespaces (a daemonized iperf3 in a node,
    a background job of a node command) are stopped with the cluster: once
    the namespaces' names are gone, nothing else could find them."""
    marker = "3017"
    script = tmp_path / "cmds"
    script.write_text(f"sh ip netns exec k8snet-single-node2 sh -c 'sleep {marker} &'\n"
                      f"node1 sh -c 'sleep {marker}1 &'\n"
                      f"sh pgrep -c -f '^sleep {marker}'\n")
    done = subprocess.run([*K8SNET, "run", "--topo", "single", "--script", str(script)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2" in done.stdout.split()                     # both ran while the cluster did
    left = subprocess.run(["pgrep", "-f", f"^sleep {marker}"], capture_output=True, text=True)
    assert left.stdout == "", left.stdout
