"""Pre-trade risk gate: checked before anything is sent. Exits are never blocked."""

from __future__ import annotations

from imperium_desk.domain.instruments import OptionContract
from imperium_desk.execution.config import RiskConfig
from imperium_desk.execution.request import ExecutionRequest


class RiskGate:
    def __init__(self, config: RiskConfig) -> None:
        self.config = config

    def update(self, config: RiskConfig) -> None:
        self.config = config

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
