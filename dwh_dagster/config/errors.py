"""One error type for every user mistake: file, line, column, field path, message and hint.

All loaders collect :class:`ConfigError` items into a list and raise a single
:class:`ProjectConfigError` at the end, so a user sees every problem in one pass.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

FieldPath = tuple[str | int, ...]


def format_field_path(path: FieldPath) -> str:
    """Render a field path the way users write it: ``source.resources[0].endpoint``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def suggest(value: object, choices: Iterable[str]) -> str | None:
    """Return the closest choice to ``value`` when one is close enough, else None."""
    if not isinstance(value, str):
        return None
    options = [c for c in choices if isinstance(c, str)]
    lowered = {c.lower(): c for c in options}
    if value.lower() in lowered and lowered[value.lower()] != value:
        return lowered[value.lower()]
    matches = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if not matches:
        matches = [
            lowered[m] for m in difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
        ]
    if not matches:  # 'production' -> 'prod': difflib scores these too low
        prefixed = [
            c
            for c in options
            if min(len(c), len(value)) >= 3 and (c.startswith(value) or value.startswith(c))
        ]
        matches = prefixed if len(prefixed) == 1 else []
    return matches[0] if matches else None


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """A ``did you mean 'x'?`` sentence, or an empty string when nothing is close."""
    near = suggest(value, choices)
    return f"did you mean '{near}'?" if near else ""


def list_choices(choices: Iterable[str]) -> str:
    """Render valid values as ``'a', 'b', 'c'`` (sorted, de-duplicated)."""
    return ", ".join(f"'{c}'" for c in sorted(set(choices)))


def describe_value(value: object) -> str:
    """How a parsed YAML value reads in a message: ``a list``, ``a mapping``, ``'text'``, ``42``."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return f"'{value}'" if isinstance(value, str) else repr(value)


def _display_path(file: Path) -> str:
    try:
        rel = os.path.relpath(file)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(file)
    return rel if not rel.startswith("..") else str(file)


@dataclass(frozen=True)
class ConfigError:
    """One problem in one YAML file.

    ``line`` and ``column`` are 1-based; ``None`` when the problem concerns the file as a whole.
    ``field`` is the dotted path inside the document (``source.connection.auth.type``).
    """

    file: Path
    message: str
    line: int | None = None
    column: int | None = None
    field: str = ""
    hint: str = ""

    def headline(self) -> str:
        """``path/file.yaml:LINE:COL: field.path: message (hint)`` on one line."""
        where = _display_path(self.file)
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        parts = [where]
        if self.field:
            parts.append(self.field)
        text = self.message
        if self.hint:
            text = f"{text}; {self.hint}" if not text.endswith((".", "?", "!")) else f"{text} {self.hint}"
        parts.append(text)
        return ": ".join(parts)

    def snippet(self, context: int = 1) -> str:
        """A few numbered source lines around the problem with a caret under the column."""
        if self.line is None:
            return ""
        try:
            lines = self.file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        if not lines or self.line > len(lines):
            return ""
        start = max(1, self.line - context)
        end = min(len(lines), self.line + context)
        width = len(str(end))
        out = []
        for number in range(start, end + 1):
            out.append(f"  {number:>{width}} | {lines[number - 1]}")
            if number == self.line:
                out.append(f"  {' ' * width} | {' ' * max(0, (self.column or 1) - 1)}^")
        return "\n".join(out)

    def render(self, with_snippet: bool = True) -> str:
        """Headline followed by the snippet."""
        snippet = self.snippet() if with_snippet else ""
        return f"{self.headline()}\n{snippet}" if snippet else self.headline()

    def sort_key(self) -> tuple[str, int, int, str]:
        return (str(self.file), self.line or 0, self.column or 0, self.message)


class ProjectConfigError(Exception):
    """Raised once with every :class:`ConfigError` found while loading a project."""

    def __init__(self, errors: Sequence[ConfigError]):
        unique = sorted(set(errors), key=ConfigError.sort_key)
        self.errors: list[ConfigError] = unique
        super().__init__(self.render())

    def render(self, with_snippet: bool = True) -> str:
        """All errors, one block each, followed by a count."""
        blocks = [e.render(with_snippet) for e in self.errors]
        count = len(self.errors)
        blocks.append(f"{count} error{'s' if count != 1 else ''} in the YAML project.")
        return "\n".join(blocks)

    def __str__(self) -> str:
        return self.render()
