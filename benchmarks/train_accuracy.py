#!/usr/bin/env python
"""Accuracy and throughput of the golden fully binary trainers, mean +- std over seeds, as JSON.

Example (the paper's Random Prototypes 135,135 run, both batch semantics):

    .venv/bin/python benchmarks/train_accuracy.py -a cpr -d random_prototypes --hidden 135,135 \
        --epochs 50 --seeds 1,2,3,4,5 --semantics both --json benchmarks/results/cpr_rp_135.json

Runs single-threaded (OPENBLAS_NUM_THREADS=1) so samples/s is per core.

Each (semantics, seed, fold) is one task on Dask (docs/sweeps.md): an embedded local
cluster of one single-threaded worker process per core by default, ``--scheduler ADDRESS``
for a running cluster, ``--workers 0`` for one run after another in this process. Every
finished run lands in the results database ``--db FOLDER`` (``runs.sqlite``, default
hwtrain-runs/train_accuracy); the same command started again runs only what is missing, and
more ``--seeds`` extend the same study. ``hwtrain runs show --db FOLDER`` lists the runs.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hwtrain.commands import train as cli_train  # noqa: E402
from hwtrain.golden.train import make_trainer  # noqa: E402

PAPER = {  # (algorithm, dataset, hidden) -> (mean, std, source)
    ("cpr", "random_prototypes", "35,35"): (79.10, 1.27, "seed 000 table C1"),
    ("cpr", "random_prototypes", "135,135"): (92.25, 0.45, "seed 000 table C1"),
    ("cpr", "random_prototypes", "525,525"): (94.83, 0.56, "seed 000 table C1"),
    ("cpr", "fashion_mnist", "135,135"): (85.68, 0.34, "seed 000 table C2"),
    ("bep_tt", "italy_power", "*"): (94.65, 1.22, "seed 001 table 1 (K_s = K_y = 1035, 50 epochs, 3-fold CV x 3 runs)"),
    ("bep_tt", "japanese_vowels", "*"): (95.47, 1.24, "seed 001 table 1 (K_s = K_y = 1035, 50 epochs, 3-fold CV x 3 runs)"),
    # seed 001 gives Random Prototypes (p = 0.46, 20,000 / 3,000) only as a plot (figure 2); the text
    # (section 4.2) says BEP beats the local rule (CP+R) by up to +6.89 points at the smallest size.
    ("bep", "random_prototypes_p046", "*"): (None, None, "seed 001 fig. 2, no table: BEP - CP+R up to +6.89 "
                                                        "points at the smallest size (section 4.2)"),
    ("cpr", "random_prototypes_p046", "*"): (None, None, "seed 001 fig. 2, no table: BEP - CP+R up to +6.89 "
                                                        "points at the smallest size (section 4.2)"),
}


def dataset_key(args):
    """The PAPER key of the dataset: Random Prototypes only in the papers' two settings."""
    if args.dataset != "random_prototypes":
        return args.dataset
    setting = (args.flip, args.n_train, args.n_test)
    if setting == (0.44, 10_000, 2_000):
        return "random_prototypes"
    if setting == (0.46, 20_000, 3_000):
        return "random_prototypes_p046"
    return None


def build(args):
    """cli_train.build, with ``args.binarize`` handed to the dataset loader."""
    scheme = getattr(args, "binarize", None)
    if not scheme:
        return cli_train.build(args)
    from hwtrain.data import presets
    orig = presets.binarized
    presets.binarized = functools.partial(orig, binarize=scheme)
    try:
        return cli_train.build(args)
    finally:
        presets.binarized = orig


def parse(rest, binarize=None):
    """The options of `hwtrain train` in ``rest``, as that command parses them."""
    tp = argparse.ArgumentParser(prog="train_accuracy.py")
    sub = tp.add_subparsers(dest="cmd")
    cli_train.add_parser(sub)
    args = tp.parse_args(["train"] + list(rest))
    if binarize:
        args.binarize = binarize
    return args


