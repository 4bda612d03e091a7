"""Voicemail and missed-call e-mail: build the messages, send them, retry until they go out.

Building is pure (values in, an ``EmailMessage`` out; the only I/O is reading the WAV to
attach). Times are the call's own, shown in the company's timezone, and the Date header is
the time of the call, so a mail that went out an hour late after retries still sorts where
the call happened. ``send`` talks SMTP through ``aiosmtplib`` and turns every failure into one
``MailError``. ``MailQueue`` is the sans-IO part of delivery: it holds the mails with their
next attempt time and backs off exponentially (capped), so a mail server that is down loses
nothing; ``deliver_due`` is the thin shell that tries what is due. (Voicemail mail also
survives a restart: the voicemail store keeps it pending until it is marked mailed.)
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import aiosmtplib

__all__ = [
    "MailError",
    "MailQueue",
    "MailSettings",
    "MissedAt",
    "PlaceKind",
    "QueuedMail",
    "build_missed_call_mail",
    "build_voicemail_mail",
    "deliver_due",
    "send",
]

_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


class MailError(Exception):
    """A mail that did not go out. ``permanent``: the server refused it (5xx), so a retry
    will most likely fail the same way; the queue retries anyway, capped, and logs say why."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class MailSettings:
    """Where mail goes: ``smtp://host:port`` (STARTTLS when offered) or ``smtps://host:port``.

    With ``smtp://`` a server that offers no STARTTLS gets the credentials in clear; that is
    the admin's choice of URL (a submission port always offers it), not something to guess.
    """

    url: str
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str = field(init=False)
    port: int = field(init=False)
    implicit_tls: bool = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(
                f"mail server must be smtp://host:port or smtps://host:port: {self.url}"
            )
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise ValueError(f"bad port in mail server URL {self.url}") from exc
        if not parseaddr(self.sender)[1]:
            raise ValueError(f"sender is not an address: {self.sender!r}")
        object.__setattr__(self, "host", parts.hostname)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "implicit_tls", scheme == "smtps")


class PlaceKind(enum.StrEnum):
    """Where a call was missed: the kinds of destination that send missed-call mail."""

    EXTENSION = "extension"
    GROUP = "group"
    QUEUE = "queue"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class MissedAt:
    kind: PlaceKind
    name: str  # extension number, group or queue key, external destination code
    description: str = ""  # the admin's name for it, shown beside the key


# -- texts --------------------------------------------------------------------------------------

# language -> key -> text; a language missing here falls back to English as a whole, so one
# mail never mixes two languages.
_TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "vm_subject": "Voicemail from {caller} ({duration})",
        "vm_intro": "New voicemail in mailbox {mailbox}.",
        "missed_subject": "Missed call from {caller}",
        "missed_intro": "You have a missed call.",
        "from": "From",
        "to": "Called number",
        "time": "Time",
        "duration": "Duration",
        "missed_at": "Missed at",
        "attached": "The recording is attached.",
        "unknown": "unknown caller",
        PlaceKind.EXTENSION: "extension",
        PlaceKind.GROUP: "ring group",
        PlaceKind.QUEUE: "queue",
        PlaceKind.EXTERNAL: "external destination",
    },
    "es": {
        "vm_subject": "Mensaje de voz de {caller} ({duration})",
        "vm_intro": "Nuevo mensaje de voz en el buzón {mailbox}.",
        "missed_subject": "Llamada perdida de {caller}",
        "missed_intro": "Tiene una llamada perdida.",
        "from": "De",
        "to": "Número llamado",
        "time": "Hora",
        "duration": "Duración",
        "missed_at": "Perdida en",
        "attached": "La grabación va adjunta.",
        "unknown": "número desconocido",
        PlaceKind.EXTENSION: "extensión",
        PlaceKind.GROUP: "grupo de llamada",
        PlaceKind.QUEUE: "cola",
        PlaceKind.EXTERNAL: "destino externo",
    },
}


def _texts(language: str) -> Mapping[str, str]:
    return _TEXTS.get(language.split("-", maxsplit=1)[0].lower(), _TEXTS["en"])


def _caller(texts: Mapping[str, str], number: str, name: str) -> str:
    if name and number:
        return f"{name} <{number}>"
    return name or number or texts["unknown"]


