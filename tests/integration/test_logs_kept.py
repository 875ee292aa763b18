"""The last run's logs survive teardown, and a start error names a log that exists."""
from __future__ import annotations

from conftest import kubectl

from k8snet.cluster.cluster import Cluster
from k8snet.load import topofile


def test_logs_are_kept_after_teardown(tmp_path):
    with Cluster(topofile.load("single"), keep_logs=tmp_path) as c:
        name = c.spec.name
        kubectl(c, "get", "pods", "-n", "kube-system")
        assert (c.rundir.path / "controller.log").exists()
    kept = tmp_path / name
    assert c.kept_logs == kept
    assert (kept / "controller.log").read_text(), "the controller's log was kept"
    assert (kept / "agents.log").exists()
    # kubectl's requests are in the API server's log (verb, URI, status).
    access = (kept / "apiserver.log").read_text()
    assert '"GET /api/v1/namespaces/kube-system/pods?limit=500 HTTP/1.1" 200' in access, access
    container_logs = list((kept / "logs").rglob("*.log"))
    assert container_logs, "the system pods' container logs were kept"
