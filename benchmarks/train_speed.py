#!/usr/bin/env python
"""Training throughput of the golden trainers on one core (samples/s), as JSON.

    .venv/bin/python benchmarks/train_speed.py --hidden 525,525 --epochs 5 --json benchmarks/results/speed.json

Random Prototypes (10,000 x 1000 bits), each algorithm and batch semantics;
reports seconds per epoch and the extrapolated time of a 50-epoch run (the
issue's target: 50 epochs of 525,525 with mini-batch 100 in under 3 minutes).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hwtrain.data import random_prototypes  # noqa: E402
from hwtrain.golden.train import TrainConfig, make_trainer  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", default="525,525")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--online-samples", type=int, default=2000, help="samples timed in online mode")
    ap.add_argument("--algorithms", default="cpr,bep")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    hidden = tuple(int(v) for v in args.hidden.split(","))
    d = random_prototypes(seed=1)
    out = {"command": "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:])),
           "hidden": hidden, "results": []}
    for alg in args.algorithms.split(","):
        for sem in ("minibatch", "online"):
            kw = dict(batch=100) if sem == "minibatch" else dict(batch=1, reinforce_every=100)
            if alg != "cpr":
                kw.update(hidden_bits=16, gamma=15, r=0.5, classifier="bef")
            tr = make_trainer(TrainConfig(alg, 1000, hidden, 10, seed=1, **kw))
            if sem == "minibatch":
                x, y, epochs = d.x_train, d.y_train, args.epochs
            else:
                x, y, epochs = d.x_train[:args.online_samples], d.y_train[:args.online_samples], 1
            t0 = time.perf_counter()
            for _ in range(epochs):
                tr.end_epoch(tr.train_epoch(x, y))
            dt = time.perf_counter() - t0
            rate = epochs * len(y) / dt
            rec = {"algorithm": alg, "semantics": sem, "samples_per_s": rate,
                   "seconds_per_epoch_10k": 10_000 / rate, "extrapolated_50_epochs_s": 50 * 10_000 / rate}
            out["results"].append(rec)
            print(f"{alg:4s} {sem:9s} {rate:8.0f} samples/s  {10_000 / rate:6.2f} s/epoch  "
                  f"50 epochs ~ {50 * 10_000 / rate:6.0f} s", flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "train_speed.py"))
