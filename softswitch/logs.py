"""Logging set-up: one line per event on stderr, ``TIMESTAMP LEVEL message``.

Messages start with the Call-ID they concern (``-`` when none), so ``grep <call-id>`` shows a
call's whole story. Authentication failures use the chan_pjsip wording that fail2ban's stock
``asterisk`` filter matches (see ``softswitch.sip.guard.auth_failure_log_line``).
"""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
