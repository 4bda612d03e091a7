"""Reading the files: the root, its ``include = [...]`` files, one merged tree, and provenance.

Every key of the merged tree remembers which file defined it, and every file keeps a line map,
so that a problem found anywhere later is reported as ``file:line: key.path: message``.
"""

from __future__ import annotations

import importlib.resources
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from softswitch.config.linemap import KeyPath, LineMap, format_key_path, scan_lines
from softswitch.config.model import ConfigIssue
from softswitch.config.schema import INCLUDE_KEY

BUNDLED_LABEL = "softswitch/data/example.toml (bundled)"
_TOML_LOCATION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$|\s*\(at end of document\)$")


@dataclass(frozen=True, slots=True)
class SourceFile:
    label: str  # the name shown in issues: the path as the user gave it, or joined to it
    base_dir: Path  # what relative paths written in this file are relative to
    lines: LineMap


class Sources:
    """The merged data of a root file and its includes, and where each key came from."""

    def __init__(self) -> None:
        self.files: list[SourceFile] = []
        self.data: dict[str, object] = {}
        self._origins: dict[KeyPath, int] = {}  # path of each inserted subtree -> file index
        self._seen: set[Path] = set()
        self._issues: list[tuple[int, ConfigIssue]] = []

    # -- reporting ------------------------------------------------------------------------

    def report(self, path: KeyPath, message: str) -> None:
        """Report a problem with the merged tree's ``path``, in the file that defined it."""
        index = self._origin(path)
        self.report_in(index, path, message, self.files[index].lines.line_of(path))

    def report_in(self, index: int, path: KeyPath, message: str, line: int | None) -> None:
        issue = ConfigIssue(self.files[index].label, format_key_path(path), line, message)
        self._issues.append((index, issue))

    def issues(self) -> tuple[ConfigIssue, ...]:
        """All issues, by file (root first) and line, so the output reads top to bottom."""
        ordered = sorted(
            self._issues,
            key=lambda item: (
                item[0],
                math.inf if item[1].line is None else item[1].line,
                item[1].key_path,
            ),
        )
        return tuple(issue for _, issue in ordered)

    def base_dir(self, path: KeyPath) -> Path:
        """The directory relative paths in ``path``'s value are taken from."""
        return self.files[self._origin(path)].base_dir

    def labels(self) -> tuple[str, ...]:
        return tuple(source.label for source in self.files)

    def _origin(self, path: KeyPath) -> int:
        for end in range(len(path), 0, -1):
            index = self._origins.get(path[:end])
            if index is not None:
                return index
        return 0

    # -- reading --------------------------------------------------------------------------

    def read_file(self, path: Path, label: str, chain: tuple[Path, ...] = ()) -> None:
        """Read ``path`` and, depth first, everything it includes."""
        self._seen.add(path.resolve())
        try:
            raw = path.read_bytes()
        except OSError as exc:
            self._add(label, path.parent)
            self.report_in(len(self.files) - 1, (), f"cannot read: {exc.strerror or exc}", None)
            return
        self._read_bytes(raw, label, path.parent, (*chain, path.resolve()))

    def read_bundled(self, name: str = "example.toml") -> None:
        # A bundled file has no directory of its own the user knows; relative paths written in
        # it (state_dir) are taken from the current working directory.
        resource = importlib.resources.files("softswitch").joinpath("data", name)
        self._read_bytes(resource.read_bytes(), BUNDLED_LABEL, Path.cwd(), ())

    def _add(self, label: str, base_dir: Path, text: str = "") -> int:
        self.files.append(SourceFile(label, base_dir, scan_lines(text)))
        return len(self.files) - 1

    def _read_bytes(self, raw: bytes, label: str, base_dir: Path, chain: tuple[Path, ...]) -> None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            index = self._add(label, base_dir)
            line = raw[: exc.start].count(b"\n") + 1
            self.report_in(index, (), "not valid UTF-8 text (TOML files must be UTF-8)", line)
            return
        index = self._add(label, base_dir, text)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            self._report_syntax(index, str(exc))
            return
        includes = data.pop(INCLUDE_KEY, None)
        self._merge(index, self.data, data, ())
        if includes is not None:
            self._read_includes(index, includes, chain)

    def _report_syntax(self, index: int, message: str) -> None:
        match = _TOML_LOCATION.search(message)
        text = message[: match.start()] if match else message
        line = int(match[1]) if match and match[1] else None
        # For a key assigned twice tomllib names no key, and sometimes no line; the scanner
        # knows both.
        for path, duplicate_line in self.files[index].lines.duplicates:
            if line is None or line == duplicate_line:
                message = f"invalid TOML: assigned twice ({text})"
                self.report_in(index, path, message, duplicate_line)
                return
        column = f" (column {match[2]})" if match and match[2] else ""
        self.report_in(index, (), f"invalid TOML: {text}{column}", line)

    def _read_includes(self, index: int, includes: object, chain: tuple[Path, ...]) -> None:
        names = [includes] if isinstance(includes, str) else includes
        lines = self.files[index].lines
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            message = "expected a list of file names"
            self.report_in(index, (INCLUDE_KEY,), message, lines.line_of((INCLUDE_KEY,)))
            return
        source = self.files[index]
        for position, name in enumerate(names):
            path = source.base_dir / name
            where: KeyPath = (
                (INCLUDE_KEY,) if isinstance(includes, str) else (INCLUDE_KEY, position)
            )
            if path.resolve() in chain:
                message = f"include cycle: {name!r} includes this file again"
                self.report_in(index, where, message, lines.line_of(where))
            elif path.resolve() not in self._seen:  # a file included twice is read once
                self._seen.add(path.resolve())
                label = os.path.normpath(os.path.join(os.path.dirname(source.label), name))
                self._read_included(index, where, path, label, chain)

    def _read_included(
        self, index: int, where: KeyPath, path: Path, label: str, chain: tuple[Path, ...]
    ) -> None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            message = f"cannot read included file {label}: {exc.strerror or exc}"
            self.report_in(index, where, message, self.files[index].lines.line_of(where))
            return
        self._read_bytes(raw, label, path.parent, (*chain, path.resolve()))

    def _merge(
        self, index: int, target: dict[str, object], incoming: dict[str, object], prefix: KeyPath
    ) -> None:
        """Merge one file's tree: tables combine across files, a value may be set only once."""
        for key, value in incoming.items():
            path = (*prefix, key)
            existing = target.get(key)
            if key not in target:
                target[key] = value
                self._origins[path] = index
            elif isinstance(existing, dict) and isinstance(value, dict):
                self._merge(index, existing, value, path)
            else:
                first = self.files[self._origin(path)]
                line = first.lines.line_of(path)
                where = first.label if line is None else f"{first.label}:{line}"
                message = f"already defined in {where}"
                self.report_in(index, path, message, self.files[index].lines.line_of(path))
