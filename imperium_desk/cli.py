"""Command line (DESIGN.md §3). Exit codes: 0 success, 2 bad input (one line per error, no traceback),
1 unexpected failure."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from imperium_desk import __version__
from imperium_desk.cli_output import ProgressBar, print_fit_table, print_outcome, print_summary, print_sweep
from imperium_desk.config import Config, ConfigError, config_from_mapping, load_config
from imperium_desk.domain.documents import read_document
from imperium_desk.domain.enums import Mode
from imperium_desk.scenarios.prepare import prepare_config, prepare_scenario
from imperium_desk.scenarios.rerun import is_run_document, load_rerun
from imperium_desk.scenarios.spec import LoadedScenario, load_scenario
from imperium_desk.shipped import shipped_config, shipped_scenario
from imperium_desk.telemetry.segments import TelemetryFileError

if TYPE_CHECKING:
    pass

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


def scenario_arg(text: str) -> Path:
    """A scenario argument: the file it names when there is one, else the shipped scenario of that name (so an
    installed desk, with no repository around it, can `replay demo`), else the path as given (loading it then
    names the missing file)."""
    path = Path(text)
    return path if path.exists() else (shipped_scenario(text) or path)


def config_arg(text: str) -> Path:
    """A `--config` argument: the file it names when there is one, else the shipped config of that name
    (`default`, `demo`), else the path as given."""
    path = Path(text)
    return path if path.exists() else (shipped_config(text) or path)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="imperium-desk", description="Imperium Desk: execution desk for index options")
    parser.add_argument("--version", action="version", version=f"imperium-desk {__version__}")
    _common(parser, top_level=True)
    _mode(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    gui = sub.add_parser("gui", help="the desk window (paper mode by default); the default command")
    _common(gui)
    _mode(gui, top_level=False)

    replay = sub.add_parser("replay", help="deterministic headless run of a scenario on the virtual clock")
    replay.add_argument(
        "scenario", type=scenario_arg,
        help="scenario file (YAML or JSON), a replay's run.json to re-run that run byte for byte, or the name of a "
             "shipped scenario (e.g. demo, news-gap, latency-burst)",
    )
    seeds = replay.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="override the scenario's seed")
    seeds.add_argument(
        "--seeds", metavar="LIST",
        help="a sweep: run every seed (e.g. 1..100 or 1,4,9) in parallel processes, each into <out>/seed-<N>/, "
             "and aggregate the outcomes into <out>/sweep.json",
    )
    replay.add_argument(
        "--jobs", type=int,
        help="processes for --seeds, or worker processes for --cluster local (default: the machine's CPU count)",
    )
    replay.add_argument(
        "--cluster", metavar="ADDRESS",
        help="run --seeds on a Dask cluster: its scheduler's address (tcp://HOST:8786), or `local` for a "
             "LocalCluster of --jobs worker processes; each seed's files come back into <out>/seed-<N>/",
    )
    replay.add_argument(
        "--out", type=Path, help="output folder (default: <home>/runs/<scenario id>, or <id>-sweep for --seeds)"
    )
    replay.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    replay.add_argument(
        "--post", nargs="?", const="", metavar="URL",
        help="post the outcome (each seed's, for a sweep) to a running desk's feedback API as a scenario_outcome; "
             "URL default: the config's feedback host and port; token: <home>/feedback.token",
    )
    _common(replay)

    fit = sub.add_parser("fit", help="fit latency/slippage model families to samples; ranked table")
    fit.add_argument("file", type=Path, help="samples: CSV with a header row, or JSONL (e.g. telemetry)")
    fit.add_argument(
        "--column", help="column to fit (default: latency_ms, else slippage, else slippage_bps); *_ms is latency"
    )
    fit.add_argument("--criterion", choices=("aic", "bic"), default="aic", help="ranking criterion (default aic)")
    fit.add_argument(
        "--emit-config", action="store_true", help="print only the winner as a YAML config snippet (loads as is)"
    )
    fit.add_argument("--home", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    report = sub.add_parser("report", help="post-trade analysis of a telemetry file: TCA, fits, outliers, charts")
    report.add_argument("telemetry", type=Path, help="telemetry JSONL (a replay's telemetry.jsonl or the desk's file)")
    report.add_argument("--html", type=Path, help="write a self-contained HTML report with charts here")
    report.add_argument("--json", type=Path, help="write the full report (per-parent TCA and more) as JSON here")
    report.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help="desk config whose `fees` schedule prices the fills"
    )
    report.add_argument("--home", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    serve = sub.add_parser("serve", help="headless desk: engine, simulated market and the feedback API, no Qt")
    serve.add_argument("--host", help="address to bind the feedback API (default: the config's, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port of the feedback API (default: the config's; 0: any free one)")
    serve.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback --host (prints a warning)"
    )
    serve.add_argument(
        "--yes-live", action="store_true",
        help="confirm live mode: real orders through Kite (serve never asks; without it live mode is refused)",
    )
    _common(serve)
    _mode(serve, top_level=False)

    reindex = sub.add_parser("reindex", help="rebuild the SQLite telemetry index from the JSONL files")
    reindex.add_argument(
        "jsonl", nargs="*", type=Path,
        help="telemetry JSONL files; each stands for its whole log (default: the desk's own logs under home)",
    )
    reindex.add_argument("--db", type=Path, help="the index to write (default: beside each log, <stem>.sqlite)")
    reindex.add_argument("--home", default=argparse.SUPPRESS, help="data folder holding the desk's logs")

    cfg = sub.add_parser("config", help="config tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, parser_class=_Parser)
    validate = cfg_sub.add_parser(
        "validate", help="check a config, scenario or run.json file as gui/serve or replay would run it"
    )
    validate.add_argument("file", type=scenario_arg, help="a file, or the name of a shipped scenario")
    validate.add_argument(
        "--config", type=config_arg, default=argparse.SUPPRESS,
        help="for a scenario: the desk config replay would run it on (default: embedded)",
    )
    validate.add_argument("--home", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _mode(p: argparse.ArgumentParser, top_level: bool) -> None:
    p.add_argument(
        "--mode", choices=[m.value for m in (Mode.PAPER, Mode.PAPER_LIVE_DATA, Mode.LIVE)],
        default=None if top_level else argparse.SUPPRESS,
        help="paper (simulated market), paper-live-data (the paper exchange on Kite's real quotes) or live (real "
             "orders); default: live for broker.kind kite, else paper",
    )


def _common(p: argparse.ArgumentParser, top_level: bool = False) -> None:
    # Options may come before or after the command; a subcommand's copy only sets what it is given.
    default = None if top_level else argparse.SUPPRESS
    p.add_argument("--config", type=config_arg, default=default,
                   help="desk config (YAML or JSON), or a shipped one by name (default, demo); default: embedded")
    p.add_argument("--home", default=default, help="data folder (default $IMPERIUM_HOME or ~/.imperium_desk)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "gui"
    try:
        if command == "config":
            return _config_validate(args.file, args.config)
        if command == "report":
            return _report(args.telemetry, args.html, args.json, args.config)
        if command == "reindex":
            return _reindex(args.jsonl, args.db, home_dir(args.home))
        if command == "serve":
            return _serve(args.config, home_dir(args.home), args.host, args.port, args.allow_remote,
                          _asked_mode(args), args.yes_live)
        if command == "fit":
            return _fit(args.file, args.column, args.criterion, args.emit_config)
        if command == "replay":
            poster = None if args.post is None else _OutcomePoster(args.post, args.config, home_dir(args.home))
            if args.seeds is not None:
                return _sweep(args.scenario, args.config, args.seeds, args.jobs, args.out, home_dir(args.home),
                              args.quiet, poster, args.cluster)
            for flag, given in (("--jobs", args.jobs), ("--cluster", args.cluster)):
                if given is not None:
                    raise ConfigError([f"{flag}: only with --seeds (a sweep)"])
            return _replay(args.scenario, args.config, args.seed, args.out, home_dir(args.home), args.quiet, poster)
        return _gui(args.config, home_dir(args.home), _asked_mode(args))
    except ConfigError as exc:
        for line in exc.errors:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TelemetryFileError as exc:  # the desk's own log is damaged (not a torn tail): the user moves it aside
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_OK


def _config_validate(path: Path, config_path: Path | None) -> int:
    """Judge `path` by the checks the command that runs it makes (`prepare_scenario` for a scenario or run.json,
    `prepare_config` for a config), so a file called valid here runs, and a bad one fails with replay's lines."""
    raw = read_document(path)
    if is_run_document(raw):
        scenario, config, seed = _rerun_inputs(path, raw, config_path, None)
        prepare_scenario(scenario, config, seed=seed)
        print(f"{path}: valid run record")
        return EXIT_OK
    if isinstance(raw, dict) and {"orders", "duration_s", "events"} & raw.keys():  # a scenario, not a config
        scenario = load_scenario(path)
        prepare_scenario(scenario, load_config(config_path))
        print(f"{path}: valid scenario")
        return EXIT_OK
    if config_path is not None:
        raise ConfigError([f"--config: {path} is a config itself; --config names the config a scenario runs on"])
    prepare_config(config_from_mapping(raw, str(path), path.parent))
    print(f"{path}: valid config")
    return EXIT_OK


