"""The simulated fabric's steps as the live trace words them (pure text):
flows as ``ovs-ofctl`` writes them, a switch pass with its ECMP choice."""
from __future__ import annotations

from controllers.fabric_plan import Flow
from controllers.fabric_state import FabricState
from k8snet.trace.ofsim import SwitchHop


def action_text(action: tuple) -> str:
    """An action as ``ovs-ofctl`` writes it (``set_field:V->F``, ``dec_ttl``...)."""
    kind = action[0]
    if kind == "set_field":
        return f"set_field:{action[2]}->{action[1]}"
    if kind == "move":
        return f"move:{action[1]}->{action[2]}"
    if kind == "dec_nw_ttl":
        return "dec_ttl"
    return f"{kind}:{action[1]}"


def flow_text(flow: Flow) -> str:
    """A flow as the live trace shows one (``ovstrace.OfFlow``)."""
    acts = [action_text(a) for a in flow.actions]
    if flow.goto is not None:
        acts.append(f"goto_table:{flow.goto}")
    match = ",".join(f"{k}={v:#06x}" if k == "eth_type" else f"{k}={v}"
                     for k, v in flow.match) or "*"
    return (f"table {flow.table} priority {flow.priority} cookie {flow.cookie:#x} "
            f"match {match} actions {', '.join(acts) or 'drop'}")


def switch_lines(switch_names: dict[int, str], step: SwitchHop, state: FabricState
                 ) -> list[str]:
    """One simulated switch pass as trace lines: the flows hit, an ECMP
    group's buckets and the one followed, the output ports."""
    name = switch_names.get(step.dpid, f"dpid {step.dpid}")
    lines = [f"switch {name} (in_port {step.in_port}):"]
    lines += [f"  {flow_text(f)}" for f in step.flows]
    if step.group is not None:
        macs = {h.mac: h.name for h in state.hosts}
        names = [next((macs.get(a[2], a[2]) for a in bucket if a[:2] == ("set_field", "eth_dst")),
                      "?") for bucket in step.group.buckets]
        lines.append(f"  group:{step.group.group_id} is an ECMP select group: the switch hashes "
                     f"each connection onto one bucket, one of {len(names)}: "
                     f"{', '.join(names)}; the simulation follows {names[step.bucket]}")
    ports = [str(port) for port, _ in step.outputs]
    lines.append(f"  output: {', '.join(ports) if ports else 'none (dropped)'}")
    return lines
