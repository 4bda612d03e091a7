"""Where calls go: ``[numbers]``, ``[ivrs]``, ``[ring_groups]``, ``[queues]``, ``[voicemail]``
and ``[blocklist]`` to their runtime objects, every name they use checked to exist.

DIDs and blocklist entries are normalised to E.164 with ``server.country`` (``dialing``), so a
number written nationally and the same number written with "+" are one number (and two tables
for it are reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from softswitch.config.actions import ActionTargets, compile_actions
from softswitch.config.checks import (
    check_email,
    check_name,
    check_pin,
    claim_code,
    dialable,
    non_negative,
    positive,
    q,
    suggest,
)
from softswitch.config.decode import Report
from softswitch.config.dialing import DialingPlan, to_e164
from softswitch.config.linemap import KeyPath
from softswitch.config.routing_model import (
    Action,
    Blocklist,
    Ivr,
    Mailbox,
    Number,
    Queue,
    RingGroup,
    Schedule,
)
from softswitch.config.routing_schema import (
    BlocklistSection,
    IvrSection,
    MailboxSection,
    NumberSection,
    QueueSection,
    RingGroupSection,
)

__all__ = [
    "RoutingContext",
    "compile_blocklist",
    "compile_ivrs",
    "compile_mailboxes",
    "compile_numbers",
    "compile_queues",
    "compile_ring_groups",
]

DTMF_KEYS = frozenset("0123456789*#")
DEFAULT_MUSIC_CLASS = "default"


@dataclass(frozen=True, slots=True)
class RoutingContext:
    """What the routing tables are checked against: names from the rest of the config."""

    targets: ActionTargets
    extensions: frozenset[str]  # extension numbers
    external_codes: Mapping[str, str]  # dialable code -> external destination name
    prompts: frozenset[str]
    music_classes: frozenset[str]
    plan: DialingPlan


def _prompt_ref(name: str, ctx: RoutingContext, path: KeyPath, report: Report) -> None:
    if name not in ctx.prompts:
        report(path, f"no prompt named {q(name)} in [prompts]" + suggest(name, ctx.prompts))


# -- shared mailboxes ------------------------------------------------------------------------


def compile_mailboxes(
    sections: Mapping[str, MailboxSection],
    extension_boxes: frozenset[str],
    ctx: RoutingContext,
    report: Report,
) -> Mapping[str, Mailbox]:
    """``extension_boxes``: numbers of the extensions with a mailbox, which ``voicemail:NAME``
    also names, so a shared mailbox may not take one of them."""
    boxes: dict[str, Mailbox] = {}
    for name, section in sections.items():
        path: KeyPath = ("voicemail", name)
        check_name(path, name, report)
        if name in extension_boxes:
            report(path, f"voicemail:{name} would also mean extension {name}'s mailbox: rename it")
        if section.greeting is not None:
            _prompt_ref(section.greeting, ctx, (*path, "greeting"), report)
        check_email(section.email, (*path, "email"), report)
        check_pin(section.pin, (*path, "pin"), report)
        boxes[name] = Mailbox(name, section.greeting, section.email, section.attach, section.pin)
    return MappingProxyType(boxes)


# -- IVRs ------------------------------------------------------------------------------------


def compile_ivrs(
    sections: Mapping[str, IvrSection],
    owners: dict[str, str],
    ctx: RoutingContext,
    report: Report,
) -> Mapping[str, Ivr]:
    """``owners`` maps each dialable code already taken to its holder ("extension 1001"); the
    IVRs' numbers are checked against it and added to it."""
    ivrs: dict[str, Ivr] = {}
    for name, section in sections.items():
        ivr = ivrs[name] = _ivr(name, section, ctx, report)
        if ivr.number:
            path: KeyPath = ("ivrs", name, "number")
            claim_code(owners, ivr.number, f"IVR {name}", path, "number", report)
    return MappingProxyType(ivrs)


