"""Call-flow pictures: the graph of a number, its Mermaid text, its SVG and the `graph` command."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from softswitch.cli import main
from softswitch.config import CompiledConfig, load_config
from softswitch.graph import Flow, Node, UnknownNumberError, flow, to_mermaid, to_svg
from softswitch.graph.describe import spans
from softswitch.graph.layout import Box, layout
from softswitch.graph.svg import measure

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"
MAIN = "+34910000000"
SVG = "{http://www.w3.org/2000/svg}"

# A company with the awkward cases: a menu that loops to itself, a chain that goes on after a
# group's failover, a queue without a wait limit, a disabled number, a schedule without
# holidays or on_closed, and names full of characters that Mermaid and XML treat as syntax.
ODD = """\
[server]
state_dir = "state"

[extensions.1001]
name = 'Ana "<b>" & Co #1'
voicemail = true

[extensions.1002]
name = "Bruno"

[external_destinations.movil]
code = "2001"
name = "Móvil"
number = "+34600111222"

[numbers."+34910000000"]
description = 'Menú <raro> & "comillas" #x `tick` | end'
action = "ivr:loop"

[numbers."+34910000002"]
action = "extension:1001"
enabled = false

[numbers."+34910000003"]
action = ["prompt:hola", "group:seq", "external:movil", "extension:1002"]

[numbers."+34910000004"]
schedule = "noches"
action = "conference:sala"

[numbers."+34910000005"]
action = "group:again"

[schedules.noches]
ranges = [{ start = "22:00", end = "24:00", days = "sat-sun" }]

[prompts.hola]
text = "Hola <&> \\"quoted\\"\\u0001 and a text long enough to be cut short in the box"

[prompts.lo_siento]
text = "Lo siento."

[ivrs.loop]
prompt = "hola"
on_invalid = "ivr:loop"
options = { "1" = ["queue:q", "hangup"], "#" = "conference:sala" }

[ring_groups.seq]
members = ["1001", "1002", "2001"]
strategy = "sequential"
ring_time = 10
on_failure = "prompt:lo_siento"

[ring_groups.again]
members = ["1002"]
on_failure = ["group:again", "prompt:lo_siento"]

[queues.q]
agents = ["1002"]
max_wait = 0

