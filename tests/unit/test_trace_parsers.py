"""The pure parts of the trace (k8snet.trace): the parsers of ``nft monitor
trace``, ``conntrack -L``, ``ip -o route get`` and ``ovs-appctl
ofproto/trace`` over outputs captured in the lab, the probe's resolver
(resolv.conf(5): nameserver, search, ndots) against a local DNS server and
its connections against local servers, and the story's pure helpers.

Nothing here creates a namespace, a bridge or a cluster; the probe's
servers are threads on 127.0.0.1."""
from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from k8snet.errors import K8snetError
from k8snet.trace import kernel, nftrace, ovstrace, probe, story
from k8snet.trace.model import Endpoint, Hop, Target, TraceResult
from k8snet.trace.nftrace import TraceEvent
from k8snet.trace.target import target_of

# --- captured in the lab ---------------------------------------------------

NFT_TRACE = (
    'trace id 28277fb9 ip k8snet-trace out packet: oif "lo" ip saddr 127.0.0.1 '
    "ip daddr 127.0.0.1 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 31358 ip length 60 "
    "tcp sport 45342 tcp dport 5555 tcp flags == syn tcp window 43690 \n"
    "trace id 28277fb9 ip k8snet-trace out rule tcp dport 5555 meta nftrace set 1 "
    "(verdict continue)\n"
    "trace id 28277fb9 ip k8snet-trace out policy accept \n"
    'trace id 28277fb9 ip t2 o packet: oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 '
    "ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 31358 ip length 60 tcp sport 45342 "
    "tcp dport 5555 tcp flags == syn tcp window 43690 \n"
    "trace id 28277fb9 ip t2 o rule tcp dport 5555 counter packets 0 bytes 0 accept "
    'comment "hello" (verdict accept)\n'
    "trace id e67d2521 ip kproxy filter-forward rule ct state new jump "
    'service-endpoints-check comment "reject services with no endpoints" '
    "(verdict jump service-endpoints-check)\n"
    'trace id e67d2521 ip kproxy reject-chain rule reject comment "no endpoints: '
    'ICMP port unreachable" (verdict drop)\n'
)
SYN_FIELDS = ('oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 ip dscp cs0 ip ecn not-ect '
              "ip ttl 64 ip id 31358 ip length 60 tcp sport 45342 tcp dport 5555 "
              "tcp flags == syn tcp window 43690")

CONNTRACK = (
    "tcp      6 119 TIME_WAIT src=10.244.3.3 dst=10.96.0.17 sport=45123 dport=80 "
    "src=10.244.2.3 dst=10.244.3.3 sport=8080 dport=45123 [ASSURED] mark=0 use=1\n"
    "tcp      6 119 TIME_WAIT src=10.244.3.3 dst=203.0.113.10 sport=58499 dport=80 "
    "src=203.0.113.10 dst=172.18.0.13 sport=80 dport=19222 [ASSURED] mark=0 use=1\n"
    "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n"
)

ROUTE_VIA = "10.244.2.2 via 172.18.0.1 dev eth0 src 172.18.0.13 uid 0 \\    cache \n"
ROUTE_LOCAL = "local 127.0.0.1 dev lo table local src 127.0.0.1 uid 0 \\    cache <local> \n"

OVS_FLOW = ("tcp,in_port=1,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:ff:01,"
            "nw_src=10.244.1.3,nw_dst=10.244.2.5,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,"
            "tp_src=40000,tp_dst=8080,tcp_flags=0")
OVS_TRACE = f"""\
Flow: {OVS_FLOW}

bridge("tor1")
--------------
 0. ip,dl_dst=02:00:00:00:ff:01,nw_dst=10.244.2.0/24, priority 124, cookie 0x16b380001
    set_field:02:00:00:00:ff:01->eth_src
    set_field:02:00:00:00:00:02->eth_dst
    dec_ttl
    goto_table:1
 1. dl_dst=02:00:00:00:00:02, priority 100, cookie 0x16b380001
    output:2

Final flow: tcp,in_port=1,vlan_tci=0x0000,dl_src=02:00:00:00:ff:01,dl_dst=02:00:00:00:00:02,\
nw_src=10.244.1.3,nw_dst=10.244.2.5,nw_tos=0,nw_ecn=0,nw_ttl=63,nw_frag=no,tp_src=40000,\
tp_dst=8080,tcp_flags=0
Megaflow: recirc_id=0,eth,tcp,in_port=1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:ff:01,\
nw_dst=10.244.2.0/24,nw_ttl=64,nw_frag=no
Datapath actions: set(eth(src=02:00:00:00:ff:01,dst=02:00:00:00:00:02)),set(ipv4(ttl=63)),2
"""

ECMP_ACTIONS = "set(eth(src=02:00:00:00:ff:01)),set(ipv4(ttl=63)),hash(sym_l4(0)),recirc(0x6)"
OVS_ECMP = f"""\
Flow: tcp,in_port=4,vlan_tci=0x0000,dl_src=02:00:00:00:00:09,dl_dst=02:00:00:00:ff:01,\
nw_src=203.0.113.10,nw_dst=198.51.100.1,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=52632,\
tp_dst=80,tcp_flags=0

bridge("tor1")
--------------
 0. ip,dl_dst=02:00:00:00:ff:01,nw_dst=198.51.100.1, priority 133, cookie 0x16b380001
    set_field:02:00:00:00:ff:01->eth_src
    dec_ttl
    group:1000
     -> no live bucket

Final flow: tcp,in_port=4,vlan_tci=0x0000,dl_src=02:00:00:00:ff:01,dl_dst=02:00:00:00:ff:01,\
nw_src=203.0.113.10,nw_dst=198.51.100.1,nw_tos=0,nw_ecn=0,nw_ttl=63,nw_frag=no,tp_src=52632,\
tp_dst=80,tcp_flags=0
Megaflow: recirc_id=0,eth,tcp,in_port=4,dl_dst=02:00:00:00:ff:01,nw_dst=198.51.100.1,nw_ttl=64
Datapath actions: {ECMP_ACTIONS}
"""

