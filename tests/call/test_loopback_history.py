"""Call history over real sockets: each finished call is one row with the right direction,
disposition, times and agent; a blocked caller from the trunk is a row too; the CLI exports
them as CSV with Asterisk's cdr_csv columns first."""

from __future__ import annotations

import csv
import io
import time
from typing import TYPE_CHECKING

import pytest
from sipclient import RtpSocket, make_sdp, new_tag

from softswitch.cli import main
from softswitch.storage.history import CallRecord
from softswitch.storage.history_export import CDR_CSV_COLUMNS

if TYPE_CHECKING:
    from conftest import RunningSwitch, SwitchFactory

TRUNK_HOST = "127.0.0.2"
TRUNK = f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
inbound_from = ["{TRUNK_HOST}/32"]

[blocklist]
numbers = ["+34905*"]
"""


def _rows(sw: RunningSwitch, count: int) -> list[CallRecord]:
    app = sw.app
    assert app is not None
    deadline = time.monotonic() + 5
    while True:
        assert app.history.flush(timeout=5)
        rows = app.history.query()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_answered_and_busy_calls_are_rows_and_export_as_cdr_csv(
    make_switch: SwitchFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    sw = make_switch(extra=TRUNK)
    caller, callee = make_switch.peer(sw, "1001"), make_switch.peer(sw, "1002")
    assert callee.register().status == 200
    rtp = RtpSocket()
    try:
        # 1: answered, then the caller hangs up
        invite = caller.invite("1002", make_sdp(rtp.port))
        incoming = callee.expect_request("INVITE")
        tag = new_tag()
        callee.reply(incoming, 200, to_tag=tag, body=make_sdp(rtp.port))
        ok = caller.response(invite)
        assert ok.status == 200
        dialog = caller.uac_dialog(invite, ok)
        caller.ack_2xx(dialog)
        time.sleep(1.1)
        bye = caller.in_dialog(dialog, "BYE")
        assert caller.transact(bye).status == 200
        callee.reply(callee.expect_request("BYE", call_id=incoming.call_id), 200)
        # 2: busy
        busy = caller.invite("1002", make_sdp(rtp.port))
        callee.reply(callee.expect_request("INVITE"), 486, to_tag=new_tag())
        assert caller.response(busy).status == 486
    finally:
        rtp.close()
    # 3: a blocked caller from the trunk
    blocked = make_switch.peer(sw, "+34905111222", host=TRUNK_HOST)
    refused = blocked.invite("+34910000000", make_sdp(40000), authenticate=False)
    assert blocked.response(refused).status == 403

    rows = {row.call_id: row for row in _rows(sw, 3)}
    answered, missed, spam = rows[invite.call_id], rows[busy.call_id], rows[refused.call_id]
    assert (answered.direction, answered.disposition, answered.agent) == (
        "internal",
        "answered",
        "1002",
    )
    assert (answered.caller, answered.callee) == ("1001", "1002")
    assert answered.answered is not None and 1.0 <= answered.billed <= 5.0
    assert missed.disposition == "busy" and missed.answered is None and missed.billed == 0
    assert (spam.direction, spam.disposition, spam.caller) == ("inbound", "blocked", "+34905111222")

    code = main(["calls", "--csv", "--since", "2000-01-01", "--config", str(sw.config_path)])
    out = capsys.readouterr().out
    assert code == 0
    table = list(csv.reader(io.StringIO(out)))
    assert tuple(table[0][: len(CDR_CSV_COLUMNS)]) == CDR_CSV_COLUMNS
    by_id = {line[table[0].index("uniqueid")]: line for line in table[1:]}
    disposition = table[0].index("disposition")
    assert by_id[invite.call_id][disposition] == "ANSWERED"
    assert by_id[busy.call_id][disposition] == "BUSY"
