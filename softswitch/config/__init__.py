"""Configuration: TOML -> schema (unknown keys rejected) -> compile -> immutable runtime objects."""

from softswitch.config.loader import SecretSource, load_config, password_key, resolve_passwords
from softswitch.config.model import (
    CompiledConfig,
    ConfigError,
    ConfigIssue,
    Extension,
    ListenSpec,
    SecurityConfig,
    ServerConfig,
    VoicemailSettings,
)

__all__ = [
    "CompiledConfig",
    "ConfigError",
    "ConfigIssue",
    "Extension",
    "ListenSpec",
    "SecretSource",
    "SecurityConfig",
    "ServerConfig",
    "VoicemailSettings",
    "load_config",
    "password_key",
    "resolve_passwords",
]