K8S_SEARCH = ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"]


# --- nftrace ---------------------------------------------------------------


def test_nft_parse_captured_trace():
    events = nftrace.parse("n1", NFT_TRACE)
    assert events == [
        TraceEvent("n1", "28277fb9", "k8snet-trace", "out", "packet", SYN_FIELDS),
        TraceEvent("n1", "28277fb9", "k8snet-trace", "out", "rule",
                   "tcp dport 5555 meta nftrace set 1", "continue"),
        TraceEvent("n1", "28277fb9", "k8snet-trace", "out", "policy", "", "accept"),
        TraceEvent("n1", "28277fb9", "t2", "o", "packet", SYN_FIELDS),
        TraceEvent("n1", "28277fb9", "t2", "o", "rule",
                   'tcp dport 5555 counter packets 0 bytes 0 accept comment "hello"',
                   "accept", "hello"),
        TraceEvent("n1", "e67d2521", "kproxy", "filter-forward", "rule",
                   'ct state new jump service-endpoints-check comment '
                   '"reject services with no endpoints"',
                   "jump service-endpoints-check", "reject services with no endpoints"),
        TraceEvent("n1", "e67d2521", "kproxy", "reject-chain", "rule",
                   'reject comment "no endpoints: ICMP port unreachable"', "drop",
                   "no endpoints: ICMP port unreachable"),
    ]


def test_nft_parse_skips_other_lines():
    text = ("\n# nft monitor trace\nError: Could not process rule\n"
            "trace id\n" + NFT_TRACE.splitlines()[2] + "\n   \n")
    events = nftrace.parse("n2", text)
    assert [(e.node, e.kind, e.verdict) for e in events] == [("n2", "policy", "accept")]


def test_nft_parse_policy_and_return_with_mark():
    """nft prints the packet's mark after a policy or an implicit return
    (kproxy's masquerade mark): it is not part of the verdict."""
    text = ("trace id 5a3b6d2c ip kproxy nat-postrouting policy accept "
            "meta mark == 0x00004000 \n"
            "trace id 5a3b6d2c ip kproxy mark-for-masquerade verdict continue "
            "meta mark == 0x00004000 \n"
            "trace id f67d6b7e inet fw4 mangle_forward verdict continue \n")
    events = nftrace.parse("n1", text)
    assert [(e.kind, e.chain, e.verdict, e.text) for e in events] == [
        ("policy", "nat-postrouting", "accept", "meta mark == 0x00004000"),
        ("verdict", "mark-for-masquerade", "continue", "meta mark == 0x00004000"),
        ("verdict", "mangle_forward", "continue", ""),
    ]


def test_nft_parse_dnat_rule_keeps_target_and_comment():
    line = ("trace id 1a2b3c4d ip kproxy endpoint-1741307A-default/web/tcp/10.244.1.3/8080 "
            "rule meta l4proto tcp counter packets 0 bytes 0 dnat to 10.244.1.3:8080 "
            'comment "default/web:http -> 10.244.1.3:8080" (verdict accept)')
    (event,) = nftrace.parse("n1", line)
    assert event.chain == "endpoint-1741307A-default/web/tcp/10.244.1.3/8080"
    assert event.verdict == "accept"
    assert event.comment == "default/web:http -> 10.244.1.3:8080"
    assert event.text.startswith("meta l4proto tcp counter") and event.text.endswith('8080"')


def test_trace_event_field():
    syn = nftrace.parse("n1", NFT_TRACE)[0]
    assert syn.field("oif") == "lo"
    assert syn.field("ip saddr") == "127.0.0.1"
    assert syn.field("ip daddr") == "127.0.0.1"
    assert syn.field("tcp sport") == "45342"
    assert syn.field("tcp dport") == "5555"
    assert syn.field("iif") == ""
    assert syn.field("udp sport") == ""
    assert syn.field("ip ttl") == ""          # not a field it knows
    udp = TraceEvent("n1", "1", "kproxy", "nat-prerouting", "packet",
                     'iif "veth1a2b" ether saddr 02:00:00:00:00:01 ip saddr 10.244.1.3 '
                     "ip daddr 10.96.0.10 ip protocol udp udp sport 40000 udp dport 53 "
                     "udp length 36")
    assert (udp.field("iif"), udp.field("udp sport"), udp.field("udp dport")) == \
        ("veth1a2b", "40000", "53")
    assert udp.field("tcp sport") == ""


def test_setup_text():
    assert nftrace.setup_text("TCP", 45342) == (
        "add table ip k8snet-trace\n"
        "delete table ip k8snet-trace\n"
        "add table ip k8snet-trace\n"
        "add chain ip k8snet-trace pre { type filter hook prerouting priority -400; }\n"
        "add rule ip k8snet-trace pre meta l4proto tcp th sport 45342 meta nftrace set 1\n"
        "add rule ip k8snet-trace pre meta l4proto tcp th dport 45342 meta nftrace set 1\n"
        "add chain ip k8snet-trace out { type filter hook output priority -400; }\n"
        "add rule ip k8snet-trace out meta l4proto tcp th sport 45342 meta nftrace set 1\n"
        "add rule ip k8snet-trace out meta l4proto tcp th dport 45342 meta nftrace set 1\n")


def test_setup_text_udp_marks_both_directions_before_conntrack():
    text = nftrace.setup_text("udp", 53000)
    rules = [line for line in text.splitlines() if line.startswith("add rule")]
    assert len(rules) == 4
    assert all("meta l4proto udp th " in r and " 53000 meta nftrace set 1" in r for r in rules)
    assert nftrace.PRIORITY < -200          # before conntrack (-200) and DNAT (-100)
    assert text.count(f"priority {nftrace.PRIORITY};") == 2


@pytest.mark.skipif(shutil.which("nft") is None or os.geteuid() != 0,
                    reason="needs nft and root for a check-only (-c) run")
