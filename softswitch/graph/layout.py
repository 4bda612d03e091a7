"""Where each box and line of a call-flow picture goes: a small layered (Sugiyama-style) layout.

Steps, each the simplest that reads well for flows of a few dozen nodes:

1. a depth-first walk from the number marks the edges that close a loop (to a node still on
   the walk's stack: an IVR's "invalid" going back to the menu) as *back edges*;
2. the rest form a DAG; each node's layer is its longest path from the number, so every
   forward edge points down;
3. a forward edge that spans several layers gets a dummy point in each layer between, which
   takes a slot like a node, so its polyline passes between boxes rather than through them;
4. within a layer, slots are ordered by the mean position of what leads to them (one
   barycentre sweep, discovery order breaking ties), then spaced evenly and centred;
5. back edges go round the right-hand side, each in its own lane, through the gaps between
   layers, so they cross lines but never boxes.

Pure arithmetic on sizes the caller measures: the SVG writer decides how big text is.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from softswitch.graph.model import Edge, Flow, Node

__all__ = ["Box", "Layout", "Point", "Route", "Shape", "layout"]

Shape = Literal["box", "diamond", "ellipse"]
Point = tuple[float, float]
MARGIN = 20.0
H_GAP = 40.0  # between slots of a layer
V_GAP = 70.0  # between layers: room for edge labels
DUMMY_WIDTH = 16.0
LANE_GAP = 14.0  # between the lanes of back edges
PORT_GAP = 14.0  # between lines leaving (or entering) one box


@dataclass(frozen=True, slots=True)
class Box:
    node: Node
    shape: Shape
    x: float  # centre
    y: float
    width: float
    height: float
    layer: int

    def top(self, dx: float) -> Point:
        """The point of the outline above the centre offset by ``dx``."""
        return (self.x + dx, self.y - self._half_height_at(dx))

    def bottom(self, dx: float) -> Point:
        return (self.x + dx, self.y + self._half_height_at(dx))

    def _half_height_at(self, dx: float) -> float:
        half_w, half_h = self.width / 2, self.height / 2
        ratio = min(abs(dx) / half_w, 1.0) if half_w else 0.0
        if self.shape == "diamond":
            return half_h * (1 - ratio)
        if self.shape == "ellipse":
            return half_h * math.sqrt(1 - ratio * ratio)
        return half_h


@dataclass(frozen=True, slots=True)
class Route:
    edge: Edge
    points: tuple[Point, ...]  # from the source's outline to the target's; two or more
    label_at: Point
    back: bool


@dataclass(frozen=True, slots=True)
class Layout:
    boxes: dict[str, Box]  # by node id
    routes: tuple[Route, ...]
    width: float
    height: float


# A node's (width, height, shape), measured by the caller.
Measure = Callable[[Node], tuple[float, float, Shape]]


def layout(flow: Flow, measure: Measure) -> Layout:
    """Place every node of ``flow`` and route every edge (parallel edges are the caller's to
    merge: two edges with the same ends get the same line)."""
    back = _back_edges(flow)
    forward = [edge for edge in flow.edges if edge not in back]
    layers = _layers(flow, forward)
    slots, chains = _slots(flow, forward, layers)
    sizes = {node.id: measure(node) for node in flow.nodes}
    xs, ys, band, right = _place(slots, sizes)
    boxes = {}
    for node in flow.nodes:
        w, h, shape = sizes[node.id]
        layer = layers[node.id]
        boxes[node.id] = Box(node, shape, xs[node.id], ys[layer], w, h, layer)
    routes = _forward_routes(forward, chains, boxes, xs, ys, band)
    lanes = _back_routes([e for e in flow.edges if e in back], boxes, ys, band, right)
    # The canvas holds every box and every line (a back edge from the last layer dips below).
    corners = [(b.x + b.width / 2, b.y + b.height / 2) for b in boxes.values()]
    corners += [point for route in routes + lanes for point in route.points]
    width = max((x for x, _ in corners), default=0.0) + MARGIN
    height = max((y for _, y in corners), default=0.0) + MARGIN
    order = {edge: i for i, edge in enumerate(flow.edges)}
    ordered = sorted(routes + lanes, key=lambda route: order[route.edge])
    return Layout(boxes, tuple(ordered), width, height)


def _back_edges(flow: Flow) -> set[Edge]:
    """Edges to a node on the depth-first stack, walking from the number (iteratively: a long
    chain must not hit the recursion limit)."""
    out: dict[str, list[Edge]] = defaultdict(list)
    for edge in flow.edges:
        out[edge.source].append(edge)
    back: set[Edge] = set()
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for root in flow.nodes:
        if root.id in state:
            continue
        state[root.id] = 1
        stack = [(root.id, iter(out[root.id]))]
        while stack:
            node, edges = stack[-1]
            step = next(edges, None)
            if step is None:
                state[node] = 2
                stack.pop()
            elif state.get(step.target) == 1:
                back.add(step)
            elif step.target not in state:
                state[step.target] = 1
                stack.append((step.target, iter(out[step.target])))
    return back


def _layers(flow: Flow, forward: list[Edge]) -> dict[str, int]:
    """Longest path from a source, in topological order (Kahn's, discovery order first)."""
    incoming = {node.id: 0 for node in flow.nodes}
    out: dict[str, list[str]] = defaultdict(list)
    for edge in forward:
        incoming[edge.target] += 1
        out[edge.source].append(edge.target)
    layer = dict.fromkeys(incoming, 0)
    ready = [node.id for node in flow.nodes if incoming[node.id] == 0]
    while ready:
        node = ready.pop(0)
        for target in out[node]:
            layer[target] = max(layer[target], layer[node] + 1)
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
    return layer


def _slots(
    flow: Flow, forward: list[Edge], layers: dict[str, int]
) -> tuple[list[list[str]], dict[Edge, list[str]]]:
    """Each layer's slots (node ids, and ``~N`` dummies) in drawing order, and each long
    edge's dummies from top to bottom."""
    count = max(layers.values(), default=0) + 1
    slots: list[list[str]] = [[] for _ in range(count)]
    for node in flow.nodes:
        slots[layers[node.id]].append(node.id)
    above: dict[str, list[str]] = defaultdict(list)  # slot -> slots leading to it
    chains: dict[Edge, list[str]] = {}
    for index, edge in enumerate(forward):
        previous = edge.source
        chain: list[str] = []
        for layer in range(layers[edge.source] + 1, layers[edge.target]):
            dummy = f"~{index}-{len(chain)}"
            slots[layer].append(dummy)
            chain.append(dummy)
            above[dummy].append(previous)
            previous = dummy
        above[edge.target].append(previous)
        chains[edge] = chain
    for layer in range(1, count):
        position = {slot: i for i, slot in enumerate(slots[layer - 1])}
        original = {slot: i for i, slot in enumerate(slots[layer])}

        def barycentre(slot: str, position: dict[str, int] = position) -> float:
            leads = [position[s] for s in above[slot] if s in position]
            return sum(leads) / len(leads) if leads else math.inf

        slots[layer].sort(key=lambda s: (barycentre(s), original[s]))
    return slots, chains


def _place(
    slots: list[list[str]], sizes: dict[str, tuple[float, float, Shape]]
) -> tuple[dict[str, float], list[float], list[float], float]:
    """Centres: x per slot, y per layer; each layer's band height, and the widest layer's
    right edge."""

    def width(slot: str) -> float:
        return sizes[slot][0] if slot in sizes else DUMMY_WIDTH

    totals = [sum(width(s) for s in layer) + H_GAP * (len(layer) - 1) for layer in slots]
    widest = max(totals, default=0.0)
    xs: dict[str, float] = {}
    for layer, total in zip(slots, totals, strict=True):
        x = MARGIN + (widest - total) / 2
        for slot in layer:
            xs[slot] = x + width(slot) / 2
            x += width(slot) + H_GAP
    band = [max((sizes[s][1] for s in layer if s in sizes), default=DUMMY_WIDTH) for layer in slots]
    ys, top = [], MARGIN
    for height in band:
        ys.append(top + height / 2)
        top += height + V_GAP
    return xs, ys, band, MARGIN + widest


def _spread(count: int, span: float) -> list[float]:
    """Offsets from a centre for ``count`` lines sharing one side ``span`` wide."""
    gap = min(PORT_GAP, span / (count + 1)) if count > 1 else 0.0
    return [(i - (count - 1) / 2) * gap for i in range(count)]


def _forward_routes(
    forward: list[Edge],
    chains: dict[Edge, list[str]],
    boxes: dict[str, Box],
    xs: dict[str, float],
    ys: list[float],
    band: list[float],
) -> list[Route]:
    """Down from the source's bottom through the dummies to the target's top; lines sharing a
    side are spread along it, ordered by where they go (or come from) so they do not cross."""

    def first_x(edge: Edge) -> float:
        chain = chains[edge]
        return xs[chain[0]] if chain else boxes[edge.target].x

    def last_x(edge: Edge) -> float:
        chain = chains[edge]
        return xs[chain[-1]] if chain else boxes[edge.source].x

    exits: dict[Edge, float] = {}
    entries: dict[Edge, float] = {}
    for ends, key, store in (("source", first_x, exits), ("target", last_x, entries)):
        grouped: dict[str, list[Edge]] = defaultdict(list)
        for edge in forward:
            grouped[getattr(edge, ends)].append(edge)
        for node, edges in grouped.items():
            edges.sort(key=key)
            box = boxes[node]
            flat = box.width - box.height if box.shape == "box" else box.width / 2
            for edge, offset in zip(edges, _spread(len(edges), max(flat, 0.0)), strict=True):
                store[edge] = offset
    routes = []
    for edge in forward:
        source, target = boxes[edge.source], boxes[edge.target]
        points = [source.bottom(exits[edge])]
        for dummy, layer in zip(chains[edge], range(source.layer + 1, target.layer), strict=True):
            points += [
                (xs[dummy], ys[layer] - band[layer] / 2),
                (xs[dummy], ys[layer] + band[layer] / 2),
            ]
        points.append(target.top(entries[edge]))
        (x1, y1), (x2, y2) = points[0], points[1]
        label_at = (x1 + (x2 - x1) * 0.45, y1 + (y2 - y1) * 0.45)
        routes.append(Route(edge, tuple(points), label_at, back=False))
    return routes


def _back_routes(
    back: list[Edge], boxes: dict[str, Box], ys: list[float], band: list[float], right: float
) -> list[Route]:
    """Out of the source's bottom into the gap below its layer, right to the edge's own lane
    beyond every box, up to the gap above the target's layer, and down into the target's top
    right of centre (forward lines enter nearer the centre)."""
    routes = []
    for lane, edge in enumerate(back):
        source, target = boxes[edge.source], boxes[edge.target]
        x_lane = right + MARGIN / 2 + lane * LANE_GAP
        # Low in the gap below, high in the gap above: clear of the forward edges' labels,
        # which sit near the middle of the gaps.
        nudge = (lane % 3) * 4
        below = ys[source.layer] + band[source.layer] / 2 + V_GAP * 0.75 + nudge
        above = max(ys[target.layer] - band[target.layer] / 2 - V_GAP * 0.25 - nudge, 2.0)
        start = source.bottom(source.width / 4)
        end = target.top(target.width / 4)
        points = (
            start,
            (start[0], below),
            (x_lane, below),
            (x_lane, above),
            (end[0], above),
            end,
        )
        label_at = (start[0], (start[1] + below) / 2)  # just under the box it leaves
        routes.append(Route(edge, points, label_at, back=True))
    return routes
