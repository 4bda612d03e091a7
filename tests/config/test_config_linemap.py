"""The TOML line scanner: every key path maps to the line it is written on."""

from __future__ import annotations

import tomllib

import pytest

from softswitch.config.linemap import KeyPath, format_key_path, scan_lines

SOURCE = """\
# a comment with [brackets] and key = value
top = 1

[server]
domain = "pbx.example.com"   # trailing comment
listen = [
  "udp:0.0.0.0:5060",
  # a comment inside an array
  "tcp:0.0.0.0:5060",
]

[extensions.1001]
name = "Ana García"
voicemail = { pin = "1234", email = "a@b.es" }

[ numbers . "+34910000000" ]
action = "ivr:principal"
"quoted key" = 'literal'
a.b.c = 3

[schedules.oficina]
ranges = [
  { start = "09:00", end = "14:00" },
  { start = "16:00", days = "mon-thu" },
]
text = \"\"\"
first line
has a "quote" and [not a table]
\"\"\"
lit = '''
[nor.this]
'''

[[outbound_routes]]
match = "+34[6-9]XXXXXXXX"

[[outbound_routes]]
match = "00X."

[outbound_routes.extra]
x = 1

[extensions.1002]
name = "\\u00c9lodie"
"""


def test_source_is_valid_toml() -> None:
    # The scanner assumes tomllib accepted the text first; make sure our fixture is valid.
    data = tomllib.loads(SOURCE)
    assert data["outbound_routes"][1]["extra"]["x"] == 1


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("top",), 2),
        (("server",), 4),
        (("server", "domain"), 5),
        (("server", "listen"), 6),
        (("server", "listen", 0), 7),
        (("server", "listen", 1), 9),
        (("extensions",), 12),
        (("extensions", "1001"), 12),
        (("extensions", "1001", "name"), 13),
        (("extensions", "1001", "voicemail"), 14),
        (("extensions", "1001", "voicemail", "email"), 14),
        (("numbers", "+34910000000"), 16),
        (("numbers", "+34910000000", "action"), 17),
        (("numbers", "+34910000000", "quoted key"), 18),
        (("numbers", "+34910000000", "a", "b", "c"), 19),
        (("schedules", "oficina", "ranges", 0, "end"), 23),
        (("schedules", "oficina", "ranges", 1, "days"), 24),
        (("schedules", "oficina", "text"), 26),
        (("schedules", "oficina", "lit"), 30),
        (("outbound_routes",), 34),
        (("outbound_routes", 0, "match"), 35),
        (("outbound_routes", 1), 37),
        (("outbound_routes", 1, "match"), 38),
        (("outbound_routes", 1, "extra", "x"), 41),
        (("extensions", "1002", "name"), 44),
    ],
)
def test_lines_of_key_paths(path: KeyPath, line: int) -> None:
    lines = scan_lines(SOURCE)
    assert path in lines
    assert lines.line_of(path) == line


def test_multiline_strings_do_not_create_tables() -> None:
    lines = scan_lines(SOURCE)
    assert ("not a table",) not in lines
    assert ("nor", "this") not in lines
    assert ("nor",) not in lines


def test_missing_key_falls_back_to_its_table() -> None:
    lines = scan_lines(SOURCE)
    assert lines.line_of(("extensions", "1001", "password")) == 12
    assert lines.line_of(("nowhere", "at", "all")) is None


def test_key_assigned_twice_is_found() -> None:
    lines = scan_lines('[server]\ndomain = "a"\nlanguage = "es"\ndomain = "b"\n')
    assert lines.duplicates == ((("server", "domain"), 4),)


def test_unscannable_source_keeps_earlier_lines_and_stops_guessing() -> None:
    lines = scan_lines("[server]\ndomain = 'x'\n= broken\n[later]\nkey = 1\n")
    assert lines.line_of(("server", "domain")) == 2
    # After the scanner gave up, an unmapped path must not borrow a prefix's line.
    assert lines.line_of(("server", "language")) is None
    assert lines.line_of(("later", "key")) is None


def test_crlf_line_endings() -> None:
    lines = scan_lines('[a]\r\nb = 1\r\n\r\n[c]\r\nd = "x"\r\n')
    assert lines.line_of(("a", "b")) == 2
    assert lines.line_of(("c", "d")) == 5


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("extensions", "1001", "password"), "extensions.1001.password"),
        (("numbers", "+34910000000", "action"), 'numbers."+34910000000".action'),
        (("outbound_routes", 0, "match"), "outbound_routes[0].match"),
        (("server", "listen", 2), "server.listen[2]"),
        (("quoted key",), '"quoted key"'),
        ((), ""),
    ],
)
def test_format_key_path(path: KeyPath, text: str) -> None:
    assert format_key_path(path) == text


def test_escaped_quoted_keys_decode_like_tomllib() -> None:
    source = '[names]\n"\\u00c9lodie" = 1\n"tab\\there" = 2\n'
    assert set(tomllib.loads(source)["names"]) == {"Élodie", "tab\there"}
    lines = scan_lines(source)
    assert lines.line_of(("names", "Élodie")) == 2
    assert lines.line_of(("names", "tab\there")) == 3
