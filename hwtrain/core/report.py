"""How numbers are printed, the same in every command, report and table."""

from __future__ import annotations


def percent(fraction: float) -> str:
    """How every command prints an accuracy or error rate: ``72.98%``."""
    return f"{100 * fraction:.2f}%"


def command_line(argv=None, prefix: str = "nice -n 10 .venv/bin/python") -> str:
    """The command that made a result, as a benchmark JSON records it: quoted so that it runs
    again as printed (``--pnr-args "--tmg-ripup ..."`` stays one argument)."""
    import shlex
    import sys
    return f"{prefix} {shlex.join([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])}"
