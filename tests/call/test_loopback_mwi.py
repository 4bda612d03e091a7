"""Message-waiting NOTIFYs over real loopback UDP: a real endpoint, phones as plain sockets.

Unsolicited NOTIFYs (``MwiNotifier``): what is sent, where, how often, and what the phone's
answer changes; then subscriptions (``MwiSubscriptions``): SUBSCRIBE, NOTIFY in the dialog,
refresh, unsubscribe, expiry, refusals. Time is virtual (see mwi_harness), so the
retransmission schedule is exact.
"""

from __future__ import annotations

import logging

import pytest
from mwi_harness import DOMAIN, harness, live_notify_owners, notify_of, run_async

from softswitch.sip.mwi import CONTENT_TYPE, MessageCounts, parse_message_summary

# RFC 3261 §17.1.2.2 over UDP: Timer E from T1 = 0.5 s, doubling up to T2 = 4 s, until
# Timer F (64*T1 = 32 s) ends the transaction.
RETRANSMIT_AT = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
TIMER_F = 32.0
TIMER_K = 5.0  # T4: how long a completed non-INVITE client transaction absorbs retransmissions


@run_async
async def test_notify_carries_the_rfc_3842_summary_out_of_dialog() -> None:
    async with harness() as h:
        phone = h.phone()
        h.bind(phone)
        assert h.notifier().notify("1001", 2, 1) == 1
        notify = notify_of(await phone.receive())
        assert notify.uri == phone.contact
        assert notify.get("event") == "message-summary"
        assert notify.get("subscription-state") == "terminated;reason=noresource"
        assert notify.get("content-type") == CONTENT_TYPE
        assert notify.get("to") == f"<sip:1001@{DOMAIN}>"  # no tag: not a dialog's NOTIFY
        assert notify.to.tag is None
        assert notify.from_.uri == f"sip:1001@{DOMAIN}" and notify.from_.tag
        assert notify.get("cseq") == "1 NOTIFY"
        assert notify.get("max-forwards") == "70"
        assert notify.get("contact") == f"<sip:1001@{h.address[0]}:{h.address[1]}>"
        assert notify.via.sent_by == f"{h.address[0]}:{h.address[1]}"
        assert (notify.via.branch or "").startswith("z9hG4bK")
        summary = parse_message_summary(notify.body)
        assert summary.waiting
        assert summary.account == f"sip:1001@{DOMAIN}"
        assert summary.voice == MessageCounts(2, 1)


@run_async
async def test_an_answered_notify_is_not_sent_again_and_its_transaction_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="softswitch.sip")
    async with harness() as h:
        phone = h.phone()
        h.bind(phone)
        h.notifier().notify("1001", 1, 0)
        notify = notify_of(await phone.receive())
        phone.reply(notify, 200, "OK")
        await h.settle(lambda: h.answered(notify, 200))
        for offset in [*RETRANSMIT_AT, TIMER_F]:
            h.fire_timers(offset)
            assert await phone.receive_all() == [], f"sent again at {offset} s"
        assert len(h.endpoint.layer) == 0  # Timer K ran out long ago
        ok = [r for r in caplog.records if notify.call_id in r.getMessage()]
        assert [(r.levelno, "200" in r.getMessage()) for r in ok] == [(logging.DEBUG, True)]


