"""Integration fixtures: a real cluster (Mininet, OVS netdev, os-ken, netns).

These tests need root, Open vSwitch running and Mininet installed; ``make
test`` sets all of that up.  Without them the tests fail loudly rather than
skip, so a broken machine can never look green.

The cluster is driven the way users drive it: objects go into the store
(``apply_yaml``), controllers and kubelets do the rest, tests wait for the
state they expect (``wait_for``) and look at the real kernel (``in_pod``).
"""
from __future__ import annotations

import os
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mininet.log import setLogLevel

from k8snet.apiserver import apply
from k8snet.apiserver.store import key_of
from k8snet.cluster import memfs, preflight
from k8snet.cluster.cleanup import clean, our_bridges, our_etc_netns, our_netns
from k8snet.cluster.cluster import Cluster
from k8snet.cluster.network import OFP_PORT
from k8snet.cluster.rundir import RUN_ROOT, cluster_dirs
from k8snet.load import documents, topofile
from k8snet.node.netns import NETNS_DIR

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def sh(cmd: str, timeout: float = 30, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                          timeout=timeout, check=check)


def pod_obj(cluster: Cluster, name: str, namespace: str | None = None) -> dict:
    """The stored Pod (``name``, ``ns/name``, or a name unique across namespaces)."""
    return cluster.pods.find(name, namespace)


