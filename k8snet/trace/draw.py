"""Render a ``Picture`` (and optionally a ``Path`` over it) with Graphviz's
``dot`` into SVG or PNG.

Layout, top to bottom: ext, gw, the fabric switches, one box per node (its
eth0 and pods' gateway, its pods, edges pod—node labelled with the veth), and the
Services as dashed ellipses with dashed edges to their endpoint pods.  With
a path, the hops are bold red edges labelled with their numbers; everything
else turns grey.

SVG ids, for tests and for styling:

- an element (see ``k8snet.trace.picture``) has ``id=svg_id(element)``:
  every character other than ``A-Z a-z 0-9 . -`` becomes ``_`` and two hex
  digits (``_`` itself is ``_5f``), so ``default/web-1`` is
  ``default_2fweb-1`` and ``svc:default/web`` is ``svc_3adefault_2fweb``;
  ``element_of`` reverses it.
- an edge has ``id="edge:" + svg_id(src) + "->" + svg_id(dst)``; a
  highlighted hop carries ``class="hop"`` (Graphviz writes ``edge hop``) and
  its id follows the hop's direction.  ``highlighted_edges`` reads them back.
"""
from __future__ import annotations

import pathlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

import graphviz

from k8snet.errors import K8snetError
from k8snet.trace.picture import NodeBox, Path, PathHop, Picture, unknown_ids

FORMATS = {".svg": "svg", ".png": "png"}
HOP_COLOR = "red"
DIM_COLOR, DIM_FONT = "grey70", "grey45"
_SAFE = re.compile(r"[A-Za-z0-9.\-]")


def svg_id(element: str) -> str:
    """The SVG/DOT id of an element id (reversible; see the module docstring)."""
    return "".join(c if _SAFE.fullmatch(c) else "".join(f"_{b:02x}" for b in c.encode())
                   for c in element)


def element_of(sid: str) -> str:
    """The element id of an SVG id made by ``svg_id``."""
    out, i = bytearray(), 0
    while i < len(sid):
        if sid[i] == "_":
            out.append(int(sid[i + 1:i + 3], 16))
            i += 3
        else:
            out += sid[i].encode()
            i += 1
    return out.decode()


def edge_id(src: str, dst: str) -> str:
    """``edge:<svg_id(src)>-><svg_id(dst)>``."""
    return f"edge:{svg_id(src)}->{svg_id(dst)}"


def _label(*lines: str) -> str:
    """A DOT label of literal ``lines`` (backslashes kept, never HTML)."""
    return graphviz.nohtml("\\n".join(graphviz.escape(line) for line in lines if line))


@dataclass
class _Edge:
    """One undirected picture edge drawn tail above head; ``attrs`` for DOT."""

    tail: str
    head: str
    attrs: dict[str, str] = field(default_factory=dict)


def _level(picture: Picture, element: str) -> int:
    """Rank order: ext, gw, spine-like switches, edge switches, nodes, pods,
    Services.  An edge is drawn from the lower level to the higher."""
    nodes = {n.name for n in picture.nodes}
    if element == picture.ext:
        return 0
    if element == picture.gateway:
        return 1
    if element in picture.switches:
        edge = any(element in link and (set(link) & nodes) for link in picture.links)
        return 3 if edge else 2
    if element in nodes:
        return 4
    if element.startswith("svc:"):
        return 7
    return 6


def _edges(picture: Picture) -> dict[frozenset[str], _Edge]:
    """Every edge of the picture, keyed by its two ends."""
    edges: dict[frozenset[str], _Edge] = {}

    def add(a: str, b: str, **attrs: str) -> None:
        if _level(picture, a) > _level(picture, b):
            a, b = b, a
        edges[frozenset((a, b))] = _Edge(a, b, attrs)

    for a, b in picture.links:
        add(a, b)
    pods = set()
    for node in picture.nodes:
        for pod in node.pods:
            pods.add(pod.key)
            if pod.host_network:
                add(node.name, pod.key, label=_label("host network"))
            else:
                add(node.name, pod.key, label=_label(pod.veth))
    for svc in picture.services:
        for key in svc.endpoints:
            if key in pods:
                add(key, svc.key, style="dashed")
    return edges


def _node_cluster(dot: graphviz.Digraph, node: NodeBox,
                  style: Callable[[str], dict[str, str]]) -> None:
    frame = style("")
    with dot.subgraph(name=f"cluster_{svg_id(node.name)}") as box:
        box.attr(id=f"box:{svg_id(node.name)}", label=_label(f"{node.name}  pods {node.pod_cidr}"),
                 style="rounded", color=frame.get("color", "black"),
                 fontcolor=frame.get("fontcolor", "black"))
        lines = [node.name, f"eth0 {node.ip}"]
        if node.pod_gateway and any(not pod.host_network and pod.ip for pod in node.pods):
            lines.append(f"pods' gateway {node.pod_gateway}")
        box.node(svg_id(node.name), _label(*lines), id=svg_id(node.name),
                 shape="box", **style(node.name))
        for pod in node.pods:
            name = pod.name if pod.namespace == "default" else pod.key
            box.node(svg_id(pod.key), _label(name, pod.ip or "no IP", pod.veth),
                     id=svg_id(pod.key), shape="box", fillcolor="lightyellow",
                     style="rounded,filled" if pod.ready else "rounded,filled,dashed",
                     **style(pod.key))


