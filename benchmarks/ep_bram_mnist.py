"""MNIST accuracy of configurations the block-RAM EP engine builds, in the golden model (issue 21).

The engine (hwtrain.hdl.ep_bram.EpBramEngine) builds only the hardware rules
(online, activation nudge, positive beta, one alpha, bias before the shift:
``hwtrain.hdl.ep.HARDWARE_BUILDS``); this study trains such configurations on
binarized MNIST in the golden model, which the engine's Verilog equals bit for
bit (benchmarks/ep_bram_rtl.py checks that on MNIST itself). Each variant is a
JSON object of EpConfig overrides on top of ``ENGINE_BASE`` (784-H-(10x10));
every run prints and stores its per-epoch test accuracy and the golden model's
training samples/s on one core (OpenBLAS/OpenMP at one thread).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/ep_bram_mnist.py \\
        --hidden 128 --seeds 1,2,3 --epochs 3 --n-train 60000 --n-test 10000 \\
        --variants '{"engine": {}}' --out benchmarks/results/ep_bram_mnist_golden.json

Data and sample order as benchmarks/ep_mnist.py (``hwtrain.golden.ep.mnist_binary``:
pixel >= half range; each epoch a new order from Xorshift32 lane ``stream_seed(seed, 1)``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ep_mnist import summary, train_run  # noqa: E402

from hwtrain.errors import HwtrainError  # noqa: E402
from hwtrain.golden.ep import EpConfig, mnist_binary  # noqa: E402
from hwtrain.hdl.ep import refuse_unsupported  # noqa: E402

# The engine's rules with the thesis's integer thresholds for its T, K, beta and BOP
# (hwtrain.golden.ep.thesis_config with every golden-only rule set to what the hardware builds).
ENGINE_BASE = dict(inputs=784, classes=10, replicas=10, state_bits=6, state_init=0, in_shift=0,
                   in_shift_output=None, bias_bits=12, bias_frac=4, bias_mode="pre", nudge=128,
                   nudge_mode="activation", beta_sign="positive", free_steps=20, nudged_steps=10, batch=1,
                   mom_bits=8, mom_frac=0, gamma_shift=19, tau_hidden=16, tau_output=13)


def engine_config(hidden: int, seed: int, **over) -> EpConfig:
    cfg = EpConfig(**{**ENGINE_BASE, "hidden": hidden, "seed": seed, **over})
    refuse_unsupported(cfg)            # only what the engine builds
    return cfg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=60_000)
    ap.add_argument("--n-test", type=int, default=10_000)
    ap.add_argument("--variants", default='{"engine": {}}', help="JSON {name: EpConfig overrides}")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
        variants = json.loads(a.variants)
    except ValueError as e:
        ap.error(f"--seeds takes integers a,b,... and --variants a JSON object {{name: {{field: value}}}}: {e}")
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        ap.error(f"--variants must be a JSON object {{name: {{EpConfig field: value}}}}, got {a.variants!r}")
    # every configuration checked before the first run (a refused third variant lost two runs' results)
    try:
        for over in variants.values():
            for s in seeds:
                engine_config(a.hidden, s, **over)
    except (HwtrainError, TypeError) as e:
        ap.error(str(e))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    args = argv if argv is not None else sys.argv[1:]
    out = {"command": "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/ep_bram_mnist.py "
                      + shlex.join(args),
           "hwtrain_commit": commit, "hidden": a.hidden, "epochs": a.epochs, "seeds": seeds,
           "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
           "machine": platform.machine(), "load_average_start": os.getloadavg()}
    t0 = time.perf_counter()
    data = mnist_binary(n_train=a.n_train, n_test=a.n_test)
    out["n_train"], out["n_test"] = int(len(data[1])), int(len(data[3]))
    rows = []
    for name, over in variants.items():
        cfgs = [engine_config(a.hidden, s, **over) for s in seeds]
        runs = [train_run(c, a.epochs, data) for c in cfgs]
        s = summary(runs)
        rows.append({"variant": name, "changes": over, "config": cfgs[0].to_dict(), "runs": runs, **s})
        print(f"{name} 784-{a.hidden}-100 {over}: test error {s['final_test_error']} after {a.epochs} epochs "
              f"(best epoch {s['best_test_error_pct_mean']:.2f} +- {s['best_test_error_pct_std']:.2f} %), "
              f"{s['train_samples_per_s']:.0f} training samples/s on one core", flush=True)
    out["rows"] = rows
    out["wall_seconds"] = time.perf_counter() - t0
    out["load_average_end"] = os.getloadavg()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "ep_bram_mnist.py"))
