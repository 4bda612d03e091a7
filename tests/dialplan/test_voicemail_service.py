"""The voicemail service: mailboxes by name, deposit, the lamp, and mail through real SMTP.

Mail goes to an ``aiosmtpd`` server on 127.0.0.1 (port 0, or a port it is started on later to
play a server that comes back). The store is real. Waits are bounded by ``asyncio.timeout``
only so a broken build fails instead of hanging; nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile
from mailserver import Collector, MailServer, smtp_server

from softswitch.config import load_config
from softswitch.config.model import CompiledConfig
from softswitch.dialplan import mail
from softswitch.dialplan.mail import MailSettings
from softswitch.dialplan.voicemail import VoicemailApp
from softswitch.dialplan.voicemail_menu import VoicemailMenuApp
from softswitch.dialplan.voicemail_service import VoicemailService, listening_order
from softswitch.storage.voicemail import RATE, VoicemailStore

Pcm = npt.NDArray[np.int16]
T0 = datetime(2026, 1, 15, 10, 30, 5, tzinfo=UTC)

CONFIG = """
[server]
domain = "pbx.example.com"
state_dir = "state"
timezone = "Europe/Madrid"
language = "es"
{email}
[extensions.1001]
name = "Ana García"
password = "ana-1001-secret-pass"
email = "ana@example.com"
voicemail = {{ pin = "4321", attach = true }}

[extensions.1002]
password = "bruno-1002-secret-pass"
email = "bruno@example.com"
voicemail = {{ email = "buzon-bruno@example.com" }}

[extensions.1003]
password = "carmen-1003-secret-pass"

