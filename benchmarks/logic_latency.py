"""Accuracy vs LUT4 vs post-place-and-route latency of learned Boolean networks.

    nice -n 10 .venv/bin/python benchmarks/logic_latency.py --widths 200,200 400,400 800,800 \
        --out benchmarks/results/logic_latency.json

For each size a network is trained on digits (sklearn, 3-level thermometer),
pruned, emitted combinationally (``register_every=0``: encoder, gates, GroupSum
and argmax in one cycle into the output register) and synthesized + placed and
routed with the YoWASP toolchain on ECP5 (out-of-context, registered ports).
Latency = 1 cycle at the measured Fmax. ``--netlist`` adds an existing netlist
(e.g. the MNIST benchmark's). Writes JSON, a PNG plot and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from hwtrain.data import load_digits
from hwtrain.flows.synth import synthesize
from hwtrain.golden.logic import LogicNetwork as Golden
from hwtrain.hdl.logic import LogicNetwork
from hwtrain.logic.netlist import Netlist, Thermometer
from hwtrain.logic.prune import prune
from hwtrain.logic.train import LogicTrainConfig, LogicTrainer


def measure(name, nl, acc, target, register_every):
    rep = synthesize(LogicNetwork(nl, register_every=register_every, counts_out=False), name, target=target)
    d = LogicNetwork(nl, register_every=register_every)
    period = None if rep.fmax_mhz is None else 1e3 / rep.fmax_mhz
    return {"name": name, "target": target, "accuracy": acc, "gates": nl.gates, "depth": nl.depth,
            "lut4": rep.lut4, "carry": rep.carry, "lut4_equivalent": rep.lut4_equivalent, "ff": rep.ff,
            "fmax_mhz": rep.fmax_mhz, "latency_cycles": d.latency,
            "latency_ns": None if period is None else round(d.latency * period, 2),
            "yosys_s": round(rep.yosys_seconds, 1), "nextpnr_s": round(rep.nextpnr_seconds, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", nargs="*", default=["200,200", "400,400", "800,800"])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--netlist", action="append", default=[], help="extra NAME=PATH:ACCURACY")
    ap.add_argument("--target", default="ecp5")
    ap.add_argument("--register-every", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/logic_latency.json")
    a = ap.parse_args(argv)
    d = load_digits()
    enc = Thermometer.uniform(64, 3, 5, 0, 16)
    bits = lambda x: (x.astype(np.int64)[:, :, None] > enc.thresholds[None]).reshape(len(x), -1)
    rows = []
    for w in a.widths:
        widths = tuple(int(v) for v in w.split(","))
        cfg = LogicTrainConfig(widths=widths, tau=max(1.0, (widths[-1] / 10) ** 0.5), steps=a.steps,
                               batch=64, eval_every=100, patience=50)
        res = LogicTrainer(enc.bits, 10, cfg, enc).fit(bits(d.x_train), d.y_train, bits(d.x_test), d.y_test)
        nl = prune(res.netlist)
        acc = Golden(nl).accuracy(d.x_test.astype(np.int64), d.y_test)
        rows.append({"dataset": "digits", "widths": list(widths),
                     **measure(f"logic_digits_{'x'.join(map(str, widths))}", nl, acc, a.target, a.register_every)})
        print(json.dumps(rows[-1]), flush=True)
    for spec in a.netlist:
        name, rest = spec.split("=", 1)
        path, acc = rest.rsplit(":", 1)
        nl = Netlist.load(path)
        rows.append({"dataset": name, **measure(f"logic_{name}", nl, float(acc), a.target, a.register_every)})
        print(json.dumps(rows[-1]), flush=True)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"benchmark": "logic_latency", "rows": rows}, f, indent=1)
    md = ["| dataset | widths | gates (pruned) | test acc. | LUT4 | FF | Fmax (MHz) | latency (ns) |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['dataset']} | {r.get('widths', '')} | {r['gates']} | {100 * r['accuracy']:.2f}% | "
                  f"{r['lut4']} | {r['ff']} | {r['fmax_mhz']} | {r['latency_ns']} |")
    with open(a.out.replace(".json", ".md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
        for r in rows:
            ax[0].scatter(r["lut4"], 100 * r["accuracy"])
            ax[0].annotate(r["dataset"], (r["lut4"], 100 * r["accuracy"]), fontsize=7)
            if r["latency_ns"]:
                ax[1].scatter(r["latency_ns"], 100 * r["accuracy"])
        ax[0].set_xlabel("LUT4 (ECP5)"), ax[0].set_ylabel("test accuracy (%)"), ax[0].set_xscale("log")
        ax[1].set_xlabel("latency (ns, post-PnR)"), ax[1].set_ylabel("test accuracy (%)")
        fig.tight_layout()
        fig.savefig(a.out.replace(".json", ".png"), dpi=120)
    except ImportError:
        pass


if __name__ == "__main__":
    main()
