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
golden evaluator). ``--random W1,W2,...`` adds a random net of those gate layers
(784 input bits, 10 classes, ``random_netlist`` seed 1; no accuracy): the
250,000-gate net of issue 20 is ``--random 62500,62500,62500,62500``.
Writes JSON, a PNG plot and a markdown table.

Pipelining (issue 20): ``--register-every`` (an integer k or ``lut4``),
``--register-encoder``, ``--head pipelined`` and ``--head-levels`` are passed
to :class:`hwtrain.hdl.logic.LogicNetwork`; latency = its ``latency`` cycles at
the measured Fmax. ``--freq`` is nextpnr's target (it drives timing-driven
placement). ``--head-cost`` also synthesizes the head alone (the GroupSum
popcounts and argmax over registered output bits, as built for the row) and
reports ``head_lut4`` and ``gates_lut4 = lut4 - head_lut4`` (encoder
comparators included in the latter) and ``lut4_per_gate``. ``--cache DIR``
keeps the trained netlists (training is deterministic: same seed, same net), so
before/after runs measure the same networks. Every JSON records its command.

``--head fused`` absorbs the last gate stage into the popcounts (then the
"head alone" of ``--head-cost`` is not what is built: leave it off);
``--fifo lutram`` puts the credit flow's FIFO in distributed RAM, ``--fifo auto``
does so on ECP5 only (iCE40 has no LUT-RAM). Rows report ``lutram``
(TRELLIS_DPR16X4 cells) and LUT4 / pruned gate with and without 2 x CCU2C.

``--serial N`` puts the network behind a serial input (hwtrain.hdl.logic_serial: N features
per beat, each thermometer bit the net reads captured in one flip-flop as its feature passes;
no ``--register-encoder``): how an MNIST net fits the iCE40 UP5K, whose 5,280 cells cannot
hold 784 8-bit pixels side by side. Latency then counts from the first beat; rows add
``period_cycles`` (beats + 1 per sample) and ``samples_per_s``. ``--random`` nets get the
MNIST nets' encoder (``pixel > 127``) with ``--serial``.

``--lut K`` trains the digits nets with K-input LUT nodes (hwtrain.logic.train,
"LUT nodes"; local connections, window 2 on the 8 x 8 image, lr 0.05): "gates"
are then LUT nodes and LUT4 / pruned gate is LUT4 per node.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from hwtrain.core.report import command_line
from hwtrain.data import load_digits
from hwtrain.errors import HwtrainError, require
from hwtrain.flows.floorplan import morton_outputs, net_floorplan
from hwtrain.flows.synth import synthesize
from hwtrain.golden.logic import LogicNetwork as Golden
from hwtrain.hdl.logic import LogicNetwork
from hwtrain.hdl.logic_serial import SerialLogicNetwork
from hwtrain.logic.netlist import GroupSum, Netlist, Thermometer, random_netlist
from hwtrain.logic.prune import prune
from hwtrain.logic.train import LogicTrainConfig, LogicTrainer


#: LUTs of the iCE40 UP5K; a network whose ECP5 mapping needs more than
#: ICE40_SKIP_FACTOR times this many LUT4s is not even tried on iCE40 (yosys +
#: nextpnr would spend minutes to report that it does not fit).
ICE40_LUTS = 5280
ICE40_SKIP_FACTOR = 1.5


def head_only(nl: Netlist) -> Netlist:
    """The GroupSum head of ``nl`` alone: no gates, its output bits are the inputs."""
    return Netlist(len(nl.outputs), [], list(range(len(nl.outputs))), GroupSum(nl.classes))


def target_pipe(pipe, target):
    """``fifo="auto"``: distributed RAM on ECP5, flip-flops on iCE40 (no LUT-RAM there)."""
    if pipe.get("fifo") == "auto":
        return {**pipe, "fifo": "lutram" if target == "ecp5" else "shift"}
    return pipe


