"""The fabric router: a thin os-ken app over ``controllers.fabric_plan``.

Flows are proactive.  When a switch connects, every flow it should hold is
installed with OFPFC_ADD (which replaces an identical flow in place, so
traffic never stops) in two passes with alternating cookie generations; each
pass then deletes the other generation.  After both passes the switch holds
exactly the planned flows: a restarted controller reconciles to the same
table with no duplicates and no gap.  Later state changes are sent as diffs.

The one packet-in is a routed packet whose TTL ran out at ``dec_nw_ttl``: the
app answers it with ICMP time exceeded from the fabric gateway
(``controllers.ttl_exceeded``), injected into the switch's own pipeline, so
traceroute shows the fabric as the router it is.

The orchestrator talks to the app over a JSON-lines socket on 127.0.0.1.
"""
from __future__ import annotations

import json
import logging
import os

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from controllers import ofp_convert
from controllers.fabric_plan import COOKIE, Flow, Group, diff_flows, plan_switch
from controllers.fabric_state import FabricState
from controllers.ttl_exceeded import time_exceeded

LOG = logging.getLogger("k8snet.fabric")
GEN_BIT = 0x1_0000_0000  # cookie bit that tells the two generations apart
STATE_ENV = "K8SNET_FABRIC_STATE"
API_PORT_ENV = "K8SNET_CONTROLLER_API_PORT"


class FabricRouter(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.state_file = os.environ.get(STATE_ENV, "")
        self.state: FabricState | None = None
        self.datapaths: dict[int, object] = {}
        self.installed: dict[int, tuple[list[Flow], list[Group]]] = {}
        if self.state_file and os.path.exists(self.state_file):
            with open(self.state_file) as fh:
                self.state = FabricState.from_json(fh.read())
        port = int(os.environ.get(API_PORT_ENV, "0") or 0)
        if port:
            self.server = hub.StreamServer(("127.0.0.1", port), self._serve)
            hub.spawn(self.server.serve_forever)

    # --- OpenFlow events -------------------------------------------------

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features_handler(self, ev):
        datapath = ev.msg.datapath
        self.datapaths[datapath.id] = datapath
        self._ask_for_invalid_ttl(datapath)
        self._reconcile(datapath)

    @staticmethod
    def _ask_for_invalid_ttl(datapath) -> None:
        """Packet-ins for a TTL run out (and only those: no flow sends any
        other), whatever the switch's default asynchronous configuration."""
        ofp, parser = datapath.ofproto, datapath.ofproto_parser
        pin = 1 << ofp.OFPR_INVALID_TTL
        status = (1 << ofp.OFPPR_ADD) | (1 << ofp.OFPPR_DELETE) | (1 << ofp.OFPPR_MODIFY)
        datapath.send_msg(parser.OFPSetAsync(datapath, [pin, 0], [status, status], [0, 0]))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in_handler(self, ev):
        msg = ev.msg
        datapath = msg.datapath
        ofp, parser = datapath.ofproto, datapath.ofproto_parser
        if msg.reason != ofp.OFPR_INVALID_TTL or self.state is None:
            return
        reply = time_exceeded(bytes(msg.data), self.state.gateway_ip, self.state.gateway_mac)
        if reply is None:
            return
        datapath.send_msg(parser.OFPPacketOut(
            datapath=datapath, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
            actions=[parser.OFPActionOutput(ofp.OFPP_TABLE)], data=reply))

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER])
    def state_change_handler(self, ev):
        # Nothing to do on connect here: features already reconciled.
        pass

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def error_handler(self, ev):
        msg = ev.msg
        LOG.debug("switch %s error type=%s code=%s", msg.datapath.id,
                  msg.type, msg.code)

    # --- installing ------------------------------------------------------

    def _plan(self, dpid: int) -> tuple[list[Flow], list[Group]]:
        if self.state is None or dpid not in self.state.switches:
            return [], []
        return plan_switch(self.state, dpid)

    def _reconcile(self, datapath) -> None:
        """Bring a (re)connected switch to exactly the planned table."""
        flows, groups = self._plan(datapath.id)
        for group in groups:
            datapath.send_msg(ofp_convert.group_mod(datapath, group, "modify"))
            datapath.send_msg(ofp_convert.group_mod(datapath, group, "add"))
        for gen in (0, GEN_BIT):
            for flow in flows:
                marked = Flow(flow.table, flow.priority, flow.match,
                              flow.actions, flow.goto, COOKIE | gen)
                datapath.send_msg(ofp_convert.flow_mod(datapath, marked))
            datapath.send_msg(ofp_convert.delete_by_cookie(
                datapath, gen ^ GEN_BIT, GEN_BIT))
        self.installed[datapath.id] = (
            [Flow(f.table, f.priority, f.match, f.actions, f.goto,
                  COOKIE | GEN_BIT) for f in flows], groups)
        datapath.send_barrier()
        LOG.info("switch %016x reconciled: %d flows, %d groups",
                 datapath.id, len(flows), len(groups))

    def _update(self, datapath) -> int:
        """Send only what changed since the last install on this switch."""
        flows, groups = self._plan(datapath.id)
        flows = [Flow(f.table, f.priority, f.match, f.actions, f.goto,
                      COOKIE | GEN_BIT) for f in flows]
        old_flows, old_groups = self.installed.get(datapath.id, ([], []))
        old_by_id = {g.group_id: g for g in old_groups}
        new_ids = {g.group_id for g in groups}
        for group in groups:
            if group.group_id not in old_by_id:
                datapath.send_msg(ofp_convert.group_mod(datapath, group, "add"))
            elif old_by_id[group.group_id] != group:
                datapath.send_msg(ofp_convert.group_mod(datapath, group, "modify"))
        add, delete = diff_flows(old_flows, flows)
        for flow in delete:
            datapath.send_msg(ofp_convert.flow_mod(datapath, flow, delete=True))
        for flow in add:
            datapath.send_msg(ofp_convert.flow_mod(datapath, flow))
        for group in old_groups:
            if group.group_id not in new_ids:
                datapath.send_msg(ofp_convert.group_mod(datapath, group, "delete"))
        self.installed[datapath.id] = (flows, groups)
        datapath.send_barrier()
        return len(add) + len(delete)

    def set_state(self, state: FabricState) -> int:
        self.state = state
        if self.state_file:
            tmp = self.state_file + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(state.to_json())
            os.replace(tmp, self.state_file)
        return sum(self._update(dp) for dp in list(self.datapaths.values()))

    # --- the loopback API ------------------------------------------------

    def _serve(self, sock, addr) -> None:
        reader = sock.makefile("r")
        try:
            for line in reader:
                reply = self._handle(line)
                sock.sendall((json.dumps(reply) + "\n").encode())
        except OSError:
            pass
        finally:
            sock.close()

    def _handle(self, line: str) -> dict:
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "ping":
                return {"ok": True, "switches": sorted(self.datapaths)}
            if op == "set_state":
                changed = self.set_state(FabricState.from_dict(request["state"]))
                return {"ok": True, "changed": changed,
                        "switches": sorted(self.datapaths)}
            return {"ok": False, "error": f"unknown op {op!r}"}
        except (ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "error": str(exc)}