def _fit(path: Path, column: str | None, criterion: Literal["aic", "bic"], emit_config: bool) -> int:
    import yaml

    from imperium_desk.models.fitting import config_mapping, fit_all, most_common
    from imperium_desk.models.samples_io import MAX_ROWS, SampleFileError, column_kind, read_samples

    try:
        samples = read_samples(path, column)
    except SampleFileError as exc:
        raise ConfigError([str(exc)]) from None
    if samples.truncated:
        print(f"warning: {path}: more than {MAX_ROWS} rows; fitted the first {MAX_ROWS} (the rest were not read)",
              file=sys.stderr)
    kind, unit = column_kind(samples.column)
    try:
        results = fit_all(samples.values, kind, unit=unit, criterion=criterion)
    except ValueError as exc:
        raise ConfigError([f"{path}: column {samples.column!r}: {exc}"]) from None
    winner = results[0]  # a normal fits any sample fit_all accepts, so there is always a fitted winner
    value, count = most_common(samples.values)
    if count >= max(2, 0.05 * samples.values.size):
        print(
            f"warning: {path}: column {samples.column!r}: {count} of {samples.values.size} samples equal {value:g}; "
            "no continuous family describes such a point mass",
            file=sys.stderr,
        )
    measure = "ms" if kind == "latency" else unit
    if emit_config:
        print(f"# imperium-desk fit {path} --column {samples.column}: {winner.family}, best by {criterion} "
              f"({samples.values.size} samples from {samples.rows} rows)")
        print(yaml.safe_dump(config_mapping(winner, kind), sort_keys=False), end="")
        return EXIT_OK
    print(
        f"{path}: column {samples.column!r}, {samples.values.size} samples, {kind} in {measure}; "
        f"ranked by {criterion}; {samples.rows} rows read"
    )
    print_fit_table(results)
    return EXIT_OK


