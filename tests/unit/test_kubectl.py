"""Tests for k8snet.cli.tables: kubectl's age format and table layout."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from k8snet.api.model import Node, Pod
from k8snet.cli.tables import age, nodes_table, pods_table, table

NOW = 1_700_000_000.0


@dataclass
class FakeContainer:
    running: bool = True


@dataclass
class FakePodStatus:
    """The attributes pods_table reads from cluster.PodStatus."""

    pod: Pod
    node: str
    ip: str
    created: float = NOW - 30
    containers: list[FakeContainer] = field(default_factory=lambda: [FakeContainer()])

    @property
    def ready_count(self) -> int:
        return sum(1 for c in self.containers if c.running)

    @property
    def phase(self) -> str:
        if self.ready_count == len(self.containers):
            return "Running"
        return "Error" if self.ready_count == 0 else "NotReady"


def status(name: str, namespace: str = "default", node: str = "node1",
           ip: str = "10.244.1.2", **kwargs) -> FakePodStatus:
    return FakePodStatus(Pod(name=name, namespace=namespace), node, ip, **kwargs)


def column_starts(header: str, names: list[str]) -> list[int]:
    return [header.index(n) for n in names]


# --- age -----------------------------------------------------------------------


@pytest.mark.parametrize("seconds, expected", [
    (0, "0s"), (45, "45s"), (119, "119s"),
    (120, "2m"), (300, "5m"), (3 * 3600 - 1, "179m"),
    (3 * 3600, "3h"), (47 * 3600 + 3599, "47h"),
    (2 * 86400, "2d"), (10 * 86400 + 5, "10d"),
])
def test_age(seconds: int, expected: str) -> None:
    assert age(NOW - seconds, NOW) == expected


def test_age_in_the_future_is_zero() -> None:
    assert age(NOW + 100, NOW) == "0s"


def test_age_truncates_fractions() -> None:
    assert age(NOW - 45.9, NOW) == "45s"


def test_age_defaults_to_current_time() -> None:
    import time
    assert age(time.time() - 45) in ("45s", "46s")


# --- table -----------------------------------------------------------------------


def test_table_aligns_columns_with_three_spaces() -> None:
    out = table(["NAME", "X"], [["a", "1"], ["longer-name", "22"]])
    assert out.splitlines() == [
        "NAME          X",
        "a             1",
        "longer-name   22",
    ]


def test_table_strips_trailing_spaces() -> None:
    out = table(["A", "B"], [["x", ""]])
    assert out.splitlines()[1] == "x"


def test_table_header_only() -> None:
    assert table(["NAME", "STATUS"], []) == "NAME   STATUS"


# --- pods ------------------------------------------------------------------------


def test_pods_table_headers_and_rows() -> None:
    out = pods_table([status("web-1"), status("a", created=NOW - 300)], now=NOW)
    assert out.splitlines() == [
        "NAME    READY   STATUS    RESTARTS   AGE",
        "a       1/1     Running   0          5m",
        "web-1   1/1     Running   0          30s",
    ]


def test_pods_table_header_order() -> None:
    header = pods_table([status("web-1")], now=NOW).splitlines()[0]
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


def test_pods_table_wide_header_order_and_alignment() -> None:
    pods = [status("web-1", node="node1", ip="10.244.1.2"),
            status("iperf-server", node="node2", ip="10.244.2.10")]
    lines = pods_table(pods, wide=True, now=NOW).splitlines()
    names = ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
             "NOMINATED NODE", "READINESS GATES"]
    header = lines[0]
    assert header == ("NAME           READY   STATUS    RESTARTS   AGE   IP            "
                      "NODE    NOMINATED NODE   READINESS GATES")
    starts = column_starts(header, names)
    assert starts == sorted(starts)
    # NAME is as wide as its widest cell, then three spaces.
    assert starts[1] == len("iperf-server") + 3
    assert lines[1] == ("iperf-server   1/1     Running   0          30s   "
                        "10.244.2.10   node2   <none>           <none>")
    assert lines[2] == ("web-1          1/1     Running   0          30s   "
                        "10.244.1.2    node1   <none>           <none>")
    for line in lines[1:]:
        assert line[starts[names.index("IP")]:].startswith("10.244.")
        assert line[starts[names.index("NODE")]:].startswith("node")


def test_pods_table_all_namespaces_and_sorting() -> None:
    pods = [status("b", namespace="default"), status("z", namespace="apps"),
            status("a", namespace="default")]
    lines = pods_table(pods, all_namespaces=True, now=NOW).splitlines()
    assert lines[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["apps", "z"], ["default", "a"], ["default", "b"]]


def test_pods_table_ready_counts_and_phase() -> None:
    pods = [
        status("ok", containers=[FakeContainer(True), FakeContainer(True)]),
        status("half", containers=[FakeContainer(True), FakeContainer(False)]),
        status("dead", containers=[FakeContainer(False)]),
    ]
    rows = {line.split()[0]: line.split()[1:3]
            for line in pods_table(pods, now=NOW).splitlines()[1:]}
    assert rows == {"ok": ["2/2", "Running"], "half": ["1/2", "NotReady"],
                    "dead": ["0/1", "Error"]}


def test_pods_table_empty() -> None:
    assert pods_table([], now=NOW) == "No resources found"


# --- nodes -----------------------------------------------------------------------


def nodes() -> list[Node]:
    return [Node("node2", 2, "172.18.0.12", "10.244.2.0/24"),
            Node("node1", 1, "172.18.0.11", "10.244.1.0/24")]


def test_nodes_table() -> None:
    lines = nodes_table(nodes(), started=NOW - 7200, kernel="6.1.0", now=NOW).splitlines()
    assert lines == [
        "NAME    STATUS   ROLES    AGE    VERSION",
        "node1   Ready    <none>   120m   v1.31.0-k8snet",
        "node2   Ready    <none>   120m   v1.31.0-k8snet",
    ]


def test_nodes_table_wide_header_order() -> None:
    out = nodes_table(nodes(), started=NOW - 60, kernel="6.1.0-18-amd64", wide=True,
                      now=NOW)
    lines = out.splitlines()
    names = ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP",
             "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    assert lines[0].split() == names
    starts = column_starts(lines[0], names)
    assert starts == sorted(starts)
    row = lines[1]
    assert row.startswith("node1   Ready    <none>   60s   v1.31.0-k8snet   172.18.0.11")
    assert row[starts[names.index("INTERNAL-IP")]:].startswith("172.18.0.11   <none>")
    assert row[starts[names.index("OS-IMAGE")]:].startswith(
        "Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   k8snet://netns")
    assert row.endswith("k8snet://netns")
