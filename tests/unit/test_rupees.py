"""Rupee amounts with Indian digit grouping (ui/rupees.py): lakhs and crores, the sign first."""

from __future__ import annotations

import pytest

from imperium_desk.ui.rupees import grouped


@pytest.mark.parametrize(("value", "decimals", "text"), [
    (999.0, 2, "999.00"),
    (1_000.0, 2, "1,000.00"),
    (1_50_000.0, 0, "1,50,000"),
    (12_34_567.891, 2, "12,34,567.89"),
    (-51_200.4, 0, "-51,200"),
    (-0.001, 2, "0.00"),  # a value that rounds to zero shows no sign
])
def test_digits_are_grouped_in_lakhs_and_crores(value: float, decimals: int, text: str) -> None:
    assert grouped(value, decimals) == text
