"""Feedback API latency inside the desk window while a drill runs: `GET /feedback/metrics?limit=100` p50/p99.

The desk runs as it does for a trader, in a process of its own: the real window (`open_window`, offscreen Qt) on a
qasync loop, the paper desk started, its feedback API started through the window's feedback panel (port 0, the
panel open and refreshing), and a drill running (`Desk.start_drill`, default the shipped choppy-day.yaml:
orders through the execution stack, injected events on the wall clock). Its telemetry log is seeded first with N
realistic fill records so every page is full (the desk's SQLite index catches up from the JSONL on start).

This process is the client: C keep-alive connections on raw asyncio sockets (benchmarks/feedback_api.py's client)
send one request after another for T seconds after a warm-up. The desk process also reports how long its Qt thread
was ever busy (gaps of a 10 ms QTimer) while it served them, and the drill's progress. Prints JSON.
Target: p99 <= 50 ms.

    .venv/bin/python -m benchmarks.feedback_in_desk [--records N] [--seconds T] [--connections C] [--drill FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from benchmarks.feedback_api import DEFAULT_DRILL, load, wait_indexed, write_log

READY = "feedback API on "  # the desk process's first line: "... feedback API on http://127.0.0.1:<port>"
HEARTBEAT_MS = 10


def desk_window_process(home: Path, drill: Path) -> None:
    """The desk window (offscreen) with its feedback API up and `drill` running, until a line (or EOF) on stdin;
    then one JSON line: the drill's state and the Qt thread's heartbeat gaps."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    import qasync
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from imperium_desk.config import load_config, merged_config
    from imperium_desk.ui.app import end_startup_collections, hold_collections_for_startup, open_window
    from imperium_desk.ui.theme import apply_theme

    hold_collections_for_startup()  # as run_gui does
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_theme(app)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    config = merged_config(load_config(None), {"feedback": {"port": 0}}, "benchmark")
    window = open_window(config, home, loop)
    desk = window.desk
    stop = asyncio.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()  # a line or EOF (the client died): either way, stop
        loop.call_soon_threadsafe(stop.set)

    gaps: list[float] = []
    clock = QElapsedTimer()
    last = [0]

    def heartbeat() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6)
        last[0] = now

    beat = QTimer()
    beat.timeout.connect(heartbeat)

    async def run() -> dict[str, Any]:
        desk.start()
        window.show()
        start = window.feedback.start_server()
        assert start is not None, "feedback.enabled is false in the default config"
        address = await start
        end_startup_collections()  # as run_gui does once its feedback API is up
        await desk.start_drill(drill)
        window.show_dock("feedback")  # the panel refreshes once a second while it is shown, as a trader would see
        clock.start()
        last[0] = clock.nsecsElapsed()
        beat.start(HEARTBEAT_MS)
        threading.Thread(target=wait_for_stop, name="stdin", daemon=True).start()
        print(f"drill running; {READY}{address}", flush=True)
        await stop.wait()
        beat.stop()
        view = desk.drill.view() if desk.drill is not None else None
        await desk.stop()
        ms = np.asarray(gaps)
        return {
            "drill": None if view is None else {"id": view.id, "state": view.state.value,
                                                "elapsed_s": round(view.elapsed_s, 1), "parents": view.parents},
            "timer_10ms_p99_gap_ms": round(float(np.percentile(ms, 99)), 2) if ms.size else None,
            "timer_10ms_max_gap_ms": round(float(ms.max()), 2) if ms.size else None,
        }

    with loop:
        report = loop.run_until_complete(run())
    print(json.dumps(report), flush=True)


def start_desk_window(home: Path, drill: Path) -> tuple[subprocess.Popen[str], str, int]:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    desk = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.feedback_in_desk", "--desk-process", str(home), "--drill", str(drill)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert desk.stdout is not None
    line = desk.stdout.readline()
    if READY not in line:
        desk.kill()
        raise RuntimeError(f"the desk window did not start: {line!r} {desk.stderr.read() if desk.stderr else ''}")
    host, port = line.split(READY, 1)[1].strip().removeprefix("http://").rsplit(":", 1)
    return desk, host, int(port)


def stop_desk_window(desk: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = desk.communicate("stop\n", timeout=60)
    if desk.returncode != 0:
        raise RuntimeError(f"the desk window exited with {desk.returncode}: {err[-2000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=5_000, help="fill records seeded into the telemetry log")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--drill", type=Path, default=DEFAULT_DRILL)
    parser.add_argument("--desk-process", type=Path, help=argparse.SUPPRESS)  # internal: the desk window
    args = parser.parse_args()
    if args.desk_process is not None:
        desk_window_process(args.desk_process, args.drill)
        return
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        home = Path(tmp)
        write_log(home / "execution_quality_paper.jsonl", args.records)
        desk, host, port = start_desk_window(home, args.drill)
        try:
            token = (home / "feedback.token").read_text(encoding="utf-8").strip()

            async def client() -> dict[str, Any]:
                await wait_indexed(host, port, token, args.records)
                return await load(host, port, token, lambda: "/feedback/metrics?limit=100", args.connections,
                                  args.seconds)

            measured = asyncio.run(client())
        except BaseException:
            desk.kill()
            raise
        in_desk = stop_desk_window(desk)
    print(json.dumps({
        "benchmark": "feedback_in_desk",
        "request": "GET /feedback/metrics?limit=100",
        "records_seeded": args.records,
        "connections": args.connections,
        "seconds": args.seconds,
        "desk": "desk window (offscreen Qt, qasync), feedback panel shown, drill running; client in another process",
        "cpus": os.cpu_count(),
        **measured,
        "desk_window": in_desk,
        "target_p99_ms": 50,
        "meets_target": measured["p99_ms"] <= 50 and measured["errors"] == 0,
    }, indent=2))


if __name__ == "__main__":
    main()
