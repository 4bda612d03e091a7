"""The ``graph`` command (softswitch/cli.py parses the arguments): load, walk, draw, write."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TextIO

from softswitch.config.loader import load_config
from softswitch.config.model import ConfigError
from softswitch.graph.mermaid import to_mermaid
from softswitch.graph.model import UnknownNumberError, flow
from softswitch.graph.svg import to_svg

__all__ = ["FORMATS", "run_graph"]

Format = Literal["mermaid", "svg"]
FORMATS: tuple[Format, ...] = ("mermaid", "svg")


def run_graph(
    path: Path | None,
    number: str,
    form: Format,
    output: Path | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Draw the call flow of ``number`` as ``form`` into ``output`` (or ``out``); return 0.

    A config with problems (every issue listed), a number that is not configured (the
    configured ones listed) or a file that cannot be written: a message on ``err``, and 1.
    """
    try:
        config = load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            err.write(f"{issue}\n")
        return 1
    try:
        graph = flow(config, number)
    except UnknownNumberError as exc:
        err.write(f"softswitch graph: {exc}\n")
        return 1
    text = to_svg(graph) if form == "svg" else to_mermaid(graph)
    if output is None:
        out.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.write(f"softswitch graph: cannot write {output}: {exc.strerror or exc}\n")
        return 1
    return 0
