"""TOML data to schema objects: every unknown key and wrong type is reported, none is fatal.

Decoding never stops at the first problem: a bad value is reported and replaced by its default
so that the rest of the file (and the compile step's cross-checks) still get looked at, and the
admin sees every issue in one run.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from softswitch.config.linemap import KeyPath
from softswitch.config.routing_schema import (
    TOML_KEY,
    BlocklistSection,
    EmailSection,
    ExternalDestinationSection,
    HolidaysSection,
    IvrSection,
    MailboxSection,
    NumberSection,
    OutboundRouteSection,
    QueueSection,
    RingGroupSection,
    ScheduleSection,
    TrunkSection,
)
from softswitch.config.schema import (
    COMPILED_SECTIONS,
    INCLUDE_KEY,
    RAW_SECTIONS,
    ConferenceSection,
    ExtensionSection,
    MusicOnHoldSection,
    PromptSection,
    SecuritySection,
    ServerSection,
)

Report = Callable[[KeyPath, str], None]
T = TypeVar("T")

_EXTENSION_NUMBER = re.compile(r"[0-9]{2,8}")
_INVALID: Any = object()  # "reported; use the default" (Any: it stands in for any field type)


@dataclass(frozen=True, slots=True)
class RoutingSections:
    """The routing tables of CONFIG.md as written; named tables by name, in file order."""

    email: EmailSection | None = None  # None = no [email] table
    external_destinations: dict[str, ExternalDestinationSection] = dataclasses.field(
        default_factory=dict
    )
    trunks: dict[str, TrunkSection] = dataclasses.field(default_factory=dict)
    outbound_routes: tuple[OutboundRouteSection, ...] = ()
    numbers: dict[str, NumberSection] = dataclasses.field(default_factory=dict)
    schedules: dict[str, ScheduleSection] = dataclasses.field(default_factory=dict)
    holidays: dict[str, HolidaysSection] = dataclasses.field(default_factory=dict)
    ivrs: dict[str, IvrSection] = dataclasses.field(default_factory=dict)
    ring_groups: dict[str, RingGroupSection] = dataclasses.field(default_factory=dict)
    queues: dict[str, QueueSection] = dataclasses.field(default_factory=dict)
    voicemail: dict[str, MailboxSection] = dataclasses.field(default_factory=dict)
    blocklist: BlocklistSection = dataclasses.field(default_factory=BlocklistSection)


@dataclass(frozen=True, slots=True)
class DecodedConfig:
    server: ServerSection
    security: SecuritySection
    extensions: dict[str, ExtensionSection]  # only those with a valid number, in file order
    raw_sections: dict[str, object]
    prompts: dict[str, PromptSection] = dataclasses.field(default_factory=dict)
    music_on_hold: dict[str, MusicOnHoldSection] = dataclasses.field(default_factory=dict)
    conferences: dict[str, ConferenceSection] = dataclasses.field(default_factory=dict)
    routing: RoutingSections = dataclasses.field(default_factory=RoutingSections)


def decode_document(data: Mapping[str, object], report: Report) -> DecodedConfig:
    """Check the top level, then decode each section we compile; keep the others raw."""
    raw: dict[str, object] = {}
    known = COMPILED_SECTIONS | RAW_SECTIONS | {INCLUDE_KEY}
    for key, value in data.items():
        if key in RAW_SECTIONS:
            raw[key] = value
        elif key not in known:
            report((key,), "unknown top-level key" + _suggestion(key, known))
    return DecodedConfig(
        server=decode_table(ServerSection, data.get("server", {}), ("server",), report),
        security=decode_table(SecuritySection, data.get("security", {}), ("security",), report),
        extensions=_decode_extensions(data.get("extensions", {}), report),
        raw_sections=raw,
        prompts=_decode_named(PromptSection, data, "prompts", report),
        music_on_hold=_decode_named(MusicOnHoldSection, data, "music_on_hold", report),
        conferences=_decode_named(ConferenceSection, data, "conferences", report),
        routing=_decode_routing(data, report),
    )


def _decode_routing(data: Mapping[str, object], report: Report) -> RoutingSections:
    email = data.get("email")
    return RoutingSections(
        email=None if email is None else decode_table(EmailSection, email, ("email",), report),
        external_destinations=_decode_named(
            ExternalDestinationSection, data, "external_destinations", report
        ),
        trunks=_decode_named(TrunkSection, data, "trunks", report),
        outbound_routes=decode_array(
            OutboundRouteSection, data.get("outbound_routes", []), ("outbound_routes",), report
        ),
        numbers=_decode_named(NumberSection, data, "numbers", report),
        schedules=_decode_named(ScheduleSection, data, "schedules", report),
        holidays=_decode_named(HolidaysSection, data, "holidays", report),
        ivrs=_decode_named(IvrSection, data, "ivrs", report),
        ring_groups=_decode_named(RingGroupSection, data, "ring_groups", report),
        queues=_decode_named(QueueSection, data, "queues", report),
        voicemail=_decode_named(MailboxSection, data, "voicemail", report),
        blocklist=decode_table(BlocklistSection, data.get("blocklist", {}), ("blocklist",), report),
    )


def _decode_named(
    cls: type[T], data: Mapping[str, object], section: str, report: Report
) -> dict[str, T]:
    """A table of named tables (``[prompts.bienvenida]``), by name in file order."""
    value = data.get(section, {})
    if not isinstance(value, dict):
        report((section,), f"expected a table of {section}, got {_describe_value(value)}")
        return {}
    decoded: dict[str, T] = {}
    for name, table in value.items():
        item = decode_table(cls, table, (section, name), report)
        if isinstance(table, dict):  # else reported, and a stand-in would only add noise
            decoded[name] = item
    return decoded


def _decode_extensions(value: object, report: Report) -> dict[str, ExtensionSection]:
    path: KeyPath = ("extensions",)
    if not isinstance(value, dict):
        report(path, f"expected a table of extensions, got {_describe_value(value)}")
        return {}
    extensions: dict[str, ExtensionSection] = {}
    for number, table in value.items():
        # Decode even a badly numbered extension, so that its other mistakes show up too.
        section = decode_table(ExtensionSection, table, (*path, number), report)
        if _EXTENSION_NUMBER.fullmatch(number):
            extensions[number] = section
        else:
            report((*path, number), "an extension number must be 2 to 8 digits")
    return extensions


def decode_table(cls: type[T], value: object, path: KeyPath, report: Report) -> T:
    """Build the schema dataclass ``cls`` from a TOML table; missing keys take their defaults."""
    if not isinstance(value, dict):
        report(path, f"expected a table, got {_describe_value(value)}")
        return cls()
    fields = _fields(cls)
    values: dict[str, object] = {}
    for key, item in value.items():
        found = fields.get(key)
        if found is None:
            report((*path, key), "unknown key" + _suggestion(key, fields))
            continue
        name, expected = found
        converted = _convert(item, expected, (*path, key), report)
        if converted is not _INVALID:
            values[name] = converted
    return cls(**values)


def decode_array(cls: type[T], value: object, path: KeyPath, report: Report) -> tuple[T, ...]:
    """An array of tables (``[[outbound_routes]]``), each decoded as ``cls``, in file order."""
    if not isinstance(value, list):
        report(path, f"expected an array of tables, got {_describe_value(value)}")
        return ()
    decoded = (decode_table(cls, item, (*path, i), report) for i, item in enumerate(value))
    return tuple(decoded)


_FIELDS: dict[type[Any], dict[str, tuple[str, Any]]] = {}


def _fields(cls: type[Any]) -> dict[str, tuple[str, Any]]:
    """TOML key -> (field name, resolved type), computed once per schema class. The key is the
    field name unless the field's metadata gives another (``from``, a Python keyword)."""
    fields = _FIELDS.get(cls)
    if fields is None:
        hints = typing.get_type_hints(cls)
        fields = _FIELDS[cls] = {
            f.metadata.get(TOML_KEY, f.name): (f.name, hints[f.name])
            for f in dataclasses.fields(cls)
        }
    return fields


