"""Message waiting indication (RFC 3842): the message-summary body and its NOTIFY headers.

Phones light their voicemail lamp from an ``application/simple-message-summary`` body carried
in a NOTIFY for the ``message-summary`` event. Most desk phones accept it unsolicited (no
SUBSCRIBE first), which is how small PBXes drive the lamp, so besides the body this module
only builds the three headers such a NOTIFY needs; sending it is the transaction layer's job.

The parser exists for tests and for robustness against what other servers send: the first
line is required, the rest is read leniently (lines it cannot read are kept as extra headers,
not rejected), because a lamp that stays dark is worse than an odd line ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from softswitch.errors import SipParseError
from softswitch.sip.headers import is_token
from softswitch.sip.message import Header

__all__ = [
    "CONTENT_TYPE",
    "EVENT",
    "MessageCounts",
    "MessageSummary",
    "message_summary",
    "notify_headers",
    "parse_message_summary",
]

EVENT = "message-summary"
CONTENT_TYPE = "application/simple-message-summary"
VOICE = "voice-message"  # the message-context-class (RFC 3458) a voicemail box counts

# "2/8" or "2/8 (0/1)"; whitespace is allowed around every token (RFC 3842 §5.2 uses SLASH,
# LPAREN, RPAREN, which carry optional linear whitespace).
_COUNTS_RE = re.compile(
    r"^([0-9]+)\s*/\s*([0-9]+)(?:\s*\(\s*([0-9]+)\s*/\s*([0-9]+)\s*\))?$", re.ASCII
)


@dataclass(frozen=True, slots=True)
class MessageCounts:
    """One summary line: new and old messages, and how many of each are urgent."""

    new: int
    old: int
    new_urgent: int = 0
    old_urgent: int = 0

    def __post_init__(self) -> None:
        if min(self.new, self.old, self.new_urgent, self.old_urgent) < 0:
            raise ValueError("message counts cannot be negative")
        if self.new_urgent > self.new or self.old_urgent > self.old:
            raise ValueError("urgent messages are a subset of new/old messages")


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """A parsed body: the waiting flag, the account, counts per message class (lower case)."""

    waiting: bool
    account: str | None = None
    counts: Mapping[str, MessageCounts] = field(default_factory=dict)
    extra_headers: tuple[Header, ...] = ()

    @property
    def voice(self) -> MessageCounts | None:
        return self.counts.get(VOICE)


def message_summary(
    new: int, old: int, account_uri: str | None, *, new_urgent: int = 0, old_urgent: int = 0
) -> bytes:
    """The body for a voice mailbox with ``new`` unheard and ``old`` heard messages.

    ``Messages-Waiting`` is "yes" exactly when something is unheard: old messages alone do
    not light the lamp (RFC 3842 §5.2: the status reflects new messages).
    """
    counts = MessageCounts(new, old, new_urgent, old_urgent)
    lines = [f"Messages-Waiting: {'yes' if new else 'no'}"]
    if account_uri is not None:
        if not account_uri or any(ch in account_uri for ch in "\r\n"):
            raise ValueError(f"unusable Message-Account URI: {account_uri!r}")
        lines.append(f"Message-Account: {account_uri}")
    lines.append(f"Voice-Message: {_format_counts(counts)}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _format_counts(counts: MessageCounts) -> str:
    return f"{counts.new}/{counts.old} ({counts.new_urgent}/{counts.old_urgent})"


def notify_headers(*, expires: int | None = None, reason: str = "noresource") -> list[Header]:
    """Event, Subscription-State and Content-Type of a message-summary NOTIFY.

    With ``expires`` the state is ``active;expires=N`` (a subscription, or a phone that wants
    unsolicited NOTIFYs to look subscribed); without it, ``terminated;reason=...``, which is
    what an unsolicited NOTIFY honestly is. Names are lower case, as ``SipMessage`` keeps them;
    Content-Length is left to serialization.
    """
    if expires is not None:
        if expires < 0:
            raise ValueError("expires cannot be negative")
        state = f"active;expires={expires}"
    else:
        if not is_token(reason):
            raise ValueError(f"reason must be a token: {reason!r}")
        state = f"terminated;reason={reason}"
    return [("event", EVENT), ("subscription-state", state), ("content-type", CONTENT_TYPE)]


def parse_message_summary(body: bytes) -> MessageSummary:
    """Read a message-summary body; raises ``SipParseError`` (400) if it has no status line."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("message-summary body is not UTF-8") from exc
    # Bare LF is tolerated: some servers emit it, and nothing here depends on CRLF.
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    if not lines:
        raise SipParseError("empty message-summary body")
    waiting = _status(lines[0])
    account: str | None = None
    counts: dict[str, MessageCounts] = {}
    extra: list[Header] = []
    for line in lines[1:]:
        if not line:
            continue  # the blank line before optional headers carries no meaning for us
        name, sep, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not sep or not is_token(name):
            raise SipParseError(f"malformed message-summary line: {line!r}")
        if name == "message-account" and account is None:
            account = value
            continue
        parsed = _counts(value)
        if parsed is not None and name not in counts:
            counts[name] = parsed
        else:
            extra.append((name, value))
    return MessageSummary(waiting, account, counts, tuple(extra))


def _status(line: str) -> bool:
    name, sep, value = line.partition(":")
    if not sep or name.strip().lower() != "messages-waiting":
        raise SipParseError("message-summary must start with Messages-Waiting")
    status = value.strip().lower()
    if status not in ("yes", "no"):
        raise SipParseError(f"Messages-Waiting must be yes or no, not {value.strip()!r}")
    return status == "yes"


def _counts(value: str) -> MessageCounts | None:
    match = _COUNTS_RE.match(value)
    if match is None:
        return None
    new, old, new_urgent, old_urgent = (int(g) if g is not None else 0 for g in match.groups())
    try:
        return MessageCounts(new, old, new_urgent, old_urgent)
    except ValueError:
        return None  # urgent > total: not a count line we can trust; keep it as a header
