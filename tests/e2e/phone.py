"""A headless, scriptable SIP phone for end-to-end tests, on top of PJSUA2 (pjsua2-python).

One process holds one pjsua2 library (it is a singleton), wrapped by `PjEndpoint`; any number
of `Phone` objects (each its own UDP SIP transport, account and RTP port range) live in it, so a
test can drive caller, callee and a third party at once.

Threading: the library runs with ``threadCnt=0`` and ``mainThreadOnly=True``, so no PJSIP
thread ever calls into Python. Every callback is delivered inside `PjEndpoint.poll()`, which all
``wait_*`` helpers and `PjEndpoint.sleep` pump. Never touch pjsua2 from another thread.

Every wait is bounded and raises `PhoneTimeout` (an AssertionError, so pytest reports it as a
plain test failure with the reason).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import socket
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pjsua2 as pj  # type: ignore[import-untyped]
import soundfile as sf  # type: ignore[import-untyped]

STATE_NAMES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}
MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "NONE",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "ACTIVE",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "LOCAL_HOLD",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "REMOTE_HOLD",
    pj.PJSUA_CALL_MEDIA_ERROR: "ERROR",
}

# Each phone gets its own block of RTP ports so two phones never race for the same pair.
PHONE_RTP_RANGE = (20000, 30000)
RTP_BLOCK = 40


class PhoneTimeout(AssertionError):
    """A bounded wait expired; the message says what was awaited."""


def _pair_is_free(port: int, host: str) -> bool:
    socks: list[socket.socket] = []
    try:
        for q in (port, port + 1):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind((host, q))
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()
    return True


def _rtp_blocks() -> Iterator[int]:
    lo, hi = PHONE_RTP_RANGE
    return itertools.cycle(range(lo, hi - RTP_BLOCK, RTP_BLOCK))


_next_block = _rtp_blocks()


def allocate_rtp_base(host: str = "127.0.0.1") -> int:
    """Next block base (round robin over 20000-30000) whose first RTP/RTCP pair is free."""
    for _ in range((PHONE_RTP_RANGE[1] - PHONE_RTP_RANGE[0]) // RTP_BLOCK):
        base = next(_next_block)
        if _pair_is_free(base, host):
            return base
    raise RuntimeError("no free RTP port block in 20000-30000")


# --------------------------------------------------------------------------- endpoint
class PjEndpoint:
    """Owns the pjsua2 library. Use as a context manager; `poll()` pumps events."""

    _instance: PjEndpoint | None = None

    def __init__(
        self,
        log_level: int = 1,
        log_file: str | None = None,
        clock_rate: int = 8000,
        codecs: tuple[str, ...] = ("PCMU/8000", "PCMA/8000"),
        user_agent: str = "softswitch-e2e/pjsua2",
    ) -> None:
        if PjEndpoint._instance is not None:
            raise RuntimeError("only one PjEndpoint per process (pjsua2 is a singleton)")
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0  # no PJSIP worker threads ...
        cfg.uaConfig.mainThreadOnly = True  # ... so callbacks arrive only inside poll()
        cfg.uaConfig.userAgent = user_agent
        cfg.uaConfig.maxCalls = 32
        cfg.logConfig.level = max(log_level, 1)
        cfg.logConfig.consoleLevel = log_level if log_file is None else 0
        if log_file:
            cfg.logConfig.filename = log_file
        cfg.medConfig.clockRate = clock_rate  # conference bridge rate: recordings use it
        cfg.medConfig.sndClockRate = clock_rate
        cfg.medConfig.noVad = True  # continuous RTP: silence suppression would hide tones
        cfg.medConfig.ecTailLen = 0  # an echo canceller would mangle test tones
        cfg.medConfig.quality = 10
        # The null sound device is what clocks the conference bridge (and so RTP, DTMF
        # included); pjsua closes an idle device after 1 s, which would freeze calls that have
        # no bridge connection. Keep it open.
        cfg.medConfig.sndAutoCloseTime = -1
        self.ep.libInit(cfg)
        self.ep.audDevManager().setNullDev()  # no sound card; the bridge is still clocked
        self._set_codec_priorities(codecs)
        self.ep.libStart()
        self.phones: list[Phone] = []
        # Closing a pjsua transport frees its socket only when the last transaction using it
        # ends (~32 s), and the select() ioqueue has 64 handles: recycle transports instead.
        self._free_transports: list[tuple[int, int]] = []
        self._other_transports: dict[str, list[tuple[int, int]]] = {}
        self._tcp: tuple[int, int] | None = None
        # Calls of closed phones: SWIG must not free them while PJSIP may still touch them.
        self.graveyard: list[PhoneCall] = []
        self.dead_accounts: list[Any] = []
        PjEndpoint._instance = self

    def _set_codec_priorities(self, codecs: tuple[str, ...]) -> None:
        wanted = [c.lower() for c in codecs]
        for ci in self.ep.codecEnum2():
            cid = ci.codecId  # e.g. "PCMU/8000/1"
            prio = 0
            for i, w in enumerate(wanted):
                if cid.lower().startswith(w):
                    prio = 250 - i
            self.ep.codecSetPriority(cid, prio)

    def acquire_transport(self, host: str = "127.0.0.1") -> tuple[int, int]:
        """A UDP SIP transport on ``host``: (transport id, port)."""
        if host == "127.0.0.1" and self._free_transports:
            return self._free_transports.pop()
        tcfg = pj.TransportConfig()
        tcfg.port = 0
        tcfg.boundAddress = host
        tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        info = self.ep.transportGetInfo(tid)
        return tid, int(str(info.localName).rsplit(":", 1)[1])

    def release_transport(self, transport: tuple[int, int], host: str = "127.0.0.1") -> None:
        if host == "127.0.0.1":
            self._free_transports.append(transport)
        else:  # another loopback address: kept apart, never handed to a 127.0.0.1 phone
            self._other_transports.setdefault(host, []).append(transport)

    def tcp_transport(self) -> tuple[int, int]:
        """The one TCP SIP transport on 127.0.0.1 (shared: accounts connect out through it)."""
        if self._tcp is None:
            tcfg = pj.TransportConfig()
            tcfg.port = 0
            tcfg.boundAddress = "127.0.0.1"
            tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, tcfg)
            info = self.ep.transportGetInfo(tid)
            self._tcp = (tid, int(str(info.localName).rsplit(":", 1)[1]))
        return self._tcp

    def poll(self, ms: int = 10) -> None:
        self.ep.libHandleEvents(ms)

    def wait_for(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise PhoneTimeout(f"timeout after {timeout}s waiting for {what}")
            self.poll(10)

    def sleep(self, seconds: float) -> None:
        """Let time pass while still processing SIP and RTP events."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll(10)

    def close(self) -> None:
        for ph in list(self.phones):
            ph.close()
        self.sleep(0.2)
        for c in self.graveyard:
            # A pj.Call destroyed after libDestroy() trips a PJSIP assertion: leak it instead.
            c.thisown = False
        self.graveyard.clear()
        gc.collect()
        self.ep.libDestroy()
        PjEndpoint._instance = None

    def __enter__(self) -> PjEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- account
