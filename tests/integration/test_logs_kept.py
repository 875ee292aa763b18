"""The last run's logs survive teardown, and a start error names a log that exists."""
from __future__ import annotations

from k8snet.cluster.cluster import Cluster
from k8snet.load import topofile


def test_logs_are_kept_after_teardown(tmp_path):
    with Cluster(topofile.load("single"), keep_logs=tmp_path) as c:
        name = c.spec.name
        assert (c.rundir.path / "controller.log").exists()
    kept = tmp_path / name
    assert c.kept_logs == kept
    assert (kept / "controller.log").read_text(), "the controller's log was kept"
    assert (kept / "agents.log").exists()
    container_logs = list((kept / "logs").rglob("*.log"))
    assert container_logs, "the system pods' container logs were kept"
