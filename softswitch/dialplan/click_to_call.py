"""What a click-to-call runs once the agent's phone answered: dial the number, then join.

The agent hears ringback while the number rings (``LocalSession.dial``); when it answers the
two are joined; if it does not (busy, no answer, the trunk refused), the agent's call ends.
"""

from __future__ import annotations

import logging

from softswitch.call.local import LocalSession, SessionApp

__all__ = ["DialApp"]

log = logging.getLogger("softswitch.dialplan")


class DialApp(SessionApp):
    """A ``LocalApp`` that rings ``target`` (``external:NUMBER``) and joins it to the call."""

    def __init__(self, target: str) -> None:
        self.target = target

    def start(self, session: LocalSession) -> None:
        self.attach(session)
        status = session.dial([self.target], None)
        if status:
            log.info("%s %s cannot be dialled: %d", session.call_id, self.target, status)
            session.hangup(f"cannot dial {self.target}")

    def on_digit(self, digit: str) -> None:
        return None

    def on_dial_failed(self, status: int) -> None:
        self.session.hangup(f"{self.target} did not answer ({status})")

    def on_bridged(self, number: str) -> None:
        return None

    def stop(self) -> None:
        return None
