"""Unsolicited message-waiting NOTIFYs: the voicemail lamp of every phone of an extension.

Desk phones and softphones (pjsua's ``enable_unsolicited_mwi``, on by default) light their
lamp from an out-of-dialog NOTIFY for ``message-summary`` that nobody subscribed to; that is
how small PBXes drive MWI, and it needs no subscription state here. Rules this follows:

- One NOTIFY per registered binding, sent where the phone's packets come from (like an
  INVITE fork in ``call.b2bua``), never to the address in its Contact: phones behind NAT
  still get it. The Request-URI is the Contact, the To the extension's AOR with NO tag:
  a NOTIFY with a To tag is in-dialog, and phones answer 481 to a dialog they never made
  (Asterisk's res_pjsip_mwi sends out of dialog for exactly that reason).
- ``Subscription-State: terminated;reason=noresource`` (``mwi.notify_headers()``): there is
  no subscription, and "noresource" tells an RFC 6665 subscriber not to try to subscribe.
  Asterisk sends a bare ``terminated``; pjsua and desk phones ignore the header for
  unsolicited MWI, so the honest form costs nothing.
- A phone that does not take unsolicited MWI answers 404/405/481/489/501: that is logged
  once per binding at info (a configuration fact worth seeing once, not per message) and
  never retried. Other answers and timeouts are logged at debug; the transaction layer
  does the retransmitting (Timer E) and gives up (Timer F) on its own.
- The last counts per extension are remembered, so a phone that registers learns the state
  at once (RFC 3842 §4: the lamp must not wait for the next message). What a NOTIFY needs
  while its transaction runs lives in a small owner object the transaction holds, so it is
  gone when the transaction is.

Wiring (the caller's side): the voicemail store calls ``notify(ext, new, old)`` whenever a
mailbox changes; the registrar path calls ``on_registered(ext, contact)`` AFTER the 200 to
the REGISTER is queued (a phone that has not seen its 200 may not know the account yet:
pjsua then answers 480). ``counts`` in the constructor is the voicemail store's
``(new, old)`` for an extension, used when nothing is remembered yet (after a restart).
With ``subscriptions`` (``mwi_subscriptions``), a change also goes to the subscribers, and
the phones that subscribed get no unsolicited NOTIFY besides (one lamp, one source).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from softswitch.sip.dialog import Dialog, new_call_id, new_tag
from softswitch.sip.endpoint import Event, SipEndpoint
from softswitch.sip.location import Aor, Binding, LocationService
from softswitch.sip.mwi import message_summary, notify_headers
from softswitch.sip.mwi_subscriptions import MwiSubscriptions
from softswitch.sip.transaction import ResponseReceived, TransactionTimedOut, TransportFailed
from softswitch.sip.transport import Flow

__all__ = ["NOT_TAKEN", "Counts", "MwiNotifier"]

log = logging.getLogger("softswitch.sip")

# What a phone answers to a NOTIFY it has no use for: no such user or no handler (404),
# NOTIFY not allowed (405), "no subscription" (481), unknown event package (489, RFC 6665
# §8.2.1), NOTIFY not implemented (501). Retrying would only get the same answer.
NOT_TAKEN = frozenset({404, 405, 481, 489, 501})

Counts = tuple[int, int]  # (new, old) voice messages


class MwiNotifier:
    """Sends message-summary NOTIFYs to an extension's registered phones."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        location: LocationService,
        domain: str,
        wall: Callable[[], float],
        counts: Callable[[str], Counts] | None = None,
        subscriptions: MwiSubscriptions | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.location = location
        self.domain = domain
        self.wall = wall
        self._counts_of = counts
        self.subscriptions = subscriptions
        self._last: dict[str, Counts] = {}  # extension -> last counts sent (or to send)
        # extension -> contacts that said they do not take unsolicited MWI (logged once);
        # pruned to the extension's live bindings on every notify, so it cannot grow.
        self._not_taken: dict[str, set[str]] = {}

    # --- public API ----------------------------------------------------------------------
    def notify(self, extension: str, new: int, old: int) -> int:
        """Tell every phone of ``extension`` about ``new`` unheard and ``old`` heard
        messages; returns how many unsolicited NOTIFYs were sent (0 when no phone is
        registered; the counts are remembered for when one registers). Subscribers get
        theirs in their dialogs, and no unsolicited one besides."""
        body = self._body(extension, new, old)  # validates the counts before remembering
        self._last[extension] = (new, old)
        if self.subscriptions is not None:
            self.subscriptions.notify(extension, new, old)
        bindings = self._bindings(extension)
        self._prune_not_taken(extension, bindings)
        return self._send_all(extension, bindings, body)

    def on_registered(self, extension: str, contact: str | None = None) -> int:
        """A phone of ``extension`` registered: send it the current counts (only the binding
        ``contact`` when given, else every binding). Remembered counts win; without them the
        ``counts`` callable is asked; without either nothing is sent. Returns the count sent."""
        counts = self._last.get(extension)
        if counts is None:
            if self._counts_of is None:
                return 0
            counts = self._counts_of(extension)
        body = self._body(extension, *counts)
        self._last[extension] = counts
        bindings = self._bindings(extension)
        if contact is not None:
            bindings = [b for b in bindings if b.contact == contact]
        return self._send_all(extension, bindings, body)

    def last_counts(self, extension: str) -> Counts | None:
        """The counts last notified (or learnt at registration) for ``extension``."""
        return self._last.get(extension)

    def counts_for(self, extension: str) -> Counts:
        """The best knowledge of ``extension``'s counts: remembered, else the ``counts``
        callable, else none at all (what a new subscription is first told)."""
        counts = self._last.get(extension)
        if counts is None and self._counts_of is not None:
            counts = self._last[extension] = self._counts_of(extension)
        return counts if counts is not None else (0, 0)

    def forget(self, extension: str) -> None:
        """Drop what is remembered for an extension that no longer exists (config reload)."""
        self._last.pop(extension, None)
        self._not_taken.pop(extension, None)

    # --- sending -------------------------------------------------------------------------
    def _bindings(self, extension: str) -> list[Binding]:
        """The extension's live bindings, less the phones that subscribed themselves."""
        bindings = self.location.lookup(Aor(extension), self.wall())
        subs = self.subscriptions
        subscribed = subs.flows(extension) if subs is not None else None
        if subscribed:
            bindings = [b for b in bindings if _flow(b) not in subscribed]
        return bindings

    def _body(self, extension: str, new: int, old: int) -> bytes:
        return message_summary(new, old, f"sip:{extension}@{self.domain}")

    def _send_all(self, extension: str, bindings: list[Binding], body: bytes) -> int:
        # The body is built once per change, whatever the number of phones.
        for binding in bindings:
            self._send(extension, binding, body)
        if bindings:
            self.endpoint.flush()  # out of on_message: put the NOTIFYs on the wire now
        return len(bindings)

    def _send(self, extension: str, binding: Binding, body: bytes) -> None:
        flow = _flow(binding)
        aor = f"<sip:{extension}@{self.domain}>"
        endpoint = self.endpoint
        # The mailbox is the notifier (RFC 3842 §7's example: From is the mailbox URI).
        dialog = Dialog(
            call_id=new_call_id(endpoint.local_host(flow)),
            local_tag=new_tag(),
            remote_tag=None,  # out of dialog: see the module docstring
            local_uri=aor,
            remote_uri=aor,
            remote_target=binding.contact,
            local_contact=endpoint.contact(flow, extension),
            flow=flow,
        )
        request = dialog.request(
            "NOTIFY", endpoint.via(flow), body=body, extra=tuple(notify_headers())
        )
        owner = _Notify(self, extension, binding.contact, request.call_id)
        endpoint.send_request(request, flow, owner)

    # --- answers -------------------------------------------------------------------------
    def _answered(self, notify: _Notify, status: int) -> None:
        if 200 <= status < 300:
            log.debug("%s MWI NOTIFY to %s: %d", notify.call_id, notify.contact, status)
            return
        if status in NOT_TAKEN:
            seen = self._not_taken.setdefault(notify.extension, set())
            if notify.contact not in seen:
                seen.add(notify.contact)
                log.info(
                    "%s phone %s of %s does not take unsolicited MWI (%d): not retried",
                    notify.call_id,
                    notify.contact,
                    notify.extension,
                    status,
                )
                return
        log.debug("%s MWI NOTIFY to %s refused: %d", notify.call_id, notify.contact, status)

    def _prune_not_taken(self, extension: str, bindings: list[Binding]) -> None:
        seen = self._not_taken.get(extension)
        if seen is None:
            return
        seen.intersection_update(b.contact for b in bindings)
        if not seen:
            del self._not_taken[extension]


def _flow(binding: Binding) -> Flow:
    return Flow(binding.transport, binding.source_host, binding.source_port)


class _Notify:
    """The owner of one NOTIFY's client transaction: lives exactly as long as it."""

    __slots__ = ("call_id", "contact", "extension", "notifier")

    def __init__(self, notifier: MwiNotifier, extension: str, contact: str, call_id: str) -> None:
        self.notifier = notifier
        self.extension = extension
        self.contact = contact
        self.call_id = call_id

    def on_txn_event(self, event: Event, now: float) -> None:
        if isinstance(event, ResponseReceived):
            if event.status >= 200:
                self.notifier._answered(self, event.status)
        elif isinstance(event, TransactionTimedOut | TransportFailed):
            log.debug(
                "%s MWI NOTIFY to %s: no answer (%s)",
                self.call_id,
                self.contact,
                type(event).__name__,
            )
