"""The running desk's latency and slippage models: what is active per asset, switching one, previews, and the
config file's hot reload.

Every switch (panel, REST, reload, learner) goes through `Engine.switch_model`, so each is validated the same way
and logged as a `model_switch` record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import yaml

from imperium_desk.clock import Cancellable, VirtualClock, WallClock
from imperium_desk.config import Config, ConfigError, load_config
from imperium_desk.desk.engine import Engine
from imperium_desk.desk.events import DeskEvent, MessageEvent, ModelRow, ModelsChanged
from imperium_desk.model_input import ModelConfigError, ModelKind, model_path, parse_model
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.resolver import LANES, ModelSwitch, ModelSwitchError
from imperium_desk.models.samplers import latency_sampler, slippage_sampler
from imperium_desk.offload import Offloader

log = logging.getLogger(__name__)

CONFIG_POLL_S = 1.0  # how often the desk looks for a changed config file (hot reload of the models)
CONFIG_SETTLE_S = 0.25  # a change is read once two looks this far apart see the same file: the save is over
PREVIEW_SEED = 20_261_121
PREVIEW_MAX_SAMPLES = 1_000_000


# What a look at the config file sees: (device, inode, size, mtime ns, ctime ns). An editor saving in place changes
# size or mtime, one saving by rename the inode, a chmod the ctime (a file made readable again is read again).
_Signature = tuple[int, int, int, int, int]


def _signature(path: Path) -> _Signature | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class DeskModels:
    """The models side of the running desk. Called on the loop; file reads and parsing run off it (`Offloader`).

    `config` is the config the desk started with: a reload switches in the file's models and says which other
    sections changed (they take effect at the next start). An invalid file or model changes nothing.

    The watch (`start`) reads the file once a save is over: a change is read when two looks `CONFIG_SETTLE_S` apart
    see the same file, and discarded when the file changed while it was read. A file that cannot be applied (empty,
    partial, unreadable, binary, nested too deep, invalid) is a `MessageEvent` naming it; the running models stay,
    and the file is read again when it next changes and settles.
    """

    def __init__(self, engine: Engine, *, config: Config, config_path: Path | None, clock: WallClock | VirtualClock,
                 offload: Offloader, emit: Callable[[DeskEvent], None]) -> None:
        self._engine = engine
        self._config = config
        self.config_path = config_path
        self._clock = clock
        self._offload = offload
        self._emit = emit
        # The watch: `_seen` is the file as last read (applied or rejected); `_candidate` a different file seen at
        # the last look (`_pending`), read once the next look sees it unchanged.
        self._seen = _signature(config_path) if config_path is not None else None
        self._candidate: _Signature | None = None
        self._pending = False
        self._config_timer: Cancellable | None = None
        self._reloading = False
        self._reload_task: asyncio.Task[None] | None = None

    @property
    def _base(self) -> Path | None:
        """Where a model's relative file (a historical model's CSV) is looked up: beside the config file."""
        return self.config_path.parent if self.config_path is not None else None

    def start(self) -> None:
        """Watch the config file (when the desk has one) for saves."""
        if self.config_path is not None:
            self._config_timer = self._clock.call_later(CONFIG_POLL_S, self._config_tick)

    def stop(self) -> None:
        if self._config_timer is not None:
            self._config_timer.cancel()
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_task.cancel()  # its read may finish on its thread; nothing is applied after the stop

    def models_config(self) -> tuple[LatencyModels, SlippageModels]:
        models = self._engine.models
        return models.latency_models, models.slippage_models

    def rows(self, underlyings: list[str]) -> list[ModelRow]:
        """The active models of each simulated underlying and of each asset with an override of its own."""
        latency, slippage = self.models_config()
        assets = list(underlyings)
        keyed: list[dict[str, Any]] = [latency.per_asset, slippage.per_asset]
        keyed += [lane.per_asset for name in LANES[1:] if (lane := getattr(latency.lanes, name)) is not None]
        for per_asset in keyed:
            assets += [key for key in per_asset if key not in assets]
        rows: list[ModelRow] = []
        for asset in assets:
            resolved = self._engine.models.resolve(asset, self._engine.underlying_of_scope(asset) or asset)
            for kind, lane, model in (
                ("latency", "order", resolved.latency), ("slippage", "order", resolved.slippage),
                ("latency", "insert", resolved.insert), ("latency", "report", resolved.report),
                ("latency", "cancel", resolved.cancel), ("latency", "market_data", resolved.market_data),
            ):
                if model is not None:
                    rows.append(ModelRow(asset, kind, lane, model.scope, model.params))
        return rows

    def parse_off_loop(self, kind: ModelKind, model: Mapping[str, Any], where: str) -> Any:
        """A model config validated off the loop (a historical model reads its file); raises ModelConfigError."""
        base = self._base
        return self._offload.thread(lambda: parse_model(kind, model, where=where, base=base), "model-parse")

    def parse_now(self, kind: ModelKind, model: Mapping[str, Any], where: str) -> Any:
        """`parse_off_loop`'s work, for callers already off the loop."""
        return parse_model(kind, model, where=where, base=self._base)

    async def switch(self, kind: ModelKind, scope: str, model: Mapping[str, Any] | None, *,
                     lane: str = "order", source: str = "panel") -> ModelSwitch:
        """Validate `model` (off the loop) and switch it in for new orders. Raises `ModelConfigError` naming the
        field; on error nothing changes."""
        scope = scope.strip()
        parsed = None
        if model is not None:
            parsed = await self.parse_off_loop(kind, model, model_path(kind, scope or "?", lane))
        try:
            switch = self._engine.switch_model(kind, scope, parsed, lane=lane, source=source)
        except ModelSwitchError as exc:
            raise ModelConfigError([str(exc)]) from None
        self._emit(ModelsChanged([switch]))
        return switch

    async def preview_samples(self, kind: ModelKind, model: Mapping[str, Any], n: int = 20_000) -> np.ndarray:
        """`n` draws of a model (validated like `switch`), for a preview: a fixed seed, so the same model always
        previews the same."""
        if not 1 <= n <= PREVIEW_MAX_SAMPLES:
            raise ModelConfigError([f"n: {n} must be between 1 and {PREVIEW_MAX_SAMPLES}"])

        def draw() -> np.ndarray:
            parsed = self.parse_now(kind, model, f"{kind}_model")
            sampler = latency_sampler(parsed) if kind == "latency" else slippage_sampler(parsed)
            return sampler.sample(np.random.Generator(np.random.PCG64(PREVIEW_SEED)), n)

        return await self._offload.thread(draw, "model-preview")

    async def reload_config(self) -> list[ModelSwitch]:
        """Re-read the config file and switch in its latency/slippage models (the menu, the REST API). A file that
        cannot be applied (invalid, empty, unreadable, binary, nested too deep, or changing while it was read)
        raises ConfigError naming it, after saying so as a message; the desk keeps its models. Other sections are
        read at start only."""
        if self.config_path is None:
            raise ConfigError(["the desk was started without --config: there is no file to reload"])
        read = await self._read_off_loop(self.config_path)
        if not read.settled:
            errors = [f"{self.config_path}: it changed while it was being read (still being saved?): reload again"]
            self._reject(errors)
            raise ConfigError(errors)
        self._seen = read.signature
        if read.config is None:
            self._reject(read.errors)
            raise ConfigError(read.errors)
        return self._apply(read.config)

    def _read_off_loop(self, path: Path) -> asyncio.Future[_ConfigRead]:
        return self._offload.thread(lambda: _read_config(path), "config-reload")

    def _reject(self, errors: list[str]) -> None:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        self._emit(MessageEvent(f"config reload rejected, models unchanged: {errors[0]}{more}"))

    def _apply(self, new: Config) -> list[ModelSwitch]:
        switches = self._engine.replace_models(new.latency_model, new.slippage_model, source="reload")
        unchanged = {"latency_model", "slippage_model"}
        restart = [name for name in Config.model_fields if name not in unchanged
                   and getattr(new, name) != getattr(self._config, name)]
        message = f"config reloaded: {len(switches)} model change(s)"
        if restart:
            message += f"; {', '.join(restart)} take effect at the next start"
        self._emit(MessageEvent(message))
        if switches:
            self._emit(ModelsChanged(switches))
        return switches

    def _config_tick(self) -> None:
        """Look at the file: unchanged, nothing to do; changed, look again shortly; the same change twice in a row
        (the save is over), read it. An editor truncates, then writes: reading at the first sight of a change could
        apply half a file."""
        delay = CONFIG_POLL_S
        try:
            # A stat is a metadata lookup of microseconds; reading and validating the file happen off the loop.
            if not self._reloading and self.config_path is not None:
                signature = _signature(self.config_path)
                if signature == self._seen:
                    self._pending = False
                elif not self._pending or signature != self._candidate:
                    self._pending, self._candidate = True, signature
                    delay = CONFIG_SETTLE_S
                else:
                    self._reloading = True
                    self._reload_task = self._clock.loop.create_task(self._reload_quietly())
        finally:
            self._config_timer = self._clock.call_later(delay, self._config_tick)  # the watch never stops by itself

    async def _reload_quietly(self) -> None:
        """The watcher's reload. Every way it can end is handled here, so the task never holds an exception nobody
        retrieves: a file that cannot be applied is the desk's message (models unchanged, read again once it
        changes and settles); anything else is a fault of the desk's own, logged with its traceback and said."""
        path = self.config_path
        try:
            if path is None:
                return
            read = await self._read_off_loop(path)
            if not read.settled:
                return  # written to while being read: the next look waits for it to settle, then reads it again
            self._seen = read.signature
            if read.config is None:
                self._reject(read.errors)
            else:
                self._apply(read.config)
        except Exception as exc:
            log.exception("config reload of %s failed", path)
            self._emit(MessageEvent(f"config reload failed, models unchanged: {type(exc).__name__}: {exc}"))
        finally:
            self._reloading = self._pending = False