def measure(name, nl, acc, target, pipe, opts, head_cost=False):
    """One synthesis + place-and-route; a design that fails (e.g. does not fit) gives an error row."""
    pipe = target_pipe(pipe, target)
    image = opts.get("floorplan") == "image" and target == "ecp5"
    opts = {**opts, "floorplan": net_floorplan(nl) if image else None}
    serial = pipe.get("serial", 0)
    pipe = {k: v for k, v in pipe.items() if k != "serial"}
    core = LogicNetwork(nl, raw=False if serial else None, counts_out=False, **pipe)
    dut = SerialLogicNetwork(core, serial) if serial else core
    latency = dut.latency
    row = {"name": name, "target": target, "accuracy": acc, "gates": nl.gates, "depth": nl.depth,
           "pipeline": {**pipe, "boundaries": core.boundaries, "serial": serial}, "latency_cycles": latency,
           "period_cycles": dut.period if serial else 1}
    try:
        # synth_args are synth_ecp5 options (e.g. -nowidelut); synth_ice40 has no wide LUTs
        opts = {**opts, "synth_args": opts.get("synth_args", "") if target == "ecp5" else ""}
        rep = synthesize(dut, name, target=target, **opts)
    except HwtrainError as e:
        return {**row, "error": str(e).splitlines()[0]}
    period = None if rep.fmax_mhz is None else 1e3 / rep.fmax_mhz
    row = {**row, "device": rep.device, "lut4": rep.lut4, "carry": rep.carry, "lutram": rep.lutram,
           "lut4_per_pruned_gate": round(rep.lut4 / max(nl.gates, 1), 3),
           "lut4_equivalent_per_pruned_gate": round(rep.lut4_equivalent / max(nl.gates, 1), 3),
           "lut4_equivalent": rep.lut4_equivalent, "ff": rep.ff, "harness_ff": rep.harness_ff,
           "fmax_mhz": rep.fmax_mhz, "latency_ns": None if period is None else round(latency * period, 2),
           "samples_per_s": None if period is None else round(rep.fmax_mhz * 1e6 / row["period_cycles"]),
           "yosys_s": round(rep.yosys_seconds, 1), "nextpnr_s": round(rep.nextpnr_seconds, 1),
           **({"pnr_stopped": rep.pnr_stopped} if rep.pnr_stopped else {}),
           **({"floorplan": rep.floorplan} if rep.floorplan else {})}
    if head_cost:
        # Split the LUT4s (yosys only): the head as built for this row (same head
        # options, its inputs registered as they are behind the last boundary), and
        # the network fed encoded bits (no thermometer comparators).
        hpipe = {k: v for k, v in pipe.items() if k in ("head", "head_levels", "argmax_pipeline", "flow", "fifo")}
        sopts = {**opts, "pnr": False}
        try:
            hrep = synthesize(LogicNetwork(head_only(nl), counts_out=False, **hpipe), name + "_head",
                              target=target, **sopts)
            row.update(head_lut4=hrep.lut4, head_carry=hrep.carry, head_ff=hrep.ff)
            if nl.encoder is not None:
                brep = synthesize(LogicNetwork(nl, raw=False, counts_out=False, **pipe), name + "_bits",
                                  target=target, **sopts)
                row["encoder_lut4"] = rep.lut4 - brep.lut4
            net = rep.lut4 - hrep.lut4 - row.get("encoder_lut4", 0)
            row.update(gates_lut4=net, lut4_per_gate=round(net / max(nl.gates, 1), 3))
        except HwtrainError as e:
            row["head_error"] = str(e).splitlines()[0]
    return row


