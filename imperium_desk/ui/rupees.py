"""Rupee amounts as Indian traders read them: digits grouped in lakhs and crores (12,34,567.89), no Qt."""

from __future__ import annotations


def grouped(value: float, decimals: int = 2) -> str:
    """`value` with Indian digit grouping and `decimals` places, the sign first (-12,34,567.89)."""
    sign = "-" if round(value, decimals) < 0 else ""
    whole, _, frac = f"{abs(value):.{decimals}f}".partition(".")
    head, tail = whole[:-3], whole[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return sign + ",".join([*groups, tail]) + (f".{frac}" if frac else "")
