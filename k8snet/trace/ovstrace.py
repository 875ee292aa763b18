"""The fabric's part of a path: ``ovs-appctl ofproto/trace`` switch by switch.

The installed flows are asked what they do with the probe's packet as it
leaves the source node (its MACs, addresses, ports and TTL).  Switches joined
by patch ports share one datapath pass, so one trace crosses them all: its
output has a ``bridge("NAME")`` section per switch, and one final flow and
one set of datapath actions for the whole pass.  The last output port leads
to a node, the gateway or (over a veth link) another switch, where the trace
goes on with the rewritten packet ("Final flow").  The parser is pure.

ovs-vswitchd(8), "OFPROTO COMMANDS": ofproto/trace.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

MAX_SWITCHES = 8       # no path in a lab fabric crosses more

_BRIDGE = re.compile(r'^\s*bridge\("(?P<name>[^"]+)"\)\s*$')
_FLOW_HEAD = re.compile(r"^\s*(?P<table>\d+)\. (?P<match>.*?),? ?priority (?P<prio>\d+)"
                        r"(?:, cookie (?P<cookie>0x[0-9a-f]+))?")


@dataclass
class OfFlow:
    """One flow the packet hit: table, priority, cookie, match and actions."""

    table: int
    priority: int
    cookie: str
    match: str
    actions: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"table {self.table} priority {self.priority} cookie {self.cookie} "
                f"match {self.match or '*'} actions {', '.join(self.actions) or 'drop'}")


@dataclass
class SwitchStep:
    """What one switch did with the packet.

    ``patch_to`` names the switch a patch port handed the packet to within
    the same datapath pass; ``final`` and ``datapath_actions`` belong to the
    pass, so only its last step has them.
    """

    bridge: str
    in_port: int
    flows: list[OfFlow] = field(default_factory=list)
    final: dict[str, str] = field(default_factory=dict)
    datapath_actions: str = ""
    patch_to: str = ""
    error: str = ""             # ofproto/trace refused the flow: nothing was traced

    @property
    def output_ports(self) -> list[int]:
        """The OpenFlow ports the flows output to (``output:N`` actions); the
        datapath's own port numbers differ from OpenFlow's."""
        return [int(a.split(":", 1)[1]) for f in self.flows for a in f.actions
                if a.startswith("output:") and a.split(":", 1)[1].isdigit()]

    @property
    def group(self) -> str:
        """``group:N`` when a flow hands the packet to a group (ECMP), else ""."""
        for f in self.flows:
            for a in f.actions:
                if a.startswith("group:"):
                    return a.split(",")[0]
        return ""

    @property
    def dropped(self) -> bool:
        return self.datapath_actions.strip() in ("", "drop")


def flow_fields(text: str) -> dict[str, str]:
    """``tcp,in_port=1,dl_src=..`` as a dict (bare words map to "")."""
    out = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        out[key.strip()] = value.strip()
    return out


def parse_pass(bridge: str, in_port: int, text: str) -> list[SwitchStep]:
    """``ofproto/trace`` output as one step per bridge crossed, in order.

    The first step is ``bridge`` entered on ``in_port``; a later bridge,
    reached over a patch port, gets in_port 0 (the text does not say; the
    caller knows the link).  The final flow and datapath actions go on the
    last step.  Empty output is one step that dropped the packet.
    """
    steps = [SwitchStep(bridge, in_port)]
    step = steps[0]
    current: OfFlow | None = None
    flow: dict[str, str] = {}
    seen_bridge = False
    for raw in text.splitlines():
        line = raw.rstrip()
        head = _BRIDGE.match(line)
        if head:
            if seen_bridge:
                step.patch_to = head.group("name")
                step = SwitchStep(head.group("name"), 0)
                steps.append(step)
            seen_bridge = True
            current = None
            continue
        m = _FLOW_HEAD.match(line)
        if m and not line.strip().startswith(("Final flow", "Megaflow", "Datapath")):
            current = OfFlow(int(m.group("table")), int(m.group("prio")),
                             m.group("cookie") or "0x0", m.group("match"))
            step.flows.append(current)
        elif line.startswith("Flow:"):
            flow = flow_fields(line.split(":", 1)[1].strip())
        elif line.startswith("Final flow:"):
            final = line.split(":", 1)[1].strip()
            step.final = dict(flow) if final == "unchanged" else flow_fields(final)
            current = None
        elif line.startswith("Datapath actions:"):
            step.datapath_actions = line.split(":", 1)[1].strip()
            current = None
        elif current is not None and line.startswith("    ") and line.strip():
            current.actions.append(line.strip())
    return steps


def parse(bridge: str, in_port: int, text: str) -> SwitchStep:
    """The first bridge's step (the whole trace when it crossed one bridge)."""
    return parse_pass(bridge, in_port, text)[0]


def ofport(interface: str) -> int | None:
    res = subprocess.run(["ovs-vsctl", "get", "Interface", interface, "ofport"],
                         capture_output=True, text=True)
    value = res.stdout.strip()
    return int(value) if value.lstrip("-").isdigit() else None


def trace_pass(bridge: str, in_port: int, fields: dict[str, str]) -> list[SwitchStep]:
    """One ``ofproto/trace`` from ``bridge``: a step per bridge crossed."""
    flow = ",".join([fields.get("proto", "tcp"), f"in_port={in_port}"]
                    + [f"{k}={v}" for k, v in fields.items() if k != "proto" and v])
    res = subprocess.run(["ovs-appctl", "ofproto/trace", bridge, flow], capture_output=True,
                         text=True)
    steps = parse_pass(bridge, in_port, res.stdout)
    if res.returncode != 0:
        steps[0].error = (res.stderr.strip().splitlines() or ["failed"])[0]
    return steps


def _out_interface(step: SwitchStep, links: dict[str, tuple[str, str]]) -> str | None:
    """The interface of ``step``'s bridge that its first output port names."""
    if not step.output_ports:
        return None
    port = step.output_ports[0]
    return next((i for i in links if i.startswith(f"{step.bridge}-") and ofport(i) == port),
                None)


def trace_fabric(first: str, in_interface: str, fields: dict[str, str],
                 links: dict[str, tuple[str, str]]) -> tuple[list[SwitchStep], str]:
    """Follow the packet from ``first`` (entering on ``in_interface``) to the
    element it leaves the fabric for.  ``links`` maps a switch interface name
    to ``(peer element, peer interface)``.  Returns the steps and the element
    reached ("" when dropped)."""
    steps: list[SwitchStep] = []
    bridge, interface = first, in_interface
    for _ in range(MAX_SWITCHES):
        port = ofport(interface)
        if port is None:
            break
        crossed = trace_pass(bridge, port, fields)
        for prev, step in zip(crossed, crossed[1:], strict=False):  # over patch ports
            out_if = _out_interface(prev, links)
            step.in_port = (ofport(links[out_if][1]) or 0) if out_if in links else 0
        steps += crossed
        last = crossed[-1]
        if last.dropped or not last.output_ports:
            return steps, ""
        out_if = _out_interface(last, links)
        if out_if is None or out_if not in links:
            return steps, ""
        peer, peer_if = links[out_if]
        final = last.final
        fields = dict(fields, dl_src=final.get("dl_src", ""), dl_dst=final.get("dl_dst", ""),
                      nw_ttl=final.get("nw_ttl", fields.get("nw_ttl", "64")))
        if not peer_if.startswith(f"{peer}-"):    # a host, not a switch port
            return steps, peer
        bridge, interface = peer, peer_if        # a veth between switches: a new pass
    return steps, ""
