"""The real ``dagster-daemon`` killed with SIGKILL and started again while work arrives.

Each test runs ``dagster-daemon run`` in a subprocess on a temporary DAGSTER_HOME (the repo's
dagster.yaml: default run launcher, the QueuedRunCoordinator) with a workspace that loads
``dwh_dagster.definitions`` for the automation tests' small project
(:mod:`dwh_dagster_tests.automation.support`) plus a job ``job_out`` that appends five rows from a
jsonl file to a local filesystem destination. A kill is ``kill -9`` of the daemon process alone,
as a crash leaves things: its code server lives on, orphaned, until its heartbeat times out.

While the daemon is killed and started again the run queue is held (``max_concurrent_runs: 0``
in the instance's dagster.yaml): runs are created and queued, none is launched. The last daemon
starts with the repo's settings (its queue launching four runs at once, for time). So the kills
land on the sensor and schedule daemons' work, not on a run launch, which is another hazard, of
Dagster's run queue: a daemon killed between marking a run STARTING and handing it to its code
server leaves the run STARTING until run monitoring's ``start_timeout_seconds`` (180 s) fails it,
and while it is STARTING it holds its DuckDB file's pool slot, so the file's other queued runs
wait too. After the last start the test waits until every run finished, lets the trigger be
evaluated once more, and counts the runs on the instance:

- webhook: 20 signed deliveries to the real receiver (``dwh webhook serve``), six before the
  daemon starts, then one a second while the daemon is killed twice (the first time as its first
  tick submits runs) and started again; every stored delivery starts exactly one run, a
  redelivery none.
- file_arrived: nine files written one by one while the daemon is killed twice; every file starts
  exactly one run.
- cron ``* * * * *`` with ``catchup: true``: the daemon is killed as soon as it started the
  schedule (mostly before its first tick) and started again after two more ticks were due, then
  killed again as the first late run appears; every tick since the schedule started runs exactly
  once, the first missed one only by the catch-up (Dagster itself runs the latest only). The
  last test evaluates a tick again in process, as the daemon does after a kill mid-tick.

Every process is stopped (its whole process group killed) in ``finally``; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dwh_dagster.automation.schedules import SCHEDULED_TIME_TAG
from dwh_dagster.automation.sensors import FILE_TAG
from dwh_dagster_tests.automation.support import definitions, schedule_of, write_small_project
from dwh_dagster_tests.automation.test_schedules import evaluate, record_prior_run, scheduled_times
from dwh_dagster_tests.conftest import WriteProject, instance_settings_yaml
from dwh_dagster_tests.deployment.support import clean_env, daemon_command, module_workspace
from dwh_dagster_tests.processes import STOP_TIMEOUT, Watched, start, stop, wait_for
from dwh_dagster_tests.webhooks import support as webhooks

pytestmark = pytest.mark.slow  # end to end: real processes, servers or many runs; see README Tests

FIRST_RUN_TIMEOUT = 90  # seconds from a daemon's start to the first run it creates
RUNS_TIMEOUT = 180  # seconds for every run of a test to be created and to finish
EVALUATION_TIMEOUT = 30  # seconds for one more evaluation of a sensor
WAITING = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED)
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)

OUT_FILES = {
    "sources/tiny.yaml": """
        source:
          name: tiny
          type: filesystem
          connection: {bucket_url: drop}
          resources:
            - {name: t_out, file_glob: a.jsonl, format: jsonl, write_disposition: append}
    """,
    "destinations/out.yaml": """
        destination: {name: out, type: filesystem, connection: {bucket_url: out}, format: jsonl}
    """,
    "pipelines/load_out.yaml": """
        pipeline:
          name: load_out
          source: {config_file: tiny, resources: [t_out]}
          destination: {config_file: out, dataset_name: ds_out}
    """,
    "jobs/job_out.yaml": """
        job:
          name: job_out
          pipelines: [{name: load_out}]
    """,
}
"""``job_out``: no DuckDB file, so no writer pool; up to four of its runs go at once."""


def write_project_with(write_project: WriteProject, files: dict[str, str]) -> Path:
    """The small project, ``job_out`` and ``files``; returns the defs dir."""
    defs_dir = write_small_project(write_project)
    write_project({**OUT_FILES, **files})
    return defs_dir


def write_instance_settings(dagster_home: Path, *, queue_held: bool) -> None:
    """The repo's instance settings; ``queue_held``: with ``max_concurrent_runs: 0`` (none
    launched), else with the queue launching up to four runs at once (its threads: one launch
    waits for the run's process to start, seconds), to keep the tests' wall time down."""
    settings = yaml.safe_load(instance_settings_yaml())
    if queue_held:
        settings["concurrency"]["runs"]["max_concurrent_runs"] = 0
    else:
        settings["run_coordinator"]["config"].update({"dequeue_use_threads": True, "dequeue_num_workers": 4})
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(settings))


class Daemon:
    """``dagster-daemon run`` that a test kills with SIGKILL and starts again; every process it
    ever started is stopped with its group by :meth:`stop_all`."""

    def __init__(self, workspace: Path, env: dict[str, str], log: Path, dagster_home: Path) -> None:
        self.workspace = workspace
        self.env = env
        self.log = log
        self.dagster_home = dagster_home
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        """Start a daemon while the run queue is held."""
        assert not self.alive(), "the daemon is already running"
        self._mark(f"start {len(self.processes) + 1}")
        self.processes.append(start(daemon_command(self.workspace), self.env, self.log))

    def start_last(self, tags: dict[str, str]) -> None:
        """Start the daemon that is not killed, with the repo's settings: the queued runs go."""
        runs = runs_with(tags)
        assert all(r.status in WAITING for r in runs), [(r.run_id, r.status.value) for r in runs]
        write_instance_settings(self.dagster_home, queue_held=False)
        self.start()

    def kill(self) -> None:
        """SIGKILL to the daemon process only, as a crash does."""
        process = self.processes[-1]
        assert process.poll() is None, f"the daemon exited ({process.returncode}) before it was killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
        self._mark("kill -9")

    def alive(self) -> bool:
        return bool(self.processes) and self.processes[-1].poll() is None

    def watched(self) -> Watched:
        """The running daemon, for :func:`wait_for` to fail early when it exits."""
        return {"the daemon": (self.processes[-1], self.log)} if self.alive() else {}

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            stop(process, signal.SIGINT)

    def _mark(self, what: str) -> None:
        with self.log.open("a") as out:
            out.write(f"\n===== test: {what} of the daemon at {datetime.now(UTC).isoformat()} =====\n")


@contextmanager
def daemon_for(defs_dir: Path, dagster_home: Path, tmp_path: Path) -> Iterator[Daemon]:
    """A (not yet started) :class:`Daemon` for ``defs_dir``, the run queue held; all stopped on exit."""
    workspace = module_workspace(tmp_path / "workspace.yaml")
    write_instance_settings(dagster_home, queue_held=True)
    with dg.DagsterInstance.get():
        pass  # create the instance's storage before the daemon and its runs use it
    env = clean_env(dagster_home, DWH_DEFS_DIR=str(defs_dir), PYTHONUNBUFFERED="1")
    daemon = Daemon(workspace, env, tmp_path / "daemon.log", dagster_home)
    try:
        yield daemon
    finally:
        daemon.stop_all()


def runs_with(tags: dict[str, str]) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(tags=tags)))


