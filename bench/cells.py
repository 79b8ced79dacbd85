"""How the generated docs tables write a cell shared by several of them."""

from __future__ import annotations


def change_interval(row: dict, measure: str) -> str:
    """A what-if arm's change in ``measure`` with its interval, ``+1,234 (+56 to +2,345)``; a dash
    for the reference arm (no change, no spread)."""
    change, low, high = row[f"{measure}_change"], row[f"{measure}_change_low"], row[f"{measure}_change_high"]
    return "–" if change == 0 and low == high else f"{change:+,.0f} ({low:+,.0f} to {high:+,.0f})"
