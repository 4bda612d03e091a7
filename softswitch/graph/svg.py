"""A call flow as a self-contained SVG drawn by us: no Graphviz binary, no fonts, no scripts.

The boxes go where ``layout`` puts them; here they get their shape by kind (a diamond where the
call branches on the time or a digit, a stadium for the number, rounded boxes for the steps,
an ellipse where the call ends, a hexagon where it is refused), colours by family, and their
lines of text. Text is measured by a fixed average character width, which is rough but needs
no font metrics: boxes come out a little wide rather than too narrow. Every string from the
config is XML-escaped (and control characters, which XML 1.0 forbids, are dropped), so a name
with ``<`` or ``&`` still gives a file every XML parser reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from softswitch.graph.layout import Box, Route, Shape, layout
from softswitch.graph.model import Edge, Flow, Node, NodeKind

__all__ = ["measure", "to_svg"]

FONT_SIZE = 12
CHAR_WIDTH = 7.0  # a generous average for 12 px sans-serif, bold titles included
LINE_HEIGHT = 15.0
PAD_X, PAD_Y = 12.0, 8.0
LABEL_CHAR = 6.4  # edge labels are 11 px

_FAMILY: dict[NodeKind, str] = {
    "number": "entry",
    "schedule": "decision",
    "ivr": "decision",
    "extension": "ring",
    "external": "ring",
    "group": "ring",
    "direct_dial": "ring",
    "queue": "wait",
    "conference": "wait",
    "voicemail": "message",
    "prompt": "message",
    "hangup": "stop",
    "reject": "stop",
}
# (fill, stroke) per family; the Mermaid text uses the same ones.
_COLOURS = {
    "entry": ("#dbeafe", "#1d4ed8"),
    "decision": ("#fff4d6", "#b8860b"),
    "ring": ("#e0f2e9", "#2f7d4f"),
    "wait": ("#ede4fb", "#6b46c1"),
    "message": ("#f3f4f6", "#4b5563"),
    "stop": ("#fde2e2", "#b91c1c"),
}
_STYLE = """
.edge { fill: none; stroke: #374151; stroke-width: 1.2; }
.back { stroke: #9a3412; stroke-dasharray: 5 3; }
.label { font-size: 11px; fill: #111827; }
.label-bg { fill: #ffffff; fill-opacity: 0.9; }
.title { font-weight: bold; }
""" + "".join(
    f".{family} {{ fill: {fill}; stroke: {stroke}; stroke-width: 1.5; }}\n"
    for family, (fill, stroke) in _COLOURS.items()
)


def _clean(text: str) -> str:
    """``text`` as XML character data: control characters dropped, then escaped."""
    return escape("".join(c for c in text if c >= " " or c == "\t"))


def _attr(text: str) -> str:
    return quoteattr("".join(c for c in text if c >= " " or c == "\t"))


def measure(node: Node) -> tuple[float, float, Shape]:
    """The size of ``node``'s shape: its text block, grown so that the text fits inside."""
    text_w = max(len(line) for line in node.lines) * CHAR_WIDTH + 2 * PAD_X
    text_h = len(node.lines) * LINE_HEIGHT + 2 * PAD_Y
    if node.kind in ("schedule", "ivr"):
        # A rectangle w x h fits in a diamond W x H when w/W + h/H <= 1: 1/1.8 + 1/2.3 < 1.
        return text_w * 1.8, text_h * 2.3, "diamond"
    if node.kind == "hangup":
        return text_w * 1.45, text_h * 1.45, "ellipse"  # > sqrt(2): the corners fit
    if node.kind in ("number", "reject"):
        return text_w + text_h, text_h, "box"  # round ends or points on both sides
    return text_w, text_h, "box"


def _merge_parallel(flow: Flow) -> Flow:
    """One edge per (source, target), labels joined ("1 / timeout"): two lines on the same
    path would draw as one with their labels on top of each other."""
    labels: dict[tuple[str, str], list[str]] = {}
    for edge in flow.edges:
        labels.setdefault((edge.source, edge.target), []).append(edge.label)
    edges = tuple(
        Edge(source, target, " / ".join(label for label in names if label))
        for (source, target), names in labels.items()
    )
    return Flow(flow.did, flow.nodes, edges)


def _points(points: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _shape(box: Box) -> str:
    family = _FAMILY[box.node.kind]
    x, y, w, h = box.x, box.y, box.width / 2, box.height / 2  # centre, half sizes
    if box.shape == "diamond":
        return _polygon(family, ((x, y - h), (x + w, y), (x, y + h), (x - w, y)))
    if box.shape == "ellipse":
        return f'<ellipse class="{family}" cx="{x:.1f}" cy="{y:.1f}" rx="{w:.1f}" ry="{h:.1f}"/>'
    if box.node.kind == "reject":  # a hexagon: pointed ends as deep as half its height
        left, right = x - w + h, x + w - h
        return _polygon(
            family,
            ((x - w, y), (left, y - h), (right, y - h), (x + w, y), (right, y + h), (left, y + h)),
        )
    radius = h if box.node.kind == "number" else 8.0
    return (
        f'<rect class="{family}" x="{x - w:.1f}" y="{y - h:.1f}" width="{2 * w:.1f}" '
        f'height="{2 * h:.1f}" rx="{radius:.1f}"/>'
    )


def _polygon(family: str, corners: Iterable[tuple[float, float]]) -> str:
    return f'<polygon class="{family}" points="{_points(corners)}"/>'


def _text(box: Box) -> str:
    """The node's lines, centred on the box: one ``<text>`` with a ``<tspan>`` per line."""
    lines = box.node.lines
    first = box.y - (len(lines) - 1) * LINE_HEIGHT / 2
    spans = "".join(
        f'<tspan x="{box.x:.1f}" y="{first + i * LINE_HEIGHT:.1f}"'
        + (' class="title"' if i == 0 else "")
        + f">{_clean(line)}</tspan>"
        for i, line in enumerate(lines)
    )
    return f'<text text-anchor="middle" dominant-baseline="central">{spans}</text>'


def _node(box: Box) -> str:
    return f'<g class="node" id={_attr(box.node.id)}>{_shape(box)}{_text(box)}</g>'


def _line(route: Route) -> str:
    kind = "edge back" if route.back else "edge"
    return f'<polyline class="{kind}" points="{_points(route.points)}" marker-end="url(#arrow)"/>'


def _label(route: Route) -> str:
    text = route.edge.label
    x, y = route.label_at
    width = len(text) * LABEL_CHAR + 6
    return (
        f'<g class="edge-label"><rect class="label-bg" x="{x - width / 2:.1f}" y="{y - 8:.1f}" '
        f'width="{width:.1f}" height="16" rx="3"/><text class="label" x="{x:.1f}" y="{y:.1f}" '
        f'text-anchor="middle" dominant-baseline="central">{_clean(text)}</text></g>'
    )


def to_svg(flow: Flow) -> str:
    """The picture of ``flow`` as an SVG document (UTF-8 text, no external references)."""
    plan = layout(_merge_parallel(flow), measure)
    width, height = plan.width, plan.height
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.1f} {height:.1f}" font-family="sans-serif" '
        f'font-size="{FONT_SIZE}">',
        f"<title>{_clean(f'Call flow of {flow.did}')}</title>",
        "<defs>",
        '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#374151"/></marker>',
        f"<style>{_STYLE}</style>",
        "</defs>",
        f'<rect width="{width:.1f}" height="{height:.1f}" fill="#ffffff"/>',
        # Lines first, boxes over their ends, labels over everything.
        *(_line(route) for route in plan.routes),
        *(_node(box) for box in plan.boxes.values()),
        *(_label(route) for route in plan.routes if route.edge.label),
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
