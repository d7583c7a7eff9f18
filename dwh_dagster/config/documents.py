"""Parse YAML into plain data while remembering where every key and value came from.

PyYAML's composer gives each node a start mark; we build plain Python data from the
node tree ourselves so that we can record positions, reject duplicate keys and keep
dates as strings (YAML's timestamp resolver is removed on purpose).

Files are composed by libyaml when PyYAML has it (many times faster; same nodes and marks) and
by the pure-Python composer otherwise, and whenever libyaml fails or the text holds something the
two treat differently: syntax errors are always reported as the pure-Python parser reports them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dwh_dagster.config.errors import ConfigError, FieldPath, format_field_path

Position = tuple[int, int]  # 1-based line and column


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: ``2024-01-01`` stays a string."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
# where libyaml and the pure-Python parser disagree: libyaml takes tabs as separators and '? '
# inside flow plain scalars, and places some marks elsewhere (around byte order marks and Unicode
# line breaks, and the empty values of explicit '? key' entries and of single-pair mappings in
# flow sequences such as '[a: ]'); merge keys ('<<') stay on the path they were written for
_NOT_FAST = re.compile(r"[\t\x85\u2028\u2029\ufeff]|<<|:[ ]*[\]},]|\?(?:\s|$)", re.MULTILINE)
_FastLoader: Any = None
if getattr(yaml, "__with_libyaml__", False):

    class _CPlainLoader(yaml.CSafeLoader):
        """libyaml's parser and composer (same nodes and marks), with :class:`_PlainLoader`'s resolvers."""

    _CPlainLoader.yaml_implicit_resolvers = _PlainLoader.yaml_implicit_resolvers
    _FastLoader = _CPlainLoader


def _compose_fast(text: str) -> tuple[bool, yaml.Node | None]:
    """Compose ``text`` with libyaml: ``(True, node)``, or ``(False, None)`` to use the pure-Python path.

    The pure-Python composer is many times slower; it is kept for every text libyaml does not
    accept, so problems are always reported (and located) exactly as the pure-Python parser does.
    """
    if _FastLoader is None or _NOT_FAST.search(text) or _NON_PRINTABLE.search(text):
        return False, None
    try:
        loader = _FastLoader(text)
    except Exception:
        return False, None
    try:
        return True, loader.get_single_node()
    except Exception:
        return False, None
    finally:
        loader.dispose()


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


_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_FLATTENED_TAGS = (_MERGE_TAG, "tag:yaml.org,2002:value")  # keys that flatten_mapping rewrites


def _mark(node: yaml.Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


ALIAS_EXPANSION_LIMIT = 10_000
"""Values that aliases (``*name``, ``<<: *name``) may add to one file. Real files reuse a few blocks;
a "billion laughs" file (aliases of aliases) would otherwise take gigabytes and minutes."""


class AliasExpansionError(Exception):
    """The aliases of a file expand to more than :data:`ALIAS_EXPANSION_LIMIT` values."""

    def __init__(self, node: yaml.Node, path: FieldPath):
        super().__init__("alias expansion limit")
        self.node = node  # the anchored value that the outermost alias repeats
        self.path = path  # where that alias stands


class _Builder:
    def __init__(self, doc: Document, loader: _PlainLoader):
        self.doc = doc
        self.loader = loader
        self.errors: list[ConfigError] = []
        self._active: set[int] = set()  # nodes on the current path, to catch recursive aliases
        self._built: set[int] = set()  # container nodes built once: building one again is an alias
        self._in_alias = 0  # depth inside a container built a second time
        self._expanded = 0  # values built inside such containers
        self._alias_root: tuple[yaml.Node, FieldPath] | None = None  # the outermost of them

    def _error(self, node: yaml.Node, path: FieldPath, message: str, hint: str = "") -> None:
        line, column = _mark(node)
        self.errors.append(ConfigError(self.doc.file, message, line, column, format_field_path(path), hint))

    def _scalar(self, node: yaml.Node, path: FieldPath) -> Any:
        if node.tag == _STR_TAG:
            return node.value  # what the constructor returns for a string, without its bookkeeping
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self._error(node, path, f"invalid value: {exc.problem}", "remove the '!!' tag or fix the value")
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            tag = node.tag.rsplit(":", 1)[-1]
            detail = str(exc).split("\n")[0][:120]
            self._error(node, path, f"invalid {tag} value ({detail})", "remove the '!!' tag or fix the value")
        return None

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        self.doc.values[path] = _mark(node)
        if self._in_alias:
            self._expanded += 1
            if self._expanded > ALIAS_EXPANSION_LIMIT and self._alias_root is not None:
                raise AliasExpansionError(*self._alias_root)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._active:
            self._error(node, path, "recursive alias: this value contains itself", "remove the alias (*name)")
            return None
        again = id(node) in self._built
        if again and not self._in_alias:
            self._alias_root = (node, path)
        self._built.add(id(node))
        self._active.add(id(node))
        self._in_alias += again
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))
            self._in_alias -= again

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        merged_count = 0
        if any(key_node.tag in _FLATTENED_TAGS for key_node, _ in node.value):
            explicit = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
            self.loader.flatten_mapping(node)  # resolves '<<' merge keys; merged pairs come first
            merged_count = len(node.value) - explicit
        result: dict[str, Any] = {}
        written: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self._scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int | float | bool):
                self._error(
                    key_node, path, "mapping keys must be plain text", "write the key as a simple word"
                )
                continue
            key = key if isinstance(key, str) else str(key)
            child = (*path, key)
            from_merge = index < merged_count
            if not from_merge:
                if key in written:
                    first = self.doc.keys.get(child)
                    where = f" (first defined on line {first[0]})" if first else ""
                    self._error(
                        key_node,
                        child,
                        f"duplicate key '{key}'{where}",
                        "remove one of the two entries or merge them",
                    )
                    continue
                written.add(key)
            self.doc.keys[child] = _mark(key_node)
            result[key] = self.build(value_node, child)  # later entries (and explicit keys) win
        return result


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


MAX_NESTING = 100
"""Levels of lists and mappings one value may have. Real files need under ten; PyYAML's scanner
takes time quadratic in the depth of ``[[[...]]]``, and its composer recurses once per level."""


def _too_deep(text: str) -> tuple[int, int] | None:
    """Where (line, column) nesting first gets deeper than :data:`MAX_NESTING`, or None.

    Flow brackets outside quotes and comments, and block levels (a line indented deeper than the
    one before opens a level); a cheap count comes first, so most files are never scanned.
    """
    if text.count("[") + text.count("{") > MAX_NESTING:
        depth = 0
        for bracket, line, column in _flow_brackets(text):
            depth = depth + 1 if bracket in "[{" else max(0, depth - 1)
            if depth > MAX_NESTING:
                return line, column
    if text.count("\n") > MAX_NESTING:
        indents: list[int] = []
        for number, line_text in enumerate(text.splitlines(), start=1):
            stripped = line_text.lstrip(" -")
            if not stripped or stripped.startswith("#"):
                continue
            indent = len(line_text) - len(stripped)
            while indents and indents[-1] >= indent:
                indents.pop()
            indents.append(indent)
            if len(indents) > MAX_NESTING:
                return number, indent + 1
    return None


def _nesting_error(file: Path, text: str) -> ConfigError:
    line, column = _too_deep(text) or (None, None)
    return ConfigError(
        file,
        f"YAML nesting deeper than {MAX_NESTING} levels",
        line,
        column,
        hint="flatten the structure: configuration values need a few levels of lists and mappings",
    )


def parse_yaml_text(text: str, file: Path) -> tuple[Document | None, list[ConfigError]]:
    """Parse YAML text that came from ``file`` (the path is used in messages only)."""
    if _too_deep(text) is not None:
        return None, [_nesting_error(file, text)]
    composed, node = _compose_fast(text)
    if not composed:
        try:
            loader = _PlainLoader(text)
        except yaml.YAMLError as exc:
            return None, [_reader_error(file, text, exc)]
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            return None, [_syntax_error(file, text, exc)]
        except yaml.YAMLError as exc:
            return None, [_reader_error(file, text, exc)]
        except RecursionError:
            return None, [_nesting_error(file, text)]
        finally:
            loader.dispose()
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null") and not node.value):
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
        return None, [_syntax_error(file, text, exc)]
    except RecursionError:
        return None, [_nesting_error(file, text)]
    except AliasExpansionError as exc:
        line, column = _mark(exc.node)
        return None, [
            ConfigError(
                file,
                f"aliases expand to more than {ALIAS_EXPANSION_LIMIT:,} values: the value anchored here is "
                "repeated by aliases of aliases (a 'billion laughs' document)",
                line,
                column,
                format_field_path(exc.path),
                hint="write the values out, or reuse a block with one level of '*name' aliases",
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


def _flow_brackets(text: str) -> Iterator[tuple[str, int, int]]:
    """Every ``[ { ] }`` outside quotes and comments, with its line and column (1-based). A quote
    opens a quoted value only where a value can start (line start, after a space, ``[``, ``{``,
    ``,`` or ``:``)."""
    for number, line in enumerate(text.splitlines(), start=1):
        quote = ""
        for index, char in enumerate(line):
            if quote:
                if char == quote:
                    quote = ""
                continue
            if char in "\"'" and (index == 0 or line[index - 1] in " \t[{,:"):
                quote = char
            elif char == "#" and (index == 0 or line[index - 1] in " \t"):
                break
            elif char in "[{]}":
                yield char, number, index + 1


def _unclosed_bracket(text: str) -> tuple[str, int, int] | None:
    """The first ``[`` or ``{`` (with its line and column) that is never closed, outside quotes."""
    stack: list[tuple[str, int, int]] = []
    for bracket, line, column in _flow_brackets(text):
        if bracket in "[{":
            stack.append((bracket, line, column))
        elif stack:
            stack.pop()
    return stack[0] if stack else None


def _reader_error(file: Path, text: str, exc: yaml.YAMLError) -> ConfigError:
    """An error of PyYAML's reader (a character YAML does not allow), located by its offset."""
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        character = getattr(exc, "character", "")
        if isinstance(character, str) and character:
            character = ord(character)
        code = f"U+{character:04X}" if isinstance(character, int) else repr(character)
        return ConfigError(
            file,
            f"YAML syntax error: character {code} is not allowed in YAML",
            line,
            column,
            hint="remove it (control characters must be written as escapes in double quotes)",
        )
    return ConfigError(file, f"YAML syntax error: {exc}")


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
    if context == "expected a single document in the stream":
        return ConfigError(
            file,
            "YAML syntax error: a second document ('---') in the file",
            line,
            column,
            hint="a config file holds one document: remove the '---' and what follows, or split the file",
        )
    if "flow" in context:
        unclosed_bracket = _unclosed_bracket(text)
        if unclosed_bracket is not None:
            opener, bracket_line, bracket_column = unclosed_bracket
            closer = {"[": "]", "{": "}"}[opener]
            return ConfigError(
                file,
                f"YAML syntax error: '{opener}' opened here is never closed",
                bracket_line,
                bracket_column,
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
    text_message = f"{context}: {problem}" if context else problem
    return ConfigError(file, f"YAML syntax error: {text_message}", line, column, hint=hint)