def _convert(item: object, expected: Any, path: KeyPath, report: Report) -> Any:
    """``item`` as the schema type ``expected``, or _INVALID after reporting why not."""
    origin = typing.get_origin(expected)
    if origin in (types.UnionType, typing.Union):
        return _convert_union(item, typing.get_args(expected), path, report)
    if origin is tuple:
        return _convert_list(item, expected, path, report)
    if origin is dict:
        return _convert_dict(item, expected, path, report)
    if _is_table_type(expected) and isinstance(item, dict):
        return decode_table(expected, item, path, report)
    if _accepts(item, expected):
        if origin is Literal and item not in typing.get_args(expected):
            report(path, f"must be {_describe_type(expected)}, not {_describe_value(item)}")
            return _INVALID
        if expected is float:
            return float(typing.cast(float, item))  # integers are fine where seconds are asked
        return item
    report(path, _type_mismatch(item, expected))
    return _INVALID


def _convert_union(item: object, arms: tuple[Any, ...], path: KeyPath, report: Report) -> Any:
    # "X | None" only means "optional": TOML has no null, so None is never written.
    candidates = [arm for arm in arms if arm is not type(None)]
    for arm in candidates:
        if _accepts(item, arm):
            return _convert(item, arm, path, report)
    report(path, _type_mismatch(item, candidates[0] if len(candidates) == 1 else tuple(candidates)))
    return _INVALID


