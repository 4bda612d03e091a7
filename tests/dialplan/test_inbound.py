"""Which trunk a call comes from: ``inbound_from`` networks, or a named host's addresses."""

from __future__ import annotations

import asyncio
from pathlib import Path

from softswitch.config import load_config
from softswitch.dialplan.actions import ActionContext
from softswitch.dialplan.inbound import InboundRouting

CONFIG = """
[server]
domain = "pbx.example.com"
state_dir = "state"

[extensions.1001]
password = "ana-1001-secret-pass"

[trunks.por_nombre]
host = "localhost"

[trunks.por_red]
host = "sip.provider.invalid"
inbound_from = ["192.0.2.0/24"]
"""


def _routing(tmp_path: Path) -> InboundRouting:
    path = tmp_path / "softswitch.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path)
    context = ActionContext(lambda name: None, {}, lambda name: None, frozenset())  # type: ignore[arg-type, return-value]
    return InboundRouting(config, context, lambda: 0.0)


def test_inbound_from_networks_name_their_trunk(tmp_path: Path) -> None:
    routing = _routing(tmp_path)
    assert routing.trunk_of("192.0.2.77") == "por_red"
    assert routing.trunk_of("198.51.100.1") is None
    assert routing.trunk_of("not an address") is None


def test_a_trunk_by_name_is_recognised_by_its_resolved_address(tmp_path: Path) -> None:
    routing = _routing(tmp_path)
    assert routing.trunk_of("127.0.0.1") is None  # not before the lookup
    asyncio.run(routing.resolve_hosts())
    assert routing.trunk_of("127.0.0.1") == "por_nombre"
    assert routing.trunk_of("192.0.2.77") == "por_red"  # the listed networks are untouched
