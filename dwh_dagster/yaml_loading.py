"""Parse YAML into plain data while remembering where every key and value came from.

PyYAML's composer gives each node a start mark; we build plain Python data from the
node tree ourselves so that we can record positions, reject duplicate keys and keep
dates as strings (YAML's timestamp resolver is removed on purpose).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dwh_dagster.errors import ConfigError, FieldPath, format_field_path

Position = tuple[int, int]  # 1-based line and column


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: ``2024-01-01`` stays a string."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Document:
    """One parsed YAML file: its data and where each value and key stands in the file."""

    file: Path
    data: Any
    values: dict[FieldPath, Position] = field(default_factory=dict)
    keys: dict[FieldPath, Position] = field(default_factory=dict)

    def position(self, path: FieldPath, *, prefer_key: bool = False) -> Position | None:
        """Where ``path`` stands; walks up to the nearest parent that exists."""
        probe = tuple(path)
        while True:
            if prefer_key and probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if probe in self.keys:
                return self.keys[probe]
            if not probe:
                return None
            probe = probe[:-1]
            prefer_key = True

    def error(self, path: FieldPath, message: str, hint: str = "", *, at_key: bool = False) -> ConfigError:
        """A :class:`ConfigError` located at ``path`` in this document."""
        pos = self.position(path, prefer_key=at_key)
        return ConfigError(
            file=self.file,
            message=message,
            line=pos[0] if pos else None,
            column=pos[1] if pos else None,
            field=format_field_path(path),
            hint=hint,
        )


def _mark(node: yaml.Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, doc: Document, loader: _PlainLoader):
        self.doc = doc
        self.loader = loader
        self.errors: list[ConfigError] = []

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        self.doc.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # resolves '<<' merge keys
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.errors.append(
                        ConfigError(self.doc.file, "mapping keys must be plain strings", *_mark(key_node))
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                child = (*path, key)
                if key in result:
                    first = self.doc.keys.get(child)
                    where = f" (first defined on line {first[0]})" if first else ""
                    self.errors.append(
                        ConfigError(
                            file=self.doc.file,
                            message=f"duplicate key '{key}'{where}",
                            line=_mark(key_node)[0],
                            column=_mark(key_node)[1],
                            field=format_field_path(child),
                            hint="remove one of the two entries or merge them",
                        )
                    )
                    continue
                self.doc.keys[child] = _mark(key_node)
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def parse_yaml_file(file: Path) -> tuple[Document | None, list[ConfigError]]:
    """Parse one file. Returns the document (None when unusable) and the problems found."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raw = file.read_bytes()
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            ConfigError(
                file,
                f"file is not valid UTF-8 ({exc.reason} at byte {exc.start})",
                line=line,
                column=column,
                hint="save the file as UTF-8",
            )
        ]
    except OSError as exc:
        return None, [ConfigError(file, f"cannot read file: {exc.strerror}")]
    return parse_yaml_text(text, file)


def parse_yaml_text(text: str, file: Path) -> tuple[Document | None, list[ConfigError]]:
    """Parse YAML text that came from ``file`` (the path is used in messages only)."""
    loader = _PlainLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_error(file, text, exc)]
    except yaml.YAMLError as exc:
        return None, [ConfigError(file, f"YAML syntax error: {exc}")]
    finally:
        loader.dispose()
    if node is None:
        return None, [
            ConfigError(
                file, "file is empty", line=1, column=1, hint="write the configuration or delete the file"
            )
        ]
    doc = Document(file=file, data=None)
    builder = _Builder(doc, _PlainLoader(""))
    try:
        doc.data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        return None, [
            ConfigError(
                file,
                f"YAML error: {exc.problem}",
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
            )
        ]
    if builder.errors:
        return doc, builder.errors
    return doc, []


_KEY_LINE = re.compile(r"""^\s*(-\s+)?("[^"]*"|'[^']*'|[^\s"'#][^:#]*?):(\s|$)""")
_QUOTE_START = re.compile(r"""(?:^\s*-\s+|:\s+|[\[,{]\s*)(["'])""")


def _unclosed_quote(lines: list[str], last: int) -> tuple[int, int] | None:
    """The first line (1-based) up to ``last`` where a quoted value opens and never closes."""
    for number, line in enumerate(lines[:last], start=1):
        for match in _QUOTE_START.finditer(line):
            quote = match.group(1)
            rest = line[match.end() :]
            closing = rest.replace("\\\\", "").replace('\\"', "") if quote == '"' else rest.replace("''", "")
            if quote not in closing:
                return number, match.end()
    return None


def _syntax_error(file: Path, text: str, exc: yaml.MarkedYAMLError) -> ConfigError:
    """Locate a YAML syntax error where the user has to fix it, not where the parser gave up."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    lines = text.splitlines()
    hint = "check indentation, colons and quotes around this line"
    context = exc.context or ""
    if line is not None:
        unclosed = _unclosed_quote(lines, line)
        if unclosed and unclosed[0] < line:
            return ConfigError(
                file,
                "YAML syntax error: this quoted value is never closed",
                *unclosed,
                hint="add the closing quote at the end of the value",
            )
    if "flow" in context and exc.context_mark is not None:
        opener = lines[exc.context_mark.line][exc.context_mark.column : exc.context_mark.column + 1]
        closer = {"[": "]", "{": "}"}.get(opener, "the closing bracket")
        return ConfigError(
            file,
            f"YAML syntax error: '{opener}' opened here is never closed ({problem})",
            exc.context_mark.line + 1,
            exc.context_mark.column + 1,
            hint=f"add '{closer}' at the end of the list or mapping",
        )
    if problem.startswith("mapping values are not allowed") and line is not None:
        previous = next(
            (
                n
                for n in range(line - 1, 0, -1)
                if lines[n - 1].strip() and not lines[n - 1].strip().startswith("#")
            ),
            None,
        )
        if previous is not None and not _KEY_LINE.match(lines[previous - 1]):
            indent = len(lines[previous - 1]) - len(lines[previous - 1].lstrip())
            return ConfigError(
                file,
                "YAML syntax error: a key without ':' before the next key",
                previous,
                indent + 1,
                hint="add ':' after the key on this line",
            )
    if "\t" in problem or (
        line is not None and 0 < line <= len(lines) and "\t" in lines[line - 1][: column or 0]
    ):
        hint = "YAML indentation uses spaces, not tabs"
    suffix = f" {context}" if context else ""
    return ConfigError(file, f"YAML syntax error: {problem}{suffix}", line, column, hint=hint)
