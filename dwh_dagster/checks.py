"""Cross-file checks: references, duplicates, cycles, secrets; then the :class:`Project`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

from dwh_dagster.errors import ConfigError, did_you_mean, list_choices
from dwh_dagster.loader import LoadedObject
from dwh_dagster.models.channels import CHANNEL_TYPES
from dwh_dagster.models.destinations import DuckDbDestination
from dwh_dagster.models.jobs import Job
from dwh_dagster.models.pipelines import Pipeline
from dwh_dagster.models.secrets import SecretEntry
from dwh_dagster.models.sources import PARENT_REFERENCE, RestApiSource
from dwh_dagster.models.triggers import AssetMaterializedEvent, EventTrigger, JobFinishedEvent
from dwh_dagster.naming import RESERVED_SENSOR_NAMES
from dwh_dagster.ordering import cycle_text, find_cycles, has_cycle_through
from dwh_dagster.project import Project
from dwh_dagster.secrets import iter_secret_references, secret_key_of

_KIND_LABEL = {
    "sources": "source",
    "destinations": "destination",
    "pipelines": "pipeline",
    "jobs": "job",
    "triggers": "trigger",
    "channels": "channel",
}


class _Checker:
    def __init__(self, root: Path, environment: str, loaded: list[LoadedObject], failed_kinds: set[str]):
        self.root = root
        self.environment = environment
        self.failed_kinds = failed_kinds
        self.errors: list[ConfigError] = []
        self.objects: dict[str, dict[str, LoadedObject]] = {k: {} for k in _KIND_LABEL}
        self.references: dict[str, dict[str, str]] = {k: {} for k in _KIND_LABEL}
        self.secrets: dict[str, SecretEntry] = {}
        self.secrets_doc: LoadedObject | None = None
        for obj in loaded:
            if obj.kind.kind == "secrets":
                self._add_secrets(obj)
            else:
                self._add(obj)

    # ------------------------------------------------------------------ registration

    def _add_secrets(self, obj: LoadedObject) -> None:
        if self.secrets_doc is not None:
            self.errors.append(
                obj.doc.error(
                    ("secrets",),
                    "a second secrets mapping file",
                    f"keep one; the first is {self.secrets_doc.file.name}",
                    at_key=True,
                )
            )
            return
        self.secrets_doc = obj
        mapping = obj.model
        assert isinstance(mapping, dict)
        self.secrets = dict(mapping)

    def _add(self, obj: LoadedObject) -> None:
        kind = obj.kind.kind
        existing = self.objects[kind].get(obj.name)
        if existing is not None:
            first = existing.doc.position((existing.kind.top_key, "name"))
            where = f"{existing.file.name}:{first[0]}" if first else existing.file.name
            self.errors.append(
                obj.error(
                    ("name",),
                    f"duplicate {_KIND_LABEL[kind]} name '{obj.name}', also defined in {where}",
                    "give each a unique name",
                )
            )
            return
        self.objects[kind][obj.name] = obj
        refs = self.references[kind]
        folder = self.root / obj.kind.folder
        rel = obj.file.relative_to(folder).as_posix()
        refs[obj.name] = obj.name
        refs[rel] = obj.name
        stem_rel = rel.rsplit(".", 1)[0]
        for alias in {obj.file.name, stem_rel + ".yaml", stem_rel + ".yml"}:
            # a bare file name that is ambiguous across sub-folders is only usable with its folder
            if alias in refs and refs[alias] != obj.name:
                refs[alias] = ""
            else:
                refs.setdefault(alias, obj.name)

    # ------------------------------------------------------------------ references

    def ref(
        self,
        kind: str,
        reference: str,
        owner: LoadedObject,
        path: tuple[str | int, ...],
        defaults: Iterable[str] = (),
    ) -> str | None:
        """Resolve a reference or record an error at ``path`` of ``owner``.

        ``defaults`` are names that stand for a built-in object when no file claims them.
        """
        name = self.references[kind].get(reference)
        if name:
            return name
        if reference in defaults:
            return reference
        if kind in self.failed_kinds:
            return None  # the file it probably names has its own error already
        label = _KIND_LABEL[kind]
        choices = sorted({*self.objects[kind], *defaults})
        if name == "":
            self.errors.append(
                owner.error(
                    path,
                    f"'{reference}' matches several {label} files",
                    "use the name or the path inside the folder",
                )
            )
            return None
        real_files = [
            obj.file.relative_to(self.root / obj.kind.folder).as_posix()
            for obj in self.objects[kind].values()
        ]
        hint = did_you_mean(reference, [*choices, *real_files])
        valid = f"known {label}s: {list_choices(choices)}" if choices else f"there is no {label} yet"
        self.errors.append(
            owner.error(path, f"unknown {label} '{reference}'", f"{hint} {valid}" if hint else valid)
        )
        return None

    # ------------------------------------------------------------------ checks

    def check_pipelines(self) -> None:
        tables: dict[tuple[str, str], str] = {}
        graph: dict[str, list[str]] = {}
        for obj in self.objects["pipelines"].values():
            pipeline = obj.model
            assert isinstance(pipeline, Pipeline)
            source_name = self.ref("sources", pipeline.source.config_file, obj, ("source", "config_file"))
            dest_name = self.ref(
                "destinations", pipeline.destination.config_file, obj, ("destination", "config_file")
            )
            resources: list[str] = []
            if source_name:
                source = self.objects["sources"][source_name].model
                available = source.resource_names()  # type: ignore[attr-defined]
                resources = available
                if pipeline.source.resources is not None:
                    resources = []
                    for index, resource in enumerate(pipeline.source.resources):
                        if resource not in available:
                            hint = did_you_mean(resource, available)
                            valid = f"source '{source_name}' defines {list_choices(available)}"
                            self.errors.append(
                                obj.error(
                                    ("source", "resources", index),
                                    f"unknown resource '{resource}'",
                                    f"{hint} {valid}" if hint else valid,
                                )
                            )
                        elif resource in resources:
                            self.errors.append(
                                obj.error(
                                    ("source", "resources", index),
                                    f"resource '{resource}' is listed twice",
                                    "remove the repeat",
                                )
                            )
                        else:
                            resources.append(resource)
            dataset = pipeline.destination.dataset_name
            if dest_name:
                destination = self.objects["destinations"][dest_name].model
                dataset = dataset or destination.settings.schema_name  # type: ignore[attr-defined]
                if dataset is None:
                    self.errors.append(
                        obj.error(
                            ("destination",),
                            "missing dataset_name",
                            f"add 'dataset_name:' (destination '{dest_name}' has no "
                            "settings.schema to fall back on)",
                            at_key=True,
                        )
                    )
                elif isinstance(destination, DuckDbDestination):
                    stem = Path(destination.connection.database).stem
                    if stem == dataset:
                        self.errors.append(
                            obj.error(
                                ("destination", "dataset_name"),
                                f"dataset '{dataset}' has the same name as the DuckDB "
                                f"file '{destination.connection.database}'",
                                "DuckDB cannot tell the catalog from the schema; rename one of them",
                            )
                        )
            if dataset:
                for resource in resources:
                    other = tables.setdefault((dataset, resource), obj.name)
                    if other != obj.name:
                        self.errors.append(
                            obj.error(
                                ("destination", "dataset_name"),
                                f"table '{dataset}.{resource}' is also loaded by pipeline '{other}'",
                                "each table is loaded by one pipeline; use another dataset_name or resource",
                            )
                        )
            deps: list[str] = []
            for index, dep in enumerate(pipeline.depends_on):
                target = self.ref("pipelines", dep, obj, ("depends_on", index))
                if target == obj.name:
                    self.errors.append(obj.error(("depends_on", index), "a pipeline cannot depend on itself"))
                elif target:
                    deps.append(target)
            graph[obj.name] = deps
        for cycle in find_cycles(graph):
            first = self.objects["pipelines"][cycle[0]]
            self.errors.append(
                first.error(
                    ("depends_on",),
                    f"depends_on cycle: {' -> '.join(cycle)}",
                    "remove one of these dependencies",
                    at_key=True,
                )
            )

    def check_jobs(self) -> None:
        for obj in self.objects["jobs"].values():
            job = obj.model
            assert isinstance(job, Job)
            in_job: dict[str, int] = {}
            for index, entry in enumerate(job.pipelines):
                name = self.ref("pipelines", entry.name, obj, ("pipelines", index, "name"))
                if name is None:
                    continue
                if name in in_job:
                    self.errors.append(
                        obj.error(
                            ("pipelines", index, "name"),
                            f"pipeline '{name}' is listed twice in this job",
                            f"remove the repeat (first at pipelines[{in_job[name]}])",
                        )
                    )
                else:
                    in_job[name] = index
            graph: dict[str, list[str]] = {}
            for index, entry in enumerate(job.pipelines):
                name = self.references["pipelines"].get(entry.name)
                if entry.depends_on and job.execution.mode != "dag":
                    self.errors.append(
                        obj.error(
                            ("pipelines", index, "depends_on"),
                            f"depends_on only applies in 'dag' mode, this job runs '{job.execution.mode}'",
                            "set execution.mode: dag or remove depends_on",
                            at_key=True,
                        )
                    )
                deps = []
                for dep_index, dep in enumerate(entry.depends_on):
                    target = self.references["pipelines"].get(dep)
                    if not target or target not in in_job:
                        others = [p for p in in_job if p != name]
                        if target:
                            message = f"pipeline '{dep}' exists but is not part of this job"
                            hint = "add it to this job's pipelines or remove it from depends_on"
                        else:
                            message = f"'{dep}' is not a pipeline of this job"
                            near = did_you_mean(dep, others)
                            valid = (
                                f"other pipelines of this job: {list_choices(others)}"
                                if others
                                else "this job has no other pipeline"
                            )
                            hint = f"{near} {valid}" if near else valid
                        self.errors.append(
                            obj.error(("pipelines", index, "depends_on", dep_index), message, hint)
                        )
                    elif target == name:
                        self.errors.append(
                            obj.error(
                                ("pipelines", index, "depends_on", dep_index),
                                "a pipeline cannot depend on itself",
                            )
                        )
                    else:
                        deps.append(target)
                if name:
                    graph[name] = deps
            for cycle in find_cycles(graph):
                index = in_job[cycle[0]]
                self.errors.append(
                    obj.error(
                        ("pipelines", index, "depends_on"),
                        f"depends_on cycle: {' -> '.join(cycle)}",
                        "remove one of these dependencies",
                        at_key=True,
                    )
                )
            if not any(entry.enabled for entry in job.pipelines):
                self.errors.append(
                    obj.error(
                        ("pipelines",),
                        "every pipeline of this job is disabled",
                        "enable at least one, or disable the job's triggers",
                        at_key=True,
                    )
                )
            seen_channels: set[str] = set()
            for index, channel in enumerate(job.notifications.channels):
                if channel in seen_channels:
                    self.errors.append(
                        obj.error(
                            ("notifications", "channels", index),
                            f"channel '{channel}' is listed twice",
                            "remove the repeat",
                        )
                    )
                    continue
                seen_channels.add(channel)
                self.ref(
                    "channels", channel, obj, ("notifications", "channels", index), defaults=CHANNEL_TYPES
                )

    def check_triggers(self) -> None:
        for obj in self.objects["triggers"].values():
            trigger = obj.model
            if obj.name in RESERVED_SENSOR_NAMES:
                self.errors.append(
                    obj.error(
                        ("name",), f"'{obj.name}' is reserved for a sensor dwh-dagster adds", "rename it"
                    )
                )
            target = self.ref("jobs", trigger.job, obj, ("job",))  # type: ignore[attr-defined]
            if not isinstance(trigger, EventTrigger):
                continue
            event = trigger.event
            if isinstance(event, JobFinishedEvent):
                watched = self.ref("jobs", event.job, obj, ("event", "job"))
                if watched and watched == target and event.type == "job_succeeded":
                    self.errors.append(
                        obj.error(
                            ("event", "job"),
                            f"job '{target}' would start itself after every success, forever",
                            "watch another job, or use a cron or interval trigger",
                        )
                    )
            elif isinstance(event, AssetMaterializedEvent):
                target_job = self.objects["jobs"][target].model if target else None
                in_target = {
                    self.references["pipelines"].get(e.name)
                    for e in getattr(target_job, "pipelines", [])
                    if e.enabled
                }
                for index, pipeline in enumerate(event.pipelines):
                    name = self.ref("pipelines", pipeline, obj, ("event", "pipelines", index))
                    if name and name in in_target:
                        self.errors.append(
                            obj.error(
                                ("event", "pipelines", index),
                                f"job '{target}' loads '{name}' itself: each run would start the next",
                                "watch pipelines that the job does not load",
                            )
                        )

    def check_rest_api_parents(self) -> None:
        for obj in self.objects["sources"].values():
            source = obj.model
            if not isinstance(source, RestApiSource):
                continue
            names = source.resource_names()
            for index, resource in enumerate(source.resources):
                places: list[tuple[tuple[str | int, ...], Any]] = [
                    (("resources", index, "endpoint"), resource.endpoint.path),
                    *(
                        (("resources", index, "endpoint", "params", key), value)
                        for key, value in resource.endpoint.params.items()
                    ),
                ]
                parents = set()
                for path, value in places:
                    for parent, _field in PARENT_REFERENCE.findall(str(value)):
                        parents.add(parent)
                        if parent == resource.name:
                            self.errors.append(obj.error(path, "a resource cannot be its own parent"))
                        elif parent not in names:
                            hint = did_you_mean(parent, names)
                            valid = f"resources of this source: {list_choices(names)}"
                            self.errors.append(
                                obj.error(
                                    path,
                                    f"unknown parent resource '{parent}'",
                                    f"{hint} {valid}" if hint else valid,
                                )
                            )
                if resource.include_from_parent and not parents:
                    self.errors.append(
                        obj.error(
                            ("resources", index, "include_from_parent"),
                            "include_from_parent needs a parent resource",
                            "reference it as {resources.<parent>.<field>} in the endpoint path or params",
                            at_key=True,
                        )
                    )

    def check_secrets(self) -> None:
        owners = [obj for kind in self.objects.values() for obj in kind.values()]
        for obj in owners:
            for path, reference in iter_secret_references(obj.model):
                key = secret_key_of(reference, self.secrets)
                if key is None:
                    if self.secrets_doc is None and "secrets" in self.failed_kinds:
                        continue
                    suggestion = did_you_mean(reference.removesuffix("_secret_key"), self.secrets)
                    valid = (
                        f"add it to secrets_mapping.yaml (known secrets: {list_choices(self.secrets)})"
                        if self.secrets
                        else "add it to secrets_mapping.yaml"
                    )
                    self.errors.append(
                        obj.error(
                            path,
                            f"unknown secret '{reference}'",
                            f"{suggestion} {valid}" if suggestion else valid,
                        )
                    )
                elif self.secrets[key].env_var_for(self.environment) is None:
                    self.errors.append(
                        obj.error(
                            path,
                            f"secret '{key}' has no env var for environment '{self.environment}'",
                            f"add env_var_{self.environment} (or env_var) to '{key}' in secrets_mapping.yaml",
                        )
                    )

    def check_run_order(self, project: Project) -> None:
        """Dependencies across jobs and the orders of sequential jobs must allow one run order."""
        base = project.run_order_constraints(jobs=[])
        cycle = cycle_text(base)
        if cycle:
            dag_jobs = [obj for obj in self.objects["jobs"].values() if obj.model.execution.mode == "dag"]  # type: ignore[attr-defined]
            owner = dag_jobs[0] if dag_jobs else next(iter(self.objects["pipelines"].values()))
            self.errors.append(
                owner.error(
                    ("pipelines",) if dag_jobs else ("depends_on",),
                    f"depends_on across pipelines and dag jobs form a cycle: {cycle}",
                    "all jobs share one run order, so depends_on may not contradict each other; remove one",
                    at_key=True,
                )
            )
            return
        # the constraints of the sequential jobs accepted so far, grown one job at a time: a job
        # conflicts when the pairs it adds close a cycle, and every cycle through them is reachable
        # from the pipelines they constrain (rebuilding and sorting everything per job is quadratic)
        before = {name: list(earlier) for name, earlier in base.items()}
        accepted: list[Job] = []
        for obj in self.objects["jobs"].values():
            job = obj.model
            assert isinstance(job, Job)
            if job.execution.mode != "sequential":
                continue
            names = [p.name for _, p in project.job_pipelines(job)]
            # a pipeline is listed once per job (checked), so each one is 'later' in one pair at most
            added = [(later, earlier) for earlier, later in pairwise(names) if earlier not in before[later]]
            for later, earlier in added:
                before[later].append(earlier)
            if not added or not has_cycle_through(before, [later for later, _ in added]):
                accepted.append(job)
                continue
            for later, _ in added:
                before[later].pop()
            # the same message as ever: the cycle as found in the constraints built from scratch
            cycle = cycle_text(project.run_order_constraints(jobs=[*accepted, job]))
            assert cycle, "has_cycle_through found a cycle in these constraints"
            others = ", ".join(f"'{j.name}'" for j in accepted) or "no other job"
            self.errors.append(
                obj.error(
                    ("pipelines",),
                    f"the order of this sequential job conflicts with depends_on or with the sequential "
                    f"jobs {others}: {cycle}",
                    "every sequential job must run shared pipelines in the same relative order, after "
                    "the pipelines they depend on",
                    at_key=True,
                )
            )

    def project(self) -> Project:
        references = {
            kind: {ref: name for ref, name in refs.items() if name} for kind, refs in self.references.items()
        }
        used_defaults = {
            channel
            for obj in self.objects["jobs"].values()
            for channel in obj.model.notifications.channels  # type: ignore[attr-defined]
            if channel in CHANNEL_TYPES and channel not in references["channels"]
        }
        for channel in used_defaults:
            references["channels"][channel] = channel
        files = {(kind, name): obj.file for kind, objs in self.objects.items() for name, obj in objs.items()}
        models: Mapping[str, dict[str, Any]] = {
            kind: {name: obj.model for name, obj in sorted(objs.items())}
            for kind, objs in self.objects.items()
        }
        return Project(
            defs_dir=self.root,
            environment=self.environment,
            sources=models["sources"],
            destinations=models["destinations"],
            pipelines=models["pipelines"],
            jobs=models["jobs"],
            triggers=models["triggers"],
            channels=models["channels"],
            default_channels=frozenset(used_defaults),
            secrets=dict(sorted(self.secrets.items())),
            files=files,
            references=references,
        )


def build_project(
    root: Path, environment: str, loaded: list[LoadedObject], failed_kinds: set[str]
) -> tuple[Project | None, list[ConfigError]]:
    """Run every cross-file check; return the project when there is no error."""
    checker = _Checker(root, environment, loaded, failed_kinds)
    checker.check_pipelines()
    checker.check_jobs()
    checker.check_triggers()
    checker.check_rest_api_parents()
    checker.check_secrets()
    if checker.errors or failed_kinds:
        # with files that did not load, references may dangle: the file errors come first
        return None, checker.errors
    project = checker.project()
    checker.check_run_order(project)
    if checker.errors:
        return None, checker.errors
    return project, []
