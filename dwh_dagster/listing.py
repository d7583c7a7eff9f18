"""The ``dwh list`` view of a project, as text (the original design's layout) or JSON."""

from __future__ import annotations

from typing import Any

from dwh_dagster.config.models.checks import check_name
from dwh_dagster.config.models.freshness import describe_freshness
from dwh_dagster.config.models.partitions import describe_partitions
from dwh_dagster.config.models.triggers import (
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    TriggerModel,
    WebhookTrigger,
)
from dwh_dagster.config.resolved import ResolvedProject


def _trigger_schedule(trigger: TriggerModel) -> str | None:
    if isinstance(trigger, CronTrigger):
        return f"{trigger.schedule.cron} ({trigger.schedule.timezone})"
    if isinstance(trigger, IntervalTrigger):
        return f"every {trigger.interval.describe()}"
    if isinstance(trigger, EventTrigger):
        event = trigger.event
        detail = (
            getattr(event, "job", None)
            or getattr(event, "path", None)
            or ", ".join(getattr(event, "pipelines", []))
        )
        return f"on {event.type}: {detail}"
    if isinstance(trigger, WebhookTrigger):
        return f"POST /webhooks/{trigger.name} ({trigger.webhook.auth})"
    return None


def project_summary(project: ResolvedProject) -> dict[str, Any]:
    """Everything ``dwh list`` shows, as plain data (the ``--json`` output)."""
    return {
        "environment": project.environment,
        "defs_dir": str(project.defs_dir),
        "sources": [
            {
                "name": s.name,
                "type": s.type,
                "resources": s.resource_names(),
                "file": _file(project, "sources", n),
            }
            for n, s in project.sources.items()
        ],
        "destinations": [
            {"name": d.name, "type": d.type, "file": _file(project, "destinations", n)}
            for n, d in project.destinations.items()
        ],
        "pipelines": [
            {
                "name": n,
                "source": p.source.name,
                "source_file": p.model.source.config_file,
                "resources": list(p.resources),
                "destination": p.destination.name,
                "destination_file": p.model.destination.config_file,
                "dataset": p.dataset,
                "depends_on": list(p.depends_on),
                "checks": {
                    resource: [f"{check_name(c)} ({c.severity})" for c in checks]
                    for resource, checks in p.model.checks.items()
                },
                "freshness": {
                    resource: describe_freshness(f)
                    for resource in p.resources
                    if (f := p.model.freshness_of(resource)) is not None
                },
                "partitions": describe_partitions(p.partitions) if p.partitions is not None else None,
                "file": _file(project, "pipelines", n),
            }
            for n, p in project.pipelines.items()
        ],
        "transformations": [
            {
                "name": n,
                "destination": t.destination_name,
                "dataset": t.dataset,
                "materialized": t.model.materialized,
                "reads": [f"{d}.{table}" for d, table in (*t.upstream, *t.external)],
                "checks": [f"{check_name(c)} ({c.severity})" for c in t.model.checks],
                "freshness": describe_freshness(t.model.freshness) if t.model.freshness else None,
                "partitions": describe_partitions(t.partitions) if t.partitions is not None else None,
                "file": _file(project, "transformations", n),
            }
            for n, t in project.transformations.items()
        ],
        "dbt_projects": [
            {
                "name": n,
                "destination": d.destination_name,
                "dataset": d.dataset,
                "project_dir": str(d.project_dir),
                "assets": ["/".join(key) for key in d.asset_keys],
                "reads": [".".join(s.asset_key) for s in d.sources],
                "file": _file(project, "transformations", n),
            }
            for n, d in project.dbt_projects.items()
        ],
        "jobs": [
            {
                "name": n,
                "mode": j.mode,
                "pipelines": [p.name for p in j.pipelines],
                "transformations": [t.name for t in j.transformations],
                "disabled_pipelines": [e.pipeline.name for e in j.all_entries if not e.enabled],
                "channels": list(j.channels),
                "file": _file(project, "jobs", n),
            }
            for n, j in project.jobs.items()
        ],
        "triggers": [
            {
                "name": n,
                "type": t.model.type,
                "job": t.job.name,
                "job_ref": t.model.job,
                "schedule": _trigger_schedule(t.model),
                "enabled": t.model.enabled,
                "file": _file(project, "triggers", n),
            }
            for n, t in project.triggers.items()
        ],
        "channels": [
            *({"name": c.name, "type": c.type, "default": False} for c in project.channels.values()),
            *({"name": c, "type": c, "default": True} for c in sorted(project.default_channels)),
        ],
        "secrets": [
            {"name": k, "env_var": v.env_var_for(project.environment), "required": v.required}
            for k, v in project.secrets.items()
        ],
    }


