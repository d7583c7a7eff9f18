"""Parse YAML into plain data while remembering where every key and value came from.

PyYAML's composer gives each node a start mark; we build plain Python data from the
node tree ourselves so that we can record positions, reject duplicate keys and keep
dates as strings (YAML's timestamp resolver is removed on purpose).
"""

from __future__ import annotations

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
        return None, [ConfigError(file, f"file is not valid UTF-8 ({exc.reason})", hint="save it as UTF-8")]
    except OSError as exc:
        return None, [ConfigError(file, f"cannot read file: {exc.strerror}")]
    return parse_yaml_text(text, file)


def parse_yaml_text(text: str, file: Path) -> tuple[Document | None, list[ConfigError]]:
    """Parse YAML text that came from ``file`` (the path is used in messages only)."""
    loader = _PlainLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        context = f" {exc.context}" if exc.context else ""
        return None, [
            ConfigError(
                file,
                f"YAML syntax error: {problem}{context}",
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
                hint="check indentation, colons and quotes around this line",
            )
        ]
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
