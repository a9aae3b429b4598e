"""Writing the report: the JSON document, the printed tables, and files written whole or not at all."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from imperium_desk.analysis.report import Report


def report_json(report: Report) -> Iterator[bytes]:
    """The report as a JSON document, in pieces: the indented body, then `parents` with one parent a line
    (a million-record file has tens of thousands of parents; they are serialised one at a time, never held as
    one string). orjson writes NaN and infinities as null, as JSON has neither."""
    head = orjson.dumps(report.data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    assert head.endswith(b"\n}")
    yield head[:-2] + b',\n  "parents": ['
    separator = b"\n    "
    for row in report.parent_rows():
        yield separator + orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY)
        separator = b",\n    "
    yield b"\n  ]\n}\n"


def write_files(files: Mapping[Path, Iterable[bytes]]) -> None:
    """Each file written to a temporary name beside it, flushed, then renamed over the target: every target is
    either its old self or complete. All temporaries are written before any rename, so a failure while writing
    (disk full, a missing folder) leaves no target changed; temporaries are removed on failure."""
    temps: list[tuple[Path, Path]] = []
    try:
        for target, data in files.items():
            temp = target.with_name(f".{target.name}.partial")
            temps.append((temp, target))
            with temp.open("wb") as handle:
                for chunk in data:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        for temp, target in temps:
            os.replace(temp, target)
    finally:
        for temp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def summary_lines(report: dict[str, Any]) -> list[str]:  # Report.data
    """Aligned tables for the terminal: the summary, the shortfall breakdown, slippage by algo and by urgency,
    the fitted distributions and the outlier counts."""
    s = report["summary"]
    rows = [
        ("telemetry", f"{report['source']['path']} ({s['records']} records)"),
        ("parents", " ".join(f"{k}={v}" for k, v in s["parents_by_status"].items()) or "0"),
        ("children / fills", f"{s['children']} / {s['fills']}"),
        ("filled qty", f"{s['filled_qty']} (turnover ₹{s['turnover']:,.2f})"),
        ("arrival slippage", f"{_n(s['arrival_slippage_bps'])} bps (value-weighted)"),
        ("shortfall", f"₹{s['implementation_shortfall']:,.2f} = {_n(s['implementation_shortfall_bps'])} bps"),
        ("fees", f"₹{s['fees']:,.2f}"),
    ]
    if s["markouts_bps"]:
        rows.append(("markouts", ", ".join(f"{h} {_n(v)}" for h, v in s["markouts_bps"].items()) + " bps"))
    if s["incomplete_parents"]:
        rows.append(("incomplete", f"{s['incomplete_parents']} parents without a parent record"))
    for key, unit in (("latency_ms", "ms"), ("slippage_bps", "bps")):
        d = report["distributions"][key]
        st = d["stats"]
        if st["count"]:
            winner = d["fit"].get("winner") or "no fit"
            rows.append(
                (
                    key.split("_")[0],
                    f"mean {_n(st['mean'])} {unit}, p50 {_n(st.get('p50'))}, p95 {_n(st.get('p95'))}, "
                    f"p99 {_n(st.get('p99'))}; best fit {winner}",
                )
            )
    outliers = report["outliers"]["metrics"]
    if outliers:
        rows.append(("outliers", ", ".join(f"{m} {o['counts']['either']}" for m, o in outliers.items())))
    protections = report.get("protections")
    if protections and protections["exits"]:
        rows.append(("protective exits", f"{protections['exits']}, cost of the stop "
                     f"{_n(protections['cost_vs_trigger_bps_mean'])} bps vs trigger, "
                     f"{_n(protections['cost_vs_level_bps_mean'])} bps vs level (mean)"))
    lines = _aligned(rows)
    b = report["is_breakdown"]
    lines += ["", "shortfall by component (₹, bps):"]
    lines += _grid(
        ("component", "₹", "bps"),
        [
            (name, f"{b[name]:,.2f}", _n(b[f"{name}_bps"]))
            for name in ("delay_cost", "trading_cost", "opportunity_cost", "fees", "implementation_shortfall")
        ],
    )
    if protections and protections["exits"]:
        lines += ["", "protective exits by reason (cost of the stop, bps, adverse positive):"]
        lines += _grid(
            ("reason", "exits", "filled", "vs trigger", "vs level"),
            [
                (name, str(g["exits"]), str(g["filled"]), _n(g["cost_vs_trigger_bps_mean"]),
                 _n(g["cost_vs_level_bps_mean"]))
                for name, g in protections["by_reason"].items()
            ],
        )
    for key in ("by_algo", "by_urgency"):
        lines += ["", f"{key.replace('_', ' ')}:"]
        lines += _grid(
            ("group", "parents", "filled qty", "arrival bps", "IS bps", "fees ₹"),
            [
                (
                    name,
                    str(g["parents"]),
                    str(g["filled_qty"]),
                    _n(g["arrival_slippage_bps"]),
                    _n(g["implementation_shortfall_bps"]),
                    f"{g['fees']:,.2f}",
                )
                for name, g in report[key].items()
            ],
        )
    return lines


def _n(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _aligned(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in rows)
    return [f"{k.ljust(width)}  {v}" for k, v in rows]


def _grid(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        for r in (header, *rows)
    ]
