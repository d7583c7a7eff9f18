"""Sensors from event triggers, and from interval triggers that cron cannot express."""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from dwh_dagster.automation.common import (
    JobTarget,
    Partitioning,
    default_sensor_status,
    run_request,
    trigger_run_tags,
)
from dwh_dagster.config.models.triggers import (
    AssetMaterializedEvent,
    EventTrigger,
    FileArrivedEvent,
    IntervalTrigger,
    JobFinishedEvent,
    WebhookTrigger,
)

FILE_TAG = "dwh/file"


def _poll_seconds(trigger: EventTrigger) -> int:
    return max(1, round(trigger.poll_interval))


def _trigger_sensor(
    trigger: EventTrigger | IntervalTrigger | WebhookTrigger,
    target: JobTarget,
    *,
    seconds: float,
    description: str,
    trigger_type: str,
) -> Callable[..., dg.SensorDefinition]:
    """The ``@dg.sensor`` decorator every trigger sensor shares: named after the trigger, enabled
    as the trigger says in this environment, its own description or ``description``."""
    return dg.sensor(
        name=trigger.name,
        target=target,
        minimum_interval_seconds=seconds,  # type: ignore[arg-type]
        description=trigger.description or description,
        default_status=default_sensor_status(trigger.enabled),
        tags={"dwh/trigger_type": trigger_type},
    )