def _replay(
    scenario_path: Path, config_path: Path | None, seed: int | None, out: Path | None, home: Path, quiet: bool,
    poster: _OutcomePoster | None = None,
) -> int:
    from imperium_desk.desk import run_replay

    if seed is not None and seed < 0:
        raise ConfigError([f"--seed: must be a non-negative integer, got {seed}"])
    document = read_document(scenario_path)
    if is_run_document(document):
        scenario, config, seed = _rerun_inputs(scenario_path, document, config_path, seed)
    else:
        scenario = load_scenario(scenario_path)
        config = load_config(config_path)
    out_dir = out if out is not None else home / "runs" / scenario.spec.id
    bar = None if quiet or not sys.stderr.isatty() else ProgressBar()
    summary = run_replay(scenario, config, out_dir, seed=seed, progress=bar)
    if bar is not None:
        bar.finish()
    if not quiet:
        print_summary(summary.run, summary.telemetry_path)
        if summary.outcome is not None:
            print_outcome(summary.outcome, out_dir / "outcome.json")
    if poster is not None:
        outcome = summary.outcome if summary.outcome is not None else {"run": summary.metrics}
        return poster.post([(int(summary.run["seed"]), outcome, dict(summary.run["counts"]))], str(summary.run["id"]))
    return EXIT_OK