def _clock(when: datetime, tz: tzinfo) -> str:
    local = when.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".rstrip()


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# -- building -----------------------------------------------------------------------------------


def build_voicemail_mail(
    *,
    sender: str,
    to: str | Sequence[str],
    mailbox: str,
    caller_number: str,
    caller_name: str,
    called_number: str,
    received_at: datetime,
    duration: float,
    timezone: tzinfo,
    wav: Path | None = None,
    attach: bool = False,
    language: str = "en",
) -> EmailMessage:
    """The mail announcing a voicemail; with ``attach``, ``wav`` is read and attached."""
    if attach and wav is None:
        raise ValueError("attach needs the message's WAV file")
    texts = _texts(language)
    caller = _caller(texts, caller_number, caller_name)
    length = _duration(duration)
    lines = [
        texts["vm_intro"].format(mailbox=mailbox),
        "",
        f"{texts['from']}: {caller}",
        f"{texts['to']}: {called_number or mailbox}",
        f"{texts['time']}: {_clock(received_at, timezone)}",
        f"{texts['duration']}: {length}",
    ]
    if attach:
        lines += ["", texts["attached"]]
    subject = texts["vm_subject"].format(caller=caller, duration=length)
    message = _compose(sender, to, subject, lines, received_at)
    if attach and wav is not None:
        local = received_at.astimezone(timezone)
        message.add_attachment(
            wav.read_bytes(),
            maintype="audio",
            subtype="wav",
            filename=f"voicemail-{mailbox}-{local:%Y%m%d-%H%M%S}.wav",
        )
    return message


def build_missed_call_mail(
    *,
    sender: str,
    to: str | Sequence[str],
    caller_number: str,
    caller_name: str,
    called_number: str,
    at: datetime,
    timezone: tzinfo,
    missed_at: MissedAt,
    language: str = "en",
) -> EmailMessage:
    """The mail telling an extension, group, queue or external destination it missed a call."""
    texts = _texts(language)
    caller = _caller(texts, caller_number, caller_name)
    place = f"{texts[missed_at.kind]} {missed_at.name}"
    if missed_at.description:
        place += f" ({missed_at.description})"
    lines = [
        texts["missed_intro"],
        "",
        f"{texts['from']}: {caller}",
        f"{texts['to']}: {called_number}",
        f"{texts['time']}: {_clock(at, timezone)}",
        f"{texts['missed_at']}: {place}",
    ]
    return _compose(sender, to, texts["missed_subject"].format(caller=caller), lines, at)


