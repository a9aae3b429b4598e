"""`ModelParams`: the record of the models behind one order's fills, as the fills' `model_params` carry it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ModelParams:
    """The resolver's record of an order's models plus the regime factor each conditioned model was scaled by.

    `resolved` is `ResolvedModels.model_params`, shared by every order of the asset and never mutated. A factor is
    None when that model is not conditioned (`scale_with` absent): the draw is used as is and the record has no
    `factor` key for it. `record()` is what a fill carries (and telemetry writes): `resolved` itself when nothing
    is conditioned, else a copy with `"factor"` added to each conditioned model's entry, rounded to 6 places.
    """

    resolved: dict[str, Any]
    latency: float | None = None
    insert: float | None = None
    report: float | None = None
    slippage: float | None = None
    # The record built for the current factors; fills already made keep the dict they were given.
    _record: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def set_slippage(self, factor: float) -> None:
        """The slippage factor of the latest draw (participation changes it from one fill batch to the next)."""
        self.slippage = factor
        self._record = None

    def record(self) -> dict[str, Any]:
        record = self._record
        if record is None:
            record = self._record = self._build()
        return record

    def _build(self) -> dict[str, Any]:
        if self.latency is None and self.insert is None and self.report is None and self.slippage is None:
            return self.resolved
        out = dict(self.resolved)
        # Replacing a key keeps its position, so the record serialises in the resolver's key order.
        for name, factor in (("latency", self.latency), ("slippage", self.slippage)):
            if factor is not None:
                out[name] = {**out[name], "factor": factor}
        for name, factor in (("insert", self.insert), ("report", self.report)):
            if factor is not None:
                lanes = out["lanes"]
                out["lanes"] = {**lanes, name: {**lanes[name], "factor": factor}}
        return out


def factor_or_one(factor: float | None) -> float:
    """The multiplier a recorded factor stands for (a model that is not conditioned is not scaled)."""
    return 1.0 if factor is None else factor
