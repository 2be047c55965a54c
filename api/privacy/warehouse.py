"""The DuckDB warehouse dbt builds (``CEMS_WAREHOUSE_PATH``): the gold marts, a second time.

Its tables are the same marts the lakehouse's gold Delta tables hold, so an export counts
the customer's rows here without repeating them. An erasure deletes them and then rewrites
the file (``COPY FROM DATABASE`` into a new file, swapped in), because DuckDB leaves deleted
values in the file's blocks until they happen to be reused.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from api.privacy.lakehouse import KEY_COLUMNS, TEXT_COLUMNS, Keys, predicate


class WarehouseBusyError(RuntimeError):
    """Another process (a dbt build) holds the warehouse file."""


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, list[str], list[str]]]:
    found = con.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where not internal and data_type = 'VARCHAR' "
        "and (schema_name, table_name) in (select schema_name, table_name from duckdb_tables())"
    ).fetchall()
    columns: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in found:
        columns.setdefault((schema, table), set()).add(column)
    result = []
    for (schema, table), names in sorted(columns.items()):
        keys = [c for c in KEY_COLUMNS if c in names]
        text = [c for c in TEXT_COLUMNS if c in names]
        if keys or text:
            result.append((schema, table, keys, text))
    return result


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        raise WarehouseBusyError(
            f"the warehouse {path} is in use by another process (a dbt build?); try again "
            "when it has finished"
        ) from exc


def count(path: Path, keys: Keys) -> dict[str, int]:
    """The customer's rows per warehouse table (``schema.table``); empty without a file."""
    if not path.is_file():
        return {}
    con = _connect(path, read_only=True)
    try:
        counts = {}
        for schema, table, key_columns, text_columns in _tables(con):
            condition = predicate(key_columns, text_columns, keys)
            if condition is None:
                continue
            row = con.execute(
                f'select count(*) from "{schema}"."{table}" where {condition}'
            ).fetchone()
            counts[f"{schema}.{table}"] = int(row[0]) if row else 0
        return counts
    finally:
        con.close()


def erase(path: Path, keys: Keys) -> dict[str, int]:
    """Delete the customer's rows from every table, then rewrite the file without them."""
    if not path.is_file():
        return {}
    con = _connect(path, read_only=False)
    counts: dict[str, int] = {}
    try:
        for schema, table, key_columns, text_columns in _tables(con):
            condition = predicate(key_columns, text_columns, keys)
            if condition is None:
                continue
            row = con.execute(f'delete from "{schema}"."{table}" where {condition}').fetchone()
            counts[f"{schema}.{table}"] = int(row[0]) if row else 0
        if not any(counts.values()):
            return counts
        fresh = path.with_name(path.name + ".erasing")
        fresh.unlink(missing_ok=True)
        (catalog,) = con.execute("select current_database()").fetchone() or ("",)
        con.execute(f"attach '{fresh}' as erasing")
        con.execute(f'copy from database "{catalog}" to erasing')
        con.execute("detach erasing")
    finally:
        con.close()
    fresh.replace(path)
    return counts
