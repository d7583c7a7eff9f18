"""Dagster assets built from the YAML models: specs at load time, dlt at run time."""
