"""Command line (DESIGN.md §3). Exit codes: 0 success, 2 bad input (one line per error, no traceback),
1 unexpected failure."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from imperium_desk import __version__
from imperium_desk.config import ConfigError, config_from_mapping, load_config, read_document
from imperium_desk.scenarios.spec import load_scenario

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def home_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get("IMPERIUM_HOME")
    return Path(env).expanduser() if env else Path.home() / ".imperium_desk"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="imperium-desk", description="Imperium Desk: execution desk for index options")
    parser.add_argument("--version", action="version", version=f"imperium-desk {__version__}")
    _common(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    gui = sub.add_parser("gui", help="the desk window (paper mode by default); the default command")
    _common(gui)

    replay = sub.add_parser("replay", help="deterministic headless run of a scenario on the virtual clock")
    replay.add_argument("scenario", type=Path, help="scenario file (YAML or JSON)")
    replay.add_argument("--seed", type=int, help="override the scenario's seed")
    replay.add_argument("--out", type=Path, help="output folder (default: <home>/runs/<scenario id>)")
    replay.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    _common(replay)

    cfg = sub.add_parser("config", help="config tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, parser_class=_Parser)
    validate = cfg_sub.add_parser("validate", help="validate a config or scenario file")
    validate.add_argument("file", type=Path)
    validate.add_argument("--home", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _common(p: argparse.ArgumentParser, top_level: bool = False) -> None:
    # Options may come before or after the command; a subcommand's copy only sets what it is given.
    default = None if top_level else argparse.SUPPRESS
    p.add_argument("--config", type=Path, default=default, help="desk config (YAML or JSON); default: embedded")
    p.add_argument("--home", default=default, help="data folder (default $IMPERIUM_HOME or ~/.imperium_desk)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "gui"
    try:
        if command == "config":
            return _config_validate(args.file)
        if command == "replay":
            return _replay(args.scenario, args.config, args.seed, args.out, home_dir(args.home), args.quiet)
        return _gui(args.config, home_dir(args.home))
    except ConfigError as exc:
        for line in exc.errors:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_OK


def _config_validate(path: Path) -> int:
    raw = read_document(path)
    if isinstance(raw, dict) and {"orders", "duration_s", "events"} & raw.keys():  # a scenario, not a config
        load_scenario(path)
        print(f"{path}: valid scenario")
        return EXIT_OK
    config_from_mapping(raw, str(path), path.parent)
    print(f"{path}: valid config")
    return EXIT_OK


def _replay(
    scenario_path: Path, config_path: Path | None, seed: int | None, out: Path | None, home: Path, quiet: bool
) -> int:
    from imperium_desk.desk import run_replay

    if seed is not None and seed < 0:
        raise ConfigError([f"--seed: must be a non-negative integer, got {seed}"])
    scenario = load_scenario(scenario_path)
    config = load_config(config_path)
    out_dir = out if out is not None else home / "runs" / scenario.spec.id
    bar = None if quiet or not sys.stderr.isatty() else _ProgressBar()
    summary = run_replay(scenario, config, out_dir, seed=seed, progress=bar)
    if bar is not None:
        bar.finish()
    if not quiet:
        _print_summary(summary.run, summary.telemetry_path)
    return EXIT_OK


def _gui(config_path: Path | None, home: Path) -> int:
    started_at = time.perf_counter()
    config = load_config(config_path)  # a bad config is exit 2 before any window
    from imperium_desk.ui.display import display_problem  # Qt-free: checked before Qt loads

    problem = display_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_FAILURE
    from imperium_desk.ui.app import run_gui

    return run_gui(config, home, started_at=started_at)


class _ProgressBar:
    """Virtual-time progress on stderr, redrawn at most 10 times a wall second."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and fraction < 1.0:
            return
        self._last = now
        filled = int(fraction * 30)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:5.1f}%")
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")


def _print_summary(run: dict[str, object], telemetry: Path) -> None:
    counts = run["counts"]
    assert isinstance(counts, dict)
    statuses = run["parent_status"]
    assert isinstance(statuses, dict)
    quality = run["fill_quality"]
    assert isinstance(quality, dict)
    rows = [
        ("scenario", str(run["id"])),
        ("seed", str(run["seed"])),
        ("virtual time", f"{run['virtual_elapsed_s']} s (wall {run['wall_s']} s)"),
        ("parents", " ".join(f"{k}={v}" for k, v in statuses.items() if v) or "0"),
        ("children / fills", f"{counts['children']} / {counts['fills']}"),
        ("errors / retries", f"{counts['errors']} / {counts['retries']}"),
    ]
    for name, unit in (("latency_ms", "ms"), ("slippage_bps", "bps")):
        stats = quality.get(name)
        if isinstance(stats, dict):
            rows.append(
                (name.split("_")[0], f"mean {stats['mean']} {unit}, p50 {stats['p50']}, p95 {stats['p95']}")
            )
    rows.append(("telemetry", str(telemetry)))
    width = max(len(r[0]) for r in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
