"""How numbers are printed, the same in every command, report and table."""

from __future__ import annotations


def percent(fraction: float) -> str:
    """How every command prints an accuracy or error rate: ``72.98%``."""
    return f"{100 * fraction:.2f}%"
