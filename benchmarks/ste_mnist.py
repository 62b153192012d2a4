"""MNIST with the straight-through-estimator trainer (`hwtrain train -a ste`), FINN's networks.

    python benchmarks/ste_mnist.py [--nets sfc,tfc] [--seeds 1,2,3] [--epochs 20]

Trains each net with each seed through the command line (inputs binarized fixed:0.5, FINN's
pixel > 0.5), keeps the model files in build/models/ste_mnist_<net>_s<seed>[_d<dropout>][_<binarize>].npz (each one's
export is proven against the golden inference model on all 10,000 test samples before it is
written) and writes benchmarks/results/ste_mnist.json: per run the test accuracy of the folded
network and its history, per net the mean +- std over seeds (population std, ddof 0),
the command line and the hwtrain commit. Run with OMP_NUM_THREADS=1 (one BLAS thread).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hwtrain.cli import main
from hwtrain.core.report import command_line

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results"
NETS = {"sfc": "256,256,256", "tfc": "64,64,64", "w128": "128,128", "mfc": "128,128,128",
        "w256_64": "256,64,64", "w192": "192,192,192", "w128_64": "128,64,64"}
FINN = {"sfc": 95.83, "tfc": 93.17}        # FINN BNN-PYNQ published MNIST test accuracy (1 bit)


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default="sfc,tfc", help=f"comma-separated, of {', '.join(NETS)}")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--dropout", type=float, default=0.2, help="FINN trains with 0.2")
    ap.add_argument("--binarize", default="fixed:0.5")
    ap.add_argument("--json", default=str(OUT / "ste_mnist.json"))
    args = ap.parse_args()
    models = ROOT / "build" / "models"
    models.mkdir(parents=True, exist_ok=True)
    runs_dir = ROOT / "build" / "ste_mnist"
    runs_dir.mkdir(parents=True, exist_ok=True)
    report = {"command": command_line(prefix="python"), "commit": commit(),
              "dataset": "mnist", "binarize": args.binarize, "epochs": args.epochs, "dropout": args.dropout,
              "runs": [], "summary": {}}
    for net in args.nets.split(","):
        accs = []
        for seed in args.seeds.split(","):
            tag = f"{net}_s{seed}" + ("" if args.dropout == 0.2 else f"_d{args.dropout:g}") \
                + ("" if args.binarize == "fixed:0.5" else "_" + args.binarize.replace(":", "").replace(",", "_"))
            model = models / f"ste_mnist_{tag}.npz"
            hist = runs_dir / f"{tag}.json"
            argv = ["train", "-a", "ste", "-d", "mnist", "--binarize", args.binarize, "--hidden", NETS[net],
                    "--epochs", str(args.epochs), "--dropout", str(args.dropout), "--seed", seed,
                    "-o", str(model), "--json", str(hist)]
            print("$ hwtrain " + " ".join(argv), flush=True)
            t0 = time.perf_counter()
            code = main(argv)
            if code:
                sys.exit(code)
            h = json.loads(hist.read_text())
            accs.append(h["test_acc"])
            report["runs"].append({"net": net, "sizes": [784] + [int(v) for v in NETS[net].split(",")] + [10],
                                   "seed": int(seed), "test_acc": h["test_acc"], "model": str(model.relative_to(ROOT)),
                                   "check": h["check"], "negated_rows": h["negated_rows"],
                                   "seconds": round(time.perf_counter() - t0, 1),
                                   "history": h["history"], "argv": argv})
        a = 100 * np.array(accs)
        report["summary"][net] = {"sizes": [784] + [int(v) for v in NETS[net].split(",")] + [10],
                                  "seeds": len(a), "test_acc_mean": round(float(a.mean()), 3),
                                  "test_acc_std": round(float(a.std()), 3), "finn": FINN.get(net)}
        print(f"{net}: {a.mean():.2f} +- {a.std():.2f} % over {len(a)} seeds "
              f"({', '.join(f'{v:.2f}' for v in a)})", flush=True)
        Path(args.json).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.json}")