def all_runs() -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs())


def wait_for_more_runs(daemon: Daemon, tags: dict[str, str], count: int, what: str) -> None:
    """Wait until more than ``count`` runs with ``tags`` exist; polled often, to kill the daemon
    while it is still at work on the tick that created the run."""
    wait_for(lambda: len(runs_with(tags)) > count, FIRST_RUN_TIMEOUT, what, daemon.watched(), 0.1)


def all_finished(tags: dict[str, str], expected: int) -> Callable[[], bool]:
    """At least ``expected`` runs with ``tags`` exist and every one of them finished."""

    def check() -> bool:
        runs = runs_with(tags)
        return len(runs) >= expected and all(r.status in FINISHED for r in runs)

    return check


def last_evaluation(sensor: str) -> float:
    """When the newest finished evaluation of ``sensor`` started (0 before the first)."""
    from dagster._core.scheduler.instigation import InstigatorType, SensorInstigatorData

    with dg.DagsterInstance.get() as instance:
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            data = state.instigator_data
            if state.instigator_name == sensor and isinstance(data, SensorInstigatorData):
                return data.last_tick_timestamp or 0.0
    return 0.0


def drain(daemon: Daemon, tags: dict[str, str], expected: int, sensor: str | None = None) -> None:
    """Wait until ``expected`` runs with ``tags`` finished, then for one more evaluation of ``sensor``."""
    try:
        wait_for(all_finished(tags, expected), RUNS_TIMEOUT, f"{expected} finished runs", daemon.watched())
    except AssertionError as error:
        runs = [(r.tags.get("dagster/run_key"), r.status.value) for r in runs_with(tags)]
        raise AssertionError(f"{len(runs)} runs of {expected}: {sorted(runs, key=str)}\n{error}") from None
    if sensor is not None:
        finished = time.time()
        wait_for(
            lambda: last_evaluation(sensor) > finished,
            EVALUATION_TIMEOUT,
            f"an evaluation of {sensor} after the runs finished",
            daemon.watched(),
        )
        # a run that evaluation requested would be created by now; let it finish before counting
        wait_for(all_finished(tags, expected), RUNS_TIMEOUT, "every run to finish", daemon.watched())


