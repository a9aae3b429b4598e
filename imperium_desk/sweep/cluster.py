# mypy: disallow-untyped-calls=False
# (distributed ships py.typed, but Client, LocalCluster and as_completed have unannotated signatures)
"""A sweep's seeds on a Dask distributed cluster (`replay SCENARIO --seeds ... --cluster ADDRESS`).

A worker may be another host, which cannot write to the client's `--out`: each seed's task replays into a private
temporary folder on its worker and returns the files' bytes with the run's summary, and the client writes them into
`<out>/seed-<N>/` as they arrive, each under a temporary name and renamed (`run.json` last: its arrival marks a
complete seed). The scenario and config travel with the tasks as text (`SweepInputs`), so workers need the project
installed, at the same version, but no shared disk.

Robustness is the scheduler's: a worker that dies mid-task has its tasks run again elsewhere (a lost worker costs a
re-run of its seeds, not the sweep), and a task that raises is retried `TASK_RETRIES` times. A seed's files are
written once, whichever run of its task delivered them; seeds are deterministic, so any run gives the same bytes.
Input a worker rejects (a version mismatch, a model data file missing on that host) ends the sweep as bad input.

Dask is imported here only: this module is loaded when a sweep asks for a cluster.
"""

from __future__ import annotations

import os
import stat
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster, as_completed
from distributed.comm import registry
from distributed.comm.addressing import parse_address, parse_host_port

from imperium_desk import __version__
from imperium_desk.config import ConfigError
from imperium_desk.sweep import SeedProgress, SeedRun, SweepInputs, run_seed, seed_dir

LOCAL = "local"  # `--cluster local`: a LocalCluster of worker processes on this machine, for this sweep only
CONNECT_TIMEOUT_S = 10.0  # to reach the scheduler and, on a remote cluster, to see its first worker
TASK_RETRIES = 2  # a task that raises (a worker's full temp disk) runs again this often before the sweep fails
RUN_FILE = "run.json"  # written last in a seed's folder


@dataclass(frozen=True, slots=True)
class SeedFiles:
    """What a seed's task returns: its summary (`out_dir` is the bare folder name `seed-<N>`) and every file the
    replay wrote, by name: its permission bits (telemetry is private to its owner) and its bytes."""

    run: SeedRun
    files: dict[str, tuple[int, bytes]]


@dataclass(frozen=True, slots=True)
class SeedRejected:
    """A seed its worker could not run because of its input: returned, not raised, so the scheduler does not retry
    what would fail again, and the client reports the lines as bad input."""

    seed: int
    errors: list[str]


def replay_seed_files(inputs: SweepInputs, seed: int) -> SeedFiles | SeedRejected:
    """A worker's task: `run_seed` into a private temporary folder, then the folder's files as bytes (the folder is
    removed whatever happens)."""
    if inputs.version != __version__:
        return SeedRejected(seed, [f"--cluster: a worker runs imperium-desk {__version__}, the sweep was started with "
                                   f"{inputs.version}: install the same version on every host"])
    with tempfile.TemporaryDirectory(prefix="imperium-seed-") as tmp:
        out = seed_dir(Path(tmp), seed)
        try:
            run = run_seed(inputs, seed, out)
        except ConfigError as exc:  # checked on the client; here only what differs on this host (its data files)
            return SeedRejected(seed, exc.errors)
        files = {p.name: (stat.S_IMODE(p.stat().st_mode), p.read_bytes())
                 for p in sorted(out.iterdir()) if p.is_file() and not p.name.startswith(".")}
    return SeedFiles(replace(run, out_dir=Path(out.name)), files)


