"""Registering with a SIP trunk provider over real loopback UDP: ``TrunkClient`` on a real
``SipEndpoint`` against a fake provider, a plain UDP socket in the test that scripts each
answer. The digest the provider checks is computed here with hashlib, independently of
``softswitch.sip.digest_client``.

Every wait is bounded (``WAIT``); the only timers that run for real are short: an Expires of
2 s (the core refreshes half-way, 1 s in) and, where a retry must happen, a back-off base
patched down to 0.2 s.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop
from sipclient import parse_challenge

from softswitch.clock import RealClock
from softswitch.config import Trunk
from softswitch.sip import trunk as trunk_core
from softswitch.sip.endpoint import SipEndpoint
from softswitch.sip.guard import Guard
from softswitch.sip.message import SipMessage, SipRequest, SipResponse, make_response
from softswitch.sip.message import parse_message as parse
from softswitch.sip.transaction import TransactionLayer
from softswitch.sip.transport import Flow
from softswitch.sip.trunk import State
from softswitch.sip.trunk_client import TrunkClient, trunk_clients

HOST = "127.0.0.1"
WAIT = 2.0  # seconds any expected message or state may take
USER, PASSWORD = "trunk1", "pr0veedor-s3cret"
REALM, NONCE = "sip.proveedor.example", "nonce-a1b2c3"
SEED = 7
Address = tuple[str, int]
Header = tuple[str, str]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def run(main: Callable[[], Coroutine[Any, Any, None]], loop: str = "asyncio") -> None:
    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(asyncio.wait_for(main(), 4 * WAIT))


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Poll (bounded) for a state the client reaches on its own timers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not predicate():
        assert loop.time() < deadline, f"not {what} within {WAIT} s"
        await asyncio.sleep(0.01)


class Provider:
    """The provider's registrar: one UDP socket; the test reads each request and answers it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self._inbox: asyncio.Queue[tuple[SipRequest, Address]] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        while True:
            try:
                data, source = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            message = parse(data)
            assert isinstance(message, SipRequest), message
            self._inbox.put_nowait((message, source))

    async def request(self) -> tuple[SipRequest, Address]:
        request, source = await asyncio.wait_for(self._inbox.get(), WAIT)
        assert request.method == "REGISTER"
        return request, source

    async def silent_for(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._inbox.get(), seconds)
        except TimeoutError:
            return True
        return False

    def answer(
        self, request: SipRequest, source: Address, status: int, reason: str, *extra: Header
    ) -> None:
        response = make_response(request, status, reason, to_tag="prov-tag", extra=extra)
        self.sock.sendto(response.to_bytes(), source)

    def close(self) -> None:
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()


class NoRequests:
    """The switch's TU: the provider sends us no requests, and every response has an owner."""

    def on_request(self, *args: object) -> None:
        raise AssertionError(f"unexpected request {args}")

    def on_ack(self, *args: object) -> None:
        raise AssertionError(f"unexpected ACK {args}")

    def on_cancel(self, *args: object) -> None:
        raise AssertionError(f"unexpected CANCEL {args}")

    def on_stray_response(self, response: SipResponse, flow: Flow, now: float) -> None:
        raise AssertionError(f"a response no transaction wanted: {response}")


async def switch_endpoint(public_address: str | None = None) -> SipEndpoint:
    endpoint = SipEndpoint(
        clock=RealClock(),
        guard=Guard(),
        layer=TransactionLayer[SipMessage, Flow](),
        max_size=65535,
        public_address=public_address,
    )
    endpoint.tu = NoRequests()
    await endpoint.listen("udp", HOST, 0)
    return endpoint


def udp_port(endpoint: SipEndpoint) -> int:
    return next(port for kind, _, port in endpoint.transport.bound if kind == "udp")


def a_trunk(port: int, *, host: str = HOST, transport: str = "udp", register: bool = True) -> Trunk:
    return Trunk(
        name="proveedor",
        host=host,
        port=port,
        transport=transport,  # type: ignore[arg-type]
        username=USER,
        password=PASSWORD,
        register=register,
        inbound_from=(),
    )


def challenge() -> Header:
    value = f'Digest realm="{REALM}", nonce="{NONCE}", algorithm=MD5, qop="auth", opaque="op-1"'
    return ("www-authenticate", value)


def assert_answers_the_challenge(request: SipRequest) -> None:
    """The Authorization a real provider would accept, recomputed here from the password."""
    value = request.get("authorization")
    assert value is not None, "the challenge was not answered"
    auth = parse_challenge(value)
    assert (auth["username"], auth["realm"], auth["nonce"]) == (USER, REALM, NONCE)
    assert auth["uri"] == request.uri  # the Request-URI exactly as sent
    assert (auth["qop"], auth["nc"], auth["algorithm"], auth["opaque"]) == (
        "auth",
        "00000001",
        "MD5",
        "op-1",
    )
    ha1 = md5(f"{USER}:{REALM}:{PASSWORD}")
    ha2 = md5(f"REGISTER:{request.uri}")
    expected = md5(f"{ha1}:{NONCE}:00000001:{auth['cnonce']}:auth:{ha2}")
    assert auth["response"] == expected