def _rerun_inputs(
    path: Path, document: dict[str, Any], config_path: Path | None, seed: int | None
) -> tuple[LoadedScenario, Config, int]:
    """The scenario, config and seed of the run a run.json records, checked to give the same config hash."""
    errors = [f"{flag}: a run.json re-runs its own {what}; give the scenario file to change it"
              for flag, given, what in (("--config", config_path, "config"), ("--seed", seed, "seed"))
              if given is not None]
    if errors:
        raise ConfigError(errors)
    rerun = load_rerun(path, document)
    effective, _ = prepare_scenario(rerun.scenario, rerun.config, seed=rerun.seed)
    if effective.sha256() != rerun.config_sha256:
        raise ConfigError([f"{path}: config_sha256: the recorded config now reads as {effective.sha256()}, not "
                           f"{rerun.config_sha256} (written by version {rerun.version}, this is {__version__})"])
    if rerun.version != __version__:
        print(f"warning: {path} was written by version {rerun.version}; this is {__version__}", file=sys.stderr)
    return rerun.scenario, rerun.config, rerun.seed


def _sweep(
    scenario_path: Path, config_path: Path | None, seeds_text: str, jobs: int | None, out: Path | None, home: Path,
    quiet: bool, poster: _OutcomePoster | None = None, cluster: str | None = None,
) -> int:
    from imperium_desk.scenarios.sweep_stats import parse_seeds
    from imperium_desk.sweep import run_sweep

    try:
        seeds = parse_seeds(seeds_text)
    except ValueError as exc:
        raise ConfigError([f"--seeds: {exc}"]) from None
    if jobs is not None and jobs < 1:
        raise ConfigError([f"--jobs: must be at least 1, got {jobs}"])
    if cluster is not None:
        try:
            from imperium_desk.sweep.cluster import LOCAL, check_address
        except ModuleNotFoundError as exc:  # a dependency, but an install can still lack it
            if getattr(sys, "frozen", False):  # the installer leaves Dask out (packaging/imperium-desk.spec)
                raise ConfigError(["--cluster: this build of the desk has no Dask; run cluster sweeps from a pip "
                                   "install (pip install imperium-desk), or drop --cluster to sweep on local "
                                   "processes"]) from None
            raise ConfigError([f"--cluster: needs Dask ({exc}): pip install distributed"]) from None
        check_address(cluster)
        if jobs is not None and cluster != LOCAL:
            raise ConfigError([f"--jobs: a cluster's workers set how many seeds run at once; --jobs only sizes "
                               f"--cluster {LOCAL}, got --cluster {cluster}"])
    if is_run_document(read_document(scenario_path)):
        raise ConfigError([f"--seeds: {scenario_path} is a run.json, which re-runs its one seed; "
                           "sweep the scenario file"])
    scenario = load_scenario(scenario_path)  # a bad file is exit 2 before any process starts
    prepare_scenario(scenario, load_config(config_path))
    out_dir = out if out is not None else home / "runs" / f"{scenario.spec.id}-sweep"
    bar = None if quiet or not sys.stderr.isatty() else ProgressBar()
    sweep = run_sweep(
        scenario_path, config_path, seeds, out_dir, jobs=jobs or os.cpu_count() or 1, cluster=cluster,
        progress=None if bar is None else lambda done, total: bar(done / total),
    )
    if bar is not None:
        bar.finish()
    if not quiet:
        print_sweep(sweep, out_dir / "sweep.json")
    if poster is not None:
        outcomes = []
        for run in sweep["runs"]:
            folder = out_dir / run["out"]
            document = folder / "outcome.json"
            outcome = json.loads(document.read_text()) if document.is_file() else {"run": run["metrics"]}
            counts = json.loads((folder / "run.json").read_text())["counts"]
            outcomes.append((int(run["seed"]), outcome, counts))
        return poster.post(outcomes, str(sweep["id"]))
    return EXIT_OK