def measure_targets(name, nl, acc, targets, pipe, base, opts, head_cost=False):
    rows = []
    for target in targets:
        ecp5 = next((r for r in rows if r["target"] == "ecp5" and "lut4" in r), None)
        if target == "ice40" and ecp5 and ecp5["lut4"] > ICE40_SKIP_FACTOR * ICE40_LUTS:
            rows.append({**base, "name": name, "target": target, "accuracy": acc, "gates": nl.gates,
                         "depth": nl.depth, "error": f"not tried: ECP5 mapping needs {ecp5['lut4']} LUT4, "
                         f"the iCE40 UP5K has {ICE40_LUTS} LUTs"})
        else:
            rows.append({**base, **measure(name, nl, acc, target, pipe, opts, head_cost)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def mnist_test_accuracy(nl) -> float:
    """Golden accuracy of a netlist with an 8-bit-pixel encoder on the 10,000 MNIST test images."""
    # the data cache (`hwtrain data fetch mnist`), scaled as `hwtrain logic train` and
    # `hwtrain verify logic --dataset mnist` scale it (8-bit pixels)
    from hwtrain.logic.datasets import dataset_features
    d, _, _, x_test = dataset_features("mnist")
    require(nl.encoder is not None and nl.encoder.features == 784,
            "an MNIST netlist needs a 784-feature thermometer encoder")
    return Golden(nl).accuracy(x_test, d.y_test)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", nargs="*", default=["200,200", "400,400", "800,800"])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--thresholds", default=None,
                    help="the digits nets' thermometer thresholds, a comma list used for every pixel "
                         "(default: uniform over 0..16, i.e. 4,8,12); 3,7,11 makes every encoder bit a "
                         "test of the pixel's two or three high bits (x > 4k - 1 is x >> 2 >= k)")
    ap.add_argument("--random", action="append", default=[], metavar="W1,W2,...",
                    help="a random net of these gate-layer widths (784 inputs, 10 classes, seed 1; the last "
                         "width divides by 10), named random_<gates>")
    ap.add_argument("--netlist", action="append", default=[],
                    help="extra NAME=PATH[:ACCURACY]; NAME 'mnist' computes the MNIST test accuracy, "
                         "other names without :ACCURACY have none (e.g. a random net)")
    ap.add_argument("--targets", default="ecp5", help="comma list of ecp5, ice40")
    ap.add_argument("--register-every", default="0", help="k (register after every k gate layers) or lut4")
    ap.add_argument("--register-encoder", action="store_true", help="register the thermometer bits")
    ap.add_argument("--head", choices=["comb", "pipelined", "fused"], default="comb")
    ap.add_argument("--fifo", choices=["shift", "lutram", "auto"], default="shift",
                    help="credit flow's output FIFO (auto: lutram on ECP5, shift on iCE40)")
    ap.add_argument("--head-levels", type=int, default=2, help="adder levels per pipelined popcount stage")
    ap.add_argument("--argmax-pipeline", choices=["round", "compare", "split"], default="split")
    ap.add_argument("--flow", choices=["stall", "credit"], default="stall", help="hwtrain.hdl.logic flow control")
    ap.add_argument("--head-cost", action="store_true", help="also synthesize the head alone (head_lut4)")
    ap.add_argument("--synth-args", default="", help="extra synth_<family> options, e.g. -nowidelut")
    ap.add_argument("--freq", type=float, default=100.0, help="nextpnr target frequency (MHz)")
    ap.add_argument("--cache", default=None, help="folder keeping the trained digits netlists")
    ap.add_argument("--lut", type=int, default=0, metavar="K",
                    help="digits nets of K-input LUT nodes (local connections, window 2) instead of gates")
    ap.add_argument("--router", choices=["router1", "router2"], default=None, help="nextpnr router")
    ap.add_argument("--pnr-args", default="",
                    help='extra nextpnr options, e.g. "--placer-heap-beta 0.5" (spread a congested placement)')
    ap.add_argument("--seed", type=int, default=1,
                    help="nextpnr placement seed (runs of one netlist vary by a few MHz)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per yosys / nextpnr run")
    ap.add_argument("--no-pnr", action="store_true", help="yosys only: resources, no Fmax")
    ap.add_argument("--floorplan", choices=["none", "image"], default="none",
                    help="ECP5: image = lock every node of a registered local net where its inputs are on a "
                         "square image laid over the die (hwtrain.flows.floorplan)")
    ap.add_argument("--head-order", choices=["netlist", "morton"], default="netlist",
                    help="order of each class's bits into its popcount: the netlist's, or Morton order of the "
                         "nodes' image positions (same counts; the adder tree's low levels join near nodes)")
    ap.add_argument("--serial", type=int, default=0, metavar="N",
                    help="features per beat of a serial input (hwtrain.hdl.logic_serial; 0: all in one beat)")
    ap.add_argument("--tag", default="", help="suffix of the run folders' names (keeps runs apart)")
    ap.add_argument("--out", default="benchmarks/results/logic_latency.json")
    a = ap.parse_args(argv)
    opts = {"router": a.router, "timeout": a.timeout, "freq_mhz": a.freq, "seed": a.seed, "synth_args": a.synth_args,
            "pnr": not a.no_pnr, "pnr_args": a.pnr_args, "floorplan": a.floorplan}
    require(a.floorplan == "none" or (a.register_every == "lut4" and a.register_encoder),
            "--floorplan image locks the registered nodes: it needs --register-every lut4 --register-encoder")
    k = a.register_every
    require(k == "lut4" or k.isdigit(), f"--register-every must be a non-negative integer or lut4, got {k!r}")
    require(a.serial >= 0, f"--serial must be a number of features per beat (0: all in one beat), got {a.serial}")
    require(not (a.serial and (a.register_encoder or a.floorplan != "none")),
            "--serial captures the encoded bits in flip-flops: leave --register-encoder and --floorplan off")
    pipe = {"register_every": k if k == "lut4" else int(k), "register_encoder": a.register_encoder,
            "head": a.head, "head_levels": a.head_levels,
            "argmax_pipeline": a.argmax_pipeline, "flow": a.flow, "fifo": a.fifo, "serial": a.serial}
    command = command_line(argv)
    targets = [t for t in a.targets.split(",") if t]
    require(targets and all(t in ("ecp5", "ice40") for t in targets),
            f"--targets must be a comma list of ecp5, ice40, got {a.targets!r}")
    rows = []
    if a.widths:
        d = load_digits()
        if a.thresholds is None:
            enc = Thermometer.uniform(64, 3, 5, 0, 16)
        else:
            try:
                thr = [int(v) for v in a.thresholds.split(",")]
            except ValueError:
                thr = []
            require(thr and thr == sorted(set(thr)) and 0 <= thr[0] and thr[-1] < 16,
                    f"--thresholds must be increasing integers in 0..15, got {a.thresholds!r}")
            enc = Thermometer(np.tile(np.array(thr, dtype=np.int64), (64, 1)), 5)
        bits = lambda x: (x.astype(np.int64)[:, :, None] > enc.thresholds[None]).reshape(len(x), -1)
    for w in a.widths:
        widths = tuple(int(v) for v in w.split(","))
        lut = dict(lut=a.lut, connections="local", window=2, image_shape=(8, 8), lr=0.05) if a.lut else {}
        cfg = LogicTrainConfig(widths=widths, tau=max(1.0, (widths[-1] / 10) ** 0.5), steps=a.steps,
                               batch=64, eval_every=100, patience=50, **lut)
        thr_tag = ("" if a.thresholds is None else "_t" + "-".join(a.thresholds.split(","))) + \
            (f"_lut{a.lut}" if a.lut else "")
        cached = a.cache and os.path.join(a.cache, f"digits_{'x'.join(map(str, widths))}_s{a.steps}{thr_tag}.npz")
        if cached and os.path.exists(cached):
            nl = Netlist.load(cached)
        else:
            res = LogicTrainer(enc.bits, 10, cfg, enc).fit(bits(d.x_train), d.y_train, bits(d.x_test), d.y_test)
            nl = prune(res.netlist)
            if cached:
                os.makedirs(a.cache, exist_ok=True)
                nl.save(cached)
        acc = Golden(nl).accuracy(d.x_test.astype(np.int64), d.y_test)
        nl = morton_outputs(nl) if a.head_order == "morton" else nl
        rows += measure_targets(f"logic_digits_{'x'.join(map(str, widths))}{thr_tag}{a.tag}", nl, acc, targets,
                                pipe, {"dataset": "digits", "widths": list(widths),
                                       "thresholds": [int(v) for v in enc.thresholds[0]], "lut": a.lut}, opts,
                                a.head_cost)
    for spec in a.random:
        parts = spec.split(",")
        require(all(v.strip().isdigit() and int(v) > 0 for v in parts) and int(parts[-1]) % 10 == 0,
                f"--random expects positive gate-layer widths, the last a multiple of 10, got {spec!r}")
        widths = [int(v) for v in parts]
        # a serial input takes pixels: the MNIST nets' encoder (p > 127)
        enc = Thermometer(np.full((784, 1), 127, dtype=np.int64), 8) if a.serial else None
        nl = random_netlist(784, widths, 10, seed=1, encoder=enc)
        rows += measure_targets(f"logic_random_{nl.gates}{a.tag}", nl, None, targets, pipe,
                                {"dataset": f"random_{nl.gates}", "widths": widths}, opts, a.head_cost)
    for spec in a.netlist:
        require("=" in spec, f"--netlist expects NAME=PATH[:ACCURACY], got {spec!r}")
        name, rest = spec.split("=", 1)
        path, _, acc = rest.partition(":") if not os.path.exists(rest) else (rest, "", "")
        nl = Netlist.load(path)
        # accuracy: given, computed ('mnist'), or none (a net without a test set, e.g. a random one)
        acc = float(acc) if acc else mnist_test_accuracy(nl) if name == "mnist" else None
        nl = morton_outputs(nl) if a.head_order == "morton" else nl
        rows += measure_targets(f"logic_{name}{a.tag}", nl, acc, targets, pipe,
                                {"dataset": name, "widths": nl.summary()["layers"]}, opts, a.head_cost)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"benchmark": "logic_latency", "command": command, "pipeline": pipe, "head_order": a.head_order,
                   "freq_target_mhz": a.freq, "rows": rows}, f, indent=1)
    md = [f"`{command}`", "", "| dataset | widths | target | gates (pruned) | test acc. | LUT4 | FF (of which scan harness) "
          "| Fmax (MHz) | latency (cycles) | latency (ns) | cycles / sample | head LUT4 | encoder LUT4 | gates LUT4 | LUT4/gate "
          "| CCU2C / LUT-RAM | total LUT4 / pruned gate | (LUT4 + 2 CCU2C) / pruned gate |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}%"
        head = (f"| {r['dataset']} | {', '.join(map(str, r.get('widths', [])))} | {r['target']} | {r['gates']} "
                f"| {acc} |")
        if "error" in r:
            md.append(f"{head} {r['error']} | | | | | | | | | | | | |")
        else:
            ff = f"{r['ff']} ({r['harness_ff']})" if r["harness_ff"] else f"{r['ff']}"
            fmax = r["fmax_mhz"] if r["fmax_mhz"] is not None else f"not routed ({r.get('pnr_stopped', 'no Fmax')})"
            md.append(f"{head} {r['lut4']} | {ff} | {fmax} | {r['latency_cycles']} | {r['latency_ns']} "
                      f"| {r.get('period_cycles', 1)} "
                      f"| {r.get('head_lut4', '')} | {r.get('encoder_lut4', '')} | {r.get('gates_lut4', '')} "
                      f"| {r.get('lut4_per_gate', '')} | {r['carry']} / {r.get('lutram', 0)} "
                      f"| {r['lut4_per_pruned_gate']} | {r['lut4_equivalent_per_pruned_gate']} |")
    with open(a.out.replace(".json", ".md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
        for r in rows:
            if "error" in r or r["accuracy"] is None:
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
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "logic_latency.py"))
