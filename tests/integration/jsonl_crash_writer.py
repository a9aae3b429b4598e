"""A writer process for the kill -9 test: appends records through JsonlWriter, as the desk opens its log, until
killed, printing each seq as it is acknowledged as flushed (one per line, from the writer thread).

    python tests/integration/jsonl_crash_writer.py FILE [--no-fsync]

Small write chunks (64 bytes, a fraction of a line) make a kill between two chunks of one line likely, so the
test meets real torn tails. The record shape is the engine's (tests/telemetry_support.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

from imperium_desk.telemetry.jsonl import JsonlWriter
from tests.telemetry_support import record


def main(path: Path, fsync: bool) -> None:
    acked = [0]

    def acknowledged(seq: int) -> None:
        acked[0] = seq
        sys.stdout.write(f"{seq}\n")
        sys.stdout.flush()

    writer = JsonlWriter(
        path, append=True, fsync=fsync, flush_interval_s=0.002, flush_records=20, write_chunk_bytes=64,
        on_flushed=acknowledged,
    )
    print(f"start {writer.last_seq}", flush=True)
    seq = acked[0] = writer.last_seq
    while True:  # until SIGKILL, staying at most 2,000 records ahead of the acknowledgements
        if seq - acked[0] < 2000:
            seq += 1
            writer.write(record(seq))
        else:
            time.sleep(0.0005)


if __name__ == "__main__":
    main(Path(sys.argv[1]), fsync="--no-fsync" not in sys.argv[2:])
