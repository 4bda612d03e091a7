"""Subscriptions to a mailbox's message-summary (RFC 6665 + RFC 3842), for phones that ask.

Most phones take unsolicited NOTIFYs (``mwi_notify``), but some are configured to SUBSCRIBE
and keep their lamp dark until a subscription exists. This is the notifier side of that:

- A SUBSCRIBE creates a dialog (we are its UAS): 200 with Expires and our Contact, then at
  once an in-dialog NOTIFY with the current counts (RFC 6665 §4.2.1.2: accepting or
  refreshing a subscription MUST be followed by a NOTIFY). A refresh (To tag) does the same;
  ``Expires: 0`` ends it with ``terminated;reason=timeout``, and on a new SUBSCRIBE is a
  one-off fetch (§4.4.3).
- ``notify`` sends the new counts to every subscription of a mailbox. One NOTIFY per
  dialog is in flight at a time; a change while one is pending is sent when it is answered
  (only the latest counts: the lamp needs the state, not the history).
- Expiry is a time input: ``next_deadline()`` / ``handle_timer(now)`` end subscriptions
  whose time ran out with ``terminated;reason=timeout``.
- A NOTIFY answered with an error, or never answered, removes the subscription (§4.2.2: the
  subscriber is gone or lost the dialog; it will SUBSCRIBE again if it still cares).

Wiring (the switch): after authenticating an out-of-dialog SUBSCRIBE, and for a SUBSCRIBE
with a To tag (which ``Switch.on_request`` now hands to the B2BUA), call
``handle_subscribe(txn, request, flow, mailbox, now)``; ``mailbox`` is the extension the
subscriber may watch (its own). It answers the request itself, or raises ``SipError`` for
the endpoint to turn into a reply (489, 423, 406, 481, 400).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass

from softswitch.errors import SipError
from softswitch.sip.dialog import Dialog, new_tag, uas_dialog
from softswitch.sip.endpoint import Event, ServerTxn, SipEndpoint
from softswitch.sip.message import Header, SipRequest
from softswitch.sip.mwi import CONTENT_TYPE, EVENT, message_summary, notify_headers
from softswitch.sip.transaction import ResponseReceived, TransactionTimedOut, TransportFailed
from softswitch.sip.transport import Flow

__all__ = ["DEFAULT_EXPIRES", "MwiSubscriptions"]

log = logging.getLogger("softswitch.sip")

DEFAULT_EXPIRES = 3600  # RFC 3842 §5.4: a message-summary subscription lasts an hour by default
_ACCEPTABLE = frozenset({CONTENT_TYPE, "application/*", "*/*"})

Counts = tuple[int, int]
Key = tuple[str, str]  # (Call-ID, our tag): the dialog, as the phone's refreshes name it


@dataclass(slots=True)
class _Subscription:
    key: Key
    mailbox: str
    dialog: Dialog
    event: str  # the Event value as subscribed (an ``id`` parameter must be echoed)
    expires_at: float
    counts: Counts
    in_flight: bool = False  # a NOTIFY of this dialog awaits its final response
    again: bool = False  # the counts changed meanwhile: send them when it is answered


class MwiSubscriptions:
    """Every live message-summary subscription, its expiry and its NOTIFYs."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        domain: str,
        counts: Callable[[str], Counts],
        *,
        min_expires: int = 60,
        max_expires: int = DEFAULT_EXPIRES,
        max_per_mailbox: int = 16,
    ) -> None:
        self.endpoint = endpoint
        self.domain = domain
        self.counts = counts
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.max_per_mailbox = max_per_mailbox
        self._subs: dict[Key, _Subscription] = {}
        self._by_mailbox: dict[str, dict[Key, _Subscription]] = {}  # oldest first
        # (expires_at, key); stale entries (refreshed or ended) are skipped when reached.
        self._deadlines: list[tuple[float, Key]] = []

    def __len__(self) -> int:
        return len(self._subs)

    # --- requests ------------------------------------------------------------------------
    def handle_subscribe(
        self, txn: ServerTxn, request: SipRequest, flow: Flow, mailbox: str, now: float
    ) -> None:
        """Answer a SUBSCRIBE for ``mailbox`` (new, refresh, unsubscribe or fetch)."""
        event = _event_of(request)
        _check_accept(request)
        expires = self._expires_of(request)
        tag = request.to.tag
        if tag is not None:
            sub = self._subs.get((request.call_id, tag))
            if sub is None or sub.mailbox != mailbox:
                raise SipError(481, "Subscription Does Not Exist")
            sub.dialog.check_remote_cseq(request)
            sub.dialog.flow = flow  # a phone behind NAT may come back on a new mapping
            self._accept(txn, sub, expires, now)
            return
        contact = self.endpoint.contact(flow, mailbox)
        dialog = uas_dialog(request, new_tag(), contact, flow)
        sub = _Subscription(dialog.key, mailbox, dialog, event, now, self.counts(mailbox))
        if expires:
            self._add(sub)
            log.info("%s %s subscribed to mailbox %s", request.call_id, flow, mailbox)
        self._accept(txn, sub, expires, now)  # Expires 0: a fetch, one terminal NOTIFY

    def _accept(self, txn: ServerTxn, sub: _Subscription, expires: int, now: float) -> None:
        extra = (("expires", str(expires)), ("contact", sub.dialog.local_contact))
        self.endpoint.respond(txn, 200, to_tag=sub.dialog.local_tag, extra=extra)
        if expires == 0:
            self._end(sub, "timeout")
            return
        sub.expires_at = now + expires
        self._schedule(sub)
        self._send(sub, now)

    def _schedule(self, sub: _Subscription) -> None:
        heapq.heappush(self._deadlines, (sub.expires_at, sub.key))
        # Every refresh leaves a stale entry behind: rebuild once they dominate.
        if len(self._deadlines) > 2 * len(self._subs) + 64:
            self._deadlines = [(s.expires_at, s.key) for s in self._subs.values()]
            heapq.heapify(self._deadlines)

    def _expires_of(self, request: SipRequest) -> int:
        value = request.get("expires")
        if value is None:
            return min(DEFAULT_EXPIRES, self.max_expires)
        try:
            expires = int(value.strip())
        except ValueError:
            raise SipError(400, "Malformed Expires") from None
        if expires < 0:
            raise SipError(400, "Malformed Expires")
        if 0 < expires < self.min_expires:
            raise SipError(423, "Interval Too Brief", (("min-expires", str(self.min_expires)),))
        return min(expires, self.max_expires)

    # --- state changes -------------------------------------------------------------------
    def notify(self, mailbox: str, new: int, old: int) -> int:
        """Send ``mailbox``'s new counts to its subscribers; returns how many subscriptions
        there are (a NOTIFY may wait for the previous one of its dialog to be answered)."""
        subs = self._by_mailbox.get(mailbox)
        if not subs:
            return 0
        message_summary(new, old, None)  # rejects impossible counts before they are kept
        now = self.endpoint.clock.monotonic()
        for sub in subs.values():
            sub.counts = (new, old)
            self._send(sub, now)
        self.endpoint.flush()
        return len(subs)

    def flows(self, mailbox: str) -> frozenset[Flow]:
        """Where ``mailbox``'s subscribers are (unsolicited NOTIFYs skip those phones)."""
        subs = self._by_mailbox.get(mailbox)
        return frozenset(s.dialog.flow for s in subs.values()) if subs else frozenset()

    def next_deadline(self) -> float | None:
        deadlines = self._deadlines
        while deadlines and not self._is_live(deadlines[0]):
            heapq.heappop(deadlines)
        return deadlines[0][0] if deadlines else None

    def handle_timer(self, now: float) -> None:
        """End every subscription whose time ran out (NOTIFY terminated;reason=timeout)."""
        ended = False
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            entry = heapq.heappop(deadlines)
            if self._is_live(entry):
                sub = self._subs[entry[1]]
                log.info("%s subscription to mailbox %s expired", sub.key[0], sub.mailbox)
                self._end(sub, "timeout")
                ended = True
        if ended:
            self.endpoint.flush()

    def _is_live(self, entry: tuple[float, Key]) -> bool:
        sub = self._subs.get(entry[1])
        return sub is not None and sub.expires_at == entry[0]

    def _add(self, sub: _Subscription) -> None:
        per_mailbox = self._by_mailbox.setdefault(sub.mailbox, {})
        if len(per_mailbox) >= self.max_per_mailbox:
            # Phones that reboot leave their old subscription behind for up to an hour:
            # the oldest one goes, silently (its phone is most likely the one gone).
            self._remove(next(iter(per_mailbox.values())))
        per_mailbox[sub.key] = sub
        self._subs[sub.key] = sub

    def _remove(self, sub: _Subscription) -> None:
        if self._subs.pop(sub.key, None) is None:
            return
        per_mailbox = self._by_mailbox[sub.mailbox]
        del per_mailbox[sub.key]
        if not per_mailbox:
            del self._by_mailbox[sub.mailbox]

    def _end(self, sub: _Subscription, reason: str) -> None:
        """Remove ``sub`` and tell its phone, with the last counts (RFC 6665 §4.2.2)."""
        self._remove(sub)
        self._send_notify(sub, notify_headers(reason=reason), None)

    # --- NOTIFY --------------------------------------------------------------------------
    def _send(self, sub: _Subscription, now: float) -> None:
        if sub.in_flight:
            sub.again = True  # CSeq order is not delivery order over UDP: one at a time
            return
        remaining = max(1, int(sub.expires_at - now))
        sub.in_flight = True
        self._send_notify(sub, notify_headers(expires=remaining), sub.key)

    def _send_notify(self, sub: _Subscription, headers: list[Header], key: Key | None) -> None:
        headers = [(n, sub.event if n == "event" else v) for n, v in headers]
        new, old = sub.counts
        body = message_summary(new, old, f"sip:{sub.mailbox}@{self.domain}")
        dialog = sub.dialog
        request = dialog.request(
            "NOTIFY", self.endpoint.via(dialog.flow), body=body, extra=tuple(headers)
        )
        self.endpoint.send_request(request, dialog.flow, _SubscriptionNotify(self, key))

    def _answered(self, key: Key, status: int, now: float) -> None:
        sub = self._subs.get(key)
        if sub is None:
            return  # ended meanwhile
        sub.in_flight = False
        if status >= 300:
            log.info("%s subscriber refused a NOTIFY (%d): subscription ended", key[0], status)
            self._remove(sub)
        elif sub.again:
            sub.again = False
            self._send(sub, now)

    def _lost(self, key: Key) -> None:
        sub = self._subs.get(key)
        if sub is not None:
            log.info("%s subscriber did not answer a NOTIFY: subscription ended", key[0])
            self._remove(sub)


