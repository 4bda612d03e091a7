"""The entry points: read, decode and compile a configuration; fill in generated passwords."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from softswitch.config.compile import compile_config
from softswitch.config.decode import Report, decode_document
from softswitch.config.model import CompiledConfig, ConfigError
from softswitch.config.sources import Sources


class SecretSource(Protocol):
    """What resolve_passwords needs from a secret store (storage.secrets.SecretStore)."""

    def get_or_create(self, key: str) -> str: ...


def load_config(
    path: Path | None = None,
    extra_checks: Callable[[CompiledConfig, Report], None] | None = None,
) -> CompiledConfig:
    """Read ``path`` (and its includes), or the bundled example when None.

    ``extra_checks`` may report more issues (e.g. unreadable audio) through the same report, so
    they carry file and line. Raises ConfigError listing every issue found in every file.
    """
    sources = Sources()
    if path is None:
        sources.read_bundled()
    else:
        sources.read_file(path, str(path))
    decoded = decode_document(sources.data, sources.report)
    config = compile_config(decoded, sources.base_dir, sources.labels(), sources.report)
    if extra_checks is not None:
        extra_checks(config, sources.report)
    issues = sources.issues()
    if issues:
        raise ConfigError(issues)
    return config


def password_key(number: str) -> str:
    """The secret store key of an extension's generated password (its config key path)."""
    return f"extensions.{number}.password"


def resolve_passwords(config: CompiledConfig, store: SecretSource) -> CompiledConfig:
    """A copy of ``config`` in which every extension has a password, generated ones included."""
    extensions = {
        number: extension
        if extension.password is not None
        else dataclasses.replace(extension, password=store.get_or_create(password_key(number)))
        for number, extension in config.extensions.items()
    }
    return dataclasses.replace(config, extensions=MappingProxyType(extensions))
