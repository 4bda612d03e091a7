"""A call's media: one RTP endpoint per side on the switch, relayed to each other."""

from __future__ import annotations

from softswitch.rtp.transport import RtpEndpoint, RtpRelay


class CallMedia:
    """Leg A's and leg B's port pairs, linked so each side's packets reach the other."""

    def __init__(self, relay: RtpRelay, a: RtpEndpoint, b: RtpEndpoint) -> None:
        self._relay = relay
        self.a = a
        self.b = b
        self._closed = False
        relay.link(a, b)

    @classmethod
    async def open(cls, relay: RtpRelay) -> CallMedia:
        a = await relay.open_endpoint()
        try:
            b = await relay.open_endpoint()
        except BaseException:
            relay.close_endpoint(a)
            raise
        return cls(relay, a, b)

    @property
    def a_port(self) -> int:
        return self.a.local_port

    @property
    def b_port(self) -> int:
        return self.b.local_port

    def port(self, side: str) -> int:
        return self.a.local_port if side == "a" else self.b.local_port

    def set_remote(self, side: str, target: tuple[str, int] | None) -> None:
        endpoint = self.a if side == "a" else self.b
        if target is None:
            endpoint.set_remote("0.0.0.0", None)
        else:
            endpoint.set_remote(target[0], target[1])

    def set_a_remote(self, target: tuple[str, int] | None) -> None:
        self.set_remote("a", target)

    def set_b_remote(self, target: tuple[str, int] | None) -> None:
        self.set_remote("b", target)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._relay.close_endpoint(self.a)
        self._relay.close_endpoint(self.b)
