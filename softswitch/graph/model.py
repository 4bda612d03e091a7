"""What happens to a call on a number, as a graph value: the picture Zoho's call-flow builder
shows, derived from the compiled config alone.

``flow(config, number)`` walks the same steps ``dialplan.actions.ActionApp`` runs, without a
call: a number goes to its schedule, whose "open", "holiday" and "closed" branches are action
lists; a list is a chain (a prompt plays and goes on, a dial nobody answers goes on); an IVR
branches per digit; a ring group and a queue go on to their failovers and then to the rest of
the list they were in. The renderers (``mermaid``, ``svg``) only draw what this finds.

A node is a *state* of the call, not a line of the file: a step whose continuation depends on
the list it sits in (a prompt, a dial, a group, a queue) is keyed by the step *and* what is
left to run after it, so two identical continuations share one node and two different ones
never do. Steps that end the list they are in (an IVR discards it, voicemail and conference
rooms keep the call, hang up ends it) are keyed by their name alone, which is what makes a
loop (an IVR whose invalid choice goes back to itself) an edge to the existing node rather
than an endless expansion.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from softswitch.config.model import CompiledConfig
from softswitch.config.routing_model import Action, Actions, Number
from softswitch.graph.describe import Describer

__all__ = ["Edge", "Flow", "Node", "NodeKind", "UnknownNumberError", "flow"]

NodeKind = Literal[
    "number",
    "schedule",
    "ivr",
    "group",
    "queue",
    "voicemail",
    "extension",
    "external",
    "conference",
    "prompt",
    "direct_dial",
    "hangup",
    "reject",
]

_HANGUP: Actions = (Action("hangup", ""),)
_NOT_ID = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True, slots=True)
class Node:
    """One box of the picture. ``lines[0]`` is its title, the rest are details."""

    id: str  # unique in the flow; [A-Za-z0-9_] only, so every renderer can use it as is
    kind: NodeKind
    name: str  # the config name it stands for ("principal", "1001", the DID); "" for hangup
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # node ids
    target: str
    label: str  # "open", "1", "no answer", "timeout"...; "" for an unconditional step


@dataclass(frozen=True, slots=True)
class Flow:
    """The call flow of one number: ``nodes[0]`` is the number, in discovery order."""

    did: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def node(self, kind: NodeKind, name: str) -> Node:
        """The first node of ``kind`` for config name ``name``; KeyError when there is none."""
        for node in self.nodes:
            if node.kind == kind and node.name == name:
                return node
        raise KeyError(f"no {kind} node {name!r} in the flow of {self.did}")

    def by_id(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def out_edges(self, node: Node) -> Iterator[Edge]:
        return (edge for edge in self.edges if edge.source == node.id)

    def follow(self, node: Node, label: str) -> Node:
        """Where the edge labelled ``label`` leaving ``node`` goes; KeyError when none does."""
        for edge in self.out_edges(node):
            if edge.label == label:
                return self.by_id(edge.target)
        raise KeyError(f"no edge {label!r} from {node.id}")


class UnknownNumberError(LookupError):
    """The number asked for is none of the configured ``[numbers.*]``."""

    def __init__(self, called: str, configured: tuple[str, ...]) -> None:
        listed = ", ".join(configured) if configured else "none"
        super().__init__(f"no number {called!r} in the config (configured numbers: {listed})")
        self.called = called
        self.configured = configured


def flow(config: CompiledConfig, number: str) -> Flow:
    """The call flow of ``number``, written in any spelling ``config.number_for`` knows.

    Raises UnknownNumberError, listing the configured numbers, when it is none of them.
    """
    found = config.number_for(number)
    if found is None:
        raise UnknownNumberError(number, tuple(config.numbers))
    return _Builder(config).build(found)


# A node's identity: what it stands for, plus (for steps that go on) the actions left after it.
_Key = tuple[str, str, Actions]


class _Builder:
    def __init__(self, config: CompiledConfig) -> None:
        self._config = config
        self._describe = Describer(config)
        self._ids: dict[_Key, str] = {}
        self._nodes: list[Node] = []
        self._edges: dict[Edge, None] = {}  # an ordered set: one edge per (source, target, label)
        self._used: set[str] = set()
        # Steps found but not expanded yet: breadth first, so nodes and edges come out in the
        # order a caller meets them (the schedule's branches before what the IVR offers).
        self._todo: deque[tuple[str, Action, Actions]] = deque()
        self._keys: dict[str, _Key] = {}  # node id -> its key
        self._parent: dict[str, str] = {}  # node id -> the node whose expansion found it
        self._current = ""  # the node being expanded

    def build(self, number: Number) -> Flow:
        root = self._add(("number", number.did, ()), "number", number.did)
        if not number.enabled:
            self._edge(root, self._reject("number disabled"), "disabled")
        elif number.schedule is None:
            self._edge(root, self._branch(number.action), "")
        else:
            self._schedule(root, number)
        while self._todo:
            node, action, rest = self._todo.popleft()
            self._current = node
            self._expand(node, action, rest)
        return Flow(number.did, tuple(self._nodes), tuple(self._edges))

    def _schedule(self, root: str, number: Number) -> None:
        schedule = number.schedule
        assert schedule is not None
        node = self._add(("schedule", schedule.name, ()), "schedule", schedule.name)
        self._edge(root, node, "")
        self._edge(node, self._branch(number.action), "open")
        if schedule.holidays is None:  # never a holiday: on_holiday cannot apply
            self._edge(node, self._branch(number.on_closed), "closed")
        elif number.on_holiday is not None:
            self._edge(node, self._branch(number.on_holiday), "holiday")
            self._edge(node, self._branch(number.on_closed), "closed")
        else:  # a holiday is a closed day
            self._edge(node, self._branch(number.on_closed), "closed / holiday")

    def _branch(self, actions: Actions | None) -> str:
        """A schedule branch: no actions means the call is refused (403), not hung up."""
        if not actions:
            return self._reject("no action: not in service")
        return self._steps(actions)

    def _steps(self, actions: Actions) -> str:
        """The node of ``actions[0]`` with the rest of the list after it, built once."""
        if not actions:  # the end of the list: the switch hangs up
            return self._steps(_HANGUP)
        action, rest = actions[0], actions[1:]
        terminal = action.kind in ("ivr", "voicemail", "conference", "hangup")
        key = (action.kind, action.target, () if terminal else rest)
        found = self._ids.get(key) or self._growing_loop(key)
        if found is not None:
            return found
        node = self._add(key, action.kind, action.target)
        self._parent[node] = self._current
        self._todo.append((node, action, rest))
        return node

    def _growing_loop(self, key: _Key) -> str | None:
        """The group or queue on the way here that ``key`` repeats with more steps queued
        after it, if any: a failover that runs its own group again and then something else
        comes back to the same step with a longer list each time (until the runtime's hop
        limit). Drawn as the loop it is, or the walk would never end."""
        kind, target, rest = key
        if kind not in ("group", "queue"):
            return None
        node = self._current
        while node:
            seen_kind, seen_target, seen_rest = self._keys[node]
            if (seen_kind, seen_target) == (kind, target) and rest[
                len(rest) - len(seen_rest) :
            ] == seen_rest:
                return node
            node = self._parent.get(node, "")
        return None

    def _expand(self, node: str, action: Action, rest: Actions) -> None:
        kind, target = action
        config = self._config
        if kind == "prompt":
            self._edge(node, self._steps(rest), "then")
        elif kind == "extension":
            self._edge(node, self._steps(rest or self._mailbox_of(target)), "no answer")
        elif kind == "external":
            self._edge(node, self._steps(rest), "no answer")
        elif kind == "group":
            group = config.ring_groups[target]
            self._edge(node, self._steps((*(group.on_failure or ()), *rest)), "no answer")
        elif kind == "queue":
            queue = config.queues[target]
            # The queue hands back its failover, and the rest of the list runs after it.
            if queue.max_wait > 0:
                self._edge(node, self._steps((*(queue.on_timeout or ()), *rest)), "timeout")
            self._edge(node, self._steps((*(queue.on_full or ()), *rest)), "full")
        elif kind == "ivr":
            self._ivr(node, target)
        # voicemail, conference and hangup keep or end the call: nothing follows them.

    def _ivr(self, node: str, name: str) -> None:
        ivr = self._config.ivrs[name]
        for digit, actions in ivr.options.items():
            self._edge(node, self._steps(actions), digit)
        self._edge(node, self._steps(ivr.on_timeout or _HANGUP), "timeout")
        self._edge(node, self._steps(ivr.on_invalid or _HANGUP), "invalid")
        if ivr.direct_dial:
            key: _Key = ("direct_dial", "", ())
            dialled = self._ids.get(key) or self._add(key, "direct_dial", "")
            self._edge(node, dialled, "direct dial")

    def _mailbox_of(self, extension: str) -> Actions:
        """What follows an extension that is the last step: its voicemail, if it has one."""
        owner = self._config.extensions.get(extension)
        if owner is not None and owner.voicemail is not None:
            return (Action("voicemail", extension),)
        return ()

    def _reject(self, why: str) -> str:
        key: _Key = ("reject", why, ())
        return self._ids.get(key) or self._add(key, "reject", why)

    # --- bookkeeping -----------------------------------------------------------------------------
    def _add(self, key: _Key, kind: NodeKind, name: str) -> str:
        node_id = self._unique_id(kind, name)
        self._ids[key] = node_id
        self._keys[node_id] = key
        self._nodes.append(Node(node_id, kind, name, self._describe.lines(kind, name)))
        return node_id

    def _edge(self, source: str, target: str, label: str) -> None:
        self._edges[Edge(source, target, label)] = None

    def _unique_id(self, kind: str, name: str) -> str:
        """``ivr_principal``, ``number_34910000000``: readable in the Mermaid text, ASCII only
        (Mermaid and XML ids), with ``_2``, ``_3``... for a second state of the same step."""
        slug = _NOT_ID.sub("_", name).strip("_")
        base = f"{kind}_{slug}" if slug else kind
        candidate, count = base, 1
        while candidate in self._used:
            count += 1
            candidate = f"{base}_{count}"
        self._used.add(candidate)
        return candidate
