"""Read a Memos SQLite database (the default store) into rows; read-only, never written.

A MySQL or PostgreSQL reader would run the same five SELECTs through its own driver
(`pymysql`, `psycopg`) and return the same MemosDatabase: the columns are the same in
Memos' three LATEST.sql files (README "Moving from Memos").
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tools.memos_import.rows import IdpRow, MemosDatabase, UserIdentityRow, UserRow, UserSettingRow


class NotAMemosDatabase(Exception):
    """The file is not SQLite, or has no `user` table."""


def read(path: Path) -> MemosDatabase:
    if not path.is_file():
        raise NotAMemosDatabase(f"{path}: no such file")
    # mode=ro: a running Memos may hold the file; the import never changes it.
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "user" not in tables:
            raise NotAMemosDatabase(f"{path}: no `user` table, not a Memos database")
        return MemosDatabase(
            users=[
                UserRow(*row)
                for row in connection.execute(
                    "SELECT id, created_ts, updated_ts, row_status, username, role, email, nickname,"
                    " password_hash FROM user ORDER BY id"
                )
            ],
            user_settings=[
                UserSettingRow(*row)
                for row in _rows(connection, tables, "user_setting", "user_id, key, value", "user_id, key")
            ],
            system_settings=dict(_rows(connection, tables, "system_setting", "name, value", "name")),
            idps=[
                IdpRow(*row)
                for row in _rows(
                    connection, tables, "idp", "id, uid, name, type, identifier_filter, config", "id"
                )
            ],
            user_identities=[
                UserIdentityRow(*row)
                for row in _rows(
                    connection,
                    tables,
                    "user_identity",
                    "user_id, provider, extern_uid",
                    "user_id, provider, extern_uid",
                )
            ],
        )
    except sqlite3.DatabaseError as error:
        raise NotAMemosDatabase(f"{path}: {error}") from None
    finally:
        connection.close()


def _rows(
    connection: sqlite3.Connection, tables: set[str], table: str, columns: str, order: str
) -> list[tuple[Any, ...]]:
    # Older databases lack some tables (idp, user_identity): none means no rows.
    if table not in tables:
        return []
    # Table and column names are this module's constants, never input.
    return connection.execute(f"SELECT {columns} FROM {table} ORDER BY {order}").fetchall()  # noqa: S608  # nosec B608 - fixed names
