"""Keeping the registrations with SIP trunk providers, the asyncio shell.

``softswitch.sip.trunk.TrunkRegistration`` decides everything about the protocol: what to
send, when to refresh, how long to back off. ``TrunkClient`` does the I/O around one such core,
in the manner of aioquic's ``asyncio/protocol.py``: it resolves the provider, sends the core's
REGISTERs as client transactions of the endpoint, feeds their outcomes (``on_txn_event``) and
the clock back in, keeps ONE loop timer at the core's ``next_deadline()`` and logs each state
change. Choices, each with its reason:

* **UDP only.** ``SipTransport`` accepts TCP connections but does not open them, so a TCP
  trunk cannot register yet: it is logged as such and skipped, never half-tried.
* **The Contact is our address as the provider sees it**: ``SipEndpoint.contact``, the same
  rule as every other request we send (``server.public_address`` when set, else the listen
  address, else the local address routing to the provider when we listen on a wildcard), so
  the provider's INVITEs come back to the socket that registered.
* **No core before the first successful lookup**: with a wildcard listen address the Contact
  depends on the route to the provider, which needs its address. Until a lookup succeeds the
  shell itself retries on the core's back-off schedule and reports FAILED with the reason.
* **The provider's name is looked up again after each failure**, during the back-off, so the
  retry goes where DNS points by then; not before every refresh, which would put a resolver
  on the path of a working registration.
* **``stop()`` waits, bounded** (``STOP_WAIT``), for the answer to the Expires: 0: long enough
  for a provider on the Internet to answer, short enough not to hold up a shutdown; a binding
  left behind lapses at its expiry anyway.
* The lookup runs in a task the client owns and cancels on ``stop()`` (no fire-and-forget).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from softswitch.clock import Clock
from softswitch.sip import trunk as core
from softswitch.sip.endpoint import Event, SipEndpoint
from softswitch.sip.message import SipResponse
from softswitch.sip.transaction import ResponseReceived, TransactionTimedOut, TransportFailed
from softswitch.sip.transport import Flow
from softswitch.sip.trunk import State, StateChanged, TrunkAccount, TrunkRegistration

__all__ = [
    "STOP_WAIT",
    "Resolver",
    "TrunkClient",
    "TrunkSettings",
    "TrunkStatus",
    "resolve_udp",
    "trunk_clients",
]

log = logging.getLogger("softswitch.sip")

STOP_WAIT = 2.0  # seconds stop() waits for the answer to the Expires: 0 REGISTER
LOOKUP_TIMEOUT = 10.0  # seconds one lookup may take (a resolver with no server answers late)
USER_AGENT = "softswitch"

# (host, port, address family) -> (address, port) to send to; raises OSError when it cannot.
Resolver = Callable[[str, int, int], Awaitable[tuple[str, int]]]

# How loud a change to each state is logged; the in-between states (each refresh) are DEBUG.
_LEVELS = {
    State.FAILED: logging.WARNING,
    State.REGISTERED: logging.INFO,
    State.UNREGISTERING: logging.INFO,
    State.IDLE: logging.INFO,
}


class TrunkSettings(Protocol):
    """What registering needs from a trunk's configuration; ``config.Trunk`` has it all.
    Structural, so that ``softswitch.sip`` does not depend on ``softswitch.config``."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def transport(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def register(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class TrunkStatus:
    """One trunk's registration as ``softswitch status`` shows it (wall-clock times)."""

    name: str
    state: State
    reason: str
    changed_at: float | None  # when the state last changed
    bound_until: float | None  # when the provider's binding lapses, if one is alive
    provider: str | None  # "udp:203.0.113.7:5060": where the REGISTERs go


