"""Inference cores through synthesis: a trained digits model and a 784-input model.

    python benchmarks/inference_sweep.py [--quick]

1. trains a digits MLP 64-128 (CP+R, online=False, 30 epochs) and sweeps its
   implementations on ECP5 (LFE5U-85F, out of context);
2. trains a FashionMNIST MLP 784-256-256-256 (CP+R, 5 epochs; the layer sizes
   of FINN's SFC network) unless --model784 names a model file, and sweeps
   folded implementations of it the same way (--variants784).

Writes benchmarks/results/inference_{digits,784}.{json,md,png}. The variants run on Dask
(``hwtrain sweep``: an embedded local cluster, or ``--scheduler ADDRESS``; ``--workers 0`` one
after another here); each run folder (build/sweeps/inference_{digits,784}: netlists, logs) keeps
its results database (runs.sqlite), so the same command started again measures only what is
missing (docs/sweeps.md).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from hwtrain.cli import main

OUT = Path(__file__).resolve().parent / "results"
RUNS = OUT.parent.parent / "build" / "sweeps"


def sweep(name: str, argv: list[str]) -> None:
    """hwtrain sweep into build/sweeps/<name>; its report (json, md, png) copied to results/<name>.*."""
    folder = RUNS / name
    run(["sweep", *argv, "--out", str(folder)])
    for ext in ("json", "md", "png"):
        shutil.copyfile(folder / f"sweep.{ext}", OUT / f"{name}.{ext}")


def run(argv: list[str]) -> None:
    print("$ hwtrain " + " ".join(argv), flush=True)
    code = main(argv)
    if code not in (0, 1):
        sys.exit(code)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--model784", help="a trained 784-input model file (default: random weights)")
    ap.add_argument("--only", choices=("digits", "784"))
    ap.add_argument("--epochs784", type=int, default=5)
    ap.add_argument("--router", choices=("router1", "router2"), default="router2",
                    help="nextpnr router of the 784-input sweep (router1 did not finish its "
                         "first variant in 30 minutes on a loaded 2-core machine)")
    ap.add_argument("--harness784", choices=("ooc", "scan"), default="scan",
                    help="timing harness of the 784-input sweep (out-of-context leaves the "
                         "clock off the global network; see hwtrain/flows/synth.py)")
    ap.add_argument("--classifier-pipeline784", type=int, default=3,
                    help="register stages of the 784-input core's 256-input classifier")
    ap.add_argument("--variants784", nargs="+",
                    default=["folded:16x49,folded:16x16,folded:16x16",
                             "folded:32x112,folded:32x32,folded:32x32"],
                    help="implementations of the 784-input sweep (one per layer, comma-separated)")
    ap.add_argument("--variants", nargs="+", default=["parallel:2", "folded:16x16", "folded:4x8", "serial:1"],
                    help="implementations of the digits sweep")
    ap.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (default: a local cluster)")
    ap.add_argument("--workers", type=int, help="workers of the local cluster (default: cores; 0: no Dask)")
    args = ap.parse_args()
    dask = (["--scheduler", args.scheduler] if args.scheduler else []) + \
           (["--workers", str(args.workers)] if args.workers is not None else [])
    models = OUT.parent.parent / "build" / "models"
    models.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "digits"):
        digits = models / "digits_cpr_128.npz"
        run(["train", "-a", "cpr", "-d", "digits", "--hidden", "128", "--epochs", str(args.epochs),
             "-q", "-o", str(digits)])
        sweep("inference_digits", ["--model", str(digits), "--dataset", "digits",
                                   *sum((["--variant", v] for v in args.variants), []), *dask])
    if args.only in (None, "784"):
        model = args.model784
        if not model:
            model = str(models / "fmnist_cpr_256x3.npz")
            run(["train", "-a", "cpr", "-d", "fashion_mnist", "--hidden", "256,256,256",
                 "--epochs", str(args.epochs784), "-q", "-o", model])
        sweep("inference_784", ["--model", model, "--dataset", "fashion_mnist",
                                *sum((["--variant", v] for v in args.variants784), []),
                                "--router", args.router, "--harness", args.harness784,
                                "--classifier-pipeline", str(args.classifier_pipeline784), *dask])
