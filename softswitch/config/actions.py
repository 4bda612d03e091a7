"""Actions as written ("queue:soporte", or a list of them) to checked ``Action`` tuples.

Every target must resolve when the config is compiled, so that a typo in a rarely used branch
(``on_holiday`` of a number called twice a year) is found by ``softswitch check`` rather than by
a caller. Resolution is against the names of every table, known before any section compiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from softswitch.config.checks import q, suggest
from softswitch.config.decode import Report
from softswitch.config.linemap import KeyPath
from softswitch.config.routing_model import ACTION_KINDS, Action, ActionKind, Actions
from softswitch.config.routing_schema import ActionsValue

__all__ = ["ActionTargets", "compile_actions"]

# What each kind's target is, for messages: (the table, what one entry is called).
_TABLES: dict[ActionKind, tuple[str, str]] = {
    "extension": ("[extensions]", "extension"),
    "external": ("[external_destinations]", "external destination"),
    "group": ("[ring_groups]", "ring group"),
    "queue": ("[queues]", "queue"),
    "ivr": ("[ivrs]", "IVR"),
    "voicemail": ("[voicemail] or the extensions with a mailbox", "mailbox"),
    "conference": ("[conferences]", "conference"),
    "prompt": ("[prompts]", "prompt"),
}


@dataclass(frozen=True, slots=True)
class ActionTargets:
    """The names an action may point at, per kind (voicemail: mailboxes of both sorts)."""

    names: Mapping[ActionKind, frozenset[str]]
    extensions_without_mailbox: frozenset[str]

    @classmethod
    def build(
        cls,
        extensions: Mapping[str, bool],
        tables: Mapping[ActionKind, Iterable[str]],
        shared_mailboxes: Iterable[str],
    ) -> ActionTargets:
        """``extensions`` maps each extension number to whether it has a mailbox."""
        names: dict[ActionKind, frozenset[str]] = {k: frozenset(v) for k, v in tables.items()}
        names["extension"] = frozenset(extensions)
        boxes = {number for number, has_box in extensions.items() if has_box}
        names["voicemail"] = frozenset(boxes.union(shared_mailboxes))
        without = frozenset(number for number, has_box in extensions.items() if not has_box)
        return cls(names=names, extensions_without_mailbox=without)


def compile_actions(
    value: ActionsValue | None, targets: ActionTargets, path: KeyPath, report: Report
) -> Actions | None:
    """``value`` (a string or a list) as Actions, None when the key was left out.

    Unusable steps are reported and left out, so a list with one typo still compiles the rest.
    """
    if value is None:
        return None
    if isinstance(value, str):
        action = _action(value, targets, path, report)
        return () if action is None else (action,)
    if not value:
        report(path, "an empty list: give at least one action, or leave the key out")
        return ()
    actions: list[Action] = []
    for i, text in enumerate(value):
        action = _action(text, targets, (*path, i), report)
        if action is None:
            continue
        if action.kind == "hangup" and i != len(value) - 1:
            report((*path, i), "nothing after hangup would run: make it the last step")
        actions.append(action)
    return tuple(actions)


def _action(text: str, targets: ActionTargets, path: KeyPath, report: Report) -> Action | None:
    kind_text, colon, target = (part.strip() for part in text.partition(":"))
    if kind_text == "hangup":
        if target:
            report(path, f"hangup takes no name: write {q('hangup')}")
        return Action("hangup", "")
    kind = next((k for k in ACTION_KINDS if k == kind_text), None)
    if kind is None or not colon or not target:
        report(path, _malformed(text, kind_text, kind))
        return None
    if target not in targets.names.get(kind, frozenset()):
        report(path, _dangling(kind, target, targets))
        return None
    return Action(kind, target)


def _malformed(text: str, kind_text: str, kind: ActionKind | None) -> str:
    if kind is not None:
        return f"{q(text)} names no {_TABLES[kind][1]}: write {q(kind + ':NAME')}"
    kinds = ", ".join(ACTION_KINDS)
    return f"{q(text)} is not an action: expected KIND:NAME or hangup, with KIND one of {kinds}" + (
        suggest(kind_text, ACTION_KINDS)
    )


def _dangling(kind: ActionKind, target: str, targets: ActionTargets) -> str:
    if kind == "voicemail" and target in targets.extensions_without_mailbox:
        return f"extension {target} has no mailbox (give it voicemail = true)"
    table, what = _TABLES[kind]
    known = targets.names.get(kind, frozenset())
    return f"no {what} named {q(target)} in {table}" + suggest(target, known)
