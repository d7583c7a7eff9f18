"""Adding the secrets a new file names to ``secrets_mapping.yaml``, keeping the file as written."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from dwh_dagster.scaffold.starters import SecretNeed


def entry_text(need: SecretNeed, indent: int) -> list[str]:
    """The lines of one mapping entry: the secret read from ``need.env_var`` in every environment."""
    pad = " " * indent
    return [
        f"{pad}{need.key}:",
        f"{pad}  env_var: {json.dumps(need.env_var)}",
        f"{pad}  description: {json.dumps(need.description)}",
        f"{pad}  required: true",
    ]


def _existing_keys(text: str) -> set[str] | None:
    """The secret keys of a mapping file; None when it cannot be read as one."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if data is None:
        return set()
    if not isinstance(data, dict):
        return None
    secrets = data.get("secrets")
    if secrets is None:
        return set()
    return set(secrets) if isinstance(secrets, dict) else None


def _insert_line(text: str) -> tuple[int, int] | None:
    """Where new entries go in ``text`` (line index, indent): after the last line of ``secrets:``.

    None when the file has no block-style ``secrets:`` mapping to extend (flow style, other shapes).
    """
    root = yaml.compose(text)
    if root is None:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    for key_node, value_node in root.value:
        if key_node.value != "secrets":
            continue
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag.endswith(":null"):
            return key_node.start_mark.line + 1, key_node.start_mark.column + 2
        if not isinstance(value_node, yaml.MappingNode) or value_node.flow_style or not value_node.value:
            return None
        indent = value_node.value[0][0].start_mark.column
        last: yaml.Node = value_node
        while isinstance(last, yaml.MappingNode | yaml.SequenceNode) and last.value:
            item = last.value[-1]
            last = item[1] if isinstance(item, tuple) else item
        end = last.end_mark
        return (end.line if end.column == 0 else end.line + 1), indent
    return None


def add_secrets(mapping_file: Path, needs: list[SecretNeed]) -> tuple[list[SecretNeed], list[str]]:
    """Add the secrets of ``needs`` that ``mapping_file`` lacks; creates the file when it is missing.

    Returns the secrets added and, when the file could not be extended safely, the lines the user
    should add by hand (the file is then left as it was).
    """
    if not needs:
        return [], []
    if not mapping_file.exists():
        lines = ["secrets:"]
        for need in needs:
            lines += entry_text(need, 2)
        mapping_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return list(needs), []
    text = mapping_file.read_text(encoding="utf-8")
    keys = _existing_keys(text)
    missing = [need for need in needs if keys is None or need.key not in keys]
    if not missing:
        return [], []
    where = _insert_line(text) if keys is not None else None
    if where is None:
        by_hand = ["secrets:"] + [line for need in missing for line in entry_text(need, 2)]
        return [], by_hand
    line_index, indent = where
    lines = text.split("\n")
    block: list[str] = []
    for need in missing:
        block += ["", *entry_text(need, indent)] if block or line_index > 1 else entry_text(need, indent)
    updated = "\n".join(lines[:line_index] + block + lines[line_index:])
    if not updated.endswith("\n"):
        updated += "\n"
    after = _existing_keys(updated)
    if after is None or not all(need.key in after for need in missing):
        by_hand = ["secrets:"] + [line for need in missing for line in entry_text(need, 2)]
        return [], by_hand
    mapping_file.write_text(updated, encoding="utf-8")
    return missing, []
