"""The CLI's ``trace`` and ``draw``: a connection's path, and the cluster's picture."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from k8snet import naming
from k8snet.cli.args import ArgParser
from k8snet.cli.trace_sim import sim_inputs_of, sim_target_of
from k8snet.cluster import faults as cluster_faults
from k8snet.errors import K8snetError
from k8snet.trace import draw, picture, story
from k8snet.trace.model import Lab, TraceResult
from k8snet.trace.simulate import simulate
from k8snet.trace.target import source_of, target_of
from k8snet.trace.tracer import trace

Out = Callable[[str], None]


def lab_of(cluster) -> Lab:
    """The tracer's view of a running cluster."""
    net = cluster.network.net
    links: dict[str, tuple[str, str]] = {}
    uplinks: dict[str, tuple[str, str]] = {}
    switches = {sw.name for sw in net.switches}
    for link in net.links:
        for a, b in ((link.intf1, link.intf2), (link.intf2, link.intf1)):
            if a.node.name in switches:
                links[a.name] = (b.node.name, b.name)
                if b.node.name not in switches:
                    uplinks[b.node.name] = (a.node.name, a.name)
    name = cluster.spec.name
    plan = cluster.spec.network
    return Lab(cluster.store, name,
               {n: naming.node_netns(name, n) for n in cluster.network.nodes},
               {n: node.ip for n, node in cluster.network.nodes.items()},
               lambda pod: cluster.pods.runtime(pod).netns, links, uplinks,
               {"gw": f"k8snet-{name}-gw", "ext": f"k8snet-{name}-ext"},
               {"gw": plan.gateway_router, "ext": plan.ext_ip},
               cluster_faults.active(cluster.network, name))


def path_of(result: TraceResult, pic: picture.Picture) -> picture.Path:
    """The hops as a picture path (pairs the picture lacks are left out)."""
    known = picture.element_ids(pic)
    hops, n = [], 0
    for hop in result.hops:
        for src, dst in hop.path:
            if src in known and dst in known:
                n += 1
                hops.append(picture.PathHop(n, src, dst, hop.title[:24]))
    return picture.Path(hops)


def trace_command(cluster, words: list[str], out: Out) -> TraceResult:
    p = ArgParser(prog="trace", add_help=False)
    p.add_argument("source")
    p.add_argument("destination")
    p.add_argument("--udp", action="store_true")
    p.add_argument("--simulate", action="store_true",
                   help="walk the rendered rules and flows; send nothing")
    p.add_argument("--svg", default="")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    args = p.parse_args(words)
    if args.svg and Path(args.svg).suffix not in draw.FORMATS:
        raise K8snetError(f"trace --svg: {args.svg}: the picture must be .svg or .png")
    lab = lab_of(cluster)
    protocol = "UDP" if args.udp else "TCP"
    src = source_of(lab, args.source)
    if args.simulate:
        inputs = sim_inputs_of(cluster)
        result = simulate(inputs, src, sim_target_of(inputs, src, args.destination, protocol),
                          protocol)
    else:
        result = trace(lab, src, target_of(lab, src, args.destination, protocol), protocol)
    if args.output == "json":
        doc = {"source": asdict(result.source), "target": {
            k: v for k, v in asdict(result.target).items() if k != "dns"},
               "protocol": protocol, "delivered": result.delivered, "verdict": result.verdict,
               "backend": result.backend, "reply": result.reply, "error": result.error,
               "hops": [{"title": h.title, "lines": h.lines, "path": h.path}
                        for h in (([result.target.dns] if result.target.dns else [])
                                  + result.hops[1 if result.target.dns else 0:])]}
        out(json.dumps(doc, indent=2) + "\n")
    else:
        out(story.render(result))
    if args.svg:
        pic = picture.picture_from(cluster.store, picture.fabric_from(cluster.network))
        written = _render(pic, path_of(result, pic), Path(args.svg))
        out(f"*** wrote {written}\n")
    return result


def _render(pic, path, out: Path) -> Path:
    try:
        return draw.render(pic, path, out)
    except OSError as exc:
        raise K8snetError(f"cannot write {out}: {exc.strerror or exc}") from None


def draw_command(cluster, words: list[str], out: Out) -> Path:
    p = ArgParser(prog="draw", add_help=False)
    p.add_argument("file")
    args = p.parse_args(words)
    if Path(args.file).suffix.lower() not in draw.FORMATS:
        raise K8snetError(f"draw: cannot draw {args.file!r}: the file name must end in "
                          f"{' or '.join(draw.FORMATS)}")
    pic = picture.picture_from(cluster.store, picture.fabric_from(cluster.network))
    written = _render(pic, None, Path(args.file))
    out(f"*** wrote {written}\n")
    return written
