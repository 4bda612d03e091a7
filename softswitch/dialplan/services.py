"""The media side of the switch, built from one config: ticker, prompts, music, rooms.

``MediaStack`` is what app.py composes: the engine and its ticker, the prompt cache and
music library, music on hold, the conference bridge and the service that routes a dialled
number to a conference room. ``warm`` converts the prompts calls will need before the first
call arrives (in a worker thread: eSpeak and MP3 decoding take far longer than a tick).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from softswitch.call.features import MediaFeatures
from softswitch.call.local import LocalApp, LocalSession, MediaServices
from softswitch.call.outbound import OutboundDecision, TrunkCall
from softswitch.call.switch import Inbound
from softswitch.config.model import CompiledConfig
from softswitch.config.routing_model import Actions
from softswitch.dialplan.actions import ActionApp, ActionContext
from softswitch.dialplan.conference import ConferenceService
from softswitch.dialplan.inbound import InboundRouting
from softswitch.dialplan.mail import PlaceKind
from softswitch.dialplan.missed import MissedCalls, Outbox
from softswitch.dialplan.outbound import OutboundRouting, SayThenReject
from softswitch.dialplan.queue_app import QueueCallerApp, QueueRunner
from softswitch.dialplan.voicemail_service import VoicemailService, mail_settings
from softswitch.media.audiofile import AudioError
from softswitch.media.conference import ConferenceBridge
from softswitch.media.engine import MediaEngine
from softswitch.media.library import DEFAULT_CLASS, MusicLibrary
from softswitch.media.moh import MusicOnHold
from softswitch.media.prompts import SYSTEM_TEXTS, PromptCache
from softswitch.media.ticker import Ticker
from softswitch.media.tts import TtsError
from softswitch.rtp.transport import RtpRelay
from softswitch.storage.queue_stats import FILE_NAME as QUEUE_STATS
from softswitch.storage.voicemail import VoicemailStore

__all__ = ["MediaStack"]

log = logging.getLogger("softswitch.media")

Pcm = npt.NDArray[np.int16]


class MediaStack:
    def __init__(
        self,
        config: CompiledConfig,
        relay: RtpRelay,
        monotonic: Callable[[], float],
        wall: Callable[[], float],
        busy: Callable[[str], bool] = lambda extension: False,
        registered: Callable[[str], bool] = lambda extension: True,
        mwi: Callable[[str, int, int], None] = lambda extension, new, old: None,
    ) -> None:
        self.config = config
        self.engine = MediaEngine()
        self.ticker = Ticker(self.engine, monotonic)
        self.prompts = PromptCache(config.server.state_dir)
        self.library = MusicLibrary(self.prompts, dict(config.music_on_hold))
        self.moh = MusicOnHold(self.engine, self.library.get, self.ticker.wake)
        self.bridge = ConferenceBridge(self.ticker.wake)
        self.services = MediaServices(relay, self.engine, self.ticker.wake, monotonic)
        self.features = MediaFeatures(
            self.moh,
            self.engine,
            monotonic,
            config.server.state_dir / "recordings",
            self.ticker.wake,
        )
        self.wall = wall
        self._busy, self._registered, self._mwi = busy, registered, mwi
        self.voicemail_store = VoicemailStore(config.server.state_dir)
        # Missed-call mail waiting for a retry outlives a reload: one outbox for the process.
        self.outbox = Outbox(mail_settings(config.email))
        self._build(config, None)

    def _build(self, config: CompiledConfig, old: CompiledConfig | None) -> None:
        """What routing a call needs from ``config``. A reload builds it anew for the calls
        that come next; calls in progress keep the objects they started with (their action
        list's context, their queue, their room). Queues and rooms whose config did not
        change are kept, so waiting callers and live rooms stay one set."""
        self.config = config
        self.features.stereo = config.server.record_stereo
        monotonic = self.services.monotonic
        recordings = config.server.state_dir / "recordings"
        if old is None or dict(old.conferences) != dict(config.conferences):
            self.conferences = ConferenceService(
                dict(config.conferences),
                self.bridge,
                self.engine,
                self.moh,
                self.system_prompt,
                recordings=recordings,
                wall=self.wall,
            )
        if old is None or dict(old.queues) != dict(config.queues):
            self.queues = QueueRunner(
                config.queues,
                config.server.state_dir / QUEUE_STATS,
                self._busy,
                self._registered,
                self.moh,
                self.system_prompt,
                lambda name: self._prompt_of(config, name),
                monotonic,
            )
            self.queues.on_missed = self._missed_queue
        self.voicemail = VoicemailService(
            config,
            self.voicemail_store,
            lambda name: self._prompt_of(config, name),
            self.system_prompt,
            self.wall,
            self._mwi,
        )
        self.outbox.settings = mail_settings(config.email)
        self.missed = MissedCalls(config, self.outbox, self.wall)
        codes = {*config.extensions, *(d.code for d in config.external_destinations.values())}
        codes |= {c.number for c in config.conferences.values()}
        conferences, voicemail, queues = self.conferences, self.voicemail, self.queues
        context = ActionContext(
            prompt=lambda name: self._prompt_of(config, name),
            ivrs=dict(config.ivrs),
            conference=lambda name: conferences.app_for(config.conferences[name].number),
            codes=frozenset(codes),
            groups=dict(config.ring_groups),
            delegate=lambda kind, target, failure, then: _delegate(
                queues, voicemail, kind, target, failure, then
            ),
            mailbox_of=voicemail.mailbox_of,
            missed=self._missed_at,
        )
        self.context = context
        self.inbound = InboundRouting(config, context, self.wall)
        self.outbound = OutboundRouting(
            config, lambda key, status: SayThenReject(self.system_prompt(key), status)
        )

    # What the switch asks of the routing of the moment (a reload replaces it).
    def trunk_of(self, host: str) -> str | None:
        return self.inbound.trunk_of(host)

    def route_inbound(self, trunk: str, caller: str, name: str, called: str) -> Inbound:
        return self.inbound.route(trunk, caller, name, called)

    def route_outbound(
        self, extension: str, dialled: str, presented: tuple[str, ...]
    ) -> OutboundDecision:
        return self.outbound.route(extension, dialled, presented)

    def trunk_target(self, dialled: str) -> TrunkCall | None:
        return self.outbound.target(dialled)

    def reload(self, config: CompiledConfig) -> None:
        """Route the calls that come next with ``config`` (already checked)."""
        self._build(config, self.config)

    def _prompt_of(self, config: CompiledConfig, name: str) -> Pcm:
        """A prompt of ``config`` (the one the call started with); one that cannot be read
        now (its file was removed after the check, say) is logged and plays as nothing, so
        the call goes on to its next step."""
        try:
            return self.prompts.get(config.prompts[name])
        except (AudioError, TtsError) as exc:
            log.warning("- prompt %s cannot be played: %s", name, exc)
            return np.zeros(0, np.int16)

    def voicemail_for(self, extension: str, status: int) -> LocalApp | None:
        """The voicemail that takes an unanswered call to ``extension`` (None: no mailbox)."""
        mailbox = self.voicemail.mailbox_of(extension)
        if mailbox is None:
            return None
        return self.voicemail.app_for(
            mailbox, "busy" if status == 486 else "unavailable", extension
        )

    def _missed_at(self, kind: PlaceKind, name: str, session: LocalSession) -> None:
        call = session.call
        self.missed.missed(kind, name, call.caller, call.caller_name, call.callee)

    def _missed_queue(self, queue: str, caller: str, name: str) -> None:
        self.missed.missed(PlaceKind.QUEUE, queue, caller, name, "")

    def missed_call(self, extension: str, caller: str, called: str) -> None:
        """A call rang ``extension`` directly and nobody answered."""
        self.missed.missed(PlaceKind.EXTENSION, extension, caller, "", called)

    def system_prompt(self, key: str) -> Pcm:
        return self.prompts.system_prompt(key, self.config.server.language)

    def app_for(self, number: str, caller: str) -> LocalApp | None:
        """The app answering a dialled number that is not an extension, if any: a
        conference room, an IVR menu's number."""
        room = self.conferences.app_for(number)
        if room is not None:
            return room
        if number == self.config.server.voicemail_code:  # the caller's own mailbox, or ask
            return self.voicemail.menu_app(self.voicemail.mailbox_of(caller))
        action = self.config.dial_code(number)
        if action is not None and action.kind == "ivr":
            return ActionApp((action,), self.context)
        return None

    def warm(self, config: CompiledConfig | None = None) -> None:
        """Convert what calls will play (blocking: run it in a thread); a reload warms the
        prompts of the config it is about to apply."""
        config = config or self.config
        for key in SYSTEM_TEXTS["en"]:
            self.prompts.system_prompt(key, config.server.language)
        for prompt in config.prompts.values():
            self._prompt_of(config, prompt.name)
        for name in {DEFAULT_CLASS, *self.config.music_on_hold}:
            self.library.get(name)
        log.info("- prompts and music ready")

    def close(self) -> None:
        """After the calls: stop the ticker, finish writes (queue statistics, voicemail)."""
        self.ticker.stop()
        self.bridge.close()  # a room still live: its recording's last second
        self.queues.close()
        self.voicemail_store.close()


def _delegate(
    queues: QueueRunner,
    voicemail: VoicemailService,
    kind: str,
    target: str,
    failure: int,
    then: Callable[[Actions], None],
) -> LocalApp | None:
    """The app a ``queue:`` or ``voicemail:`` step hands the call to."""
    if kind == "queue":
        return QueueCallerApp(queues, target, then)
    return voicemail.app_for(target, "busy" if failure == 486 else "unavailable")
