"""The ``check`` command (softswitch/cli.py parses the arguments)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from softswitch.config.decode import Report
from softswitch.config.loader import load_config
from softswitch.config.model import CompiledConfig, ConfigError
from softswitch.config.schema import MUSIC_SUFFIXES

# Why a file is not usable audio, or None: media.audiofile.probe_audio, passed in by the caller
# because config must not import media.
AudioProbe = Callable[[Path], str | None]


def run_check(path: Path | None, out: TextIO, probe: AudioProbe | None = None) -> int:
    """Print "OK: N extensions" and return 0, or print every issue, one per line, and return 1.

    With ``probe``, every prompt file and music track is also opened, so a file that exists but
    is not audio is reported like any other mistake, at its key path and line.
    """
    config = _load(path, out) if probe is None else _load_probed(path, out, probe)
    if config is None:
        return 1
    out.write(f"OK: {len(config.extensions)} extensions\n")
    return 0


def _load(path: Path | None, out: TextIO) -> CompiledConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            out.write(f"{issue}\n")
        return None


def _load_probed(path: Path | None, out: TextIO, probe: AudioProbe) -> CompiledConfig | None:
    """``load_config``, plus the audio probe reported through the same report, so its issues
    carry file and line and come out in order with the rest."""
    try:
        return load_config(path, lambda config, report: probe_sounds(config, probe, report))
    except ConfigError as exc:
        for issue in exc.issues:
            out.write(f"{issue}\n")
        return None


def probe_sounds(config: CompiledConfig, probe: AudioProbe, report: Report) -> None:
    """Report each existing prompt file or music track that ``probe`` finds unreadable (missing
    ones were reported by compile already)."""
    for name, prompt in config.prompts.items():
        if prompt.file is not None and prompt.file.is_file():
            reason = probe(prompt.file)
            if reason is not None:
                report(("prompts", name, "file"), f"{reason}: {prompt.file}")
    for name, music in config.music_on_hold.items():
        if not music.directory.is_dir():
            continue
        for track in sorted(music.directory.iterdir()):
            if track.suffix.lower() in MUSIC_SUFFIXES and track.is_file():
                reason = probe(track)
                if reason is not None:
                    report(("music_on_hold", name, "directory"), f"{reason}: {track}")
