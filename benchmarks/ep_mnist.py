"""Fully binarized EP + BOP golden model at MNIST scale (issue 21, parts 0 and 1).

Two studies, each printing mean +- std over seeds and writing JSON with the
command line that made it:

``width``: test error of 784-N-(10x10) networks against the hidden width N, with
the thesis's hyperparameters (table C.2: T=20, K=10, beta=2, gamma=2e-6,
tau=2.5e-7/2e-7, batch 64) converted to the engine's integers by
:func:`thesis_config`, beside the thesis's 2.83 +- 0.06 % for 784-8192-100;
plus the golden model's training samples/s on one core, the per-epoch time and
what the full 784-8192-100 run (60k samples, 50 epochs, 5 seeds) would need.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/ep_mnist.py width \\
        --hidden 256,512,1024,2048 --seeds 1,2,3 --epochs 5 --n-train 10000 --n-test 2000 \\
        --out benchmarks/results/ep_mnist.json

``decisions``: the choices of docs/semantics_ep.md measured one at a time: on
MNIST the thesis configuration with each rule set back to what the hardware
builds, on digits the hardware's configuration with each thesis rule applied.

    ... benchmarks/ep_mnist.py decisions --dataset mnist --hidden 512 --seeds 1,2,3 --epochs 3 \\
        --out benchmarks/results/ep_mnist_decisions.json
    ... benchmarks/ep_mnist.py decisions --dataset digits --seeds 1,2,3 --epochs 10 \\
        --out benchmarks/results/ep_mnist_decisions_digits.json

Data: MNIST through ``hwtrain data`` (``hwtrain.golden.ep.mnist_binary``: pixel
>= half the range, the first ``--n-train``/``--n-test`` images of each split);
digits as ``hwtrain.golden.ep.digits_binary``. Every epoch visits the training
set in a new order, the argsort of fresh draws of one Xorshift32 lane of master
seed ``stream_seed(seed, 1)`` (as benchmarks/ep_digits.py). The model is
:class:`hwtrain.golden.ep.FastEpEngine`, bit for bit the reference EpEngine
(tests/test_ep_options.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from hwtrain.core.prng import Xorshift32, stream_seed
from hwtrain.golden.ep import EpConfig, EpEngine, FastEpEngine, digits_binary, mnist_binary, thesis_config

THESIS_ERROR = "2.83 +- 0.06 % (784-8192-100, 60k train, 50 epochs, 5 trials; thesis table 4.5)"


# Each rule of docs/semantics_ep.md set back to what the hardware builds (on the thesis config).
MNIST_VARIANTS = {
    "thesis": {},
    "nudge_activation": {"nudge_mode": "activation"},
    "nudge_constant": {"nudge_mode": "constant"},
    "beta_positive": {"beta_sign": "positive"},
    "state_init_0": {"state_init": 0},
    "alpha_shared": {"in_shift_output": None},
    "bias_pre_hw": {"bias_mode": "pre", "bias_bits": 12, "bias_frac": 4},
    "online": {"batch": 1},
    "hardware_rules": {"nudge_mode": "activation", "beta_sign": "positive", "state_init": 0,
                       "in_shift_output": None, "bias_mode": "pre", "bias_bits": 12, "bias_frac": 4,
                       "batch": 1},
}

# Each thesis rule applied to the digits engine EpConfig() (64-64-(10x4), online).
DIGITS_VARIANTS = {
    "hardware": {},
    "nudge_state": {"nudge_mode": "state"},
    "nudge_constant": {"nudge_mode": "constant"},
    "beta_random": {"beta_sign": "random"},
    "beta_random_nudge_state": {"beta_sign": "random", "nudge_mode": "state"},
    "state_init_63": {"state_init": 63},
    "ema_frac6": {"mom_bits": 14, "mom_frac": 6},
    "bias_state": {"bias_mode": "state", "bias_frac": 2},
    "thesis_rules": {"nudge_mode": "state", "beta_sign": "random", "state_init": 63,
                     "mom_bits": 14, "mom_frac": 6, "bias_mode": "state", "bias_frac": 2},
}


def flip_metric(flips: int, n: int) -> float:
    return math.log(flips / n + math.exp(-9))


def train_run(cfg: EpConfig, epochs: int, data, *, log=print) -> dict:
    xtr, ytr, xte, yte = data
    # Both engines are the same model bit for bit (tests/test_ep_options.py); the
    # reference is quicker for the 64-64 digits net, the fast one for everything larger.
    small = cfg.batch == 1 and cfg.inputs * cfg.hidden <= 64 * 256
    e = (EpEngine if small else FastEpEngine)(cfg)
    order_rng = Xorshift32(stream_seed(cfg.seed, 1), 1)
    curve, seconds = [], 0.0
    for epoch in range(epochs):
        order = np.argsort(order_rng.draws(len(ytr))[:, 0], kind="stable")
        w1, w2 = e.w1, e.w2
        t = time.perf_counter()
        preds = e.train_epoch(xtr[order], ytr[order])
        dt = time.perf_counter() - t
        seconds += dt
        t = time.perf_counter()
        test = float((e.predict_many(xte) == yte).mean())
        t_inf = time.perf_counter() - t
        f1, f2 = int((e.w1 != w1).sum()), int((e.w2 != w2).sum())
        curve.append({"epoch": epoch + 1, "train_acc_online": float((preds == ytr[order]).mean()),
                      "test_acc": test, "train_seconds": dt, "test_seconds": t_inf,
                      "flip_metric": [flip_metric(f1, w1.size), flip_metric(f2, w2.size)]})
        log(f"  N={cfg.hidden} seed {cfg.seed} epoch {epoch + 1}: train {curve[-1]['train_acc_online']:.4f} "
            f"test {test:.4f} ({dt:.1f} s, {len(ytr) / dt:.0f} samples/s) flips {f1}+{f2}")
    return {"seed": cfg.seed, "curve": curve, "train_samples_per_s": epochs * len(ytr) / seconds,
            "seconds_per_epoch": seconds / epochs,
            "infer_samples_per_s": len(yte) / float(np.mean([c["test_seconds"] for c in curve])),
            "final_test_error_pct": 100 * (1 - curve[-1]["test_acc"]),
            "best_test_error_pct": 100 * (1 - max(c["test_acc"] for c in curve))}


def summary(runs: list[dict]) -> dict:
    fin = np.array([r["final_test_error_pct"] for r in runs])
    best = np.array([r["best_test_error_pct"] for r in runs])
    return {"final_test_error_pct_mean": float(fin.mean()), "final_test_error_pct_std": float(fin.std()),
            "best_test_error_pct_mean": float(best.mean()), "best_test_error_pct_std": float(best.std()),
            "final_test_error": f"{fin.mean():.2f} +- {fin.std():.2f} %",
            "train_samples_per_s": float(np.mean([r["train_samples_per_s"] for r in runs])),
            "seconds_per_epoch": float(np.mean([r["seconds_per_epoch"] for r in runs]))}


def full_run_estimate(hidden: int, xs, ys, *, batches: int, seed: int = 1) -> dict:
    """Time a few training mini-batches of the thesis's network itself on MNIST
    images and scale to 60k samples x 50 epochs x 5 trials."""
    cfg = thesis_config(hidden, seed=seed)
    e = FastEpEngine(cfg)
    n = batches * cfg.batch
    xs, ys = xs[cfg.batch:cfg.batch + n], ys[cfg.batch:cfg.batch + n]
    e.train_batch(xs[:cfg.batch], ys[:cfg.batch])            # warm-up
    t = time.perf_counter()
    e.train_epoch(xs, ys)
    dt = (time.perf_counter() - t) / n
    mem = sum(a.nbytes for a in (e._wf1, e._wf2, e._m1, e._m2))
    epoch = 60_000 * dt
    return {"hidden": hidden, "seconds_per_sample": dt, "samples_per_s": 1 / dt,
            "seconds_per_60k_epoch": epoch, "hours_50_epochs": 50 * epoch / 3600,
            "core_hours_5_trials": 5 * 50 * epoch / 3600,
            "state_mbytes": mem / 2**20,
            "note": f"measured on {n} MNIST training images after one warm-up batch of {cfg.batch}"}


def nudge_toggles(epochs: int, data, seed: int = 1, last: int = 4) -> dict:
    """Train the digits engine (activation nudge) for ``epochs``, then run every
    test sample's nudged phase one step at a time under each nudge form from the
    same free state: how many outputs change activation in the last ``last`` steps."""
    from hwtrain.golden.ep import targets
    xtr, ytr, xte, yte = data
    e = EpEngine(dataclasses.replace(EpConfig(), seed=seed))
    order = np.argsort(Xorshift32(stream_seed(seed, 1), 1).draws(len(ytr))[:, 0], kind="stable")
    for _ in range(epochs):
        e.train_epoch(xtr[order], ytr[order])
    res = {}
    for mode in ("activation", "state", "constant"):
        e.cfg = dataclasses.replace(e.cfg, nudge_mode=mode)
        top, K = e.cfg.state_bits - 1, e.cfg.nudged_steps
        toggles = []
        for x, y in zip(xte, yte):
            s_h, s_y = e.free_phase(x)
            free, acts = s_y, [s_y >> top]
            for _ in range(K):
                s_h, s_y = e._relax(x, s_h, s_y, 1, targets(e.cfg, int(y)), e.cfg.nudge, free)
                acts.append(s_y >> top)
            a = np.array(acts[-(last + 1):])
            toggles.append(int((a[1:] != a[:-1]).any(axis=0).sum()))
        res[mode] = {"mean_outputs_toggling": float(np.mean(toggles)), "outputs": e.cfg.outputs,
                     "samples": len(yte), "last_steps": last}
        print(f"nudge {mode}: {np.mean(toggles):.2f} of {e.cfg.outputs} outputs change activation in the "
              f"last {last} of {K} nudged steps (mean over {len(yte)} test samples)")
    return res


def load(dataset: str, n_train: int, n_test: int):
    if dataset == "digits":
        return digits_binary()
    return mnist_binary(n_train=n_train, n_test=n_test)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", choices=("width", "decisions", "toggles"))
    ap.add_argument("--dataset", choices=("mnist", "digits"), default="mnist")
    ap.add_argument("--hidden", default="256,512,1024,2048", help="hidden widths (width) or one width (decisions)")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--n-test", type=int, default=2_000)
    ap.add_argument("--variants", default="", help="decisions: comma-separated subset of the variants")
    ap.add_argument("--config", default="{}", help="JSON overrides of every run's EpConfig")
    ap.add_argument("--estimate-hidden", type=int, default=8192, help="width: time this width for the full-run estimate")
    ap.add_argument("--estimate-batches", type=int, default=4)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    over = json.loads(a.config)
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    out = {"command": " ".join(["benchmarks/ep_mnist.py"] + (argv if argv is not None else sys.argv[1:])),
           "study": a.study, "dataset": a.dataset, "epochs": a.epochs, "seeds": seeds,
           "threads": threads, "machine": platform.machine(), "python": platform.python_version(),
           "thesis": THESIS_ERROR}
    t0 = time.perf_counter()
    data = load(a.dataset, a.n_train, a.n_test)
    out["n_train"], out["n_test"] = int(len(data[1])), int(len(data[3]))
    print(f"{a.dataset}: {out['n_train']} train / {out['n_test']} test (loaded in {time.perf_counter() - t0:.1f} s)")
    rows = []
    if a.study == "toggles":
        out["toggles"] = nudge_toggles(a.epochs, data, seeds[0])
    elif a.study == "width":
        for n in [int(h) for h in a.hidden.split(",")]:
            runs = [train_run(thesis_config(n, seed=s, **over), a.epochs, data) for s in seeds]
            s = summary(runs)
            rows.append({"hidden": n, "config": thesis_config(n, **over).to_dict(), "runs": runs, **s})
            print(f"784-{n}-100: test error {s['final_test_error']} after {a.epochs} epochs "
                  f"(best epoch {s['best_test_error_pct_mean']:.2f} +- {s['best_test_error_pct_std']:.2f} %), "
                  f"{s['train_samples_per_s']:.0f} training samples/s on one core; thesis: {THESIS_ERROR}", flush=True)
        if a.estimate_hidden:
            est = full_run_estimate(a.estimate_hidden, data[0], data[1], batches=a.estimate_batches)
            out["full_run_estimate"] = est
            print(f"784-{a.estimate_hidden}-100 golden model: {est['samples_per_s']:.0f} training samples/s on one core, "
                  f"{est['seconds_per_60k_epoch'] / 60:.1f} min per 60k epoch, {est['hours_50_epochs']:.1f} h for 50 "
                  f"epochs, {est['core_hours_5_trials']:.0f} core-hours for 5 trials, {est['state_mbytes']:.0f} MiB of "
                  f"weights and momenta")
    else:
        variants = MNIST_VARIANTS if a.dataset == "mnist" else DIGITS_VARIANTS
        names = [v for v in a.variants.split(",") if v] or list(variants)
        hidden = int(a.hidden.split(",")[0])
        for name in names:
            kw = {**variants[name], **over}
            if a.dataset == "mnist":
                cfgs = [thesis_config(hidden, seed=s, **kw) for s in seeds]
            else:
                cfgs = [dataclasses.replace(EpConfig(), seed=s, **kw) for s in seeds]
            runs = [train_run(c, a.epochs, data) for c in cfgs]
            s = summary(runs)
            rows.append({"variant": name, "changes": variants[name], "config": cfgs[0].to_dict(), "runs": runs, **s})
            print(f"{name}: test error {s['final_test_error']} after {a.epochs} epochs "
                  f"(best epoch {s['best_test_error_pct_mean']:.2f} +- {s['best_test_error_pct_std']:.2f} %)", flush=True)
    out["rows"] = rows
    out["wall_seconds"] = time.perf_counter() - t0
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "ep_mnist.py"))
