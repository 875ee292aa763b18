"""Turn planned ``Flow``/``Group`` values into os-ken OpenFlow 1.3 messages.

The only place that knows os-ken's parser classes, so the planner stays pure.
"""
from __future__ import annotations

import ipaddress

from controllers.fabric_plan import Flow, Group


def _match(parser, flow: Flow):
    fields = {}
    for name, value in flow.match:
        if name == "ipv4_dst" and "/" in str(value):
            net = ipaddress.ip_network(value)
            value = (str(net.network_address), str(net.netmask))
        fields[name] = value
    return parser.OFPMatch(**fields)


def _actions(ofp, parser, actions: tuple[tuple, ...]) -> list:
    out = []
    for action in actions:
        kind = action[0]
        if kind == "set_field":
            out.append(parser.OFPActionSetField(**{action[1]: action[2]}))
        elif kind == "move":
            out.append(parser.NXActionRegMove(
                src_field=action[1], dst_field=action[2], n_bits=action[3]))
        elif kind == "dec_nw_ttl":
            out.append(parser.OFPActionDecNwTtl())
        elif kind == "output":
            port = ofp.OFPP_IN_PORT if action[1] == "in_port" else action[1]
            out.append(parser.OFPActionOutput(port))
        elif kind == "group":
            out.append(parser.OFPActionGroup(action[1]))
        else:
            raise ValueError(f"unknown action {action!r}")
    return out


def flow_mod(datapath, flow: Flow, delete: bool = False):
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    if delete:
        return parser.OFPFlowMod(
            datapath, cookie=flow.cookie, table_id=flow.table,
            command=ofp.OFPFC_DELETE_STRICT, priority=flow.priority,
            out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
            match=_match(parser, flow))
    inst = []
    if flow.actions:
        inst.append(parser.OFPInstructionActions(
            ofp.OFPIT_APPLY_ACTIONS, _actions(ofp, parser, flow.actions)))
    if flow.goto is not None:
        inst.append(parser.OFPInstructionGotoTable(flow.goto))
    return parser.OFPFlowMod(
        datapath, cookie=flow.cookie, table_id=flow.table,
        command=ofp.OFPFC_ADD, priority=flow.priority,
        match=_match(parser, flow), instructions=inst)


def delete_by_cookie(datapath, cookie: int, mask: int):
    """Delete every flow, in all tables, whose cookie matches under ``mask``."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    return parser.OFPFlowMod(
        datapath, cookie=cookie, cookie_mask=mask, table_id=ofp.OFPTT_ALL,
        command=ofp.OFPFC_DELETE, out_port=ofp.OFPP_ANY,
        out_group=ofp.OFPG_ANY, match=parser.OFPMatch())


def group_mod(datapath, group: Group, command: str):
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    cmd = {"add": ofp.OFPGC_ADD, "modify": ofp.OFPGC_MODIFY,
           "delete": ofp.OFPGC_DELETE}[command]
    buckets = [parser.OFPBucket(weight=1, watch_port=ofp.OFPP_ANY,
                                watch_group=ofp.OFPG_ANY,
                                actions=_actions(ofp, parser, b))
               for b in group.buckets] if command != "delete" else []
    return parser.OFPGroupMod(datapath, command=cmd, type_=ofp.OFPGT_SELECT,
                              group_id=group.group_id, buckets=buckets)