def _ivr(name: str, section: IvrSection, ctx: RoutingContext, report: Report) -> Ivr:
    def at(*key: str) -> KeyPath:
        return ("ivrs", name, *key)

    check_name(at(), name, report)
    number = None
    if section.number is not None:  # optional, so dialable's "missing" message never shows
        number = dialable(section.number, at(), "number", "an IVR number", "", report) or None
    if section.prompt is None:
        report(at(), "needs a prompt (what callers hear before choosing)")
    else:
        _prompt_ref(section.prompt, ctx, at("prompt"), report)
    positive(section.timeout, at("timeout"), report)
    non_negative(section.retries, at("retries"), report)
    options: dict[str, tuple[Action, ...]] = {}
    for key, value in section.options.items():
        if len(key) != 1 or key not in DTMF_KEYS:
            report(at("options", key), f"an option key is one of 0-9, * or #, not {q(key)}")
            continue
        options[key] = compile_actions(value, ctx.targets, at("options", key), report) or ()
    if not section.options and not section.direct_dial:
        report(at(), "has no options and no direct_dial: callers could only time out")
    return Ivr(
        name=name,
        prompt=section.prompt or "",
        timeout=section.timeout,
        retries=section.retries,
        on_timeout=compile_actions(section.on_timeout, ctx.targets, at("on_timeout"), report),
        on_invalid=compile_actions(section.on_invalid, ctx.targets, at("on_invalid"), report),
        options=MappingProxyType(options),
        direct_dial=section.direct_dial,
        number=number,
    )


# -- ring groups -----------------------------------------------------------------------------


def compile_ring_groups(
    sections: Mapping[str, RingGroupSection], ctx: RoutingContext, report: Report
) -> Mapping[str, RingGroup]:
    groups = {name: _ring_group(name, s, ctx, report) for name, s in sections.items()}
    return MappingProxyType(groups)


def _ring_group(
    name: str, section: RingGroupSection, ctx: RoutingContext, report: Report
) -> RingGroup:
    def at(*key: str | int) -> KeyPath:
        return ("ring_groups", name, *key)

    check_name(at(), name, report)
    if not section.members:
        report(at(), "needs members (extension numbers or external destination codes)")
    members: list[Action] = []
    for i, member in enumerate(section.members):
        action = _member(member, ctx)
        if action is None:
            report(at("members", i), f"{q(member)} is no extension number or external code")
        elif action in members:
            report(at("members", i), f"{q(member)} is listed twice")
        else:
            members.append(action)
    positive(section.ring_time, at("ring_time"), report)
    check_email(section.missed_call_email, at("missed_call_email"), report)
    return RingGroup(
        name=name,
        members=tuple(members),
        strategy=section.strategy,
        ring_time=section.ring_time,
        prefix=section.prefix,
        on_failure=compile_actions(section.on_failure, ctx.targets, at("on_failure"), report),
        missed_call_email=section.missed_call_email,
        record=section.record,
    )


def _member(code: str, ctx: RoutingContext) -> Action | None:
    if code in ctx.extensions:
        return Action("extension", code)
    external = ctx.external_codes.get(code)
    return None if external is None else Action("external", external)


# -- queues ----------------------------------------------------------------------------------


def compile_queues(
    sections: Mapping[str, QueueSection], ctx: RoutingContext, report: Report
) -> Mapping[str, Queue]:
    return MappingProxyType({name: _queue(name, s, ctx, report) for name, s in sections.items()})


