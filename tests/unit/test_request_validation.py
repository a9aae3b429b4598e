"""`validate_request`: what can be executed as written, and a contract past its expiry."""

from __future__ import annotations

from datetime import datetime

import pytest

from imperium_desk.config import Config
from imperium_desk.desk import load_catalog
from imperium_desk.domain.enums import Side
from imperium_desk.domain.instruments import IST
from imperium_desk.execution.request import ContractExpired, ExecutionRequest
from imperium_desk.execution.validation import validate_request

EXPIRING = "NIFTY26NOV26000CE"  # expires Tuesday 2026-11-24 15:30 IST
EXPIRY = datetime(2026, 11, 24, 15, 30, tzinfo=IST).timestamp()


def _request() -> ExecutionRequest:
    return ExecutionRequest(symbol=EXPIRING, side=Side.BUY, quantity=65)


def test_a_contract_is_valid_until_its_expiry_instant() -> None:
    assert validate_request(load_catalog(Config()), _request(), now=EXPIRY - 0.001).symbol == EXPIRING


def test_a_contract_at_its_expiry_instant_is_refused_as_expired() -> None:
    with pytest.raises(ContractExpired):
        validate_request(load_catalog(Config()), _request(), now=EXPIRY)


def test_without_the_time_the_expiry_is_not_checked() -> None:
    assert validate_request(load_catalog(Config()), _request()).symbol == EXPIRING
