"""``dwh new``: commented YAML files generated from the models."""
