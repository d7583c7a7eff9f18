"""dwh-dagster: YAML-first data warehouse orchestration on Dagster and dlt."""
