"""What replacing one compiled configuration with another would change (``reload --dry-run``).

The comparison is of compiled values, never of TOML text: ``timeout = 8`` and ``timeout = 8.0``,
keys written in another order, or a DID spelled ``910000000`` instead of ``+34910000000`` compile
to the same objects and are no change. Items are matched by the name the admin gave them (an
extension's number, a table name, a DID, a route's pattern), so the report speaks the file's
vocabulary: ``ivrs: ~ principal: timeout 8 -> 10``.

Secrets (passwords and PINs) are compared like any other value but never shown: a changed one
reads "(changed)", so a dry run can be pasted into a ticket. Both configurations should have
been through the same password step (both ``resolve_passwords``-ed, or neither), or every
generated password reads as changed.

Not a hot path: it runs once per reload, over a few hundred small frozen objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from softswitch.config.diff_show import host_port, show
from softswitch.config.model import CompiledConfig, Extension, ServerConfig
from softswitch.config.routing_model import (
    Blocklist,
    EmailConfig,
    HolidaySet,
    Number,
    OutboundRoute,
    Schedule,
)

__all__ = [
    "RESTART_KEYS",
    "Added",
    "ConfigDiff",
    "ItemChange",
    "KeyChange",
    "SectionDiff",
    "diff_configs",
    "format_diff",
]

# Settings bound to sockets, files or the SIP/security layers at start-up: a running server
# keeps the old value until it restarts. Key paths as written in the TOML.
RESTART_KEYS = frozenset(
    {
        "server.listen",
        "server.rtp_ports",
        "server.state_dir",
        "server.domain",
        "server.public_address",
        "server.max_message_size",
        "server.http_listen",
    }
)
_RESTART_SECTIONS = frozenset({"security"})
# Secret by name, whatever the dataclass says (VoicemailSettings.pin is not repr=False).
_SECRET_NAMES = frozenset({"password", "pin", "admin_pin"})
_HIDDEN = "(hidden)"
# Items of their own section embedded in another's (a number's schedule, a schedule's holidays):
# shown and compared by name, so that editing a schedule is reported once, under schedules.
_REFERENCED = (Schedule, HolidaySet)


class KeyChange(NamedTuple):
    """One key of an item whose value differs; ``old``/``new`` are display text ("(hidden)"
    for a secret, whose values are never kept)."""

    key: str  # dotted below the item: "timeout", "options.1", "voicemail.pin"
    old: str
    new: str
    secret: bool = False

    def __str__(self) -> str:
        if self.secret:  # never the value, not even its length
            return f"{self.key} (changed)"
        return f"{self.key} {self.old} -> {self.new}"


class Added(NamedTuple):
    name: str
    summary: str  # "Dora Vidal" for an extension; "" when the name says it all

    def __str__(self) -> str:
        return f"{self.name} ({self.summary})" if self.summary else self.name


class ItemChange(NamedTuple):
    name: str  # "" for the one-item sections: server, security, email
    changes: tuple[KeyChange, ...]


@dataclass(frozen=True, slots=True)
class SectionDiff:
    section: str  # the TOML table: "extensions", "holidays", "voicemail", "outbound_routes"
    added: tuple[Added, ...]  # in the new file's order
    removed: tuple[str, ...]  # in the old file's order
    changed: tuple[ItemChange, ...]  # in the new file's order

    @property
    def names(self) -> tuple[str, ...]:
        """Every item added, removed or changed."""
        return (*(a.name for a in self.added), *self.removed, *(c.name for c in self.changed))


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    # Only the sections with a change: CompiledConfig's field order, then the raw tables.
    sections: tuple[SectionDiff, ...]
    needs_restart: tuple[str, ...]  # key paths that a reload cannot apply: "server.listen"

    @property
    def empty(self) -> bool:
        return not self.sections

    @property
    def trunks_changed(self) -> tuple[str, ...]:
        """Trunks added, removed or changed: the ones the app (re-)registers or drops."""
        trunks = self.section("trunks")
        return () if trunks is None else trunks.names

    def section(self, name: str) -> SectionDiff | None:
        return next((s for s in self.sections if s.section == name), None)


def diff_configs(old: CompiledConfig, new: CompiledConfig) -> ConfigDiff:
    """What replacing ``old`` with ``new`` changes, section by section.

    Sections come in CompiledConfig's field order, so one added there is compared too: by
    name if it is a mapping, key by key otherwise.
    """
    sections = [
        _diff_field(f.name, getattr(old, f.name), getattr(new, f.name))
        for f in dataclasses.fields(CompiledConfig)
        if f.compare and f.name not in _NOT_SECTIONS
    ]
    sections.extend(_diff_raw(old.raw_sections, new.raw_sections))
    kept = tuple(s for s in sections if s.names)
    return ConfigDiff(sections=kept, needs_restart=_needs_restart(kept))


def format_diff(diff: ConfigDiff) -> str:
    """Plain text, one line per change, each starting with its section; "no changes" if none."""
    if diff.empty:
        return "no changes"
    lines: list[str] = []
    for section in diff.sections:
        head = f"{section.section}:"
        lines.extend(f"{head} + {added}" for added in section.added)
        lines.extend(f"{head} - {name}" for name in section.removed)
        for item in section.changed:
            where = f"{item.name}: " if item.name else ""
            for change in item.changes:
                note = " (restart to apply)" if _restart(section.section, change.key) else ""
                lines.append(f"{head} ~ {where}{change}{note}")
    return "\n".join(lines)


# --- sections ------------------------------------------------------------------------------


# Fields of CompiledConfig that are no section of their own: the files read, the dialling
# prefixes that server.country already reports, and the raw tables (_diff_raw, one per table).
_NOT_SECTIONS = frozenset({"files", "dialing", "raw_sections"})
# The TOML table of a section, where it is not CompiledConfig's field name.
_TABLES = {"holiday_sets": "holidays", "mailboxes": "voicemail"}


def _diff_field(name: str, old: Any, new: Any) -> SectionDiff:
    table = _TABLES.get(name, name)
    if name == "server":
        return _diff_single(table, _server_values(old), _server_values(new))
    if name == "outbound_routes":
        return _diff_routes(old, new)
    if name == "email":
        return _diff_email(old, new)
    if name == "blocklist":
        return _diff_blocklist(old, new)
    if isinstance(new, Mapping):  # by name: extensions by number, numbers by DID...
        return _diff_items(
            table,
            {name: _flatten(item) for name, item in old.items()},
            {name: _flatten(item) for name, item in new.items()},
            lambda name: _summary(new[name]),
        )
    return _diff_single(table, _flatten(old), _flatten(new))


def _summary(item: object) -> str:
    """A few words beside an added item's name: who an extension is, what a DID is for."""
    if isinstance(item, Extension):
        return item.name
    if isinstance(item, Number):
        return item.description
    code = getattr(item, "code", None) or getattr(item, "number", None)  # what phones dial
    return f"dial {code}" if isinstance(code, str) else ""


