"""Generated secrets (SIP passwords the admin left out), created once and kept in state_dir.

One JSON file, ``secrets.json``, readable by its owner only. A secret never changes once
created: the server, ``softswitch credentials`` and a later restart must all agree on it, so
creation takes an exclusive lock and re-reads the file before writing (two processes starting
together would otherwise each invent a different password), and every write replaces the file
atomically (a crash mid-write must not lose the secrets already handed out).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

if sys.platform != "win32":
    import fcntl

FILE_NAME = "secrets.json"
_LOCK_NAME = "secrets.lock"
_TOKEN_BYTES = 24  # 192 bits, 32 URL-safe characters: phones accept them, nobody guesses them


class SecretStoreError(Exception):
    """The secrets file exists but cannot be used; never guess a replacement."""


class SecretStore:
    def __init__(self, state_dir: Path) -> None:
        self._dir = state_dir
        self._path = state_dir / FILE_NAME
        # Secrets never change once written, so what we have seen stays true.
        self._known: dict[str, str] = {}

    def __repr__(self) -> str:  # never show values
        return f"SecretStore({str(self._dir)!r})"

    def get(self, key: str) -> str | None:
        """The secret stored under ``key``, or None; never creates anything."""
        if key not in self._known:
            self._known.update(self._read())
        return self._known.get(key)

    def get_or_create(self, key: str) -> str:
        """The secret under ``key``, generated and persisted on first use."""
        if not key:
            raise ValueError("a secret needs a non-empty key")
        known = self.get(key)
        if known is not None:
            return known
        self._dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            stored = self._read()  # another process may have created it meanwhile
            if key not in stored:
                stored[key] = secrets.token_urlsafe(_TOKEN_BYTES)
                self._write(stored)
        self._known.update(stored)
        return stored[key]

    def _read(self) -> dict[str, str]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretStoreError(f"{self._path}: cannot read: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SecretStoreError(f"{self._path}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in data.items()
        ):
            raise SecretStoreError(f"{self._path}: expected an object of strings")
        return data

    def _write(self, data: dict[str, str]) -> None:
        # mkstemp creates the file with mode 0600, so the secrets are never world-readable,
        # not even for the moment before a chmod.
        fd, temp = tempfile.mkstemp(prefix=".secrets-", suffix=".tmp", dir=self._dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._sync_dir()

    def _sync_dir(self) -> None:
        # The rename is durable only once the directory entry is on disk.
        if sys.platform == "win32":
            return
        fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._dir / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if sys.platform != "win32":
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock
