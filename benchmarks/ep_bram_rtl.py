"""MNIST trains through the block-RAM EP engine's Verilog beside the golden model (issue 21).

    nice -n 10 .venv/bin/python benchmarks/ep_bram_rtl.py --n-train 1000 --n-test 200 \\
        --out benchmarks/results/ep_bram_rtl_mnist.json

Emits ``EpBramEngine(cfg, probe=True)`` for a 784-input engine (default
784-128-(10x10), simd 49 x 64, W1/M1 in 4 banks of 512 words: the engine of
benchmarks/ep_bram_synth.py's 784-128 row, with the MNIST hyperparameters of
``--config``), builds it with Verilator and runs hwtrain/benches/bench_ep_bram.py
on binarized MNIST (``hwtrain.golden.ep.mnist_binary``: pixel >= half range, the
first ``--n-train`` training and ``--n-test`` test images in file order, one
epoch): every training and test prediction is compared with the golden
``hwtrain.golden.ep.EpEngine``, and after the training samples the complete state
(every W1/W2 weight, every momentum of M1/M2, every bias) is read through the
probe port and compared. Random input idles and output stalls (``--p-stall``).
Negative control in the same run: a second golden model with tau_output + 1
trains beside the first on the same samples and must disagree with the RTL
(``control_mismatches`` > 0), else the run fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hwtrain.core.report import command_line
from hwtrain.flows.emit import to_verilog
from hwtrain.flows.simulate import run_bench
from hwtrain.hdl.ep_bram import EpBramConfig, EpBramEngine, cycles_per_sample, geometry, top_name

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ep_bram_mnist import ENGINE_BASE  # noqa: E402

# The MNIST engine: benchmarks/ep_bram_mnist.py's engine rules with in_shift 2 (alpha = 2^-4).
MNIST_ENGINE = {**ENGINE_BASE, "hidden": 128, "in_shift": 2, "seed": 1, "simd": 49, "simd_hidden": 64}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="{}", help="JSON overrides of MNIST_ENGINE (EpBramConfig fields)")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--p-stall", type=float, default=0.1, help="input idle / output stall probability")
    ap.add_argument("--no-control", action="store_true", help="skip the negative control")
    ap.add_argument("--work", type=Path, default=None, help="Verilator build folder (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    cfg = EpBramConfig(**{**MNIST_ENGINE, **json.loads(args.config)})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "hwtrain/hdl/ep_bram.py", "hwtrain/golden/ep.py",
                            "hwtrain/benches/bench_ep_bram.py"], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    top = top_name(cfg, probe=True)
    params = {"config": cfg.to_dict(), "dataset": "mnist", "epochs": 1, "n_train": args.n_train,
              "n_test": args.n_test, "seed": 1, "p_in_stall": args.p_stall, "p_out_stall": args.p_stall}
    if not args.no_control:
        params["control_config"] = dataclasses.replace(cfg, tau_output=cfg.tau_output + 1).to_dict()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{top}.v"
        t = time.perf_counter()
        path.write_text(to_verilog(EpBramEngine(cfg, probe=True), top))
        emit_s = time.perf_counter() - t
        t = time.perf_counter()
        s = run_bench(path, top, "bench_ep_bram", params, work_dir=args.work or Path(tmp) / "sim",
                      progress=lambda text: print(text, flush=True))
        s["emit_seconds"], s["build_and_run_seconds"] = emit_s, time.perf_counter() - t
    s["command"] = command_line(argv)
    s["hwtrain_commit"] = commit
    s["ep_files_modified_since_commit"] = dirty or None
    s["geometry"] = geometry(cfg)
    s["expected_cycles_per_train_sample"] = cycles_per_sample(cfg, True)
    s["expected_cycles_per_inference_sample"] = cycles_per_sample(cfg, False)
    s["bench_seconds_per_sample"] = s["bench_seconds"] / max(s["samples"], 1)
    s["load_average_end"] = os.getloadavg()
    ok = (s["failed"] == 0 and s["mismatches"] == 0
          and s["cycles_per_train_sample"] == s["expected_cycles_per_train_sample"]
          and (not args.n_test or s["cycles_per_inference_sample"] == s["expected_cycles_per_inference_sample"])
          and (args.no_control or (s["control_mismatches"] or 0) > 0))
    s["ok"] = ok
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(s, indent=1))
    keys = ("samples", "mismatches", "control_mismatches", "failed", "curve", "flips", "cycles_per_train_sample",
            "expected_cycles_per_train_sample", "cycles_per_inference_sample", "bench_seconds",
            "build_and_run_seconds", "ok")
    print(json.dumps({k: s.get(k) for k in keys}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "ep_bram_rtl.py"))
