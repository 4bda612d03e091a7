"""``[forms.*]`` compiled: fields with their types, requirement and options reach
``CompiledConfig.forms`` in file order, and each mistake is reported at its key path and line,
all of them in one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.config import ConfigError, ConfigIssue, load_config
from softswitch.config.diff import diff_configs, format_diff
from softswitch.config.forms import Form, FormField
from softswitch.config.model import CompiledConfig

GOOD = """\
[extensions.1001]
form = "clientes_nuevos"

[forms.clientes_nuevos]
description = "Alta de clientes nuevos"
fields = [
  { name = "nombre", type = "text", required = true },
  { name = "email", type = "email" },
  { name = "acepta_contacto", type = "checkbox" },
  { name = "motivo", type = "select", options = ["compra", "información", "queja"] },
  { name = "notas" },
]

[forms.vacio]
"""
HEAD = '[extensions.1001]\n\n[forms.f]\nfields = [\n  { name = "ok" },\n'
HEAD_LINES = HEAD.count("\n")


def load(tmp_path: Path, text: str) -> CompiledConfig:
    path = tmp_path / "pbx.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def issues_of(tmp_path: Path, text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return list(caught.value.issues)


def test_fields_reach_the_compiled_config_in_file_order(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    assert list(config.forms) == ["clientes_nuevos", "vacio"]
    assert config.forms["clientes_nuevos"] == Form(
        "clientes_nuevos",
        "Alta de clientes nuevos",
        (
            FormField("nombre", "text", True, ()),
            FormField("email", "email", False, ()),
            FormField("acepta_contacto", "checkbox", False, ()),
            FormField("motivo", "select", False, ("compra", "información", "queja")),
            FormField("notas", "text", False, ()),  # type defaults to text
        ),
    )
    assert config.forms["vacio"] == Form("vacio", "", ())  # a form may wait for its fields
    assert config.extensions["1001"].form == "clientes_nuevos"
    assert config.forms["clientes_nuevos"].field("motivo") is not None
    assert config.forms["clientes_nuevos"].field("nope") is None
    with pytest.raises(TypeError):
        config.forms["x"] = Form("x", "", ())  # type: ignore[index]  # read-only


def test_no_forms_table_is_no_forms(tmp_path: Path) -> None:
    assert dict(load(tmp_path, "[extensions.1001]\n").forms) == {}


@pytest.mark.parametrize(
    ("fields", "key_path", "line", "message"),
    [
        (
            '{ name = "a", type = "number" }',
            "forms.f.fields[1].type",
            1,
            'must be one of "text", "email", "checkbox", "select", not string "number"',
        ),
        (
            '{ name = "a", type = "select" }',
            "forms.f.fields[1]",
            1,
            'a select needs its options (e.g. options = ["compra", "queja"])',
        ),
        (
            '{ name = "a", type = "select", options = [] }',
            "forms.f.fields[1].options",
            1,
            "a select needs at least one option",
        ),
        (
            '{ name = "ok", type = "email" }',
            "forms.f.fields[1].name",
            1,
            'field "ok" is declared twice in this form',
        ),
        (
            '{ name = "a", type = "checkbox", options = ["x"] }',
            "forms.f.fields[1].options",
            1,
            "only a select has options, not a checkbox field",
        ),
        ('{ name = "a", options = ["x"] }', "forms.f.fields[1].options", 1,
         "only a select has options, not a text field"),
        ('{ type = "text" }', "forms.f.fields[1]", 1, 'a field needs a name (e.g. name = "email")'),
        ('{ name = "call_id" }', "forms.f.fields[1].name", 1,
         '"call_id" is used by the agent page itself: choose another'),
        ('{ name = "dos palabras" }', "forms.f.fields[1].name", 1,
         "a field name is 1 to 64 letters, digits, or _ . -"),
        ('{ name = "a", requried = true }', "forms.f.fields[1].requried", 1,
         'unknown key (did you mean "required"?)'),
        ('{ name = "a", required = "yes" }', "forms.f.fields[1].required", 1,
         'expected true or false, got string "yes"'),
        ('"nombre"', "forms.f.fields[1]", 1, 'expected a table, got string "nombre"'),
        ('{ name = "a", type = "select", options = ["x", ""] }', "forms.f.fields[1].options[1]",
         1, "an option must not be empty"),
        ('{ name = "a", type = "select", options = ["x", "y", "x"] }',
         "forms.f.fields[1].options[2]", 1, 'option "x" is listed twice'),
    ],
)  # fmt: skip
def test_each_mistake_in_a_field_at_its_key_path_and_line(
    tmp_path: Path, fields: str, key_path: str, line: int, message: str
) -> None:
    issues = issues_of(tmp_path, HEAD + f"  {fields},\n]\n")
    assert [(i.key_path, i.line, i.message) for i in issues] == [
        (key_path, HEAD_LINES + line, message)
    ]


def test_every_mistake_is_reported_in_one_run(tmp_path: Path) -> None:
    text = """\
[extensions.1001]
form = "nada"

[forms.a]
descripton = "x"
fields = [
  { name = "x", type = "selct", options = ["a"] },
  3,
  { name = "y", type = "select", options = [1, "b", "b"] },
]

[forms."mal nombre"]

[forms.b]
fields = "nombre"

[forms.c]
fields = [{ name = "z" }, { name = "z" }]
"""
    issues = issues_of(tmp_path, text)
    found = {(i.key_path, i.line, i.message) for i in issues}
    assert found == {
        ("extensions.1001.form", 2, 'no form named "nada" in [forms]'),
        ("forms.a.descripton", 5, 'unknown key (did you mean "description"?)'),
        (
            "forms.a.fields[0].type",
            7,
            'must be one of "text", "email", "checkbox", "select", not string "selct"',
        ),
        ("forms.a.fields[1]", 8, "expected a table, got number 3"),
        (
            "forms.a.fields[2].options[0]",
            9,
            'expected a string, got number 1 (write it in quotes: "1")',
        ),
        # the index counts the wrongly typed option: the duplicate is the third one
        ("forms.a.fields[2].options[2]", 9, 'option "b" is listed twice'),
        ('forms."mal nombre"', 12, "a name is 1 to 64 letters, digits, or _ . -"),
        ("forms.b.fields", 15, 'expected an array of tables, got string "nombre"'),
        ("forms.c.fields[1].name", 18, 'field "z" is declared twice in this form'),
    }
    assert len(issues) == len(found)


@pytest.mark.parametrize(
    ("text", "key_path", "message"),
    [
        ("forms = 3\n", "forms", "expected a table of forms, one [forms.NAME] table each"),
        ('forms = { f = "x" }\n', "forms.f", 'expected a table, got string "x"'),
    ],
)
def test_forms_that_are_not_tables(tmp_path: Path, text: str, key_path: str, message: str) -> None:
    issues = issues_of(tmp_path, text)
    assert [(i.key_path, i.message) for i in issues] == [(key_path, message)]


def test_a_changed_form_is_reported_once_by_a_reload(tmp_path: Path) -> None:
    old = load(tmp_path, GOOD)
    new = load(tmp_path, GOOD.replace('"queja"]', '"queja", "otra"]'))
    assert new.forms["clientes_nuevos"].fields[3].options[-1] == "otra"
    report = format_diff(diff_configs(old, new)).splitlines()
    assert len(report) == 1 and report[0].startswith("forms: ~ clientes_nuevos: ")
