"""A finished call as its history row: the facts the call gathered, in wall-clock time.

The B2BUA keeps monotonic times (they never jump); the row wants the wall clock. The call
took the wall time when its INVITE arrived, so answer and end are that plus the monotonic
differences: a clock step during a call does not make it last minus five minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from softswitch.call.calls import Call
from softswitch.call.switch import Inbound
from softswitch.storage.history import CallRecord

__all__ = ["record_of", "refused_record"]

# The failure the caller got -> the row's disposition (a decline is, to the caller, nobody
# answering); anything else is "failed".
_FAILED = {
    486: "busy",
    600: "busy",
    487: "cancelled",
    408: "no answer",
    480: "no answer",
    603: "no answer",
}


def record_of(call: Call, now: float) -> CallRecord:
    """The row for ``call``, which ends at monotonic ``now``."""
    started = datetime.fromtimestamp(call.wall_started, tz=UTC)
    answered = None
    if call.answered is not None:
        answered = started + timedelta(seconds=max(0.0, call.answered - call.started))
    ended = started + timedelta(seconds=max(0.0, now - call.started))
    if call.outcome:
        disposition = call.outcome
    elif answered is not None:
        disposition = "answered"
    else:
        disposition = _FAILED.get(call.final_status, "failed")
    return CallRecord(
        call_id=call.call_id,
        direction=call.direction,
        caller=call.caller,
        caller_name=call.caller_name,
        callee=call.agent or call.callee,
        did=call.did,
        started=started,
        answered=answered,  # voicemail too: the switch answered it
        ended=max(ended, answered or started),
        disposition=disposition,
        place=call.place,
        agent=call.agent,
        recording=str(call.recording_path or ""),
    )


def refused_record(
    call_id: str, caller: str, name: str, called: str, decision: Inbound, wall: float
) -> CallRecord | None:
    """The row of a trunk's call refused before routing, if it is worth one (blocked callers
    and numbers out of service; an unknown number is not the company's call)."""
    if not (decision.blocked or decision.did):
        return None
    at = datetime.fromtimestamp(wall, tz=UTC)
    return CallRecord(
        call_id=call_id,
        direction="inbound",
        caller=caller,
        caller_name=name,
        callee=called,
        did=decision.did,
        started=at,
        answered=None,
        ended=at,
        disposition="blocked" if decision.blocked else "failed",
    )