def test_setup_text_is_accepted_by_nft_check_mode():
    """``nft -c`` parses and validates the batch without committing it."""
    res = subprocess.run(["nft", "-c", "-f", "-"], input=nftrace.setup_text("TCP", 45342),
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


# --- kernel: conntrack and routes -------------------------------------------


def test_parse_conntrack_captured():
    entries = kernel.parse_conntrack("node2", CONNTRACK)
    assert entries == [
        kernel.ConntrackEntry("node2", "TCP", "TIME_WAIT",
                              kernel.Tuple4("10.244.3.3", "10.96.0.17", 45123, 80),
                              kernel.Tuple4("10.244.2.3", "10.244.3.3", 8080, 45123)),
        kernel.ConntrackEntry("node2", "TCP", "TIME_WAIT",
                              kernel.Tuple4("10.244.3.3", "203.0.113.10", 58499, 80),
                              kernel.Tuple4("203.0.113.10", "172.18.0.13", 80, 19222)),
    ]


def test_conntrack_dnat_and_snat():
    service, egress = kernel.parse_conntrack("node2", CONNTRACK)
    assert service.dnat == ("10.244.2.3", 8080)      # ClusterIP -> the endpoint
    assert service.snat is None
    assert egress.dnat is None
    assert egress.snat == ("172.18.0.13", 19222)     # masqueraded to the node's address
    assert str(service) == ("tcp TIME_WAIT 10.244.3.3:45123 -> 10.96.0.17:80, "
                            "reply 10.244.2.3:8080 -> 10.244.3.3:45123")


def test_conntrack_both_nats_and_stateless_udp():
    text = ("tcp      6 117 SYN_SENT src=203.0.113.10 dst=172.18.0.13 sport=52632 "
            "dport=30080 [UNREPLIED] src=10.244.2.3 dst=10.244.1.1 sport=8080 dport=36511 "
            "mark=0 use=1\n"
            "udp      17 29 src=10.244.1.3 dst=10.96.0.10 sport=40000 dport=53 [UNREPLIED] "
            "src=10.244.2.4 dst=10.244.1.3 sport=53 dport=40000 mark=0 use=1\n")
    nodeport, dns = kernel.parse_conntrack("node1", text)
    assert (nodeport.state, nodeport.dnat, nodeport.snat) == \
        ("SYN_SENT", ("10.244.2.3", 8080), ("10.244.1.1", 36511))
    assert (dns.protocol, dns.state, dns.dnat, dns.snat) == \
        ("UDP", "", ("10.244.2.4", 53), None)
    assert str(dns) == "udp 10.244.1.3:40000 -> 10.96.0.10:53, reply 10.244.2.4:53 -> " \
        "10.244.1.3:40000"


def test_conntrack_skips_lines_without_two_tuples():
    text = ("icmp     1 29 src=10.244.1.3 dst=10.244.2.5 type=8 code=0 id=7 src=10.244.2.5 "
            "dst=10.244.1.3 type=0 code=0 id=7 mark=0 use=1\n"
            "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n\n")
    assert kernel.parse_conntrack("n", text) == []
    assert kernel.parse_conntrack("n", "") == []


def test_parse_route_via_gateway():
    route = kernel.parse_route(ROUTE_VIA)
    assert route == kernel.Route("10.244.2.2", "eth0", "172.18.0.1", "172.18.0.13", False)
    assert str(route) == "10.244.2.2 via 172.18.0.1 dev eth0 src 172.18.0.13"


def test_parse_route_local():
    route = kernel.parse_route(ROUTE_LOCAL)
    assert route == kernel.Route("127.0.0.1", "lo", "", "127.0.0.1", True)
    assert str(route) == "local 127.0.0.1 dev lo"


def test_parse_route_on_link_and_failures():
    route = kernel.parse_route("10.244.1.3 dev veth1a2b3c4d src 10.244.1.1 uid 0 \\    cache \n")
    assert route == kernel.Route("10.244.1.3", "veth1a2b3c4d", "", "10.244.1.1")
    assert str(route) == "10.244.1.3 dev veth1a2b3c4d src 10.244.1.1"
    assert kernel.parse_route("") is None
    assert kernel.parse_route("RTNETLINK answers: Network is unreachable\n") is None


# --- ovstrace ----------------------------------------------------------------


def test_ovs_parse_captured_trace():
    step = ovstrace.parse("tor1", 1, OVS_TRACE)
    assert (step.bridge, step.in_port) == ("tor1", 1)
    assert step.flows == [
        ovstrace.OfFlow(0, 124, "0x16b380001", "ip,dl_dst=02:00:00:00:ff:01,nw_dst=10.244.2.0/24",
                        ["set_field:02:00:00:00:ff:01->eth_src",
                         "set_field:02:00:00:00:00:02->eth_dst", "dec_ttl", "goto_table:1"]),
        ovstrace.OfFlow(1, 100, "0x16b380001", "dl_dst=02:00:00:00:00:02", ["output:2"]),
    ]
    assert step.datapath_actions == ("set(eth(src=02:00:00:00:ff:01,dst=02:00:00:00:00:02)),"
                                     "set(ipv4(ttl=63)),2")
    assert step.output_ports == [2]
    assert step.group == ""
    assert not step.dropped
    assert (step.final["dl_src"], step.final["dl_dst"], step.final["nw_ttl"]) == \
        ("02:00:00:00:ff:01", "02:00:00:00:00:02", "63")
    assert step.final["tcp"] == "" and step.final["tp_dst"] == "8080"
    assert "recirc_id" not in step.final               # the Megaflow line is not the flow
    assert str(step.flows[1]) == ("table 1 priority 100 cookie 0x16b380001 "
                                  "match dl_dst=02:00:00:00:00:02 actions output:2")


def test_ovs_parse_ecmp_group():
    step = ovstrace.parse("tor1", 4, OVS_ECMP)
    (flow,) = step.flows
    assert flow.actions == ["set_field:02:00:00:00:ff:01->eth_src", "dec_ttl", "group:1000",
                            "-> no live bucket"]
    assert step.group == "group:1000"
    assert step.output_ports == []
    assert not step.dropped                 # hashed onto a bucket after recirculation
    assert step.datapath_actions == ECMP_ACTIONS
    # as docs/paths.md shows it
    assert str(flow) == ("table 0 priority 133 cookie 0x16b380001 match "
                         "ip,dl_dst=02:00:00:00:ff:01,nw_dst=198.51.100.1 actions "
                         "set_field:02:00:00:00:ff:01->eth_src, dec_ttl, group:1000, "
                         "-> no live bucket")


def test_ovs_parse_drop_without_cookie():
    text = (f"Flow: {OVS_FLOW}\n\nbridge(\"tor2\")\n--------------\n"
            " 0. priority 0\n    drop\n\nFinal flow: unchanged\n"
            "Megaflow: recirc_id=0,eth,ip,in_port=1,nw_frag=no\nDatapath actions: drop\n")
    step = ovstrace.parse("tor2", 1, text)
    assert step.flows == [ovstrace.OfFlow(0, 0, "0x0", "", ["drop"])]
    assert step.dropped
    assert step.output_ports == [] and step.group == ""
    assert str(step.flows[0]) == "table 0 priority 0 cookie 0x0 match * actions drop"


def test_ovs_parse_unchanged_final_flow_is_the_traced_flow():
    """A switch that forwards without rewriting prints "Final flow: unchanged";
    the next switch must still be traced with the packet's MACs."""
    text = (f"Flow: {OVS_FLOW}\n\nbridge(\"tor1\")\n--------------\n"
            " 1. dl_dst=02:00:00:00:ff:01, priority 100, cookie 0x1\n    output:3\n\n"
            "Final flow: unchanged\nMegaflow: recirc_id=0,eth,in_port=1,dl_dst=02:00:00:00:ff:01\n"
            "Datapath actions: 3\n")
    step = ovstrace.parse("tor1", 1, text)
    assert step.output_ports == [3]
    assert step.final == ovstrace.flow_fields(OVS_FLOW)
    assert (step.final["dl_src"], step.final["nw_ttl"]) == ("02:00:00:00:00:01", "64")


def test_ovs_parse_empty_output_is_a_drop():
    step = ovstrace.parse("tor1", 1, "")
    assert step.flows == [] and step.final == {}
    assert step.dropped


def test_flow_fields():
    fields = ovstrace.flow_fields(OVS_FLOW)
    assert fields["tcp"] == ""
    assert fields["in_port"] == "1"
    assert fields["nw_src"] == "10.244.1.3" and fields["nw_dst"] == "10.244.2.5"
    assert fields["dl_dst"] == "02:00:00:00:ff:01"
    assert fields["tp_src"] == "40000" and fields["tcp_flags"] == "0"
    assert list(fields)[:3] == ["tcp", "in_port", "vlan_tci"]
    assert ovstrace.flow_fields("udp, nw_ttl=64 ") == {"udp": "", "nw_ttl": "64"}


def test_switch_step_properties_over_several_flows():
    step = ovstrace.SwitchStep("spine1", 2, [
        ovstrace.OfFlow(0, 10, "0x0", "ip", ["dec_ttl", "output:5"]),
        ovstrace.OfFlow(1, 5, "0x0", "", ["output:LOCAL", "output:7",
                                          "group:1001,bucket=0"]),
    ], datapath_actions=" drop ")
    assert step.output_ports == [5, 7]          # named ports are not OpenFlow numbers
    assert step.group == "group:1001"
    assert step.dropped


# --- probe: resolv.conf and the resolver's candidates -----------------------


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_read_resolv_conf_pod(tmp_path):
    path = write(tmp_path, "resolv.conf",
                 "# written by the kubelet\nnameserver 10.96.0.10\nnameserver 10.96.0.11\n"
                 f"search {' '.join(K8S_SEARCH)}\noptions ndots:5 timeout:1 attempts:2\n")
    assert probe.read_resolv_conf(path) == (["10.96.0.10", "10.96.0.11"], K8S_SEARCH, 5)


def test_read_resolv_conf_last_search_or_domain_wins(tmp_path):
    """resolv.conf(5): domain and search are mutually exclusive; the last wins."""
    first = write(tmp_path, "a", "domain example.org\nsearch a.example b.example\n")
    assert probe.read_resolv_conf(first)[1] == ["a.example", "b.example"]
    second = write(tmp_path, "b", "search a.example b.example\ndomain example.org\n")
    assert probe.read_resolv_conf(second)[1] == ["example.org"]


def test_read_resolv_conf_comments_defaults_and_bad_options(tmp_path):
    path = write(tmp_path, "resolv.conf",
                 "; old resolver\n#nameserver 192.0.2.1\nnameserver\n\n"
                 "options ndots:x rotate\nnameserver 192.0.2.53\n")
    assert probe.read_resolv_conf(path) == (["192.0.2.53"], [], 1)
    assert probe.read_resolv_conf(str(tmp_path / "missing")) == ([], [], 1)


def test_read_resolv_conf_ndots_last_and_capped(tmp_path):
    """resolv.conf(5): ndots "is silently capped to 15"."""
    two = write(tmp_path, "a", "options ndots:2\noptions ndots:3\n")
    assert probe.read_resolv_conf(two)[2] == 3
    assert probe.read_resolv_conf(write(tmp_path, "b", "options ndots:30\n"))[2] == 15
    assert probe.read_resolv_conf(write(tmp_path, "c", "options ndots:0\n"))[2] == 0


def test_candidates_fewer_dots_than_ndots_searches_first():
    assert probe.candidates("web", K8S_SEARCH, 5) == [
        "web.default.svc.cluster.local", "web.svc.cluster.local", "web.cluster.local", "web"]
    assert probe.candidates("web.prod", K8S_SEARCH, 5) == [
        "web.prod.default.svc.cluster.local", "web.prod.svc.cluster.local",
        "web.prod.cluster.local", "web.prod"]


def test_candidates_enough_dots_tries_the_name_first():
    assert probe.candidates("example.com", ["corp.example"], 1) == [
        "example.com", "example.com.corp.example"]
    name = "web.default.svc.cluster.local"            # 4 dots: still searched first at 5
    assert probe.candidates(name, ["cluster.local"], 4)[0] == name
    assert probe.candidates(name, ["cluster.local"], 5)[-1] == name


def test_candidates_trailing_dot_is_absolute():
    assert probe.candidates("web.default.svc.cluster.local.", K8S_SEARCH, 5) == [
        "web.default.svc.cluster.local"]


def test_candidates_without_search_and_ndots_zero():
    assert probe.candidates("web", [], 1) == ["web"]
    assert probe.candidates("web", ["svc.example"], 0) == ["web", "web.svc.example"]


def test_resolve_without_nameserver(tmp_path):
    path = write(tmp_path, "resolv.conf", "search svc.cluster.local\n")
    assert probe.resolve({"name": "web", "resolv_conf": path}) == {
        "error": "no nameserver in resolv.conf", "tries": [], "address": None}


# --- probe: resolve against a DNS server on 127.0.0.1:53 --------------------


class DnsResponder:
    """A UDP DNS server thread on 127.0.0.1:53: A records from ``records``,
    NXDOMAIN otherwise; ``silent`` records queries and never answers."""

    def __init__(self, records: dict[str, str], silent: bool = False) -> None:
        self.records, self.silent = records, silent
        self.queries: list[tuple[str, str, int]] = []      # (name, type, source port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind(("127.0.0.1", 53))
        except OSError:
            self.sock.close()
            raise
        self.sock.settimeout(0.05)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = DNSRecord.parse(data)
            name = str(query.q.qname).rstrip(".")
            self.queries.append((name, QTYPE[query.q.qtype], peer[1]))
            if self.silent:
                continue
            reply = query.reply()
            if name in self.records:
                reply.add_answer(RR(name, QTYPE.A, rdata=A(self.records[name]), ttl=30))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), peer)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()


