"""Checked command-line arguments: every command validates its whole input before long work.

argparse calls these ``type=`` functions while it parses, so a bad value stops the
command before a dataset is loaded, a network trained or a tool started, and the
message says what was given and what was expected. ``Parser`` prints argparse's own
errors as one line (``hwtrain train: error: ...``, exit 2) instead of a usage block.

Output paths are checked for writability here and their folders created when they
are written (``prepare_output``), so a run is never lost to a bad ``--plot`` or
``--json`` path after it has finished.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

from .core.report import percent  # noqa: F401  (how every command prints an accuracy)
from .errors import HwtrainError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors; sub-commands inherit it through ``add_subparsers``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def integer(lo: int | None = None, hi: int | None = None):
    """An integer option in ``[lo, hi]`` (either bound may be None)."""
    def parse(text: str) -> int:
        try:
            v = int(text, 0) if text.strip().lower().startswith(("0x", "0b")) else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        _bounds(v, lo, hi, text)
        return v
    parse.__name__ = "integer"
    return parse


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
         hi_open: bool = False):
    """A finite number in ``[lo, hi]``; ``lo_open``/``hi_open`` exclude the bound itself."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        _bounds(v, lo, hi, text, lo_open, hi_open)
        return v
    parse.__name__ = "number"
    return parse


def _bounds(v, lo, hi, text, lo_open=False, hi_open=False):
    low_bad = lo is not None and (v <= lo if lo_open else v < lo)
    high_bad = hi is not None and (v >= hi if hi_open else v > hi)
    if low_bad or high_bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        if hi is None:
            want = f"> {lo}" if lo_open else f">= {lo}"
        elif lo is None:
            want = f"< {hi}" if hi_open else f"<= {hi}"
        else:
            want = f"in {left}{lo}, {hi}{right}"
        raise argparse.ArgumentTypeError(f"must be {want}, got {text}")


probability = real(0.0, 1.0)
positive = integer(1)
natural = integer(0)


def int_list(lo: int | None = 1, *, min_len: int = 1):
    """Comma-separated integers, each >= ``lo``: ``135,135``."""
    item = integer(lo)

    def parse(text: str) -> tuple[int, ...]:
        parts = [t.strip() for t in str(text).split(",") if t.strip()]
        if len(parts) < min_len:
            raise argparse.ArgumentTypeError(f"expected at least {min_len} comma-separated integers, "
                                             f"got {text!r}")
        try:
            return tuple(item(t) for t in parts)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"{e} (in {text!r})") from None
    parse.__name__ = "list"
    return parse


def input_file(text: str) -> Path:
    """An existing, readable file (not a folder)."""
    p = Path(text)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, expected a file")
    if not os.access(p, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: not readable")
    return p


def output_file(text: str) -> Path:
    """A file hwtrain may create or overwrite: not a folder, and its folder writable
    (or creatable under a writable ancestor)."""
    p = Path(text)
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, expected a file name")
    if p.exists() and not os.access(p, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text}: not writable")
    _writable_ancestor(p.parent, text)
    return p


def output_dir(text: str) -> Path:
    """A folder hwtrain may create or write into: not an existing file."""
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, expected a folder")
    _writable_ancestor(p, text)
    return p


def _writable_ancestor(folder: Path, text: str) -> None:
    a = folder.absolute()
    while not a.exists():
        a = a.parent
    if not a.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {text}: {a} is a file, not a folder")
    if not os.access(a, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: folder {a} is not writable")


def prepare_output(path) -> Path:
    """Create the folder of an output file (checked by ``output_file``) just before writing it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def binarize_scheme(text: str) -> str:
    """An image binarization scheme (``median``, ``fixed:0.5+drop:0.05``, ...), checked when parsed."""
    from .data.binarize import parse_binarize
    try:
        parse_binarize(text)
    except HwtrainError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def progress(text: str) -> None:
    """How every command announces a long step while it runs: ``  building ... (log ...) ...``."""
    print(f"  {text} ...", flush=True)


def read_config_text(text: str) -> dict:
    """``--config``: inline JSON (``{...}``), ``@file.json`` or a file path; always a JSON object."""
    text = str(text)
    inline = text.lstrip().startswith(("{", "["))
    source = "inline configuration" if inline else f"configuration {text.removeprefix('@')}"
    if not inline:
        path = Path(text.removeprefix("@"))
        if path.is_dir():
            raise HwtrainError(f"configuration {path} is a folder, expected a JSON file")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise HwtrainError(f"cannot read configuration {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as e:
        raise HwtrainError(f"{source} is not valid JSON: {e}") from None
    if not isinstance(values, dict):
        raise HwtrainError(f"{source} must hold a JSON object, got {type(values).__name__}")
    return values
