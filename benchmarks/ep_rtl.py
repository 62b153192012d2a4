"""The full digits EP engine's Verilog trains whole epochs beside the golden model.

    nice -n 10 .venv/bin/python benchmarks/ep_rtl.py --epochs 2 --out benchmarks/results/ep_rtl.json

Emits ``EpEngine(EpConfig(), probe=True)`` (64-64-10x4, 6-bit states, 8-bit
momenta), builds it with Verilator and runs hwtrain/benches/bench_ep.py: every one of the
1437 training and 360 test predictions of every epoch, and all weights,
momenta and biases after every epoch, are compared with the golden model.
Too slow to build for the test suite (sim/test_ep_rtl.py runs a small engine).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from hwtrain.flows.emit import to_verilog
from hwtrain.flows.simulate import run_bench
from hwtrain.golden.ep import EpConfig
from hwtrain.hdl.ep import EpEngine, cycles_per_sample, top_name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--config", default="{}", help="JSON overrides of EpConfig")
    ap.add_argument("--p-stall", type=float, default=0.2, help="input idle / output stall probability")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    cfg = dataclasses.replace(EpConfig(), **json.loads(args.config))
    top = top_name(cfg, probe=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{top}.v"
        t = time.perf_counter()
        path.write_text(to_verilog(EpEngine(cfg, probe=True), top))
        emit_s = time.perf_counter() - t
        t = time.perf_counter()
        s = run_bench(path, top, "bench_ep", {
            "config": cfg.to_dict(), "epochs": args.epochs, "n_train": 1437, "n_test": 360,
            "seed": 1, "p_in_stall": args.p_stall, "p_out_stall": args.p_stall})
        s["emit_seconds"], s["build_and_run_seconds"] = emit_s, time.perf_counter() - t
    s["expected_cycles_per_train_sample"] = cycles_per_sample(cfg, True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(s, indent=1))
    print(json.dumps({k: s[k] for k in ("samples", "mismatches", "failed", "curve",
                                        "cycles_per_train_sample", "cycles_per_inference_sample",
                                        "build_and_run_seconds")}, indent=1))
    return 0 if s["failed"] == 0 and s["mismatches"] == 0 else 1


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "ep_rtl.py"))
