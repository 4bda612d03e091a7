"""``[forms.*]``: the data-collection forms shown to agents during calls, compiled.

A form is a list of fields an agent fills in about the call in front of them (CONFIG.md)::

    [forms.clientes_nuevos]
    description = "Alta de clientes nuevos"
    fields = [
      { name = "nombre", type = "text", required = true },
      { name = "motivo", type = "select", options = ["compra", "información", "queja"] },
    ]

The table stays a raw section for the decoder (``schema.RAW_SECTIONS``), so it is decoded here,
with the decoder's own ``decode_table`` (unknown keys and wrong types reported the same way as
everywhere else), then checked: a field name is what a browser sends back (letters, digits,
``_ . -``; ``call_id`` is the page's own), each name once per form, a select lists its options
(each once, none empty), and only a select has options. Every mistake is reported at its key
path; nothing stops at the first one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from softswitch.config.checks import NAME, check_name, q
from softswitch.config.decode import Report, decode_array, decode_table
from softswitch.config.linemap import KeyPath

__all__ = ["FIELD_TYPES", "RESERVED_FIELDS", "FieldType", "Form", "FormField", "compile_forms"]

FieldType = Literal["text", "email", "checkbox", "select"]
FIELD_TYPES: tuple[FieldType, ...] = ("text", "email", "checkbox", "select")
# Names the agent page sends beside the form's own fields.
RESERVED_FIELDS = frozenset({"call_id"})


@dataclass(frozen=True, slots=True)
class FormField:
    name: str  # the key of its value in the saved entry; also its label on the page
    type: FieldType
    required: bool  # a checkbox that is required must be ticked
    options: tuple[str, ...]  # a select's choices, in the file's order; () for the others


@dataclass(frozen=True, slots=True)
class Form:
    name: str
    description: str
    fields: tuple[FormField, ...]  # in the file's order (the page's order)

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)


# -- the shape of the table (schema), as decode_table reads it ----------------------------------


@dataclass(frozen=True, slots=True)
class _FieldSection:
    name: str | None = None  # required
    type: FieldType | None = None  # None: "text" when not written, else reported as invalid
    required: bool = False
    options: tuple[str, ...] | None = None  # required for a select, refused elsewhere


@dataclass(frozen=True, slots=True)
class _FormSection:
    description: str = ""
    # Declared so that a misspelt key gets "did you mean"; decoded by _fields, not here.
    fields: tuple[dict[str, object], ...] = ()


# -- compiling ---------------------------------------------------------------------------------


def compile_forms(raw: object, report: Report) -> Mapping[str, Form]:
    """``raw``: the ``forms`` table as TOML gave it (None when the file has none). Read-only,
    by name in file order."""
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, dict):
        report(("forms",), "expected a table of forms, one [forms.NAME] table each")
        return MappingProxyType({})
    forms: dict[str, Form] = {}
    for name, table in raw.items():
        path: KeyPath = ("forms", name)
        check_name(path, name, report)
        if not isinstance(table, dict):
            decode_table(_FormSection, table, path, report)  # reports what it is instead
            continue
        rest = {key: value for key, value in table.items() if key != "fields"}
        section = decode_table(_FormSection, rest, path, report)
        forms[name] = Form(
            name, section.description, _fields(table.get("fields", []), path, report)
        )
    return MappingProxyType(forms)


def _fields(raw: object, path: KeyPath, report: Report) -> tuple[FormField, ...]:
    """Decoded from the raw array one table at a time, so that every key path keeps its
    index (``forms.alta.fields.2.type``) and an invalid type is told from a missing one."""
    at: KeyPath = (*path, "fields")
    sections = decode_array(_FieldSection, raw, at, report)
    items = raw if isinstance(raw, list) else []
    fields: list[FormField] = []
    seen: set[str] = set()
    for i, (section, item) in enumerate(zip(sections, items, strict=True)):
        if not isinstance(item, dict):
            continue  # reported by decode_array
        field = _field(section, item, (*at, i), report)
        if field is None:
            continue
        if field.name in seen:
            report((*at, i, "name"), f"field {q(field.name)} is declared twice in this form")
            continue
        seen.add(field.name)
        fields.append(field)
    return tuple(fields)


def _field(
    section: _FieldSection, item: dict[str, object], path: KeyPath, report: Report
) -> FormField | None:
    """The field ``item`` (as TOML gave it) decodes to, or None when it cannot be one (no
    name, an invalid type: both reported)."""
    name = section.name
    if name is None:
        report(path, 'a field needs a name (e.g. name = "email")')
    elif not NAME.fullmatch(name):
        report((*path, "name"), "a field name is 1 to 64 letters, digits, or _ . -")
    elif name in RESERVED_FIELDS:
        report((*path, "name"), f"{q(name)} is used by the agent page itself: choose another")
    kind = section.type or (None if "type" in item else "text")
    if kind is None:  # decode_table reported the unknown type: its options say nothing more
        return None
    _check_options(kind, item.get("options"), path, report)
    options = (section.options or ()) if kind == "select" else ()
    return None if name is None else FormField(name, kind, section.required, options)


def _check_options(kind: FieldType, raw: object, path: KeyPath, report: Report) -> None:
    """Options only on a select, and there at least one, each once and none empty. ``raw``
    as TOML gave it, so that an option's path keeps its index past an element of the wrong
    type (reported by the decoder)."""
    if kind != "select":
        if raw is not None:
            report((*path, "options"), f"only a select has options, not a {kind} field")
        return
    if raw is None:
        report(path, 'a select needs its options (e.g. options = ["compra", "queja"])')
        return
    if not isinstance(raw, list):
        return  # reported by the decoder
    if not raw:
        report((*path, "options"), "a select needs at least one option")
    seen: set[str] = set()
    for i, option in enumerate(raw):
        if not isinstance(option, str):
            continue
        if not option.strip():
            report((*path, "options", i), "an option must not be empty")
        elif option in seen:
            report((*path, "options", i), f"option {q(option)} is listed twice")
        seen.add(option)
