"""Accuracy vs LUT4 vs post-place-and-route latency of learned Boolean networks.

    nice -n 10 .venv/bin/python benchmarks/logic_latency.py --widths 200,200 400,400 800,800 \
        --targets ecp5,ice40 --out benchmarks/results/logic_latency.json

For each size a network is trained on digits (sklearn, 3-level thermometer),
pruned, emitted combinationally (``register_every=0``: encoder, gates, GroupSum
and argmax in one cycle into the output register) and synthesized + placed and
routed with the YoWASP toolchain on each of ``--targets``: ECP5 LFE5U-85F
(out-of-context, registered ports) and/or iCE40 UP5K (scan harness: ports reach
the core through scan registers; ``harness_ff`` of the FFs are the harness's).
Latency = 1 cycle at the measured Fmax. A design that does not fit gives a row
with ``error`` instead of numbers. ``--netlist`` adds an existing netlist (e.g.
the MNIST benchmark's; ``mnist=PATH`` computes its MNIST test accuracy with the
golden evaluator). Writes JSON, a PNG plot and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from hwtrain.data import load_digits
from hwtrain.errors import HwtrainError, require
from hwtrain.flows.synth import synthesize
from hwtrain.golden.logic import LogicNetwork as Golden
from hwtrain.hdl.logic import LogicNetwork
from hwtrain.logic.netlist import Netlist, Thermometer
from hwtrain.logic.prune import prune
from hwtrain.logic.train import LogicTrainConfig, LogicTrainer


#: LUTs of the iCE40 UP5K; a network whose ECP5 mapping needs more than
#: ICE40_SKIP_FACTOR times this many LUT4s is not even tried on iCE40 (yosys +
#: nextpnr would spend minutes to report that it does not fit).
ICE40_LUTS = 5280
ICE40_SKIP_FACTOR = 1.5


def measure(name, nl, acc, target, register_every, opts):
    """One synthesis + place-and-route; a design that fails (e.g. does not fit) gives an error row."""
    # = LogicNetwork(...).latency, without building a second (unused) elaboratable
    latency = 1 + (nl.depth // register_every if register_every else 0)
    row = {"name": name, "target": target, "accuracy": acc, "gates": nl.gates, "depth": nl.depth,
           "latency_cycles": latency}
    try:
        rep = synthesize(LogicNetwork(nl, register_every=register_every, counts_out=False), name,
                         target=target, **opts)
    except HwtrainError as e:
        return {**row, "error": str(e).splitlines()[0]}
    period = None if rep.fmax_mhz is None else 1e3 / rep.fmax_mhz
    return {**row, "device": rep.device, "lut4": rep.lut4, "carry": rep.carry,
            "lut4_equivalent": rep.lut4_equivalent, "ff": rep.ff, "harness_ff": rep.harness_ff,
            "fmax_mhz": rep.fmax_mhz, "latency_ns": None if period is None else round(latency * period, 2),
            "yosys_s": round(rep.yosys_seconds, 1), "nextpnr_s": round(rep.nextpnr_seconds, 1)}


def measure_targets(name, nl, acc, targets, register_every, base, opts):
    rows = []
    for target in targets:
        ecp5 = next((r for r in rows if r["target"] == "ecp5" and "lut4" in r), None)
        if target == "ice40" and ecp5 and ecp5["lut4"] > ICE40_SKIP_FACTOR * ICE40_LUTS:
            rows.append({**base, "name": name, "target": target, "accuracy": acc, "gates": nl.gates,
                         "depth": nl.depth, "error": f"not tried: ECP5 mapping needs {ecp5['lut4']} LUT4, "
                         f"the iCE40 UP5K has {ICE40_LUTS} LUTs"})
        else:
            rows.append({**base, **measure(name, nl, acc, target, register_every, opts)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def mnist_test_accuracy(nl) -> float:
    """Golden accuracy of a netlist with an 8-bit-pixel encoder on the 10,000 MNIST test images."""
    from logic_mnist import mnist_int          # benchmarks/ is sys.path[0] when run as a script
    d, _, x_test = mnist_int()
    require(nl.encoder is not None and nl.encoder.features == 784,
            "an MNIST netlist needs a 784-feature thermometer encoder")
    return Golden(nl).accuracy(x_test, d.y_test)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", nargs="*", default=["200,200", "400,400", "800,800"])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--netlist", action="append", default=[],
                    help="extra NAME=PATH[:ACCURACY]; NAME 'mnist' computes the MNIST test accuracy")
    ap.add_argument("--targets", default="ecp5", help="comma list of ecp5, ice40")
    ap.add_argument("--register-every", type=int, default=0)
    ap.add_argument("--router", choices=["router1", "router2"], default=None, help="nextpnr router")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per yosys / nextpnr run")
    ap.add_argument("--out", default="benchmarks/results/logic_latency.json")
    a = ap.parse_args(argv)
    opts = {"router": a.router, "timeout": a.timeout}
    targets = [t for t in a.targets.split(",") if t]
    require(targets and all(t in ("ecp5", "ice40") for t in targets),
            f"--targets must be a comma list of ecp5, ice40, got {a.targets!r}")
    rows = []
    if a.widths:
        d = load_digits()
        enc = Thermometer.uniform(64, 3, 5, 0, 16)
        bits = lambda x: (x.astype(np.int64)[:, :, None] > enc.thresholds[None]).reshape(len(x), -1)
    for w in a.widths:
        widths = tuple(int(v) for v in w.split(","))
        cfg = LogicTrainConfig(widths=widths, tau=max(1.0, (widths[-1] / 10) ** 0.5), steps=a.steps,
                               batch=64, eval_every=100, patience=50)
        res = LogicTrainer(enc.bits, 10, cfg, enc).fit(bits(d.x_train), d.y_train, bits(d.x_test), d.y_test)
        nl = prune(res.netlist)
        acc = Golden(nl).accuracy(d.x_test.astype(np.int64), d.y_test)
        rows += measure_targets(f"logic_digits_{'x'.join(map(str, widths))}", nl, acc, targets,
                                a.register_every, {"dataset": "digits", "widths": list(widths)}, opts)
    for spec in a.netlist:
        require("=" in spec, f"--netlist expects NAME=PATH[:ACCURACY], got {spec!r}")
        name, rest = spec.split("=", 1)
        path, _, acc = rest.partition(":") if not os.path.exists(rest) else (rest, "", "")
        nl = Netlist.load(path)
        if acc:
            acc = float(acc)
        else:
            require(name == "mnist", f"--netlist {spec}: give :ACCURACY (only 'mnist' is computed)")
            acc = mnist_test_accuracy(nl)
        rows += measure_targets(f"logic_{name}", nl, acc, targets, a.register_every,
                                {"dataset": name, "widths": nl.summary()["layers"]}, opts)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"benchmark": "logic_latency", "rows": rows}, f, indent=1)
    md = ["| dataset | widths | target | gates (pruned) | test acc. | LUT4 | FF (of which scan harness) "
          "| Fmax (MHz) | latency (ns) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = (f"| {r['dataset']} | {', '.join(map(str, r.get('widths', [])))} | {r['target']} | {r['gates']} "
                f"| {100 * r['accuracy']:.2f}% |")
        if "error" in r:
            md.append(f"{head} {r['error']} | | | |")
        else:
            ff = f"{r['ff']} ({r['harness_ff']})" if r["harness_ff"] else f"{r['ff']}"
            md.append(f"{head} {r['lut4']} | {ff} | {r['fmax_mhz']} | {r['latency_ns']} |")
    with open(a.out.replace(".json", ".md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
        for r in rows:
            if "error" in r:
                continue
            mark = "o" if r["target"] == "ecp5" else "s"
            ax[0].scatter(r["lut4"], 100 * r["accuracy"], marker=mark)
            ax[0].annotate(f"{r['dataset']} {r['target']}", (r["lut4"], 100 * r["accuracy"]), fontsize=7)
            if r["latency_ns"]:
                ax[1].scatter(r["latency_ns"], 100 * r["accuracy"], marker=mark)
        ax[0].set_xlabel("LUT4 (o ECP5, s iCE40)"), ax[0].set_ylabel("test accuracy (%)"), ax[0].set_xscale("log")
        ax[1].set_xlabel("latency (ns, post-PnR)"), ax[1].set_ylabel("test accuracy (%)")
        fig.tight_layout()
        fig.savefig(a.out.replace(".json", ".png"), dpi=120)
    except ImportError:
        pass


if __name__ == "__main__":
    main()
