"""The local PostgreSQL at 127.0.0.1:5432 (trust auth), as the tests use it."""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PG_USER = os.environ.get("PGUSER") or getpass.getuser()
PG_CONNECT: dict[str, Any] = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": PG_USER}


def pg_query(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run statements on the ``test`` database in their own autocommitted connection; return rows."""
    import psycopg2

    connection = psycopg2.connect(**PG_CONNECT, connect_timeout=5)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


@contextmanager
def unique_schema(prefix: str, *, create: bool) -> Iterator[str]:
    """A uniquely named schema (created when asked); it and dlt's ``_staging`` twin are dropped after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    if create:
        pg_query(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        pg_query(
            f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; DROP SCHEMA IF EXISTS "{schema}_staging" CASCADE'
        )