def _file(project: ResolvedProject, kind: str, name: str) -> str:
    return project.files[(kind, name)].relative_to(project.defs_dir).as_posix()


def render_listing(project: ResolvedProject) -> str:
    """The text view of ``dwh list``."""
    data = project_summary(project)
    rule = "=" * 80
    out = [rule, f"YAML CONFIGURATIONS - Environment: {project.environment.upper()}", rule, ""]
    out.append(f"SOURCES ({len(data['sources'])}):")
    for s in data["sources"]:
        out += [
            f"  • {s['name']} ({s['type']})",
            f"    Resources: {len(s['resources'])} ({', '.join(s['resources'])})",
        ]
    out += ["", f"DESTINATIONS ({len(data['destinations'])}):"]
    out += [f"  • {d['name']} ({d['type']})" for d in data["destinations"]]
    out += ["", f"PIPELINES ({len(data['pipelines'])}):"]
    for p in data["pipelines"]:
        out += [
            f"  • {p['name']}",
            f"    Source: {p['source_file']} ({', '.join(p['resources'])})",
            f"    Destination: {p['destination_file']} (dataset {p['dataset']})",
        ]
        out += [f"    Checks of {table}: {', '.join(names)}" for table, names in p["checks"].items()]
        out += [f"    Freshness of {table}: {text}" for table, text in p["freshness"].items()]
        if p["partitions"]:
            out.append(f"    Partitions: {p['partitions']}")
    if data["transformations"]:
        out += ["", f"TRANSFORMATIONS ({len(data['transformations'])}):"]
        for t in data["transformations"]:
            out += [
                f"  • {t['name']} ({t['materialized']}, {t['destination']} dataset {t['dataset']})",
                f"    Reads: {', '.join(t['reads']) or '-'}",
            ]
            if t["checks"]:
                out.append(f"    Checks: {', '.join(t['checks'])}")
            if t["freshness"]:
                out.append(f"    Freshness: {t['freshness']}")
            if t["partitions"]:
                out.append(f"    Partitions: {t['partitions']}")
    if data["dbt_projects"]:
        out += ["", f"DBT PROJECTS ({len(data['dbt_projects'])}):"]
        for d in data["dbt_projects"]:
            out += [
                f"  • {d['name']} ({d['destination']} dataset {d['dataset']}, {d['project_dir']})",
                f"    Assets: {', '.join(d['assets']) or '-'}",
                f"    Reads: {', '.join(d['reads']) or '-'}",
            ]
    out += ["", f"JOBS ({len(data['jobs'])}):"]
    for j in data["jobs"]:
        out += [f"  • {j['name']}", f"    Pipelines: {len(j['pipelines'])} ({', '.join(j['pipelines'])})"]
        if j["transformations"]:
            out.append(
                f"    Transformations: {len(j['transformations'])} ({', '.join(j['transformations'])})"
            )
        out.append(f"    Mode: {j['mode']}")
    out += ["", f"TRIGGERS ({len(data['triggers'])}):"]
    for t in data["triggers"]:
        state = "✓ ENABLED" if t["enabled"] else "✗ DISABLED"
        out += [f"  • {t['name']} [{state}]", f"    Type: {t['type']}", f"    Job: {t['job_ref']}"]
        if t["schedule"]:
            out.append(f"    Schedule: {t['schedule']}")
    if data["channels"]:
        out += ["", f"CHANNELS ({len(data['channels'])}):"]
        out += [
            f"  • {c['name']} ({c['type']}{', default' if c['default'] else ''})" for c in data["channels"]
        ]
    return "\n".join(out)


def summary_line(project: ResolvedProject) -> str:
    """One line of counts, printed by ``dwh validate``."""
    counts = [
        (len(project.sources), "source"),
        (len(project.destinations), "destination"),
        (len(project.pipelines), "pipeline"),
        *([(len(project.transformations), "transformation")] if project.transformations else []),
        *([(len(project.dbt_projects), "dbt project")] if project.dbt_projects else []),
        (len(project.jobs), "job"),
        (len(project.triggers), "trigger"),
        (len(project.channels) + len(project.default_channels), "channel"),
        (len(project.secrets), "secret"),
    ]
    parts = ", ".join(f"{n} {label}{'s' if n != 1 else ''}" for n, label in counts)
    return f"OK: {parts} (environment {project.environment}, {project.defs_dir})"
