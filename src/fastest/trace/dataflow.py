"""The data flow of a run as a picture: dataset → pipeline ops → network ops → traces, joined by their keys.

:func:`flow_graph` turns the items of one (mode, epoch, ds_id) into a :class:`FlowGraph`: one node per
item in the order they run, one edge per key from the item that last wrote it to each item that reads
it. :func:`flow_svg` draws it as inline SVG, with graphviz's ``dot`` when it is installed and with
fastest's own layout otherwise (one row per item in running order, one vertical lane per key value
to the right of the rows), so a report never needs anything but the Python standard library.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastest.op.op import removed_keys

GROUP_COLORS = {"Dataset": "#dbe8fb", "Pipeline": "#dcf1e2", "Network": "#fdefc8", "Traces": "#f9dcd9"}
NODE_W, NODE_H, ROW_GAP, HEADER_H, PAD = 260, 36, 10, 22, 12


@dataclass
class FlowNode:
    """One item of the flow: its name, group ("Dataset", "Pipeline", "Network", "Traces") and keys."""

    name: str
    group: str
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    reads_all: bool = False
    link: str | None = None  # "#anchor" of the item's parameter table

    @property
    def keys_text(self) -> str:
        reads = "every key (*)" if self.reads_all else ", ".join(self.reads)
        if reads and self.writes:
            return f"{reads} → {', '.join(self.writes)}"
        return f"reads {reads}" if reads else (f"writes {', '.join(self.writes)}" if self.writes else "")


@dataclass
class FlowGraph:
    """Nodes in running order and ``(producer, consumer, key)`` edges between node indices."""

    title: str
    nodes: list[FlowNode]
    edges: list[tuple[int, int, str]]


def flow_graph(title: str, dataset: FlowNode, stages: Iterable[tuple[str, Iterable[Any]]],
               label: Callable[[Any], str], links: Mapping[int, str] | None = None) -> FlowGraph:
    """Nodes and key edges for a dataset node followed by ``(group, items)`` stages of ops and traces.

    ``label(item)`` names an item's node; ``links`` maps ``id(item)`` to the anchor of its table. A
    ``Delete``-style op ends the life of the keys it removes, so a later op writing the same key starts
    a new edge.

    >>> from fastest.op.op import Op
    >>> graph = flow_graph("t", FlowNode("data", "Dataset", writes=["x"]),
    ...                    [("Pipeline", [Op("x", "y")]), ("Network", [Op(["x", "y"], "z")])], lambda o: "Op")
    >>> graph.edges
    [(0, 1, 'x'), (0, 2, 'x'), (1, 2, 'y')]
    """
    links = links or {}
    nodes = [dataset]
    edges: list[tuple[int, int, str]] = []
    writer = dict.fromkeys(dataset.writes, 0)
    for group, items in stages:
        for item in items:
            index = len(nodes)
            inputs = [k for k in getattr(item, "inputs", []) if k != "*"]
            nodes.append(FlowNode(label(item), group, inputs, list(getattr(item, "outputs", [])),
                                  "*" in getattr(item, "inputs", []), links.get(id(item))))
            edges += [(writer[key], index, key) for key in dict.fromkeys(inputs) if key in writer]
            for key in removed_keys(item):
                writer.pop(key, None)
            writer.update(dict.fromkeys(nodes[-1].writes, index))
    return FlowGraph(title, nodes, edges)


def flow_svg(graph: FlowGraph, uid: str, use_dot: bool = True) -> str:
    """The graph as an ``<svg>`` element: laid out by graphviz's ``dot`` when installed (and ``use_dot``),
    else by :func:`layered_svg`. ``uid`` keeps ids unique among several pictures on one page."""
    dot = shutil.which("dot") if use_dot else None
    if dot is not None:
        try:
            done = subprocess.run([dot, "-Tsvg"], input=to_dot(graph), capture_output=True, text=True, timeout=60,
                                  check=True)
            return _inline(done.stdout)
        except (OSError, subprocess.SubprocessError):
            pass  # a broken graphviz install: draw it ourselves
    return layered_svg(graph, uid)


def to_dot(graph: FlowGraph) -> str:
    """The graph in graphviz's DOT language: one cluster per group, nodes linked to their tables."""
    lines = ["digraph flow {", '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.3];',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    for number, (group, members) in enumerate(_groups(graph.nodes)):
        lines.append(f'  subgraph cluster_{number} {{ label="{_dot(group)}"; style="rounded"; color="#999999";')
        for i in members:
            node = graph.nodes[i]
            url = f', URL="{_dot(node.link)}"' if node.link else ""
            text = _dot(node.name + ("\n" + node.keys_text if node.keys_text else ""))
            lines.append(f'    n{i} [label="{text}", fillcolor="{GROUP_COLORS.get(node.group, "#eeeeee")}"{url}];')
        lines.append("  }")
    lines += [f"  n{i} -> n{i + 1} [style=invis];" for i in range(len(graph.nodes) - 1)]  # keep the running order
    lines += [f'  n{a} -> n{b} [label="{_dot(key)}"];' for a, b, key in graph.edges]
    return "\n".join([*lines, "}"]) + "\n"


def layered_svg(graph: FlowGraph, uid: str) -> str:
    """fastest's own layout: rows in running order grouped in boxes, and one lane per key value.

    A value (a key written by one node) runs down its lane from its writer to its last reader, with an
    arrow into each reader; lanes are reused once a value is no longer read.
    """
    tops, y = [], PAD
    for _, members in _groups(graph.nodes):
        y += HEADER_H
        for _ in members:
            tops.append(y)
            y += NODE_H + ROW_GAP
        y += PAD
    values: dict[tuple[int, str], list[int]] = {}
    for a, b, key in graph.edges:
        values.setdefault((a, key), []).append(b)
    ports = _ports(graph, values)
    lane_ends: list[int] = []
    lanes: dict[tuple[int, str], int] = {}
    for (a, key), readers in sorted(values.items(), key=lambda item: (item[0][0], max(item[1]))):
        free = next((i for i, end in enumerate(lane_ends) if end < a), None)
        if free is None:
            lane_ends.append(0)
            free = len(lane_ends) - 1
        lane_ends[free] = max(readers)
        lanes[(a, key)] = free
    lane_w = max([56] + [7 * len(key) + 14 for _, key in values])
    left = PAD + 8
    right = left + NODE_W
    width = right + 24 + lane_w * len(lane_ends) + PAD
    height = y
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="flow" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{_esc(graph.title)}">',
             f"<title>{_esc(graph.title)}</title>",
             f'<defs><marker id="arrow-{uid}" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>']
    for group, members in _groups(graph.nodes):
        top = tops[members[0]] - HEADER_H + 4
        bottom = tops[members[-1]] + NODE_H + 6
        parts.append(f'<rect x="{PAD}" y="{top}" width="{NODE_W + 16}" height="{bottom - top}" rx="6" fill="none" '
                     f'stroke="#bbb"/><text x="{PAD + 6}" y="{top + 14}" class="group">{_esc(group)}</text>')
    for i, node in enumerate(graph.nodes):
        box = (f'<rect x="{left}" y="{tops[i]}" width="{NODE_W}" height="{NODE_H}" rx="4" '
               f'fill="{GROUP_COLORS.get(node.group, "#eee")}" stroke="#777"/>'
               f'<text x="{left + 8}" y="{tops[i] + 15}" class="name">{_esc(_cut(node.name, 36))}</text>'
               f'<text x="{left + 8}" y="{tops[i] + 29}" class="keys">{_esc(_cut(node.keys_text, 42))}</text>'
               f"<title>{_esc(node.name)}: {_esc(node.keys_text)}</title>")
        parts.append(f'<a href="{_esc(node.link)}">{box}</a>' if node.link else f"<g>{box}</g>")
    for (a, key), readers in values.items():
        x = right + 24 + lane_w * lanes[(a, key)]
        y0 = tops[a] + ports[(a, key, "out")]
        y1 = max(tops[b] + ports[(b, key, "in")] for b in readers)
        parts.append(f'<path d="M{right},{y0} H{x} V{y1}" fill="none" stroke="#555"/>'
                     f'<text x="{x + 4}" y="{y0 - 3}" class="key">{_esc(key)}</text>')
        for b in readers:
            yb = tops[b] + ports[(b, key, "in")]
            parts.append(f'<path d="M{x},{yb} H{right + 1}" fill="none" stroke="#555" '
                         f'marker-end="url(#arrow-{uid})"/>')
    return "\n".join([*parts, "</svg>"])


def _groups(nodes: list[FlowNode]) -> list[tuple[str, list[int]]]:
    """Runs of consecutive nodes of one group."""
    groups: list[tuple[str, list[int]]] = []
    for i, node in enumerate(nodes):
        if groups and groups[-1][0] == node.group:
            groups[-1][1].append(i)
        else:
            groups.append((node.group, [i]))
    return groups


def _ports(graph: FlowGraph, values: Mapping[tuple[int, str], list[int]]) -> dict[tuple[int, str, str], int]:
    """Where each value leaves its writer and enters its readers: spread over the right edge of the box."""
    at: dict[int, list[tuple[int, str, str]]] = {}
    for a, key in values:
        at.setdefault(a, []).append((a, key, "out"))
    for _, b, key in graph.edges:
        at.setdefault(b, []).append((b, key, "in"))
    ports = {}
    for entries in at.values():
        for n, entry in enumerate(entries):
            ports[entry] = round(NODE_H * (n + 1) / (len(entries) + 1))
    return ports


def _inline(svg: str) -> str:
    """graphviz's SVG document as an element to put inside HTML (no XML prolog, doctype or comments)."""
    svg = re.sub(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->", "", svg, flags=re.S)
    return svg.strip()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _dot(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