@contextmanager
def dns_server(records: dict[str, str], silent: bool = False) -> Iterator[DnsResponder]:
    try:
        server = DnsResponder(records, silent)
    except OSError as exc:
        pytest.skip(f"cannot bind 127.0.0.1:53 for the probe's resolver: {exc}")
    try:
        yield server
    finally:
        server.close()


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_resolve_walks_the_search_path(tmp_path):
    conf = write(tmp_path, "resolv.conf",
                 f"nameserver 127.0.0.1\nsearch {' '.join(K8S_SEARCH)}\noptions ndots:5\n")
    with dns_server({"web.svc.cluster.local": "10.96.0.17"}) as server:
        out = probe.resolve({"action": "resolve", "name": "web", "resolv_conf": conf,
                             "timeout": 2.0})
    assert out["server"] == "127.0.0.1"
    assert out["tries"] == [
        {"name": "web.default.svc.cluster.local", "rcode": "NXDOMAIN", "answers": []},
        {"name": "web.svc.cluster.local", "rcode": "NOERROR", "answers": ["10.96.0.17"]},
    ]
    assert out["address"] == "10.96.0.17"
    # it stopped at the answer, asked for A records, all from the port it reports
    assert server.queries == [("web.default.svc.cluster.local", "A", out["sport"]),
                              ("web.svc.cluster.local", "A", out["sport"])]


