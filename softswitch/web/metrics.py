"""Prometheus text exposition (format 0.0.4), sans-IO: metric families in, text out.

Why not ``prometheus_client``: its registry keeps its own copies of the values, updated from
the code being measured; the switch's numbers already live with their owners (the call
registry, the location service, the guard, the relay), so a scrape reads them there and
writes the text directly, with nothing to keep in step and no dependency at run time. The
tests check the output with ``prometheus_client``'s own parser.

The format, as Prometheus reads it: per family a ``# HELP name text`` line (backslash and
newline escaped), a ``# TYPE name counter|gauge`` line, then one ``name{label="value"} number``
line per sample, label values with backslash, double quote and newline escaped. A counter's
name ends in ``_total`` (what ``rate()`` users expect); in 0.0.4 the HELP and TYPE lines
carry the sample name itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from softswitch.web.http import Response

__all__ = [
    "CONTENT_TYPE",
    "Family",
    "Labels",
    "Sample",
    "counter",
    "gauge",
    "metrics_response",
    "render",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]
Kind = Literal["counter", "gauge"]

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LARGEST_EXACT = 2**53  # floats hold every integer up to here: written without ".0"


@dataclass(frozen=True, slots=True)
class Sample:
    labels: Labels
    value: float


@dataclass(frozen=True, slots=True)
class Family:
    """One metric: its name (a counter's ends in ``_total``), kind, help text and samples,
    each with a distinct label set. Checked when made: a bad name is a bug here, and the
    scraper would reject the whole page for it."""

    name: str
    kind: Kind
    help: str
    samples: tuple[Sample, ...]

    def __post_init__(self) -> None:
        if _METRIC_NAME.fullmatch(self.name) is None:
            raise ValueError(f"bad metric name {self.name!r}")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"a counter's name ends in _total: {self.name!r}")
        seen: set[Labels] = set()
        for sample in self.samples:
            for label, _ in sample.labels:
                if _LABEL_NAME.fullmatch(label) is None or label.startswith("__"):
                    raise ValueError(f"bad label name {label!r} in {self.name}")
            if len({label for label, _ in sample.labels}) != len(sample.labels):
                raise ValueError(f"a label repeated in one sample of {self.name}")
            key = tuple(sorted(sample.labels))
            if key in seen:
                raise ValueError(f"two samples of {self.name} with labels {key}")
            seen.add(key)


def gauge(name: str, text: str, samples: Iterable[tuple[Labels, float]] | float) -> Family:
    """A gauge with help ``text``: one unlabelled value, or (labels, value) pairs."""
    return Family(name, "gauge", text, _samples(samples))


def counter(name: str, text: str, samples: Iterable[tuple[Labels, float]] | float) -> Family:
    return Family(name, "counter", text, _samples(samples))


def _samples(samples: Iterable[tuple[Labels, float]] | float) -> tuple[Sample, ...]:
    if isinstance(samples, int | float):
        return (Sample((), samples),)
    return tuple(Sample(labels, value) for labels, value in samples)


def render(families: Iterable[Family]) -> str:
    """The exposition text of ``families``, in the order given."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        lines.extend(
            f"{family.name}{_labels(sample.labels)} {_number(sample.value)}"
            for sample in family.samples
        )
    return "\n".join(lines) + "\n" if lines else ""


def metrics_response(families: Iterable[Family]) -> Response:
    return Response(200, render(families).encode(), CONTENT_TYPE)


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape_value(value)}"' for name, value in labels) + "}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < _LARGEST_EXACT:
        return str(int(value))
    return repr(float(value))
