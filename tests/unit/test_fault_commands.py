"""The fault commands' pure parts: the loss table, the node links' routes
and state, the DNS race lab's parsers and figures, the argument checks."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from k8snet.cli import faults as cli_faults
from k8snet.cluster import dnsrace, faults
from k8snet.errors import K8snetError


def test_loss_table_drops_a_share_both_ways():
    text = faults.loss_text(30)
    assert 'iifname "eth0" numgen random mod 100 < 30 counter drop' in text
    assert 'oifname "eth0" numgen random mod 100 < 30 counter drop' in text


def test_full_loss_needs_no_numgen_and_zero_removes_the_table():
    assert "numgen" not in faults.loss_text(100) and "counter drop" in faults.loss_text(100)
    assert faults.loss_text(0).strip().splitlines() == [
        f"add table ip {faults.FAULT_TABLE}", f"delete table ip {faults.FAULT_TABLE}"]


@pytest.mark.parametrize("bad", ["-1", "101", "2.5", "x", ""])
def test_loss_percent_is_checked(bad):
    with pytest.raises(K8snetError, match="PERCENT"):
        faults.parse_percent(bad)


@pytest.mark.parametrize("bad", ["100", "9001", "abc"])
def test_mtu_is_checked(bad):
    with pytest.raises(K8snetError, match="BYTES"):
        faults.parse_mtu(bad)


# --- node NODE down|up ---------------------------------------------------------------

def test_route_commands_put_back_what_the_link_took_and_nothing_else():
    routes = [
        {"dst": "default", "gateway": "172.18.0.1", "dev": "eth0", "flags": []},
        {"dst": "172.18.0.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link",
         "prefsrc": "172.18.0.11", "flags": []},
        {"type": "unreachable", "dst": "10.244.1.0/24", "flags": []},
        {"dst": "10.244.1.5", "dev": "veth1a2b3c4d", "protocol": "static", "scope": "link",
         "flags": []},
        {"dst": "198.51.100.0/24", "gateway": "172.18.0.1", "dev": "eth0", "metric": 20,
         "protocol": "static", "flags": ["onlink"]},
    ]
    assert faults.route_commands(routes, "k8snet-t-node1", {"eth0"}) == [
        ["ip", "-n", "k8snet-t-node1", "route", "replace", "default", "via", "172.18.0.1",
         "dev", "eth0"],
        ["ip", "-n", "k8snet-t-node1", "route", "replace", "198.51.100.0/24", "via",
         "172.18.0.1", "dev", "eth0", "proto", "static", "metric", "20", "onlink"]]


def test_route_commands_ignore_other_devices_and_junk():
    assert faults.route_commands([{"dst": "default", "gateway": "10.0.0.1", "dev": "eth1"},
                                  "junk", {"dev": "eth0"}], "ns", {"eth0"}) == []


def test_uplink_check_follows_the_switch_ports_operstate(tmp_path):
    for port, state in (("tor1-eth1", "down"), ("tor2-eth1", "up")):
        (tmp_path / port).mkdir()
        (tmp_path / port / "operstate").write_text(state + "\n")
    assert faults.uplink_check(["tor1-eth1", "tor2-eth1"], tmp_path)() is True
    assert faults.uplink_check(["tor1-eth1"], tmp_path)() is False
    (tmp_path / "tor1-eth1" / "operstate").write_text("up\n")
    assert faults.uplink_check(["tor1-eth1"], tmp_path)() is True
    assert faults.uplink_check(["gone-eth9"], tmp_path)() is False     # no such port


# --- dnsrace -------------------------------------------------------------------------

CONNTRACK_S = (
    "cpu=0   \tfound=3 invalid=1 insert=0 insert_failed=2 drop=2 early_drop=0 error=0 "
    "search_restart=0 clash_resolve=5 chaintoolong=0 \n"
    "cpu=1   \tfound=1 invalid=0 insert=0 insert_failed=1 drop=1 early_drop=0 error=0 "
    "search_restart=4 clash_resolve=0 chaintoolong=0 \n")


def test_conntrack_stats_are_summed_over_cpus():
    stats = dnsrace.parse_conntrack_stats(CONNTRACK_S)
    assert stats["insert_failed"] == 3 and stats["drop"] == 3
    assert stats["clash_resolve"] == 5 and stats["search_restart"] == 4
    assert "cpu" not in stats


def test_conntrack_stats_refuse_text_without_counters():
    with pytest.raises(K8snetError, match="no counters"):
        dnsrace.parse_conntrack_stats("conntrack v1.4.7: Operation not permitted\n")


def test_ahosts_addresses_once_each_in_order():
    text = ("10.96.0.1       STREAM kubernetes.default.svc.cluster.local\n"
            "10.96.0.1       DGRAM  \n10.96.0.1       RAW    \n10.96.5.5  STREAM\n")
    assert dnsrace.parse_ahosts(text) == ("10.96.0.1", "10.96.5.5")
    assert dnsrace.parse_ahosts("") == ()


def test_resolv_options():
    text = ("search default.svc.cluster.local svc.cluster.local cluster.local\n"
            "nameserver 10.96.0.10\nnameserver 10.96.0.11 # second\n"
            "options ndots:5\noptions single-request-reopen\n")
    assert dnsrace.resolv_options(text) == ("10.96.0.10", ["ndots:5", "single-request-reopen"])


@pytest.mark.parametrize("p,want", [(50, 3.0), (99, 5.0), (100, 5.0), (1, 1.0)])
def test_percentile_is_nearest_rank(p, want):
    assert dnsrace.percentile([5.0, 1.0, 3.0, 2.0, 4.0], p) == want


def _variant(label, seconds, before=None, after=None):
    v = dnsrace.Variant(label, "")
    v.lookups = [dnsrace.Lookup(s, ("10.96.0.1",) if s < 10 else (), timed_out=s >= 10)
                 for s in seconds]
    v.before, v.after = before, after
    return v


def test_summary_counts_add_up():
    s = dnsrace.summary(_variant("x", [0.01, 0.02, 5.01, 11.0]))
    assert s["lookups"] == 4 and s["resolved"] == 3
    assert s["slow"] == 2 and s["timed_out"] == 1
    assert s["p50"] == 0.02 and s["p99"] == 11.0


def test_table_shows_both_variants_and_counter_deltas():
    plain = _variant("parallel A+AAAA", [0.01, 5.02], {"insert_failed": 4}, {"insert_failed": 5,
                                                                            "drop": 1})
    reopen = _variant("single-request-reopen", [0.01, 0.02], None, None)
    lines = dnsrace.table([plain, reopen], "node3")
    assert "parallel A+AAAA" in lines[0] and "single-request-reopen" in lines[0]
    failed = next(line for line in lines if line.startswith("insert_failed (node3)"))
    assert failed.split()[-2:] == ["+1", "n/a"]
    slow = next(line for line in lines if line.startswith("slow"))
    assert slow.split()[-2:] == ["1", "0"]


def test_verdict_says_what_happened_and_never_invents_a_race():
    quiet = [_variant("a", [0.01] * 5, {"insert_failed": 0}, {"insert_failed": 0}),
             _variant("b", [0.01] * 5, {"insert_failed": 0}, {"insert_failed": 0})]
    text = dnsrace.verdict(quiet, "6.18.0")
    assert "did not show on kernel 6.18.0" in text and "0 of 5" in text
    race = [_variant("a", [0.01, 5.0], {"insert_failed": 0}, {"insert_failed": 1}),
            _variant("b", [0.01, 0.01], {}, {})]
    assert dnsrace.verdict(race, "4.19").startswith("the race showed: 1 of 2")
    other = [_variant("a", [5.0], {"insert_failed": 0}, {"insert_failed": 0}), quiet[1]]
    assert "no conntrack insert failed" in dnsrace.verdict(other, "6.1")


@pytest.mark.parametrize("words,match", [
    (["-n", "0"], "-n must be from 1 to 500"),
    (["-n", "100000"], "-n must be"),
    (["-p", "99"], "--parallel must be"),
    (["--timeout", "0.1"], "--timeout must be"),
    (["-n", "x"], "invalid int value"),
    (["--name", "a b"], "--name must be a DNS name"),
    (["--bogus"], "unrecognized arguments"),
])
def test_dnsrace_arguments_are_checked(words, match):
    with pytest.raises(K8snetError, match=match):
        cli_faults.dnsrace_args(words)


def test_dnsrace_defaults():
    args = cli_faults.dnsrace_args([])
    assert (args.pod, args.count, args.name, args.parallel) == ("client", 40,
                                                                "kubernetes.default", 4)
    assert cli_faults.dnsrace_args(["web-1", "-n", "5"]).pod == "web-1"


@pytest.mark.parametrize("words,match", [
    (["node1"], "usage: node"), (["node1", "sideways"], "usage: node"),
    (["node1", "down", "now"], "usage: node"), (["node9", "down"], "no node named 'node9'")])
def test_node_command_arguments_are_checked(words, match):
    cluster = SimpleNamespace(network=SimpleNamespace(nodes={"node1": None, "node2": None}))
    with pytest.raises(K8snetError, match=match):
        cli_faults.node_command(cluster, words, lambda line: None)