class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, phone: Phone) -> None:
        super().__init__()
        self.phone = phone

    def onRegState(self, prm: Any) -> None:
        self.phone.reg_events.append((prm.code, prm.reason, prm.expiration))

    def onMwiInfo(self, prm: Any) -> None:
        """A message-summary NOTIFY (unsolicited or subscribed): kept whole."""
        self.phone.mwi.append(str(prm.rdata.wholeMsg))

    def onIncomingCall(self, prm: Any) -> None:
        c = PhoneCall(self.phone, call_id=prm.callId)
        # The INVITE's Request-URI: the contact the switch rang. pjsua hands a call to the
        # first account whose user matches the To URI, so with two accounts of one extension
        # this is what says which phone the call was meant for.
        c.request_uri = str(prm.rdata.wholeMsg).split(" ", 2)[1]
        self.phone.calls.append(c)
        self.phone.incoming.append(c)
        if self.phone.auto_ring:
            with contextlib.suppress(pj.Error):
                c.answer(180)


class Phone:
    """One SIP user agent: a UDP transport plus an account.

    registrar=None: a local account only (peer-to-peer calls to sip:x@127.0.0.1:port).
    registrar="sip:127.0.0.1:5080" plus password: REGISTER with digest authentication, and
    every call goes to the registrar (outbound proxy) so the softswitch sees it.
    contact_forced: a Contact URI to advertise instead of the real address (NAT tests).
    """

    def __init__(
        self,
        endpoint: PjEndpoint,
        user: str,
        *,
        domain: str = "127.0.0.1",
        registrar: str | None = None,
        password: str | None = None,
        auth_user: str | None = None,
        proxy: str | None = None,
        contact_forced: str | None = None,
        auto_ring: bool = True,
        reg_timeout: int = 300,
        transport: str = "udp",
        host: str = "127.0.0.1",
    ) -> None:
        """``host``: the loopback address this phone sends from (a trunk has its own)."""
        self.epw, self.user, self.domain = endpoint, user, domain
        self.host = host
        self.reg_events: list[tuple[int, str, int]] = []
        self.mwi: list[str] = []  # message-summary NOTIFYs received, whole
        self.calls: list[PhoneCall] = []
        self.incoming: list[PhoneCall] = []
        self.auto_ring = auto_ring
        self.closed = False
        self.transport = transport
        if transport == "tcp":
            self.transport_id, self.sip_port = endpoint.tcp_transport()
            # Registrar and proxy are reached over TCP: say so in their URIs.
            registrar = registrar and f"{registrar};transport=tcp"
            proxy = proxy and f"{proxy};transport=tcp"
        elif host != "127.0.0.1" and endpoint._other_transports.get(host):
            self.transport_id, self.sip_port = endpoint._other_transports[host].pop()
        else:
            self.transport_id, self.sip_port = endpoint.acquire_transport(host)
        self.rtp_base = allocate_rtp_base(host)
        acfg = self._account_config(registrar, password, auth_user, proxy, reg_timeout)
        if contact_forced:
            acfg.sipConfig.contactForced = contact_forced
        self.acc = _Account(self)
        self.acc.create(acfg, True)
        endpoint.phones.append(self)

    def _account_config(
        self,
        registrar: str | None,
        password: str | None,
        auth_user: str | None,
        proxy: str | None,
        reg_timeout: int,
    ) -> Any:
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{self.user}@{self.domain}"
        acfg.sipConfig.transportId = self.transport_id
        if registrar:
            acfg.regConfig.registrarUri = registrar
            acfg.regConfig.registerOnAdd = False
            acfg.regConfig.timeoutSec = reg_timeout
            acfg.regConfig.retryIntervalSec = 0  # a failed REGISTER must stay failed
            acfg.regConfig.dropCallsOnFail = False
        if password is not None:
            acfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", "*", auth_user or self.user, 0, password)
            )
        if proxy:
            acfg.sipConfig.proxies.append(proxy)
        acfg.mediaConfig.transportConfig.port = self.rtp_base
        acfg.mediaConfig.transportConfig.portRange = RTP_BLOCK
        acfg.mediaConfig.transportConfig.boundAddress = self.host
        acfg.callConfig.timerUse = pj.PJSUA_SIP_TIMER_INACTIVE  # no session-timer re-INVITEs
        # The phone must say exactly what it was told to: no rewriting of Contact, Via or
        # SDP from what the server reports back (received/rport), no ICE, no STUN.
        acfg.natConfig.iceEnabled = False
        acfg.natConfig.contactRewriteUse = 0
        acfg.natConfig.viaRewriteUse = 0
        acfg.natConfig.sdpNatRewriteUse = 0
        acfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
        acfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
        return acfg

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@127.0.0.1:{self.sip_port}"

    # -- registration
    def register(self, timeout: float = 5.0) -> int:
        """Send REGISTER; return the final status code (200 on success)."""
        n = len(self.reg_events)
        self.acc.setRegistration(True)
        self.epw.wait_for(lambda: len(self.reg_events) > n, timeout, f"{self.user} REGISTER")
        return self.reg_events[-1][0]

    def unregister(self, timeout: float = 5.0) -> int:
        n = len(self.reg_events)
        self.acc.setRegistration(False)
        self.epw.wait_for(lambda: len(self.reg_events) > n, timeout, f"{self.user} un-REGISTER")
        return self.reg_events[-1][0]

    @property
    def registered(self) -> bool:
        info = self.acc.getInfo()
        return bool(info.regIsActive) and info.regStatus // 100 == 2

    # -- calls
    def call(self, dest_uri: str) -> PhoneCall:
        c = PhoneCall(self)
        c.makeCall(dest_uri, pj.CallOpParam(True))
        self.calls.append(c)
        return c

    def wait_incoming(self, timeout: float = 10.0) -> PhoneCall:
        self.epw.wait_for(lambda: self.incoming, timeout, f"incoming call to {self.user}")
        return self.incoming.pop(0)

    def close(self) -> None:
        """Hang up, delete the account (un-REGISTERs if registered), recycle the transport.

        pjsua has a handful of account slots and socket handles, so a long test session
        must give them back.
        """
        if self.closed:
            return
        self.closed = True
        live = [c for c in self.calls if c.state != "DISCONNECTED"]
        for c in live:
            c.hangup()
        with contextlib.suppress(PhoneTimeout):
            self.epw.wait_for(lambda: all(c.state == "DISCONNECTED" for c in live), 2.0, "hang-up")
        for c in self.calls:
            c.release_media()
        self.epw.graveyard.extend(self.calls)
        self.calls.clear()
        self.incoming.clear()
        with contextlib.suppress(pj.Error):
            self.acc.shutdown()
        # Never let the wrapper be collected: pjsua reuses the account's slot, and a late
        # destructor (a gc pass during a later test) would delete that test's account.
        self.epw.dead_accounts.append(self.acc)
        self.epw.poll(50)  # let the un-REGISTER leave before the transport is reused
        if self.transport == "udp":  # the shared TCP transport stays for the next phone
            self.epw.release_transport((self.transport_id, self.sip_port), self.host)
        self.epw.phones.remove(self)


