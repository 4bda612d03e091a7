"""Reloading the config of a running switch over real sockets: a broken file is refused with
every problem listed while a call in progress keeps its audio; a good one takes effect for the
next call (a new extension registers and is called) and the call in progress goes on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sipclient import RtpSocket, SipPeer, make_sdp, new_tag, read_sdp, rtp_packet

from softswitch.cli import main

if TYPE_CHECKING:
    from conftest import Phones, RunningSwitch


def _relays(p: Phones, media: tuple[str, int], seq: int) -> bool:
    """One packet from the caller reaches the callee, untouched."""
    packet = rtp_packet(seq, 160 * seq, 0x1111, bytes([seq % 256]) * 160)
    p.caller_rtp.send(packet, media)
    return p.callee_rtp.receive(1) == [packet]


def _call(p: Phones) -> tuple[str, int]:
    """1001 calls 1002, who answers: where the caller's RTP goes."""
    invite = p.caller.invite("1002", make_sdp(p.caller_rtp.port))
    incoming = p.callee.expect_request("INVITE")
    p.callee.reply(incoming, 200, to_tag=new_tag(), body=make_sdp(p.callee_rtp.port))
    ok = p.caller.response(invite)
    assert ok.status == 200
    p.caller.ack_2xx(p.caller.uac_dialog(invite, ok))
    media = read_sdp(ok.body)
    return media.host, media.port


def _reload(
    sw: RunningSwitch, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, str, str]:
    code = main(["reload", *flags, "--config", str(sw.config_path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_broken_config_is_refused_and_a_good_one_applies_to_the_next_call(
    phones: Phones, capsys: pytest.CaptureFixture[str]
) -> None:
    p = phones
    sw = p.switch
    media = _call(p)
    assert _relays(p, media, 1)
    good = sw.config_path.read_text(encoding="utf-8")

    # Two mistakes: both are listed, and nothing changes.
    sw.config_path.write_text(
        good + '\n[extensions."9"]\npassword = "x"\n[server.nonsense]\n', encoding="utf-8"
    )
    code, out, err = _reload(sw, capsys)
    assert code == 1
    assert "extensions.9" in err and "server.nonsense" in err
    assert _relays(p, media, 2)  # the call in progress keeps its audio

    # A good one: extension 1005 is new.
    sw.config_path.write_text(
        good + '\n[extensions."1005"]\nname = "Eva"\npassword = "secret-1005"\n',
        encoding="utf-8",
    )
    code, out, err = _reload(sw, capsys, "--dry-run")
    assert code == 0 and "1005" in out and "not applied" in out
    newcomer = SipPeer(sw.udp, user="1005", password="secret-1005")
    try:
        assert newcomer.register().status == 403  # a dry run applies nothing
        code, out, err = _reload(sw, capsys)
        assert code == 0 and "1005" in out and "reload: applied" in out
        assert newcomer.register().status == 200  # the next REGISTER sees it
        rtp = RtpSocket()
        try:
            invite = p.caller.invite("1005", make_sdp(rtp.port))
            ringing = newcomer.expect_request("INVITE")
            newcomer.reply(ringing, 486, to_tag=new_tag())
            assert p.caller.response(invite).status == 486
        finally:
            rtp.close()
    finally:
        newcomer.close()
    assert _relays(p, media, 3)  # and the first call still goes on
