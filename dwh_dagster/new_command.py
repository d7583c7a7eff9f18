"""``dwh new KIND NAME``: write a commented YAML file of a kind, with its references wired.

With a terminal attached, what the flags leave open (type, source, destination, job, pipelines)
is asked for, offering the project's own names; without one, the flags decide and anything left
open becomes a placeholder that ``dwh validate`` reports until it is replaced.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from dwh_dagster.config.errors import did_you_mean, list_choices
from dwh_dagster.config.models.base import check_name
from dwh_dagster.config.models.files import SECRETS_FILE_NAMES
from dwh_dagster.scaffold.render import RenderedFile, plain_values, render_object
from dwh_dagster.scaffold.secrets_mapping import add_secrets
from dwh_dagster.scaffold.starters import (
    KINDS,
    KindSpec,
    Starter,
    Wiring,
    channel_starter,
    destination_starter,
    job_starter,
    pipeline_starter,
    source_starter,
    transformation_starter,
    trigger_starter,
)


class NewFileError(ValueError):
    """``dwh new`` cannot write the file; the message says why and what to do."""


@dataclass(frozen=True)
class NewRequest:
    """What ``dwh new`` was asked for."""

    kind: str
    name: str
    type_name: str | None = None
    wiring: Wiring = field(default_factory=Wiring)


def project_names(defs_dir: Path, spec: KindSpec) -> list[str]:
    """Names defined by the files of one kind folder (unreadable files are skipped: validate reports them)."""
    names: list[str] = []
    folder = defs_dir / spec.folder
    if not folder.is_dir():
        return names
    for path in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        body = data.get(spec.top_key) if isinstance(data, dict) else None
        name = body.get("name") if isinstance(body, dict) else None
        if isinstance(name, str):
            names.append(name)
    return names


def project_file_stems(defs_dir: Path, spec: KindSpec) -> list[str]:
    """File names without ``.yaml`` of one kind folder (a reference may name a file)."""
    folder = defs_dir / spec.folder
    return (
        sorted(p.stem for p in [*folder.rglob("*.yaml"), *folder.rglob("*.yml")]) if folder.is_dir() else []
    )


def _check_ref(value: str | None, what: str, names: list[str], stems: Sequence[str] = ()) -> str | None:
    """``value`` when it names one of ``names`` or a file of ``stems``, else a clear error."""
    if value is None:
        return None
    stem = re.sub(r"\.ya?ml$", "", value)
    if stem in names or (stem != value and stem in stems):
        return value
    hint = did_you_mean(stem, names)
    known = f"{what}s of this project: {list_choices(names)}" if names else f"this project has no {what} yet"
    raise NewFileError(f"unknown {what} '{value}'; {hint + ' ' if hint else ''}{known}")


Ask = Callable[[str, Sequence[str], str | None, bool], list[str]]


def ask_on_terminal(question: str, choices: Sequence[str], default: str | None, many: bool) -> list[str]:
    """Ask on the terminal until the answer is one of ``choices`` (a number or a name; ``many``:
    several, comma-separated). An empty answer takes ``default``."""
    for number, choice in enumerate(choices, 1):
        print(f"  {number}) {choice}")
    suffix = f" [{default}]" if default else ""
    while True:
        answer = input(f"{question}{suffix}: ").strip()
        if not answer and default:
            return [default]
        picked = []
        for part in answer.split(",") if many else [answer]:
            part = part.strip()
            if part.isdigit() and 1 <= int(part) <= len(choices):
                picked.append(choices[int(part) - 1])
            elif part in choices:
                picked.append(part)
            else:
                picked = []
                break
        if picked:
            return picked
        print(f"  answer with a number from 1 to {len(choices)} or one of the names")


Names = dict[str, list[str]]
"""The names each kind's files define, by kind (``source``, ``job``, ...)."""


def _complete(
    request: NewRequest, spec: KindSpec, defs_dir: Path, names: Names, ask: Ask | None
) -> NewRequest:
    """The request with what the flags left open asked for (only with a terminal)."""
    type_name = request.type_name
    if spec.types:
        if type_name is None and ask is not None:
            type_name = ask(f"{spec.kind} type", spec.types, spec.default_type, False)[0]
        type_name = type_name or spec.default_type
        if type_name not in spec.types:
            hint = did_you_mean(str(type_name), spec.types)
            raise NewFileError(
                f"unknown {spec.kind} type '{type_name}'; {hint + ' ' if hint else ''}"
                f"valid types: {list_choices(spec.types)}"
            )
    wiring = request.wiring

    def check(value: str | None, kind: str) -> None:
        _check_ref(value, kind, names[kind], project_file_stems(defs_dir, KINDS[kind]))

    check(wiring.source, "source")
    check(wiring.destination, "destination")
    check(wiring.job, "job")
    for pipeline in wiring.pipelines:
        check(pipeline, "pipeline")
    for transformation in wiring.transformations:
        check(transformation, "transformation")
    sources, destinations, pipelines, jobs = (names[k] for k in ("source", "destination", "pipeline", "job"))
    if ask is not None:
        if spec.kind == "pipeline" and wiring.source is None and sources:
            wiring = replace(wiring, source=ask("source", sources, None, False)[0])
        if spec.kind in ("pipeline", "transformation") and wiring.destination is None and destinations:
            default = destinations[0] if len(destinations) == 1 else None
            wiring = replace(wiring, destination=ask("destination", destinations, default, False)[0])
        if spec.kind == "job" and not wiring.pipelines and not wiring.transformations and pipelines:
            picked = ask("pipelines (comma-separated)", pipelines, None, True)
            wiring = replace(wiring, pipelines=tuple(picked))
        if spec.kind == "trigger" and wiring.job is None and jobs:
            wiring = replace(wiring, job=ask("job to start", jobs, None, False)[0])
    return replace(request, type_name=type_name, wiring=wiring)


