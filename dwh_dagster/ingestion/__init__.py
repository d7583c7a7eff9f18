"""Run-time ingestion: dlt sources, destinations and pipelines built from the models.

Nothing here is imported while definitions load; dlt is imported inside the functions.
"""
