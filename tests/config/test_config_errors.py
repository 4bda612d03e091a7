"""Invalid configurations: every issue named by file, key path and line, all in one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.config import ConfigError, ConfigIssue, load_config


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(path: Path) -> tuple[ConfigIssue, ...]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.issues, "a ConfigError always carries its issues"
    return caught.value.issues


def only_issue(tmp_path: Path, text: str) -> ConfigIssue:
    path = write(tmp_path, "pbx.toml", text)
    issues = issues_of(path)
    assert len(issues) == 1, [str(issue) for issue in issues]
    assert issues[0].file == str(path)
    return issues[0]


# Each case: the file, the key path and line of its one issue, and words the message must have.
CASES = [
    pytest.param(
        '[extensions.1001]\nname = "Ana"\npasword = "x"\n',
        "extensions.1001.pasword",
        3,
        ["unknown key", '"password"'],
        id="unknown-key",
    ),
    pytest.param(
        '[server]\n\nmin_expires = "60"\n', "server.min_expires", 3, ["integer"], id="type"
    ),
    pytest.param(
        "[server]\nring_time = true\n", "server.ring_time", 2, ["number"], id="bool-no-num"
    ),
    pytest.param(
        '[server]\nlisten = "udp:0.0.0.0:5060"\n', "server.listen", 2, ["list"], id="list"
    ),
    pytest.param("[server]\nlanguage = 5\n", "server.language", 2, ['"5"'], id="quote-hint"),
    pytest.param("server = 1\n", "server", 1, ["table"], id="section-not-table"),
    pytest.param(
        '[server]\ntimezone = "Europe/Madird"\n', "server.timezone", 2, ["time zone"], id="tz"
    ),
    pytest.param('[server]\nrtp_ports = "20000-10000"\n', "server.rtp_ports", 2, ["ordered"]),
    pytest.param('[server]\nrtp_ports = "80-2000"\n', "server.rtp_ports", 2, ["1024"]),
    pytest.param('[server]\nrtp_ports = "10000-70000"\n', "server.rtp_ports", 2, ["65535"]),
    pytest.param('[server]\nrtp_ports = "10000-10000"\n', "server.rtp_ports", 2, ["2 ports"]),
    pytest.param('[server]\nrtp_ports = "10000:20000"\n', "server.rtp_ports", 2, ["FIRST-LAST"]),
    pytest.param('[server]\nlisten = ["udp:0.0.0.0"]\n', "server.listen[0]", 2, ["udp:HOST:PORT"]),
    pytest.param('[server]\nlisten = ["sctp:1.2.3.4:5"]\n', "server.listen[0]", 2, ["udp or tcp"]),
    pytest.param('[server]\nlisten = ["udp:pbx:5060"]\n', "server.listen[0]", 2, ["IP address"]),
    pytest.param('[server]\nlisten = ["udp:[::1]:65536"]\n', "server.listen[0]", 2, ["range"]),
    pytest.param(
        '[server]\nlisten = [\n  "udp:[::1]:0",\n  "udp:[::1]:0",\n]\n',
        "server.listen[1]",
        4,
        ["twice"],
        id="listen-twice",
    ),
    pytest.param("[server]\nlisten = []\n", "server.listen", 2, ["at least one"]),
    pytest.param('[server]\ndomain = "pbx example"\n', "server.domain", 2, ["host name"]),
    pytest.param('[server]\nstate_dir = ""\n', "server.state_dir", 2, ["empty"]),
    pytest.param("[server]\nring_time = 0\n", "server.ring_time", 2, ["greater than 0"]),
    pytest.param("[server]\nmax_expires = 30\n", "server.max_expires", 2, ["min_expires"]),
    pytest.param("[server]\ndefault_expires = 5\n", "server.default_expires", 2, ["within"]),
    pytest.param("[server]\nmax_message_size = 100\n", "server.max_message_size", 2, ["bytes"]),
    pytest.param("[security]\nban_time = -1\n", "security.ban_time", 2, ["negative"]),
    pytest.param("[security]\nrequest_rate = 0\n", "security.request_rate", 2, ["greater"]),
    pytest.param(
        '[security]\ntrusted = ["10.0.0.1/8"]\n', "security.trusted[0]", 2, ["CIDR"], id="cidr"
    ),
    pytest.param("[extensions.1a01]\n", "extensions.1a01", 1, ["2 to 8 digits"], id="ext-letters"),
    pytest.param("[extensions.123456789]\n", "extensions.123456789", 1, ["2 to 8"], id="ext-long"),
    pytest.param("[extensions.1]\n", "extensions.1", 1, ["2 to 8 digits"], id="ext-short"),
    pytest.param("[extensions]\n1001 = 5\n", "extensions.1001", 2, ["table"], id="ext-not-table"),
    pytest.param(
        '[extensions.1001]\nusername = "ana maria"\n', "extensions.1001.username", 2, ["letters"]
    ),
    pytest.param('[extensions.1001]\npassword = ""\n', "extensions.1001.password", 2, ["empty"]),
    pytest.param(
        '[extensions.1001]\nrecord = "sometimes"\n',
        "extensions.1001.record",
        2,
        ['"none"', '"all"', '"sometimes"'],
        id="record",
    ),
    pytest.param(
        '[extensions.1001]\ncaller_ids = ["+34910000001", "nine"]\n',
        "extensions.1001.caller_ids[1]",
        2,
        ["phone number"],
        id="caller-id",
    ),
    pytest.param('[extensions.1001]\nemail = "ana"\n', "extensions.1001.email", 2, ["e-mail"]),
    pytest.param(
        '[extensions.1001]\nvoicemail = "yes"\n',
        "extensions.1001.voicemail",
        2,
        ["true or false or a table"],
        id="voicemail-type",
    ),
    pytest.param(
        '[extensions.1001]\nvoicemail = { pin = "12" }\n',
        "extensions.1001.voicemail.pin",
        2,
        ["4 to 12 digits"],
        id="voicemail-pin",
    ),
    pytest.param(
        '[extensions.1001]\nvoicemail = { pin = "1234", atach = true }\n',
        "extensions.1001.voicemail.atach",
        2,
        ["unknown key", '"attach"'],
        id="voicemail-key",
    ),
    pytest.param(
        '[extensions.1001]\nform = "nueva"\n', "extensions.1001.form", 2, ["no form"], id="form"
    ),
    pytest.param('[extensions.1001]\ngroups = [""]\n', "extensions.1001.groups[0]", 2, ["empty"]),
    pytest.param(
        "[extensions.1001]\nring_time = -5\n", "extensions.1001.ring_time", 2, ["greater"]
    ),
    pytest.param('[server]\n[extenssions.1001]\nname = "x"\n', "extenssions", 2, ["top-level"]),
    pytest.param("include = 5\n", "include", 1, ["list of file names"], id="include-type"),
]


@pytest.mark.parametrize(("text", "key_path", "line", "words"), CASES)
def test_each_issue_kind(
    tmp_path: Path, text: str, key_path: str, line: int, words: list[str]
) -> None:
    issue = only_issue(tmp_path, text)
    assert (issue.key_path, issue.line) == (key_path, line), str(issue)
    for word in words:
        assert word in issue.message, str(issue)


def test_duplicate_username_names_both_extensions(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path, '[extensions.1001]\nusername = "ana"\n\n[extensions.1002]\nusername = "ana"\n'
    )
    assert (issue.key_path, issue.line) == ("extensions.1002.username", 5)
    assert "1001" in issue.message and "1002" in issue.message


def test_username_equal_to_another_extensions_number(tmp_path: Path) -> None:
    # 1002 authenticates as "1002" by default, so 1001 may not take that name.
    issue = only_issue(tmp_path, '[extensions.1001]\nusername = "1002"\n[extensions.1002]\n')
    assert (issue.key_path, issue.line) == ("extensions.1002", 3)
    assert "1001" in issue.message and "1002" in issue.message


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, '[server]\ndomain = "a"\nlanguage = \n')
    assert issue.line == 3
    assert issue.message.startswith("invalid TOML")


def test_key_assigned_twice_has_line(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, '[server]\ndomain = "a"\n\ndomain = "b"\n')
    assert (issue.key_path, issue.line) == ("server.domain", 4)
    assert "invalid TOML" in issue.message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[extensions.1001]\nname = "Ana García"\n'.encode("latin-1"))
    (issue,) = issues_of(path)
    assert (issue.file, issue.line) == (str(path), 2)
    assert "UTF-8" in issue.message


def test_missing_file(tmp_path: Path) -> None:
    (issue,) = issues_of(tmp_path / "nope.toml")
    assert issue.file == str(tmp_path / "nope.toml")
    assert "cannot read" in issue.message


def test_every_issue_reported_at_once_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pbx.toml",
        """\
