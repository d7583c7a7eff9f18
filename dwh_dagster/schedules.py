"""Dagster schedules from cron triggers."""

from __future__ import annotations

import dagster as dg

from dwh_dagster.assets.specs import yaml_tags
from dwh_dagster.models.triggers import CronTrigger
from dwh_dagster.project import Project


def build_cron_schedule(project: Project, trigger: CronTrigger) -> dg.ScheduleDefinition:
    """A schedule with the trigger's cron and timezone; ``enabled`` sets its default status."""
    return dg.ScheduleDefinition(
        name=trigger.name,
        cron_schedule=trigger.schedule.cron,
        execution_timezone=trigger.schedule.timezone,
        job_name=project.job_for(trigger).name,
        description=trigger.description,
        tags={**yaml_tags(trigger.tags), "dwh/trigger": trigger.name},
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if trigger.enabled else dg.DefaultScheduleStatus.STOPPED
        ),
    )
