"""``dwh``: validate, list, check secrets and write schemas. A thin layer over :func:`load_project`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dwh_dagster.config.environments import UnknownEnvironmentError
from dwh_dagster.config.errors import ProjectConfigError
from dwh_dagster.config.loader import DEFS_DIR_VAR, load_project
from dwh_dagster.config.resolved import ResolvedProject

_NEW_KINDS = ("source", "destination", "pipeline", "job", "trigger", "channel", "transformation")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--defs", metavar="DIR", help=f"defs directory (default: ${DEFS_DIR_VAR} or ./yaml_defs)"
    )
    parser.add_argument(
        "--env", metavar="ENV", help="environment: dev, stage or prod (default: $ENVIRONMENT or dev)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dwh", description="YAML-first data warehouse orchestration on Dagster."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate = sub.add_parser("validate", help="check every YAML file; exit 1 with all problems")
    _common(validate)
    validate.add_argument("--no-snippet", action="store_true", help="one line per problem, no source snippet")
    validate.add_argument(
        "--all-envs",
        action="store_true",
        help="validate dev, stage and prod (overrides of every environment)",
    )
    listing = sub.add_parser("list", help="show sources, destinations, pipelines, jobs and triggers")
    _common(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    secrets = sub.add_parser("secrets", help="show each secret's env var and whether it is set")
    _common(secrets)
    secrets.add_argument("--json", action="store_true", help="machine-readable output")
    schema = sub.add_parser("schema", help="write the JSON schemas for editors")
    _common(schema)
    schema.add_argument(
        "--out", metavar="DIR", help="project root to write .vscode/ into (default: defs dir's parent)"
    )
    doctor = sub.add_parser("doctor", help="check instance config, definitions, secrets and DuckDB files")
    _common(doctor)
    doctor.add_argument(
        "--network", action="store_true", help="also check that sources and destinations answer"
    )
    doctor.add_argument(
        "jobs",
        metavar="JOB",
        nargs="*",
        help="check the secrets these jobs read (default: those of the jobs enabled triggers start)",
    )
    docs = sub.add_parser("docs", help="write the configuration reference (docs/config-reference.md)")
    _common(docs)
    docs.add_argument(
        "--out", metavar="DIR", help="project root to write docs/ into (default: defs dir's parent)"
    )
    run = sub.add_parser("run", help="run a job in this process and print the tables it loaded")
    _common(run)
    run.add_argument("job", metavar="JOB", nargs="?", help="job name (optional with --select)")
    run.add_argument(
        "--select",
        metavar="SELECTION",
        help="assets to run, in Dagster's selection syntax; a model or table name stands for its "
        "key: 'customer_revenue+' is the model and everything downstream (within JOB when given)",
    )
    run.add_argument("--log-level", default="INFO", help="Dagster console log level (default: INFO)")
    _run_options(run)
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop the tables the run loads and their incremental state, and rebuild incremental "
        "models from scratch (run tag dwh/full_refresh=true)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the steps and tables a run would execute, in order, and what it needs; run nothing",
    )
    run.add_argument(
        "--partition",
        metavar="KEY",
        help="the partition of a partitioned job to load (2024-01-31; default: the latest complete one)",
    )
    backfill = sub.add_parser("backfill", help="load a range of partitions of a partitioned job")
    _common(backfill)
    backfill.add_argument("job", metavar="JOB", help="a job whose pipelines are partitioned")
    backfill.add_argument("--from", dest="first", metavar="KEY", required=True, help="first partition")
    backfill.add_argument("--to", dest="last", metavar="KEY", required=True, help="last partition")
    backfill.add_argument(
        "--all", dest="reload_all", action="store_true", help="reload partitions already loaded too"
    )
    backfill.add_argument("--log-level", default="warning", help="console log level (default: warning)")
    _run_options(backfill)
    dev = sub.add_parser(
        "dev",
        help="dagster dev for this project, stopping cleanly on SIGTERM or SIGINT (see README); "
        "every option but --defs and --env goes to dagster dev (-p 3001, -h HOST, --help)",
        add_help=False,  # -h is dagster dev's --host
    )
    _common(dev)
    show = sub.add_parser("show", help="print the first rows of a table or model, its row count and columns")
    _common(show)
    show.add_argument("table", metavar="TABLE", help="a model or table name, dataset/table or dataset.table")
    show.add_argument("--limit", type=int, default=10, help="rows to print (default: 10)")
    new = sub.add_parser(
        "new",
        help="write a commented YAML file of a kind (prompts with a terminal; flags otherwise)",
    )
    _common(new)
    new.add_argument("kind", choices=_NEW_KINDS, metavar="KIND", help=" | ".join(_NEW_KINDS))
    new.add_argument("name", metavar="NAME", help="the object's name, also the file name (NAME.yaml)")
    new.add_argument(
        "--type",
        dest="type_name",
        metavar="TYPE",
        help="the source, destination, trigger, "
        "channel or transformation type (default: rest_api, duckdb, cron, slack, sql)",
    )
    new.add_argument("--source", metavar="S", help="pipeline: the source it reads")
    new.add_argument("--destination", metavar="D", help="pipeline, transformation: where it writes")
    new.add_argument("--dataset", metavar="NAME", help="pipeline, transformation: the dataset it writes")
    new.add_argument(
        "--pipeline",
        dest="pipelines",
        action="append",
        default=[],
        metavar="P",
        help="job: a pipeline it runs (repeat for more)",
    )
    new.add_argument(
        "--transformation",
        dest="transformations",
        action="append",
        default=[],
        metavar="T",
        help="job: a transformation it runs (repeat for more)",
    )
    new.add_argument("--job", metavar="J", help="trigger: the job it starts")
    new.add_argument("--sql", metavar="SELECT", help="transformation: its select")
    check = sub.add_parser("check", help="run only the checks of a job's tables on the data as it is")
    _common(check)
    check.add_argument("job", nargs="?", metavar="JOB", help="the job whose tables are checked")
    check.add_argument("--select", metavar="SEL", help="the tables whose checks run (asset selection syntax)")
    check.add_argument("--log-level", default="warning", help="console log level (default: warning)")
    _run_options(check)
    dbt_parse = sub.add_parser(
        "dbt-parse", help="write the manifest of dbt transformations (dbt parse with the generated profile)"
    )
    _common(dbt_parse)
    dbt_parse.add_argument("names", nargs="*", metavar="NAME", help="dbt transformations (default: all)")
    webhook = sub.add_parser("webhook", help="the webhook receiver")
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True, metavar="COMMAND")
    serve = webhook_sub.add_parser("serve", help="receive POST /webhooks/<trigger name> and store the events")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="port (default: 8787)")
    return parser


def _load(args: argparse.Namespace) -> ResolvedProject:
    return load_project(args.defs, args.env)


def _cmd_validate(args: argparse.Namespace) -> int:
    from dwh_dagster.config.errors import ConfigError
    from dwh_dagster.config.models.base import ENVIRONMENTS
    from dwh_dagster.listing import summary_line

    if not args.all_envs:
        print(summary_line(_load(args)))
        return 0
    shown: set[ConfigError] = set()
    failed = 0
    for environment in ENVIRONMENTS:
        try:
            print(summary_line(load_project(args.defs, environment)))
        except ProjectConfigError as exc:
            failed += 1
            new = [e for e in exc.errors if e not in shown]
            shown.update(new)
            print(f"environment {environment}: {len(exc.errors)} error(s)", file=sys.stderr)
            for error in new:
                print(error.render(with_snippet=not args.no_snippet), file=sys.stderr)
    return 1 if failed else 0


def _cmd_list(args: argparse.Namespace) -> int:
    from dwh_dagster.listing import project_summary, render_listing

    project = _load(args)
    print(json.dumps(project_summary(project), indent=2) if args.json else render_listing(project))
    return 0


def _cmd_secrets(args: argparse.Namespace) -> int:
    project = _load(args)
    rows: list[dict[str, object]] = []
    missing = 0
    for key, entry in project.secrets.items():
        env_var = entry.env_var_for(project.environment)
        is_set = bool(env_var and os.environ.get(env_var))
        if entry.required and not is_set:
            missing += 1
        rows.append({"secret": key, "env_var": env_var, "set": is_set, "required": entry.required})
    if args.json:
        print(
            json.dumps(
                {"environment": project.environment, "secrets": rows, "missing_required": missing}, indent=2
            )
        )
    else:
        print(f"Secrets for environment {project.environment}:")
        width = max((len(key) for key in project.secrets), default=6)
        for r in rows:
            state = "set" if r["set"] else ("MISSING" if r["required"] else "not set (optional)")
            print(f"  {r['secret']:<{width}}  {r['env_var'] or '-':<32} {state}")
        if missing:
            print(f"{missing} required secret{'s are' if missing != 1 else ' is'} not set.")
        else:
            print("All required secrets are set.")
    return 1 if missing else 0


def _output_dirs(args: argparse.Namespace) -> tuple[Path, Path]:
    """The defs directory and where ``dwh schema`` and ``dwh docs`` write (``--out``, else its parent).

    Their output is the same in every environment; ``--env`` is still checked, so a typo fails.
    """
    from dwh_dagster.config.environments import resolve_environment
    from dwh_dagster.config.loader import default_defs_dir

    resolve_environment(args.env)
    defs_dir = Path(args.defs).resolve() if args.defs else default_defs_dir()
    return defs_dir, Path(args.out).resolve() if args.out else defs_dir.parent


def _cmd_schema(args: argparse.Namespace) -> int:
    from dwh_dagster.schema import write_schemas

    defs_dir, root = _output_dirs(args)
    for path in write_schemas(root, defs_folder=defs_dir.name):
        print(f"wrote {os.path.relpath(path)}")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from dwh_dagster.doctor import run_doctor

    checks, healthy = run_doctor(args.defs, args.env, args.network, args.jobs)
    width = max(len(c.area) for c in checks)
    for check in checks:
        print(f"{check.status:<4}  {check.area:<{width}}  {check.detail}")
    failed = sum(c.status == "FAIL" for c in checks)
    print("healthy" if healthy else f"{failed} check(s) failed")
    return 0 if healthy else 1


def _cmd_docs(args: argparse.Namespace) -> int:
    from dwh_dagster.docs import write_reference

    _, root = _output_dirs(args)
    target = write_reference(root)
    print(f"wrote {os.path.relpath(target)}")
    return 0


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print the full traceback of each error (the Dagster event log always has it)",
    )
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="keep the runs in memory only: nothing is written and nothing shows in the UI "
        "(default: the instance of DAGSTER_HOME, else of the project's dagster.yaml, as dagster dev)",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from dwh_dagster.run_command import run_job

    if args.job is None and args.select is None:
        print("error: name a JOB, or --select the assets to run", file=sys.stderr)
        return 2
    return run_job(
        _load(args),
        args.job,
        log_level=args.log_level.upper(),
        select=args.select,
        partition=args.partition,
        ephemeral=args.ephemeral,
        verbose=args.verbose,
        dry_run=args.dry_run,
        full_refresh=args.full_refresh,
    )


def _cmd_backfill(args: argparse.Namespace) -> int:
    from dwh_dagster.backfill_command import backfill_job

    return backfill_job(
        _load(args),
        args.job,
        args.first,
        args.last,
        args.reload_all,
        log_level=args.log_level.upper(),
        ephemeral=args.ephemeral,
        verbose=args.verbose,
    )


def _cmd_dev(args: argparse.Namespace) -> int:
    """Become ``dagster dev`` with SIGINT and SIGTERM at their defaults.

    Dagster maps SIGTERM to whatever SIGINT does when ``dagster dev`` starts
    (``dagster._utils.interrupts.setup_interrupt_handlers``). A process started in the background
    by a non-interactive shell inherits SIGINT ignored, so both signals were ignored and the
    webserver, daemon and code servers lived on until SIGKILL. With SIGINT at its default,
    Python turns it into KeyboardInterrupt, which ``dagster dev`` handles by stopping everything.
    """
    import signal

    if args.defs:
        os.environ["DWH_DEFS_DIR"] = str(Path(args.defs).resolve())
    if args.env:
        os.environ["ENVIRONMENT"] = args.env
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)  # exec keeps an ignored signal ignored
    command = [sys.executable, "-m", "dagster", "dev", *args.dagster_args]
    sys.stdout.flush()
    os.execv(sys.executable, command)
    return 0  # not reached


def _cmd_show(args: argparse.Namespace) -> int:
    from dwh_dagster.show_command import ShowError, show_table

    try:
        lines = show_table(_load(args), args.table, limit=args.limit)
    except ShowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from dwh_dagster.run_command import check_job

    if args.job is None and args.select is None:
        print("error: name a JOB, or --select the tables whose checks run", file=sys.stderr)
        return 2
    return check_job(
        _load(args),
        args.job,
        log_level=args.log_level.upper(),
        select=args.select,
        ephemeral=args.ephemeral,
        verbose=args.verbose,
    )


def _cmd_new(args: argparse.Namespace) -> int:
    from dwh_dagster.new_command import run_new
    from dwh_dagster.scaffold.starters import Wiring

    wiring = Wiring(
        source=args.source,
        destination=args.destination,
        dataset=args.dataset,
        pipelines=tuple(args.pipelines),
        transformations=tuple(args.transformations),
        job=args.job,
        sql=args.sql,
    )
    return run_new(args.defs, args.kind, args.name, args.type_name, wiring)


def _cmd_dbt_parse(args: argparse.Namespace) -> int:
    from dwh_dagster.dbt_command import run_dbt_parse

    return run_dbt_parse(args.defs, args.env, args.names)


def _cmd_webhook(args: argparse.Namespace) -> int:
    import uvicorn

    from dwh_dagster.webhooks.app import build_webhook_app
    from dwh_dagster.webhooks.server import header_deadline_protocol
    from dwh_dagster.webhooks.store import WebhookStore, default_store_path

    project = _load(args)
    store = WebhookStore(default_store_path(project.root_dir))
    try:
        app = build_webhook_app(project, store)
        protocol = header_deadline_protocol()
    except ValueError as exc:  # a bad $DWH_WEBHOOK_BODY_TIMEOUT or $DWH_WEBHOOK_HEADER_TIMEOUT
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"storing webhook events in {store.path}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", http=protocol)
    return 0


_COMMANDS = {
    "validate": _cmd_validate,
    "list": _cmd_list,
    "secrets": _cmd_secrets,
    "schema": _cmd_schema,
    "run": _cmd_run,
    "backfill": _cmd_backfill,
    "docs": _cmd_docs,
    "doctor": _cmd_doctor,
    "check": _cmd_check,
    "show": _cmd_show,
    "new": _cmd_new,
    "dev": _cmd_dev,
    "dbt-parse": _cmd_dbt_parse,
    "webhook": _cmd_webhook,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dwh`` console script; returns the exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "dev":
        args.dagster_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return _COMMANDS[args.command](args)
    except ProjectConfigError as exc:
        print(exc.render(with_snippet=not getattr(args, "no_snippet", False)), file=sys.stderr)
        return 1
    except UnknownEnvironmentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        from dwh_dagster.backfill_command import PartitionError
        from dwh_dagster.run_command import UnknownJobError
        from dwh_dagster.selection import SelectionError

        if not isinstance(exc, UnknownJobError | SelectionError | PartitionError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
