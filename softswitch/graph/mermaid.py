"""A call flow as Mermaid ``flowchart TD`` text, for documentation pages that render Mermaid.

One line per node (its shape says its kind: a diamond where the call branches, a stadium for
the number, a circle where it ends), then one line per edge, then the colours. Ids are the
flow's own (ASCII, ``[A-Za-z0-9_]``, never a Mermaid keyword since each starts with its kind);
every label is quoted, and the characters Mermaid would read as syntax or HTML are written as
its entity codes, so a prompt text or a name with quotes, ``#`` or ``<`` cannot break the chart.
"""

from __future__ import annotations

from softswitch.graph.model import Flow, Node, NodeKind

__all__ = ["to_mermaid"]

# (opening, closing) around a quoted label, per kind; rounded boxes for the rest.
_SHAPES: dict[NodeKind, tuple[str, str]] = {
    "number": ("([", "])"),
    "schedule": ("{", "}"),
    "ivr": ("{", "}"),
    "hangup": ("((", "))"),
    "reject": ("{{", "}}"),
}
_ROUNDED = ("(", ")")
# Mermaid's entity codes: "#" must go first, as it starts every code.
_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "`": "#96;",
}
_TABLE = str.maketrans(_ESCAPES)
# Fill colours by kind, the same families as the SVG's.
_CLASSES = {
    "decision": ("fill:#fff4d6,stroke:#b8860b", ("schedule", "ivr")),
    "entry": ("fill:#dbeafe,stroke:#1d4ed8", ("number",)),
    "ring": ("fill:#e0f2e9,stroke:#2f7d4f", ("extension", "external", "group", "direct_dial")),
    "wait": ("fill:#ede4fb,stroke:#6b46c1", ("queue", "conference")),
    "message": ("fill:#f3f4f6,stroke:#4b5563", ("voicemail", "prompt")),
    "stop": ("fill:#fde2e2,stroke:#b91c1c", ("hangup", "reject")),
}


def escape(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label, on one line (the caller joins lines with
    ``<br/>``); control characters, which no label needs, are dropped."""
    printable = "".join(c for c in text if c.isprintable() or c.isspace())
    return " ".join(printable.split()).translate(_TABLE)


def _node(node: Node) -> str:
    opening, closing = _SHAPES.get(node.kind, _ROUNDED)
    label = "<br/>".join(escape(line) for line in node.lines)
    return f'    {node.id}{opening}"{label}"{closing}'


def to_mermaid(flow: Flow) -> str:
    """The ``flowchart TD`` text of ``flow``, ending with a newline."""
    lines = ["flowchart TD", *(_node(node) for node in flow.nodes)]
    for edge in flow.edges:
        arrow = f'-->|"{escape(edge.label)}"|' if edge.label else "-->"
        lines.append(f"    {edge.source} {arrow} {edge.target}")
    for name, (style, kinds) in _CLASSES.items():
        members = [node.id for node in flow.nodes if node.kind in kinds]
        if members:
            lines.append(f"    classDef {name} {style}")
            lines.append(f"    class {','.join(members)} {name}")
    return "\n".join(lines) + "\n"
