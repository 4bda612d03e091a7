"""Call-flow pictures (``softswitch graph NUMBER``): a pure function of the compiled config.

``flow`` builds the graph value; ``to_mermaid`` and ``to_svg`` draw it. Nothing here imports
more than ``softswitch.config``: the picture of a number needs no running switch.
"""

from softswitch.graph.mermaid import to_mermaid
from softswitch.graph.model import Edge, Flow, Node, NodeKind, UnknownNumberError, flow
from softswitch.graph.svg import to_svg

__all__ = ["Edge", "Flow", "Node", "NodeKind", "UnknownNumberError", "flow", "to_mermaid", "to_svg"]
