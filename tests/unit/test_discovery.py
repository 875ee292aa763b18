"""The DNS snapshot (from stored Services, EndpointSlices and Pods) and the
per-pod resolver files."""
from __future__ import annotations

import json
import os

from k8snet.addons.dns_agent import snapshot as dns_snapshot
from k8snet.api.model import Pod
from k8snet.node.discovery import hosts_file, write_snapshot


def svc(name, ns, spec):
    return {"kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def slice_(svc_name, ns, ports, endpoints):
    return {"kind": "EndpointSlice",
            "metadata": {"name": f"{svc_name}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc_name}},
            "ports": ports, "endpoints": endpoints}


def ep(ip, ready, hostname="", pod=""):
    out = {"addresses": [ip], "conditions": {"ready": ready}, "targetRef": {"name": pod}}
    if hostname:
        out["hostname"] = hostname
    return out


def pod(name, ns, ip):
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns}, "status": {"podIP": ip}}


WEB = svc("web", "default", {"clusterIP": "10.96.0.20",
                             "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]})
HEADLESS = svc("db", "shop", {"clusterIP": "None",
                              "ports": [{"name": "postgres", "port": 5432, "protocol": "TCP"},
                                        {"name": "metrics", "port": 9187, "protocol": "TCP"}]})
EXTERNAL = svc("pay", "shop", {"type": "ExternalName", "externalName": "db.example.com"})
DB0 = Pod("db-0", "shop", hostname="db-0", subdomain="db")
WEB1 = Pod("web-1")


def snapshot() -> dict:
    slices = [
        slice_("web", "default", [{"name": "http", "port": 8080, "protocol": "TCP"}],
               [ep("10.244.1.2", True, pod="web-1")]),
        slice_("db", "shop", [{"name": "postgres", "port": 5432, "protocol": "TCP"},
                              {"name": "metrics", "port": 9187, "protocol": "TCP"}],
               [ep("10.244.2.2", True, "db-0", "db-0"), ep("10.244.3.2", False, "", "db-1")]),
    ]
    pods = [pod("web-1", "default", "10.244.1.2"), pod("db-0", "shop", "10.244.2.2"),
            pod("db-1", "shop", "10.244.3.2")]
    return dns_snapshot([WEB, HEADLESS, EXTERNAL], slices, pods, "cluster.local")


def test_snapshot_lists_services_sorted_with_their_kind_of_address():
    snap = snapshot()
    assert snap["domain"] == "cluster.local"
    rows = {s["name"]: s for s in snap["services"]}
    assert [s["name"] for s in snap["services"]] == ["web", "db", "pay"]   # as given
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


def test_hosts_file_names_the_pod_and_its_stable_fqdn():
    plain = hosts_file(WEB1, "10.244.1.2", "cluster.local")
    assert "127.0.0.1\tlocalhost\n" in plain and plain.endswith("10.244.1.2\tweb-1\n")
    sts = hosts_file(DB0, "10.244.2.2", "cluster.local")
    assert sts.endswith("10.244.2.2\tdb-0.db.shop.svc.cluster.local db-0\n")


def test_pod_files_kept_in_a_store_with_a_link_in_etc_netns(tmp_path, monkeypatch):
    from k8snet.node import discovery
    etc, store = tmp_path / "etc-netns", tmp_path / "run" / "etc-netns"
    monkeypatch.setattr(discovery, "ETC_NETNS", etc)
    made = discovery.write_pod_files("k8snet-a-p1", "nameserver 10.96.0.10\n", "hosts\n",
                                     str(store), hostname="p1")
    assert made == etc / "k8snet-a-p1" and made.is_symlink()
    assert (made / "hostname").read_text() == "p1\n"          # the container's /etc/hostname
    assert (made / "resolv.conf").read_text() == "nameserver 10.96.0.10\n"
    assert (store / "k8snet-a-p1" / "hosts").read_text() == "hosts\n"
    # the same pod name again (its old link still there): the link is replaced
    discovery.write_pod_files("k8snet-a-p1", "nameserver 10.96.0.11\n", "hosts\n",
                              str(tmp_path / "other"))
    assert (made / "resolv.conf").read_text() == "nameserver 10.96.0.11\n"
    discovery.remove_pod_files("k8snet-a-p1")
    assert not os.path.lexists(made)
    assert not (tmp_path / "other" / "k8snet-a-p1").exists()
    discovery.remove_pod_files("k8snet-a-p1")          # quiet when already gone


def test_pod_files_without_a_store_or_over_an_older_directory(tmp_path, monkeypatch):
    from k8snet.node import discovery
    etc = tmp_path / "etc-netns"
    monkeypatch.setattr(discovery, "ETC_NETNS", etc)
    plain = discovery.write_pod_files("k8snet-a-p2", "r\n", "h\n")
    assert plain.is_dir() and not plain.is_symlink()
    # a directory left by an older run is written in place, not linked over
    again = discovery.write_pod_files("k8snet-a-p2", "r2\n", "h\n", str(tmp_path / "s"))
    assert not again.is_symlink() and (again / "resolv.conf").read_text() == "r2\n"
    discovery.remove_pod_files("k8snet-a-p2")
    assert not plain.exists()