def build_starter(request: NewRequest, names: Names) -> Starter:
    """The values of the new file, from the request and the project's names."""
    name, type_name, wiring = request.name, request.type_name or "", request.wiring
    if request.kind == "source":
        return source_starter(name, type_name)
    if request.kind == "destination":
        return destination_starter(name, type_name)
    if request.kind == "pipeline":
        return pipeline_starter(name, wiring, names["source"], names["destination"])
    if request.kind == "job":
        return job_starter(name, wiring, names["pipeline"])
    if request.kind == "trigger":
        return trigger_starter(name, type_name, wiring, names["job"])
    if request.kind == "channel":
        return channel_starter(name, type_name)
    return transformation_starter(name, type_name, wiring, names["destination"])


def render_new_file(request: NewRequest, starter: Starter) -> RenderedFile:
    """The commented text of the new file."""
    spec = KINDS[request.kind]
    what = f"{request.type_name} {spec.kind}" if request.type_name else spec.kind
    doc = (starter.model.__doc__ or "").strip().splitlines()[0]
    header = [
        f"{spec.kind} {request.name}: {doc}",
        f"Written by `dwh new {spec.kind} {request.name}` ({what}). Each field says what it does;",
        "optional ones are commented out with their defaults. Values marked '# replace:' are",
        "placeholders to replace. Reference: docs/config-reference.md. Check: uv run dwh validate",
        "",
    ]
    return render_object(spec.top_key, starter.model, starter.values, header)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def new_file(
    defs_dir: Path, request: NewRequest, *, ask: Ask | None = None, out: Callable[[str], None] = print
) -> Path:
    """Write the new file of ``request`` under ``defs_dir`` and add the secrets it names.

    Raises :class:`NewFileError` (nothing written) for a bad name, type or reference, or a file
    or object of that name that exists already.
    """
    spec = KINDS[request.kind]
    try:
        check_name(request.name)
    except ValueError as exc:
        raise NewFileError(str(exc)) from None
    folder = defs_dir / spec.folder
    for suffix in (".yaml", ".yml"):
        existing = folder / f"{request.name}{suffix}"
        if existing.exists():
            raise NewFileError(f"{_shown(existing)} exists already; pick another name or edit that file")
    names = {kind: project_names(defs_dir, other) for kind, other in KINDS.items()}
    if request.name in names[spec.kind]:
        raise NewFileError(
            f"a {spec.kind} named '{request.name}' exists already in {_shown(folder)}/; pick another name"
        )
    request = _complete(request, spec, defs_dir, names, ask)
    starter = build_starter(request, names)
    starter.model.model_validate(plain_values(starter.values))  # a starter always fits its model
    rendered = render_new_file(request, starter)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{request.name}.yaml"
    path.write_text(rendered.text, encoding="utf-8")
    what = f"{request.type_name} {spec.kind}" if request.type_name else spec.kind
    out(f"wrote {_shown(path)} ({what})")
    if rendered.placeholders:
        out("replace the placeholders (marked '# replace:' in the file):")
        for placeholder in rendered.placeholders:
            out(f"  {_shown(path)}:{placeholder.line}: {placeholder.path}: {placeholder.hint}")
    mapping = next((defs_dir / n for n in SECRETS_FILE_NAMES if (defs_dir / n).exists()), None)
    mapping = mapping or defs_dir / SECRETS_FILE_NAMES[0]
    added, by_hand = add_secrets(mapping, starter.secrets)
    for need in added:
        out(f"added secret '{need.key}' to {_shown(mapping)}: export {need.env_var}=... before a run")
    for need in starter.secrets:
        if need not in added and not by_hand:
            out(
                f"uses secret '{need.key}', which {_shown(mapping)} maps already: give the file "
                "another secret there if it should not share that value"
            )
    if by_hand:
        out(f"add these secrets to {_shown(mapping)} (it could not be extended safely):")
        for line in by_hand:
            out(f"  {line}")
    out("then check the project: uv run dwh validate")
    return path


def run_new(defs: str | None, kind: str, name: str, type_name: str | None, wiring: Wiring) -> int:
    """``dwh new``: prompts with a terminal attached; exit 0 when written, 2 when refused."""
    from dwh_dagster.config.discovery import default_defs_dir

    defs_dir = Path(defs).resolve() if defs else default_defs_dir()
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("DWH_NO_PROMPT")
    try:
        new_file(
            defs_dir, NewRequest(kind, name, type_name, wiring), ask=ask_on_terminal if interactive else None
        )
    except NewFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (EOFError, KeyboardInterrupt):
        print("\nstopped; nothing written", file=sys.stderr)
        return 2
    return 0
