"""Unit tests of the rule modules: each rule function alone, over an index of a small project."""

from __future__ import annotations

from dwh_dagster.config.index import ProjectIndex
from dwh_dagster.config.rules import RULES
from dwh_dagster.config.rules.jobs import check_jobs
from dwh_dagster.config.rules.pipelines import check_pipelines
from dwh_dagster.config.rules.rest_api import check_rest_api_parents
from dwh_dagster.config.rules.run_order import check_run_order
from dwh_dagster.config.rules.secrets import check_secrets
from dwh_dagster.config.rules.triggers import check_triggers
from dwh_dagster_tests.config.support import base_files, headlines, index_of, pipeline
from dwh_dagster_tests.conftest import WriteProject

JOB = """
job:
  name: {name}
  execution: {{mode: {mode}}}
  pipelines:
{entries}
"""


def job(name: str, *entries: str, mode: str = "sequential", extra: str = "") -> str:
    return JOB.format(name=name, mode=mode, entries="\n".join(f"    - {e}" for e in entries)) + extra


def clean(write_project: WriteProject) -> ProjectIndex:
    return index_of(
        write_project,
        base_files(
            pipelines__a=pipeline("a", "raw_a"),
            pipelines__b=pipeline("b", "raw_b", "  depends_on: [a]\n"),
            jobs__both=job("both", "{name: a}", "{name: b}"),
            triggers__nightly="trigger:\n  name: nightly\n  type: manual\n  job: both.yaml\n",
        ),
    )


def test_every_rule_passes_a_clean_project(write_project: WriteProject) -> None:
    index = clean(write_project)
    assert [error for rule in RULES for error in rule(index)] == []
    assert check_run_order(index) == []


# ----------------------------------------------------------------------------- pipelines


def test_pipelines_rule_reports_unknown_source_resource_and_shared_tables(
    write_project: WriteProject,
) -> None:
    index = index_of(
        write_project,
        base_files(
            pipelines__a=pipeline("a").replace("api.yaml", "apii.yaml"),
            pipelines__b=pipeline("b", extra="").replace(
                "{config_file: api.yaml}", "{config_file: api, resources: [userz]}"
            ),
            pipelines__c=pipeline("c"),
            pipelines__d=pipeline("d"),
        ),
    )
    found = headlines(check_pipelines(index))
    assert any(
        "a.yaml:3:" in h and "unknown source 'apii.yaml'; did you mean 'api.yaml'?" in h for h in found
    ), found
    assert any(
        "b.yaml:3:" in h and "unknown resource 'userz'" in h and "'posts', 'users'" in h for h in found
    ), found
    assert any("d.yaml:4:" in h and "table 'raw.users' is also loaded by pipeline 'c'" in h for h in found), (
        found
    )
    assert len(found) == 4, found  # d clashes with c on both tables; a and b load nothing


def test_pipelines_rule_reports_a_depends_on_cycle_once(write_project: WriteProject) -> None:
    index = index_of(
        write_project,
        base_files(
            pipelines__a=pipeline("a", "x", "  depends_on: [b]\n"),
            pipelines__b=pipeline("b", "y", "  depends_on: [a.yaml]\n"),
        ),
    )
    found = headlines(check_pipelines(index))
    assert len(found) == 1 and "depends_on cycle: a -> b -> a" in found[0], found


# ----------------------------------------------------------------------------- jobs


def test_jobs_rule_checks_entries_depends_on_and_channels(write_project: WriteProject) -> None:
    index = index_of(
        write_project,
        base_files(
            pipelines__a=pipeline("a", "x"),
            pipelines__b=pipeline("b", "y"),
            jobs__j=job(
                "j",
                "{name: a}",
                "{name: a.yaml}",
                "{name: b, depends_on: [a]}",
                "{name: zz}",
                extra="  notifications: {channels: [slack, slack, pager]}\n",
            ),
        ),
    )
    found = headlines(check_jobs(index))
    assert any("pipeline 'a' is listed twice in this job" in h for h in found), found
    assert any("depends_on only applies in 'dag' mode, this job runs 'sequential'" in h for h in found), found
    assert any("unknown pipeline 'zz'" in h for h in found), found
    assert any("channel 'slack' is listed twice" in h for h in found), found
    assert any("unknown channel 'pager'" in h for h in found), found
    assert len(found) == 5, found  # 'slack' is a default channel: known without a file


def test_jobs_rule_reports_a_dag_cycle(write_project: WriteProject) -> None:
    index = index_of(
        write_project,
        base_files(
            pipelines__a=pipeline("a", "x"),
            pipelines__b=pipeline("b", "y"),
            jobs__j=job("j", "{name: a, depends_on: [b]}", "{name: b, depends_on: [a]}", mode="dag"),
        ),
    )
    found = headlines(check_jobs(index))
    assert len(found) == 1 and "depends_on cycle: a -> b -> a" in found[0], found


# ----------------------------------------------------------------------------- triggers


