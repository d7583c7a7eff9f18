"""``dwh run --select``: Dagster's asset selection syntax, with model and table names as keys.

Dagster parses the selection (``key:analytics/x+``, ``group:finance``, ``tag:daily and ...``);
before it does, a bare word naming a transformation (``customer_revenue``), a loaded table
(``orders``, when one pipeline loads a table of that name) or an asset key (``demo/orders``),
with Dagster's ``+`` / ``*`` around it, becomes ``key:"<dataset>/<name>"``, so ``customer_revenue+``
means the model and everything downstream of it, as users of dbt write it.
"""

from __future__ import annotations

import re

import dagster as dg

from dwh_dagster.config.errors import did_you_mean
from dwh_dagster.config.resolved import ResolvedProject

_BARE_WORD = re.compile(
    r"^(?P<up>\d*\+|\*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)?)(?P<down>\+\d*|\*)?$"
)
_KEYWORDS = {"and", "or", "not"}


class SelectionError(ValueError):
    """A ``--select`` that names nothing of the project or does not parse."""


def asset_names(project: ResolvedProject) -> dict[str, str]:
    """Each name a user may select by (model, unique table name, ``dataset/table``) -> asset key."""
    names: dict[str, str] = {}
    tables: dict[str, list[str]] = {}
    for pipeline in project.pipelines.values():
        for resource in pipeline.resources:
            key = f"{pipeline.dataset}/{resource}"
            names[key] = key
            tables.setdefault(resource, []).append(key)
    for model in project.transformations.values():
        key = f"{model.dataset}/{model.name}"
        names[key] = key
        tables.setdefault(model.name, []).append(key)
    for dbt in project.dbt_projects.values():
        for dataset, table in dbt.asset_keys:
            key = f"{dataset}/{table}"
            names[key] = key
            tables.setdefault(table, []).append(key)
    for table, keys in tables.items():
        if len(keys) == 1:
            names.setdefault(table, keys[0])
    return names


def _rewrite(word: str, names: dict[str, str]) -> str:
    match = _BARE_WORD.match(word)
    if match is None or match["name"].lower() in _KEYWORDS:
        return word
    key = names.get(match["name"])
    if key is None:
        hint = did_you_mean(match["name"], names)
        raise SelectionError(
            f"'{match['name']}' is not a transformation or table of this project"
            + (f"; {hint}" if hint else "")
        )
    up = "+" if match["up"] == "*" else (match["up"] or "")
    down = "+" if match["down"] == "*" else (match["down"] or "")
    return f'{up}key:"{key}"{down}'


def parse_selection(text: str, project: ResolvedProject) -> dg.AssetSelection:
    """The asset selection ``text`` names (only assets that can be materialized)."""
    names = asset_names(project)
    spaced = re.sub(r"([()])", r" \1 ", text)
    rewritten = " ".join(_rewrite(word, names) for word in spaced.split())
    try:
        selection = dg.AssetSelection.from_string(rewritten)
    except Exception as exc:
        raise SelectionError(f"--select '{text}' does not parse: {exc}") from None
    return selection