def describe(runs: list[dg.DagsterRun], tag: str) -> list[tuple[str | None, str, str]]:
    return sorted((r.tags.get(tag), r.status.value, r.run_id[:8]) for r in runs)


def assert_only_these_runs(tags: dict[str, str]) -> None:
    """Every run on the instance has ``tags`` and succeeded."""
    runs = all_runs()
    others = [r for r in runs if any(r.tags.get(k) != v for k, v in tags.items())]
    assert not others, [(r.job_name, dict(r.tags)) for r in others]
    failed = [r for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]
    assert not failed, [(r.run_id, r.status.value) for r in failed]


# --------------------------------------------------------------------------- webhook deliveries

DELIVERIES = 20  # a run is about 3 s of CPU on two cores: 30 would take the module past 4 minutes
FIRST_DELIVERIES = 6  # stored before the daemon starts: its first tick submits six runs
DOWNTIME = 1.5  # seconds between a kill and the next start
HOOK = "hook"
HOOK_FILES = {
    "secrets_mapping.yaml": f"""
        secrets:
          hook_hmac:
            env_var: {webhooks.HMAC_VAR}
            required: false
    """,
    f"triggers/{HOOK}.yaml": f"""
        trigger:
          name: {HOOK}
          type: webhook
          job: job_out
          webhook:
            auth: hmac_sha256
            secret_key: hook_hmac
            payload_tags: {{delivery_number: n}}
    """,
}


