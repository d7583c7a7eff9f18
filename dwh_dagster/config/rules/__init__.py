"""Cross-file rules, one module per family; each is a function from the index to its errors.

:data:`RULES` run on every load. :func:`~dwh_dagster.config.rules.run_order.check_run_order` runs
after them, only on a project without other errors (a cycle through a dangling reference means
nothing).
"""

from __future__ import annotations

from collections.abc import Callable

from dwh_dagster.config.errors import ConfigError
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.rules.checks import check_checks
from dwh_dagster.config.rules.dbt import check_dbt_transformations
from dwh_dagster.config.rules.freshness import check_freshness
from dwh_dagster.config.rules.jobs import check_jobs
from dwh_dagster.config.rules.partitions import check_partitions
from dwh_dagster.config.rules.paths import check_paths
from dwh_dagster.config.rules.pipelines import check_pipelines
from dwh_dagster.config.rules.rest_api import check_rest_api_parents
from dwh_dagster.config.rules.secrets import check_secrets
from dwh_dagster.config.rules.transformations import check_transformations
from dwh_dagster.config.rules.triggers import check_triggers

Rule = Callable[[ProjectIndex], list[ConfigError]]

RULES: tuple[Rule, ...] = (
    check_pipelines,
    check_transformations,
    check_dbt_transformations,
    check_checks,
    check_freshness,
    check_partitions,
    check_jobs,
    check_triggers,
    check_rest_api_parents,
    check_secrets,
    check_paths,
)
"""The rules every load runs, in the order their errors are collected."""
