"""The `telemetry` config section: where records go and how they are kept (DESIGN.md §4, §5).

JSONL is the source of truth and always on; SQLite (the local index) and Redis Streams (shared by several
desks) are secondary sinks that catch up from the JSONL when they fall behind.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SinkName = Literal["jsonl", "sqlite", "redis"]


def _default_sinks() -> list[SinkName]:
    return ["jsonl", "sqlite"]


def _default_markouts() -> list[float]:
    return [1.0, 10.0, 60.0]


class RotationConfig(BaseModel):
    """When the desk's JSONL file is closed and a new segment started (replays never rotate: one run, one file)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max_mb: float | None = Field(default=256.0, gt=0)  # None: no size limit
    daily: bool = True  # a new segment when the records' UTC date changes


class TelemetryConfig(BaseModel):
    """The `telemetry:` section. The JSONL writer thread flushes every `flush_interval_ms` or as soon as `flush_records`
    wait, whichever is first; with `fsync` a record counts as flushed only once it is on the disk (telemetry/jsonl.py),
    which is what the desk's "acknowledged" means."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    sinks: list[SinkName] = Field(default_factory=_default_sinks, min_length=1)
    flush_interval_ms: float = Field(default=100.0, gt=0)
    flush_records: int = Field(default=100, ge=1)
    fsync: bool = True
    rotate: RotationConfig = Field(default_factory=RotationConfig)
    # Records a secondary sink (sqlite, redis) may hold in memory while it is slow or down; past the bound it
    # drops its buffer and later catches up from the JSONL files, so the engine never waits and nothing is lost.
    sink_buffer_records: int = Field(default=100_000, ge=100)
    redis_url: str | None = None  # redis://host:port/db, rediss://..., unix:///path
    redis_stream: str = Field(default="imperium:telemetry", min_length=1)
    # Names this desk in a shared stream (several desks feed one); default: derived from host and telemetry path.
    desk_id: str | None = Field(default=None, min_length=1, max_length=120)
    # Seconds after each fill at which the mid is read back (markouts, post-trade analysis); [] turns them off.
    markouts_s: list[float] = Field(default_factory=_default_markouts, max_length=8)

    @field_validator("sinks")
    @classmethod
    def _jsonl_first(cls, sinks: list[SinkName]) -> list[SinkName]:
        if "jsonl" not in sinks:
            raise ValueError("'jsonl' is required: it is the source of truth the other sinks catch up from")
        if len(set(sinks)) != len(sinks):
            raise ValueError(f"each sink once (got {sinks})")
        return sinks

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"must start with redis://, rediss:// or unix:// (got {url!r})")
        return url

    @field_validator("markouts_s")
    @classmethod
    def _markouts_increasing(cls, horizons: list[float]) -> list[float]:
        if any(h <= 0 for h in horizons) or horizons != sorted(set(horizons)):
            raise ValueError(f"positive and strictly increasing (got {horizons})")
        return horizons

    @model_validator(mode="after")
    def _redis_needs_url(self) -> Self:
        if "redis" in self.sinks and self.redis_url is None:
            raise ValueError("sinks includes 'redis' but redis_url is not set")
        return self