def in_pod(cluster: Cluster, pod: str, cmd: str, timeout: float = 30,
           namespace: str | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` (a shell line) in the pod's network namespace."""
    rt = cluster.pods.runtime(pod_obj(cluster, pod, namespace))
    return sh(f"ip netns exec {rt.netns} {cmd}", timeout)


def in_node(cluster: Cluster, node: str, cmd: str, timeout: float = 30):
    from k8snet import naming
    return sh(f"ip netns exec {naming.node_netns(cluster.spec.name, node)} {cmd}", timeout)


def apply_yaml(cluster: Cluster, text: str, namespace: str | None = None) -> list[str]:
    """``kubectl apply`` of a YAML text (indented as a whole, or not);
    returns kubectl's lines."""
    return apply.apply(cluster.store, docs_of(text), namespace).lines


def apply_files(cluster: Cluster, *paths) -> list[str]:
    return apply.apply(cluster.store, documents.load_paths([str(p) for p in paths])).lines


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for "
                                 f"{what or predicate}")
        time.sleep(0.05)


def pod_ip(cluster: Cluster, name: str, namespace: str | None = None) -> str:
    return (pod_obj(cluster, name, namespace).get("status") or {}).get("podIP", "")


def ready_pods(cluster: Cluster, namespace: str, labels: dict) -> list[dict]:
    """Running, Ready, not terminating pods with ``labels``."""
    out = []
    for pod in cluster.store.list("Pod", namespace):
        have = pod["metadata"].get("labels") or {}
        if any(have.get(k) != v for k, v in labels.items()):
            continue
        if not pod["metadata"].get("deletionTimestamp") and is_ready(pod):
            out.append(pod)
    return out


def is_ready(pod: dict) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def pods_with(cluster: Cluster, namespace: str, labels: dict) -> list[dict]:
    """Every pod with ``labels`` (terminating ones too)."""
    return [p for p in cluster.store.list("Pod", namespace)
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())]


def rules(cluster: Cluster, node: str) -> str:
    """The service rules really in ``node``'s kernel (what ``kproxy show`` prints)."""
    from k8snet import naming
    from kproxy.main import show
    return show(naming.node_netns(cluster.spec.name, node))


def proxied_addresses(cluster: Cluster) -> set[str]:
    """ClusterIPs of proxied Services and their ready endpoints' addresses."""
    want = set()
    slices = cluster.store.list("EndpointSlice")
    for svc in cluster.store.list("Service"):
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") in (None, "", "None"):
            continue
        want.add(spec["clusterIP"])
        name, ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
        for sl in slices:
            if sl["metadata"]["namespace"] == ns and \
                    sl["metadata"].get("labels", {}).get("kubernetes.io/service-name") == name:
                want.update(a for ep in sl.get("endpoints") or []
                            if (ep.get("conditions") or {}).get("ready")
                            for a in ep.get("addresses") or [])
    return want


def wait_programmed(cluster: Cluster, *needles: str, absent: bool = False,
                    nodes: tuple[str, ...] = (), timeout: float = 15.0) -> None:
    """Wait until every node's kernel rules hold every one of ``needles``
    (or, with ``absent``, none of them)."""
    names = nodes or tuple(cluster.proxies)

    def done() -> bool:
        for node in names:
            text = rules(cluster, node)
            if any((n in text) == absent for n in needles):
                return False
        return True
    wait_for(done, timeout, f"kproxy rules {'without' if absent else 'with'} {needles}")


def settle(cluster: Cluster, timeout: float = 60.0) -> None:
    """Every workload ready, every pod Running and Ready, every node's kproxy
    rules caught up with the Services and their ready endpoints."""
    waiting = cluster.wait_ready(timeout=timeout)
    assert not waiting, f"not ready after {timeout:g}s: {waiting}"
    wait_for(lambda: all((p.get("status") or {}).get("phase") == "Running" and is_ready(p)
                         for p in cluster.store.list("Pod")), timeout, "pods Running, Ready")
    wait_programmed(cluster, *sorted(proxied_addresses(cluster)), timeout=timeout)


def remove(cluster: Cluster, docs: list) -> None:
    """``kubectl delete -f``, then wait until the objects, their dependents
    and every terminating pod are gone."""
    apply.delete(cluster.store, docs)
    keys = [(d.kind, d.obj["metadata"].get("namespace") or "default", d.name) for d in docs]

    def gone() -> bool:
        store = cluster.store
        if any(store.find(kind, ns, name) for kind, ns, name in keys):
            return False
        uids = {o["metadata"]["uid"] for kind in store.kinds() for o in store.list(kind)}
        for kind in ("ReplicaSet", "Pod", "EndpointSlice"):
            for obj in store.list(kind):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") not in uids for r in refs):
                    return False
        if any(store.find("Service", *key_of(e)[1:]) is None for e in store.list("Endpoints")):
            return False                  # the Endpoints mirror has not caught up yet
        return not any(p["metadata"].get("deletionTimestamp") for p in store.list("Pod"))
    wait_for(gone, 60, "deleted objects and their dependents gone")


class CurlLoop:
    """``curl URL`` in a pod again and again (until ``stop``, at most two
    minutes): one line per request, the body or ``FAIL <curl's exit code>``,
    read as they come."""

    def __init__(self, cluster: Cluster, pod: str, url: str) -> None:
        netns = cluster.pods.runtime(pod_obj(cluster, pod)).netns
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, "timeout", "120", "sh", "-c",
             f"while true; do curl -s --max-time 2 {url} || printf 'FAIL '$?; echo; done"],
            stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def more(self, count: int, what: str) -> None:
        """Wait for ``count`` more answers."""
        start = len(self.lines)
        wait_for(lambda: len(self.lines) >= start + count, 30, what)

    def stop(self) -> list[str]:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        return list(self.lines)


def kubectl(cluster: Cluster, *words: str) -> list[str]:
    """The CLI's ``kubectl`` (the real one, ``kubectl scale ...``); returns the
    lines it prints, or raises ``K8snetError`` with what it says when it fails."""
    from k8snet.cli import kubectl as real
    from k8snet.errors import K8snetError
    env = real.environment(cluster.kubeconfig, cluster.rundir.path / "kube-cache")
    done = subprocess.run([real.binary(), *words], env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode:
        raise K8snetError(done.stderr.strip() or f"kubectl exit {done.returncode}")
    return done.stdout.splitlines()


def docs_of(text: str) -> list:
    """The documents of a YAML text (indented as a whole, or not)."""
    return documents.parse_text(textwrap.dedent(text), "<test>")


@pytest.fixture(scope="session", autouse=True)
def _root_and_clean():
    assert os.geteuid() == 0, "integration tests need root (run 'make test' as root)"
    setLogLevel("warning")
    clean(verbose=False)
    yield
    clean(verbose=False)


def _check_clean() -> None:
    assert not our_netns(), "cluster teardown left namespaces behind"
    assert not our_bridges(), "cluster teardown left OVS bridges behind"
    assert not our_etc_netns(), "cluster teardown left /etc/netns files behind"
    if not cluster_dirs():                                 # no cluster of another test runs
        info = open("/proc/self/mountinfo").read()
        for path in (str(RUN_ROOT), os.path.realpath(NETNS_DIR)):
            assert memfs.top_mount(info, path) != ("tmpfs", memfs.SOURCE), \
                f"k8snet's tmpfs left on {path} with no cluster running"
    preflight.require_port_free(OFP_PORT, "OpenFlow")   # no controller left running


@pytest.fixture(scope="module")
def cluster():
    """The ``single`` topology (3 nodes, gw, ext) with the demo workloads of
    examples/demo applied and running."""
    with Cluster(topofile.load("single")) as c:
        apply_files(c, EXAMPLES / "demo")
        settle(c)
        yield c
    _check_clean()


@pytest.fixture(scope="module")
def empty_cluster():
    """The ``single`` topology with only the system pods."""
    with Cluster(topofile.load("single")) as c:
        yield c
    _check_clean()
