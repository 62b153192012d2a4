"""BEP-TT on chip: a binary RNN trains on a UCR set in the engine's Verilog, bit-exactly (cocotb + Verilator).

    nice -n 10 .venv/bin/python benchmarks/trainer_rnn_rtl.py --epochs 5 \
        --out benchmarks/results/trainer_rnn_rtl_italy_power.json

The configuration is the one ``hwtrain train -a bep_tt -d italy_power --hidden KS,KY --online
--batch E`` builds on the official split (67 training, 1029 test sequences; the last 24 values,
10-bit thermometer, the fixed +-1 expansion to K0 = K_s bits per step computed on the host):
B = 16, gamma 15, r = 0.5, nu = 0.05, p_r = 0.5 rescaled by the error, BEF classifier, batch 1 with
a reinforcement sweep every E steps; ``--batch bs`` trains in mini-batches of bs sequences instead
(``hwtrain train`` without ``--online``: one update per batch, a reinforcement sweep every
``--reinforce-every`` batches, 1 by default as in the papers; the host closes each epoch's short
last batch with FLUSH). The engine (``hwtrain generate trainer_bep_tt``) is emitted,
built with Verilator and trained through its host driver for ``--epochs`` whole epochs of the
training split by hwtrain/benches/bench_trainer_rnn.py: every prediction, the clocks of every
sequence (against ``cycles_per_sample``), every hidden weight of H_xs, H_ss, H_sy and every counter
after each epoch are compared with the golden twin. Because the weights are compared equal, the
golden model's train and test accuracy after each epoch are the engine's. The JSON records the
command line that made it; ``--golden-only`` skips the Verilog (the golden twin's curve and
cycles only).
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

from hwtrain.core.report import command_line  # noqa: E402
from hwtrain.golden.trainer_rnn import (RnnGolden, RnnTrainConfig, apply_cycles, cycle_bound,  # noqa: E402
                                        cycles_per_sample, flush_cycles, plan, sequence_data, top_name)


def config(args) -> RnnTrainConfig:
    ks, ky = args.hidden
    return RnnTrainConfig(algorithm="bep_tt", inputs=args.expand or ks, raw_inputs=args.thermo_bits * args.channels,
                          hidden=(ks, ky), classes=args.classes, steps=args.window, hidden_bits=args.bits,
                          gamma=args.gamma, r=0.5, nu=0.05, p_r=0.5, classifier="bef", batch=args.batch,
                          reinforce_every=args.reinforce_every, tt_update=args.tt_update, simd=args.simd,
                          seed=args.seed)


def golden_run(cfg, dataset, epochs, data_path=None) -> dict:
    """The golden twin alone: per-epoch accuracy and the cycles per sequence of the formula (and the bound)."""
    xtr, ytr, xte, yte = sequence_data(cfg, dataset, data_path)
    g = RnnGolden(cfg)
    curve, cyc, bound, flush_cyc = [], [], [], []
    t0 = time.perf_counter()
    for ep in range(epochs):
        before = g.errors
        for i in g.order(len(ytr)):
            g.train_sample(xtr[i], int(ytr[i]))
            cyc.append(cycles_per_sample(cfg, **g.last))
            bound.append(cycle_bound(cfg, **g.last))
        if cfg.batch > 1:
            g.flush()                                  # the epoch's short last batch (the engine's FLUSH)
            flush_cyc.append(flush_cycles(cfg, **g.last_flush))
        e = (g.errors - before) / len(ytr)
        curve.append({"epoch": ep + 1, "train_error_online": e, "train_acc": float((g.predict(xtr) == ytr).mean()),
                      "test_acc": float((g.predict(xte) == yte).mean())})
        g.end_epoch(e)
    return {"curve": curve, "cycles_mean": statistics.fmean(cyc), "cycles_min": min(cyc), "cycles_max": max(cyc),
            "bound_mean": statistics.fmean(bound), "ratio_to_bound": statistics.fmean(cyc) / statistics.fmean(bound),
            "flush_cycles_per_epoch": flush_cyc, "apply_cycles": apply_cycles(cfg) if cfg.batch > 1 else 0,
            "cycles_mean_incl_flush": (sum(cyc) + sum(flush_cyc)) / len(cyc),
            "golden_seconds_incl_eval": time.perf_counter() - t0, "n_train": int(len(ytr)), "n_test": int(len(yte))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="italy_power", choices=("italy_power", "japanese_vowels"))
    ap.add_argument("--data-path", default=None)
    ap.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")), default=(255, 255))
    ap.add_argument("--expand", type=int, default=0, help="K0, the expansion layer's width (0: K_s)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1, help="sequences per mini-batch (1: online)")
    ap.add_argument("--reinforce-every", type=int, default=None,
                    help="steps between reinforcement sweeps (default: 7 online, the --batch of hwtrain train "
                         "--online; 1 in mini-batches, the papers' step)")
    ap.add_argument("--gamma", type=lambda s: tuple(int(v) for v in s.split(",")), default=(15, 15))
    ap.add_argument("--bits", type=int, default=16)
    ap.add_argument("--simd", type=int, default=32)
    ap.add_argument("--tt-update", default="sum", choices=("sum", "sign"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--golden-only", action="store_true")
    ap.add_argument("--work", type=Path, default=Path("hwtrain-runs/trainer_rnn_rtl"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.reinforce_every is None:
        args.reinforce_every = 7 if args.batch == 1 else 1
    ds = {"italy_power": (24, 1, 2), "japanese_vowels": (15, 12, 9)}[args.dataset]
    args.window, args.channels, args.classes = ds
    args.thermo_bits = 10
    command = command_line(argv)
    cfg = config(args)
    p = plan(cfg)
    res = {"benchmark": "trainer_rnn_rtl", "command": command, "dataset": args.dataset, "design": top_name(cfg),
           "config": cfg.to_dict(), "ebr_plan": p["ebr"], "words_per_state_row": p["words"]}
    res["golden"] = golden_run(cfg, args.dataset, args.epochs, args.data_path)
    print(json.dumps(res["golden"], indent=1), flush=True)
    if not args.golden_only:
        from hwtrain.flows.designs import generate
        from hwtrain.flows.simulate import run_bench
        t0 = time.perf_counter()
        path, info = generate("trainer_bep_tt", cfg, args.work)
        res["emit_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        s = run_bench(path, info["top"], "bench_trainer_rnn",
                      {"config": cfg.to_dict(), "dataset": args.dataset, "data_path": args.data_path,
                       "epochs": args.epochs, "n_train": 0, "seed": args.seed},
                      work_dir=args.work / "sim", progress=lambda t: print(t.splitlines()[0][:200], flush=True))
        res["rtl_seconds_incl_build"] = time.perf_counter() - t0
        res["rtl"] = {k: v for k, v in s.items() if k not in ("config", "log")}
        res["bit_exact"] = s["failed"] == 0 and s["mismatches"] == 0
        print(json.dumps({k: res["rtl"].get(k) for k in ("mismatches", "samples", "cycle_checks", "curve",
                                                          "mean_cycles_per_train_sample", "wall_seconds")},
                         indent=1), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
    return 0 if args.golden_only or res["bit_exact"] else 1


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "trainer_rnn_rtl.py"))