def _compose(
    sender: str, to: str | Sequence[str], subject: str, lines: list[str], when: datetime
) -> EmailMessage:
    if when.tzinfo is None:
        raise ValueError("mail times must be timezone-aware")
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise ValueError("a mail needs at least one recipient")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    # The sender's domain, not make_msgid's default getfqdn(), which may block on DNS.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "softswitch.invalid"
    message["Message-ID"] = make_msgid("softswitch", domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the PBX
    message.set_content("\n".join(lines) + "\n")
    return message


# -- sending ------------------------------------------------------------------------------------


# ``timeout`` is a parameter (ASYNC109) because aiosmtplib needs it too, as its per-step socket
# timeout; a caller's own asyncio.timeout could not reach that.
async def send(
    settings: MailSettings,
    message: EmailMessage,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> tuple[str, ...]:
    """Deliver ``message``; raises ``MailError`` on any failure, and if every recipient is
    refused. Returns the recipients the server refused while accepting others (for the log:
    retrying would send the others a second copy).

    ``timeout`` bounds the whole exchange, not each step, so a server that answers slowly
    cannot hold a delivery (and the queue behind it) indefinitely.
    """
    where = f"{settings.host}:{settings.port}"
    try:
        async with asyncio.timeout(timeout):
            refused, _ = await aiosmtplib.send(
                message,
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password,
                use_tls=settings.implicit_tls,
                start_tls=False if settings.implicit_tls else None,
                timeout=timeout,
            )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        who = ", ".join(f"{r.recipient} ({r.code} {r.message})" for r in exc.recipients)
        raise MailError(f"{where}: recipients refused: {who}", _permanent(codes)) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise MailError(f"{where}: {exc.code} {exc.message}", _permanent([exc.code])) from exc
    except TimeoutError as exc:
        raise MailError(f"{where}: no answer within {timeout:g} s") from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailError(f"{where}: {exc}") from exc
    return tuple(sorted(refused))


def _permanent(codes: list[int]) -> bool:
    return bool(codes) and all(500 <= code < 600 for code in codes)


# -- retrying -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedMail:
    key: int
    message: EmailMessage
    ref: object  # handed back on success, e.g. the voicemail message id to mark mailed
    attempts: int  # failed attempts so far
    next_attempt: float
    last_error: str = ""


class MailQueue:
    """Mails waiting to go out, each with its next attempt time (sans-IO; time is an input).

    A new mail is due at once; each failure pushes it back ``first_retry`` · 2^(n−1) seconds,
    capped at ``max_delay``. A mail handed out by ``due`` is in flight until reported with
    ``sent`` or ``failed``, so a second ``due`` never hands it out twice. The queue is small
    (a few mails at worst), so a linear scan beats keeping a heap in step.
    """

    def __init__(self, first_retry: float = 30.0, max_delay: float = 3600.0) -> None:
        if first_retry <= 0 or max_delay < first_retry:
            raise ValueError("need 0 < first_retry <= max_delay")
        self._first_retry = first_retry
        self._max_delay = max_delay
        self._mails: dict[int, QueuedMail] = {}
        self._in_flight: set[int] = set()
        self._next_key = 1

    def __len__(self) -> int:
        return len(self._mails)

    def add(self, message: EmailMessage, now: float, ref: object = None) -> QueuedMail:
        mail = QueuedMail(self._next_key, message, ref, attempts=0, next_attempt=now)
        self._next_key += 1
        self._mails[mail.key] = mail
        return mail

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure."""
        # min() on the exponent first: 2.0 ** 2000 would overflow after a long outage.
        return min(self._first_retry * 2.0 ** min(attempts - 1, 64), self._max_delay)

    def due(self, now: float) -> list[QueuedMail]:
        """Mails whose attempt time has come, oldest first; they are in flight until reported."""
        ready = [
            mail
            for key, mail in self._mails.items()
            if mail.next_attempt <= now and key not in self._in_flight
        ]
        self._in_flight.update(mail.key for mail in ready)
        return ready

    def sent(self, key: int) -> QueuedMail:
        self._in_flight.discard(key)
        return self._mails.pop(key)

    def failed(self, key: int, now: float, error: str = "") -> QueuedMail:
        """Schedule the next attempt; returns the mail with its new ``next_attempt``."""
        self._in_flight.discard(key)
        mail = self._mails[key]
        attempts = mail.attempts + 1
        mail = replace(
            mail, attempts=attempts, next_attempt=now + self.backoff(attempts), last_error=error
        )
        self._mails[key] = mail
        return mail

    def release(self, key: int) -> None:
        """Hand a mail back untried (its delivery was cancelled): due again, no attempt counted."""
        self._in_flight.discard(key)

    def next_deadline(self) -> float | None:
        """When the earliest mail not in flight is due, or None if there is none."""
        times = [m.next_attempt for k, m in self._mails.items() if k not in self._in_flight]
        return min(times, default=None)

    def pending(self) -> list[QueuedMail]:
        return list(self._mails.values())


async def deliver_due(
    queue: MailQueue,
    settings: MailSettings,
    now: float,
    timeout: float = 30.0,  # noqa: ASYNC109 - per mail, handed to send()
) -> tuple[list[QueuedMail], list[QueuedMail]]:
    """Try every due mail once, one after another: (sent, rescheduled).

    One at a time on purpose: a server that is down fails each quickly, and one that is up
    is not flooded by a backlog after an outage.
    """
    delivered: list[QueuedMail] = []
    rescheduled: list[QueuedMail] = []
    due = queue.due(now)
    for index, mail in enumerate(due):
        try:
            await send(settings, mail.message, timeout)
        except MailError as exc:
            rescheduled.append(queue.failed(mail.key, now, exc.reason))
        except BaseException:
            # Cancelled (shutdown): this mail and the untried rest go back, none is lost.
            for untried in due[index:]:
                queue.release(untried.key)
            raise
        else:
            delivered.append(queue.sent(mail.key))
    return delivered, rescheduled