def test_resolve_dotted_name_first_and_fixed_source_port(tmp_path):
    conf = write(tmp_path, "resolv.conf", "nameserver 127.0.0.1\nsearch corp.example\n")
    sport = free_port(socket.SOCK_DGRAM)
    with dns_server({"ext.example": "203.0.113.10"}) as server:
        out = probe.resolve({"name": "ext.example", "resolv_conf": conf, "sport": sport})
    assert out == {"server": "127.0.0.1", "sport": sport, "address": "203.0.113.10",
                   "tries": [{"name": "ext.example", "rcode": "NOERROR",
                              "answers": ["203.0.113.10"]}]}
    assert server.queries == [("ext.example", "A", sport)]


def test_resolve_nxdomain_everywhere(tmp_path):
    conf = write(tmp_path, "resolv.conf",
                 "nameserver 127.0.0.1\nsearch svc.cluster.local\noptions ndots:5\n")
    with dns_server({}):
        out = probe.resolve({"name": "nope", "resolv_conf": conf})
    assert out["address"] is None
    assert [(t["name"], t["rcode"]) for t in out["tries"]] == [
        ("nope.svc.cluster.local", "NXDOMAIN"), ("nope", "NXDOMAIN")]


def test_resolve_no_answer_times_out_each_candidate(tmp_path):
    conf = write(tmp_path, "resolv.conf",
                 "nameserver 127.0.0.1\nsearch svc.cluster.local\noptions ndots:5\n")
    with dns_server({}, silent=True) as server:
        out = probe.resolve({"name": "web", "resolv_conf": conf, "timeout": 0.2})
    assert out["address"] is None
    assert out["tries"] == [
        {"name": "web.svc.cluster.local", "rcode": "no answer (timed out)", "answers": []},
        {"name": "web", "rcode": "no answer (timed out)", "answers": []},
    ]
    assert [q[0] for q in server.queries] == ["web.svc.cluster.local", "web"]


# --- probe: connect against local servers ------------------------------------