def write_seed_files(out_dir: Path, result: SeedFiles) -> SeedRun:
    """A seed's files into `<out_dir>/seed-<N>/` with the modes they had on the worker, each under a temporary name
    and renamed, `run.json` last."""
    folder = seed_dir(out_dir, result.run.seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(result.files, key=lambda n: n == RUN_FILE):
        mode, data = result.files[name]
        tmp = folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others on the way
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb", closefd=False) as file:
                file.write(data)
        finally:
            os.close(fd)
        os.replace(tmp, folder / name)
    return replace(result.run, out_dir=folder)


def check_address(address: str) -> None:
    """`local` or a scheduler address Dask can dial (`tcp://HOST:PORT`, `HOST:PORT`, `tls://...`); ConfigError
    naming `--cluster` otherwise. Only the form: whether something answers there is `ClusterSweep.connect`'s."""
    if address == LOCAL:
        return
    try:
        scheme, location = parse_address(address, strict=False)
        registry.get_backend(scheme)  # an unknown scheme
        if scheme in ("tcp", "tls"):
            _, port = parse_host_port(location)
            if not 0 < int(port) < 65536:
                raise ValueError(f"port {port} out of range")
    except (ValueError, TypeError) as exc:
        raise ConfigError([f"--cluster: {address!r} is not a scheduler address like tcp://HOST:8786 or `local` "
                           f"({exc})"]) from None


class ClusterSweep:
    """A connection to a Dask cluster for one sweep: `connect` (a context manager) reaches it, starting a
    LocalCluster for `local`, and closes what it opened on the way out; `run` replays the seeds on it.

    Not thread-safe: one sweep at a time, driven from the thread that connected. The Dask client runs its own
    event-loop thread."""

    def __init__(self, client: Client, address: str) -> None:
        self._client = client
        self.address = address
        nthreads = client.nthreads()
        self.workers = len(nthreads)
        self.threads = sum(nthreads.values())  # what `jobs` means for a cluster: tasks that run at once

    @classmethod
    @contextmanager
    def connect(cls, address: str, *, workers: int) -> Iterator[ClusterSweep]:
        """The cluster at `address` (`local`: `workers` single-threaded worker processes here). ConfigError naming
        `--cluster` when nothing answers within CONNECT_TIMEOUT_S or a remote scheduler has no worker by then."""
        check_address(address)
        cluster: LocalCluster | None = None
        client: Client | None = None
        try:
            if address == LOCAL:
                # Processes, not threads: a replay holds the GIL. No dashboard: a sweep's cluster lives for the sweep.
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
                client = Client(cluster, timeout=CONNECT_TIMEOUT_S)
            else:
                try:
                    client = Client(address, timeout=CONNECT_TIMEOUT_S)
                except (OSError, ValueError) as exc:  # OSError: refused, unresolvable or timed out; all time out
                    raise ConfigError([f"--cluster: no Dask scheduler answered at {address} within "
                                       f"{CONNECT_TIMEOUT_S:g} s ({exc})"]) from None
                try:
                    client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
                except TimeoutError:
                    raise ConfigError([f"--cluster: the scheduler at {address} has no worker after "
                                       f"{CONNECT_TIMEOUT_S:g} s: start `dask worker {address}` on the hosts"
                                       ]) from None
                _check_workers(client, address)
            yield cls(client, address)
        finally:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()

    def describe(self) -> dict[str, Any]:
        """`sweep.json`'s `executor`."""
        return {"kind": "dask", "cluster": self.address, "workers": self.workers, "threads": self.threads}

    def run(
        self, inputs: SweepInputs, seeds: Sequence[int], out_dir: Path, progress: SeedProgress | None
    ) -> dict[int, SeedRun]:
        """Every seed's files written into `out_dir` as its task completes; their summaries by seed. Raises
        ConfigError for a seed its worker rejected (the remaining tasks cancelled); a task's exception once its
        retries are spent; `distributed.KilledWorker` for a seed whose tasks killed several workers."""
        client = self._client
        run_id = uuid.uuid4().hex[:8]
        # One task holds the inputs and the seeds depend on it: sent once, not once per seed, and, being a task,
        # computed again should the worker holding it die (data scattered to a worker would be lost with it).
        shared = client.submit(_same, inputs, key=f"sweep-inputs-{run_id}", pure=False)
        futures = client.map(replay_seed_files, [shared] * len(seeds), list(seeds),
                             key=[f"seed-{seed}-{run_id}" for seed in seeds], retries=TASK_RETRIES, pure=False)
        runs: dict[int, SeedRun] = {}
        try:
            for _, result in as_completed(futures, with_results=True):
                if isinstance(result, SeedRejected):
                    raise ConfigError([f"seed {result.seed}: {line}" for line in result.errors])
                if result.run.seed in runs:  # a task that ran twice still delivers one result: belt and braces
                    continue
                runs[result.run.seed] = write_seed_files(out_dir, result)
                if progress is not None:
                    progress(len(runs), len(seeds))
        finally:
            client.cancel([*futures, shared])  # after an error or Ctrl+C, queued seeds never start
        return runs


def _same(inputs: SweepInputs) -> SweepInputs:
    return inputs


def _desk_version() -> str:
    return __version__


def _check_workers(client: Client, address: str) -> None:
    """Every worker there now runs this desk version: checked before anything is written (a worker joining later is
    checked by each of its tasks, `replay_seed_files`)."""
    found: dict[str, object] = client.run(_desk_version, on_error="return")
    wrong = [f"--cluster: worker {worker} at {address} " + (
        f"cannot run imperium-desk ({type(version).__name__}: {version}): install the project there"
        if isinstance(version, BaseException) else
        f"runs imperium-desk {version}, this is {__version__}: install the same version on every host")
        for worker, version in sorted(found.items()) if version != __version__]
    if wrong:
        raise ConfigError(wrong)
