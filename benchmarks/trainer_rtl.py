"""Digits-sized training engines, emitted Verilog, whole epochs beside the golden model (Verilator).

    nice -n 10 .venv/bin/python benchmarks/trainer_rtl.py --out benchmarks/results/trainer_rtl.json
    nice -n 10 .venv/bin/python benchmarks/trainer_rtl.py --rules cpr --epochs 3

Runs hwtrain/benches/bench_trainer.py on cpr 64-128 and bep 64-128-128 (the configs of
benchmarks/trainer_synth.py): every prediction, cycle count, hidden weight and
counter is compared after each epoch; the summary holds the online training
error and the test accuracy of the weights read back from the engine, per
epoch, next to the golden model's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hwtrain.flows.designs import generate  # noqa: E402
from hwtrain.flows.simulate import run_bench  # noqa: E402
from trainer_synth import CONFIGS  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default="cpr,bep")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--stall", type=float, default=0.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    results = []
    for rule in args.rules.split(","):
        cfg = CONFIGS[rule]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            path, info = generate(f"trainer_{rule}", cfg, Path(tmp))
            s = run_bench(path, info["top"], "bench_trainer",
                          {"config": cfg.to_dict(), "dataset": "digits", "epochs": args.epochs,
                           "n_train": 1438, "n_test": 359, "seed": 1,
                           "p_in_stall": args.stall, "p_out_stall": args.stall})
            s["total_seconds"] = time.perf_counter() - t0
        s["rule"] = rule
        print(json.dumps({k: s[k] for k in ("rule", "samples", "mismatches", "failed", "curve",
                                            "min_cycles_per_train_sample", "max_cycles_per_train_sample",
                                            "total_seconds")}, indent=1), flush=True)
        results.append(s)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"benchmark": "trainer_rtl", "results": results}, indent=1))
    return 0 if all(r["failed"] == 0 and r["mismatches"] == 0 for r in results) else 1


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "trainer_rtl.py"))
