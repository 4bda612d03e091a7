"""Voicemail for the whole switch: which mailboxes exist, storing messages, mail, the lamps.

One ``VoicemailService`` per switch. Mailboxes are named as ``voicemail:NAME`` actions name
them: an extension with ``voicemail`` has its mailbox under its own number (the compiled
``CompiledConfig.mailboxes`` holds only the shared ``[voicemail.*]`` ones, which may not take
an extension's number). The service builds the apps that answer calls (``app_for``: leave a
message, ``menu_app``: listen to them), stores what they record, and tells the owner: a mail
when the mailbox has an address and the config an ``[email]``, and ``on_change(extension, new,
old)`` for the message-waiting lamp of an extension's mailbox.

Threads: a save writes and fsyncs a WAV, its directory and a ``synchronous=FULL`` SQLite
commit (5-50 ms on a real disk), and a message read back can be megabytes. On the event loop
that would stall the 20 ms ticker of every call on the switch (``loop.call_soon`` only moves
the stall out of the tick, onto the same thread). So the apps' store work runs in a worker
thread (``asyncio.to_thread``), in a task owned by the call's B2BUA (``session.b2bua.spawn``,
the app's TaskGroup), and comes back to the loop for what belongs to the loop: the player,
``on_change`` and the mail loop's wake-up. The caller hears "message saved" only once the
store has said so: the store's promise is that such a message survives any crash.

Mail: ``run`` is the one delivery loop. It reads ``store.pending_mail()`` on every pass (at
start too, so mail survives a restart), builds each mail once, sends one at a time with
``MailQueue``'s back-off while the server fails (a warning per failed attempt), and marks each
sent message mailed. ``deposit`` wakes it. Delivery is at least once: a crash between sending
and marking sends that mail again after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import partial
from typing import TYPE_CHECKING, Literal, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import soundfile

from softswitch.config.model import CompiledConfig
from softswitch.config.routing_model import EmailConfig
from softswitch.dialplan import mail
from softswitch.dialplan.mail import MailError, MailQueue, MailSettings
from softswitch.dialplan.voicemail import VoicemailApp
from softswitch.dialplan.voicemail_menu import VoicemailMenuApp
from softswitch.storage.voicemail import Message, VoicemailStore

if TYPE_CHECKING:
    from softswitch.call.local import LocalSession

__all__ = [
    "REASONS",
    "MailboxInfo",
    "Reason",
    "Sender",
    "VoicemailService",
    "listening_order",
    "mail_settings",
]

log = logging.getLogger("softswitch.dialplan")

Pcm = npt.NDArray[np.int16]
Counts = tuple[int, int]  # (new, old)
Reason = Literal["unavailable", "busy", "plain"]
REASONS: tuple[Reason, ...] = ("unavailable", "busy", "plain")
Sender = Callable[[MailSettings, EmailMessage], Awaitable[object]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MailboxInfo:
    """One mailbox of either sort, with what callers and the owner need."""

    name: str  # the extension number, or the [voicemail.*] table name
    extension: str | None  # whose lamp shows it (None: a shared mailbox has no lamp)
    greeting: str | None  # a [prompts.*] name; None = the system sentence for the reason
    pin: str | None
    email: str | None
    attach: bool


def mailboxes_of(config: CompiledConfig) -> dict[str, MailboxInfo]:
    boxes: dict[str, MailboxInfo] = {}
    for number, extension in config.extensions.items():
        vm = extension.voicemail
        if vm is not None:
            email = vm.email or extension.email
            boxes[number] = MailboxInfo(number, number, None, vm.pin, email, vm.attach)
    for name, box in config.mailboxes.items():
        boxes[name] = MailboxInfo(name, None, box.greeting, box.pin, box.email, box.attach)
    return boxes


def mail_settings(email: EmailConfig | None) -> MailSettings | None:
    """The ``[email]`` server as ``MailSettings``; None when the config has none."""
    if email is None:
        return None
    host = f"[{email.host}]" if ":" in email.host else email.host  # an IPv6 literal
    url = f"{email.scheme}://{host}:{email.port}"
    return MailSettings(url, email.sender, email.username, email.password)


def listening_order(messages: Sequence[Message]) -> list[Message]:
    """New messages newest first, then the heard ones, newest first."""
    newest = sorted(messages, key=lambda m: (m.received_at, m.id), reverse=True)
    return [m for m in newest if not m.heard] + [m for m in newest if m.heard]


class VoicemailService:
    def __init__(
        self,
        config: CompiledConfig,
        store: VoicemailStore,
        prompt: Callable[[str], Pcm],
        system_prompt: Callable[[str], Pcm],
        wall: Callable[[], float],
        on_change: Callable[[str, int, int], None],
        send: Sender = mail.send,
        *,
        first_retry: float = 30.0,
        max_retry: float = 3600.0,
    ) -> None:
        self.config = config
        self.store = store
        self.prompt = prompt  # a [prompts.*] by name (greetings)
        self.say = system_prompt  # a system sentence by key, in the server's language
        self._wall = wall
        self._on_change = on_change
        self._send = send
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._boxes = mailboxes_of(config)
        self._settings = mail_settings(config.email)
        self._timezone = ZoneInfo(config.server.timezone)
        self._wake = asyncio.Event()

    # --- what the switch asks ------------------------------------------------------------------
    def mailbox_of(self, extension: str) -> str | None:
        """The mailbox of extension ``extension``, if it has one."""
        box = self._boxes.get(extension)
        return box.name if box is not None and box.extension is not None else None

    def has(self, mailbox: str) -> bool:
        return mailbox in self._boxes

    def box(self, mailbox: str) -> MailboxInfo | None:
        return self._boxes.get(mailbox)

    def app_for(
        self, mailbox: str, reason: Reason = "unavailable", called: str = ""
    ) -> VoicemailApp | None:
        """The app that takes a message for ``mailbox`` (None: no such mailbox)."""
        if reason not in REASONS:
            raise ValueError(f"no voicemail greeting for {reason!r}; reasons: {REASONS}")
        if mailbox not in self._boxes:
            return None
        return VoicemailApp(self, mailbox, reason, called)

    def menu_app(self, mailbox: str | None = None) -> VoicemailMenuApp | None:
        """The app that plays ``mailbox``'s messages; with None it asks for the number first."""
        if mailbox is not None and mailbox not in self._boxes:
            return None
        return VoicemailMenuApp(self, mailbox)

    def counts(self, mailbox: str) -> Counts:
        """(new, old) for the lamp. Blocking: one indexed query, but it waits (a few ms) for
        a save committing in a worker thread, which holds the store's lock."""
        return self.store.counts(mailbox)

    def greeting(self, mailbox: str, reason: Reason) -> Pcm:
        """The mailbox's own greeting, else the system one: a prompt that cannot be loaded
        (a file gone since the start) must not keep a caller from leaving a message."""
        box = self._boxes[mailbox]
        if box.greeting is not None:
            try:
                return self.prompt(box.greeting)
            except Exception as exc:
                log.warning("- voicemail: greeting %s of %s: %s", box.greeting, mailbox, exc)
        return self.say(f"voicemail_greeting_{reason}")

    # --- storing -------------------------------------------------------------------------------
    def deposit(
        self, mailbox: str, pcm: Pcm, caller: str, caller_name: str = "", called: str = ""
    ) -> Message:
        """Store a message, queue its mail, tell the lamp: blocking, on the loop's thread (or
        with no loop). Calls use ``save``, which does the blocking part in a worker thread."""
        message, counts = self._store(mailbox, pcm, caller, caller_name, called)
        self._stored(message, counts)
        return message

    def save(
        self,
        session: LocalSession,
        mailbox: str,
        audio: Sequence[Pcm],
        caller: str,
        caller_name: str,
        called: str,
        then: Callable[[Message | None], None],
    ) -> None:
        """``deposit`` from a call: ``audio`` (20 ms frames) is joined and stored in a worker
        thread; ``then(message)`` runs on the loop afterwards (None: it could not be stored)."""

        def stored(result: tuple[Message, Counts] | None) -> None:
            if result is not None:
                self._stored(*result)
            then(None if result is None else result[0])

        def work() -> tuple[Message, Counts]:
            return self._store(mailbox, np.concatenate(audio), caller, caller_name, called)

        self._background(session, work, stored, f"storing a message for {mailbox}")

    def _store(
        self, mailbox: str, pcm: Pcm, caller: str, caller_name: str, called: str
    ) -> tuple[Message, Counts]:
        box = self._boxes[mailbox]
        message = self.store.save(
            mailbox,
            pcm,
            caller_number=caller,
            caller_name=caller_name,
            called_number=called,
            received_at=datetime.fromtimestamp(self._wall(), UTC),
            mail=box.email is not None and self._settings is not None,
        )
        return message, self.store.counts(mailbox)

    def _stored(self, message: Message, counts: Counts) -> None:
        log.info(
            "- voicemail: message %d in %s from %s (%.1f s)",
            message.id,
            message.mailbox,
            message.caller_number or "an unknown caller",
            message.duration,
        )
        self._wake.set()
        self.changed(message.mailbox, counts)

    def changed(self, mailbox: str, counts: Counts) -> None:
        """The lamp of an extension's mailbox learns its counts (a shared one has no lamp)."""
        box = self._boxes.get(mailbox)
        if box is not None and box.extension is not None:
            self._on_change(box.extension, *counts)

    # --- listening (the menu) ------------------------------------------------------------------
    def load(
        self, session: LocalSession, mailbox: str, then: Callable[[list[Message] | None], None]
    ) -> None:
        """The mailbox's messages in ``listening_order``, read in a worker thread."""
        self._background(
            session, lambda: listening_order(self.store.list(mailbox)), then, f"listing {mailbox}"
        )

    def listen(
        self, session: LocalSession, message: Message, then: Callable[[Pcm | None], None]
    ) -> None:
        """Read a message's audio and mark it heard (worker thread), then update the lamp."""

        def work() -> tuple[Pcm, Counts]:
            samples, _ = soundfile.read(str(message.path), dtype="int16", always_2d=False)
            self.store.mark_heard(message.id)
            return np.ascontiguousarray(samples, dtype=np.int16), self.store.counts(message.mailbox)

        def done(result: tuple[Pcm, Counts] | None) -> None:
            if result is not None:
                self.changed(message.mailbox, result[1])
            then(None if result is None else result[0])

        self._background(session, work, done, f"reading message {message.id}")

    def delete(self, session: LocalSession, message: Message, then: Callable[[bool], None]) -> None:
        """Delete a message (worker thread), then update the lamp; ``then(deleted)``."""

        def work() -> tuple[bool, Counts]:
            return self.store.delete(message.id), self.store.counts(message.mailbox)

        def done(result: tuple[bool, Counts] | None) -> None:
            if result is not None:
                self.changed(message.mailbox, result[1])
            then(result is not None and result[0])

        self._background(session, work, done, f"deleting message {message.id}")

    def _background(
        self,
        session: LocalSession,
        work: Callable[[], T],
        then: Callable[[T | None], None],
        what: str,
    ) -> None:
        """Run ``work`` in a worker thread, then ``then(result)`` on the loop (None if it
        failed: logged here, so a broken disk never takes the switch's TaskGroup down)."""

        async def job() -> None:
            try:
                result = await asyncio.to_thread(work)
            except Exception:
                log.exception("%s voicemail: %s failed", session.call_id, what)
                then(None)
                return
            then(result)

        session.b2bua.spawn(job())

    # --- mail ----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Send every pending voicemail mail, retrying while the server fails; until cancelled."""
        settings = self._settings
        if settings is None:
            log.info("- voicemail: no [email] in the config: messages are stored, not mailed")
            return
        queue = MailQueue(self._first_retry, self._max_retry)
        queued: set[int] = set()  # message ids in the queue or sent in this run
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()  # before reading: a deposit from now on makes another pass
            try:
                await self._queue_pending(queue, queued, settings, loop.time())
                await self._deliver(queue, settings, loop.time())
                deadline = queue.next_deadline()
            except Exception:
                log.exception("- voicemail: mail delivery failed; trying again later")
                deadline = loop.time() + self._first_retry
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _queue_pending(
        self, queue: MailQueue, queued: set[int], settings: MailSettings, now: float
    ) -> None:
        for message in await asyncio.to_thread(self.store.pending_mail):
            if message.id in queued:
                continue
            box = self._boxes.get(message.mailbox)
            if box is None or box.email is None:
                # The config changed since it was stored: nobody to tell any more.
                log.info("- voicemail: message %d has no address to mail to now", message.id)
                await asyncio.to_thread(self.store.mark_mailed, message.id)
                continue
            email = await asyncio.to_thread(self._build, message, box.email, box.attach, settings)
            queue.add(email, now, ref=message.id)
            queued.add(message.id)  # only once queued: a failed build is tried on the next pass

    def _build(
        self, message: Message, to: str, attach: bool, settings: MailSettings
    ) -> EmailMessage:
        build = partial(
            mail.build_voicemail_mail,
            sender=settings.sender,
            to=to,
            mailbox=message.mailbox,
            caller_number=message.caller_number,
            caller_name=message.caller_name,
            called_number=message.called_number,
            received_at=message.received_at,
            duration=message.duration,
            timezone=self._timezone,
            wav=message.path,
            language=self.config.server.language,
        )
        try:
            return build(attach=attach)
        except OSError as exc:  # deleted from the menu in the meantime: the notice still goes
            log.warning("- voicemail: message %d not attached: %s", message.id, exc)
            return build(attach=False)

    async def _deliver(self, queue: MailQueue, settings: MailSettings, now: float) -> None:
        """Every due mail once, one after another (as ``mail.deliver_due``, with our sender)."""
        due = queue.due(now)
        for index, queued in enumerate(due):
            try:
                await self._send(settings, queued.message)
            except Exception as exc:
                again = queue.failed(queued.key, now, _reason(exc))
                log.warning(
                    "- voicemail: mail for message %s not sent (attempt %d, next in %.0f s): %s",
                    again.ref, again.attempts, again.next_attempt - now, again.last_error,
                )  # fmt: skip
                continue
            except BaseException:
                for untried in due[index:]:  # cancelled: they go back untried
                    queue.release(untried.key)
                raise
            queue.sent(queued.key)
            log.info("- voicemail: mail for message %s sent to the mail server", queued.ref)
            assert isinstance(queued.ref, int)
            await asyncio.to_thread(self.store.mark_mailed, queued.ref)


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, MailError) else f"{type(exc).__name__}: {exc}"
