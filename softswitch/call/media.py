"""A call's media: one RTP endpoint per side on the switch, relayed to each other."""

from __future__ import annotations

from softswitch.rtp.offer_answer import media_target, rtcp_target
from softswitch.rtp.sdp import SessionDescription
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

    @classmethod
    def open_now(cls, relay: RtpRelay) -> CallMedia | None:
        """Media from parked endpoints without awaiting, or None if two are not ready."""
        a = relay.take_parked()
        if a is None:
            return None
        b = relay.take_parked()
        if b is None:
            relay.close_endpoint(a)  # back to the pool
            return None
        return cls(relay, a, b)

    @property
    def a_port(self) -> int:
        return self.a.local_port

    @property
    def b_port(self) -> int:
        return self.b.local_port

    def port(self, side: str) -> int:
        return self.a.local_port if side == "a" else self.b.local_port

    def set_remote(self, side: str, sdp: SessionDescription) -> None:
        """Point one side at where its phone wants RTP/RTCP, from an SDP it sent."""
        endpoint = self.a if side == "a" else self.b
        target = media_target(sdp)
        if target is None:
            endpoint.set_remote("0.0.0.0", None)  # stream disabled: send nothing
        else:
            endpoint.set_remote(target[0], target[1], rtcp=rtcp_target(sdp))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._relay.close_endpoint(self.a)
        self._relay.close_endpoint(self.b)