def test_every_stored_webhook_delivery_starts_one_run_across_daemon_kills(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    defs_dir = write_project_with(write_project, HOOK_FILES)
    receiver_env = webhooks.clean_env(dagster_home, **{webhooks.HMAC_VAR: webhooks.HMAC_SECRET})
    sensor_runs = {"dagster/sensor_name": HOOK}
    answers: dict[str, int] = {}
    errors: list[BaseException] = []

    with (
        daemon_for(defs_dir, dagster_home, tmp_path) as daemon,
        webhooks.serve(defs_dir, receiver_env, tmp_path / "receiver") as receiver,
    ):

        def deliver(numbers: range, pause: float = 0.0) -> None:
            try:
                for n in numbers:
                    delivery = f"delivery-{n:02d}"
                    answers[delivery] = receiver.post_signed(HOOK, {"n": n}, delivery=delivery).status
                    time.sleep(pause)
            except BaseException as error:  # re-raised in the test's thread
                errors.append(error)
                raise

        deliver(range(0, FIRST_DELIVERIES))
        daemon.start()
        # the rest arrive one a second, while the daemon is killed twice and started again
        sender = threading.Thread(target=deliver, args=(range(FIRST_DELIVERIES, DELIVERIES), 1.0))
        sender.start()
        try:
            # killed as soon as its first tick created a run: while it submits the first runs
            wait_for_more_runs(daemon, sensor_runs, 0, "the first webhook run")
            daemon.kill()
            time.sleep(DOWNTIME)
            daemon.start()
            wait_for_more_runs(daemon, sensor_runs, len(runs_with(sensor_runs)), "a run after the restart")
            daemon.kill()
            time.sleep(DOWNTIME)
            daemon.start_last(sensor_runs)
        finally:
            sender.join(timeout=DELIVERIES * (1 + webhooks.REQUEST_TIMEOUT))
        assert not sender.is_alive() and not errors, errors
        redelivered = receiver.post_signed(HOOK, {"n": 5}, delivery="delivery-05")
        drain(daemon, sensor_runs, DELIVERIES, sensor=HOOK)

    expected = [f"delivery-{n:02d}" for n in range(DELIVERIES)]
    assert answers == dict.fromkeys(expected, 202)
    assert redelivered.status == 202 and redelivered.json()["duplicate"] is True
    store = webhooks.stored_events(dagster_home / "dwh_webhooks.sqlite", HOOK)
    assert sorted(key for _, key, _ in store) == expected
    runs = runs_with(sensor_runs)
    per_delivery = Counter(r.tags.get("dwh/webhook_delivery") for r in runs)
    assert per_delivery == Counter(expected), describe(runs, "dwh/webhook_delivery")
    for run in runs:
        assert run.job_name == "job_out"
        assert run.tags["dagster/run_key"] == run.tags["dwh/webhook_delivery"]
        assert run.tags["delivery_number"] == str(int(run.tags["dagster/run_key"].removeprefix("delivery-")))
    assert_only_these_runs(sensor_runs)


# --------------------------------------------------------------------------- file_arrived

FILE_TRIGGER = """
    trigger:
      name: on_file
      type: event
      job: job_out
      event: {type: file_arrived, path: "incoming/*.csv"}
      poll_interval: 2
"""


def test_every_arrived_file_starts_one_run_across_daemon_kills(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    defs_dir = write_project_with(write_project, {"triggers/on_file.yaml": FILE_TRIGGER})
    incoming = defs_dir.parent / "incoming"
    incoming.mkdir()
    sensor_runs = {"dagster/sensor_name": "on_file"}
    written: list[str] = []

    def arrive(numbers: range, pause: float = 0.5) -> None:
        for n in numbers:
            path = incoming / f"file_{n}.csv"
            path.write_text(f"id,value\n{n},{n * n}\n")
            written.append(str(path))
            time.sleep(pause)

    with daemon_for(defs_dir, dagster_home, tmp_path) as daemon:
        daemon.start()
        arrive(range(0, 3))
        wait_for_more_runs(daemon, sensor_runs, 0, "the first file's run")
        daemon.kill()
        arrive(range(3, 6))  # arrive while no daemon runs
        daemon.start()
        arrive(range(6, 7))
        wait_for_more_runs(daemon, sensor_runs, len(runs_with(sensor_runs)), "a run after the restart")
        daemon.kill()
        arrive(range(7, 9))
        daemon.start_last(sensor_runs)
        drain(daemon, sensor_runs, len(written), sensor="on_file")

    runs = runs_with(sensor_runs)
    per_file = Counter(r.tags.get(FILE_TAG) for r in runs)
    assert per_file == Counter(written), describe(runs, FILE_TAG)
    assert all(r.tags["dagster/run_key"] == r.tags[FILE_TAG] for r in runs)
    assert all(r.job_name == "job_out" for r in runs)
    assert_only_these_runs(sensor_runs)


# --------------------------------------------------------------------------- cron with catchup

SCHEDULE = "every_minute"
CRON_TRIGGER = f"""
    trigger:
      name: {SCHEDULE}
      type: cron
      job: job_out
      schedule: {{cron: "* * * * *", timezone: UTC, catchup: true}}
"""


def schedule_start(name: str) -> float | None:
    """When the daemon started the schedule (its instigator state), or None before it did."""
    from dagster._core.scheduler.instigation import InstigatorType, ScheduleInstigatorData

    with dg.DagsterInstance.get() as instance:
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE):
            data = state.instigator_data
            if state.instigator_name == name and isinstance(data, ScheduleInstigatorData):
                return data.start_timestamp
    return None


def next_minute(moment: datetime) -> datetime:
    """The first minute boundary strictly after ``moment``."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)


def sleep_until(moment: datetime) -> None:
    time.sleep(max(0.0, moment.timestamp() - time.time()))


def test_cron_catchup_runs_each_tick_missed_by_a_killed_daemon_once(
    write_project: WriteProject, dagster_home: Path, tmp_path: Path
) -> None:
    defs_dir = write_project_with(write_project, {f"triggers/{SCHEDULE}.yaml": CRON_TRIGGER})
    schedule_runs = {"dagster/schedule_name": SCHEDULE}

    with daemon_for(defs_dir, dagster_home, tmp_path) as daemon:
        daemon.start()
        wait_for(
            lambda: schedule_start(SCHEDULE) is not None,
            FIRST_RUN_TIMEOUT,
            "the daemon to start the schedule",
            daemon.watched(),
            0.2,
        )
        stamp = schedule_start(SCHEDULE)
        assert stamp is not None
        started = datetime.fromtimestamp(stamp, UTC)
        daemon.kill()  # mostly before the schedule's first tick, which it may just have evaluated
        killed = datetime.now(UTC)
        # two ticks are due while no daemon runs: the first of them only a catch-up can run
        missed = [next_minute(killed), next_minute(killed) + timedelta(minutes=1)]
        due = [next_minute(started)]  # every tick from the schedule's start to the restart
        while due[-1] < missed[-1]:
            due.append(due[-1] + timedelta(minutes=1))
        sleep_until(missed[-1] + timedelta(seconds=2))
        before = runs_with(schedule_runs)
        assert all(datetime.fromisoformat(r.tags[SCHEDULED_TIME_TAG]) < killed for r in before)
        daemon.start()
        # killed again as soon as the restarted daemon created its first run of a late tick
        wait_for_more_runs(daemon, schedule_runs, len(before), "the first late run")
        daemon.kill()
        daemon.start_last(schedule_runs)
        drain(daemon, schedule_runs, len(due))
        time.sleep(5)  # the scheduler's first iterations of this daemon are done: nothing more
        drain(daemon, schedule_runs, len(due))

    # every tick since the schedule started, up to the restart, ran exactly once
    runs = runs_with(schedule_runs)
    per_tick = Counter(datetime.fromisoformat(r.tags[SCHEDULED_TIME_TAG]) for r in runs)
    up_to_restart = {t: n for t, n in per_tick.items() if t <= missed[-1]}
    assert up_to_restart == dict.fromkeys(due, 1), describe(runs, SCHEDULED_TIME_TAG)
    later = sorted(t for t in per_tick if t > missed[-1])  # ticks after the restart, if any came
    assert later == [missed[-1] + timedelta(minutes=k + 1) for k in range(len(later))], later
    assert all(per_tick[t] == 1 for t in later), per_tick
    assert all(r.job_name == "job_out" for r in runs)
    assert_only_these_runs(schedule_runs)


def test_an_interrupted_catchup_tick_requests_its_runs_again(
    write_project: WriteProject, dagster_home: Path
) -> None:
    """The daemon killed while it launched a catch-up tick's runs: its evaluation of that tick again
    requests every run the first one did, so Dagster submits the run it created but never
    submitted (and skips those it did). In process, as the daemon evaluates the tick."""
    defs_dir = write_project_with(write_project, {f"triggers/{SCHEDULE}.yaml": CRON_TRIGGER})
    defs = definitions(defs_dir)
    schedule = schedule_of(defs, SCHEDULE)
    tick = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with dg.DagsterInstance.get() as instance:
        # the tick before last ran; the evaluation of ``tick`` created the run of the tick it
        # missed, as the daemon does, and was killed before it submitted that run
        record_prior_run(instance, defs, SCHEDULE, "job_out", tick - timedelta(minutes=2))
        late = tick - timedelta(minutes=1)
        instance.create_run_for_job(
            job_def=defs.resolve_job_def("job_out"),
            tags={
                "dagster/schedule_name": SCHEDULE,
                SCHEDULED_TIME_TAG: late.isoformat(),
                ".dagster/scheduled_execution_time": tick.isoformat(),
            },
        )
        assert scheduled_times(evaluate(schedule, instance, tick)) == [late, tick]
        # only an evaluation of the same tick leaves that run out: a later tick counts it as run
        after = tick + timedelta(minutes=1)
        assert scheduled_times(evaluate(schedule, instance, after)) == [tick, after]
