"""softswitch: a pure-Python SIP/RTP softswitch."""

__version__ = "0.1.0"
