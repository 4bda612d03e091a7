"""Voicemail and missed-call mail against a real SMTP server (aiosmtpd), and the retry queue."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import soundfile
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope

from softswitch.dialplan.mail import (
    MailError,
    MailQueue,
    MailSettings,
    MissedAt,
    PlaceKind,
    build_missed_call_mail,
    build_voicemail_mail,
    deliver_due,
    send,
)
from softswitch.storage.voicemail import RATE, Message, VoicemailStore

MADRID = ZoneInfo("Europe/Madrid")
T0 = datetime(2026, 1, 15, 10, 30, 5, tzinfo=UTC)  # 11:30:05 in Madrid (CET)
SENDER = "Centralita <centralita@example.com>"


@dataclass
class Collector:
    """aiosmtpd handler: keeps every envelope; refuses recipients listed in ``refuse``."""

    envelopes: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == ("pbx", "s3cret"), handled=False)

    def received(self, index: int = 0) -> EmailMessage:
        raw = self.envelopes[index].original_content
        assert raw is not None
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Controller(Controller):
    # aiosmtpd connects to its own port to check it started; with port 0 it must learn the
    # port the kernel picked first.
    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@pytest.fixture
def server() -> Iterator[tuple[Collector, MailSettings]]:
    handler = Collector()
    controller = _Controller(
        handler,
        hostname="127.0.0.1",
        port=0,
        authenticator=handler.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield handler, MailSettings(f"smtp://127.0.0.1:{controller.port}", SENDER)
    finally:
        controller.stop()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stored_message(tmp_path: Path) -> tuple[Message, np.ndarray]:
    samples = np.random.default_rng(42).integers(-12_000, 12_000, 65 * RATE, dtype=np.int16)
    store = VoicemailStore(tmp_path)
    message = store.save(
        "1001",
        samples,
        caller_number="+34600111222",
        caller_name="Ana García",
        called_number="+34910000000",
        received_at=T0,
        mail=True,
    )
    store.close()
    return message, samples


def voicemail_mail(message: Message, attach: bool = True, language: str = "en") -> EmailMessage:
    return build_voicemail_mail(
        sender=SENDER,
        to=["ana@example.com", "oficina@example.com"],
        mailbox=message.mailbox,
        caller_number=message.caller_number,
        caller_name=message.caller_name,
        called_number=message.called_number,
        received_at=message.received_at,
        duration=message.duration,
        timezone=MADRID,
        wav=message.path,
        attach=attach,
        language=language,
    )


def missed_mail(
    missed_at: MissedAt, language: str = "en", name: str = "Ana García"
) -> EmailMessage:
    return build_missed_call_mail(
        sender=SENDER,
        to="ventas@example.com",
        caller_number="+34600111222",
        caller_name=name,
        called_number="+34910000000",
        at=T0,
        timezone=MADRID,
        missed_at=missed_at,
        language=language,
    )


def test_voicemail_mail_arrives_with_headers_text_and_the_wav(
    tmp_path: Path, server: tuple[Collector, MailSettings]
) -> None:
    handler, settings = server
    message, samples = stored_message(tmp_path)
    assert asyncio.run(send(settings, voicemail_mail(message), timeout=5)) == ()
    envelope = handler.envelopes[0]
    assert envelope.mail_from == "centralita@example.com"
    assert sorted(envelope.rcpt_tos) == ["ana@example.com", "oficina@example.com"]
    got = handler.received()
    assert got["Subject"] == "Voicemail from Ana García <+34600111222> (1:05)"
    assert got["From"] == SENDER
    assert got["To"] == "ana@example.com, oficina@example.com"
    assert got["Date"].datetime == T0  # the call's time, however late the mail goes out
    assert got["Auto-Submitted"] == "auto-generated"
    body = got.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "mailbox 1001" in text
    assert "From: Ana García <+34600111222>" in text
    assert "Called number: +34910000000" in text
    assert "Time: 2026-01-15 11:30:05 CET" in text
    assert "Duration: 1:05" in text
    [attachment] = list(got.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_filename() == "voicemail-1001-20260115-113005.wav"
    decoded, rate = soundfile.read(io.BytesIO(attachment.get_content()), dtype="int16")
    assert rate == RATE
    np.testing.assert_array_equal(decoded, samples)


def test_without_attach_there_is_no_attachment(tmp_path: Path) -> None:
    message, _ = stored_message(tmp_path)
    mail = voicemail_mail(message, attach=False)
    assert list(mail.iter_attachments()) == []
    assert "attached" not in mail.get_content()
    with pytest.raises(ValueError, match="attach"):
        build_voicemail_mail(
            sender=SENDER, to="a@example.com", mailbox="1001", caller_number="1",
            caller_name="", called_number="", received_at=T0, duration=1, timezone=MADRID,
            attach=True,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("missed_at", "where"),
    [
        (MissedAt(PlaceKind.EXTENSION, "1001", "Ana García"), "extension 1001 (Ana García)"),
        (MissedAt(PlaceKind.GROUP, "ventas"), "ring group ventas"),
        (
            MissedAt(PlaceKind.QUEUE, "soporte", "Soporte técnico"),
            "queue soporte (Soporte técnico)",
        ),
        (MissedAt(PlaceKind.EXTERNAL, "2001", "Móvil de Ana"), "external destination 2001"),
    ],
)
def test_missed_call_mail_says_where_it_was_missed(
    server: tuple[Collector, MailSettings], missed_at: MissedAt, where: str
) -> None:
    handler, settings = server
    asyncio.run(send(settings, missed_mail(missed_at), timeout=5))
    got = handler.received()
    assert got["Subject"] == "Missed call from Ana García <+34600111222>"
    assert handler.envelopes[0].rcpt_tos == ["ventas@example.com"]
    text = got.get_content()
    assert f"Missed at: {where}" in text
    assert "Time: 2026-01-15 11:30:05 CET" in text
    assert list(got.iter_attachments()) == []


def test_utf8_names_and_spanish_texts_survive_the_wire(
    server: tuple[Collector, MailSettings],
) -> None:
    handler, up = server
    settings = MailSettings(up.url, "Centralita Peñalara <pbx@example.com>")
    mail = build_missed_call_mail(
        sender=settings.sender,
        to="José Núñez <jose@example.com>",
        caller_number="",
        caller_name="Ana García Muñoz",
        called_number="+34910000000",
        at=datetime(2026, 7, 1, 8, 0, tzinfo=UTC),
        timezone=MADRID,
        missed_at=MissedAt(PlaceKind.QUEUE, "soporte", "Atención al cliente"),
        language="es-ES",
    )
    asyncio.run(send(settings, mail, timeout=5))
    got = handler.received()
    assert got["Subject"] == "Llamada perdida de Ana García Muñoz"
    assert got["From"] == "Centralita Peñalara <pbx@example.com>"
    assert got["To"] == "José Núñez <jose@example.com>"
    text = got.get_content()
    assert "Hora: 2026-07-01 10:00:00 CEST" in text  # summer time
    assert "Perdida en: cola soporte (Atención al cliente)" in text


def test_unknown_language_falls_back_to_english_and_unknown_caller_is_named() -> None:
    mail = missed_mail(MissedAt(PlaceKind.GROUP, "ventas"), language="fr", name="")
    assert mail["Subject"] == "Missed call from +34600111222"
    nobody = build_missed_call_mail(
        sender=SENDER, to="a@example.com", caller_number="", caller_name="", called_number="",
        at=T0, timezone=MADRID, missed_at=MissedAt(PlaceKind.GROUP, "ventas"),
    )  # fmt: skip
    assert nobody["Subject"] == "Missed call from unknown caller"


def test_long_messages_show_hours() -> None:
    mail = build_voicemail_mail(
        sender=SENDER, to="a@example.com", mailbox="general", caller_number="600",
        caller_name="", called_number="", received_at=T0, duration=3723.4, timezone=UTC,
    )  # fmt: skip
    assert mail["Subject"] == "Voicemail from 600 (1:02:03)"
    assert "Called number: general" in mail.get_content()  # no number: the mailbox
    assert "Time: 2026-01-15 10:30:05 UTC" in mail.get_content()


def test_credentials_are_used(server: tuple[Collector, MailSettings]) -> None:
    handler, plain = server
    good = MailSettings(plain.url, SENDER, username="pbx", password="s3cret")
    asyncio.run(send(good, missed_mail(MissedAt(PlaceKind.GROUP, "v")), timeout=5))
    assert handler.logins == [("pbx", "s3cret")]
    assert len(handler.envelopes) == 1
    bad = MailSettings(plain.url, SENDER, username="pbx", password="wrong")
    with pytest.raises(MailError, match="535") as info:
        asyncio.run(send(bad, missed_mail(MissedAt(PlaceKind.GROUP, "v")), timeout=5))
    assert info.value.permanent
    assert len(handler.envelopes) == 1


def test_refused_recipients(server: tuple[Collector, MailSettings]) -> None:
    handler, settings = server
    handler.refuse = {"nobody@example.com"}
    mail = missed_mail(MissedAt(PlaceKind.GROUP, "v"))
    del mail["To"]
    mail["To"] = "nobody@example.com, ventas@example.com"
    assert asyncio.run(send(settings, mail, timeout=5)) == ("nobody@example.com",)
    assert handler.envelopes[0].rcpt_tos == ["ventas@example.com"]
    del mail["To"]
    mail["To"] = "nobody@example.com"
    with pytest.raises(MailError, match=re.escape("nobody@example.com")) as info:
        asyncio.run(send(settings, mail, timeout=5))
    assert info.value.permanent


def test_server_down_raises_mail_error_and_the_queue_retries_until_it_is_back(
    tmp_path: Path, server: tuple[Collector, MailSettings]
) -> None:
    handler, up = server
    down = MailSettings(f"smtp://127.0.0.1:{closed_port()}", SENDER)
    message, samples = stored_message(tmp_path)
    with pytest.raises(MailError, match=f"127.0.0.1:{down.port}") as info:
        asyncio.run(send(down, voicemail_mail(message), timeout=5))
    assert not info.value.permanent

    queue = MailQueue(first_retry=30, max_delay=3600)
    queue.add(voicemail_mail(message), now=1000.0, ref=message.id)
    assert queue.next_deadline() == 1000.0
    sent, later = asyncio.run(deliver_due(queue, down, now=1000.0, timeout=5))
    assert sent == [] and [m.next_attempt for m in later] == [1030.0]
    assert later[0].attempts == 1 and str(down.port) in later[0].last_error
    assert queue.next_deadline() == 1030.0 and len(queue) == 1
    assert asyncio.run(deliver_due(queue, up, now=1029.0, timeout=5)) == ([], [])  # not yet due
    sent, later = asyncio.run(deliver_due(queue, up, now=1030.0, timeout=5))
    assert later == [] and [m.ref for m in sent] == [message.id]
    assert len(queue) == 0 and queue.next_deadline() is None
    [attachment] = list(handler.received().iter_attachments())
    decoded, _ = soundfile.read(io.BytesIO(attachment.get_content()), dtype="int16")
    np.testing.assert_array_equal(decoded, samples)


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        settings = MailSettings(f"smtp://127.0.0.1:{silent.getsockname()[1]}", SENDER)
        with pytest.raises(MailError, match=re.escape("no answer within 0.2 s")):
            asyncio.run(send(settings, missed_mail(MissedAt(PlaceKind.GROUP, "v")), timeout=0.2))


def test_cancelled_delivery_keeps_every_mail() -> None:
    async def scenario() -> MailQueue:
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(4)
            settings = MailSettings(f"smtp://127.0.0.1:{silent.getsockname()[1]}", SENDER)
            queue = MailQueue()
            for n in range(3):
                queue.add(missed_mail(MissedAt(PlaceKind.GROUP, f"g{n}")), now=0.0)
            task = asyncio.create_task(deliver_due(queue, settings, now=0.0, timeout=60))
            for _ in range(5):
                await asyncio.sleep(0)  # let it take the mails and start connecting
            assert queue.next_deadline() is None  # all three in flight
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return queue

    queue = asyncio.run(scenario())
    assert len(queue) == 3
    assert queue.next_deadline() == 0.0
    assert [m.attempts for m in queue.due(0.0)] == [0, 0, 0]


def test_queue_backoff_doubles_and_is_capped() -> None:
    queue = MailQueue(first_retry=30, max_delay=3600)
    mail = queue.add(EmailMessage(), now=0.0, ref="x")
    now, waits = 0.0, []
    for _ in range(10):
        [due] = queue.due(now)
        assert due.key == mail.key
        retried = queue.failed(due.key, now, "down")
        waits.append(retried.next_attempt - now)
        now = retried.next_attempt
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert queue.backoff(10_000) == 3600  # no overflow after a very long outage
    assert queue.sent(mail.key).attempts == 10


def test_queue_hands_out_each_mail_once_until_reported() -> None:
    queue = MailQueue(first_retry=10, max_delay=100)
    a = queue.add(EmailMessage(), now=5.0, ref="a")
    b = queue.add(EmailMessage(), now=7.0, ref="b")
    assert queue.due(4.0) == []
    assert [m.ref for m in queue.due(6.0)] == ["a"]
    assert queue.due(6.0) == []  # a is in flight
    assert queue.next_deadline() == 7.0  # only b counts
    assert [m.ref for m in queue.due(8.0)] == ["b"]
    assert queue.next_deadline() is None
    queue.failed(a.key, 8.0, "down")
    queue.release(b.key)
    assert queue.next_deadline() == 7.0
    assert [m.ref for m in queue.due(100.0)] == ["a", "b"]
    assert [m.ref for m in queue.pending()] == ["a", "b"]
    with pytest.raises(ValueError):
        MailQueue(first_retry=0)


def test_settings_parse_the_url_and_hide_the_password() -> None:
    plain = MailSettings("smtp://mail.example.com:587", "pbx@example.com", "u", "hunter2")
    assert (plain.host, plain.port, plain.implicit_tls) == ("mail.example.com", 587, False)
    tls = MailSettings("smtps://mail.example.com", "pbx@example.com")
    assert (tls.port, tls.implicit_tls) == (465, True)
    assert MailSettings("smtp://mail.example.com", "pbx@example.com").port == 25
    assert "hunter2" not in repr(plain)
    for url in ("http://mail.example.com", "smtp://", "mail.example.com:25", "smtp://h:99999"):
        with pytest.raises(ValueError):
            MailSettings(url, "pbx@example.com")
    with pytest.raises(ValueError, match="sender"):
        MailSettings("smtp://mail.example.com", "")
