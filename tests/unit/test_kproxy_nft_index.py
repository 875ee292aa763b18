"""How kproxy's nftables mode carries the endpoint index, and why.

The pick chains draw the index with ``ct mark set numgen random mod N`` and
look up ``<Service key> . ct mark`` in ``type ... . mark`` data maps.  The
earlier form, ``typeof ... th dport . numgen random mod 1`` maps, is built
by nft 1.0.6 but cannot be used by a later transaction ("conflicting
protocols specified: tcp vs. th"); the simulator refuses it the same way,
so these tests (and the partial-sync tests) fail if the form comes back.
The real kernel is checked by tests/integration/test_kproxy_resync.py.
"""
from __future__ import annotations

import re

import pytest
from nft_tracer import NftTransactionError, load, parse_rule, trace

from k8snet.api.service import Service, ServicePort
from k8snet.trace.nftsim import SetCtMark
from kproxy import nft
from kproxy.nft_names import ENDPOINT_MAPS
from kproxy.state import Endpoint, NodeProxyState, ServicePortState

NODE1, CLIENT = "172.18.0.11", "10.244.1.250"
WEB = Service(name="web", cluster_ip="10.96.0.20", type="NodePort",
              ports=(ServicePort(80, 8080, "TCP", "http", 30080),))


def state(n_endpoints: int) -> NodeProxyState:
    eps = tuple(Endpoint(f"10.244.{1 + k % 2}.{10 + k}", 8080, f"node{1 + k % 2}", f"web-{k}")
                for k in range(n_endpoints))
    return NodeProxyState("node1", NODE1, "10.244.0.0/16", "10.96.0.0/12",
                          (ServicePortState(WEB, WEB.ports[0], eps),))


def packet(dst: str = "10.96.0.20", dport: int = 80) -> dict:
    return dict(src_ip=CLIENT, dst_ip=dst, proto="tcp", dport=dport, hook_path="prerouting",
                local_ips=[NODE1], node_ip=NODE1)


def test_endpoint_maps_are_typed_and_keyed_by_the_conntrack_mark() -> None:
    text = nft.render(state(3), fresh=True)[0]
    assert "typeof" not in text
    maps = dict(re.findall(r"^add map ip kproxy (\S+) \{ type ([^;]+);", text, re.M))
    assert set(ENDPOINT_MAPS.values()) <= set(maps)
    for name in ENDPOINT_MAPS.values():
        key, data = maps[name].split(" : ")
        assert key.endswith(" . mark") and data == "ipv4_addr . inet_service", maps[name]
    picks = [line for line in text.splitlines() if " dnat ip to " in line]
    assert picks and all(re.search(r" ct mark set numgen random mod \d+ dnat ip to .* \. ct mark "
                                   r"map @", line) for line in picks), picks


@pytest.mark.parametrize("dst, dport", [("10.96.0.20", 80), (NODE1, 30080)])
def test_the_drawn_index_is_the_conntrack_mark_and_picks_that_element(dst: str,
                                                                      dport: int) -> None:
    table = load(nft.render(state(3), fresh=True)[0])
    seen = set()
    for n in range(7):
        res = trace(table, numgen=n, **packet(dst, dport))
        assert res.ct_mark == n % 3 and res.numgen_mods == [3]
        name = ENDPOINT_MAPS[("cluster", "ip" if dst != NODE1 else "nodeport")]
        (key, data), = [(k, v) for k, v in table.maps[name].elements.items()
                        if k[-1] == res.ct_mark and k[-2] == dport]
        assert res.dnat == f"{data[0]}:{data[1]}"
        seen.add(res.dnat)
    assert seen == {"10.244.1.10:8080", "10.244.2.11:8080", "10.244.1.12:8080"}


def test_a_partial_sync_may_add_a_pick_chain_beside_existing_maps() -> None:
    """The bug seen live: an ingress going from 1 to 0 to 1 ready endpoint, or
    any Service whose endpoint count is new, needs a new shared chain whose
    rule uses maps an earlier transaction made."""
    text, applied = nft.render(state(1), fresh=True)
    table = load(text)
    for n in (0, 1, 4, 2, 0, 5):
        text, applied = nft.render(state(n), applied)
        table = load(text, table)
        got = {trace(table, numgen=k, **packet()).dnat for k in range(20)}
        assert len(got) == n if n else got == {None}, (n, got)
        if n:
            assert f"cluster-ip-{n}" in table.chains


OLD_MAP = ("add map ip kproxy m { typeof ip daddr . meta l4proto . th dport . numgen random "
           "mod 1 : ip daddr . th dport; }")
OLD_RULE = ("meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . "
            "numgen random mod {n} map @m")


def test_the_simulator_refuses_an_earlier_typeof_th_map_as_nft_1_0_6_does() -> None:
    first = "\n".join(["add table ip kproxy", OLD_MAP, "add chain ip kproxy c1 { type nat hook "
                       "prerouting priority dstnat; }",
                       "add rule ip kproxy c1 " + OLD_RULE.replace("{n}", "1")])
    table = load(first)          # the same transaction: accepted
    later = "add chain ip kproxy c2\nadd rule ip kproxy c2 " + OLD_RULE.replace("{n}", "2")
    with pytest.raises(NftTransactionError, match="conflicting protocols specified"):
        load(later, table)
    # Recreated in the transaction, the map is parsed from the text again.
    load("delete table ip kproxy\n" + first + "\n" + later, table)


def test_numgen_cannot_key_a_mark_map_itself() -> None:
    text = nft.render(state(2), fresh=True)[0]
    wrong = ("add chain ip kproxy x\nadd rule ip kproxy x meta l4proto { tcp, udp, sctp } dnat "
             "ip to ip daddr . meta l4proto . th dport . numgen random mod 2 "
             "map @cluster-ip-endpoints\n")
    with pytest.raises(NftTransactionError, match="keyed by ipv4_addr . inet_proto . "
                                                  "inet_service . mark"):
        load(text + wrong)


def test_ct_mark_statements_and_matches_parse() -> None:
    drawn = parse_rule("ct mark set numgen random mod 4 accept")
    assert isinstance(drawn.stmts[0], SetCtMark) and drawn.stmts[0].value.mod == 4
    literal = parse_rule("ct mark set 0x10")
    assert literal.stmts[0] == SetCtMark(16)
    text = nft.render(state(1), fresh=True)[0] + (
        "add rule ip kproxy services ct mark set 0x7 comment \"x\"\n"
        "add rule ip kproxy services ct mark 0x7 drop comment \"y\"\n")
    res = trace(text, **packet("10.96.0.99"))      # no Service: the rules added run
    assert res.ct_mark == 7 and res.verdict == "DROP" and res.dnat is None
