"""Admin commands against the running server, over a Unix socket only its owner can open.

``server.start_control(path, view)`` listens (the app starts it with an ``AppView``);
``client.run_admin`` is the CLI's side; ``protocol`` is the JSON-lines format both speak.
"""

from softswitch.control.app_view import AppView, SwitchParts
from softswitch.control.client import ServerNotRunning, ask, control_path, run_admin
from softswitch.control.protocol import SOCKET_NAME, ControlError
from softswitch.control.server import ControlServer, start_control
from softswitch.control.views import ControlView

__all__ = [
    "SOCKET_NAME",
    "AppView",
    "ControlError",
    "ControlServer",
    "ControlView",
    "ServerNotRunning",
    "SwitchParts",
    "ask",
    "control_path",
    "run_admin",
    "start_control",
]
