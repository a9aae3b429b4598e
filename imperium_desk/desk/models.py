"""The running desk's latency and slippage models: what is active per asset, switching one, previews, and the
config file's hot reload.

Every switch (panel, REST, reload, learner) goes through `Engine.switch_model`, so each is validated the same way
and logged as a `model_switch` record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from imperium_desk.clock import Cancellable, VirtualClock, WallClock
from imperium_desk.config import Config, ConfigError, load_config
from imperium_desk.desk.engine import Engine
from imperium_desk.desk.events import DeskEvent, MessageEvent, ModelRow, ModelsChanged
from imperium_desk.model_input import ModelConfigError, ModelKind, model_path, parse_model
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.resolver import LANES, ModelSwitch, ModelSwitchError
from imperium_desk.models.samplers import latency_sampler, slippage_sampler
from imperium_desk.offload import Offloader

CONFIG_POLL_S = 1.0  # how often the desk looks for a changed config file (hot reload of the models)
PREVIEW_SEED = 20_261_121
PREVIEW_MAX_SAMPLES = 1_000_000


def _mtime(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime
    except OSError:
        return None


class DeskModels:
    """The models side of the running desk. Called on the loop; file reads and parsing run off it (`Offloader`).

    `config` is the config the desk started with: a reload switches in the file's models and says which other
    sections changed (they take effect at the next start). An invalid file or model changes nothing.
    """

    def __init__(self, engine: Engine, *, config: Config, config_path: Path | None, clock: WallClock | VirtualClock,
                 offload: Offloader, emit: Callable[[DeskEvent], None]) -> None:
        self._engine = engine
        self._config = config
        self.config_path = config_path
        self._clock = clock
        self._offload = offload
        self._emit = emit
        self._config_mtime = _mtime(config_path)
        self._config_timer: Cancellable | None = None
        self._reloading = False

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
        """Re-read the config file and switch in its latency/slippage models. An invalid file raises ConfigError
        (field paths) and the desk keeps its models; other sections are read at start only."""
        if self.config_path is None:
            raise ConfigError(["the desk was started without --config: there is no file to reload"])
        path = self.config_path
        self._config_mtime = _mtime(path)
        try:
            new = await self._offload.thread(lambda: load_config(path), "config-reload")
        except ConfigError as exc:
            self._emit(MessageEvent(f"config reload rejected, models unchanged: {exc.errors[0]}"
                                    + (f" (+{len(exc.errors) - 1} more)" if len(exc.errors) > 1 else "")))
            raise
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
        self._config_timer = self._clock.call_later(CONFIG_POLL_S, self._config_tick)
        # A stat is a metadata lookup of microseconds; reading and validating the file happen off the loop.
        if self._reloading or self.config_path is None or _mtime(self.config_path) == self._config_mtime:
            return
        self._reloading = True
        self._clock.loop.create_task(self._reload_quietly())

    async def _reload_quietly(self) -> None:
        try:
            await self.reload_config()
        except ConfigError:
            pass  # reported as a message; the desk keeps its models
        finally:
            self._reloading = False
