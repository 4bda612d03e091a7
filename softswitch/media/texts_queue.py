"""What the switch says in call queues, in every language of ``texts``."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["QUEUE_TEXTS"]

QUEUE_TEXTS: Mapping[str, Mapping[str, str]] = {}
