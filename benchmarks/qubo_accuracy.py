"""QUBO-trained accuracy on 4x4 binarized digits, with and without each regulariser, the
relaxed anneal + exact repair (``--relax``) and the weight-flip polish, next to CP+R and BEP
at the same size (mean +- std over seeds).

    nice -n 5 .venv/bin/python benchmarks/qubo_accuracy.py --classes 0,1 --hidden 3 --samples 20 \
        --out benchmarks/results/qubo_accuracy_01.json

Every run trains on the same ``--samples`` training digits (seed-dependent subset) and is
tested on all test digits of the chosen classes (hwtrain.qubo.train.digits_4x4).
``--relax 0,16`` (default) runs every variant annealing the sound QUBO (0) and the relaxed
one (sign penalty 1, classification 16) followed by the exact repair of the auxiliary bits.
``--solver annealer`` uses hwtrain's golden annealer (the hardware's arithmetic) instead of
dwave-samplers; ``--variants plain`` restricts the regulariser variants (comma-separated).
``--classifier fixed`` (default) gives the QUBO the output classifier CP+R and BEP use for
the same seed (their ``P[-1]``); ``trained`` makes the output layer QUBO variables too.
With one hidden layer CP+R and BEP are the same rule (both: easiest wrong perceptron
against the output classifier) and print identical numbers; that is expected
(tests/test_qubo.py::test_cpr_and_bep_coincide_with_one_hidden_layer_only).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hwtrain.qubo.formulation import Penalties, Topology, predict
from hwtrain.qubo.train import RELAX, digits_4x4, train_qubo

VARIANTS = {
    "plain": dict(margin=0, dropout_rounds=0),
    "margin": dict(margin=1, dropout_rounds=0),
    "dropout": dict(margin=0, dropout_rounds=4),
    "margin+dropout": dict(margin=1, dropout_rounds=4),
}


def binary_trainer(algorithm, x, y, hidden, classes, seed):
    from hwtrain.golden.train import TrainConfig, make_trainer
    cfg = TrainConfig(algorithm=algorithm, inputs=x.shape[1], hidden=tuple(hidden), classes=classes,
                      batch=1, seed=seed)
    return make_trainer(cfg)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", default="0,1,2")
    ap.add_argument("--hidden", default="5")
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--sweeps", type=int, default=2000)
    ap.add_argument("--restarts", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=1, help="seeds run are first-seed .. first-seed + seeds - 1")
    ap.add_argument("--epochs", type=int, default=50, help="CP+R / BEP epochs")
    ap.add_argument("--side", type=int, default=4, help="image side: 4 (2x2 pooled) or 8")
    ap.add_argument("--classifier", default="fixed", choices=("fixed", "trained"))
    ap.add_argument("--relax", default=f"0,{RELAX}", help="relax values to run (0 = anneal the sound QUBO)")
    ap.add_argument("--solver", default="dwave", choices=("dwave", "annealer"))
    ap.add_argument("--steps", type=int, default=0, help="annealer temperature steps (0: sweeps // 10)")
    ap.add_argument("--lut-depth", type=int, default=1024, help="annealer LUT depth")
    ap.add_argument("--check-fits", action="store_true",
                    help="print whether the annealed problem (plain variant) and schedule fit the ECP5-85F")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="regulariser variants to run")
    ap.add_argument("--polish", default="0,1", help="polish off/on values to run")
    ap.add_argument("--cmp", type=int, default=1, help="also train CP+R and BEP (1) or not (0)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    classes = tuple(int(c) for c in args.classes.split(","))
    hidden = tuple(int(h) for h in args.hidden.split(","))
    relaxes = [int(r) for r in args.relax.split(",")]
    variants = args.variants.split(",")
    polishes = [bool(int(p)) for p in args.polish.split(",")]
    rows = {}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        x, y, xt, yt = digits_4x4(classes, n_train=args.samples, seed=seed, side=args.side)
        topo = Topology((x.shape[1],) + hidden, len(classes))
        clf = binary_trainer("cpr", x, y, hidden, len(classes), seed).P[-1] if args.classifier == "fixed" else None
        if args.check_fits:                     # the problem the annealer gets, with its schedule
            from dataclasses import replace
            from hwtrain.errors import HwtrainError
            from hwtrain.golden.annealer import IsingProblem, check_fits, hardware_cost
            from hwtrain.qubo.formulation import build_qubo
            from hwtrain.qubo.solve import annealer_schedule
            for relax in relaxes:
                pen = replace(Penalties(), sign=1, classify=relax) if relax else Penalties()
                ip = IsingProblem.from_qubo(build_qubo(x, y, topo, pen, classifier=clf))
                sch = annealer_schedule(ip, args.sweeps, args.steps, args.lut_depth)
                try:
                    check_fits(ip, sch)
                    verdict = "fits"
                except HwtrainError as e:
                    verdict = str(e)
                print("ecp5-85:", {"relax": relax, "spins": ip.n, **hardware_cost(ip, sch), "verdict": verdict},
                      flush=True)
        for relax in relaxes:
            for name in variants:
                v = VARIANTS[name]
                for polish in polishes:
                    t0 = time.perf_counter()
                    model, sol, q, info = train_qubo(
                        x, y, topo, Penalties(margin=v["margin"]), solver=args.solver, sweeps=args.sweeps,
                        restarts=args.restarts, seed=seed, dropout_rounds=v["dropout_rounds"], polish=polish,
                        classifier=clf, relax=relax, steps=args.steps, lut_depth=args.lut_depth)
                    key = name + (f" +relax{relax}" if relax else "") + (" +polish" if polish else "")
                    rows.setdefault(key, []).append({
                        "seed": seed, "train": info["train_acc"], "test": float((predict(model, xt) == yt).mean()),
                        "variables": q.n, "energy": info["energy"], "annealed_energy": info.get("annealed_energy"),
                        "polished_energy": info.get("polished_energy"), "seconds": time.perf_counter() - t0})
                    print(key, rows[key][-1], flush=True)
        for algo in (("cpr", "bep") if args.cmp else ()):
            try:
                tr = binary_trainer(algo, x, y, hidden, len(classes), seed)
                if clf is not None:
                    assert np.array_equal(tr.P[-1], clf)
                tr.fit(x, y, args.epochs)
                rows.setdefault(algo, []).append({"seed": seed, "train": tr.accuracy(x, y),
                                                  "test": tr.accuracy(xt, yt)})
            except Exception as e:              # report, do not hide, a trainer that refuses the size
                rows.setdefault(algo, []).append({"seed": seed, "error": f"{type(e).__name__}: {e}"})
            print(algo, rows[algo][-1], flush=True)
    table = {}
    for k, rs in rows.items():
        ok = [r for r in rs if "test" in r]
        if ok:
            te, tr = np.array([r["test"] for r in ok]), np.array([r["train"] for r in ok])
            table[k] = {"test_mean": float(te.mean()), "test_std": float(te.std()),
                        "train_mean": float(tr.mean()), "train_std": float(tr.std()), "runs": len(ok)}
    print("| method | train acc | test acc |\n|---|---|---|")
    for k, t in table.items():
        print(f"| {k} | {100 * t['train_mean']:.1f} +- {100 * t['train_std']:.1f} | "
              f"{100 * t['test_mean']:.1f} +- {100 * t['test_std']:.1f} |")
    result = {"benchmark": "qubo_accuracy", "args": vars(args) | {"out": str(args.out)},
              "sizes": [args.side ** 2 + 1, *hidden, len(classes)], "table": table, "runs": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "qubo_accuracy.py"))
