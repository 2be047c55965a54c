"""The run summary's file name (the data interval) and its atomic, overwriting write."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest


def test_interval_key(dags_on_path: Path) -> None:
    from cems_common import interval_key

    day = datetime(2026, 1, 1, tzinfo=UTC)
    assert interval_key(day, day + timedelta(days=1), "any") == "2026-01-01"
    # The same day given in another time zone is the same key.
    plus_two = timezone(timedelta(hours=2))
    assert interval_key(day.astimezone(plus_two), day + timedelta(days=1), "any") == "2026-01-01"
    assert (
        interval_key(day + timedelta(hours=2), day + timedelta(days=1, hours=2), "any")
        == "20260101T020000Z--20260102T020000Z"
    )
    assert interval_key(None, None, "manual__2026-01-01T10:00:00+00:00") == (
        "run-manual__2026-01-01T10_00_00_00_00"
    )


def test_write_json_atomically_overwrites_and_leaves_no_temporary_file(
    tmp_path: Path, dags_on_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cems_common import write_json_atomically

    target = tmp_path / "runs" / "2026-01-01.json"
    write_json_atomically(target, {"try": 1})
    write_json_atomically(target, {"try": 2, "at": datetime(2026, 1, 1, tzinfo=UTC)})
    assert json.loads(target.read_text()) == {"try": 2, "at": "2026-01-01 00:00:00+00:00"}
    assert [p.name for p in target.parent.iterdir()] == ["2026-01-01.json"]

    # A write that fails half-way keeps the previous summary whole.
    def broken_dump(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patched, pytest.raises(OSError, match="disk full"):
        patched.setattr(json, "dump", broken_dump)
        write_json_atomically(target, {"try": 3})
    assert json.loads(target.read_text())["try"] == 2
    assert [p.name for p in target.parent.iterdir()] == ["2026-01-01.json"]
