"""The DNS snapshot and per-pod resolver files, rendered from the cluster's state."""
from __future__ import annotations

import json

from k8snet.api.model import Pod
from k8snet.api.service import Service, ServicePort
from k8snet.node.discovery import dns_snapshot, hosts_file, resolv_conf, write_snapshot
from kproxy.state import Endpoint

WEB = Service("web", "default", cluster_ip="10.96.0.20",
              ports=(ServicePort(80, "http", name="http"),))
HEADLESS = Service("db", "shop", cluster_ip="None",
                   ports=(ServicePort(5432, 5432, name="postgres"),
                          ServicePort(9187, 9187, name="metrics")))
EXTERNAL = Service("pay", "shop", "ExternalName", external_name="db.example.com")
DB0 = Pod("db-0", "shop", hostname="db-0", subdomain="db")
DB1 = Pod("db-1", "shop", hostname="db-1", subdomain="other")
WEB1 = Pod("web-1")


def snapshot() -> dict:
    endpoints = {
        "default/web": {WEB.ports[0]: (Endpoint("10.244.1.2", 8080, "node1", "default/web-1",
                                                True),)},
        "shop/db": {HEADLESS.ports[0]: (Endpoint("10.244.2.2", 5432, "node2", "shop/db-0",
                                                 True),
                                        Endpoint("10.244.3.2", 5432, "node3", "shop/db-1",
                                                 False)),
                    HEADLESS.ports[1]: (Endpoint("10.244.2.2", 9187, "node2", "shop/db-0",
                                                 True),)},
    }
    pods = [(WEB1, "10.244.1.2"), (DB0, "10.244.2.2"), (DB1, "10.244.3.2")]
    return dns_snapshot([WEB, HEADLESS, EXTERNAL], endpoints, pods, "cluster.local")


def test_snapshot_lists_services_sorted_with_their_kind_of_address():
    snap = snapshot()
    assert snap["domain"] == "cluster.local"
    rows = {s["name"]: s for s in snap["services"]}
    assert [s["name"] for s in snap["services"]] == ["web", "db", "pay"]
    assert rows["web"]["cluster_ip"] == "10.96.0.20"
    assert rows["db"]["cluster_ip"] == "None"
    assert rows["pay"]["type"] == "ExternalName"
    assert rows["pay"]["external_name"] == "db.example.com"
    assert rows["web"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 80}]


def test_endpoint_rows_merge_ports_and_keep_readiness():
    rows = {s["name"]: s for s in snapshot()["services"]}
    db = rows["db"]["endpoints"]
    assert [e["ip"] for e in db] == ["10.244.2.2", "10.244.3.2"]
    assert db[0]["ports"] == [{"name": "postgres", "protocol": "TCP", "port": 5432},
                              {"name": "metrics", "protocol": "TCP", "port": 9187}]
    assert db[0]["ready"] is True and db[1]["ready"] is False


def test_hostname_only_when_the_subdomain_is_the_service():
    rows = {s["name"]: s for s in snapshot()["services"]}
    db = {e["ip"]: e for e in rows["db"]["endpoints"]}
    assert db["10.244.2.2"]["hostname"] == "db-0"
    assert db["10.244.3.2"]["hostname"] == ""      # subdomain "other": no record
    assert rows["web"]["endpoints"][0]["hostname"] == ""


def test_pods_listed_with_namespace_for_pod_records():
    assert snapshot()["pods"] == [{"ip": "10.244.1.2", "namespace": "default"},
                                  {"ip": "10.244.2.2", "namespace": "shop"},
                                  {"ip": "10.244.3.2", "namespace": "shop"}]


def test_write_snapshot_only_rewrites_on_change(tmp_path):
    path = tmp_path / "snap.json"
    assert write_snapshot(path, snapshot()) is True
    inode = path.stat().st_ino
    assert write_snapshot(path, snapshot()) is False
    assert path.stat().st_ino == inode
    assert json.loads(path.read_text())["domain"] == "cluster.local"


def test_resolv_conf_is_cluster_first_with_ndots_5():
    assert resolv_conf("shop", "cluster.local", "10.96.0.10") == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\noptions ndots:5\n")


def test_hosts_file_names_the_pod_and_its_stable_fqdn():
    plain = hosts_file(WEB1, "10.244.1.2", "cluster.local")
    assert "127.0.0.1\tlocalhost\n" in plain and plain.endswith("10.244.1.2\tweb-1\n")
    sts = hosts_file(DB0, "10.244.2.2", "cluster.local")
    assert sts.endswith("10.244.2.2\tdb-0.db.shop.svc.cluster.local db-0\n")