class _SubscriptionNotify:
    """The owner of one NOTIFY's transaction; ``key`` None for a final (terminated) one."""

    __slots__ = ("key", "owner")

    def __init__(self, owner: MwiSubscriptions, key: Key | None) -> None:
        self.owner = owner
        self.key = key

    def on_txn_event(self, event: Event, now: float) -> None:
        key = self.key
        if key is None:
            return  # the subscription is over; whatever the phone says changes nothing
        if isinstance(event, ResponseReceived):
            if event.status >= 200:
                self.owner._answered(key, event.status, now)
        elif isinstance(event, TransactionTimedOut | TransportFailed):
            self.owner._lost(key)


def _event_of(request: SipRequest) -> str:
    value = (request.get("event") or "").strip()
    if value.split(";", 1)[0].strip() != EVENT:
        raise SipError(489, "Bad Event", (("allow-events", EVENT),))
    return value


def _check_accept(request: SipRequest) -> None:
    accept = request.get_all("accept")
    if not accept:
        return  # RFC 6665 §4.2.1: absent Accept means the package's default type
    types = {t.split(";", 1)[0].strip().lower() for line in accept for t in line.split(",")}
    types.discard("")
    if types and not types & _ACCEPTABLE:
        raise SipError(406, "Not Acceptable", (("accept", CONTENT_TYPE),))
