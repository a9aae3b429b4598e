"""`imperium-desk reindex` as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.telemetry_support import record

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "imperium_desk" / "configs" / "scenarios" / "demo.yaml"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imperium_desk", *map(str, args)],
        check=False, capture_output=True, text=True, timeout=120, cwd=REPO, env=dict(os.environ),
    )


def rows(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT * FROM records ORDER BY seq").fetchall()
    finally:
        conn.close()


def write_jsonl(path: Path, seqs: range) -> Path:
    path.write_bytes(b"".join(orjson.dumps(record(s)) + b"\n" for s in seqs))
    return path


def test_reindexing_a_replay_rebuilds_the_index_the_replay_wrote(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli("replay", DEMO, "--out", out, "--quiet", "--home", tmp_path).returncode == 0
    written = rows(out / "telemetry.sqlite")
    (out / "telemetry.sqlite").unlink()
    result = cli("reindex", out / "telemetry.jsonl")
    assert result.returncode == 0, result.stderr
    assert f"{out / 'telemetry.sqlite'}: {len(written)} records" in result.stdout
    assert len(written) > 10
    assert rows(out / "telemetry.sqlite") == written


def test_with_no_files_it_rebuilds_the_desks_own_logs_with_their_segments(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "execution_quality_paper.000000000001.jsonl", range(1, 101))
    write_jsonl(tmp_path / "execution_quality_paper.jsonl", range(101, 151))
    write_jsonl(tmp_path / "execution_quality_live.jsonl", range(1, 21))
    result = cli("reindex", "--home", tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r[0] for r in rows(tmp_path / "execution_quality_paper.sqlite")] == list(range(1, 151))
    assert [r[0] for r in rows(tmp_path / "execution_quality_live.sqlite")] == list(range(1, 21))


def test_db_names_the_one_index_to_write(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "t.jsonl", range(1, 31))
    result = cli("reindex", log, "--db", tmp_path / "elsewhere.sqlite")
    assert result.returncode == 0, result.stderr
    assert len(rows(tmp_path / "elsewhere.sqlite")) == 30
    assert not (tmp_path / "t.sqlite").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "nope.jsonl: no such file"),
        (b"seq,latency_ms\n1,40\n", "nope.jsonl: line 1: not valid JSON"),
        (b'[1, 2]\n', "nope.jsonl: line 1: not a JSON object"),
    ],
)
def test_a_missing_or_non_jsonl_file_exits_2_naming_it(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "nope.jsonl"
    if content is not None:
        path.write_bytes(content)
    result = cli("reindex", path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "nope.sqlite").exists()


def test_a_corrupt_line_exits_2_naming_file_and_line_and_writes_no_index(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "t.jsonl", range(1, 11))
    log.write_bytes(log.read_bytes().replace(b'{"schema_version":1,"seq":6,', b'{"schema_version":1,"seq":6'))
    result = cli("reindex", log)
    assert result.returncode == 2
    assert "t.jsonl: line 6: not valid JSON" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl"]


def test_a_home_without_desk_telemetry_exits_2(tmp_path: Path) -> None:
    result = cli("reindex", "--home", tmp_path)
    assert result.returncode == 2
    assert "no desk telemetry here" in result.stderr
