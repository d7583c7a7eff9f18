"""The ingestion benchmark's plain-dlt contenders, each run in a fresh process.

``python benchmarks/plain_dlt.py BASE_URL DATABASE [--parquet]`` loads the benchmark API with dlt's
own ``rest_api`` source (the configuration a dlt user would write by hand) into a DuckDB file and
prints one JSON line: seconds for the whole load (``import dlt`` included, as our step includes it)
and dlt's own extract/normalize/load split.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("database")
    parser.add_argument("--parquet", action="store_true", help="loader_file_format='parquet'")
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    started = time.perf_counter()
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {"base_url": args.base_url},
            "resources": [
                {
                    "name": "items",
                    "endpoint": {
                        "path": "/items",
                        "data_selector": "data",
                        "paginator": {"type": "offset", "limit": args.page_size, "total_path": "total"},
                    },
                    "write_disposition": "replace",
                }
            ],
        },
        name="bench_api",
    )
    pipeline = dlt.pipeline(
        pipeline_name="plain_parquet" if args.parquet else "plain_default",
        destination=dlt.destinations.duckdb(args.database),
        dataset_name="bench",
        pipelines_dir=str(Path(args.database).parent / "dlt_pipelines"),
    )
    pipeline.run(source, **({"loader_file_format": "parquet"} if args.parquet else {}))
    seconds = time.perf_counter() - started
    steps = {
        step.step: step.finished_at.timestamp() - step.started_at.timestamp()
        for step in pipeline.last_trace.steps
    }
    print(json.dumps({"seconds": seconds, "steps": steps}))


if __name__ == "__main__":
    main()
