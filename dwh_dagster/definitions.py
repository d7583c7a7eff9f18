"""The Dagster code location: one ``Definitions`` built from the YAML project.

Loading stays cheap and offline: YAML is read and checked, nothing connects anywhere.
"""

from __future__ import annotations

import dagster as dg

from dwh_dagster.loader import load_project


def build_definitions() -> dg.Definitions:
    """Load the YAML project of the current environment and assemble its Dagster definitions."""
    load_project()
    return dg.Definitions()


defs = build_definitions()
