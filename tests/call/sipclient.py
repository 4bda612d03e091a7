"""A small scripted SIP user agent for loopback tests of the running switch.

Blocking sockets with bounded timeouts: the test thread plays the phone while the switch runs
elsewhere (a thread or a subprocess). Messages are built and parsed with
``softswitch.sip.message``; everything a phone computes itself (digest responses, SDP, RTP
packets) is computed here independently of the server's code, so a server bug cannot hide
behind a shared helper.

A peer only ever sends to the switch's address: tests that register a bogus Contact rely on
the switch reaching the peer at its real source address, never on us sending there.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from softswitch.errors import SipParseError
from softswitch.sip.message import SipMessage, SipRequest, SipResponse, parse_message

Address = tuple[str, int]
Header = tuple[str, str]
Match = Callable[[SipMessage], bool]

DEFAULT_TIMEOUT = 3.0  # seconds a peer waits for an expected message before failing
_CHALLENGE_PARAM = re.compile(r'([A-Za-z0-9-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_RTP_HEADER = struct.Struct("!BBHII")


# ------------------------------------------------------------------------- digest


def parse_challenge(value: str) -> dict[str, str]:
    """``Digest realm="x", nonce="y", ...`` -> {"realm": "x", ...} (names lower-cased)."""
    scheme, _, rest = value.strip().partition(" ")
    assert scheme.lower() == "digest", value
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }


def _hash(algorithm: str, text: str) -> str:
    name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm.upper()]
    return hashlib.new(name, text.encode()).hexdigest()


def digest_authorization(
    challenge: dict[str, str],
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """An Authorization value for qop=auth (RFC 7616 §3.4.1, RFC 2617 §3.2.2)."""
    algorithm = challenge.get("algorithm", "MD5")
    realm, nonce = challenge["realm"], challenge["nonce"]
    cnonce = cnonce or secrets.token_hex(8)
    nc_text = f"{nc:08x}"
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    ha2 = _hash(algorithm, f"{method}:{uri}")
    response = _hash(algorithm, f"{ha1}:{nonce}:{nc_text}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm={algorithm}, cnonce="{cnonce}", qop=auth, '
        f"nc={nc_text}"
    )


def pick_challenge(response: SipResponse, header: str, algorithm: str) -> dict[str, str]:
    """The challenge of ``response`` offering ``algorithm``."""
    for value in response.get_all(header):
        params = parse_challenge(value)
        if params.get("algorithm", "MD5").upper() == algorithm.upper():
            return params
    raise AssertionError(f"no {algorithm} challenge in {response.get_all(header)}")


# ---------------------------------------------------------------------------- SDP


def make_sdp(rtp_port: int, direction: str = "sendrecv", version: int = 1) -> bytes:
    """A phone's audio offer/answer: PCMU, PCMA and telephone-event on 127.0.0.1."""
    lines = [
        "v=0",
        f"o=peer 4242 {version} IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        f"a={direction}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass(frozen=True, slots=True)
class SdpView:
    """What the tests look at in an SDP body: where audio goes, and its direction."""

    host: str
    port: int
    payloads: tuple[str, ...]
    direction: str


def read_sdp(body: bytes) -> SdpView:
    """The audio stream of a one-stream SDP: a media-level c= (after m=) beats the session's."""
    host, port, direction = "", 0, "sendrecv"
    payloads: tuple[str, ...] = ()
    for line in body.decode().splitlines():
        if line.startswith("c=IN IP4 "):
            host = line.split()[-1]
        elif line.startswith("m=audio "):
            parts = line.split()
            port, payloads = int(parts[1]), tuple(parts[3:])
        elif line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
            direction = line[2:]
    return SdpView(host, port, payloads, direction)


# ---------------------------------------------------------------------------- RTP


def rtp_packet(seq: int, timestamp: int, ssrc: int, payload: bytes, pt: int = 0) -> bytes:
    return _RTP_HEADER.pack(0x80, pt & 0x7F, seq & 0xFFFF, timestamp, ssrc) + payload


class RtpSocket:
    """A phone's RTP socket: sends packets to one address, receives with a timeout."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port: int = self.sock.getsockname()[1]

    def send(self, data: bytes, dest: Address) -> None:
        self.sock.sendto(data, dest)

    def receive(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[bytes]:
        """Exactly ``count`` packets (fewer only if ``timeout`` runs out)."""
        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            out.append(data)
        return out

    def close(self) -> None:
        self.sock.close()


# ---------------------------------------------------------------------------- peers

_counter = itertools.count(1)


def new_tag() -> str:
    return secrets.token_hex(4)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


@dataclass
class Dialog:
    """One side's view of a dialog: what in-dialog requests need."""

    call_id: str
    local: str  # our From value (with tag) for requests we send
    remote: str  # the To value (with tag) for requests we send
    target: str  # Request-URI: the peer's Contact
    cseq: int
    last_invite: SipRequest | None = None
    extra: list[Header] = field(default_factory=list)


class SipPeer:
    """A scripted SIP phone on one UDP socket or one TCP connection to the switch."""

    def __init__(
        self,
        server: Address,
        *,
        user: str,
        password: str = "",
        host: str = "127.0.0.1",
        transport: str = "udp",
        domain: str = "127.0.0.1",
        contact_host: str | None = None,
    ) -> None:
        self.server = server
        self.user = user
        self.password = password
        self.domain = domain
        self.transport = transport
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((host, 0))
        else:
            self.sock = socket.create_connection(
                server, timeout=DEFAULT_TIMEOUT, source_address=(host, 0)
            )
        self.local: Address = self.sock.getsockname()[:2]
        self.contact_host = contact_host  # a Contact that lies about our address (NAT tests)
        self.inbox: list[SipMessage] = []
        self.received: list[tuple[float, bytes]] = []  # every raw message, with arrival time
        self.pongs = 0  # CRLF keep-alive answers seen on TCP
        self.unparsed: list[bytes] = []  # whatever arrived that is not a SIP message
        self._stream = bytearray()
        self.cseq = 0  # of our REGISTERs, which share one Call-ID per call of register()

    # --- addressing ------------------------------------------------------------------
    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    def contact_uri(self, user: str | None = None) -> str:
        hostport = self.contact_host or "{}:{}".format(*self.local)
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{user or self.user}@{hostport}{suffix}"

    def uri(self, user: str) -> str:
        return f"sip:{user}@{self.domain}:{self.server[1]}"

    def via(self, branch: str | None = None) -> str:
        host, port = self.local
        proto = self.transport.upper()
        return f"SIP/2.0/{proto} {host}:{port};branch={branch or new_branch()};rport"

    # --- building ----------------------------------------------------------------------
    def request(
        self,
        method: str,
        uri: str,
        *,
        to: str | None = None,
        from_: str | None = None,
        call_id: str | None = None,
        cseq: int = 1,
        headers: Iterable[Header] = (),
        body: bytes = b"",
        content_type: str | None = None,
        contact: bool = True,
        display: str | None = None,
    ) -> SipRequest:
        name = f'"{display}" ' if display else ""
        hdrs: list[Header] = [
            ("via", self.via()),
            ("max-forwards", "70"),
            ("from", from_ or f"{name}<{self.aor}>;tag={new_tag()}"),
            ("to", to or f"<{uri}>"),
            ("call-id", call_id or f"{secrets.token_hex(8)}-{next(_counter)}@test"),
            ("cseq", f"{cseq} {method}"),
        ]
        if contact and method not in ("ACK", "CANCEL", "BYE"):
            hdrs.append(("contact", f"<{self.contact_uri()}>"))
        base = len(hdrs)
        for given, value in headers:
            # A header given here replaces the default of that name (e.g. Max-Forwards);
            # repeated ones (several Contacts) are all kept.
            name = given.lower()
            at = [i for i, (n, _) in enumerate(hdrs[:base]) if n == name]
            if at:
                hdrs[at[0]] = (name, value)
            else:
                hdrs.append((name, value))
        if body:
            hdrs.append(("content-type", content_type or "application/sdp"))
        return SipRequest(method, uri, hdrs, body)

    def again(
        self, request: SipRequest, *, cseq: int, headers: Iterable[Header] = ()
    ) -> SipRequest:
        """The same request with a new branch and CSeq (a retry after a challenge)."""
        hdrs = [(n, v) for n, v in request.headers if n not in ("via", "cseq")]
        hdrs.insert(0, ("via", self.via()))
        hdrs.insert(4, ("cseq", f"{cseq} {request.method}"))
        hdrs.extend(headers)
        return SipRequest(request.method, request.uri, hdrs, request.body)

    # --- I/O -------------------------------------------------------------------------------
    def send(self, message: SipMessage | bytes) -> None:
        data = message if isinstance(message, bytes) else message.to_bytes()
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def _read(self, timeout: float) -> list[bytes]:
        """Raw messages that arrive within ``timeout`` (possibly none)."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            if self.transport == "udp":
                data, _ = self.sock.recvfrom(65535)
                return [data]
            chunk = self.sock.recv(65535)
        except TimeoutError:
            return []
        if not chunk:
            raise ConnectionError("the switch closed the connection")
        self._stream += chunk
        return self._frame()

    def _frame(self) -> list[bytes]:
        out: list[bytes] = []
        buf = self._stream
        while buf:
            if buf.startswith(b"\r\n"):
                del buf[:2]
                self.pongs += 1
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buf[:end]).decode(errors="replace")
            match = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            total = end + 4 + (int(match.group(1)) if match else 0)
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
        return out

    def _pump(self, timeout: float) -> bool:
        """Read what arrives within ``timeout`` into the inbox; False if nothing came."""
        raws = self._read(timeout)
        now = time.monotonic()
        for raw in raws:
            self.received.append((now, raw))
            try:
                self.inbox.append(parse_message(raw, stream=self.transport != "udp"))
            except SipParseError:
                self.unparsed.append(raw)  # kept for assertions, never matched
        return bool(raws)

    def wait_for(
        self, match: Match, timeout: float = DEFAULT_TIMEOUT, what: str = ""
    ) -> SipMessage:
        """The first message (queued or arriving within ``timeout``) that ``match`` accepts;
        others stay queued for later waits."""
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.inbox):
                if match(message):
                    return self.inbox.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{self.user}@{self.local}: no {what or 'matching message'} within "
                    f"{timeout}s; queued: {self.inbox!r}"
                )
            self._pump(left)

    def collect(self, duration: float) -> list[SipMessage]:
        """Everything queued plus what arrives during ``duration`` seconds (inbox emptied)."""
        deadline = time.monotonic() + duration
        while (left := deadline - time.monotonic()) > 0:
            self._pump(left)
        out, self.inbox = self.inbox, []
        return out

    def silent_for(self, duration: float) -> bool:
        """True if nothing at all (SIP or not) arrives for ``duration`` seconds."""
        before = len(self.received)
        return not self.collect(duration) and len(self.received) == before

    def response(
        self,
        request: SipRequest,
        timeout: float = DEFAULT_TIMEOUT,
        final: bool = True,
        status: int | None = None,
    ) -> SipResponse:
        """The next response to ``request`` (by Call-ID and CSeq): a final one by default,
        any with ``final=False``, or the one with ``status``."""

        def match(m: SipMessage) -> bool:
            return (
                isinstance(m, SipResponse)
                and m.call_id == request.call_id
                and m.cseq.number == request.cseq.number
                and m.cseq.method == request.method
                and (m.status == status if status else m.status >= 200 or not final)
            )

        got = self.wait_for(match, timeout, f"{status or ''} response to {request.method}")
        assert isinstance(got, SipResponse)
        return got

    def provisional(self, request: SipRequest, status: int) -> SipResponse:
        return self.response(request, status=status)

    def expect_request(
        self, method: str, timeout: float = DEFAULT_TIMEOUT, call_id: str | None = None
    ) -> SipRequest:
        def match(m: SipMessage) -> bool:
            return (
                isinstance(m, SipRequest)
                and m.method == method
                and (call_id is None or m.call_id == call_id)
            )

        got = self.wait_for(match, timeout, f"{method} request")
        assert isinstance(got, SipRequest)
        return got

    def transact(self, request: SipRequest, timeout: float = DEFAULT_TIMEOUT) -> SipResponse:
        self.send(request)
        return self.response(request, timeout)

    # --- UAS side ------------------------------------------------------------------------
    def reply(
        self,
        request: SipRequest,
        status: int,
        reason: str = "",
        *,
        to_tag: str | None = None,
        headers: Iterable[Header] = (),
        body: bytes = b"",
    ) -> SipResponse:
        """Answer a request received from the switch (copies Via/From/To/Call-ID/CSeq)."""
        hdrs: list[Header] = []
        for name, value in request.headers:
            if name == "to" and to_tag is not None and ";tag=" not in value:
                hdrs.append((name, f"{value};tag={to_tag}"))
            elif name in ("via", "from", "to", "call-id", "cseq"):
                hdrs.append((name, value))
        if 100 < status < 300 and request.method == "INVITE":
            hdrs.append(("contact", f"<{self.contact_uri()}>"))
        hdrs.extend(headers)
        if body:
            hdrs.append(("content-type", "application/sdp"))
        response = SipResponse(status, reason or _REASONS.get(status, "Whatever"), hdrs, body)
        self.send(response)
        return response

    # --- registration ----------------------------------------------------------------------
    def register(
        self,
        *,
        expires: int | None = 300,
        contacts: Iterable[str] | None = None,
        password: str | None = None,
        username: str | None = None,
        algorithm: str = "MD5",
        call_id: str | None = None,
        headers: Iterable[Header] = (),
    ) -> SipResponse:
        """REGISTER, answer the 401 with digest credentials, return the final response.

        ``contacts`` are full Contact values (default: ours); an empty list queries.
        """
        call_id = call_id or f"reg-{secrets.token_hex(6)}@test"
        hdrs: list[Header] = [
            ("contact", c)
            for c in (contacts if contacts is not None else [f"<{self.contact_uri()}>"])
        ]
        if expires is not None:
            hdrs.append(("expires", str(expires)))
        hdrs.extend(headers)
        uri = f"sip:{self.domain}"
        self.cseq += 1
        first = self.request(
            "REGISTER",
            uri,
            to=f"<{self.aor}>",
            call_id=call_id,
            cseq=self.cseq,
            headers=hdrs,
            contact=False,
        )
        challenge = self.transact(first)
        if challenge.status != 401:
            return challenge
        params = pick_challenge(challenge, "www-authenticate", algorithm)
        auth = digest_authorization(
            params,
            method="REGISTER",
            uri=uri,
            username=username or self.user,
            password=self.password if password is None else password,
        )
        self.cseq += 1
        second = self.again(first, cseq=self.cseq, headers=[("authorization", auth)])
        return self.transact(second)

    # --- calls (UAC) -----------------------------------------------------------------------
    def invite(
        self,
        callee: str,
        sdp: bytes,
        *,
        display: str | None = None,
        headers: Iterable[Header] = (),
        authenticate: bool = True,
    ) -> SipRequest:
        """Send an INVITE; with ``authenticate`` answer the 407 and return the retried INVITE
        (the caller then reads its 100/180/200 with ``provisional``/``response``)."""
        uri = self.uri(callee)
        invite = self.request(
            "INVITE",
            uri,
            body=sdp,
            display=display,
            headers=headers,
        )
        if not authenticate:
            self.send(invite)
            return invite
        challenge = self.transact(invite)
        assert challenge.status == 407, f"expected 407, got {challenge!r}"
        self.send(self.ack_for_failure(invite, challenge))
        params = pick_challenge(challenge, "proxy-authenticate", "MD5")
        auth = digest_authorization(
            params, method="INVITE", uri=uri, username=self.user, password=self.password
        )
        retry = self.again(
            invite, cseq=invite.cseq.number + 1, headers=[("proxy-authorization", auth)]
        )
        self.send(retry)
        return retry

    def ack_for_failure(self, invite: SipRequest, response: SipResponse) -> SipRequest:
        """The ACK of a non-2xx final response: same branch as the INVITE (§17.1.1.3)."""
        hdrs: list[Header] = [
            ("via", invite.get("via") or ""),
            ("max-forwards", "70"),
            ("from", invite.get("from") or ""),
            ("to", response.get("to") or ""),
            ("call-id", invite.call_id),
            ("cseq", f"{invite.cseq.number} ACK"),
        ]
        return SipRequest("ACK", invite.uri, hdrs)

    def cancel_for(self, invite: SipRequest) -> SipRequest:
        hdrs: list[Header] = [
            ("via", invite.get("via") or ""),
            ("max-forwards", "70"),
            ("from", invite.get("from") or ""),
            ("to", invite.get("to") or ""),
            ("call-id", invite.call_id),
            ("cseq", f"{invite.cseq.number} CANCEL"),
        ]
        return SipRequest("CANCEL", invite.uri, hdrs)

    def answered_call(self, callee: str, rtp_port: int) -> tuple[SipRequest, Dialog, SipResponse]:
        """As a trunk (no digest, SDP at our own address): call ``callee``, expect the switch
        to answer it (200), ACK; the INVITE, the dialog and the 200."""
        sdp = make_sdp(rtp_port).replace(b"127.0.0.1", self.local[0].encode())
        invite = self.invite(callee, sdp, authenticate=False)
        ok = self.response(invite)
        assert ok.status == 200, f"{callee}: expected the switch to answer, got {ok.status}"
        dialog = self.uac_dialog(invite, ok)
        self.ack_2xx(dialog)
        return invite, dialog, ok

    def uac_dialog(self, invite: SipRequest, ok: SipResponse) -> Dialog:
        contact = ok.get("contact")
        assert contact is not None, "2xx without Contact"
        target = contact.strip().split(">")[0].lstrip("<")
        return Dialog(
            invite.call_id,
            invite.get("from") or "",
            ok.get("to") or "",
            target,
            invite.cseq.number,
            invite,
        )

    def uas_dialog(self, invite: SipRequest, to_tag: str) -> Dialog:
        contact = invite.get("contact")
        assert contact is not None, "INVITE without Contact"
        target = contact.strip().split(">")[0].lstrip("<")
        return Dialog(
            invite.call_id,
            f"{invite.get('to')};tag={to_tag}",
            invite.get("from") or "",
            target,
            0,
            invite,
        )

    def in_dialog(
        self,
        dialog: Dialog,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        cseq: int | None = None,
    ) -> SipRequest:
        if cseq is None:
            dialog.cseq += 1
            cseq = dialog.cseq
        hdrs: list[Header] = [
            ("via", self.via()),
            ("max-forwards", "70"),
            ("from", dialog.local),
            ("to", dialog.remote),
            ("call-id", dialog.call_id),
            ("cseq", f"{cseq} {method}"),
        ]
        if method in ("INVITE", "UPDATE"):
            hdrs.append(("contact", f"<{self.contact_uri()}>"))
        if body:
            hdrs.append(("content-type", content_type or "application/sdp"))
        request = SipRequest(method, dialog.target, hdrs, body)
        if method == "INVITE":
            dialog.last_invite = request
        return request

    def ack_2xx(self, dialog: Dialog, cseq: int | None = None) -> SipRequest:
        number = (
            cseq
            if cseq is not None
            else (dialog.last_invite.cseq.number if dialog.last_invite else dialog.cseq)
        )
        ack = self.in_dialog(dialog, "ACK", cseq=number)
        self.send(ack)
        return ack

    def close(self) -> None:
        self.sock.close()


_REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    486: "Busy Here",
    487: "Request Terminated",
    603: "Decline",
}
