"""KiteConfig: extra fields and secrets refused, defaults equal the exchange's limits, market protection rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from imperium_desk.broker.kite.config import KITE_REST_ROOT, KiteConfig, KiteLimits
from imperium_desk.domain.enums import Product


def make(**fields: Any) -> KiteConfig:
    return KiteConfig.model_validate({"api_key": "kitekey1", **fields})


def test_extra_field_is_forbidden() -> None:
    with pytest.raises(ValidationError):
        make(colour="blue")


@pytest.mark.parametrize("secret", ["api_secret", "access_token", "request_token"])
def test_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValidationError):
        make(**{secret: "s3cr3t"})


def test_no_field_of_the_schema_is_a_secret() -> None:
    assert not {"api_secret", "access_token", "request_token"} & set(KiteConfig.model_fields)


def test_limit_defaults_equal_the_exchanges() -> None:
    limits = KiteLimits()
    assert (
        limits.orders_per_second, limits.orders_per_minute, limits.orders_per_day, limits.modifications_per_order,
        limits.quote_calls_per_second, limits.reads_per_second,
    ) == (10, 400, 5_000, 25, 1, 10)


def test_zero_market_protection_is_refused() -> None:
    with pytest.raises(ValidationError):
        make(market_protection=0)


@pytest.mark.parametrize("value", [-2, -0.5, 100.5])
def test_market_protection_outside_its_range_is_refused(value: float) -> None:
    with pytest.raises(ValidationError):
        make(market_protection=value)


@pytest.mark.parametrize("value", [-1, 0.5, 2, 100])
def test_automatic_or_a_percentage_is_accepted(value: float) -> None:
    assert make(market_protection=value).market_protection == value


def test_sensex_trades_on_bfo_and_others_on_nfo() -> None:
    config = make()
    assert (config.exchange_for("SENSEX"), config.exchange_for("NIFTY")) == ("BFO", "NFO")


def test_default_roots_are_kites() -> None:
    assert make().rest_url == KITE_REST_ROOT


def test_rest_root_override_points_at_the_fake() -> None:
    assert make(rest_root="http://127.0.0.1:8765").rest_url == "http://127.0.0.1:8765"


def test_rest_root_with_a_path_is_refused() -> None:
    # The client joins absolute routes onto the root, which would silently drop a path.
    with pytest.raises(ValidationError):
        make(rest_root="http://127.0.0.1:8765/kite")


def test_ws_root_must_be_a_websocket_url() -> None:
    with pytest.raises(ValidationError):
        make(ws_root="http://127.0.0.1:8765/ws")


def test_product_defaults_to_carry_forward() -> None:
    assert make().product is Product.NRML


def test_config_is_frozen() -> None:
    config = make()
    with pytest.raises(ValidationError):
        config.api_key = "other"  # type: ignore[misc]


def test_tag_desk_code_must_be_three_alphanumerics() -> None:
    with pytest.raises(ValidationError):
        make(tag_desk_code="ab-")
