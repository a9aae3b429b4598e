"""Kill -9 the JSONL writer mid-stream (a real process), then reopen the log as the desk does: every record
acknowledged as flushed is there, the torn tail is gone, and seq continues gap-free."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.hub import TelemetryHub
from tests.telemetry_support import record, seqs_of

SCRIPT = Path(__file__).with_name("jsonl_crash_writer.py")
MIN_ROUNDS, MAX_ROUNDS = 4, 12  # a kill lands inside a line ~80% of the time: more rounds until one has


def write_until_killed(path: Path, at_least: int, delay_s: float) -> tuple[int, int]:
    """Run the writer until it has acknowledged `at_least` seqs past its start, then SIGKILL it `delay_s` later
    (a moment not tied to an acknowledgement, when the writer is likely mid-batch); (start, last acked)."""
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        start = int(proc.stdout.readline().split()[1])
        acked = start
        for line in proc.stdout:
            acked = int(line)
            if acked >= start + at_least:
                break
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()  # acknowledgements printed before the kill landed count too
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    acked = max([acked, *(int(x) for x in rest.split())])
    return start, acked


def test_after_a_kill_every_acknowledged_record_survives_and_seq_continues(tmp_path: Path) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    cfg = TelemetryConfig(sinks=["jsonl"])
    cuts: list[int] = []
    delays = random.Random(3)
    for round_no in range(MAX_ROUNDS):
        if round_no >= MIN_ROUNDS and any(cuts):
            break
        start, acked = write_until_killed(path, at_least=3000, delay_s=delays.uniform(0.0, 0.03))
        data = path.read_bytes()
        cuts.append(0 if data.endswith(b"\n") else len(data) - data.rfind(b"\n") - 1)

        hub = TelemetryHub(path, cfg, append=True, rotate=True)  # what Desk.__init__ does
        assert hub.last_seq >= acked, f"round {round_no}: acknowledged seq {acked} lost"
        last = hub.last_seq
        for seq in range(last + 1, last + 11):
            hub.write(record(seq))
        hub.close()

        seqs = seqs_of(path)  # every line parses: the torn tail is gone
        assert seqs == list(range(1, last + 11)), f"round {round_no}: seq not gap-free"
        assert start < acked
    assert any(cuts), f"no kill landed inside a line in {MAX_ROUNDS} rounds (bytes past the last newline: {cuts})"
    assert all(isinstance(orjson.loads(line), dict) for line in path.read_bytes().splitlines())
