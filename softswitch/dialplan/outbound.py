"""Calls out through a trunk: who may, which route, and what caller ID the provider sees.

An extension dials something that is neither an extension nor a service code. If an
``[[outbound_routes]]`` pattern matches it (as dialled, or in its E.164 form), it is an external
call; internal codes of ``[external_destinations.*]`` are external calls too. Then:

* an extension without ``outbound = true`` is refused: 403, after a spoken sentence (the
  phone shows the 403, the person hears why), as Asterisk does with a Playback before
  Hangup(21);
* the caller ID is the one the phone presented (its From user, or P-Preferred-Identity) when
  that is one of the extension's ``caller_ids`` or ``custom_caller_id = true``, else the first
  of ``caller_ids``; an extension with none presents its own number and the provider decides
  (many replace it with the trunk's main number);
* ``record = "outbound"`` (or ``all``) records the call.

The decision is a pure function of the config: the switch executes it (``call/outbound.py``
builds the trunk target, the B2BUA answers the provider's digest challenge).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from softswitch.call.local import LocalApp, LocalSession
from softswitch.call.outbound import OutboundDecision, TrunkCall
from softswitch.config.model import CompiledConfig

__all__ = ["OutboundRouting", "SayThenReject", "caller_id"]

log = logging.getLogger("softswitch.dialplan")


Pcm = npt.NDArray[np.int16]
NOT_EXTERNAL = OutboundDecision(404, "Not Found")


class OutboundRouting:
    def __init__(self, config: CompiledConfig, refusal: Callable[[str, int], LocalApp]) -> None:
        self.config = config
        self.refusal = refusal  # (system sentence, status) -> an app that says it, then fails

    def target(self, dialled: str) -> TrunkCall | None:
        """The trunk call that ``dialled`` (a number, or an external destination's code or
        ``external:NAME``) means, or None when no route takes it."""
        config = self.config
        name = dialled.removeprefix("external:")
        destination = config.external_destinations.get(name)
        if destination is None:
            action = config.dial_code(dialled)
            if action is not None and action.kind == "external":
                destination = config.external_destinations.get(action.target)
        number = destination.number if destination is not None else name
        found = config.outbound_route(number)
        if found is None:
            return None
        route, sent = found
        trunk = config.trunks.get(route.trunk)
        if trunk is None:
            return None
        return TrunkCall(trunk, sent, destination.name if destination else dialled)

    def route(self, extension: str, dialled: str, presented: tuple[str, ...]) -> OutboundDecision:
        """What extension ``extension`` dialling ``dialled`` gets; ``presented`` are the
        identities its phone offered (From user, P-Preferred-Identity)."""
        call = self.target(dialled)
        if call is None:
            return NOT_EXTERNAL
        ext = self.config.extensions.get(extension)
        if ext is None:
            return NOT_EXTERNAL
        if not ext.outbound:
            log.info("- %s may not call external numbers (%s): 403", extension, dialled)
            app = self.refusal("outbound_not_allowed", 403)
            return OutboundDecision(403, "Forbidden", app=app)
        return OutboundDecision(
            call=call,
            caller_id=caller_id(
                ext.caller_ids,
                ext.custom_caller_id,
                presented,
                extension,
                ext.username,
            ),
            record=ext.record in ("outbound", "all"),
        )


def caller_id(
    allowed: tuple[str, ...], custom: bool, presented: tuple[str, ...], extension: str, user: str
) -> str:
    """The identity to present: a presented one if allowed, else the first allowed one.

    Phones put their username or extension in From: that is not a choice of identity (``own``),
    so it gives the default, the first of ``caller_ids`` (else the extension number).
    """
    for identity in presented:
        if identity in allowed or (custom and identity and identity not in (extension, user)):
            return identity
    return allowed[0] if allowed else extension


class SayThenReject:
    """A ``LocalApp`` for early media: speak ``sentence``, then end with ``status``."""

    def __init__(self, sentence: Pcm, status: int) -> None:
        self.sentence = sentence
        self.status = status
        self._session: LocalSession | None = None

    def start(self, session: LocalSession) -> None:
        self._session = session
        session.player.play(self.sentence, barge_in=False, done=self._done)

    def _done(self, finished: bool) -> None:
        if self._session is not None and not self._session.closed:
            self._session.reject(self.status)

    def on_digit(self, digit: str) -> None:
        return None

    def on_dial_failed(self, status: int) -> None:
        return None

    def on_bridged(self, number: str) -> None:
        return None

    def stop(self) -> None:
        self._session = None
