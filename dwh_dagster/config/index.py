"""A typed index of the loaded objects, by kind, with the references that name each one.

The index is what the rule modules check and what :mod:`dwh_dagster.config.resolve` turns into a
:class:`~dwh_dagster.config.resolved.ResolvedProject`. It registers objects (reporting duplicate
names) and resolves references (``my_api.yaml``, ``sub/my_api.yaml`` or ``my_api``), and nothing
else: every check is in a rule module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError, FieldPath, did_you_mean, list_choices
from dwh_dagster.config.models.channels import ChannelModel
from dwh_dagster.config.models.destinations import DestinationModel
from dwh_dagster.config.models.files import KIND_BY_TOP_KEY, SECRETS_KIND, FileKind
from dwh_dagster.config.models.jobs import Job
from dwh_dagster.config.models.pipelines import Pipeline
from dwh_dagster.config.models.secrets import SecretEntry
from dwh_dagster.config.models.sources import SourceModel
from dwh_dagster.config.models.transformations import Transformation
from dwh_dagster.config.models.triggers import TriggerModel

M = TypeVar("M")


@dataclass
class ObjectTable(Generic[M]):
    """The loaded objects of one kind, by name, and the references that name them.

    ``references`` maps each accepted spelling (the name, the path inside the folder, the bare
    file name) to the object's name; a bare file name shared by files in two sub-folders maps to
    ``""`` (ambiguous). ``failed`` is true when a file of this kind did not load: references to the
    kind are then not reported as unknown, since the file they most likely name has its own error.
    """

    kind: FileKind
    root: Path
    objects: dict[str, LoadedObject[M]] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    failed: bool = False

    @property
    def label(self) -> str:
        """The kind's name in messages: ``pipeline``, ``source``, ..."""
        return self.kind.label

    def __iter__(self) -> Iterator[LoadedObject[M]]:
        return iter(self.objects.values())

    def __len__(self) -> int:
        return len(self.objects)

    def add(self, obj: LoadedObject[M]) -> ConfigError | None:
        """Register ``obj`` under its name and file names; an error when the name is taken."""
        existing = self.objects.get(obj.name)
        if existing is not None:
            first = existing.doc.position((existing.kind.top_key, "name"))
            where = f"{existing.file.name}:{first[0]}" if first else existing.file.name
            return obj.error(
                ("name",),
                f"duplicate {self.label} name '{obj.name}', also defined in {where}",
                "give each a unique name",
            )
        self.objects[obj.name] = obj
        rel = self.relative_file(obj)
        self.references[obj.name] = obj.name
        self.references[rel] = obj.name
        stem_rel = rel.rsplit(".", 1)[0]
        for alias in {obj.file.name, stem_rel + ".yaml", stem_rel + ".yml"}:
            # a bare file name that is ambiguous across sub-folders is only usable with its folder
            if alias in self.references and self.references[alias] != obj.name:
                self.references[alias] = ""
            else:
                self.references.setdefault(alias, obj.name)
        return None

    def relative_file(self, obj: LoadedObject[M]) -> str:
        """The object's file, relative to its kind's folder."""
        return obj.file.relative_to(self.root / self.kind.folder).as_posix()

    def lookup(self, reference: str) -> str | None:
        """The name ``reference`` names, or None (unknown or ambiguous)."""
        return self.references.get(reference) or None

    def model(self, reference: str) -> M | None:
        """The model ``reference`` names, or None."""
        name = self.lookup(reference)
        return self.objects[name].model if name else None

    def resolve(
        self,
        reference: str,
        owner: LoadedObject[Any],
        path: FieldPath,
        errors: list[ConfigError],
        defaults: Iterable[str] = (),
    ) -> str | None:
        """The name ``reference`` names; else record a located error at ``path`` of ``owner``.

        ``defaults`` are names that stand for a built-in object when no file claims them.
        """
        name = self.references.get(reference)
        if name:
            return name
        if reference in defaults:
            return reference
        if self.failed:
            return None
        choices = sorted({*self.objects, *defaults})
        if name == "":
            errors.append(
                owner.error(
                    path,
                    f"'{reference}' matches several {self.label} files",
                    "use the name or the path inside the folder",
                )
            )
            return None
        real_files = [self.relative_file(obj) for obj in self.objects.values()]
        hint = did_you_mean(reference, [*choices, *real_files])
        valid = (
            f"known {self.label}s: {list_choices(choices)}" if choices else f"there is no {self.label} yet"
        )
        errors.append(
            owner.error(path, f"unknown {self.label} '{reference}'", f"{hint} {valid}" if hint else valid)
        )
        return None


@dataclass
class ProjectIndex:
    """Every loaded object of one defs directory in one environment, by kind."""

    root: Path
    environment: str
    sources: ObjectTable[SourceModel]
    destinations: ObjectTable[DestinationModel]
    pipelines: ObjectTable[Pipeline]
    jobs: ObjectTable[Job]
    triggers: ObjectTable[TriggerModel]
    channels: ObjectTable[ChannelModel]
    transformations: ObjectTable[Transformation]
    secrets: dict[str, SecretEntry] = field(default_factory=dict)
    secrets_file: LoadedObject[Any] | None = None
    secrets_failed: bool = False
    errors: list[ConfigError] = field(default_factory=list)
    """Registration problems: duplicate names, a second secrets mapping."""
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    """Derived data computed once per load (the table lineage), shared by rules and resolution."""

    def tables(self) -> tuple[ObjectTable[Any], ...]:
        """The tables of every named kind, in file-kind order."""
        return (
            self.sources,
            self.destinations,
            self.pipelines,
            self.jobs,
            self.triggers,
            self.channels,
            self.transformations,
        )

    def all_objects(self) -> Iterator[LoadedObject[Any]]:
        """Every named object of every kind."""
        for table in self.tables():
            yield from table

    @property
    def has_failures(self) -> bool:
        """Whether some file of a known kind did not load."""
        return self.secrets_failed or any(table.failed for table in self.tables())


def build_index(
    root: Path, environment: str, loaded: Sequence[LoadedObject[Any]], failed_kinds: Iterable[str] = ()
) -> ProjectIndex:
    """Register every loaded object; ``failed_kinds`` are the kinds of files that did not load."""
    failed = set(failed_kinds)

    def table(top_key: str) -> Any:
        kind = KIND_BY_TOP_KEY[top_key]
        return ObjectTable(kind=kind, root=root, failed=kind.kind in failed)

    index = ProjectIndex(
        root=root,
        environment=environment,
        sources=table("source"),
        destinations=table("destination"),
        pipelines=table("pipeline"),
        jobs=table("job"),
        triggers=table("trigger"),
        channels=table("channel"),
        transformations=table("transformation"),
        secrets_failed=SECRETS_KIND.kind in failed,
    )
    by_kind: Mapping[str, ObjectTable[Any]] = {t.kind.kind: t for t in index.tables()}
    for obj in loaded:
        if obj.kind is SECRETS_KIND:
            _add_secrets(index, obj)
            continue
        error = by_kind[obj.kind.kind].add(obj)
        if error is not None:
            index.errors.append(error)
    return index


def _add_secrets(index: ProjectIndex, obj: LoadedObject[Any]) -> None:
    if index.secrets_file is not None:
        index.errors.append(
            obj.doc.error(
                ("secrets",),
                "a second secrets mapping file",
                f"keep one; the first is {index.secrets_file.file.name}",
                at_key=True,
            )
        )
        return
    index.secrets_file = obj
    index.secrets = dict(obj.model)
