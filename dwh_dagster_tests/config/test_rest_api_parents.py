"""The one rest_api parent parser: agrees with dlt's, and its edges reach the asset graph."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from dwh_dagster.config.loader import load_project
from dwh_dagster.config.models.sources import RestApiResource
from dwh_dagster.config.rest_api import parent_references, parent_resource, scan_parent_references
from dwh_dagster.definitions import build_definitions
from dwh_dagster_tests.config.support import base_files, pipeline
from dwh_dagster_tests.conftest import WriteProject

ENDPOINTS: list[dict[str, Any]] = [
    {"path": "/users"},
    {"path": "/users/{resources.users.id}/posts"},
    {"path": "/posts", "params": {"user": "{resources.users.id}", "page_size": 10}},
    {"path": "/posts/{user}", "params": {"user": {"type": "resolve", "resource": "users", "field": "id"}}},
    {"path": "/search", "method": "POST", "json": {"filter": {"ids": ["{resources.users.id}"]}}},
    {"path": "/search", "method": "POST", "json": {"{resources.users.login}": True}},
    {"path": "/x", "params": {"literal": "{{not a placeholder}}"}},
    {"path": "/posts", "params": {"user": "{resources.users.id}", "org": "{resources.users.org_id}"}},
]


def _resource(endpoint: dict[str, Any]) -> RestApiResource:
    return RestApiResource.model_validate({"name": "child", "endpoint": endpoint})


def _dlt_parent(endpoint: dict[str, Any]) -> str | None:
    """The parent dlt's own dependency graph gives the resource."""
    from dlt.sources.rest_api.config_setup import build_resource_dependency_graph

    resources: list[Any] = [
        {"name": "users", "endpoint": {"path": "/users"}},
        {"name": "child", "endpoint": dict(endpoint)},
    ]
    _, _, resolved = build_resource_dependency_graph({}, resources)
    params = resolved["child"]
    return params[0].resolve_config["resource"] if params else None


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=range(len(ENDPOINTS)))
def test_parent_agrees_with_dlt(endpoint: dict[str, Any]) -> None:
    assert parent_resource(_resource(endpoint)) == _dlt_parent(endpoint)


def test_two_parents_are_seen_where_dlt_refuses_them() -> None:
    from dlt.sources.rest_api.config_setup import build_resource_dependency_graph

    endpoint = {"path": "/users/{resources.users.id}", "json": {"org": "{resources.orgs.id}"}}
    refs = parent_references(_resource(endpoint))
    assert [(r.parent, r.field, r.path) for r in refs] == [
        ("users", "id", ("endpoint", "path")),
        ("orgs", "id", ("endpoint", "json", "org")),
    ]
    with pytest.raises(ValueError, match="Multiple parent resources"):
        build_resource_dependency_graph(
            {},
            [
                {"name": "users", "endpoint": {"path": "/users"}},
                {"name": "orgs", "endpoint": {"path": "/orgs"}},
                {"name": "child", "endpoint": endpoint},
            ],
        )


def test_malformed_placeholders_are_reported() -> None:
    _, bad = scan_parent_references(_resource({"path": "/a/{resources.users}", "params": {"x": "{oops"}}))
    assert [(b.path, b.message.split(":")[0]) for b in bad] == [
        (("endpoint", "path"), "'{resources.users}' is not a parent reference"),
        (
            ("endpoint", "params", "x"),
            "'{oops' has an unbalanced '{' or '}'; write '{{' and '}}' for literal braces",
        ),
    ]


def test_a_parent_named_in_json_is_a_lineage_edge(write_project: WriteProject) -> None:
    files = base_files(pipelines__p=pipeline("p"))
    files["sources/api.yaml"] = """
source:
  name: api
  type: rest_api
  connection: {base_url: "http://127.0.0.1:1"}
  resources:
    - name: users
      endpoint: /users
    - name: matches
      endpoint:
        path: /search
        method: POST
        json: {query: {user_id: "{resources.users.id}"}}
      include_from_parent: [id]
"""
    project = load_project(write_project(files), "dev")
    assert project.pipelines["p"].parents == {"matches": "users"}
    graph = build_definitions(project).resolve_asset_graph()
    assert dg.AssetKey(["raw", "users"]) in graph.get(dg.AssetKey(["raw", "matches"])).parent_keys
