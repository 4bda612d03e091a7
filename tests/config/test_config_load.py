"""Loading valid configurations: objects, defaults, includes, bundled example, passwords."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from softswitch.config import (
    ConfigError,
    ConfigIssue,
    Extension,
    ListenSpec,
    VoicemailSettings,
    load_config,
    resolve_passwords,
)
from softswitch.config.routing_model import Action
from softswitch.storage.secrets import SecretStore

REPO = Path(__file__).resolve().parents[2]

FULL = """\
[server]
domain = "pbx.example.com"
listen = ["udp:127.0.0.1:0", "tcp:[::1]:5070"]
public_address = "203.0.113.10"
rtp_ports = "40000-40099"
timezone = "Europe/Madrid"
language = "es"
state_dir = "state"
ring_time = 8
min_expires = 30
max_expires = 7200
default_expires = 900
max_message_size = 8192

[security]
max_auth_failures = 3
failure_window = 20
ban_time = 0
request_rate = 50.5
request_burst = 100
trusted = ["192.168.1.0/24", "2001:db8::/32"]

[extensions.1001]
name = "Ana García"
username = "ana"
password = "secret1001"
caller_ids = ["+34910000001", "+34910000009"]
outbound = true
custom_caller_id = true
record = "all"
voicemail = { pin = "1234", email = "buzon@example.com", attach = true }
email = "ana@example.com"
form = "clientes_nuevos"
groups = ["madrid", "ventas"]
ring_time = 20

[extensions.1002]
name = "Bruno Díaz"
voicemail = true
email = "bruno@example.com"

[forms.clientes_nuevos]
description = "Alta de clientes nuevos"

[numbers."+34910000000"]
action = "extension:1001"
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_full_config_compiles_to_expected_objects(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "pbx.toml", FULL))
    server = config.server
    assert server.domain == "pbx.example.com"
    assert server.listen == (ListenSpec("udp", "127.0.0.1", 0), ListenSpec("tcp", "::1", 5070))
    assert server.public_address == "203.0.113.10"
    assert (server.rtp_port_min, server.rtp_port_max) == (40000, 40099)
    assert (server.timezone, server.language) == ("Europe/Madrid", "es")
    assert server.state_dir == tmp_path / "state"
    assert server.ring_time == 8.0
    assert (server.min_expires, server.default_expires, server.max_expires) == (30, 900, 7200)
    assert server.max_message_size == 8192

    security = config.security
    assert (security.max_auth_failures, security.failure_window, security.ban_time) == (3, 20, 0)
    assert (security.request_rate, security.request_burst) == (50.5, 100)
    assert security.trusted == (
        ipaddress.ip_network("192.168.1.0/24"),
        ipaddress.ip_network("2001:db8::/32"),
    )

    assert list(config.extensions) == ["1001", "1002"]
    assert config.extensions["1001"] == Extension(
        number="1001",
        name="Ana García",
        username="ana",
        password="secret1001",
        caller_ids=("+34910000001", "+34910000009"),
        outbound=True,
        custom_caller_id=True,
        record="all",
        email="ana@example.com",
        ring_time=20.0,
        groups=("madrid", "ventas"),
        voicemail=VoicemailSettings(pin="1234", email="buzon@example.com", attach=True),
        form="clientes_nuevos",
    )
    bruno = config.extensions["1002"]
    assert (bruno.username, bruno.password, bruno.outbound, bruno.record) == (
        "1002",
        None,
        False,
        "none",
    )
    # voicemail = true: a mailbox that mails the extension's own address.
    assert bruno.voicemail == VoicemailSettings(pin=None, email="bruno@example.com", attach=False)
    assert config.files == (str(tmp_path / "pbx.toml"),)
    assert config.numbers["+34910000000"].action == (Action("extension", "1001"),)
    assert set(config.raw_sections) == {"forms"}


def test_compiled_config_is_read_only(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "pbx.toml", FULL))
    with pytest.raises(TypeError):
        config.extensions["9999"] = config.extensions["1001"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.server.domain = "other"  # type: ignore[misc]


def test_extension_by_username(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "pbx.toml", FULL))
    ana = config.extension_by_username("ana")
    assert ana is not None and ana.number == "1001"
    bruno = config.extension_by_username("1002")
    assert bruno is not None and bruno.number == "1002"
    assert config.extension_by_username("1001") is None  # 1001 authenticates as "ana"


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "min.toml", "[extensions.1001]\n"))
    server = config.server
    assert server.domain == "softswitch.local"
    assert server.listen == (ListenSpec("udp", "0.0.0.0", 5060), ListenSpec("tcp", "0.0.0.0", 5060))
    assert (server.rtp_port_min, server.rtp_port_max) == (10000, 20000)
    assert server.state_dir == tmp_path / "var"
    assert server.public_address is None
    assert (server.ring_time, server.min_expires, server.max_expires) == (30.0, 60, 3600)
    assert server.default_expires == 600
    assert config.security.trusted == ()
    assert config.security.max_auth_failures == 10
    ext = config.extensions["1001"]
    assert (ext.name, ext.username, ext.password, ext.voicemail, ext.ring_time) == (
        "",
        "1001",
        None,
        None,
        None,
    )


