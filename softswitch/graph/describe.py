"""The words in each box of a call-flow picture: what an admin needs to recognise the step.

Kept apart from ``model`` so that the walk over the actions stays about edges, and so that the
wording can change without touching it. A box has a title line and a few detail lines, each
short: long texts (a prompt spoken by text-to-speech, a long member list) are cut, because the
picture shows the shape of the flow and the TOML keeps the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from softswitch.config.model import CompiledConfig
from softswitch.config.routing_model import Action, Schedule, TimeRange

__all__ = ["Describer", "shorten", "spans"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MAX_TEXT = 40  # characters of a prompt's text shown
MAX_MEMBERS = 6  # members or agents listed one per line; then "+N more"


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def spans(values: Iterable[int], names: tuple[str, ...], first: int, size: int) -> str:
    """``{0, 1, 2, 3, 4}`` -> ``"mon-fri"``: runs of consecutive values joined by commas, a run
    through the end of the cycle and its start written as one (months ``sep-jun``). ``first``
    is the value ``names[0]`` stands for and ``size`` the length of the cycle; with no names,
    the numbers are written."""
    runs: list[tuple[int, int]] = []
    for value in sorted(set(values)):
        if runs and runs[-1][1] == value - 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    if len(runs) > 1 and runs[0][0] == first and runs[-1][1] == first + size - 1:
        runs = [*runs[1:-1], (runs[-1][0], runs[0][1])]

    def name(value: int) -> str:
        return names[value - first] if names else str(value)

    return ",".join(name(a) if a == b else f"{name(a)}-{name(b)}" for a, b in runs)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _range(time_range: TimeRange) -> str:
    """``mon-fri 09:00-14:00``, with months and days of the month only when they restrict."""
    text = (
        f"{spans(time_range.days, _DAYS, 0, 7)} {_clock(time_range.start)}-{_clock(time_range.end)}"
    )
    if len(time_range.months) < 12:
        text += f", {spans(time_range.months, _MONTHS, 1, 12)}"
    if len(time_range.monthdays) < 31:
        text += f", days {spans(time_range.monthdays, (), 1, 31)}"
    return text


def _seconds(value: float) -> str:
    return f"{value:g} s"


class Describer:
    """The lines of each kind of box, looked up in one compiled config."""

    def __init__(self, config: CompiledConfig) -> None:
        self._config = config

    def lines(self, kind: str, name: str) -> tuple[str, ...]:
        method = getattr(self, f"_{kind}")
        lines: tuple[str, ...] = method(name)
        return lines

    def _number(self, did: str) -> tuple[str, ...]:
        number = self._config.numbers[did]
        lines = [did]
        if number.description:
            lines.append(number.description)
        if number.prefix:
            lines.append(f"prefix {number.prefix}")
        if not number.enabled:
            lines.append("disabled")
        return tuple(lines)

    def _schedule(self, name: str) -> tuple[str, ...]:
        schedule: Schedule | None = self._config.schedules.get(name)
        if schedule is None:
            return (f"Schedule {name}",)
        lines = [f"Schedule {name}", *(_range(r) for r in schedule.ranges)]
        if not schedule.ranges:
            lines.append("never open")
        if schedule.holidays is not None:
            lines.append(f"holidays {schedule.holidays.name}")
        return tuple(lines)

    def _ivr(self, name: str) -> tuple[str, ...]:
        ivr = self._config.ivrs[name]
        title = f"IVR {name}" + (f" ({ivr.number})" if ivr.number else "")
        retries = f"{ivr.retries} retr{'y' if ivr.retries == 1 else 'ies'}"
        return (title, f"prompt {ivr.prompt}", f"wait {_seconds(ivr.timeout)}, {retries}")

    def _group(self, name: str) -> tuple[str, ...]:
        group = self._config.ring_groups[name]
        how = "all at once" if group.strategy == "all" else "one by one"
        each = " each" if group.strategy == "sequential" else ""
        members = [self._member(action) for action in group.members]
        return (f"Ring group {name}", f"{how}, {_seconds(group.ring_time)}{each}", *_cut(members))

    def _queue(self, name: str) -> tuple[str, ...]:
        queue = self._config.queues[name]
        wait = f"max wait {_seconds(queue.max_wait)}" if queue.max_wait > 0 else "no wait limit"
        agents = [self._member(Action("extension", agent)) for agent in queue.agents]
        return (
            f"Queue {name}",
            f"{queue.strategy}, {queue.max_callers} waiting, {wait}",
            *_cut(agents),
        )

    def _voicemail(self, name: str) -> tuple[str, ...]:
        owner = self._config.extensions.get(name)
        if owner is not None:
            return (f"Voicemail {name}", owner.name) if owner.name else (f"Voicemail {name}",)
        mailbox = self._config.mailboxes.get(name)
        if mailbox is not None and mailbox.greeting:
            return (f"Voicemail {name}", f"greeting {mailbox.greeting}")
        return (f"Voicemail {name}",)

    def _extension(self, number: str) -> tuple[str, ...]:
        extension = self._config.extensions.get(number)
        if extension is None:
            return (f"Extension {number}",)
        ring = extension.ring_time or self._config.server.ring_time
        lines = [f"Extension {number}", f"rings {_seconds(ring)}"]
        if extension.name:
            lines.insert(1, extension.name)
        return tuple(lines)

    def _external(self, name: str) -> tuple[str, ...]:
        dest = self._config.external_destinations[name]
        return (f"External {name} ({dest.code})", dest.display_name or name, dest.number)

    def _conference(self, name: str) -> tuple[str, ...]:
        room = self._config.conferences[name]
        return (f"Conference {name} ({room.number})", "PIN" if room.pin else "no PIN")

    def _prompt(self, name: str) -> tuple[str, ...]:
        prompt = self._config.prompts.get(name)
        if prompt is None:
            return (f"Prompt {name}",)
        if prompt.text:
            return (f"Prompt {name}", f"“{shorten(prompt.text)}”")
        return (f"Prompt {name}", prompt.file.name if prompt.file else "")

    def _direct_dial(self, _: str) -> tuple[str, ...]:
        codes = [*self._config.extensions]
        codes += [dest.code for dest in self._config.external_destinations.values()]
        codes += [room.number for room in self._config.conferences.values()]
        return ("Dialled extension", *_cut([", ".join(codes)]))

    def _hangup(self, _: str) -> tuple[str, ...]:
        return ("Hang up",)

    def _reject(self, why: str) -> tuple[str, ...]:
        return ("Rejected (403)", why)

    def _member(self, action: Action) -> str:
        kind, target = action
        if kind == "extension":
            extension = self._config.extensions.get(target)
            return f"{target} {extension.name}".strip() if extension else target
        dest = self._config.external_destinations.get(target)
        return f"{dest.code} {dest.display_name}".strip() if dest else target


def _cut(items: list[str]) -> list[str]:
    """At most MAX_MEMBERS lines, each shortened; the overflow counted on one more line."""
    shown = [shorten(item) for item in items[:MAX_MEMBERS]]
    if len(items) > MAX_MEMBERS:
        shown.append(f"+{len(items) - MAX_MEMBERS} more")
    return shown