@run_async
async def test_an_unanswered_notify_follows_timer_e_then_gives_up_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="softswitch.sip")
    async with harness() as h:
        phone = h.phone()
        h.bind(phone)
        h.notifier().notify("1001", 3, 0)
        first = await phone.receive()
        for offset in RETRANSMIT_AT:
            h.fire_timers(offset - 0.01)
            assert await phone.receive_all() == [], f"early retransmission before {offset} s"
            h.fire_timers(offset)
            assert await phone.receive_all() == [first], f"no retransmission at {offset} s"
        h.fire_timers(TIMER_F)
        assert await phone.receive_all() == []
        assert len(h.endpoint.layer) == 0
        h.fire_timers(TIMER_F + 60)
        assert await phone.receive_all() == []
    call_id = notify_of(first).call_id
    mine = [r for r in caplog.records if call_id in r.getMessage()]
    assert [r.levelno for r in mine] == [logging.DEBUG]
    assert "no answer (TransactionTimedOut)" in mine[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@run_async
async def test_every_binding_gets_its_own_notify() -> None:
    async with harness() as h:
        desk, soft = h.phone(), h.phone()
        h.bind(desk)
        h.bind(soft)
        assert h.notifier().notify("1001", 0, 4) == 2
        to_desk, to_soft = notify_of(await desk.receive()), notify_of(await soft.receive())
        assert (to_desk.uri, to_soft.uri) == (desk.contact, soft.contact)
        assert to_desk.call_id != to_soft.call_id
        assert to_desk.via.branch != to_soft.via.branch
        assert to_desk.body == to_soft.body
        summary = parse_message_summary(to_desk.body)
        assert not summary.waiting and summary.voice == MessageCounts(0, 4)
        assert await desk.receive_all() == [] and await soft.receive_all() == []


@run_async
async def test_the_notify_goes_where_the_phone_registered_from_not_to_its_contact() -> None:
    async with harness() as h:
        phone = h.phone()
        behind_nat = "sip:1001@192.0.2.77:5060;transport=udp"  # unroutable: a private Contact
        h.bind(phone, contact=behind_nat)
        assert h.notifier().notify("1001", 1, 0) == 1
        notify = notify_of(await phone.receive())
        assert notify.uri == behind_nat


@run_async
async def test_nothing_is_sent_for_an_extension_without_phones() -> None:
    async with harness() as h:
        phone = h.phone("1002")
        h.bind(phone)
        notifier = h.notifier()
        assert notifier.notify("1001", 5, 0) == 0
        assert notifier.last_counts("1001") == (5, 0)
        assert await phone.receive_all() == []
        assert len(h.endpoint.layer) == 0


@run_async
async def test_impossible_counts_are_refused_before_anything_changes() -> None:
    async with harness() as h:
        phone = h.phone()
        h.bind(phone)
        notifier = h.notifier()
        with pytest.raises(ValueError):
            notifier.notify("1001", -1, 0)
        assert notifier.last_counts("1001") is None
        assert await phone.receive_all() == []


@run_async
async def test_a_phone_that_does_not_take_mwi_is_logged_once_and_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="softswitch.sip")
    async with harness() as h:
        phone = h.phone()
        h.bind(phone)
        notifier = h.notifier()
        call_ids = []
        for new in (1, 2):  # a later change is still sent: the phone may be reconfigured
            assert notifier.notify("1001", new, 0) == 1
            notify = notify_of(await phone.receive())
            call_ids.append(notify.call_id)
            phone.reply(notify, 481, "Call/Transaction Does Not Exist")
            await h.settle(lambda n=notify: h.answered(n, 481))  # type: ignore[misc]
            h.fire_timers(TIMER_F * new)
            assert await phone.receive_all() == []
        infos = [r for r in caplog.records if r.levelno == logging.INFO]
        assert len(infos) == 1
        assert call_ids[0] in infos[0].getMessage() and phone.contact in infos[0].getMessage()
        later = [r for r in caplog.records if call_ids[1] in r.getMessage()]
        assert [r.levelno for r in later] == [logging.DEBUG]


@run_async
async def test_other_errors_are_only_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="softswitch.sip")
    async with harness() as h:
        phone = h.phone()
        h.bind(phone)
        h.notifier().notify("1001", 1, 0)
        notify = notify_of(await phone.receive())
        phone.reply(notify, 500, "Server Internal Error")
        await h.settle(lambda: h.answered(notify, 500))
        assert [r.levelno for r in caplog.records if notify.call_id in r.getMessage()] == [
            logging.DEBUG
        ]


@run_async
async def test_a_registering_phone_learns_the_remembered_counts() -> None:
    async with harness() as h:
        notifier = h.notifier()
        assert notifier.notify("1001", 3, 2) == 0  # nobody registered yet
        old, new = h.phone(), h.phone()
        h.bind(old)
        h.bind(new)
        assert notifier.on_registered("1001", new.contact) == 1
        summary = parse_message_summary(notify_of(await new.receive()).body)
        assert summary.waiting and summary.voice == MessageCounts(3, 2)
        assert await old.receive_all() == []  # only the phone that registered
        assert notifier.on_registered("1001") == 2  # without a contact: every phone
        assert len(await old.receive_all()) == 1 and len(await new.receive_all()) == 1


