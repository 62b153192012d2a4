"""Validation accuracy against training step of logic_mnist.py runs, in one picture.

    .venv/bin/python benchmarks/logic_mnist_curves.py benchmarks/results/logic_mnist_lut4_5x8000.json \
        benchmarks/results/logic_mnist_lut4_5x8000_shift1.json -o benchmarks/results/logic_mnist_curves.png

Each curve is one JSON's ``history`` (the validation split: the last 10,000 training images), its
label the run's shift, seed and test accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys

from hwtrain.errors import require


def label(run: dict) -> str:
    widths = run["widths"]
    size = f"{len(widths)} x {widths[0]:,}" if len(set(widths)) == 1 else ",".join(map(str, widths))
    window = run.get("window", 4)
    radius = f", radius {','.join(map(str, window)) if isinstance(window, list) else window}"
    return (f"{size}{radius}, shift {run.get('shift', 0)}, seed {run['seed']}: "
            f"test {100 * run['test_acc']:.2f} %")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="logic_mnist.py JSON results")
    ap.add_argument("-o", "--output", required=True, help="image to write (.png)")
    a = ap.parse_args(argv)
    runs = []
    for path in a.runs:
        try:
            with open(path) as f:
                run = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            require(False, f"{path}: not a readable JSON file ({e})")
        require(run.get("benchmark") == "logic_mnist" and run.get("history"),
                f"{path}: not a logic_mnist.py result with a history (benchmark {run.get('benchmark')!r})")
        runs.append(run)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, run in enumerate(runs):
        h = run["history"]
        ax.plot([r["step"] for r in h], [100 * r["val_acc"] for r in h], "o-", ms=3, color=f"C{i}", label=label(run))
    ax.axhline(98, color="k", lw=0.8, ls="--", label="98 % (issue 20 asks it on the test split)")
    ax.set_xlabel("training step (batch 128)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_ylim(96.5, 98.6)
    ax.set_title("Learned LUT4 networks on MNIST (NumPy trainer, one CPU core)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(a.output, dpi=120)
    plt.close(fig)
    print(f"wrote {a.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "logic_mnist_curves.py"))