@contextmanager
def tcp_server(reply: bytes | None, read_request: bool = True) -> Iterator[tuple[int, dict]]:
    """One connection on 127.0.0.1: read the request head, send ``reply``
    (None: stay silent until the client closes)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(5)
    seen: dict = {}

    def serve() -> None:
        try:
            conn, peer = srv.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            seen["peer"] = peer
            data = b""
            while read_request and b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            seen["request"] = data.decode()
            if reply is not None:
                conn.sendall(reply)
            else:
                try:
                    while conn.recv(4096):
                        pass
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1], seen
    finally:
        thread.join(timeout=5)
        srv.close()


HTTP_REPLY = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
              b"Connection: close\r\n\r\nweb-1\n")


def test_connect_http():
    sport = free_port()
    with tcp_server(HTTP_REPLY) as (port, seen):
        out = probe.connect({"action": "connect", "ip": "127.0.0.1", "port": port,
                             "protocol": "TCP", "sport": sport, "timeout": 2.0,
                             "http": {"host": "web.default", "path": "/hostname"}})
    assert out == {"connected": True, "error": "", "reply": "HTTP/1.1 200 OK | web-1"}
    assert seen["peer"][1] == sport
    assert seen["request"].startswith("GET /hostname HTTP/1.0\r\nHost: web.default\r\n")
    assert "User-Agent: k8snet-trace\r\n" in seen["request"]


def test_connect_tcp_without_http_only_connects():
    sport = free_port()
    with tcp_server(None, read_request=False) as (port, seen):
        out = probe.connect({"ip": "127.0.0.1", "port": port, "sport": sport, "http": None})
    assert out == {"connected": True, "error": "", "reply": ""}
    assert seen["peer"][1] == sport


def test_connect_refused():
    out = probe.connect({"ip": "127.0.0.1", "port": free_port(), "protocol": "TCP",
                         "sport": free_port(), "timeout": 1.0})
    assert out == {"connected": False, "error": "Connection refused", "reply": ""}


def test_connect_http_without_answer_times_out():
    with tcp_server(None) as (port, _):
        out = probe.connect({"ip": "127.0.0.1", "port": port, "sport": free_port(),
                             "timeout": 0.3, "http": {"host": "web", "path": "/"}})
    # the handshake was made: the connection is, only the answer is missing
    assert out == {"connected": True, "error": "timed out", "reply": ""}


@pytest.mark.parametrize("proto", ["UDP", "TCP"])
def test_connect_to_port_53_asks_dns(proto) -> None:
    """A DNS server ignores an HTTP request or ``hostname``: port 53 gets a query."""
    kind = socket.SOCK_DGRAM if proto == "UDP" else socket.SOCK_STREAM
    srv = socket.socket(socket.AF_INET, kind)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind(("127.0.0.53", 53))
    except OSError as exc:
        pytest.skip(f"port 53 on 127.0.0.53 is taken here: {exc}")
    srv.settimeout(5)
    if proto == "TCP":
        srv.listen(1)                    # before the probe connects

    def serve() -> None:
        if proto == "UDP":
            data, peer = srv.recvfrom(4096)
            query = DNSRecord.parse(data)
        else:
            conn, _ = srv.accept()
            data = conn.recv(4096)
            assert int.from_bytes(data[:2], "big") == len(data) - 2
            query = DNSRecord.parse(data[2:])
        reply = query.reply()
        reply.add_answer(RR(str(query.q.qname), QTYPE.A, rdata=A("10.96.0.1")))
        wire = reply.pack()
        if proto == "UDP":
            srv.sendto(wire, peer)
        else:
            conn.sendall(len(wire).to_bytes(2, "big") + wire)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        out = probe.connect({"ip": "127.0.0.53", "port": 53, "protocol": proto,
                             "sport": free_port(kind), "timeout": 2.0})
    finally:
        thread.join(timeout=5)
        srv.close()
    assert out == {"connected": True, "error": "",
                   "reply": "DNS NOERROR kubernetes.default.svc.cluster.local A 10.96.0.1"}


def test_connect_udp_reads_the_first_line():
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(5)
    seen: dict = {}

    def serve() -> None:
        data, peer = srv.recvfrom(4096)
        seen["data"], seen["peer"] = data, peer
        srv.sendto(b"web-2\nmore\n", peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sport = free_port(socket.SOCK_DGRAM)
    try:
        out = probe.connect({"ip": "127.0.0.1", "port": srv.getsockname()[1],
                             "protocol": "udp", "sport": sport, "timeout": 2.0})
    finally:
        thread.join(timeout=5)
        srv.close()
    assert out == {"connected": True, "error": "", "reply": "web-2"}
    assert seen == {"data": b"hostname\n", "peer": ("127.0.0.1", sport)}


def test_connect_udp_refused():
    out = probe.connect({"ip": "127.0.0.1", "port": free_port(socket.SOCK_DGRAM),
                         "protocol": "UDP", "sport": free_port(socket.SOCK_DGRAM),
                         "timeout": 1.0})
    assert out == {"connected": False, "error": "Connection refused", "reply": ""}


# --- story --------------------------------------------------------------------


def packet(node: str, trace_id: str, fields: str) -> TraceEvent:
    return TraceEvent(node, trace_id, "kproxy", "nat-prerouting", "packet", fields)


def test_request_ids_captured_trace():
    # one packet, seen in two tables at the same hook; the kproxy ids have no packet line
    assert story.request_ids(nftrace.parse("n1", NFT_TRACE), set()) == {"n1": {"28277fb9"}}


def test_request_ids_keeps_request_packets_only():
    events = [
        packet("node1", "a1", 'iif "veth1" ip saddr 10.244.3.3 ip daddr 10.96.0.17 '
               "tcp sport 45123 tcp dport 80 tcp flags == syn tcp window 64240"),
        packet("node1", "a2", 'iif "veth2" ip saddr 10.244.2.3 ip daddr 10.244.3.3 '
               "tcp sport 8080 tcp dport 45123 tcp flags == 0x12 tcp window 65160"),
        packet("node1", "a3", 'iif "veth1" ip saddr 10.244.3.3 ip daddr 10.96.0.17 '
               "tcp sport 45123 tcp dport 80 tcp flags == ack tcp window 502"),
        packet("node2", "b1", 'iif "eth0" ip saddr 10.244.3.3 ip daddr 10.244.2.3 '
               "tcp sport 45123 tcp dport 8080 tcp flags == syn tcp window 64240"),
        packet("node2", "c1", 'iif "veth2" ip saddr 10.244.2.7 ip daddr 10.96.0.10 '
               "udp sport 40000 udp dport 53 udp length 36"),
        packet("node2", "c2", 'iif "veth9" ip saddr 10.244.2.4 ip daddr 10.244.2.7 '
               "udp sport 53 udp dport 40000 udp length 80"),
        TraceEvent("node3", "d1", "kproxy", "services", "rule",
                   "tcp flags == syn ip saddr 10.244.3.3", "accept"),
    ]
    replies = {("10.244.2.3", "8080"), ("10.244.2.4", "53")}
    assert story.request_ids(events, replies) == {"node1": {"a1"}, "node2": {"b1", "c1"}}
    # without the conntrack replies the SYN-ACK (flags 0x12) is still no request
    assert story.request_ids(events[:3], set()) == {"node1": {"a1"}}


def test_netfilter_lines_captured_trace():
    events = nftrace.parse("n1", NFT_TRACE)
    assert story.netfilter_lines(events, "n1", {"28277fb9", "e67d2521"}) == [
        't2 o: "hello" (accept)',
        'kproxy filter-forward: "reject services with no endpoints" '
        "(jump service-endpoints-check)",
        'kproxy reject-chain: "no endpoints: ICMP port unreachable" (reject)',
    ]
    assert story.netfilter_lines(events, "n1", {"e67d2521"})[-1].endswith("(reject)")
    assert len(story.netfilter_lines(events, "n1", {"e67d2521"})) == 2
    assert story.netfilter_lines(events, "n2", {"28277fb9", "e67d2521"}) == []
    assert story.netfilter_lines(events, "n1", set()) == []


def test_netfilter_lines_dnat_dedup_and_uncommented_rules():
    chain = "endpoint-1741307A-default/web-lb/tcp/10.244.1.3/8080"
    dnat = TraceEvent("n1", "t1", "kproxy", chain, "rule",
                      "meta l4proto tcp counter packets 0 bytes 0 dnat to 10.244.1.3:8080 "
                      'comment "default/web-lb:http -> 10.244.1.3:8080"', "accept",
                      "default/web-lb:http -> 10.244.1.3:8080")
    bare_dnat = TraceEvent("n1", "t1", "kproxy", "sep", "rule",
                           "meta l4proto tcp counter packets 3 bytes 180 dnat to "
                           "10.244.2.3:8080", "accept")
    kproxy_chain = TraceEvent("n1", "t1", "filter", "KPROXY-SVC-ABCDEF", "rule",
                              "ip daddr 10.96.0.17 tcp dport 80 " + "x" * 80,
                              "jump KPROXY-SEP-1")
    other = TraceEvent("n1", "t1", "filter", "input", "rule", "ct state established accept",
                       "accept")
    no_verdict = TraceEvent("n1", "t2", "netpol", "ingress", "rule",
                            'ip saddr 10.244.1.3 comment "allow web"', "", "allow web")
    again = dataclasses.replace(dnat, trace_id="t2")      # the same rule, another hook
    events = [dnat, bare_dnat, kproxy_chain, other, no_verdict, again]
    lines = story.netfilter_lines(events, "n1", {"t1", "t2"})
    assert lines == [
        f'kproxy {chain}: "default/web-lb:http -> 10.244.1.3:8080" dnat to 10.244.1.3:8080 '
        "(accept)",
        "kproxy sep: meta l4proto tcp dnat to 10.244.2.3:8080 (accept)",
        "filter KPROXY-SVC-ABCDEF: " + ("ip daddr 10.96.0.17 tcp dport 80 " + "x" * 80)[:70]
        + " (jump KPROXY-SEP-1)",
        'netpol ingress: "allow web"',
    ]


def test_render():
    result = TraceResult(
        source=Endpoint("pod", "default/client", "10.244.3.3", "k8snet-pod-client", "node3"),
        target=Target("web", "10.96.0.17", 80, "web"), protocol="TCP",
        hops=[Hop("pod default/client", ["eth0 10.244.3.3 -> veth -> node3"]),
              Hop("node3: netfilter", ['kproxy services: "ClusterIP" (goto x)',
                                       "conntrack: tcp ESTABLISHED ..."]),
              Hop("node2: route")],
        delivered=True, verdict="delivered to default/web-1")
    assert story.render(result) == (
        "trace default/client -> web (10.96.0.17:80/TCP)\n"
        " 1. pod default/client\n"
        "    eth0 10.244.3.3 -> veth -> node3\n"
        " 2. node3: netfilter\n"
        '    kproxy services: "ClusterIP" (goto x)\n'
        "    conntrack: tcp ESTABLISHED ...\n"
        " 3. node2: route\n"
        "=> delivered to default/web-1\n")


def test_render_ten_hops_and_no_hops():
    source = Endpoint("ext", "ext", "203.0.113.10", "k8snet-ext")
    target = Target("http://a.example/", "198.51.100.1", 80, "a.example")
    many = TraceResult(source, target, "TCP", [Hop(f"hop {i}") for i in range(1, 11)],
                       delivered=False, verdict="stopped: timed out")
    lines = story.render(many).splitlines()
    assert lines[0] == "trace ext -> http://a.example/ (198.51.100.1:80/TCP)"
    assert lines[9] == " 9. hop 9" and lines[10] == "10. hop 10"
    assert lines[-1] == "=> stopped: timed out"
    empty = TraceResult(source, target, "UDP", [], delivered=False, verdict="stopped")
    assert story.render(empty) == ("trace ext -> http://a.example/ (198.51.100.1:80/UDP)\n"
                                   "=> stopped\n")


def test_probe_entries_drop_another_connection_on_the_same_source_port():
    # CI saw a kubelet probe (node2's pods' gateway address -> the pod) holding the
    # trace's random source port in TIME_WAIT; the story then told that one.
    text = ("tcp      6 119 TIME_WAIT src=10.244.2.1 dst=10.244.2.2 sport=47180 dport=80 "
            "src=10.244.2.2 dst=10.244.2.1 sport=80 dport=47180 [ASSURED] mark=0 use=1\n"
            "tcp      6 119 TIME_WAIT src=10.244.2.4 dst=10.96.0.17 sport=47180 dport=80 "
            "src=10.244.2.3 dst=10.244.2.4 sport=8080 dport=47180 [ASSURED] mark=0 use=1\n")
    entries = kernel.parse_conntrack("node2", text)
    ours = kernel.probe_entries(entries, "10.244.2.4")
    assert [e.original.src for e in ours] == ["10.244.2.4"]
    assert ours[0].dnat == ("10.244.2.3", 8080)
    # A source seen under another address (a node) keeps them all.
    assert kernel.probe_entries(entries, "172.18.0.12") == entries


def test_probe_entries_keep_the_probes_connection_not_an_earlier_one_of_its_port():
    # CI: an earlier trace from the same pod with the same random source port,
    # still in TIME_WAIT, to another Service; the story told that one's DNAT.
    text = ("tcp      6 119 TIME_WAIT src=10.244.3.3 dst=10.96.0.18 sport=45266 dport=80 "
            "src=10.244.2.3 dst=10.244.3.3 sport=8080 dport=45266 [ASSURED] mark=0 use=1\n"
            "tcp      6 119 TIME_WAIT src=10.244.3.3 dst=10.244.1.3 sport=45266 dport=8080 "
            "src=10.244.1.3 dst=10.244.3.3 sport=8080 dport=45266 [ASSURED] mark=0 use=1\n")
    node3 = kernel.parse_conntrack("node3", text)
    node2 = kernel.parse_conntrack(
        "node2", "tcp      6 119 TIME_WAIT src=10.244.3.3 dst=10.244.2.3 sport=45266 "
        "dport=8080 src=10.244.2.3 dst=10.244.3.3 sport=8080 dport=45266 [ASSURED] mark=0\n")
    ours = kernel.probe_entries(node3 + node2, "10.244.3.3", "10.244.1.3", 8080)
    assert [(e.node, e.original.dst) for e in ours] == [("node3", "10.244.1.3")]
    # through the Service: its entry and, on the endpoint's node, the DNATed one
    via = kernel.probe_entries(node3 + node2, "10.244.3.3", "10.96.0.18", 80)
    assert [(e.node, e.original.dst) for e in via] == [("node3", "10.96.0.18"),
                                                       ("node2", "10.244.2.3")]


def test_a_select_groups_bucket_is_said_to_come_from_the_hash() -> None:
    line = ("table 0 priority 133 match ip,nw_dst=198.51.100.1 actions dec_ttl, group:1000, "
            "-> no live bucket")
    assert story._hashed(line).endswith("group:1000, -> the bucket is chosen by the hash below")
    assert story._hashed("actions output:3") == "actions output:3"


def test_a_service_port_that_does_not_exist_is_named_in_the_verdict() -> None:
    class Store:
        def find(self, kind, ns, name):
            return {"spec": {"ports": [{"port": 80, "protocol": "TCP"},
                                       {"port": 53, "protocol": "UDP"}]}} \
                if (kind, ns, name) == ("Service", "default", "web") else None

    assert story.missing_port(Store(), "default/web", 81, "tcp") == (
        "; the Service default/web has no port 81/TCP (it serves 80/TCP, 53/UDP): kproxy "
        "has no rule for it, so nothing forwards the packet")
    assert story.missing_port(Store(), "default/web", 80, "tcp") == ""
    assert story.missing_port(Store(), "default/web", 53, "udp") == ""
    assert story.missing_port(Store(), "default/gone", 81, "tcp") == ""


@pytest.mark.parametrize(("reply", "note"), [
    ("HTTP/1.0 404 Not Found", True), ("HTTP/1.1 503 Service Unavailable", True),
    ("HTTP/1.0 200 OK", False), ("web-1", False), ("HTTP/1.0 banana", False)])
def test_an_http_error_answer_is_about_the_path_not_the_connection(reply, note) -> None:
    result = TraceResult(Endpoint("pod", "default/a", "10.244.1.2", "ns"),
                         Target("localhost:80", "127.0.0.1", 80, "localhost"), "TCP", [],
                         delivered=True, reply=reply)
    line = story.answered(result)
    assert line.startswith(f"answered: {reply}")
    assert ("for /hostname: the connection itself was made" in line) == note


def test_a_rule_the_packet_only_jumped_through_does_not_stop_it() -> None:
    assert story.stopping('kproxy reject-chain: "no endpoints" (reject)')
    assert story.stopping('netpol ingress-10-244-1-2: "ingress of 10.244.1.2" (drop)')
    assert not story.stopping('kproxy filter-forward: "reject services with no endpoints" '
                              "(jump service-endpoints-check)")


def test_a_container_listening_is_named_once_and_for_its_protocol() -> None:
    pod = {"spec": {"containers": [
        {"name": "dns", "ports": [{"containerPort": 53, "protocol": "UDP"},
                                  {"containerPort": 53, "protocol": "TCP"}]},
        {"name": "side", "ports": [{"containerPort": 53, "protocol": "UDP"}]}]}}
    assert story._listening(pod, 53, "TCP") == ["dns"]
    assert story._listening(pod, 53, "UDP") == ["dns", "side"]
    assert story._listening(pod, 80, "TCP") == []


def test_a_connection_made_and_not_answered_says_so() -> None:
    result = TraceResult(Endpoint("pod", "default/a", "10.244.1.2", "ns"),
                         Target("db:5432", "10.96.0.20", 5432, "db"), "TCP", [],
                         delivered=True, error="timed out")
    assert story.answered(result) == (
        "answered: nothing to the HTTP request (timed out); the connection itself was "
        "made: a server of another protocol stays silent")


@pytest.mark.parametrize("text", ["10.96.0.10:99999", "10.96.0.10:0",
                                  "http://10.96.0.10:70000/"])
def test_a_port_out_of_range_is_refused_in_one_line(text) -> None:
    with pytest.raises(K8snetError, match=r"out of range"):
        target_of(None, Endpoint("pod", "default/a", "10.244.1.2", "ns"), text)


def test_connect_to_a_server_of_another_protocol_says_so():
    with tcp_server(b"\x00\x01banner\r\n") as (port, _):
        out = probe.connect({"ip": "127.0.0.1", "port": port, "sport": free_port(),
                             "timeout": 2.0, "http": {"host": "web", "path": "/"}})
    assert out == {"connected": True, "error": "", "reply": "10 bytes, not an HTTP answer"}
