"""What the switch says in voicemail, in every language of ``texts``."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["VOICEMAIL_TEXTS"]

VOICEMAIL_TEXTS: Mapping[str, Mapping[str, str]] = {}