[conferences.sala]
number = "3000"
"""


@pytest.fixture(scope="module")
def example() -> CompiledConfig:
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> CompiledConfig:
    path = tmp_path_factory.mktemp("odd") / "odd.toml"
    path.write_text(ODD, encoding="utf-8")
    return load_config(path)


def targets(graph: Flow, node: Node) -> dict[str, str]:
    """label -> "kind:name" of every edge leaving ``node``."""
    found = {}
    for edge in graph.out_edges(node):
        target = graph.by_id(edge.target)
        found[edge.label] = f"{target.kind}:{target.name}"
    return found


# --- the graph value ------------------------------------------------------------------------------
def test_main_number_branches_on_the_schedule(example: CompiledConfig) -> None:
    graph = flow(example, MAIN)
    number = graph.nodes[0]
    assert (number.kind, number.name) == ("number", MAIN)
    assert number.lines == (MAIN, "Línea principal", "prefix MAD")
    assert targets(graph, number) == {"": "schedule:oficina"}
    schedule = graph.node("schedule", "oficina")
    assert targets(graph, schedule) == {
        "open": "ivr:principal",
        "holiday": "prompt:festivo",
        "closed": "prompt:cerrado",
    }
    # Both prompts go on to the shared mailbox: one node, reached twice.
    assert targets(graph, graph.node("prompt", "festivo")) == {"then": "voicemail:general"}
    assert targets(graph, graph.node("prompt", "cerrado")) == {"then": "voicemail:general"}
    assert "mon-thu 16:00-18:00, sep-jun" in schedule.lines
    assert "holidays madrid" in schedule.lines


def test_main_menu_options_group_and_queue(example: CompiledConfig) -> None:
    graph = flow(example, "+34910000000")
    menu = graph.node("ivr", "principal")
    assert targets(graph, menu) == {
        "1": "group:ventas",
        "2": "queue:soporte",
        "9": "voicemail:general",
        "timeout": "group:ventas",
        "invalid": "prompt:opcion_no_valida",
        "direct dial": "direct_dial:",
    }
    group = graph.node("group", "ventas")
    assert targets(graph, group) == {"no answer": "voicemail:1001"}
    assert group.lines[:2] == ("Ring group ventas", "all at once, 20 s")
    assert group.lines[2:] == ("1001 Ana García", "1002 Bruno Díaz", "2001 Móvil de Ana")
    queue = graph.node("queue", "soporte")
    assert targets(graph, queue) == {"timeout": "voicemail:general", "full": "voicemail:general"}
    dialled = graph.node("direct_dial", "")
    assert dialled.lines == ("Dialled extension", "1001, 1002, 1003, 2001, 3000")
    # Voicemail ends the call: nothing leaves it.
    assert list(graph.out_edges(graph.node("voicemail", "general"))) == []


def test_the_invalid_loop_is_an_edge_back_to_the_one_menu(example: CompiledConfig) -> None:
    graph = flow(example, MAIN)
    menus = [node for node in graph.nodes if node.kind == "ivr"]
    assert len(menus) == 1
    sorry = graph.follow(menus[0], "invalid")
    assert graph.follow(sorry, "then") is menus[0]
    assert len({node.id for node in graph.nodes}) == len(graph.nodes)
    assert len(set(graph.edges)) == len(graph.edges)


def test_a_self_loop_and_a_growing_loop_end(odd: CompiledConfig) -> None:
    graph = flow(odd, "+34910000000")
    menu = graph.node("ivr", "loop")
    assert targets(graph, menu) == {
        "1": "queue:q",
        "#": "conference:sala",
        "timeout": "hangup:",
        "invalid": "ivr:loop",
    }
    # The queue has no wait limit (no timeout edge); full, the list's "hangup" runs.
    assert targets(graph, graph.node("queue", "q")) == {"full": "hangup:"}
    # on_failure = [group:again, prompt:lo_siento] comes back to the group with one more
    # prompt queued each time: drawn as a loop, not fifty groups.
    again = flow(odd, "+34910000005")
    assert [node.kind for node in again.nodes] == ["number", "group"]
    group = again.node("group", "again")
    assert targets(again, group) == {"no answer": "group:again"}


def test_a_chain_goes_on_after_the_failover(odd: CompiledConfig) -> None:
    graph = flow(odd, "+34910000003")
    prompt = graph.follow(graph.nodes[0], "")
    assert prompt.name == "hola"
    group = graph.follow(prompt, "then")
    assert group.lines[1] == "one by one, 10 s each"
    assert group.lines[2] == '1001 Ana "<b>" & Co #1'
    sorry = graph.follow(group, "no answer")
    mobile = graph.follow(sorry, "then")
    assert (mobile.kind, mobile.name) == ("external", "movil")
    bruno = graph.follow(mobile, "no answer")
    assert (bruno.kind, bruno.name) == ("extension", "1002")
    # Bruno has no mailbox and is the last step: unanswered, the switch hangs up.
    assert graph.follow(bruno, "no answer").kind == "hangup"


def test_an_extension_last_goes_to_its_voicemail_in_any_spelling(example: CompiledConfig) -> None:
    spellings = ("+34910000001", "0034910000001", "910000001")
    graphs = [flow(example, spelling) for spelling in spellings]
    assert graphs[0] == graphs[1] == graphs[2]
    graph = graphs[0]
    ana = graph.node("extension", "1001")
    assert ana.lines == ("Extension 1001", "Ana García", "rings 30 s")
    assert targets(graph, ana) == {"no answer": "voicemail:1001"}


def test_refused_calls(odd: CompiledConfig) -> None:
    disabled = flow(odd, "+34910000002")
    assert targets(disabled, disabled.nodes[0]) == {"disabled": "reject:number disabled"}
    nights = flow(odd, "+34910000004")
    schedule = nights.node("schedule", "noches")
    # No holidays: no holiday branch; no on_closed: refused, not hung up.
    assert targets(nights, schedule) == {
        "open": "conference:sala",
        "closed": "reject:no action: not in service",
    }
    assert schedule.lines == ("Schedule noches", "sat-sun 22:00-24:00")


def test_closed_covers_holidays_without_on_holiday(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('on_holiday = ["prompt:festivo", "voicemail:general"]\n', "")
    path = tmp_path / "pbx.toml"
    path.write_text(text, encoding="utf-8")
    graph = flow(load_config(path), MAIN)
    assert targets(graph, graph.node("schedule", "oficina")) == {
        "open": "ivr:principal",
        "closed / holiday": "prompt:cerrado",
    }


def test_an_unknown_number_lists_the_configured_ones(example: CompiledConfig) -> None:
    with pytest.raises(UnknownNumberError) as caught:
        flow(example, "+34999999999")
    message = str(caught.value)
    assert "'+34999999999'" in message
    assert "+34910000000, +34910000001" in message
    assert caught.value.configured == ("+34910000000", "+34910000001")


def test_spans_join_runs_and_wrap_round() -> None:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    assert spans({0, 1, 2, 3, 4}, days, 0, 7) == "mon-fri"
    assert spans({0, 2, 3, 6}, days, 0, 7) == "wed-thu,sun-mon"
    assert spans({1, 15, 16, 17}, (), 1, 31) == "1,15-17"


# --- Mermaid --------------------------------------------------------------------------------------
def test_mermaid_has_one_line_per_edge_with_its_label(example: CompiledConfig) -> None:
    graph = flow(example, MAIN)
    lines = to_mermaid(graph).splitlines()
    assert lines[0] == "flowchart TD"
    edge_lines = [line.strip() for line in lines if "-->" in line]
    expected = [
        f'{e.source} -->|"{e.label}"| {e.target}' if e.label else f"{e.source} --> {e.target}"
        for e in graph.edges
    ]
    assert edge_lines == expected
    assert 'ivr_principal -->|"invalid"| prompt_opcion_no_valida' in edge_lines
    assert 'prompt_opcion_no_valida -->|"then"| ivr_principal' in edge_lines
    # One definition per node, with its shape: diamonds for decisions.
    assert sum(line.strip().startswith("ivr_principal{") for line in lines) == 1
    assert any(line.strip().startswith('schedule_oficina{"Schedule oficina<br/>') for line in lines)


def test_mermaid_escapes_what_would_break_a_label(odd: CompiledConfig) -> None:
    graph = flow(odd, "+34910000000")
    text = to_mermaid(graph)
    number = next(line for line in text.splitlines() if line.strip().startswith("number_"))
    label = re.fullmatch(r'\s*number_34910000000\(\["(.*)"\]\)', number)
    assert label is not None
    inner = label.group(1)
    for raw in ('"', "<raro>", "&", "`", "#x"):
        assert raw not in inner
    assert "#lt;raro#gt; #amp; #quot;comillas#quot; #35;x #96;tick#96; | end" in inner
    assert 'ivr_loop -->|"#35;"| conference_sala' in text
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", node.id) for node in graph.nodes)
    hola = to_mermaid(flow(odd, "+34910000003"))
    assert "\x01" not in hola


# --- SVG ------------------------------------------------------------------------------------------
def test_svg_parses_and_has_a_text_per_node(example: CompiledConfig) -> None:
    graph = flow(example, MAIN)
    root = ET.fromstring(to_svg(graph))
    assert root.tag == f"{SVG}svg"
    groups = root.findall(f"{SVG}g[@class='node']")
    assert [g.get("id") for g in groups] == [node.id for node in graph.nodes]
    for group, node in zip(groups, graph.nodes, strict=True):
        texts = group.findall(f"{SVG}text")
        assert len(texts) == 1
        assert tuple(span.text for span in texts[0]) == node.lines
    shapes = {g.get("id"): g[0].tag.removeprefix(SVG) for g in groups}
    assert shapes["ivr_principal"] == shapes["schedule_oficina"] == "polygon"
    assert shapes["group_ventas"] == "rect"
    # Parallel edges share one line and one label; the loop is drawn as one back edge.
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    assert "1 / timeout" in labels
    assert "timeout / full" in labels
    back = [p for p in root.iter(f"{SVG}polyline") if "back" in (p.get("class") or "")]
    assert len(back) == 1


def test_svg_escapes_names(odd: CompiledConfig) -> None:
    for did in ("+34910000000", "+34910000003"):
        graph = flow(odd, did)
        root = ET.fromstring(to_svg(graph))  # raises on any unescaped <, & or control char
        shown = ["".join(t.itertext()) for t in root.iter(f"{SVG}tspan")]
        expected = [line.replace("\x01", "") for node in graph.nodes for line in node.lines]
        assert shown == expected
    assert 'Menú <raro> & "comillas" #x `tick` | end' in flow(odd, MAIN).nodes[0].lines


def inside(box: Box, x: float, y: float) -> bool:
    return abs(x - box.x) < box.width / 2 - 1 and abs(y - box.y) < box.height / 2 - 1


def test_layout_layers_point_down_and_lines_miss_other_boxes(example: CompiledConfig) -> None:
    graph = flow(example, MAIN)
    plan = layout(graph, measure)
    boxes = plan.boxes
    assert boxes["number_34910000000"].layer == 0
    assert boxes["schedule_oficina"].layer == 1
    assert boxes["ivr_principal"].layer == 2
    for route in plan.routes:
        source, target = boxes[route.edge.source], boxes[route.edge.target]
        assert route.back == (target.layer <= source.layer)
        for (x1, y1), (x2, y2) in itertools.pairwise(route.points):
            for step in range(21):  # sample each segment: no box but its ends is crossed
                x, y = x1 + (x2 - x1) * step / 20, y1 + (y2 - y1) * step / 20
                assert 0 <= x <= plan.width and 0 <= y <= plan.height
                for box in boxes.values():
                    if box not in (source, target):
                        assert not inside(box, x, y), (route.edge, box.node.id)
    # Boxes of a layer do not overlap.
    by_layer: dict[int, list[Box]] = {}
    for box in boxes.values():
        by_layer.setdefault(box.layer, []).append(box)
    for row in by_layer.values():
        row.sort(key=lambda b: b.x)
        for left, right in itertools.pairwise(row):
            assert left.x + left.width / 2 < right.x - right.width / 2


# --- the command ----------------------------------------------------------------------------------
def test_cli_writes_an_svg_file(tmp_path: Path) -> None:
    output = tmp_path / "principal.svg"
    args = ["graph", "910000000", "--config", str(EXAMPLE), "--format", "svg"]
    assert main([*args, "--output", str(output)]) == 0
    root = ET.parse(output).getroot()
    titles = [t[0].text for t in root.iter(f"{SVG}text") if len(t)]
    assert titles[0] == MAIN
    assert "IVR principal (8000)" in titles


def test_cli_prints_mermaid_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "+34910000001", "--config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    assert 'extension_1001 -->|"no answer"| voicemail_1001' in out


def test_cli_unknown_number_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "555", "--config", str(EXAMPLE)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no number '555'" in captured.err
    assert "+34910000000, +34910000001" in captured.err
