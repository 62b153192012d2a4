"""Run a cocotb bench from ``sim/`` on emitted Verilog and collect its verdict.

A bench receives its parameters as JSON in ``HWTRAIN_BENCH`` and writes a
summary JSON (samples compared, mismatches, cycles) to the path given there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

from ..errors import HwtrainError
from .toolchain import runs_dir, simulator_env

# Amaranth's Verilog trips Verilator's width lints; they are not errors here.
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNOPTFLAT",
                  "-O3", "--x-assign", "fast", "--x-initial", "fast"]


@contextmanager
def _environ(extra: dict[str, str]):
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _top_ports(verilog_text: str, top: str) -> list[str]:
    """Port names of module ``top`` in emitted Verilog (Amaranth writes ``module top(a, b, ...);``)."""
    match = re.search(rf"\bmodule\s+\\?{re.escape(top)}\s*\(([^)]*)\)", verilog_text)
    if match is None:
        raise HwtrainError(f"module {top} not found in the Verilog")
    return [p.strip().lstrip("\\") for p in match.group(1).split(",") if p.strip()]


def _ports_only_control_file(verilog: Path, top: str, build_dir: Path) -> Path:
    """A Verilator control file that makes only the top-level ports visible to cocotb.

    cocotb's runner passes ``--public-flat-rw``, which keeps every internal
    signal of the design alive and addressable: for a 784 x 33 popcount array
    that multiplies Verilator's and the C++ compiler's time. The benches only
    touch ports, so only the ports are made public.
    """
    lines = ["`verilator_config"] + [f'public_flat_rw -module "{top}" -var "{p}"'
                                     for p in _top_ports(verilog.read_text(), top)]
    path = build_dir / "ports.vlt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _verilator_runner():
    """cocotb's Verilator runner without ``--public-flat-rw`` (see above)."""
    from cocotb_tools.runner import Verilator

    class PortsOnlyVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            return cmds

    return PortsOnlyVerilator()


def sim_dir() -> Path:
    """The cocotb benches: ``hwtrain/benches`` inside the installed package."""
    d = Path(__file__).resolve().parents[1] / "benches"
    if not (d / "streams.py").exists():
        raise HwtrainError(f"cocotb benches not found in {d}; the hwtrain installation is incomplete")
    return d


def run_bench(verilog: Path, top: str, bench: str, params: dict, *, sim: str = "verilator",
              work_dir: Path | None = None, progress=None) -> dict:
    """Build ``verilog`` (cached by content hash) and run cocotb module ``bench``.

    Returns the bench's summary dict plus ``tests`` and ``failed`` counts from
    cocotb's results file. ``progress(text)``, when given, hears each step and its log.
    """
    say = progress or (lambda text: None)
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    env = simulator_env(sim)
    verilog = Path(verilog).resolve()
    digest = hashlib.sha256(verilog.read_bytes()).hexdigest()[:12]
    work = Path(work_dir or runs_dir() / "sim").resolve()
    build_dir = work / f"{top}-{sim}-{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    summary_path = build_dir / f"summary-{os.getpid()}.json"
    summary_path.unlink(missing_ok=True)
    results_xml = build_dir / f"results-{os.getpid()}.xml"
    bench_env = {
        "HWTRAIN_BENCH": json.dumps({**params, "summary": str(summary_path)}),
    }
    bench_dir = str(sim_dir())
    with _environ(env):
        runner = _verilator_runner() if sim == "verilator" else get_runner(sim)
        sources = [verilog]
        if sim == "verilator":
            from cocotb_tools.runner import VerilatorControlFile
            sources.append(VerilatorControlFile(_ports_only_control_file(verilog, top, build_dir)))
        try:
            # Parallel test workers build the same design into the same folder;
            # one build at a time, the others then find it up to date.
            with open(build_dir / ".build.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                say(f"building {top} with {sim} (log {build_dir / 'build.log'})")
                runner.build(sources=sources, hdl_toplevel=top, build_dir=build_dir,
                             build_args=VERILATOR_ARGS if sim == "verilator" else [],
                             log_file=build_dir / "build.log")
        except (SystemExit, Exception) as e:
            raise HwtrainError(f"{sim} could not build {verilog.name} ({e}); "
                               f"log: {build_dir / 'build.log'}") from None
        # The runner hands the simulator's Python this process's sys.path.
        sys.path.insert(0, bench_dir)
        say(f"simulating with {bench} (log {build_dir / 'test.log'})")
        try:
            runner.test(test_module=bench, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                        build_dir=build_dir,
                        test_dir=build_dir, extra_env=bench_env, results_xml=str(results_xml),
                        log_file=build_dir / "test.log")
        except SystemExit:
            pass  # under pytest the runner exits on a failing test; the results say why
        finally:
            sys.path.remove(bench_dir)
    try:
        tests, failed = get_results(results_xml)
    except RuntimeError:
        raise HwtrainError(f"{sim} simulation of {top} ended abnormally; "
                           f"log: {build_dir / 'test.log'}") from None
    if not summary_path.exists():
        raise HwtrainError(f"bench {bench} wrote no summary; log: {build_dir / 'test.log'}")
    summary = json.loads(summary_path.read_text())
    summary.update(tests=tests, failed=failed, log=str(build_dir / "test.log"))
    return summary
