"""Small value checks shared by every compile module, and the quoting used in messages.

They live apart from the section compilers so that each of those (server and sounds in
``compile``, routing in ``routing``, ``trunks``, ``schedules``) reports the same mistake with the
same words.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import zoneinfo
from collections.abc import Iterable
from pathlib import Path

from softswitch.config.decode import Report
from softswitch.config.linemap import KeyPath

__all__ = [
    "EMAIL",
    "EXTENSION_NUMBER",
    "FEATURE_CODE",
    "NAME",
    "PHONE_NUMBER",
    "PIN",
    "USERNAME",
    "absolute",
    "check_email",
    "check_feature_code",
    "check_name",
    "check_pin",
    "claim_code",
    "is_host",
    "is_ip",
    "non_negative",
    "positive",
    "q",
    "suggest",
    "timezone_exists",
]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")
PHONE_NUMBER = re.compile(r"\+?[0-9]{2,20}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PIN = re.compile(r"[0-9]{4,12}")
EXTENSION_NUMBER = re.compile(r"[0-9]{2,8}")
# A code for a phone feature (*97): unlike a dialable code it may hold * and #, which no
# extension number has, so that the usual choice cannot clash with one.
FEATURE_CODE = re.compile(r"[0-9*#]{2,8}")
# SIP user part without the characters that would need escaping or confuse an admin.
USERNAME = re.compile(r"[A-Za-z0-9._~+-]{1,64}")
# Names are written after "prompt:" or "queue:" in actions: no spaces, colons or commas.
NAME = re.compile(r"[\w.-]{1,64}")


def q(text: str) -> str:
    """Quote a value the way TOML writes it, so messages show what to look for in the file."""
    return json.dumps(text, ensure_ascii=False)


def suggest(word: str, known: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` for a likely typo, else ""."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.75)
    return f" (did you mean {q(close[0])}?)" if close else ""


def is_host(text: str) -> bool:
    return bool(_HOSTNAME.fullmatch(text)) or is_ip(text)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def timezone_exists(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def absolute(base: Path, text: str) -> Path:
    return Path(os.path.normpath(base / Path(text).expanduser())).absolute()


def positive(value: float, path: KeyPath, report: Report) -> None:
    if value <= 0:
        report(path, f"must be greater than 0, got {value:g}")


def non_negative(value: float, path: KeyPath, report: Report) -> None:
    if value < 0:
        report(path, f"must not be negative, got {value:g}")


def check_name(path: KeyPath, name: str, report: Report) -> None:
    if not NAME.fullmatch(name):
        report(path, "a name is 1 to 64 letters, digits, or _ . -")


def dialable(
    value: str | None, at: KeyPath, key: str, what: str, missing: str, report: Report
) -> str:
    """``value`` if it is a 2-8 digit dialable code, else "" (reported: ``missing`` when
    absent, ``what`` naming it otherwise) so that it stays out of the uniqueness check."""
    if value is None:
        report(at, missing)
        return ""
    if not EXTENSION_NUMBER.fullmatch(value):
        report((*at, key), f"{what} is 2 to 8 digits, like an extension number")
        return ""
    return value


def claim_code(
    owners: dict[str, str], code: str, owner: str, path: KeyPath, label: str, report: Report
) -> bool:
    """Record ``owner`` ("IVR principal") as the holder of the dialable ``code`` in ``owners``
    (code -> holder, every kind of code in one dict, so each is unique across all of them), or
    report at ``path`` who holds it already and return False."""
    holder = owners.setdefault(code, owner)
    if holder != owner:
        report(path, f"{label} {q(code)} is already used by {holder}")
        return False
    return True


def check_feature_code(code: str, path: KeyPath, report: Report) -> None:
    if not FEATURE_CODE.fullmatch(code):
        report(path, f'a feature code is 2 to 8 digits, * or #, like "*97", not {q(code)}')


def check_email(address: str | None, path: KeyPath, report: Report) -> None:
    if address is not None and not EMAIL.fullmatch(address):
        report(path, f"not an e-mail address: {q(address)}")


def check_pin(pin: str | None, path: KeyPath, report: Report) -> None:
    if pin is not None and not PIN.fullmatch(pin):
        report(path, "a PIN is 4 to 12 digits")
