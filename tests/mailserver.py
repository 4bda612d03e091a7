"""A real SMTP server for tests: ``aiosmtpd`` on 127.0.0.1, collecting what it receives.

Loaded as a pytest plugin (``-p mailserver`` in pyproject.toml): the ``smtp`` fixture is
there for every test directory.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

__all__ = ["Collector", "MailServer", "smtp", "smtp_server"]


@dataclass
class Collector:
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def received(self, index: int = 0) -> EmailMessage:
        raw = self.envelopes[index].original_content
        assert raw is not None
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class MailServer(Controller):
    # With port 0, aiosmtpd must learn the port the kernel picked before checking it started.
    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def smtp_server(port: int = 0) -> tuple[Collector, MailServer]:
    """A started server on ``port`` (0: any free one; read ``.port``), and what it got."""
    handler = Collector()
    controller = MailServer(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return handler, controller


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, int]]:
    """A running server on a free port: (what it received, its port)."""
    handler, controller = smtp_server()
    try:
        yield handler, controller.port
    finally:
        controller.stop()