def build_interval_sensor(
    trigger: IntervalTrigger, target: JobTarget, partitioning: Partitioning | None = None
) -> dg.SensorDefinition:
    """An interval cron cannot express (say 90 minutes): one run per elapsed interval."""
    seconds = trigger.interval.total_seconds()
    base_tags = trigger_run_tags(trigger)

    @_trigger_sensor(
        trigger,
        target,
        seconds=seconds,
        description=f"every {trigger.interval.describe()}",
        trigger_type="interval",
    )
    def _interval(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        window = int(time.time() // seconds)
        if context.cursor == str(window):
            return dg.SkipReason("this interval already has its run")
        context.update_cursor(str(window))
        return run_request(
            partitioning, datetime.now(UTC), run_key=f"{trigger.name}@{window * seconds}", tags=base_tags
        )

    return _interval


def build_job_finished_sensor(
    trigger: EventTrigger,
    event: JobFinishedEvent,
    watched: JobTarget,
    target: JobTarget,
    partitioning: Partitioning | None = None,
) -> dg.SensorDefinition:
    """Start the target job when a run of the watched job succeeds (or fails)."""
    status = dg.DagsterRunStatus.SUCCESS if event.type == "job_succeeded" else dg.DagsterRunStatus.FAILURE
    base_tags = trigger_run_tags(trigger)

    @dg.run_status_sensor(
        run_status=status,
        name=trigger.name,
        monitored_jobs=[watched],
        request_job=target,
        minimum_interval_seconds=_poll_seconds(trigger),
        description=trigger.description,
        default_status=default_sensor_status(trigger.enabled),
        tags={"dwh/trigger_type": "event"},
    )
    def _job_finished(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
        run = context.dagster_run
        return run_request(
            partitioning,
            datetime.now(UTC),
            run_key=f"{trigger.name}:{run.run_id}",
            tags={**base_tags, "dwh/triggered_by_run": run.run_id, "dwh/triggered_by_job": run.job_name},
        )

    return _job_finished


def _watched_description(event: AssetMaterializedEvent) -> str:
    parts = []
    if event.pipelines:
        parts.append(f"{', '.join(event.pipelines)} loaded")
    if event.transformations:
        parts.append(f"{', '.join(event.transformations)} built")
    return "after " + " or ".join(parts)


def build_asset_materialized_sensor(
    trigger: EventTrigger,
    event: AssetMaterializedEvent,
    watched_keys: Sequence[dg.AssetKey],
    target: JobTarget,
    partitioning: Partitioning | None = None,
) -> dg.SensorDefinition:
    """Start the target job once tables of the watched pipelines were materialized.

    The cursor is the newest materialization seen; the first evaluation only records it, so
    history before the sensor was turned on never starts a run.
    """
    base_tags = trigger_run_tags(trigger)

    @_trigger_sensor(
        trigger,
        target,
        seconds=_poll_seconds(trigger),
        description=_watched_description(event),
        trigger_type="event",
    )
    def _asset_materialized(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        after = int(context.cursor) if context.cursor else None
        newest = after or 0
        changed: list[str] = []
        for key in watched_keys:
            records = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=1
            ).records
            if records:
                newest = max(newest, records[0].storage_id)
                changed.append(key.to_user_string())
        if after is None:
            context.update_cursor(str(newest))
            return dg.SkipReason("started watching; earlier materializations do not count")
        if not changed:
            return dg.SkipReason("no new materialization")
        context.update_cursor(str(newest))
        return run_request(
            partitioning,
            datetime.now(UTC),
            run_key=f"{trigger.name}:{newest}",
            tags={**base_tags, "dwh/materialized": ",".join(sorted(changed))[:1000]},
        )

    return _asset_materialized


@dataclass(frozen=True)
class ArrivedFile:
    """A file matching a ``file_arrived`` glob."""

    path: str
    modified: float


def list_files(pattern: str) -> list[ArrivedFile]:
    """Files matching a local glob or an fsspec URL glob, oldest first."""
    if "://" in pattern:
        import fsspec

        fs, path = fsspec.core.url_to_fs(pattern)
        protocol = pattern.split("://", 1)[0]
        found = []
        for name, info in fs.glob(path, detail=True).items():
            if info.get("type") == "directory":
                continue
            stamp = info.get("mtime") or info.get("LastModified") or info.get("updated") or 0
            modified = stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp)
            found.append(ArrivedFile(f"{protocol}://{name}", modified))
        return sorted(found, key=lambda f: (f.modified, f.path))
    files = [p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
    return sorted((ArrivedFile(p, os.path.getmtime(p)) for p in files), key=lambda f: (f.modified, f.path))


def build_file_arrived_sensor(
    trigger: EventTrigger,
    event: FileArrivedEvent,
    pattern: str,
    target: JobTarget,
    partitioning: Partitioning | None = None,
) -> dg.SensorDefinition:
    """One run per new file matching the glob, its path in the ``dwh/file`` run tag.

    The run key is the file's path, so a file never starts two runs, across daemon restarts too;
    the cursor (the paths already seen) keeps each evaluation to the new files, whatever their
    modification time.
    """
    base_tags = trigger_run_tags(trigger)

    @_trigger_sensor(
        trigger,
        target,
        seconds=_poll_seconds(trigger),
        description=f"new files matching {event.path}",
        trigger_type="event",
    )
    def _file_arrived(context: dg.SensorEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        seen = set(json.loads(context.cursor)["seen"]) if context.cursor else set()
        present = list_files(pattern)
        new = [f for f in present if f.path not in seen]
        # the cursor keeps only the paths still present, so it does not grow with every file that
        # ever arrived; a file moved away and back is requested again under the same run key, and
        # the daemon's run-key de-duplication still starts it once
        still_present = sorted(f.path for f in present)
        if still_present != sorted(seen):
            context.update_cursor(json.dumps({"seen": still_present}))
        if not new:
            yield dg.SkipReason(f"no new file matches {event.path}")
            return
        for arrived in new:
            yield run_request(
                partitioning,
                datetime.now(UTC),
                run_key=arrived.path,
                tags={**base_tags, FILE_TAG: arrived.path},
            )

    return _file_arrived


def payload_value(payload: object, dotted: str) -> object:
    """The value at a dotted path (``repository.full_name``, ``commits.0.id``) of a JSON payload."""
    current = payload
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def build_webhook_sensor(
    trigger: WebhookTrigger, target: JobTarget, project_root: Path, partitioning: Partitioning | None = None
) -> dg.SensorDefinition:
    """One run per stored delivery of ``POST /webhooks/<name>``; the run key is the delivery's run key.

    Chosen payload fields become run tags. The store is opened only when the sensor evaluates.
    """
    base_tags = trigger_run_tags(trigger)
    chosen = trigger.webhook.payload_tags
    tag_paths = dict(chosen) if isinstance(chosen, dict) else {path: path for path in chosen}

    @_trigger_sensor(
        trigger,
        target,
        seconds=5,
        description=f"deliveries to POST /webhooks/{trigger.name}",
        trigger_type="webhook",
    )
    def _webhook(context: dg.SensorEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        from dwh_dagster.webhooks.store import WebhookStore, default_store_path

        after = int(context.cursor or 0)
        events = WebhookStore(default_store_path(project_root)).events_after(trigger.name, after)
        if not events:
            yield dg.SkipReason("no new delivery")
            return
        for event in events:
            tags = dict(base_tags)
            for tag, path in tag_paths.items():
                value = payload_value(event.payload, path)
                if value is not None:
                    tags[tag] = str(value)[:1000]
            yield run_request(
                partitioning,
                datetime.now(UTC),
                run_key=event.run_key,
                tags={**tags, "dwh/webhook_delivery": event.run_key},
            )
        context.update_cursor(str(events[-1].id))

    return _webhook