def _queue(name: str, section: QueueSection, ctx: RoutingContext, report: Report) -> Queue:
    def at(*key: str | int) -> KeyPath:
        return ("queues", name, *key)

    check_name(at(), name, report)
    for i, agent in enumerate(section.agents):
        if agent not in ctx.extensions:
            report(at("agents", i), f"no extension {q(agent)}" + suggest(agent, ctx.extensions))
        elif agent in section.agents[:i]:
            report(at("agents", i), f"{q(agent)} is listed twice")
    if section.max_callers < 1:
        report(at("max_callers"), f"must be at least 1, got {section.max_callers}")
    non_negative(section.max_wait, at("max_wait"), report)
    positive(section.ring_time, at("ring_time"), report)
    non_negative(section.wrapup, at("wrapup"), report)
    if section.moh not in ctx.music_classes and section.moh != DEFAULT_MUSIC_CLASS:
        known = ", ".join(sorted({*ctx.music_classes, DEFAULT_MUSIC_CLASS}))
        report(at("moh"), f"no music_on_hold class named {q(section.moh)} (known: {known})")
    if section.agent_announcement is not None:
        _prompt_ref(section.agent_announcement, ctx, at("agent_announcement"), report)
    check_email(section.missed_call_email, at("missed_call_email"), report)
    return Queue(
        name=name,
        agents=tuple(dict.fromkeys(section.agents)),
        strategy=section.strategy,
        max_callers=section.max_callers,
        max_wait=section.max_wait,
        ring_time=section.ring_time,
        wrapup=section.wrapup,
        moh=section.moh,
        agent_announcement=section.agent_announcement,
        announce_position=section.announce_position,
        priority=section.priority,
        record=section.record,
        missed_call_email=section.missed_call_email,
        on_timeout=compile_actions(section.on_timeout, ctx.targets, at("on_timeout"), report),
        on_full=compile_actions(section.on_full, ctx.targets, at("on_full"), report),
    )


# -- numbers (DIDs) --------------------------------------------------------------------------


def compile_numbers(
    sections: Mapping[str, NumberSection],
    schedules: Mapping[str, Schedule],
    ctx: RoutingContext,
    report: Report,
) -> Mapping[str, Number]:
    """By E.164 number, in file order."""
    numbers: dict[str, Number] = {}
    written: dict[str, str] = {}  # E.164 -> the key it was first written as
    for key, section in sections.items():
        path: KeyPath = ("numbers", key)
        did = to_e164(key, ctx.plan)
        if did is None:
            example = f'"+{ctx.plan.country_code}..."'
            report(path, f"not a phone number: {q(key)} (write it in E.164, e.g. {example})")
            continue
        first = written.setdefault(did, key)
        if first != key:
            report(path, f"{q(key)} is the same number as {q(first)} ({did})")
            continue
        numbers[did] = _number(did, section, schedules, ctx, path, report)
    return MappingProxyType(numbers)


def _number(
    did: str,
    section: NumberSection,
    schedules: Mapping[str, Schedule],
    ctx: RoutingContext,
    path: KeyPath,
    report: Report,
) -> Number:
    schedule = None
    if section.schedule is not None:
        schedule = schedules.get(section.schedule)
        if schedule is None:
            message = f"no schedule named {q(section.schedule)} in [schedules]"
            report((*path, "schedule"), message + suggest(section.schedule, schedules))

    def actions(key: str, value: str | tuple[str, ...] | None) -> tuple[Action, ...] | None:
        return compile_actions(value, ctx.targets, (*path, key), report)

    return Number(
        did=did,
        description=section.description,
        prefix=section.prefix,
        schedule=schedule,
        action=actions("action", section.action),
        on_holiday=actions("on_holiday", section.on_holiday),
        on_closed=actions("on_closed", section.on_closed),
        enabled=section.enabled,
    )


# -- blocklist -------------------------------------------------------------------------------


def compile_blocklist(section: BlocklistSection, plan: DialingPlan, report: Report) -> Blocklist:
    exact: set[str] = set()
    prefixes: list[str] = []
    for i, text in enumerate(section.numbers):
        path: KeyPath = ("blocklist", "numbers", i)
        stem = text.strip().removesuffix("*")
        number = to_e164(stem, plan) if stem else None
        if number is None:
            message = f'not a number or a prefix ending in "*": {q(text)}'
            report(
                path, message + (" (it would block every caller)" if text.strip() == "*" else "")
            )
        elif number in exact or number in prefixes:
            report(path, f"{q(text)} is listed twice")
        elif stem != text.strip():
            prefixes.append(number)
        else:
            exact.add(number)
    return Blocklist(exact=frozenset(exact), prefixes=tuple(prefixes))