def test_empty_file_is_a_valid_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "empty.toml", ""))
    assert dict(config.extensions) == {}


def test_state_dir_absolute_and_relative(tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere"
    config = load_config(write(tmp_path, "a/b.toml", f'[server]\nstate_dir = "{absolute}"\n'))
    assert config.server.state_dir == absolute
    config = load_config(write(tmp_path, "a/c.toml", '[server]\nstate_dir = "../data"\n'))
    assert config.server.state_dir == tmp_path / "data"


def test_includes_merge_and_resolve_relative_to_including_file(tmp_path: Path) -> None:
    root = write(tmp_path, "pbx.toml", 'include = ["conf/extensions.toml"]\n[server]\n')
    write(tmp_path, "conf/extensions.toml", 'include = ["more.toml"]\n[extensions.1001]\n')
    # more.toml sits next to extensions.toml, and its state_dir is relative to it too.
    write(tmp_path, "conf/more.toml", '[extensions.1002]\n[server]\nstate_dir = "st"\n')
    config = load_config(root)
    assert list(config.extensions) == ["1001", "1002"]
    assert config.server.state_dir == tmp_path / "conf" / "st"
    assert config.files == (
        str(root),
        str(tmp_path / "conf" / "extensions.toml"),
        str(tmp_path / "conf" / "more.toml"),
    )


def test_file_included_twice_is_read_once(tmp_path: Path) -> None:
    root = write(tmp_path, "pbx.toml", 'include = ["a.toml", "b.toml"]\n')
    write(tmp_path, "a.toml", 'include = "common.toml"\n')
    write(tmp_path, "b.toml", 'include = ["common.toml"]\n')
    write(tmp_path, "common.toml", "[extensions.1001]\n")
    config = load_config(root)
    assert list(config.extensions) == ["1001"]
    assert len(config.files) == 4


def test_bundled_example_compiles_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.server.state_dir == tmp_path / "var"
    assert config.server.domain == "127.0.0.1"
    assert list(config.extensions) == ["1001", "1002", "1003"]
    assert config.extensions["1001"].name == "Ana García"
    assert config.extensions["1002"].name == "Bruno Díaz"
    assert config.extensions["1003"].password is None
    assert not (tmp_path / "var").exists()  # loading writes nothing


def test_repository_example_compiles() -> None:
    config = load_config(REPO / "config" / "example.toml")
    assert config.server.state_dir == REPO / "config" / "var"
    assert config.server.listen == (
        ListenSpec("udp", "0.0.0.0", 5060),
        ListenSpec("tcp", "0.0.0.0", 5060),
    )
    assert all(ext.password for ext in (config.extensions["1001"], config.extensions["1002"]))


def test_bundled_example_is_identical_to_repository_example() -> None:
    bundled = REPO / "softswitch" / "data" / "example.toml"
    assert bundled.read_bytes() == (REPO / "config" / "example.toml").read_bytes()


def test_resolve_passwords_generates_once_and_keeps_given_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "pbx.toml", FULL + "[extensions.1003]\n")
    config = load_config(path)
    resolved = resolve_passwords(config, SecretStore(config.server.state_dir))
    assert resolved.extensions["1001"].password == "secret1001"
    generated = resolved.extensions["1002"].password
    other = resolved.extensions["1003"].password
    assert generated is not None and other is not None
    assert len(generated) >= 22  # >= 128 bits in URL-safe base64
    assert generated != other
    # A new store (as in a later process) sees the same values.
    again = resolve_passwords(load_config(path), SecretStore(config.server.state_dir))
    assert again.extensions["1002"].password == generated
    assert again.extensions["1003"].password == other
    # The original is untouched and the username index follows the new extensions.
    assert config.extensions["1002"].password is None
    by_username = resolved.extension_by_username("1002")
    assert by_username is not None and by_username.password == generated


def test_password_is_not_in_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "pbx.toml", FULL))
    assert "secret1001" not in repr(config)
    assert "secret1001" not in repr(config.extensions["1001"])


def test_issue_and_error_text() -> None:
    issue = ConfigIssue("config/x.toml", "extensions.1001.pasword", 12, "unknown key")
    assert str(issue) == "config/x.toml:12: extensions.1001.pasword: unknown key"
    assert str(ConfigIssue("x.toml", "", None, "cannot read")) == "x.toml: cannot read"
    error = ConfigError((issue, ConfigIssue("y.toml", "server", 1, "bad")))
    assert str(error).splitlines() == [str(issue), "y.toml:1: server: bad"]