@run_async
async def test_with_nothing_remembered_the_store_is_asked() -> None:
    async with harness() as h:
        phone = h.phone()
        h.bind(phone)
        asked: list[str] = []

        def counts(extension: str) -> tuple[int, int]:
            asked.append(extension)
            return (0, 7)

        notifier = h.notifier(counts)
        assert notifier.on_registered("1001", phone.contact) == 1
        summary = parse_message_summary(notify_of(await phone.receive()).body)
        assert not summary.waiting and summary.voice == MessageCounts(0, 7)
        assert notifier.on_registered("1001", phone.contact) == 1
        assert asked == ["1001"]  # then remembered
        assert len(await phone.receive_all()) == 1
        blind = h.notifier()  # no store, nothing remembered: no guess is sent
        assert blind.on_registered("1001", phone.contact) == 0
        assert await phone.receive_all() == []


@run_async
async def test_nothing_is_kept_for_a_notify_once_its_transaction_ended() -> None:
    async with harness() as h:
        phone = h.phone()
        h.bind(phone)
        h.notifier().notify("1001", 1, 1)
        notify = notify_of(await phone.receive())
        assert live_notify_owners() == 1  # what the transaction holds while it runs
        phone.reply(notify, 200, "OK")
        await h.settle(lambda: h.answered(notify, 200))
        assert live_notify_owners() == 1  # Timer K: the transaction still absorbs copies
        h.fire_timers(TIMER_K)
        assert len(h.endpoint.layer) == 0
        assert live_notify_owners() == 0


# --- subscriptions (MwiSubscriptions, wired as the switch would) ---------------------------


@run_async
async def test_a_subscription_is_answered_then_told_the_counts_in_its_dialog() -> None:
    async with harness() as h:
        notifier, subs = h.with_subscriptions()
        notifier.notify("1001", 2, 0)
        phone = h.phone()
        request = phone.subscribe()
        ok, notify = await phone.response_and_notify()
        assert ok.status == 200 and ok.get("expires") == "600"
        assert ok.to.tag and ok.get("contact") == f"<sip:1001@{h.address[0]}:{h.address[1]}>"
        assert notify.uri == phone.contact
        assert notify.call_id == request.call_id
        assert notify.get("to") == request.get("from")  # the subscriber, with its tag
        assert notify.from_.tag == ok.to.tag
        assert notify.get("event") == "message-summary"
        assert notify.get("subscription-state") == "active;expires=600"
        summary = parse_message_summary(notify.body)
        assert summary.waiting and summary.voice == MessageCounts(2, 0)
        assert summary.account == f"sip:1001@{DOMAIN}"
        assert len(subs) == 1


@run_async
async def test_a_change_reaches_a_subscriber_in_its_dialog_and_not_unsolicited() -> None:
    async with harness() as h:
        notifier, _ = h.with_subscriptions()
        watcher, plain = h.phone(), h.phone()
        h.bind(watcher)
        h.bind(plain)
        _, first = await h.subscribed(watcher)
        assert notifier.notify("1001", 1, 0) == 1  # one unsolicited NOTIFY: the plain phone
        (data,) = await watcher.receive_all()
        change = notify_of(data)
        assert change.call_id == first.call_id and change.cseq.number == first.cseq.number + 1
        assert (change.get("subscription-state") or "").startswith("active;expires=")
        assert parse_message_summary(change.body).voice == MessageCounts(1, 0)
        unsolicited = notify_of(await plain.receive())
        assert unsolicited.to.tag is None


