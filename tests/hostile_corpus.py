"""Hostile input files (issue 20): what a careless tool or a hostile local user can hand the CLI.

Two families, each a name and the file's bytes (written under a test's tmp folder, never shipped):
- documents: configs, scenarios and run.json files (read by `config validate`, `replay`, `report --config`);
- samples: JSONL/CSV files (read by `fit`, `report`, `reindex`).
Every file here is refused; the few valid-but-odd inputs (an empty config, a fill whose latency is "fast") are
built by the tests that expect them to be accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from imperium_desk.domain.documents import MAX_DOCUMENT_BYTES
from tests.telemetry_support import record

DEEP = 100_000  # nesting levels of the deep files: far past Python's recursion limit


@dataclass(frozen=True)
class Hostile:
    """One hostile file: `name` (the pytest id), the file name to write it as, and a builder of its bytes."""

    name: str
    filename: str
    build: Callable[[], bytes]

    def write(self, folder: Path) -> Path:
        path = folder / self.filename
        path.write_bytes(self.build())
        return path


def alias_bomb(levels: int = 10) -> bytes:
    """The "billion laughs": each level lists the one before ten times; `levels` 10 expands to 10**10 strings
    from about 340 bytes (compact flow style, as in the issue)."""
    lines = ["a: &a [x,x,x,x,x,x,x,x,x,x]"]
    names = "abcdefghijklmnopqrstuvwxyz"
    for level in range(1, levels):
        name, before = names[level], names[level - 1]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{before}"] * 10) + "]")
    return ("\n".join(lines) + "\n").encode()


def _binary() -> bytes:
    return bytes(range(256)) * 64  # every byte value: not UTF-8 (0x80 cannot start a character)


DOCUMENTS = (
    Hostile("alias-bomb", "bomb.yaml", alias_bomb),
    Hostile("deep-json", "deep.json", lambda: b"[" * DEEP + b"]" * DEEP),
    Hostile("deep-yaml", "deep.yaml", lambda: b"{a: " * DEEP + b"1" + b"}" * DEEP),
    Hostile("binary", "binary.yaml", _binary),
    Hostile("huge", "huge.yaml", lambda: b"# padding\n" * (MAX_DOCUMENT_BYTES // 10 + 1)),
    Hostile("nan", "nan.yaml", lambda: b"latency_model:\n  global: {type: normal, mean_ms: .nan, std_ms: 1}\n"),
    Hostile("infinity", "inf.json", lambda: b'{"execution": {"retry": {"base_delay_ms": 1.0e+999}}}'),
    Hostile("wrong-types", "wrong.yaml", lambda: b"risk: lots\nmarket: [1, 2]\n"),
    Hostile("huge-integer", "int.yaml", lambda: b"risk: {max_order_lots: " + b"9" * 5000 + b"}\n"),
    Hostile("recursive-alias", "loop.yaml", lambda: b"risk: &r {max_order_lots: *r}\n"),
)


def _jsonl(*records: dict[str, object]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


_NAN_FILL = b'{"schema_version": 1, "seq": 2, "event": "fill", "latency_ms": NaN}\n'  # what json.dumps writes
SAMPLES = (
    Hostile("binary", "binary.jsonl", _binary),
    Hostile("empty", "empty.jsonl", lambda: b""),
    Hostile("deep-json", "deep.jsonl", lambda: b"[" * DEEP + b"]" * DEEP + b"\n"),
    Hostile("one-huge-line", "oneline.jsonl", lambda: b'{"latency_ms": "' + b"9" * (4 << 20) + b'"}'),
    Hostile("nan", "nan.jsonl", lambda: _jsonl(record(1, event="fill")) + _NAN_FILL),
    Hostile("wrong-types", "wrong.jsonl",
            lambda: _jsonl(record(1, event="fill", latency_ms="fast"), {"seq": "two", "event": 3})),
    Hostile("not-objects", "list.jsonl", lambda: b"[1, 2, 3]\n" * 100),
)


def run_corpus(folder: Path) -> dict[str, int]:
    """Every corpus file through every entry point that reads its kind, in this process: {run name: exit code}.
    The CLI's output is discarded; the caller judges the exit codes and what the process cost."""
    import contextlib
    import io

    from imperium_desk.cli import main

    good = folder / "good.jsonl"
    good.write_bytes(_jsonl(*(record(seq) for seq in range(1, 60))))
    exits: dict[str, int] = {}
    runs: list[tuple[str, list[str]]] = []
    for hostile in DOCUMENTS:
        path = str(hostile.write(folder))
        runs += [(f"config validate {hostile.name}", ["config", "validate", path]),
                 (f"replay {hostile.name}", ["replay", path, "--out", str(folder / "out"), "--quiet",
                                             "--home", str(folder / "home")]),
                 (f"report --config {hostile.name}", ["report", str(good), "--config", path])]
    for hostile in SAMPLES:
        path = str(hostile.write(folder))
        runs += [(f"fit {hostile.name}", ["fit", path]), (f"report {hostile.name}", ["report", path])]
        if hostile.name != "empty":  # an empty log is a valid one
            runs.append((f"reindex {hostile.name}", ["reindex", path, "--db", str(folder / "index.sqlite")]))
    for name, argv in runs:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exits[name] = main(argv)
    return exits


if __name__ == "__main__":
    import json
    import resource
    import sys

    def peak_kb() -> int:
        """This process's own peak resident memory. Not `ru_maxrss`: Linux carries it over `exec` from the process
        that forked us, so under a test worker (Qt and all, ~600 MB) it measured the worker, not the corpus run."""
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux

    exits = run_corpus(Path(sys.argv[1]))
    print(json.dumps({"exits": exits, "peak_rss_mb": round(peak_kb() / 1024, 1)}))