def one_run(rest, binarize, seed, fold, online):
    """One training run (a Dask task): the test accuracy after the last epoch and the curve."""
    args = parse(rest, binarize)
    args.seed, args.online, args.fold = seed, online, fold
    cfg, data = build(args)
    tr = make_trainer(cfg)
    t0 = time.perf_counter()
    tr.fit(data.x_train, data.y_train, args.epochs, data.x_test, data.y_test)
    return {"seed": seed, "fold": fold, "online": online, "test_acc": 100 * tr.history[-1]["test_acc"],
            "train_acc": 100 * tr.history[-1]["train_acc"],
            "samples_per_s": float(np.mean([h["samples_per_s"] for h in tr.history])),
            "wall_s": time.perf_counter() - t0,
            "curve": [round(100 * h["test_acc"], 2) for h in tr.history], "config": cfg.to_dict()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="every other option is an option of `hwtrain train`")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--semantics", choices=("minibatch", "online", "both"), default="both")
    ap.add_argument("--binarize", default=None,
                    help="image datasets: binarization scheme (hwtrain.data.binarize.BINARIZE_HELP)")
    ap.add_argument("--workers", type=int, default=None,
                    help="worker processes of the embedded Dask cluster (default: cores; 0: in this process)")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a running Dask scheduler")
    ap.add_argument("--db", default=None, metavar="FOLDER",
                    help="run folder of the results database (default hwtrain-runs/train_accuracy)")
    bench, rest = ap.parse_known_args(argv)
    args = parse(rest, bench.binarize)
    args.seeds, args.semantics = bench.seeds, bench.semantics
    seeds = [int(s) for s in args.seeds.split(",")]
    sems = ["minibatch", "online"] if args.semantics == "both" else [args.semantics]
    ds = dataset_key(args)
    paper = PAPER.get((args.algorithm, ds, args.hidden)) or PAPER.get((args.algorithm, ds, "*"))
    result = {"command": "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:])),
              "machine": platform.processor() or platform.machine(), "paper": None, "runs": {}}
    if paper:
        result["paper"] = {"mean": paper[0], "std": paper[1], "source": paper[2]}
    # The study's settings are the training options (not --json, --seed, --semantics): the same
    # options started again find their run, and more seeds extend it.
    train_rest = _without(rest, ("--json",))
    tasks = {f"{sem}/seed{seed}/fold{fold}": {"rest": train_rest, "binarize": bench.binarize, "seed": seed,
                                              "fold": fold, "online": sem == "online"}
             for sem in sems for seed in seeds for fold in (range(args.cv) if args.cv else [0])}
    from hwtrain.errors import HwtrainError
    from hwtrain.flows.runs import ResultsDB, run_tasks
    from hwtrain.flows.toolchain import runs_dir

    def landed(key, r, error):
        if r:
            print(f"{key.split('/')[0]:9s} seed {r['seed']} fold {r['fold']}: test {r['test_acc']:.2f}%  "
                  f"train {r['train_acc']:.2f}%  {r['samples_per_s']:.0f} samples/s  ({r['wall_s']:.0f} s)",
                  flush=True)

    try:
        with ResultsDB(bench.db or runs_dir() / "train_accuracy", create=True) as db:
            rid = run_tasks(one_run, tasks, db, kind="train-accuracy",
                            settings={"train": train_rest, "binarize": bench.binarize},
                            title=f"{args.algorithm} on {args.dataset} {args.hidden}, {args.epochs} epochs",
                            scheduler=bench.scheduler, workers=bench.workers, on_result=landed,
                            log=lambda text: print(text, flush=True))
            done = {t["key"]: t for t in db.results(rid)}
    except HwtrainError as e:
        print(f"train_accuracy.py: error: {e}", file=sys.stderr)
        return 2
    failed = [k for k in tasks if done[k]["status"] != "done"]
    if failed:
        print(f"train_accuracy.py: {len(failed)} run(s) failed: "
              + "; ".join(f"{k}: {done[k]['error']}" for k in failed), file=sys.stderr)
        return 1
    for sem in sems:
        runs = [done[k]["result"] for k in tasks if k.startswith(sem + "/")]
        accs = [r["test_acc"] for r in runs]
        result["runs"][sem] = {"test_acc_mean": float(np.mean(accs)), "test_acc_std": float(np.std(accs)),
                               "test_acc": accs, "samples_per_s_mean": float(np.mean([r["samples_per_s"] for r in runs])),
                               "seeds": seeds, "cv_folds": args.cv, "epochs": args.epochs, "config": runs[-1]["config"],
                               "binarize": getattr(args, "binarize", None),
                               "test_acc_per_epoch": [r["curve"] for r in runs]}
        ref = ""
        if paper and paper[0] is not None:
            ref = f"   (paper {paper[0]:.2f} +- {paper[1]:.2f}, {paper[2]})"
        elif paper:
            ref = f"   (paper: {paper[2]})"
        print(f"{sem}: {np.mean(accs):.2f} +- {np.std(accs):.2f}" + ref, flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


def _without(argv, options):
    """``argv`` without the ``options`` and their values (``--json X`` or ``--json=X``)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in options:
            skip = True
            continue
        if any(a.startswith(o + "=") for o in options):
            continue
        out.append(a)
    return out


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "train_accuracy.py"))
