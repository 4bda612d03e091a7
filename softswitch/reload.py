"""Reloading the config of a running switch: check it all, then apply it for the next calls.

The files are read and compiled in a worker thread (a config is tens of milliseconds of
parsing and holiday tables: the media ticker shares the loop). A config with any mistake is
refused with every problem listed, and nothing changes. A good one is applied at once, in
this order, so that no call sees half of it: prompts are rendered first (in the thread), then
the extensions, routing and services are swapped for new ones (calls in progress keep the
objects they started with: their action list, queue, room), the voicemail mail loop restarts
on the new mailboxes, trunks whose settings changed re-register, and trunk host names are
looked up again. Settings of sockets and storage (listen, rtp_ports, state_dir, security…)
need a restart: the answer says which changed.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from softswitch.config import ConfigError, load_config, resolve_passwords
from softswitch.config.diff import diff_configs, format_diff
from softswitch.control.protocol import ControlError
from softswitch.sip.trunk_client import trunk_clients

if TYPE_CHECKING:
    from softswitch.app import App

__all__ = ["reload_app", "reload_logged"]

log = logging.getLogger("softswitch")


async def reload_app(app: App, dry_run: bool) -> dict[str, Any]:
    """What changed, and whether it was applied; ControlError with every problem if the
    files are not a valid config (the running one stays)."""
    path = Path(app.config.files[0])
    try:
        new = await asyncio.to_thread(load_config, path)
    except ConfigError as exc:
        problems = "\n".join(str(issue) for issue in exc.issues)
        log.warning("- reload of %s refused:\n%s", path, problems)
        raise ControlError(f"the config has errors; nothing changed:\n{problems}") from None
    new = resolve_passwords(new, app.secrets)
    diff = diff_configs(app.config, new)
    result: dict[str, Any] = {
        "applied": False,
        "changes": format_diff(diff),
        "needs_restart": list(diff.needs_restart),
    }
    if dry_run or diff.empty:
        return result
    await asyncio.to_thread(app.media.warm, new)  # the next call must not wait for speech
    _apply(app, new, diff.trunks_changed)
    result["applied"] = True
    log.info("- config reloaded from %s:\n%s", path, result["changes"])
    return result


def _apply(app: App, new: Any, trunks_changed: tuple[str, ...]) -> None:
    app.config = new
    app.set_users(new)
    app.media.reload(new)
    spawn = app.spawn
    if app.mail_task is not None:
        app.mail_task.cancel()  # its mailboxes are the old ones; the store keeps what is due
    app.mail_task = spawn(app.media.voicemail.run())
    spawn(app.media.inbound.resolve_hosts())
    changed = set(trunks_changed)
    keep = [client for client in app.trunks if client.trunk.name not in changed]
    stopping = [client for client in app.trunks if client.trunk.name in changed]
    fresh = trunk_clients(
        app.endpoint,
        (t for t in new.trunks.values() if t.name in changed),
        clock=app.clock,
    )
    app.trunks = keep + fresh
    for client in stopping:
        spawn(client.stop())
    for client in fresh:
        spawn(client.start())


async def reload_logged(app: App) -> None:
    """SIGHUP: reload, and say in the log what happened (there is nobody to answer)."""
    try:
        result = await reload_app(app, dry_run=False)
    except ControlError:
        return  # already logged, with every problem
    if not result["applied"]:
        log.info("- reload: no changes")
    for key in result["needs_restart"]:
        log.warning("- reload: %s changed; restart to apply it", key)