bogus = true
[server]
rtp_ports = "9-8"
timezone = "Nowhere/Land"

[extensions.1001]
pasword = "x"
username = "ana"

[extensions.ab]
[extensions.1002]
username = "ana"
record = 3
""",
    )
    issues = issues_of(path)
    assert [(issue.line, issue.key_path) for issue in issues] == [
        (1, "bogus"),
        (3, "server.rtp_ports"),
        (4, "server.timezone"),
        (7, "extensions.1001.pasword"),
        (10, "extensions.ab"),
        (12, "extensions.1002.username"),
        (13, "extensions.1002.record"),
    ]
    assert {issue.file for issue in issues} == {str(path)}


def test_issue_in_included_file_names_that_file(tmp_path: Path) -> None:
    root = write(tmp_path, "pbx.toml", 'include = ["ext/people.toml"]\n[server]\nlanguage = 1\n')
    included = write(tmp_path, "ext/people.toml", '\n[extensions.1001]\nnmae = "Ana"\n')
    issues = issues_of(root)
    assert [(issue.file, issue.line, issue.key_path) for issue in issues] == [
        (str(root), 3, "server.language"),
        (str(included), 3, "extensions.1001.nmae"),
    ]


def test_syntax_error_in_included_file_keeps_checking_the_rest(tmp_path: Path) -> None:
    root = write(tmp_path, "pbx.toml", 'include = ["a.toml"]\n[server]\nringtime = 5\n')
    broken = write(tmp_path, "a.toml", "[extensions.1001\n")
    issues = issues_of(root)
    assert [(issue.file, issue.line) for issue in issues] == [(str(root), 3), (str(broken), 1)]
    assert issues[1].message.startswith("invalid TOML")


def test_missing_included_file_reported_at_the_include(tmp_path: Path) -> None:
    root = write(tmp_path, "pbx.toml", 'include = [\n  "ok.toml",\n  "missing.toml",\n]\n')
    write(tmp_path, "ok.toml", "")
    (issue,) = issues_of(root)
    assert (issue.file, issue.key_path, issue.line) == (str(root), "include[1]", 3)
    assert "missing.toml" in issue.message


def test_include_cycle(tmp_path: Path) -> None:
    root = write(tmp_path, "pbx.toml", 'include = ["a.toml"]\n')
    a = write(tmp_path, "a.toml", '\ninclude = ["pbx.toml"]\n')
    (issue,) = issues_of(root)
    assert (issue.file, issue.key_path, issue.line) == (str(a), "include[0]", 2)
    assert "cycle" in issue.message


def test_value_defined_in_two_files(tmp_path: Path) -> None:
    root = write(tmp_path, "pbx.toml", 'include = ["b.toml"]\n[extensions.1001]\nname = "A"\n')
    other = write(tmp_path, "b.toml", '[extensions.1001]\nname = "B"\n')
    (issue,) = issues_of(root)
    assert (issue.file, issue.key_path, issue.line) == (str(other), "extensions.1001.name", 2)
    assert f"{root}:3" in issue.message