class _OutcomePoster:
    """Posts replay outcomes to a running desk's `POST /feedback/scenario_outcome` (DESIGN §6)."""

    def __init__(self, url: str, config_path: Path | None, home: Path) -> None:
        if not url:
            from imperium_desk.config import load_config

            cfg = load_config(config_path).feedback
            host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
            if cfg.port == 0:
                raise ConfigError(["--post: feedback.port is 0 (any free port): give the desk's address, --post URL"])
            url = f"http://{host}:{cfg.port}"
        self.url = url.rstrip("/")
        self.token_path = home / "feedback.token"
        if not self.token_path.is_file():  # checked before the run: a missing token must not cost a sweep
            raise ConfigError([f"--post: no token at {self.token_path}: start the desk (or serve) with this --home"])

    def post(self, outcomes: Sequence[tuple[int, Any, dict[str, Any]]], scenario_id: str) -> int:
        import httpx

        token = self.token_path.read_text(encoding="utf-8").strip()
        try:
            with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0) as client:
                for seed, outcome, counts in outcomes:
                    body = {"scenario_id": scenario_id, "seed": seed, "outcome": outcome, "metrics": counts}
                    response = client.post("/feedback/scenario_outcome", json=body)
                    if response.status_code != 201:
                        print(f"error: --post: {self.url} answered {response.status_code}: {response.text[:300]}",
                              file=sys.stderr)
                        return EXIT_FAILURE
        except httpx.HTTPError as exc:
            print(f"error: --post: {self.url}: {exc} (the run's files are written)", file=sys.stderr)
            return EXIT_FAILURE
        print(f"posted {len(outcomes)} outcome(s) to {self.url}")
        return EXIT_OK


