"""Read a Memos SQLite database (the default store) into rows; read-only, never written.

A MySQL or PostgreSQL reader would run the same five SELECTs through its own driver
(`pymysql`, `psycopg`) and return the same MemosDatabase: the columns are the same in
Memos' three LATEST.sql files (README "Moving from Memos"), and so is a column older
databases lack (DERIVED), with that dialect's expression from the same migration.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, get_type_hints

from tools.memos_import.rows import (
    IdpRow,
    MemosDatabase,
    SystemSettingRow,
    UserIdentityRow,
    UserRow,
    UserSettingRow,
    columns,
)

if TYPE_CHECKING:
    from tools.memos_import.rows import Row

R = TypeVar("R", bound="Row")

# Columns Memos added later, by table: what Memos' own migration gives a row from before.
# idp.uid came with v0.27 (store/migration/sqlite/0.27/01__add_idp_uid.sql: `UPDATE idp SET
# uid = printf('%08x', id)`); v0.11-v0.26 have the table without it. user_identity.provider
# holds that uid, so a link made after the upgrade names the same provider.
DERIVED = {(IdpRow.TABLE, "uid"): "printf('%08x', id)"}


class NotAMemosDatabase(Exception):
    """The file is not SQLite, has no `user` table, or holds a value of the wrong type."""


def read(path: Path) -> MemosDatabase:
    if not path.is_file():
        raise NotAMemosDatabase(f"{path}: no such file")
    # mode=ro: a running Memos may hold the file; the import never changes it.
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if UserRow.TABLE not in tables:
            raise NotAMemosDatabase(f"{path}: no `user` table, not a Memos database")
        return MemosDatabase(
            users=_read(connection, tables, UserRow, "id"),
            user_settings=_read(connection, tables, UserSettingRow, "user_id, key"),
            system_settings={
                row.name: row.value for row in _read(connection, tables, SystemSettingRow, "name")
            },
            idps=_read(connection, tables, IdpRow, "id"),
            user_identities=_read(connection, tables, UserIdentityRow, "user_id, provider, extern_uid"),
        )
    except sqlite3.DatabaseError as error:
        raise NotAMemosDatabase(f"{path}: {error}") from None
    except _Damaged as error:
        raise NotAMemosDatabase(f"{path}: {error}") from None
    finally:
        connection.close()


def _read(connection: sqlite3.Connection, tables: set[str], row: type[R], order: str) -> list[R]:
    """Every row of `row`'s table (its columns, rows ordered by `order`)."""
    # Older databases lack some tables (idp before v0.11, user_identity before v0.28): no rows.
    if row.TABLE not in tables:
        return []
    present = {name for (name,) in connection.execute("SELECT name FROM pragma_table_info(?)", (row.TABLE,))}
    # Any other missing column is a database this reader does not know: SQLite names it.
    listed = ", ".join(
        column if column in present else DERIVED.get((row.TABLE, column), column) for column in columns(row)
    )
    # Table and column names are the row classes' constants, never input. format(), not an
    # f-string: bandit warns for each piece of one on a `nosec` line except the piece it flags.
    query = "SELECT {} FROM {} ORDER BY {}".format(listed, row.TABLE, order)  # noqa: S608, UP032  # nosec B608
    kinds = [(column, get_type_hints(row)[column]) for column in columns(row)]
    return [row(*_checked(row.TABLE, kinds, values)) for values in connection.execute(query)]


class _Damaged(Exception):
    pass


_TYPE_NAMES = {int: "a number", str: "text", bytes: "a blob", float: "a real", type(None): "NULL"}


def _checked(table: str, kinds: list[tuple[str, type]], values: tuple[object, ...]) -> tuple[object, ...]:
    """The row's values if each has its column's type in Memos' schema. SQLite keeps a value of
    another type as it was given (text in a BIGINT column, a blob anywhere): the database is
    damaged, refused whole before anything is written, as a row skipped for it could leave its
    id to a newcomer. The row is named by its first column (an id or a setting's name); no
    value of it is shown, as one may be a hash or a key."""
    for (column, kind), value in zip(kinds, values, strict=True):
        if type(value) is not kind:
            first = values[0] if type(values[0]) is kinds[0][1] else "?"
            found = _TYPE_NAMES.get(type(value), type(value).__name__)
            raise _Damaged(
                f"the database is damaged: `{table}` row {str(first)[:40]}: `{column}` holds {found},"
                f" not {_TYPE_NAMES[kind]}"
            )
    return values
