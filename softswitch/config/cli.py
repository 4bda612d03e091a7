"""The ``check`` and ``credentials`` commands (softswitch/cli.py parses the arguments)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from softswitch.config.loader import load_config, password_key
from softswitch.config.model import CompiledConfig, ConfigError
from softswitch.storage.secrets import SecretStore, SecretStoreError


def run_check(path: Path | None, out: TextIO) -> int:
    """Print "OK: N extensions" and return 0, or print every issue, one per line, and return 1."""
    config = _load(path, out)
    if config is None:
        return 1
    out.write(f"OK: {len(config.extensions)} extensions\n")
    return 0


def run_credentials(path: Path | None, ext: str, out: TextIO) -> int:
    """Print an extension's SIP username and password, generating the password if needed.

    ``ext`` is an extension number, or failing that a username.
    """
    config = _load(path, out)
    if config is None:
        return 1
    extension = config.extensions.get(ext) or config.extension_by_username(ext)
    if extension is None:
        out.write(f"unknown extension {ext!r}\n")
        return 1
    password = extension.password
    if password is None:
        try:
            store = SecretStore(config.server.state_dir)
            password = store.get_or_create(password_key(extension.number))
        except (OSError, SecretStoreError) as exc:
            out.write(f"cannot get the generated password: {exc}\n")
            return 1
    out.write(f"username: {extension.username}\npassword: {password}\n")
    return 0


def _load(path: Path | None, out: TextIO) -> CompiledConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            out.write(f"{issue}\n")
        return None