[voicemail.general]
email = "oficina@example.com"
"""


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config(tmp_path: Path, port: int | None) -> CompiledConfig:
    section = "" if port is None else f'[email]\nserver = "smtp://127.0.0.1:{port}"\n'
    (tmp_path / "pbx.toml").write_text(CONFIG.format(email=section), encoding="utf-8")
    return load_config(tmp_path / "pbx.toml")


def speech(seconds: float, seed: int = 1) -> Pcm:
    rng = np.random.default_rng(seed)
    return rng.integers(-8000, 8000, round(seconds * RATE)).astype(np.int16)


class Rig:
    def __init__(
        self,
        tmp_path: Path,
        port: int | None,
        send: Callable[[MailSettings, EmailMessage], Awaitable[object]] = mail.send,
    ) -> None:
        self.config = config(tmp_path, port)
        self.store = VoicemailStore(self.config.server.state_dir)
        self.changes: list[tuple[str, int, int]] = []
        self.service = VoicemailService(
            self.config,
            self.store,
            prompt=lambda name: np.zeros(160, np.int16),
            system_prompt=lambda key: np.zeros(160, np.int16),
            wall=T0.timestamp,
            on_change=lambda box, new, old: self.changes.append((box, new, old)),
            send=send,
            first_retry=0.05,
            max_retry=0.2,
        )


async def until(done: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):
        while not done():  # noqa: ASYNC110 - the SMTP server runs in its own thread
            await asyncio.sleep(0.01)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


# -- mailboxes ----------------------------------------------------------------------------------


def test_mailboxes_are_extension_numbers_and_shared_names(tmp_path: Path) -> None:
    service = Rig(tmp_path, None).service
    assert service.mailbox_of("1001") == "1001"
    assert service.mailbox_of("1003") is None  # no voicemail
    assert service.mailbox_of("general") is None  # not an extension
    assert [service.has(b) for b in ("1001", "1002", "general", "1003", "x")] == [
        True, True, True, False, False,
    ]  # fmt: skip
    assert isinstance(service.app_for("general", "plain", "+34910000000"), VoicemailApp)
    assert service.app_for("1003", "busy") is None
    with pytest.raises(ValueError, match="holiday"):
        service.app_for("1001", "holiday")  # type: ignore[arg-type]
    assert isinstance(service.menu_app("1001"), VoicemailMenuApp)
    assert isinstance(service.menu_app(None), VoicemailMenuApp)
    assert service.menu_app("1003") is None
    box = service.box("1002")
    assert box is not None
    assert (box.extension, box.email, box.pin) == ("1002", "buzon-bruno@example.com", None)


def test_listening_order_is_new_newest_first_then_old_newest_first(tmp_path: Path) -> None:
    rig = Rig(tmp_path, None)
    ids = []
    for minute in range(4):
        rig.service._wall = lambda m=minute: T0.timestamp() + 60 * m  # type: ignore[misc]
        ids.append(rig.service.deposit("1001", speech(1.0), caller=f"60000000{minute}").id)
    rig.store.mark_heard(ids[0])
    rig.store.mark_heard(ids[2])
    order = [m.id for m in listening_order(rig.store.list("1001"))]
    assert order == [ids[3], ids[1], ids[2], ids[0]]
    assert rig.service.counts("1001") == (2, 2)


# -- deposit and mail ---------------------------------------------------------------------------


def test_deposit_stores_then_mails_the_wav_and_lights_the_lamp(
    tmp_path: Path, smtp: tuple[Collector, int]
) -> None:
    handler, port = smtp
    rig = Rig(tmp_path, port)
    samples = speech(3.0)

    async def scenario() -> None:
        task = asyncio.create_task(rig.service.run())
        message = rig.service.deposit("1001", samples, "+34600111222", "Cliente", "+34910000000")
        assert rig.store.get(message.id) == message  # stored before anything else
        assert rig.changes == [("1001", 1, 0)]
        await until(lambda: bool(handler.envelopes))
        await until(lambda: rig.store.pending_mail() == [])
        await stop(task)

    asyncio.run(scenario())
    assert handler.envelopes[0].rcpt_tos == ["ana@example.com"]  # the extension's address
    got = handler.received()
    assert got["Subject"] == "Mensaje de voz de Cliente <+34600111222> (0:03)"
    body = got.get_body(("plain",))
    assert body is not None
    assert "2026-01-15 11:30:05 CET" in body.get_content()  # server.timezone
    [attachment] = list(got.iter_attachments())
    decoded, rate = soundfile.read(io.BytesIO(attachment.get_content()), dtype="int16")
    assert rate == RATE
    np.testing.assert_array_equal(decoded, samples)
    rig.store.close()


def test_shared_mailbox_mail_has_no_lamp_and_no_attachment_unless_asked(
    tmp_path: Path, smtp: tuple[Collector, int]
) -> None:
    handler, port = smtp
    rig = Rig(tmp_path, port)

    async def scenario() -> None:
        task = asyncio.create_task(rig.service.run())
        rig.service.deposit("general", speech(2.0), "+34600111222")
        rig.service.deposit("1002", speech(2.0), "1001", "Ana García")
        await until(lambda: len(handler.envelopes) == 2)
        await stop(task)

    asyncio.run(scenario())
    recipients = sorted(e.rcpt_tos[0] for e in handler.envelopes)
    assert recipients == ["buzon-bruno@example.com", "oficina@example.com"]  # vm email wins
    assert [list(handler.received(i).iter_attachments()) for i in (0, 1)] == [[], []]
    assert rig.changes == [("1002", 1, 0)]  # only the extension's mailbox has a lamp
    rig.store.close()


def test_mail_waits_for_a_server_that_is_down_and_goes_when_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port()
    attempts: list[str] = []

    async def counting_send(settings: MailSettings, message: EmailMessage) -> object:
        try:
            return await mail.send(settings, message, timeout=5)
        except mail.MailError as exc:
            attempts.append(exc.reason)
            raise

    rig = Rig(tmp_path, port, send=counting_send)
    caplog.set_level(logging.WARNING, logger="softswitch.dialplan")
    controller: MailServer | None = None

    async def scenario() -> None:
        nonlocal controller
        task = asyncio.create_task(rig.service.run())
        message = rig.service.deposit("1001", speech(1.5), "+34600111222")
        await until(lambda: len(attempts) >= 2)  # failed, backed off, failed again
        assert rig.store.get(message.id) == message  # stored all along
        assert [m.id for m in rig.store.pending_mail()] == [message.id]
        handler, controller = smtp_server(port)
        await until(lambda: bool(handler.envelopes))
        await until(lambda: rig.store.pending_mail() == [])
        await stop(task)
        assert len(handler.envelopes) == 1

    try:
        asyncio.run(scenario())
    finally:
        if controller is not None:
            controller.stop()
        rig.store.close()
    failures = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert len(failures) == len(attempts)  # one line per failed attempt


def test_a_message_whose_file_is_gone_is_still_announced(
    tmp_path: Path, smtp: tuple[Collector, int]
) -> None:
    handler, port = smtp
    rig = Rig(tmp_path, port)
    message = rig.service.deposit("1001", speech(1.0), "+34600111222")
    message.path.unlink()

    async def scenario() -> None:
        task = asyncio.create_task(rig.service.run())
        await until(lambda: bool(handler.envelopes))
        await stop(task)

    asyncio.run(scenario())
    assert list(handler.received().iter_attachments()) == []
    rig.store.close()


def test_mail_pending_before_a_restart_goes_out_after_it(
    tmp_path: Path, smtp: tuple[Collector, int]
) -> None:
    handler, port = smtp
    first = Rig(tmp_path, port)
    message = first.service.deposit("1001", speech(1.0), "+34600111222")  # no run(): "crash"
    first.store.close()
    again = Rig(tmp_path, port)

    async def scenario() -> None:
        task = asyncio.create_task(again.service.run())
        await until(lambda: bool(handler.envelopes))
        await until(lambda: again.store.pending_mail() == [])
        await stop(task)

    asyncio.run(scenario())
    assert again.store.get(message.id) == message
    again.store.close()


def test_without_email_config_messages_are_stored_and_not_mailed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(tmp_path, None)
    caplog.set_level(logging.INFO, logger="softswitch.dialplan")
    message = rig.service.deposit("1001", speech(1.0), "+34600111222")
    asyncio.run(rig.service.run())  # returns at once: nothing to deliver to
    assert rig.store.list("1001") == [message]
    assert rig.store.pending_mail() == []
    assert sum("not mailed" in r.getMessage() for r in caplog.records) == 1
    rig.store.close()


def test_run_ends_cleanly_when_cancelled_mid_delivery(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def stuck_send(settings: MailSettings, message: EmailMessage) -> object:
        started.set()
        await asyncio.Event().wait()  # a server that never answers
        return ()

    rig = Rig(tmp_path, closed_port(), send=stuck_send)

    async def scenario() -> None:
        task = asyncio.create_task(rig.service.run())
        rig.service.deposit("1001", speech(1.0), "+34600111222")
        await asyncio.wait_for(started.wait(), 20)
        await stop(task)

    asyncio.run(scenario())
    assert len(rig.store.pending_mail()) == 1  # not sent: still pending for the next start
    rig.store.close()
