"""The routing half of ``compile``: every routing table, in the order their references need.

Holidays before schedules before numbers; everything an action may name is known up front (the
table names as decoded), so each action is checked where it is written, in one pass.
"""

from __future__ import annotations

import dataclasses

from softswitch.config.actions import ActionTargets
from softswitch.config.checks import claim_code
from softswitch.config.decode import Report, RoutingSections
from softswitch.config.dialing import COUNTRIES, dialing_plan
from softswitch.config.holiday_sets import compile_holidays
from softswitch.config.model import CompiledConfig
from softswitch.config.routing import (
    RoutingContext,
    compile_blocklist,
    compile_ivrs,
    compile_mailboxes,
    compile_numbers,
    compile_queues,
    compile_ring_groups,
)
from softswitch.config.schedules import compile_schedules
from softswitch.config.trunks import (
    compile_email,
    compile_external_destinations,
    compile_outbound_routes,
    compile_trunks,
)

__all__ = ["compile_routing"]


def compile_routing(
    base: CompiledConfig, sections: RoutingSections, report: Report
) -> CompiledConfig:
    """``base`` (server, extensions, sounds, conferences compiled) with the routing added."""
    server = base.server
    # An unknown country was reported with server.country; Spain's prefixes stand in.
    plan = dialing_plan(server.country) or COUNTRIES["ES"]
    owners = _taken_codes(base)  # every dialable code -> its holder, extended as tables compile
    externals = compile_external_destinations(
        sections.external_destinations,
        owners=owners,
        usernames={extension.username for extension in base.extensions.values()},
        plan=plan,
        report=report,
    )
    trunks = compile_trunks(sections.trunks, report)
    holiday_sets = compile_holidays(sections.holidays, server.language, report)
    schedules = compile_schedules(sections.schedules, holiday_sets, server.timezone, report)
    ctx = _context(
        base, sections, externals_by_code={d.code: n for n, d in externals.items() if d.code}
    )
    boxes = frozenset(n for n, e in base.extensions.items() if e.voicemail is not None)
    ivrs = compile_ivrs(sections.ivrs, owners, ctx, report)
    # Last, so that it is checked against every dialable code (a digits-only one may clash).
    vm_path = ("server", "voicemail_code")
    claim_code(owners, server.voicemail_code, "the voicemail code", vm_path, "code", report)
    return dataclasses.replace(
        base,
        email=compile_email(sections.email, server.domain, report),
        external_destinations=externals,
        trunks=trunks,
        outbound_routes=compile_outbound_routes(sections.outbound_routes, trunks, report),
        holiday_sets=holiday_sets,
        schedules=schedules,
        mailboxes=compile_mailboxes(sections.voicemail, boxes, ctx, report),
        ivrs=ivrs,
        ring_groups=compile_ring_groups(sections.ring_groups, ctx, report),
        queues=compile_queues(sections.queues, ctx, report),
        numbers=compile_numbers(sections.numbers, schedules, ctx, report),
        blocklist=compile_blocklist(sections.blocklist, plan, report),
        dialing=plan,
    )


def _taken_codes(base: CompiledConfig) -> dict[str, str]:
    """Dialable codes used before the external destinations: extensions, then conferences
    (whose clashes with extensions compile_conferences reported already)."""
    owners = {number: f"extension {number}" for number in base.extensions}
    for name, conference in base.conferences.items():
        if conference.number:
            owners.setdefault(conference.number, f"conference {name}")
    return owners


def _context(
    base: CompiledConfig, sections: RoutingSections, externals_by_code: dict[str, str]
) -> RoutingContext:
    mailbox_of = {n: e.voicemail is not None for n, e in base.extensions.items()}
    targets = ActionTargets.build(
        mailbox_of,
        {
            "external": sections.external_destinations,
            "group": sections.ring_groups,
            "queue": sections.queues,
            "ivr": sections.ivrs,
            "conference": base.conferences,
            "prompt": base.prompts,
        },
        shared_mailboxes=sections.voicemail,
    )
    return RoutingContext(
        targets=targets,
        extensions=frozenset(base.extensions),
        external_codes=externals_by_code,
        prompts=frozenset(base.prompts),
        music_classes=frozenset(base.music_on_hold),
        plan=dialing_plan(base.server.country) or COUNTRIES["ES"],
    )