# --------------------------------------------------------------------------- call
class PhoneCall(pj.Call):  # type: ignore[misc]
    def __init__(self, phone: Phone, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(phone.acc, call_id)
        self.phone = phone
        self.states: list[str] = []
        self.last_code = 0
        self.last_reason = ""
        self.remote_uri = ""
        self.request_uri = ""  # of an incoming call
        self.dtmf: list[tuple[str, str]] = []  # (digit, method)
        self.audio: Any = None
        self.media_changes = 0
        self.media_status = "NONE"
        self.media_active = False
        self._players: list[Any] = []
        self._recorder: Any = None
        self._tonegen: Any = None

    # -- callbacks (delivered inside poll())
    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        self.states.append(STATE_NAMES.get(ci.state, str(ci.state)))
        self.last_code, self.last_reason = ci.lastStatusCode, ci.lastReason
        self.remote_uri = ci.remoteUri

    def onCallMediaState(self, prm: Any) -> None:
        self.media_changes += 1
        self.media_active = False
        ci = self.getInfo()  # keep it alive: SWIG's media vector points into it
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            self.media_status = MEDIA_STATUS.get(mi.status, str(mi.status))
            if mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio = self.getAudioMedia(mi.index)
                self.media_active = True
            elif mi.status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD:
                # Held by the far end: the stream still receives (music on hold).
                self.audio = self.getAudioMedia(mi.index)

    def onDtmfDigit(self, prm: Any) -> None:
        methods = {
            pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833",
            pj.PJSUA_DTMF_METHOD_SIP_INFO: "info",
        }
        self.dtmf.append((prm.digit, methods.get(prm.method, str(prm.method))))

    # -- state helpers
    @property
    def state(self) -> str:
        return self.states[-1] if self.states else "NULL"

    def wait_state(self, name: str, timeout: float = 10.0) -> PhoneCall:
        """Wait until state `name` is reached; fail early if the call ends first."""

        def reached() -> bool:
            if name in self.states:
                return True
            if "DISCONNECTED" in self.states:
                raise PhoneTimeout(
                    f"call ended ({self.last_code} {self.last_reason}) before {name}"
                )
            return False

        self.phone.epw.wait_for(reached, timeout, f"{self.phone.user} call state {name}")
        return self

    def wait_media_status(self, status: str, timeout: float = 5.0) -> None:
        what = f"{self.phone.user} media {status} (now {self.media_status})"
        self.phone.epw.wait_for(lambda: self.media_status == status, timeout, what)

    def wait_media(self, timeout: float = 5.0) -> Any:
        self.phone.epw.wait_for(lambda: self.media_active, timeout, "active audio media")
        return self.audio

    def rtp_peers(self) -> tuple[str, str]:
        """(where our RTP goes per the far end's SDP, where received RTP comes from)."""
        ci = self.getInfo()
        idx = next(m.index for m in ci.media if m.type == pj.PJMEDIA_TYPE_AUDIO)
        sent_to = self.getStreamInfo(idx).remoteRtpAddress
        came_from = self.getMedTransportInfo(idx).srcRtpName
        return str(sent_to), str(came_from)

    def answer(self, code: int = 200) -> None:
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        super().answer(prm)

    def hangup(self, code: int = 0) -> None:
        prm = pj.CallOpParam(True)
        if code:
            prm.statusCode = code
        with contextlib.suppress(pj.Error):  # already gone
            super().hangup(prm)

    def hold(self) -> None:
        """re-INVITE with a=sendonly (RFC 3264 hold)."""
        self.setHold(pj.CallOpParam(True))

    def unhold(self) -> None:
        """re-INVITE back to sendrecv."""
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        self.reinvite(prm)

    # -- media
    def play(self, wav_path: str, loop: bool = False) -> float:
        """Send a 16-bit mono WAV into the call; return its duration in seconds."""
        audio = self.wait_media()
        p = pj.AudioMediaPlayer()
        p.createPlayer(wav_path, 0 if loop else pj.PJMEDIA_FILE_NO_LOOP)
        p.startTransmit(audio)
        self._players.append(p)
        with wave.open(wav_path) as w:
            return float(w.getnframes() / w.getframerate())

    def play_tone(self, freq: int, volume: int = 8000) -> None:
        """Send a continuous tone made by pjmedia's ToneGenerator until `stop_tone`."""
        audio = self.wait_media()
        self.stop_tone()
        tg = pj.ToneGenerator()
        tg.createToneGenerator()
        td = pj.ToneDesc()
        td.freq1, td.freq2, td.on_msec, td.off_msec, td.volume = freq, 0, 1000, 0, volume
        tv = pj.ToneDescVector()
        tv.append(td)
        tg.play(tv, True)
        tg.startTransmit(audio)
        self._tonegen = tg

    def stop_tone(self) -> None:
        if self._tonegen is not None:
            with contextlib.suppress(pj.Error):
                self._tonegen.stop()
            self._tonegen = None

    def record(self, wav_path: str) -> None:
        """Record what is RECEIVED from the far end into a WAV (bridge clock rate)."""
        audio = self.audio if self.media_status == "REMOTE_HOLD" else self.wait_media()
        r = pj.AudioMediaRecorder()
        r.createRecorder(wav_path)
        audio.startTransmit(r)
        self._recorder = r

    def stop_record(self) -> None:
        """Finish the WAV: it is complete only once the recorder is destroyed."""
        if self._recorder is not None:
            with contextlib.suppress(pj.Error):
                self.audio.stopTransmit(self._recorder)
            self._recorder = None
            gc.collect()

    def release_media(self) -> None:
        self.stop_record()
        self.stop_tone()
        self._players.clear()

    def send_dtmf(self, digits: str, method: str = "rfc2833", duration_ms: int = 160) -> None:
        """method: "rfc2833" (RFC 4733 telephone-event) or "info" (SIP INFO)."""
        prm = pj.CallSendDtmfParam()
        prm.digits = digits
        prm.duration = duration_ms
        prm.method = {
            "rfc2833": pj.PJSUA_DTMF_METHOD_RFC2833,
            "info": pj.PJSUA_DTMF_METHOD_SIP_INFO,
        }[method]
        self.sendDtmf(prm)

    def received_dtmf(self) -> str:
        return "".join(d for d, _ in self.dtmf)

    def wait_dtmf(self, n: int, timeout: float = 5.0) -> str:
        self.phone.epw.wait_for(lambda: len(self.dtmf) >= n, timeout, f"{n} DTMF digits")
        return self.received_dtmf()


# --------------------------------------------------------------------------- audio analysis
def listen(
    ep: PjEndpoint,
    recordings: list[tuple[PhoneCall, str]],
    seconds: float = 1.5,
    settle: float = 0.3,
) -> None:
    """Record on several calls at once (each WAV holds what that call receives).

    `settle` lets the first packets and any jitter-buffer prefetch pass, so the recording
    holds steady audio only.
    """
    ep.sleep(settle)
    for call, path in recordings:
        call.record(path)
    ep.sleep(seconds)
    for call, _ in recordings:
        call.stop_record()
    # The bridge removes a recorder (and the writer finalises the WAV header) on its next
    # clock tick, not in stop_record: reading at once can see a header with no data.
    ep.sleep(0.1)


def talk_both_ways(ep: PjEndpoint, a: PhoneCall, b: PhoneCall, where: Path) -> None:
    """``a`` plays 700 Hz and ``b`` 1300 Hz; each must hear the other's tone (FFT)."""
    a.play_tone(700)
    b.play_tone(1300)
    at_a, at_b = str(where / "heard-by-a.wav"), str(where / "heard-by-b.wav")
    listen(ep, [(a, at_a), (b, at_b)], seconds=1.5, settle=0.5)
    heard_b, heard_a = analyse_tone(at_b, 700), analyse_tone(at_a, 1300)
    assert heard_b["ok"], f"the callee side does not hear the caller side: {heard_b}"
    assert heard_a["ok"], f"the caller side does not hear the callee side: {heard_a}"


def analyse_tone(
    path: str, expected_hz: float, tol_hz: float = 30.0, skip_s: float = 0.0
) -> dict[str, float | bool]:
    """FFT of a recording: peak frequency, share of energy near `expected_hz`, level.

    ``ok`` means the loud part of the recording is dominated (> 50 % of its energy) by a tone
    within `tol_hz` of the expected frequency, at a level well above silence.
    """
    x, rate = sf.read(path, dtype="float64", always_2d=False)
    if x.ndim > 1:
        x = x.mean(axis=1)
    x = x[int(skip_s * rate) :]
    res: dict[str, float | bool] = {
        "seconds": len(x) / rate if rate else 0.0,
        "tone_seconds": 0.0,
        "rms": 0.0,
        "peak_hz": 0.0,
        "band_ratio": 0.0,
        "ok": False,
    }
    if len(x) < rate * 0.1:
        return res
    x = _loud_part(x, rate)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    spec[freqs < 50] = 0  # DC and hum are not tones
    peak = float(freqs[int(np.argmax(spec))])
    band = spec[np.abs(freqs - expected_hz) <= tol_hz].sum()
    rms = float(np.sqrt((x**2).mean()))
    ratio = float(band / max(spec.sum(), 1e-30))
    res.update(
        rms=rms,
        peak_hz=peak,
        band_ratio=ratio,
        tone_seconds=len(x) / rate,
        ok=abs(peak - expected_hz) <= tol_hz and ratio > 0.5 and rms > 0.01,
    )
    return res


def _loud_part(x: Any, rate: int) -> Any:
    """Trim leading and trailing near-silence (RTP start-up, the recorder's tail)."""
    frame = max(1, rate // 50)
    nfr = len(x) // frame
    if nfr == 0:
        return x
    e = (x[: nfr * frame].reshape(nfr, frame) ** 2).mean(axis=1)
    loud = np.where(e > max(e.max() * 0.05, 1e-8))[0]
    if len(loud) == 0:
        return x
    return x[loud[0] * frame : (loud[-1] + 1) * frame]