@run_async
async def test_changes_wait_for_the_pending_notify_and_only_the_latest_is_sent() -> None:
    async with harness() as h:
        notifier, _ = h.with_subscriptions()
        phone = h.phone()
        phone.subscribe()
        _, pending = await phone.response_and_notify()
        notifier.notify("1001", 1, 0)
        notifier.notify("1001", 4, 0)
        assert await phone.receive_all() == []  # the first NOTIFY is still unanswered
        phone.reply(pending, 200, "OK")
        latest = notify_of(await phone.receive())
        assert parse_message_summary(latest.body).voice == MessageCounts(4, 0)
        assert latest.cseq.number == pending.cseq.number + 1
        assert await phone.receive_all() == []


@run_async
async def test_refresh_then_unsubscribe() -> None:
    async with harness() as h:
        _, subs = h.with_subscriptions()
        phone = h.phone()
        ok, _ = await h.subscribed(phone)
        tag = ok.to.tag
        phone.subscribe(expires=300, to_tag=tag, cseq=2)
        again, notify = await phone.response_and_notify()
        assert again.status == 200 and again.get("expires") == "300"
        assert notify.get("subscription-state") == "active;expires=300"
        phone.reply(notify, 200, "OK")
        phone.subscribe(expires=0, to_tag=tag, cseq=3)
        bye, last = await phone.response_and_notify()
        assert bye.status == 200 and bye.get("expires") == "0"
        assert last.get("subscription-state") == "terminated;reason=timeout"
        assert len(subs) == 0 and subs.next_deadline() is None
        phone.reply(last, 200, "OK")
        phone.subscribe(to_tag=tag, cseq=4)
        assert (await phone.response()).status == 481


@run_async
async def test_a_subscription_that_is_not_refreshed_expires() -> None:
    async with harness() as h:
        _, subs = h.with_subscriptions()
        phone = h.phone()
        await h.subscribed(phone)
        assert subs.next_deadline() == h.start + 600
        subs.handle_timer(h.start + 599)
        assert await phone.receive_all() == [] and len(subs) == 1
        h.clock.set(h.start + 600)
        subs.handle_timer(h.start + 600)
        (data,) = await phone.receive_all()
        assert notify_of(data).get("subscription-state") == "terminated;reason=timeout"
        assert len(subs) == 0 and subs.next_deadline() is None


@run_async
async def test_a_fetch_gets_one_final_notify_and_keeps_nothing() -> None:
    async with harness() as h:
        notifier, subs = h.with_subscriptions()
        notifier.notify("1001", 0, 3)
        phone = h.phone()
        phone.subscribe(expires=0)
        ok, notify = await phone.response_and_notify()
        assert ok.status == 200 and ok.get("expires") == "0"
        assert notify.get("subscription-state") == "terminated;reason=timeout"
        assert parse_message_summary(notify.body).voice == MessageCounts(0, 3)
        assert len(subs) == 0


@pytest.mark.parametrize(
    ("headers", "expires", "status", "header"),
    [
        ((("event", "presence"),), 600, 489, ("allow-events", "message-summary")),
        ((("event", "message-summary"),), 10, 423, ("min-expires", "60")),
        (
            (("event", "message-summary"), ("accept", "application/pidf+xml")),
            600,
            406,
            ("accept", CONTENT_TYPE),
        ),
    ],
)
@run_async
async def test_subscriptions_it_cannot_serve_are_refused(
    headers: tuple[tuple[str, str], ...], expires: int, status: int, header: tuple[str, str]
) -> None:
    async with harness() as h:
        _, subs = h.with_subscriptions()
        phone = h.phone()
        phone.subscribe(expires=expires, headers=headers)
        response = await phone.response()
        assert response.status == status
        assert response.get(header[0]) == header[1]
        phone.subscribe(to_tag="never-issued", cseq=2)
        assert (await phone.response()).status == 481
        assert len(subs) == 0 and await phone.receive_all() == []


@run_async
async def test_a_refused_notify_ends_the_subscription_and_unsolicited_resumes() -> None:
    async with harness() as h:
        notifier, subs = h.with_subscriptions()
        phone = h.phone()
        h.bind(phone)
        phone.subscribe()
        _, notify = await phone.response_and_notify()
        phone.reply(notify, 481, "Subscription Does Not Exist")
        await h.settle(lambda: len(subs) == 0)
        assert notifier.notify("1001", 1, 0) == 1
        assert notify_of(await phone.receive()).to.tag is None