async def resolve_udp(host: str, port: int, family: int) -> tuple[str, int]:
    """The first address of ``host`` in ``family`` (the family of our UDP socket)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"no address for {host}")
    address = infos[0][4]
    return str(address[0]), int(address[1])


def trunk_clients(
    endpoint: SipEndpoint,
    trunks: Iterable[TrunkSettings],
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
) -> list[TrunkClient]:
    """A client for each trunk configured with ``register = true``, not started."""
    return [TrunkClient(endpoint, t, clock=clock, rng=rng) for t in trunks if t.register]


class TrunkClient:
    """One trunk's registration on the endpoint's UDP socket; the module docstring says how."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        trunk: TrunkSettings,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        resolver: Resolver = resolve_udp,
    ) -> None:
        """``clock`` defaults to the endpoint's; ``rng`` draws the back-off jitter (fresh
        entropy by default, so that switches restarted together spread out)."""
        self.endpoint = endpoint
        self.trunk = trunk
        self.clock = clock or endpoint.clock
        self.registration: TrunkRegistration | None = None  # the core, once resolved
        self.flow: Flow | None = None  # where the REGISTERs go
        self._rng = rng or random.Random()
        self._resolver = resolver
        self._state, self._reason = State.IDLE, "not started"  # while there is no core
        self.last_change: StateChanged | None = None  # the latest, for status and tests
        self._lookup_error = ""
        self._lookup_failures = 0
        self._lookup_delay = 0.0
        self._stopping = False
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None  # a lookup in progress
        self._idle = asyncio.Event()
        self._idle.set()

    # ----------------------------------------------------------------- user calls

    @property
    def state(self) -> State:
        return self._state if self.registration is None else self.registration.state

    @property
    def reason(self) -> str:
        return self._reason if self.registration is None else self.registration.last_reason

    def status(self) -> TrunkStatus:
        to_wall = self.clock.wall() - self.clock.monotonic()
        change = self.last_change
        bound = None if self.registration is None else self.registration.bound_until
        if bound is not None and bound <= self.clock.monotonic():
            bound = None
        return TrunkStatus(
            self.trunk.name,
            self.state,
            self.reason,
            None if change is None else change.at + to_wall,
            None if bound is None else bound + to_wall,
            None if self.flow is None else str(self.flow),
        )

    async def start(self) -> None:
        """Look the provider up and send the first REGISTER; a lookup that fails is retried
        in the background on the core's back-off schedule. Returns without waiting for any
        answer. A trunk that cannot register (see ``unsupported``) is logged and skipped."""
        if self.state is not State.IDLE:
            raise RuntimeError(f"trunk {self.trunk.name}: already started")
        why = self.unsupported()
        if why:
            self._reason = f"not registering: {why}"
            log.warning("- trunk %s: %s", self.trunk.name, self._reason)
            return
        self._stopping = False
        # Started again after a stop(), the core is kept (its Call-ID, its address).
        if self.registration is not None or await self._lookup():
            self._start_core()
        else:
            self._lookup_failed()
            self._task = asyncio.create_task(self._retry_lookup())

    def unsupported(self) -> str:
        """Why this trunk cannot register from this endpoint ("" when it can)."""
        if self.trunk.transport != "udp":
            return f"registration over {self.trunk.transport.upper()} is not supported (UDP only)"
        if not self.trunk.username or not self.trunk.password:
            return "no username and password"
        if self._family() is None:
            return "the switch listens on no UDP socket"
        return ""

    async def stop(self, wait: float = STOP_WAIT) -> None:
        """Unregister (Expires: 0) if a binding may be alive, and wait at most ``wait``
        seconds for the answer; any later answer is still taken in."""
        self._stopping = True
        await self._cancel_task()
        registration = self.registration
        if registration is None:
            if self._state is State.FAILED:  # still looking the provider up
                self._set_state(State.IDLE, "stopped")
            return
        now = self.clock.monotonic()
        registration.stop(now)
        self._pump(now, flush=True)
        if registration.state is not State.IDLE:
            try:
                async with asyncio.timeout(wait):
                    await self._idle.wait()
            except TimeoutError:
                log.info(
                    "- trunk %s: no answer to the unregister in %g s; the binding lapses by itself",
                    self.trunk.name,
                    wait,
                )
        self._cancel_timer()

    # ----------------------------------------------------------------- transactions

    def on_txn_event(self, event: Event, now: float) -> None:
        """The outcome of one of our REGISTERs (called by the endpoint, which sends what we
        queue here when we return)."""
        registration = self.registration
        if registration is None:
            return
        if isinstance(event, ResponseReceived):
            response = event.response
            phrase = response.reason if isinstance(response, SipResponse) else ""
            registration.response(event.status, response.headers, now, phrase)
        elif isinstance(event, TransactionTimedOut):
            registration.timeout(now, "no response")
        elif isinstance(event, TransportFailed):
            registration.timeout(now, "could not send")
        else:
            return  # TransactionTerminated: nothing for the core
        self._pump(now, flush=False)

    # ----------------------------------------------------------------- the core

    def _start_core(self) -> None:
        if self.registration is None:
            assert self.flow is not None
            try:
                account = self._account(self.flow)
                self.registration = TrunkRegistration(
                    account, via=lambda: self.endpoint.via(self._flow()), rng=self._rng
                )
            except ValueError as exc:  # compiled config is checked: a bug if it happens
                self._state, self._reason = State.IDLE, f"not registering: {exc}"
                log.error("- trunk %s: %s", self.trunk.name, self._reason)
                return
        now = self.clock.monotonic()
        self.registration.start(now)
        self._pump(now, flush=True)

    def _account(self, flow: Flow) -> TrunkAccount:
        trunk = self.trunk
        assert trunk.username is not None and trunk.password is not None
        host = f"[{trunk.host}]" if ":" in trunk.host else trunk.host
        port = "" if trunk.port == 5060 else f":{trunk.port}"
        return TrunkAccount(
            name=trunk.name,
            registrar_uri=f"sip:{host}{port}",
            username=trunk.username,
            password=trunk.password,
            contact=self.endpoint.contact(flow, trunk.username),
            user_agent=USER_AGENT,
        )

    def _flow(self) -> Flow:
        assert self.flow is not None  # the core exists only once an address was found
        return self.flow

    def _pump(self, now: float, *, flush: bool) -> None:
        """Send what the core queued, log its changes, re-arm the timer. ``flush`` sends
        the endpoint's queue now (outside the endpoint's own pass over its events)."""
        registration = self.registration
        assert registration is not None
        for request in registration.take_requests():
            self.endpoint.send_request(request, self._flow(), self)
        for change in registration.take_events():
            self._changed(change)
        if flush:
            self.endpoint.flush()
        self._arm(registration.next_deadline())

    def _arm(self, deadline: float | None) -> None:
        self._cancel_timer()
        if deadline is not None:
            delay = max(0.0, deadline - self.clock.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        assert self.registration is not None
        now = self.clock.monotonic()
        # A timer the loop fires a hair early changes nothing: _pump re-arms it.
        self.registration.handle_timer(now)
        self._pump(now, flush=True)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _changed(self, change: StateChanged) -> None:
        self.last_change = change
        if change.new is State.IDLE:
            self._idle.set()
        else:
            self._idle.clear()
        self._log(change.new, change.reason)
        # Before a core exists, _retry_lookup does the looking up.
        core_failed = change.new is State.FAILED and self.registration is not None
        if core_failed and not self._stopping and self._task is None:
            self._task = asyncio.create_task(self._lookup_again())

    # ----------------------------------------------------------------- lookups

    def _family(self) -> int | None:
        """The address family of the UDP socket we send from (``SipTransport`` sends UDP
        from its first listener), or None without one."""
        for transport, host, _ in self.endpoint.transport.bound:
            if transport == "udp":
                return socket.AF_INET6 if ":" in host else socket.AF_INET
        return None

    async def _lookup(self) -> bool:
        """Resolve the provider into ``self.flow``; False (and ``_lookup_error``) if not."""
        family = self._family()
        assert family is not None
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                host, port = await self._resolver(self.trunk.host, self.trunk.port, family)
        except TimeoutError:
            self._lookup_error = f"no answer in {LOOKUP_TIMEOUT:g} s"
            return False
        except (OSError, UnicodeError) as exc:  # gaierror's strerror reads best in a log
            self._lookup_error = getattr(exc, "strerror", None) or str(exc)
            return False
        flow = Flow("udp", host, port)
        if self.flow is not None and flow != self.flow:
            log.info("- trunk %s: %s is now at %s", self.trunk.name, self.trunk.host, flow)
        self.flow = flow
        self._lookup_failures = 0
        return True

    async def _lookup_again(self) -> None:
        """After a failure, during the back-off: the retry goes where DNS points by then."""
        try:
            if not await self._lookup():
                log.info(
                    "- trunk %s: cannot resolve %s (%s); still using %s",
                    self.trunk.name,
                    self.trunk.host,
                    self._lookup_error,
                    self.flow,
                )
        finally:
            self._forget_task()

    async def _retry_lookup(self) -> None:
        """Before any core exists: look up again on the core's back-off schedule."""
        try:
            while True:
                await asyncio.sleep(self._lookup_delay)
                if await self._lookup():
                    break
                self._lookup_failed()
        finally:
            self._forget_task()
        self._start_core()

    def _lookup_failed(self) -> None:
        # The core's own rule (softswitch.sip.trunk._arm_retry), read at call time.
        backoff = min(core.BACKOFF_BASE * 2 ** min(self._lookup_failures, 16), core.BACKOFF_CAP)
        self._lookup_delay = backoff * (1.0 - core.JITTER * self._rng.random())
        self._lookup_failures += 1
        reason = (
            f"registration failed: cannot resolve {self.trunk.host}: {self._lookup_error}; "
            f"retry in {self._lookup_delay:.1f} s"
        )
        self._set_state(State.FAILED, reason)

    def _set_state(self, new: State, reason: str) -> None:
        """A state change of the shell's own, before (or without) a core."""
        old, self._state, self._reason = self._state, new, reason
        if old is not new:
            self._changed(StateChanged(self.trunk.name, old, new, reason, self.clock.monotonic()))
        else:  # another failed lookup: still worth a line
            self._log(new, reason)

    def _log(self, state: State, reason: str) -> None:
        log.log(_LEVELS.get(state, logging.DEBUG), "- trunk %s: %s", self.trunk.name, reason)

    def _forget_task(self) -> None:
        if self._task is asyncio.current_task():
            self._task = None

    async def _cancel_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait({task})  # wait() does not raise the task's CancelledError
