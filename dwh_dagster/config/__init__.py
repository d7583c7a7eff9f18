"""The configuration layer: YAML files in, a :class:`ResolvedProject` out. Nothing here imports Dagster.

Data flows one way through its modules:

- ``documents``: YAML parsed into plain data with the line and column of every key and value;
- ``environments``: ``ENVIRONMENT`` and the ``environments:`` overlays;
- ``models/``: one strict pydantic model per file kind;
- ``translate``: pydantic errors as located :class:`~dwh_dagster.config.errors.ConfigError`\\ s;
- ``discovery``: the files of a defs directory, each loaded into its model;
- ``index``: the loaded objects by kind, with the references that name them;
- ``rules/``: one module per rule family, each a function from the index to its errors;
- ``resolve`` and ``resolved``: the index, checked, as a typed :class:`ResolvedProject`;
- ``loader``: ``load_project`` = discover -> load -> index -> rules -> resolve.
"""