@dataclass(frozen=True, slots=True)
class _ConfigRead:
    """The config file as one read saw it: `config`, or the `errors` that rejected it. `settled` is False when the
    file changed while it was being read (neither is trustworthy then)."""

    signature: _Signature | None
    config: Config | None
    errors: list[str]
    settled: bool


def _read_config(path: Path) -> _ConfigRead:
    """Read and validate the config file (off the loop). Whatever is wrong with the file is an error line naming it:
    the reload must end in a message, never an exception escaping a task."""
    before = _signature(path)
    config: Config | None = None
    errors: list[str] = []
    try:
        if _holds_nothing(path):
            raise ConfigError([f"{path}: the file is empty (being saved?); a config with every default is {{}}"])
        config = load_config(path)
    except ConfigError as exc:
        errors = exc.errors or [f"{path}: rejected"]
    except UnicodeDecodeError as exc:
        errors = [f"{path}: not a UTF-8 text file (byte {exc.start} cannot be decoded)"]
    except RecursionError:
        errors = [f"{path}: nested too deeply to read"]
    except OSError as exc:
        errors = [f"{path}: cannot read: {exc.strerror or exc}"]
    return _ConfigRead(before, config, errors, settled=_signature(path) == before)


_NOTHING: Final = (yaml.StreamStartToken, yaml.StreamEndToken, yaml.DocumentStartToken, yaml.DocumentEndToken,
                   yaml.DirectiveToken)
_NOTHING_SCAN_BYTES: Final = 64 * 1024  # a file longer than this is not looked at here: `load_config` bounds it


def _holds_nothing(path: Path) -> bool:
    """True when the file has no content at all: 0 bytes, or only blank lines, comments and document markers. YAML
    reads that as an empty document, which would validate as every default: never what a save meant. Reads at most
    `_NOTHING_SCAN_BYTES` and scans tokens up to the first real one; a file it cannot read is `load_config`'s to
    name."""
    try:
        with path.open("rb") as file:
            head = file.read(_NOTHING_SCAN_BYTES + 1)
        if len(head) > _NOTHING_SCAN_BYTES:
            return False
        return all(isinstance(token, _NOTHING) for token in yaml.scan(head, Loader=yaml.SafeLoader))
    except (yaml.YAMLError, ValueError, OSError, RecursionError):
        return False
