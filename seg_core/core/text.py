"""Counts in sentences: "1 photo", "3 photos", "1 class", "2 classes"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun in the number it takes (plural: `noun + "s"` unless given)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