def _diff_items(
    section: str,
    old: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Mapping[str, Any]],
    summary: Callable[[str], str] = lambda _name: "",
) -> SectionDiff:
    """Items matched by name; ``old``/``new`` hold each item's flattened keys."""
    added = tuple(Added(name, summary(name)) for name in new if name not in old)
    changed = tuple(
        ItemChange(name, changes)
        for name in new
        if name in old and (changes := _compare(old[name], new[name]))
    )
    removed = tuple(name for name in old if name not in new)
    return SectionDiff(section, added, removed, changed)


def _diff_single(section: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> SectionDiff:
    changes = _compare(old, new)
    return SectionDiff(section, (), (), (ItemChange("", changes),) if changes else ())


def _server_values(server: ServerConfig) -> dict[str, Any]:
    """The server's keys as the TOML spells them (rtp_ports is one key, two fields)."""
    values: dict[str, Any] = {}
    for key, value in _flatten(server).items():
        if key == "rtp_port_min":
            values["rtp_ports"] = f"{server.rtp_port_min}-{server.rtp_port_max}"
        elif key == "http_listen" and value is not None:
            values[key] = host_port(value[0], value[1])
        elif key != "rtp_port_max":
            values[key] = value
    return values


def _route_keys(routes: Iterable[OutboundRoute]) -> dict[str, OutboundRoute]:
    """Routes by pattern; a pattern written twice gets " #2" (rare, but legal)."""
    keyed: dict[str, OutboundRoute] = {}
    for route in routes:
        key, n = route.pattern, 1
        while key in keyed:
            n += 1
            key = f"{route.pattern} #{n}"
        keyed[key] = route
    return keyed


def _diff_routes(old: tuple[OutboundRoute, ...], new: tuple[OutboundRoute, ...]) -> SectionDiff:
    """Routes by pattern, plus their position when the order among the kept ones changed.

    Adding a route at the top moves every other one down a place but changes none of their
    priorities relative to each other, so only a real reordering is reported.
    """
    old_keyed, new_keyed = _route_keys(old), _route_keys(new)
    old_items = {k: _flatten(r) for k, r in old_keyed.items()}
    new_items = {k: _flatten(r) for k, r in new_keyed.items()}
    kept_old = [k for k in old_keyed if k in new_keyed]
    kept_new = [k for k in new_keyed if k in old_keyed]
    old_pos = {k: i + 1 for i, k in enumerate(old_keyed)}
    new_pos = {k: i + 1 for i, k in enumerate(new_keyed)}
    for rank, key in enumerate(kept_new):
        if kept_old[rank] != key:
            old_items[key]["position"] = old_pos[key]
            new_items[key]["position"] = new_pos[key]
    return _diff_items(
        "outbound_routes",
        old_items,
        new_items,
        lambda key: f"#{new_pos[key]} via {new_keyed[key].trunk}",
    )


def _diff_blocklist(old: Blocklist, new: Blocklist) -> SectionDiff:
    """Blocked numbers and prefixes ("+34905*") as a set: each one added or removed."""

    def entries(block: Blocklist) -> dict[str, dict[str, Any]]:
        names = [*sorted(block.exact), *(f"{prefix}*" for prefix in block.prefixes)]
        return {name: {} for name in names}

    return _diff_items("blocklist", entries(old), entries(new))


def _diff_email(old: EmailConfig | None, new: EmailConfig | None) -> SectionDiff:
    """[email] is optional: one that comes or goes is named by its server's URL."""
    if old is None or new is None:
        added = () if new is None or old is not None else (Added(_smtp_url(new), ""),)
        removed = () if old is None or new is not None else (_smtp_url(old),)
        return SectionDiff("email", added, removed, ())
    return _diff_single("email", _flatten(old), _flatten(new))


def _smtp_url(email: EmailConfig) -> str:
    return f"{email.scheme}://{host_port(email.host, email.port)}"


def _diff_raw(old: Mapping[str, object], new: Mapping[str, object]) -> list[SectionDiff]:
    """Tables not compiled yet ([forms.*]...): their sub-tables compared as TOML gave them."""

    def items(section: str, raw: Mapping[str, object]) -> dict[str, dict[str, Any]]:
        value = raw.get(section)
        if value is None:
            return {}
        tables = value if isinstance(value, Mapping) else {section: {"value": value}}
        return {name: _flatten(table) for name, table in tables.items()}

    names = [*new, *(name for name in old if name not in new)]
    return [_diff_items(name, items(name, old), items(name, new)) for name in names]


def _needs_restart(sections: Iterable[SectionDiff]) -> tuple[str, ...]:
    return tuple(
        f"{section.section}.{change.key}"
        for section in sections
        for item in section.changed
        for change in item.changes
        if _restart(section.section, change.key)
    )


def _restart(section: str, key: str) -> bool:
    return section in _RESTART_SECTIONS or f"{section}.{key}" in RESTART_KEYS


# --- values --------------------------------------------------------------------------------


def _flatten(value: object, prefix: str = "") -> dict[str, Any]:
    """Leaf keys of a compiled item: nested dataclasses and mappings become dotted keys.

    Mappings (MappingProxyType, or TOML's dicts) are walked by key, so their order never
    matters; fields that are derived indexes (compare=False) are left out.
    """
    if prefix and isinstance(value, _REFERENCED):
        return {prefix: value.name}
    dot = f"{prefix}." if prefix else ""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # A nested one may be None on the other side (an extension's mailbox): say "on" there.
        leaves: dict[str, Any] = {prefix: "on"} if prefix else {}
        for f in dataclasses.fields(value):
            if f.compare:
                leaves.update(_flatten(getattr(value, f.name), dot + f.name))
        return leaves
    if isinstance(value, Mapping):
        leaves = {}
        for key, item in value.items():
            leaves.update(_flatten(item, f"{dot}{key}"))
        return leaves
    return {prefix: value}


def _compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[KeyChange, ...]:
    """The keys whose values differ, in the new item's key order, then keys only in old."""
    keys = [*new, *(key for key in old if key not in new)]
    differ = [key for key in keys if old.get(key) != new.get(key)]
    # A mailbox switched off is one change, not one per setting it had.
    gone = {key for key in differ if old.get(key) is None or new.get(key) is None}
    return tuple(
        _change(key, old.get(key), new.get(key))
        for key in differ
        if not any(parent in gone for parent in _parents(key))
    )


def _change(key: str, old: object, new: object) -> KeyChange:
    if key.rsplit(".", 1)[-1] in _SECRET_NAMES:  # not even kept, so no repr or log shows it
        return KeyChange(key, _HIDDEN, _HIDDEN, secret=True)
    return KeyChange(key, show(old), show(new))


def _parents(key: str) -> Iterable[str]:
    """The keys that hold this one: "a.b.c" -> "a", "a.b"."""
    parts = key.split(".")
    return (".".join(parts[:n]) for n in range(1, len(parts)))
