#!/usr/bin/env python
"""Which binarization lets MNIST train: CP+R/BEP test accuracy per epoch for each scheme, as JSON.

    .venv/bin/python benchmarks/mnist_binarize.py -a cpr --hidden 135,135 --gamma 45 --epochs 10 \
        --seeds 1,2 --schemes median,fixed:0.5,fixed:0.25,thermo:2 --json benchmarks/results/mnist_binarize_cpr.json

MNIST comes from the data cache (``hwtrain data fetch mnist``) unless
``--data-path`` is given. Besides the final test accuracy it records the
first epoch whose test accuracy exceeds 50 % (the "stall": epochs spent at
chance) and the fraction of +1 inputs. Single-threaded, like train_accuracy.py.
Every option not listed here is an option of `hwtrain train`.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from train_accuracy import build  # noqa: E402

from hwtrain.commands import train as cli_train  # noqa: E402
from hwtrain.golden.train import make_trainer  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="every other option is an option of `hwtrain train`")
    ap.add_argument("--schemes", default="median,fixed:0.5,fixed:0.25,thermo:2,thermo:3")
    ap.add_argument("--seeds", default="1,2")
    bench, rest = ap.parse_known_args(argv)
    tp = argparse.ArgumentParser(prog="mnist_binarize.py")
    sub = tp.add_subparsers(dest="cmd")
    cli_train.add_parser(sub)
    args = tp.parse_args(["train", "--dataset", "mnist"] + rest)
    seeds = [int(s) for s in bench.seeds.split(",")]
    result = {"command": "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:])),
              "machine": platform.processor() or platform.machine(), "dataset": args.dataset,
              "epochs": args.epochs, "seeds": seeds, "schemes": {}}
    for scheme in bench.schemes.split(","):
        runs = []
        for seed in seeds:
            args.seed, args.binarize = seed, scheme
            cfg, data = build(args)
            tr = make_trainer(cfg)
            t0 = time.perf_counter()
            tr.fit(data.x_train, data.y_train, args.epochs, data.x_test, data.y_test)
            curve = [round(100 * h["test_acc"], 2) for h in tr.history]
            stall = next((i + 1 for i, a in enumerate(curve) if a > 50), None)
            runs.append({"seed": seed, "test_acc": curve[-1], "train_acc": round(100 * tr.history[-1]["train_acc"], 2),
                         "test_acc_per_epoch": curve, "first_epoch_over_50": stall,
                         "samples_per_s": float(np.mean([h["samples_per_s"] for h in tr.history])),
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(f"{scheme:12s} seed {seed}: test {curve[-1]:.2f}%  inputs {data.x_train.shape[1]}  "
                  f"+1 {100 * float((data.x_train > 0).mean()):.1f}%  >50% from epoch {stall}  curve {curve}  "
                  f"({runs[-1]['seconds']:.0f} s)", flush=True)
        accs = [r["test_acc"] for r in runs]
        result["schemes"][scheme] = {"test_acc_mean": float(np.mean(accs)), "test_acc_std": float(np.std(accs)),
                                     "inputs": int(data.x_train.shape[1]),
                                     "plus_one_fraction": float((data.x_train > 0).mean()),
                                     "config": cfg.to_dict(), "runs": runs}
        print(f"{scheme}: {np.mean(accs):.2f} +- {np.std(accs):.2f}", flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "mnist_binarize.py"))
