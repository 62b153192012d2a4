"""Does raising BOP's flip thresholds late in training help? (issue 21, docs/ep.md "A tau schedule")

Trains the 784-H-(10x10) engine's golden model (``ep_bram_mnist.engine_config``) for
``--base-epochs`` epochs at its fixed thresholds, then continues copies of that one state
with each ``--branch`` thresholds for ``--branch-epochs`` more, the same sample order in
every branch; prints and stores each epoch's online train accuracy and test error.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 12 .venv/bin/python benchmarks/ep_tau_branches.py \\
        --hidden 512 --base-epochs 4 --branch 24,20 --branch 30,26 --out benchmarks/results/ep_tau_branches_512.json
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ep_bram_mnist import engine_config  # noqa: E402

from hwtrain.core.prng import Xorshift32, stream_seed  # noqa: E402
from hwtrain.golden.ep import FastEpEngine, mnist_binary  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--base-epochs", type=int, default=4)
    ap.add_argument("--branch-epochs", type=int, default=4)
    ap.add_argument("--branch", action="append", default=[], help="TAU_HIDDEN,TAU_OUTPUT (repeatable)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    cfg = engine_config(a.hidden, a.seed, in_shift=2, mom_bits=6)
    try:
        branches = [tuple(int(v) for v in b.split(",")) for b in a.branch]
        for th, to in branches:
            dataclasses.replace(cfg, tau_hidden=th, tau_output=to)
    except Exception as e:                      # noqa: BLE001 (one line for any bad branch)
        ap.error(f"--branch takes TAU_HIDDEN,TAU_OUTPUT within the momentum range: {e}")
    xtr, ytr, xte, yte = mnist_binary(n_train=60_000, n_test=10_000)
    rows = []

    def epoch(e, rng, name, k):
        order = np.argsort(rng.draws(len(ytr))[:, 0], kind="stable")
        t = time.perf_counter()
        p = e.train_epoch(xtr[order], ytr[order])
        dt = time.perf_counter() - t
        err = 100 * (1 - float((e.predict_many(xte) == yte).mean()))
        rows.append({"branch": name, "epoch": k, "tau": [e.cfg.tau_hidden, e.cfg.tau_output],
                     "train_acc_online": float((p == ytr[order]).mean()), "test_error_pct": err, "seconds": dt})
        print(f"{name} epoch {k} tau {e.cfg.tau_hidden},{e.cfg.tau_output}: train {rows[-1]['train_acc_online']:.4f} "
              f"test error {err:.2f} % ({dt:.0f} s)", flush=True)

    e, rng = FastEpEngine(cfg), Xorshift32(stream_seed(cfg.seed, 1), 1)
    for k in range(a.base_epochs):
        epoch(e, rng, "base", k + 1)
    for th, to in branches:
        e2, r2 = copy.deepcopy(e), copy.deepcopy(rng)
        e2.cfg = dataclasses.replace(cfg, tau_hidden=th, tau_output=to)
        for k in range(a.branch_epochs):
            epoch(e2, r2, f"{th},{to}", a.base_epochs + k + 1)
    a.out.write_text(json.dumps({"command": "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 12 .venv/bin/python "
                                 "benchmarks/ep_tau_branches.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
                                 "config": cfg.to_dict(), "rows": rows}, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "ep_tau_branches.py"))
