"""The floor of ``run_overhead.py``: one no-op asset and one asset job over it, Dagster defaults otherwise.

Whatever a run of ``noop_job`` costs is what Dagster itself costs to launch, queue, start a run
worker, execute one step and record it; a dwh job over one pipeline is compared with it.
"""

import dagster as dg


@dg.asset
def noop() -> None:
    """Does nothing."""


noop_job = dg.define_asset_job("noop_job", selection=[noop])

defs = dg.Definitions(assets=[noop], jobs=[noop_job])
