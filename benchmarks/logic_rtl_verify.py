"""A saved netlist in RTL simulation over a whole test split (Verilator + cocotb); print JSON.

    nice -n 10 .venv/bin/python benchmarks/logic_rtl_verify.py --netlist benchmarks/results/logic_mnist_net.npz \
        --dataset mnist --out benchmarks/results/logic_mnist_rtl.json

The netlist is emitted (thermometer encoder in the RTL, raw 8-bit pixels in,
a register after every ``--register-every`` layers) and every test image
streams through ``hwtrain/benches/bench_logic.py`` with ``--p-stall`` random stalls on both
sides, then 64 more without stalls (one sample per clock, or per period with
``--serial N``: N features per beat through hwtrain.hdl.logic_serial; latency). Every
predicted class and every GroupSum count must equal the golden evaluator's (no
tolerance); the RTL accuracy is computed from the RTL's classes. Exits non-zero
on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from hwtrain.core.report import command_line
from hwtrain.errors import HwtrainError, require
from hwtrain.flows.emit import manifest, to_verilog, write_rtl
from hwtrain.flows.floorplan import morton_outputs
from hwtrain.flows.simulate import run_bench
from hwtrain.flows.toolchain import repo_root
from hwtrain.golden.logic import LogicNetwork as Golden
from hwtrain.hdl.logic import LogicNetwork
from hwtrain.hdl.logic_serial import SerialLogicNetwork
from hwtrain.logic.netlist import Netlist


def split_of(name: str):
    if name == "mnist":
        # the data cache (`hwtrain data fetch mnist`), 8-bit pixels as `hwtrain logic train` scales them
        from hwtrain.logic.datasets import dataset_features
        d, _, _, x_test = dataset_features("mnist")
        return x_test, d.y_test
    from hwtrain.data import load_digits
    d = load_digits()
    return d.x_test.astype(np.int64), d.y_test


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--netlist", required=True)
    ap.add_argument("--dataset", choices=["mnist", "digits"], default="mnist")
    ap.add_argument("--register-every", default="1", help="k (a register after every k layers) or lut4")
    # issue 20's pipelining options (hwtrain.hdl.logic.LogicNetwork; defaults: the original design)
    ap.add_argument("--register-encoder", action="store_true")
    ap.add_argument("--head", choices=["comb", "pipelined", "fused"], default="comb")
    ap.add_argument("--head-levels", type=int, default=2)
    ap.add_argument("--head-order", choices=["netlist", "morton"], default="netlist",
                    help="each class's bits into its popcount in the netlist's order or in Morton order of the "
                         "nodes' image positions (hwtrain.flows.floorplan.morton_outputs; same counts)")
    ap.add_argument("--argmax-pipeline", choices=["round", "compare", "split"], default="split")
    ap.add_argument("--flow", choices=["stall", "credit"], default="stall")
    ap.add_argument("--fifo", choices=["shift", "lutram"], default="shift")
    ap.add_argument("--serial", type=int, default=0, metavar="N",
                    help="features per beat of a serial input (hwtrain.hdl.logic_serial; 0: all in one beat)")
    ap.add_argument("--p-stall", type=float, default=0.3)
    ap.add_argument("--limit", type=int, default=0, help="only the first N test samples (0: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=str(repo_root() / "build" / "logic_rtl_verify"))
    ap.add_argument("--build-jobs", type=int, default=1,
                    help="parallel C++ compile jobs of the Verilator build (cocotb's default: all cores)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    require(a.build_jobs >= 1, "--build-jobs must be >= 1")
    import cocotb_tools.runner
    cocotb_tools.runner.MAX_PARALLEL_BUILD_JOBS = a.build_jobs   # read by the runner's make -j
    require(0 <= a.p_stall < 1 and a.limit >= 0, "need 0 <= --p-stall < 1 and --limit >= 0")
    require(a.serial >= 0 and not (a.serial and a.register_encoder),
            "--serial is a number of features per beat (0: all in one beat) and captures the encoded bits "
            "in flip-flops: leave --register-encoder off with it")
    nl = Netlist.load(a.netlist)
    require(nl.encoder is not None, "the netlist needs a thermometer encoder (raw features in)")
    nl = morton_outputs(nl) if a.head_order == "morton" else nl
    x, y = split_of(a.dataset)
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    require(x.shape[1] == nl.encoder.features,
            f"{a.dataset} has {x.shape[1]} features, the netlist's encoder {nl.encoder.features}")
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    require(a.register_every == "lut4" or a.register_every.isdigit(),
            f"--register-every must be a non-negative integer or lut4, got {a.register_every!r}")
    a.register_every = a.register_every if a.register_every == "lut4" else int(a.register_every)
    pipe = dict(register_every=a.register_every, register_encoder=a.register_encoder, head=a.head,
                head_levels=a.head_levels, argmax_pipeline=a.argmax_pipeline, flow=a.flow, fifo=a.fifo)
    dut = SerialLogicNetwork(LogicNetwork(nl, raw=False, **pipe), a.serial) if a.serial else LogicNetwork(nl, **pipe)
    top = (f"logic_{a.dataset}_r{a.register_every}" + ("" if a.head == "comb" else f"_{a.head}_{a.flow}_{a.fifo}")
           + (f"_serial{a.serial}" if a.serial else ""))
    t = time.monotonic()
    text = to_verilog(dut, top)
    emit_s = time.monotonic() - t
    path = write_rtl(work / "rtl", top, text, manifest("LogicNetwork", top, nl.summary(), text))
    nl.save(work / "net.npz")
    np.save(work / "x.npy", x)
    t = time.monotonic()
    s = run_bench(path, top, "bench_logic", {
        "netlist": str(work / "net.npz"), "inputs": str(work / "x.npy"), "raw": True, "counts_out": True,
        "register_every": a.register_every, "latency": dut.latency, "seed": a.seed,
        "serial": a.serial, "period": dut.period if a.serial else 1,
        "p_in_stall": a.p_stall, "p_out_stall": a.p_stall, "labels": [int(v) for v in y]},
        work_dir=work / "sim")
    sim_s = time.monotonic() - t
    golden_acc = Golden(nl).accuracy(x, y)
    ok = (s["failed"] == 0 and s["mismatches"] == 0 and s["samples"] == len(x) + min(len(x), 64)
          and s["rtl_accuracy"] == golden_acc)
    out = {"benchmark": "logic_rtl_verify", "netlist": a.netlist, "dataset": a.dataset,
           "test_samples": len(x), "gates": nl.gates, "depth": nl.depth,
           "register_every": a.register_every, "pipeline": pipe, "serial": a.serial,
           "period_cycles": dut.period if a.serial else 1, "head_order": a.head_order, "p_stall": a.p_stall,
           "command": command_line(argv),
           "samples_compared": s["samples"], "mismatches": s["mismatches"],
           "first_mismatches": s["first_mismatches"], "rtl_accuracy": s["rtl_accuracy"],
           "golden_accuracy": golden_acc, "latency_cycles": s["latency_cycles"],
           "expected_latency_cycles": dut.latency, "cycles_unstalled": s["cycles_unstalled"],
           "samples_unstalled": s["samples_unstalled"], "emit_seconds": round(emit_s, 1),
           "build_and_sim_seconds": round(sim_s, 1), "bit_exact": ok}
    text = json.dumps(out, indent=1)
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w") as f:
            f.write(text)
    print(text)
    if not ok:
        raise HwtrainError(f"RTL and golden evaluator differ (log: {s['log']})")


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "logic_rtl_verify.py"))
