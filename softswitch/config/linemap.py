"""Key paths and the line each one is written on.

``tomllib`` returns plain dicts with no positions, so errors found after parsing could not say
where they are. This scanner walks the TOML source a second time (it is already known to be
valid, so the scanner can be simple) and records the line of every table header, key and array
element, under the same key path the parsed data uses: ``("extensions", "1001", "password")``,
``("outbound_routes", 0, "match")``, ``("schedules", "oficina", "ranges", 1, "days")``.
"""

from __future__ import annotations

import bisect
import json
import re

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = re.compile(r"[,\]}#\r\n]")
_ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    '"': '"',
    "\\": "\\",
    "e": "\x1b",
}


def format_key_path(path: KeyPath) -> str:
    """``extensions.1001.password``, ``numbers."+34910000000".action``, ``outbound_routes[0]``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
            continue
        text = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        out.append(f".{text}" if out else text)
    return "".join(out)


class _ScanError(Exception):
    """The source is not shaped as the scanner expects; keep the lines found so far."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._newlines = [m.start() for m in re.finditer("\n", text)]
        self._arrays: dict[KeyPath, int] = {}  # array-of-tables path -> elements seen
        self._leaves: set[KeyPath] = set()
        self.lines: dict[KeyPath, int] = {}
        self.duplicates: list[tuple[KeyPath, int]] = []

    # -- positions -----------------------------------------------------------------------

    def _line(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1

    def _record(self, path: KeyPath, pos: int) -> None:
        # The first mention wins: for a table split over several headers, that is where it starts.
        self.lines.setdefault(path, self._line(pos))

    def _peek(self, length: int = 1) -> str:
        if self._pos >= len(self._text):
            raise _ScanError("unexpected end of document")
        return self._text[self._pos : self._pos + length]

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise _ScanError(f"expected {char!r} at offset {self._pos}")
        self._pos += 1

    def _skip_trivia(self, newlines: bool) -> None:
        text, pos = self._text, self._pos
        while pos < len(text):
            char = text[pos]
            if char in " \t" or (newlines and char in "\r\n"):
                pos += 1
            elif char == "#":
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end
            else:
                break
        self._pos = pos

    # -- document --------------------------------------------------------------------------

    def scan(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip_trivia(newlines=True)
            if self._pos >= len(self._text):
                return
            if self._text.startswith("[[", self._pos):
                table = self._header(is_array=True)
            elif self._text[self._pos] == "[":
                table = self._header(is_array=False)
            else:
                self._key_value(table)

    def _header(self, is_array: bool) -> KeyPath:
        start = self._pos
        self._pos += 2 if is_array else 1
        names = self._key()
        self._skip_trivia(newlines=False)
        self._expect("]")
        if is_array:
            self._expect("]")
        return self._resolve(names, is_array, start)

    def _resolve(self, names: list[str], is_array: bool, pos: int) -> KeyPath:
        """Map header names to a data path, inserting the current index of arrays of tables."""
        path: KeyPath = ()
        for i, name in enumerate(names):
            path = (*path, name)
            if is_array and i == len(names) - 1:
                count = self._arrays.get(path, 0)
                self._arrays[path] = count + 1
                self._record(path, pos)
                path = (*path, count)
            elif path in self._arrays:
                # [[a]] then [a.b]: b belongs to the latest element of a.
                path = (*path, self._arrays[path] - 1)
            self._record(path, pos)
        return path

    def _key_value(self, table: KeyPath) -> None:
        start = self._pos
        names = self._key()
        self._skip_trivia(newlines=False)
        self._expect("=")
        path = table
        for name in names:
            path = (*path, name)
            self._record(path, start)
        if path in self._leaves:
            self.duplicates.append((path, self._line(start)))
        self._leaves.add(path)
        self._value(path)

    # -- keys -----------------------------------------------------------------------------

    def _key(self) -> list[str]:
        names: list[str] = []
        while True:
            self._skip_trivia(newlines=False)
            names.append(self._key_part())
            self._skip_trivia(newlines=False)
            if self._pos < len(self._text) and self._text[self._pos] == ".":
                self._pos += 1
                continue
            return names

    def _key_part(self) -> str:
        char = self._peek()
        if char == '"':
            return self._basic_string()
        if char == "'":
            end = self._text.find("'", self._pos + 1)
            if end < 0:
                raise _ScanError("unterminated literal key")
            name = self._text[self._pos + 1 : end]
            self._pos = end + 1
            return name
        match = _BARE_KEY.match(self._text, self._pos)
        if match is None:
            raise _ScanError(f"no key at offset {self._pos}")
        self._pos = match.end()
        return match.group()

    def _basic_string(self) -> str:
        """Decode a one-line "..." string (keys need the decoded text to match tomllib's)."""
        text, pos = self._text, self._pos + 1
        out: list[str] = []
        while pos < len(text) and text[pos] != '"':
            char = text[pos]
            if char == "\\":
                pos, char = self._escape(pos)
            else:
                pos += 1
            out.append(char)
        self._pos = pos + 1
        return "".join(out)

    def _escape(self, pos: int) -> tuple[int, str]:
        code = self._text[pos + 1 : pos + 2]
        if code in ("u", "U"):
            width = 4 if code == "u" else 8
            digits = self._text[pos + 2 : pos + 2 + width]
            return pos + 2 + width, chr(int(digits, 16))
        return pos + 2, _ESCAPES.get(code, code)

    # -- values ---------------------------------------------------------------------------

    def _value(self, path: KeyPath) -> None:
        self._skip_trivia(newlines=False)
        text, pos = self._text, self._pos
        if text.startswith('"""', pos):
            self._multiline('"""')
        elif text.startswith("'''", pos):
            self._multiline("'''")
        elif self._peek() == '"':
            self._basic_string()
        elif text[pos] == "'":
            self._pos = text.index("'", pos + 1) + 1
        elif text[pos] == "[":
            self._array(path)
        elif text[pos] == "{":
            self._inline_table(path)
        else:
            match = _SCALAR_END.search(text, pos)
            self._pos = len(text) if match is None else match.start()
            if self._pos == pos:
                raise _ScanError(f"no value at offset {pos}")

    def _multiline(self, quote: str) -> None:
        text, pos = self._text, self._pos + 3
        while True:
            if quote == '"""' and text[pos] == "\\":
                pos += 2
            elif text.startswith(quote, pos):
                break
            else:
                pos += 1
        pos += 3
        # Up to two quotes may sit right before the closing delimiter: """a""""" is 'a""'.
        for _ in range(2):
            if pos < len(text) and text[pos] == quote[0]:
                pos += 1
        self._pos = pos

    def _array(self, path: KeyPath) -> None:
        self._pos += 1
        index = 0
        while True:
            self._skip_trivia(newlines=True)
            if self._peek() == "]":
                self._pos += 1
                return
            self._record((*path, index), self._pos)
            self._value((*path, index))
            index += 1
            self._skip_trivia(newlines=True)
            if self._peek() == ",":
                self._pos += 1

    def _inline_table(self, path: KeyPath) -> None:
        self._pos += 1
        while True:
            self._skip_trivia(newlines=True)
            if self._peek() == "}":
                self._pos += 1
                return
            start = self._pos
            inner = path
            for name in self._key():
                inner = (*inner, name)
                self._record(inner, start)
            self._skip_trivia(newlines=False)
            self._expect("=")
            self._value(inner)
            self._skip_trivia(newlines=True)
            if self._peek() == ",":
                self._pos += 1


class LineMap:
    """Lines of one file's key paths; ``duplicates`` lists keys assigned twice (path, line)."""

    __slots__ = ("_complete", "_lines", "duplicates")

    def __init__(
        self, lines: dict[KeyPath, int], duplicates: list[tuple[KeyPath, int]], complete: bool
    ) -> None:
        self._lines = lines
        self._complete = complete
        self.duplicates = tuple(duplicates)

    def __contains__(self, path: KeyPath) -> bool:
        return path in self._lines

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, else of its nearest enclosing table (a missing key is reported
        where its table is), else None."""
        if not self._complete:
            # After a scan that stopped early, a prefix may be a different, earlier mention.
            return self._lines.get(path)
        for end in range(len(path), 0, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return None


def scan_lines(text: str) -> LineMap:
    """Map every key path written in ``text`` to its line; partial (never wrong) if the source
    has a shape the scanner does not understand."""
    scanner = _Scanner(text)
    try:
        scanner.scan()
    except (_ScanError, IndexError, ValueError):
        return LineMap(scanner.lines, scanner.duplicates, complete=False)
    return LineMap(scanner.lines, scanner.duplicates, complete=True)