def _report(telemetry: Path, html_path: Path | None, json_path: Path | None, config_path: Path | None) -> int:
    from imperium_desk.analysis.html import render
    from imperium_desk.analysis.output import report_json, summary_lines, write_files
    from imperium_desk.analysis.reader import ReportInputError
    from imperium_desk.analysis.report import ReportOptions, build_report

    outputs = [p for p in (json_path, html_path) if p is not None]
    problems = [f"{p}: the folder to write into does not exist" for p in outputs if not p.parent.is_dir()]
    if json_path is not None and html_path is not None and json_path.resolve() == html_path.resolve():
        problems.append(f"--json and --html name the same file: {json_path}")
    problems += [f"{p}: would overwrite the telemetry it reads" for p in outputs if p.resolve() == telemetry.resolve()]
    if problems:
        raise ConfigError(problems)
    fees = load_config(config_path).fees
    large = telemetry.is_file() and telemetry.stat().st_size >= 1 << 20
    bar = ProgressBar() if large and sys.stderr.isatty() else None
    try:
        report = build_report(telemetry, ReportOptions(fees=fees, progress=bar))
    except ReportInputError as exc:
        raise ConfigError(exc.errors) from None
    finally:
        if bar is not None:
            bar.finish()
    files: dict[Path, Iterable[bytes]] = {}
    if json_path is not None:
        files[json_path] = report_json(report)
    if html_path is not None:
        files[html_path] = [render(report).encode("utf-8")]
    try:
        write_files(files)
    except OSError as exc:
        raise ConfigError([f"{exc.filename or 'report'}: cannot write: {exc.strerror or exc}"]) from None
    for warning in report.data["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print("\n".join(summary_lines(report.data)))
    for path in files:
        print(f"wrote {path}")
    return EXIT_OK


def _reindex(jsonl: Sequence[Path], db: Path | None, home: Path) -> int:
    from imperium_desk.telemetry.reindex import ReindexInputError, plan_reindex
    from imperium_desk.telemetry.sqlite_index import rebuild

    try:
        for job in plan_reindex(jsonl, db, home):
            count = rebuild(job.db_path, job.files)  # built under a temporary name, renamed when complete
            print(f"{job.db_path}: {count} records from {len(job.files)} file(s)")
    except ReindexInputError as exc:
        raise ConfigError(exc.errors) from None
    except TelemetryFileError as exc:
        raise ConfigError([str(exc)]) from None
    return EXIT_OK


def _asked_mode(args: argparse.Namespace) -> Mode | None:
    value = getattr(args, "mode", None)
    return Mode(value) if value is not None else None


def _serve(config_path: Path | None, home: Path, host: str | None, port: int | None, allow_remote: bool,
           asked_mode: Mode | None = None, yes_live: bool = False) -> int:
    """The desk without a window until Ctrl+C (or SIGTERM): market running, feedback API up; then a clean stop.
    In the Kite modes it uses the stored login (or the environment's token), never a browser."""
    import asyncio
    import signal

    from imperium_desk.clock import WallClock
    from imperium_desk.config import merged_config
    from imperium_desk.desk import Desk, MessageEvent, secure_desk_home
    from imperium_desk.feedback.config import is_loopback

    config = load_config(config_path)
    overrides: dict[str, Any] = {"host": host, "port": port, "allow_remote": True if allow_remote else None}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        config = merged_config(config, {"feedback": overrides}, "command line")
    if not config.feedback.enabled:
        raise ConfigError(["feedback.enabled: false, but serve runs the feedback API: enable it"])
    from imperium_desk.desk.live import LiveConnectError, LoginError, live_mode_of

    mode = live_mode_of(config, asked_mode)
    if mode is Mode.LIVE and not yes_live:
        raise ConfigError(["--yes-live: live mode sends real orders through Kite; serve asks no question, so confirm "
                           "with --yes-live (or run --mode paper-live-data to rehearse on real quotes)"])
    secure_desk_home(home)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        clock = WallClock(loop)
        venue = connector = None
        if mode is not Mode.PAPER:
            from imperium_desk.desk.connector import LiveConnector, connect_headless

            connector = LiveConnector(config, home=home, mode=mode, clock=clock)
            try:
                venue = await connect_headless(connector)
            except (LoginError, LiveConnectError) as exc:
                raise ConfigError([f"kite: {exc.message}"]) from None
        desk = Desk(config, home=home, clock=clock, mode=mode, config_path=config_path, venue=venue,
                    connector=connector)
        # Headless, the trader's messages (a config reload's result, a refused exit) go to stderr.
        desk.add_listener(lambda e: print(e.text, file=sys.stderr, flush=True) if isinstance(e, MessageEvent) else None)
        try:
            desk.start()
            address = await desk.start_feedback()
            if not is_loopback(config.feedback.host):
                print(f"warning: the feedback API listens on {config.feedback.host}: other machines can reach it "
                      "(bearer token only, no TLS)", file=sys.stderr)
            print(f"Imperium Desk {desk.mode.value} mode, headless: feedback API on {address} "
                  f"(token in {desk.feedback_token_path}); telemetry -> {desk.telemetry_path}; Ctrl+C stops",
                  flush=True)
            await stop.wait()
            print("stopping...", file=sys.stderr, flush=True)
        finally:
            await desk.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    asyncio.run(main())
    return EXIT_OK


def _gui(config_path: Path | None, home: Path, asked_mode: Mode | None = None) -> int:
    started_at = time.perf_counter()
    config = load_config(config_path)  # a bad config is exit 2 before any window
    from imperium_desk.desk.live import live_mode_of

    mode = live_mode_of(config, asked_mode)
    from imperium_desk.ui.display import display_problem  # Qt-free: checked before Qt loads

    problem = display_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_FAILURE
    from imperium_desk.ui.app import run_gui

    return run_gui(config, home, started_at=started_at, config_path=config_path, mode=mode)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