# ------------------------------------------------------------------------------- the cycle


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_challenge_answered_binding_refreshed_and_removed_on_stop(
    loop: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="softswitch.sip")

    async def main() -> None:
        endpoint, provider = await switch_endpoint(), Provider()
        switch_port = udp_port(endpoint)
        client = TrunkClient(endpoint, a_trunk(provider.port), rng=random.Random(SEED))
        await client.start()

        first, source = await provider.request()
        assert source == (HOST, switch_port)  # from the switch's own SIP socket
        assert first.uri == f"sip:{HOST}:{provider.port}"
        assert first.get("contact") == f"<sip:{USER}@{HOST}:{switch_port}>"
        assert first.get("to") == f"<sip:{USER}@{HOST}>"
        assert first.get("expires") == "3600"
        assert first.get("authorization") is None  # never credentials before a challenge
        assert client.status().state is State.REGISTERING
        provider.answer(first, source, 401, "Unauthorized", challenge())

        second, source = await provider.request()
        assert_answers_the_challenge(second)
        assert (second.call_id, second.cseq.number) == (first.call_id, first.cseq.number + 1)
        assert second.via.branch != first.via.branch  # a new transaction
        contact = first.get("contact") or ""
        provider.answer(second, source, 200, "OK", ("contact", contact), ("expires", "2"))
        await until(lambda: client.state is State.REGISTERED, "registered")

        # Granted 2 s: the refresh is due half-way, 1 s after the 200 was taken in.
        change = client.last_change
        assert change is not None and change.new is State.REGISTERED
        assert client.registration is not None
        assert client.registration.next_deadline() == change.at + 1.0
        refresh, source = await provider.request()
        assert (refresh.call_id, refresh.cseq.number) == (first.call_id, first.cseq.number + 2)
        assert refresh.from_.tag == first.from_.tag
        assert refresh.get("authorization") is None  # a new attempt: no stale credentials
        assert refresh.get("expires") == "3600"  # asks again for what it wants
        provider.answer(refresh, source, 200, "OK", ("expires", "2"))
        await until(lambda: client.state is State.REGISTERED, "registered again")

        stopping = asyncio.create_task(client.stop())
        unregister, source = await provider.request()
        assert unregister.get("expires") == "0"
        assert unregister.get("contact") == first.get("contact")
        assert unregister.cseq.number == first.cseq.number + 3
        assert not stopping.done()  # stop() waits for the answer
        provider.answer(unregister, source, 200, "OK")
        await asyncio.wait_for(stopping, WAIT)
        assert client.state is State.IDLE
        assert await provider.silent_for(0.1)
        provider.close()
        await endpoint.close()

    run(main, loop)
    lines = [r.getMessage() for r in caplog.records if "trunk proveedor" in r.getMessage()]
    assert "- trunk proveedor: registered: 200 OK; granted 2 s, refresh in 1 s" in lines
    assert lines[-1] == "- trunk proveedor: unregistered: 200 OK"


def test_contact_carries_the_public_address_when_one_is_set() -> None:
    async def main() -> None:
        endpoint, provider = await switch_endpoint("203.0.113.5"), Provider()
        client = TrunkClient(endpoint, a_trunk(provider.port), rng=random.Random(SEED))
        await client.start()
        request, source = await provider.request()
        assert request.get("contact") == f"<sip:{USER}@203.0.113.5:{udp_port(endpoint)}>"
        provider.answer(request, source, 200, "OK", ("expires", "60"))
        await until(lambda: client.state is State.REGISTERED, "registered")
        stopping = asyncio.create_task(client.stop())
        unregister, source = await provider.request()
        provider.answer(unregister, source, 200, "OK")
        await asyncio.wait_for(stopping, WAIT)
        provider.close()
        await endpoint.close()

    run(main)


# ------------------------------------------------------------------------------- failures


def test_403_fails_and_the_retry_waits_the_cores_seeded_back_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="softswitch.sip")

    async def main() -> None:
        endpoint, provider = await switch_endpoint(), Provider()
        client = TrunkClient(endpoint, a_trunk(provider.port), rng=random.Random(SEED))
        await client.start()
        request, source = await provider.request()
        provider.answer(request, source, 403, "Forbidden")
        await until(lambda: client.state is State.FAILED, "failed")

        # 10 s times the first jitter draw of the seeded generator, from the 403's arrival.
        delay = 10.0 * (1.0 - 0.2 * random.Random(SEED).random())
        change = client.last_change
        assert change is not None and client.registration is not None
        assert client.registration.next_deadline() == change.at + delay
        assert client.reason == f"registration failed: 403 Forbidden; retry in {delay:.1f} s"
        assert client.status().bound_until is None
        # Nothing was ever bound: stop() has nothing to remove and returns at once.
        await asyncio.wait_for(client.stop(), WAIT)
        assert client.state is State.IDLE
        assert await provider.silent_for(0.2)
        provider.close()
        await endpoint.close()

    run(main)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("- trunk proveedor: registration failed: 403 Forbidden; retry")


