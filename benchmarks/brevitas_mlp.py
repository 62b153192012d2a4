"""A real Brevitas export through hwtrain: train a binarized MLP in Brevitas, export QONNX, import, verify, synthesize.

Trains a bipolar MLP (binarized digits in, ``QuantLinear`` with binary weights,
``BatchNorm1d``, binary ``QuantIdentity`` activations, a plain binary classifier)
on hwtrain's built-in digits data with PyTorch + Brevitas, exports it with
Brevitas' own exporter (``brevitas.export.export_qonnx``), then runs

    hwtrain import qonnx    (the qonnx executor runs the graph against the golden model)
    hwtrain verify inference  (the core's Verilog, bit-exact on the whole digits test split, random stalls)
    hwtrain synth inference   (ECP5 LFE5U-85F out-of-context: LUT4, FF, Fmax)

and writes one JSON with the accuracies, the check, the bench and the synthesis
result, and the commands. Needs the ``brevitas`` extra (``pip install -e '.[qonnx,brevitas]'``);
nothing in the test suite needs torch.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/brevitas_mlp.py \\
        --out benchmarks/results/brevitas_digits_mlp.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def hwtrain(argv: list[str], commands: list) -> None:
    print("$ hwtrain " + shlex.join(argv), flush=True)
    commands.append(shlex.join(["hwtrain", *argv]).replace(f"{ROOT}/", ""))
    subprocess.run([sys.executable, "-m", "hwtrain.cli", *argv], check=True, cwd=ROOT)


def build(hidden: list[int], inputs: int, classes: int, weight_scale: float | None):
    import torch.nn as nn
    from brevitas.nn import QuantIdentity, QuantLinear
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst

    act, wq = SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
    wkw = {} if weight_scale is None else {"weight_scaling_const": weight_scale}

    class BinaryMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = QuantIdentity(act_quant=act)     # +-1 samples stay +-1 (BipolarQuant)
            layers, k = [], inputs
            for n in hidden:
                layers += [QuantLinear(k, n, bias=False, weight_quant=wq, **wkw), nn.BatchNorm1d(n),
                           QuantIdentity(act_quant=act)]
                k = n
            self.body = nn.Sequential(*layers)
            self.head = QuantLinear(k, classes, bias=False, weight_quant=wq, **wkw)   # logits

        def forward(self, x):
            return self.head(self.body(self.inp(x.flatten(1))))

    return BinaryMLP()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", default="64,64")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weight-scale", type=float, default=None,
                    help="binary weight scale (default: Brevitas' SignedBinaryWeightPerTensorConst, 0.1)")
    ap.add_argument("--dynamo", type=int, default=None, choices=(0, 1),
                    help="torch.onnx exporter (default: what export_qonnx picks; dynamo on torch >= 2.9)")
    ap.add_argument("--impl", default="folded:8x16")
    ap.add_argument("--stall", type=float, default=0.3)
    ap.add_argument("--synth", type=int, default=1, help="0: skip synthesis")
    ap.add_argument("--run", type=Path, default=ROOT / "hwtrain-runs" / "brevitas_mlp")
    ap.add_argument("--out", type=Path, required=True, help="summary JSON")
    args = ap.parse_args()

    import torch
    import brevitas
    from brevitas.export import export_qonnx
    from hwtrain.data.presets import binarized
    from hwtrain.golden.inference import InferenceCore
    from hwtrain.inference.config import InferenceConfig
    from hwtrain.inference.model import BinaryMLP

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    args.run.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    hidden = [int(h) for h in args.hidden.split(",")]
    data = binarized("digits")             # median-binarized 8x8 digits, samples in {-1, +1}
    xt = torch.tensor(data.x_train, dtype=torch.float32)
    yt = torch.tensor(data.y_train, dtype=torch.long)
    xs = torch.tensor(data.x_test, dtype=torch.float32)
    ys = np.asarray(data.y_test)

    model = build(hidden, xt.shape[1], data.classes, args.weight_scale)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    temp = 4.0 / (hidden[-1] ** 0.5 * (args.weight_scale or 0.1))   # logits of +-s K to CE-sized values
    t0 = time.monotonic()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for b in range(0, len(xt), args.batch):
            idx = perm[b:b + args.batch]
            loss = torch.nn.functional.cross_entropy(model(xt[idx]) * temp, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    train_s = time.monotonic() - t0
    model.eval()
    with torch.no_grad():
        torch_pred = model(xs).argmax(1).numpy()
    torch_acc = float((torch_pred == ys).mean())
    print(f"Brevitas {brevitas.__version__} / torch {torch.__version__}: 64-{'-'.join(map(str, hidden))}-10 "
          f"trained {args.epochs} epochs in {train_s:.1f} s, test accuracy {torch_acc:.4f}", flush=True)

    onnx_path = args.run / "brevitas_mlp.onnx"
    kw = {} if args.dynamo is None else {"dynamo": bool(args.dynamo)}
    export_qonnx(model, torch.zeros(1, xt.shape[1]), export_path=str(onnx_path), **kw)
    import onnx
    ops = [f"{n.op_type}" for n in onnx.load(str(onnx_path)).graph.node]

    commands = []
    npz = args.run / "brevitas_mlp.npz"
    imp_json = args.run / "import.json"
    hwtrain(["import", "qonnx", str(onnx_path), "-o", str(npz), "--check-samples", str(len(ys)),
             "--dataset", "digits", "--json", str(imp_json)], commands)
    imported = BinaryMLP.load(npz)
    core = InferenceCore(InferenceConfig(sizes=imported.sizes, classes=imported.classes), imported)
    golden_pred, _ = core((data.x_test > 0).astype(np.uint8))
    golden_acc = float((np.asarray(golden_pred) == ys).mean())
    same = int((np.asarray(golden_pred) == torch_pred).sum())
    from hwtrain.inference.qonnx_import import golden_preactivations
    logits = golden_preactivations(imported, (data.x_test > 0).astype(np.uint8))[0][-1]
    differ = [{"sample": int(i), "torch": int(torch_pred[i]), "golden": int(golden_pred[i]), "label": int(ys[i]),
               "integer_logits_tie": bool(logits[i, torch_pred[i]] == logits[i, golden_pred[i]] == logits[i].max())}
              for i in np.flatnonzero(np.asarray(golden_pred) != torch_pred)]
    print(f"imported golden model: test accuracy {golden_acc:.4f}; same class as the torch model on "
          f"{same} of {len(ys)} samples", flush=True)
    for d in differ:
        print(f"  sample {d['sample']}: torch {d['torch']}, golden {d['golden']} (label {d['label']}), "
              f"{'an exact tie of their integer logits' if d['integer_logits_tie'] else 'NOT a tie'}")

    ver_json = args.run / "verify.json"
    hwtrain(["verify", "inference", "--model", str(npz), "--impl", args.impl, "--dataset", "digits",
             "--logits-out", "--stall", str(args.stall), "--out", str(args.run / "verify"),
             "--json", str(ver_json)], commands)
    syn = None
    if args.synth:
        syn_json = args.run / "synth.json"
        hwtrain(["synth", "inference", "--model", str(npz), "--impl", args.impl, "--target", "ecp5",
                 "--out", str(args.run / "synth"), "--json", str(syn_json)], commands)
        syn = json.loads(syn_json.read_text())

    try:                              # which hwtrain made the Verilog (an export of a commit has no .git)
        import os
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "hwtrain"],
                                    capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        head, dirty = os.environ.get("HWTRAIN_SOURCE_COMMIT"), False
    result = {
        "hwtrain_commit": head, "hwtrain_tree_modified": dirty,
        "network": f"64-{'-'.join(map(str, hidden))}-10, bipolar weights and activations, BatchNorm1d",
        "brevitas": brevitas.__version__, "torch": torch.__version__,
        "weight_scale": args.weight_scale or 0.1, "epochs": args.epochs, "seed": args.seed,
        "train_seconds": round(train_s, 1), "qonnx_nodes": ops,
        "accuracy_torch": torch_acc, "accuracy_golden": golden_acc, "same_class_torch_golden": same,
        "torch_golden_differ": differ,
        "test_samples": int(len(ys)),
        "import": json.loads(imp_json.read_text()),
        "verify": json.loads(ver_json.read_text()),
        "synth": syn,
        "commands": [shlex.join([".venv/bin/python", "benchmarks/brevitas_mlp.py", *sys.argv[1:]])] + commands,
    }
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "brevitas_mlp.py"))
