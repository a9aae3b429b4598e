"""Pre-trade risk gate: checked before anything is sent. Exits are never blocked."""

from __future__ import annotations

from typing import Any

from imperium_desk.domain.instruments import OptionContract
from imperium_desk.execution.config import RiskConfig
from imperium_desk.execution.request import ExecutionRequest


class RiskGate:
    """`config` is what the gate enforces: the base limits (the desk's config, the kill-switch toggle) with any
    temporary overrides (a scenario's `risk_change`) laid over them in the order they began."""

    def __init__(self, config: RiskConfig) -> None:
        self._base = config
        self._overrides: list[dict[str, Any]] = []
        self.config = config

    @property
    def base(self) -> RiskConfig:
        return self._base

    def update(self, config: RiskConfig) -> None:
        self._base = config
        self._apply()

    def push_override(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Lay `fields` (already validated RiskConfig fields) over the limits until `pop_override(token)`."""
        token = dict(fields)
        self._overrides.append(token)
        self._apply()
        return token

    def pop_override(self, token: dict[str, Any]) -> None:
        self._overrides = [o for o in self._overrides if o is not token]
        self._apply()

    def _apply(self) -> None:
        merged: dict[str, Any] = {}
        for override in self._overrides:
            merged.update(override)
        self.config = self._base.model_copy(update=merged) if merged else self._base

    def check(self, request: ExecutionRequest, contract: OptionContract, price: float) -> str | None:
        """The reason the order is blocked, or None if it may go."""
        if request.metadata.is_exit:
            return None
        cfg = self.config
        if cfg.kill_switch:
            return "kill switch is on: new orders are blocked (exits still go)"
        lots = request.quantity // contract.lot_size
        if lots > cfg.max_order_lots:
            return f"{lots} lots exceeds max_order_lots {cfg.max_order_lots}"
        value = request.quantity * price
        if value > cfg.max_order_value:
            return f"order value {value:,.2f} exceeds max_order_value {cfg.max_order_value:,.2f}"
        return None