def test_triggers_rule_reports_unknown_job_and_self_starting_triggers(write_project: WriteProject) -> None:
    files = base_files(
        pipelines__a=pipeline("a", "x"),
        jobs__j=job("j", "{name: a}"),
        triggers__t1="trigger:\n  name: t1\n  type: manual\n  job: jj\n",
        triggers__t2=(
            "trigger:\n  name: t2\n  type: event\n  job: j\n  event: {type: job_succeeded, job: j.yaml}\n"
        ),
        triggers__t3=(
            "trigger:\n  name: t3\n  type: event\n  job: j\n"
            "  event: {type: asset_materialized, pipelines: [a]}\n"
        ),
        triggers__t4="trigger:\n  name: dwh_sla_monitor\n  type: manual\n  job: j\n",
    )
    found = headlines(check_triggers(index_of(write_project, files)))
    assert any("t1.yaml:4:" in h and "unknown job 'jj'; did you mean 'j'?" in h for h in found), found
    assert any("t2.yaml:" in h and "would start itself after every success" in h for h in found), found
    assert any("t3.yaml:" in h and "job 'j' loads 'a' itself" in h for h in found), found
    assert any("t4.yaml:2:" in h and "reserved for a sensor dwh-dagster adds" in h for h in found), found
    assert len(found) == 4, found


# ----------------------------------------------------------------------------- rest_api


def _source(resources: str) -> dict[str, str]:
    files = base_files()
    files["sources/api.yaml"] = (
        "source:\n  name: api\n  type: rest_api\n  connection: {base_url: 'http://127.0.0.1:1'}\n"
        f"  resources:\n{resources}"
    )
    return files


def test_rest_api_rule_reports_unknown_self_and_second_parents(write_project: WriteProject) -> None:
    resources = """\
    - name: users
      endpoint: /users
    - name: orgs
      endpoint: /orgs
    - name: posts
      endpoint:
        path: /users/{resources.users.id}/posts
        json: {org: "{resources.orgs.id}"}
    - name: self_ref
      endpoint: /x/{resources.self_ref.id}
    - name: typo
      endpoint:
        path: /y
        params: {user: "{resources.usres.id}"}
    - name: lonely
      endpoint: /lonely
      include_from_parent: [id]
"""
    found = headlines(check_rest_api_parents(index_of(write_project, _source(resources))))
    assert any(
        "api.yaml:13:" in h
        and "resources[2].endpoint.json.org: a second parent resource 'orgs'" in h
        and "already reads from 'users'" in h
        for h in found
    ), found
    assert any("resources[3].endpoint: a resource cannot be its own parent" in h for h in found), found
    assert any(
        "resources[4].endpoint.params.user: unknown parent resource 'usres'; did you mean 'users'?" in h
        for h in found
    ), found
    assert any("resources[5].include_from_parent: include_from_parent needs a parent" in h for h in found), (
        found
    )
    assert len(found) == 4, found


def test_rest_api_rule_accepts_parents_in_json_and_resolve_params(write_project: WriteProject) -> None:
    resources = """\
    - name: users
      endpoint: /users
    - name: by_json
      endpoint:
        path: /search
        method: POST
        json: {filter: {ids: ["{resources.users.id}"]}}
      include_from_parent: [id]
    - name: by_param
      endpoint:
        path: /posts
        params: {user: {type: resolve, resource: users, field: id}}
"""
    assert check_rest_api_parents(index_of(write_project, _source(resources))) == []


def test_rest_api_rule_reports_unbalanced_braces(write_project: WriteProject) -> None:
    resources = """\
    - name: users
      endpoint: "/users/{resources.users"
"""
    found = headlines(check_rest_api_parents(index_of(write_project, _source(resources))))
    assert (
        len(found) == 1 and "resources[0].endpoint: '/users/{resources.users' has an unbalanced" in found[0]
    ), found


# ----------------------------------------------------------------------------- secrets


def test_secrets_rule_reports_unknown_secrets_and_missing_env_vars(write_project: WriteProject) -> None:
    files = base_files(
        channels__chat=(
            "channel:\n  name: chat\n  type: slack\n  webhook_url_secret_key: slak_url_secret_key\n"
        ),
        channels__ops="channel:\n  name: ops\n  type: slack\n  webhook_url_secret_key: prod_only\n",
    )
    files["secrets_mapping.yaml"] = (
        "secrets:\n  slack_url: {env_var: SLACK_URL}\n  prod_only: {env_var_prod: ONLY_IN_PROD}\n"
    )
    found = headlines(check_secrets(index_of(write_project, files)))
    assert any("unknown secret 'slak_url_secret_key'; did you mean 'slack_url'?" in h for h in found), found
    assert any("secret 'prod_only' has no env var for environment 'dev'" in h for h in found), found
    assert len(found) == 2, found
    in_prod = check_secrets(index_of(write_project, files, "prod"))
    assert [e.message for e in in_prod] == ["unknown secret 'slak_url_secret_key'"]


# ----------------------------------------------------------------------------- run order


def test_run_order_rule_reports_sequential_jobs_in_opposite_orders(write_project: WriteProject) -> None:
    index = index_of(
        write_project,
        base_files(
            pipelines__a=pipeline("a", "x"),
            pipelines__b=pipeline("b", "y"),
            jobs__ab=job("ab", "{name: a}", "{name: b}"),
            jobs__ba=job("ba", "{name: b}", "{name: a}"),
        ),
    )
    found = headlines(check_run_order(index))
    assert len(found) == 1, found
    assert "ba.yaml:" in found[0] and "conflicts with depends_on or with the sequential jobs 'ab'" in found[0]


def test_run_order_rule_reports_a_cycle_across_depends_on_and_dag_jobs(write_project: WriteProject) -> None:
    index = index_of(
        write_project,
        base_files(
            pipelines__a=pipeline("a", "x", "  depends_on: [b]\n"),
            pipelines__b=pipeline("b", "y"),
            jobs__d=job("d", "{name: a}", "{name: b, depends_on: [a]}", mode="dag"),
        ),
    )
    found = headlines(check_run_order(index))
    assert len(found) == 1 and "depends_on across pipelines and dag jobs form a cycle" in found[0], found