def _convert_list(item: object, expected: Any, path: KeyPath, report: Report) -> Any:
    if not isinstance(item, list):
        report(path, _type_mismatch(item, expected))
        return _INVALID
    element = typing.get_args(expected)[0]
    converted = (_convert(value, element, (*path, i), report) for i, value in enumerate(item))
    # Keep the valid elements so that compile still checks them; the result is discarded anyway.
    return tuple(value for value in converted if value is not _INVALID)


def _convert_dict(item: object, expected: Any, path: KeyPath, report: Report) -> Any:
    """A table with free keys (``options = { "1" = "group:ventas" }``): each value converted."""
    if not isinstance(item, dict):
        report(path, _type_mismatch(item, expected))
        return _INVALID
    element = typing.get_args(expected)[1]
    converted = {key: _convert(value, element, (*path, key), report) for key, value in item.items()}
    return {key: value for key, value in converted.items() if value is not _INVALID}


def _is_table_type(expected: Any) -> bool:
    return isinstance(expected, type) and dataclasses.is_dataclass(expected)


def _accepts(item: object, expected: Any) -> bool:
    """Whether ``item`` has the TOML kind ``expected`` needs (contents are checked later)."""
    origin = typing.get_origin(expected)
    if origin is Literal:
        return all(isinstance(item, type(arg)) for arg in typing.get_args(expected))
    if origin is tuple:
        return isinstance(item, list)
    if origin is dict or _is_table_type(expected):
        return isinstance(item, dict)
    if isinstance(item, bool):  # bool is an int subclass, but true is not a number in TOML
        return expected is bool
    if expected is float:
        return isinstance(item, int | float)
    return isinstance(expected, type) and isinstance(item, expected)


# -- messages ------------------------------------------------------------------------------

_TYPE_NAMES: dict[Any, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    datetime.date: "a date",
}


def _describe_type(expected: Any) -> str:
    if isinstance(expected, tuple):
        return " or ".join(_describe_type(arm) for arm in expected)
    origin = typing.get_origin(expected)
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in typing.get_args(expected))
    if origin in (types.UnionType, typing.Union):
        return _describe_type(tuple(a for a in typing.get_args(expected) if a is not type(None)))
    if origin is tuple:
        element = typing.get_args(expected)[0]
        arms = typing.get_args(element) if typing.get_origin(element) is types.UnionType else ()
        plural = (_describe_type(arm) for arm in arms or (element,))
        return "a list of " + " or ".join(p.split(" ", 1)[1] + "s" for p in plural)
    if origin is dict or _is_table_type(expected):
        return "a table"
    return _TYPE_NAMES.get(expected, str(expected))


def _describe_value(item: object) -> str:
    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "boolean"),
        ((int, float), "number"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
        ((datetime.date, datetime.time), "date/time"),
    )
    kind = next((name for cls, name in kinds if isinstance(item, cls)), type(item).__name__)
    if isinstance(item, list | dict):
        return kind
    text = json.dumps(item, ensure_ascii=False) if isinstance(item, str) else str(item).lower()
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


def _type_mismatch(item: object, expected: Any) -> str:
    message = f"expected {_describe_type(expected)}, got {_describe_value(item)}"
    if expected is str and isinstance(item, int | float) and not isinstance(item, bool):
        # PINs and numbers written bare are the usual cause; say how to fix it.
        message += f' (write it in quotes: "{item}")'
    return message


def _suggestion(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return f' (did you mean "{close[0]}"?)' if close else ""
