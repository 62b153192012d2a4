"""Fully binarized EP + BOP (golden model, online) on binarized digits: accuracy curves.

    nice -n 10 .venv/bin/python benchmarks/ep_digits.py --epochs 15 --seeds 1,2,3 \
        --out benchmarks/results/ep_digits.json --png benchmarks/results/ep_digits.png

Data: scikit-learn's 8x8 digits, pixels binarized by ``pixel >= 8``, shuffled
once by ``Xorshift32(7, 1)`` and split 1437 train / 360 test
(``hwtrain.golden.ep.digits_binary``). Every epoch visits the training set in
a new order: the argsort of the next 1437 draws of one ``Xorshift32`` lane of
master seed ``stream_seed(seed, 1)``. Training is online (batch 1), as on chip.

Reported per epoch: the online training accuracy (free-phase prediction made
before each sample's update), test accuracy, and the flip metric of the
thesis, ``log(flips / weights + e**-9)`` per layer. ``--config`` takes JSON
overrides of ``EpConfig`` (defaults: the digits engine that is synthesized).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from hwtrain.golden.ep import EpConfig, EpEngine, digits_binary
from hwtrain.core.prng import Xorshift32, stream_seed

DIGITS_ENGINE = EpConfig()          # 64-64-(10x4), 6-bit states, 8-bit momenta


def train_run(cfg: EpConfig, epochs: int, data, *, log=None) -> dict:
    """Train one network online for ``epochs``; return its curve and timing."""
    xtr, ytr, xte, yte = data
    e = EpEngine(cfg)
    order_rng = Xorshift32(stream_seed(cfg.seed, 1), 1)
    n1, n2 = e.w1.size, e.w2.size
    curve, seconds, trained = [], 0.0, 0
    for epoch in range(epochs):
        order = np.argsort(order_rng.draws(len(ytr))[:, 0], kind="stable")
        w1, w2 = e.w1.copy(), e.w2.copy()
        t = time.perf_counter()
        preds = e.train_epoch(xtr[order], ytr[order])
        seconds += time.perf_counter() - t
        trained += len(ytr)
        test = e.accuracy(xte, yte)
        f1, f2 = int((e.w1 != w1).sum()), int((e.w2 != w2).sum())
        curve.append({"epoch": epoch + 1, "train_acc_online": float((preds == ytr[order]).mean()),
                      "test_acc": test,
                      "flip_metric": [math.log(f1 / n1 + math.exp(-9)), math.log(f2 / n2 + math.exp(-9))]})
        if log:
            log(f"  seed {cfg.seed} epoch {epoch + 1}: train {curve[-1]['train_acc_online']:.3f} "
                f"test {test:.3f} flips {f1}+{f2}")
    return {"seed": cfg.seed, "curve": curve, "train_samples_per_s": trained / seconds,
            "final_test_acc": curve[-1]["test_acc"],
            "best_test_acc": max(c["test_acc"] for c in curve)}


def summarize(runs: list[dict]) -> dict:
    final = np.array([r["final_test_acc"] for r in runs])
    return {"final_test_acc_mean": float(final.mean()), "final_test_acc_std": float(final.std()),
            "final_test_error_pct": f"{100 * (1 - final.mean()):.2f} +- {100 * final.std():.2f}",
            "golden_train_samples_per_s": float(np.mean([r["train_samples_per_s"] for r in runs]))}


def plot(runs: list[dict], title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ep = [c["epoch"] for c in runs[0]["curve"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("test_acc", "test"), ("train_acc_online", "train (online)")):
        a = np.array([[c[key] for c in r["curve"]] for r in runs])
        ax.plot(ep, a.mean(0), label=label)
        ax.fill_between(ep, a.mean(0) - a.std(0), a.mean(0) + a.std(0), alpha=0.25)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--config", default="{}", help="JSON overrides of EpConfig")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--png", type=Path, default=None)
    args = ap.parse_args(argv)
    base = dataclasses.replace(DIGITS_ENGINE, **json.loads(args.config))
    data = digits_binary()
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        runs.append(train_run(dataclasses.replace(base, seed=seed), args.epochs, data,
                              log=lambda s: print(s, file=sys.stderr, flush=True)))
    result = {"benchmark": "ep_digits", "dataset": "sklearn digits 8x8, pixel >= 8, 1437/360",
              "config": {k: v for k, v in base.to_dict().items() if k != "seed"},
              "epochs": args.epochs, "runs": runs, "summary": summarize(runs)}
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    if args.png:
        c = base
        plot(runs, f"EP+BOP digits {c.inputs}-{c.hidden}-{c.classes}x{c.replicas}, "
                   f"{c.state_bits}-bit states, {c.mom_bits}-bit momenta, {len(runs)} seeds", args.png)
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "ep_digits.py"))
