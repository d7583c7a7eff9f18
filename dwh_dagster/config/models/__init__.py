"""Pydantic models that mirror the YAML files, one module per file kind.

Models describe YAML only: they never hold runtime objects (dlt sources, Dagster
definitions, secret values).
"""