def _elements(dot: graphviz.Digraph, picture: Picture, dim: dict[str, str],
              on_path: set[str]) -> None:
    def style(element: str) -> dict[str, str]:
        return {"color": HOP_COLOR, "penwidth": "2"} if element in on_path else dim

    for element, label, shape in ((picture.ext, "ext (Internet)", "ellipse"),
                                  (picture.gateway, "gw (router)", "hexagon")):
        dot.node(svg_id(element), _label(label, picture.labels.get(element, "")),
                 id=svg_id(element), shape=shape, **style(element))
    for sw in picture.switches:
        dot.node(svg_id(sw), _label(sw, picture.labels.get(sw, "")), id=svg_id(sw),
                 shape="box", style="rounded,filled", fillcolor="lightblue", **style(sw))
    for node in picture.nodes:
        _node_cluster(dot, node, style)
    for svc in picture.services:
        ips = " ".join(svc.external_ips)
        dot.node(svg_id(svc.key), _label(f"svc {svc.key[4:]}", f"{svc.cluster_ip} {svc.type}",
                                         f"ext {ips}" if ips else ""),
                 id=svg_id(svc.key), shape="ellipse", style="dashed", **style(svc.key))


def _hop_groups(path: Path | None) -> dict[tuple[str, str], list[PathHop]]:
    """The hops by (src, dst), in hop order: one edge per direction."""
    groups: dict[tuple[str, str], list[PathHop]] = {}
    for hop in sorted(path.hops if path is not None else (), key=lambda h: h.number):
        groups.setdefault((hop.src, hop.dst), []).append(hop)
    return groups


HOP_ATTRS = {"color": HOP_COLOR, "fontcolor": HOP_COLOR, "penwidth": "2.5", "style": "bold",
             "class": "hop"}


def _hop_edge(dot: graphviz.Digraph, src: str, dst: str, hops: list[PathHop],
              base: _Edge | None) -> None:
    """The bold red edge of ``hops`` from ``src`` to ``dst``: drawn in place of
    the picture's ``base`` edge (same layout, arrow along the hop), or, when
    the picture lacks one, as an extra edge that must not move the layout."""
    text = [f"{h.number}. {h.label}" if h.label else str(h.number) for h in hops]
    if base is None:
        tail, head, extra = src, dst, {"dir": "forward", "constraint": "false"}
    else:
        tail, head = base.tail, base.head
        extra = {"dir": "forward" if (tail, head) == (src, dst) else "back"}
    dot.edge(svg_id(tail), svg_id(head), label=_label(*text), id=edge_id(src, dst),
             **extra, **HOP_ATTRS)


def graph(picture: Picture, path: Path | None = None) -> graphviz.Digraph:
    """The DOT graph of ``picture`` with ``path`` highlighted.  Raises
    ``ValueError`` when links or hops name elements the picture lacks.

    Edges go out in the same order with or without a path, so a trace's
    picture keeps the plain one's ranks; hop labels and the extra edges may
    still reorder elements within a rank."""
    missing = unknown_ids(picture, path)
    if missing:
        raise ValueError(f"not in the picture: {', '.join(missing)}")
    dim = {"color": DIM_COLOR, "fontcolor": DIM_FONT} if path is not None else {}
    on_path = {e for h in path.hops for e in (h.src, h.dst)} if path is not None else set()
    dot = graphviz.Digraph("k8snet")
    dot.attr(id="picture", rankdir="TB", ranksep="0.5", nodesep="0.3", fontname="Helvetica",
             fontsize="10")
    dot.attr("node", fontname="Helvetica", fontsize="10")
    dot.attr("edge", fontname="Helvetica", fontsize="9", dir="none")
    _elements(dot, picture, dim, on_path)
    groups = _hop_groups(path)
    for key, edge in _edges(picture).items():
        pair = next((p for p in groups if p[0] != p[1] and frozenset(p) == key), None)
        if pair is None:
            dot.edge(svg_id(edge.tail), svg_id(edge.head), id=edge_id(edge.tail, edge.head),
                     **{**edge.attrs, **dim})
        else:
            _hop_edge(dot, *pair, groups.pop(pair), edge)
    for (src, dst), hops in groups.items():
        _hop_edge(dot, src, dst, hops, None)
    return dot


def render(picture: Picture, path: Path | None, out: pathlib.Path) -> pathlib.Path:
    """Write the picture (with ``path`` highlighted, if any) to ``out``: SVG or
    PNG by its suffix.  Returns ``out``.  ``ValueError`` for another suffix or
    unknown elements; ``K8snetError`` when Graphviz's ``dot`` is missing."""
    out = pathlib.Path(out)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot draw {out.name!r}: the file name must end in "
                         f"{' or '.join(FORMATS)}")
    dot = graph(picture, path)
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound as e:
        raise K8snetError("Graphviz's dot is not installed (Debian package graphviz; "
                          "scripts/setup.sh installs it)") from e
    out.write_bytes(data)
    return out


def highlighted_edges(svg_text: str | bytes) -> set[tuple[str, str]]:
    """The (src, dst) element ids of the edges drawn as hops (``class`` hop)
    in an SVG that ``render`` wrote."""
    root = ET.fromstring(svg_text)
    found = set()
    for el in root.iter():
        sid = el.get("id") or ""
        if "hop" in (el.get("class") or "").split() and sid.startswith("edge:"):
            src, dst = sid[len("edge:"):].split("->", 1)
            found.add((element_of(src), element_of(dst)))
    return found
