"""The run-order rule: every dependency and every sequential job must fit one shared run order."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from dwh_dagster.config.discovery import LoadedObject
from dwh_dagster.config.errors import ConfigError
from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.models.jobs import Job
from dwh_dagster.config.ordering import cycle_text, has_cycle_through, run_order_constraints


def _names(index: ProjectIndex, references: Sequence[str]) -> list[str]:
    return [name for ref in references if (name := index.pipelines.lookup(ref))]


def _sequence(index: ProjectIndex, job: Job) -> list[str]:
    """A sequential job's enabled pipelines in run order."""
    return _names(index, [entry.name for entry in job.entries_in_run_order()])


def _constraints(index: ProjectIndex, sequential: Sequence[Job]) -> dict[str, list[str]]:
    """The run-order constraints with the given sequential jobs (as ``ResolvedProject`` computes them)."""
    pipelines = sorted(index.pipelines.objects)
    jobs = [index.jobs.objects[name].model for name in sorted(index.jobs.objects)]
    return run_order_constraints(
        {name: _names(index, index.pipelines.objects[name].model.depends_on) for name in pipelines},
        [
            {
                name: _names(index, entry.depends_on)
                for entry in job.pipelines
                if (name := index.pipelines.lookup(entry.name))
            }
            for job in jobs
            if job.execution.mode == "dag"
        ],
        [_sequence(index, job) for job in sequential],
    )


def check_run_order(index: ProjectIndex) -> list[ConfigError]:
    """Dependencies across jobs and the orders of sequential jobs must allow one run order.

    Run only on an index without other errors.
    """
    base = _constraints(index, [])
    cycle = cycle_text(base)
    if cycle:
        dag_jobs = [obj for obj in index.jobs if obj.model.execution.mode == "dag"]
        owners: list[LoadedObject[Any]] = [*dag_jobs, *index.pipelines]
        owner = owners[0]
        return [
            owner.error(
                ("pipelines",) if dag_jobs else ("depends_on",),
                f"depends_on across pipelines and dag jobs form a cycle: {cycle}",
                "all jobs share one run order, so depends_on may not contradict each other; remove one",
                at_key=True,
            )
        ]
    # the constraints of the sequential jobs accepted so far, grown one job at a time: a job
    # conflicts when the pairs it adds close a cycle, and every cycle through them is reachable
    # from the pipelines they constrain (rebuilding and sorting everything per job is quadratic)
    errors: list[ConfigError] = []
    before = {name: list(earlier) for name, earlier in base.items()}
    accepted: list[Job] = []
    for obj in index.jobs:
        job = obj.model
        if job.execution.mode != "sequential":
            continue
        names = _sequence(index, job)
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
        cycle = cycle_text(_constraints(index, [*accepted, job]))
        assert cycle, "has_cycle_through found a cycle in these constraints"
        others = ", ".join(f"'{j.name}'" for j in accepted) or "no other job"
        errors.append(
            obj.error(
                ("pipelines",),
                f"the order of this sequential job conflicts with depends_on or with the sequential "
                f"jobs {others}: {cycle}",
                "every sequential job must run shared pipelines in the same relative order, after "
                "the pipelines they depend on",
                at_key=True,
            )
        )
    return errors