def test_after_a_failure_the_provider_is_looked_up_again_and_the_retry_goes_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trunk_core, "BACKOFF_BASE", 0.2)  # the retry within the test

    async def main() -> None:
        endpoint, old, new = await switch_endpoint(), Provider(), Provider()
        lookups: list[tuple[str, int, int]] = []

        async def dns(host: str, port: int, family: int) -> tuple[str, int]:
            lookups.append((host, port, family))
            return (HOST, old.port if len(lookups) == 1 else new.port)

        trunk = a_trunk(5060, host="sip.proveedor.example")
        client = TrunkClient(endpoint, trunk, rng=random.Random(SEED), resolver=dns)
        await client.start()
        request, source = await old.request()
        assert request.uri == "sip:sip.proveedor.example"  # the name, port 5060 implied
        assert request.get("to") == f"<sip:{USER}@sip.proveedor.example>"
        old.answer(request, source, 503, "Service Unavailable")

        retry, source = await new.request()
        assert lookups == [("sip.proveedor.example", 5060, socket.AF_INET)] * 2
        assert (retry.call_id, retry.cseq.number) == (request.call_id, request.cseq.number + 1)
        new.answer(retry, source, 200, "OK", ("expires", "60"))
        await until(lambda: client.state is State.REGISTERED, "registered")
        assert client.status().provider == f"udp:{HOST}:{new.port}"
        assert await old.silent_for(0.05)
        await client.stop(wait=0.05)  # unanswered: the bound is what is tested here
        for provider in (old, new):
            provider.close()
        await endpoint.close()

    run(main)


def test_a_failed_first_lookup_is_retried_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trunk_core, "BACKOFF_BASE", 0.2)

    async def main() -> None:
        endpoint, provider = await switch_endpoint(), Provider()
        answers: list[tuple[str, int] | OSError] = [
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            (HOST, provider.port),
        ]

        async def dns(host: str, port: int, family: int) -> tuple[str, int]:
            answer = answers.pop(0)
            if isinstance(answer, OSError):
                raise answer
            return answer

        trunk = a_trunk(5080, host="sip.proveedor.example")
        client = TrunkClient(endpoint, trunk, rng=random.Random(SEED), resolver=dns)
        await client.start()
        assert client.state is State.FAILED
        assert client.reason.startswith(
            "registration failed: cannot resolve sip.proveedor.example: Name or service not known"
        )
        assert client.registration is None and client.flow is None

        request, source = await provider.request()
        assert answers == []
        assert request.uri == "sip:sip.proveedor.example:5080"
        provider.answer(request, source, 200, "OK", ("expires", "60"))
        await until(lambda: client.state is State.REGISTERED, "registered")
        await client.stop(wait=0.05)
        provider.close()
        await endpoint.close()

    run(main)


def test_stop_waits_for_an_unanswered_unregister_only_so_long(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="softswitch.sip")

    async def main() -> None:
        endpoint, provider = await switch_endpoint(), Provider()
        client = TrunkClient(endpoint, a_trunk(provider.port), rng=random.Random(SEED))
        await client.start()
        request, source = await provider.request()
        provider.answer(request, source, 200, "OK", ("expires", "60"))
        await until(lambda: client.state is State.REGISTERED, "registered")
        await asyncio.wait_for(client.stop(wait=0.3), WAIT)
        unregister, _ = await provider.request()  # sent, never answered
        assert unregister.get("expires") == "0"
        assert client.state is State.UNREGISTERING
        provider.close()
        await endpoint.close()

    run(main)
    assert (
        "- trunk proveedor: no answer to the unregister in 0.3 s; the binding lapses by itself"
        in caplog.messages
    )


# ------------------------------------------------------------------------------- what registers


def test_only_register_true_trunks_get_a_client_and_tcp_is_skipped_clearly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="softswitch.sip")

    async def main() -> None:
        endpoint, provider = await switch_endpoint(), Provider()
        trunks = [
            a_trunk(provider.port, register=False),
            a_trunk(provider.port, transport="tcp"),
        ]
        clients = trunk_clients(endpoint, trunks)
        assert [c.trunk for c in clients] == [trunks[1]]
        client = clients[0]
        await client.start()
        assert client.state is State.IDLE
        assert client.reason == "not registering: registration over TCP is not supported (UDP only)"
        assert await provider.silent_for(0.2)
        await client.stop()  # nothing to undo
        assert client.state is State.IDLE
        provider.close()
        await endpoint.close()

    run(main)
    assert caplog.messages == [
        "- trunk proveedor: not registering: registration over TCP is not supported (UDP only)"
    ]
