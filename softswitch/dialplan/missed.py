"""Missed-call mail: one mail per call nobody answered, to whoever the config names.

Who gets one (issue 4, point 11): an extension's ``email``, a ring group's and a queue's
``missed_call_email``, an external destination's ``email``. "Missed" means the place rang, or
queued the caller, and nobody there took the call: no answer, busy, declined, or the caller
gave up first. A call that went on to voicemail was still missed by the extension (the
voicemail mail says what was left; this one says who called).

Mail goes out through ``Outbox``: the sans-IO ``MailQueue`` with its back-off, and one task
that delivers what is due. Missed-call mail is not kept across a restart (a voicemail's is,
by the voicemail store): it reports an event that is over, and a restart of the switch is
rarer than the mail server being down for a while, which loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from softswitch.config.model import CompiledConfig
from softswitch.dialplan.mail import (
    MailQueue,
    MailSettings,
    MissedAt,
    PlaceKind,
    build_missed_call_mail,
    deliver_due,
)

__all__ = ["MissedCalls", "Outbox"]

log = logging.getLogger("softswitch.dialplan")


class Outbox:
    """Mail to send, retried with back-off while the server fails; ``run`` until cancelled."""

    def __init__(self, settings: MailSettings | None, first_retry: float = 30.0) -> None:
        self.settings = settings
        self.queue = MailQueue(first_retry)
        self._wake = asyncio.Event()

    def add(self, message: EmailMessage) -> None:
        if self.settings is None:
            return  # no [email]: said once at start
        self.queue.add(message, asyncio.get_running_loop().time())
        self._wake.set()

    async def run(self) -> None:
        settings = self.settings
        if settings is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            _, failed = await deliver_due(self.queue, settings, loop.time())
            for mail in failed:
                log.warning(
                    "- mail to %s not sent (%s): attempt %d, again in %.0f s",
                    mail.message["To"],
                    mail.last_error,
                    mail.attempts,
                    mail.next_attempt - loop.time(),
                )
            deadline = self.queue.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()


class MissedCalls:
    """Builds the mail for a missed call at a place and hands it to the outbox."""

    def __init__(self, config: CompiledConfig, outbox: Outbox, wall: Callable[[], float]) -> None:
        self.config = config
        self.outbox = outbox
        self.wall = wall
        self._zone = ZoneInfo(config.server.timezone)

    def _address(self, kind: PlaceKind, name: str) -> tuple[str | None, str]:
        """(where the mail goes, the place's description) for a place, if it wants mail."""
        config = self.config
        if kind is PlaceKind.EXTENSION:
            ext = config.extensions.get(name)
            return (ext.email, ext.name) if ext else (None, "")
        if kind is PlaceKind.GROUP:
            group = config.ring_groups.get(name)
            return (group.missed_call_email if group else None), ""
        if kind is PlaceKind.QUEUE:
            queue = config.queues.get(name)
            return (queue.missed_call_email if queue else None), ""
        destination = config.external_destinations.get(name)
        if destination is None:
            return None, ""
        return destination.email, destination.display_name

    def missed(
        self, kind: PlaceKind, name: str, caller: str, caller_name: str, called: str
    ) -> bool:
        """A call from ``caller`` to ``called`` was missed at ``kind`` ``name``: mail it if
        that place has an address (True when a mail was queued)."""
        to, description = self._address(kind, name)
        if not to or self.config.email is None or self.outbox.settings is None:
            return False
        place = MissedAt(kind, name, description)
        message = build_missed_call_mail(
            sender=self.outbox.settings.sender,
            to=to,
            caller_number=caller,
            caller_name=caller_name,
            called_number=called,
            at=datetime.fromtimestamp(self.wall(), tz=UTC),
            timezone=self._zone,
            missed_at=place,
            language=self.config.server.language,
        )
        log.info("- missed call from %s at %s %s: mail to %s", caller, kind.value, name, to)
        self.outbox.add(message)
        return True
