"""A whole test split through an inference core's Verilog (cocotb + Verilator, random stalls).

Trains the model with ``hwtrain train`` unless ``--model`` names one, then runs
``hwtrain verify inference`` over every test sample of the dataset: every class and
every logit must equal the golden model's, and latency and cycles per sample must
equal the documented formulas. Writes the bench summary (with the command lines
that made it) as JSON.

    nice -n 10 .venv/bin/python benchmarks/inference_fullsplit.py --dataset fashion_mnist \\
        --hidden 256,256,256 --epochs 5 --impl folded:16x49,folded:16x16,folded:16x16 \\
        --classifier-pipeline 3 --out benchmarks/results/inference_784_fullsplit.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def hwtrain(argv: list[str]) -> None:
    cmd = [sys.executable, "-m", "hwtrain.cli", *argv]
    print("$ hwtrain " + shlex.join(argv), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--data-path")
    ap.add_argument("--model", help="model file (default: train one into the run folder)")
    ap.add_argument("--hidden", default="256,256,256")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--binarize", help="binarization scheme for the training (hwtrain train --binarize)")
    ap.add_argument("--impl", default="folded:16x49,folded:16x16,folded:16x16")
    ap.add_argument("--classifier-pipeline", type=int, default=3)
    ap.add_argument("--stall", type=float, default=0.3)
    ap.add_argument("--run", type=Path, default=ROOT / "hwtrain-runs" / "fullsplit")
    ap.add_argument("--out", type=Path, required=True, help="summary JSON")
    args = ap.parse_args()
    args.run.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    commands = []
    data = ["--data-path", args.data_path] if args.data_path else []
    model = args.model
    t0 = time.monotonic()
    if not model:
        model = str(args.run / f"{args.dataset}_cpr_{args.hidden.replace(',', 'x')}.npz")
        train = ["train", "-a", "cpr", "-d", args.dataset, *data, "--hidden", args.hidden,
                 "--epochs", str(args.epochs), "-o", model, "--json", model.replace(".npz", ".json")]
        if args.binarize:
            train += ["--binarize", args.binarize]
        hwtrain(train)
        commands.append(shlex.join(["hwtrain", *train]))
    train_s = time.monotonic() - t0
    summary = args.run / "verify.json"
    verify = ["verify", "inference", "--model", model, "--impl", args.impl,
              "--classifier-pipeline", str(args.classifier_pipeline), "--dataset", args.dataset, *data,
              "--stall", str(args.stall), "--out", str(args.run / "verify"), "--json", str(summary)]
    t1 = time.monotonic()
    status = subprocess.run([sys.executable, "-m", "hwtrain.cli", *verify], cwd=ROOT).returncode
    commands.append(shlex.join(["hwtrain", *verify]))
    s = json.loads(summary.read_text()) if summary.exists() else {}
    s.update(commands=commands, exit_status=status, train_seconds=round(train_s, 1),
             verify_seconds=round(time.monotonic() - t1, 1),
             command=shlex.join([sys.executable, *sys.argv]))
    args.out.write_text(json.dumps(s, indent=1))
    print(f"wrote {args.out}")
    return status


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "inference_fullsplit.py"))
