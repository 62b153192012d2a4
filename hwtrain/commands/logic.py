"""``hwtrain logic ...``: train, prune, inspect, evaluate and prove learned Boolean networks.

    hwtrain logic train --dataset digits --widths 400,400 --levels 3 --steps 600 -o net.json
    hwtrain logic prune net.json -o net_pruned.json
    hwtrain logic info net_pruned.json
    hwtrain logic eval net_pruned.json --dataset digits
    hwtrain logic prove net_pruned.json --out hwtrain-runs/logic_prove
    hwtrain logic import-difflogic model.npz --classes 10 -o net.json

The core of a netlist is the registry design ``logic``: ``hwtrain generate|verify|synth logic
--netlist net_pruned.json --register-every lut4 --head pipelined ...``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


from .. import args as checked
from ..errors import require
from ..logic.datasets import DATASETS, IMAGE_SHAPES, dataset_features, encode


def netlist_file(text: str) -> Path:
    """An output netlist: .json or .npz (Netlist.save picks the format by suffix)."""
    p = checked.output_file(text)
    if p.suffix not in (".json", ".npz"):
        raise checked.argparse.ArgumentTypeError(f"{text}: a netlist file ends in .json or .npz")
    return p


def add_parser(subparsers):
    p = subparsers.add_parser("logic", help="learned Boolean networks (LUT netlists)")
    sub = p.add_subparsers(dest="logic_cmd", required=True)

    t = sub.add_parser("train", help="train a relaxed network and export its netlist")
    t.add_argument("--dataset", default="digits", choices=DATASETS)
    t.add_argument("--data-path", default=None)
    t.add_argument("--widths", type=checked.int_list(1), default=(400, 400))
    t.add_argument("--levels", type=checked.positive, default=3, help="thermometer levels per feature")
    t.add_argument("--tau", type=checked.real(0.0, lo_open=True), default=None)
    t.add_argument("--lr", type=checked.real(0.0, lo_open=True), default=0.05)
    t.add_argument("--batch", type=checked.positive, default=64)
    t.add_argument("--steps", type=checked.positive, default=600)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-resample", action="store_true")
    t.add_argument("--discretize-layers", type=checked.natural, default=0)
    t.add_argument("--connections", choices=["learned", "fixed", "local"], default="learned",
                   help="learned: 16 candidate triples per neuron (CompactLogic); "
                        "fixed: one random input pair per neuron (difflogic, 17x cheaper per step; docs/logic.md); "
                        "local: one input pair per neuron from a window around its position on the image")
    t.add_argument("--window", type=checked.int_list(1), default=(4,),
                   help="local connections: window radius in pixels (|dy|, |dx| <= window), one for every "
                        "layer or one per layer (4,2,2)")
    t.add_argument("--lut", type=checked.natural, default=0, metavar="K",
                   help="K-input LUT nodes (2..6) with learned truth tables instead of 2-input gates "
                        "(connections fixed or local)")
    t.add_argument("--shift", type=checked.natural, default=0, metavar="PIXELS",
                   help="translate each training image by up to PIXELS pixels, random per image (0: off)")
    t.add_argument("-o", "--output", type=netlist_file, required=True, help="netlist file (.json or .npz)")

    for name, hlp in (("prune", "simplify a netlist (outputs preserved)"), ("info", "summarize a netlist")):
        q = sub.add_parser(name, help=hlp)
        q.add_argument("netlist", type=checked.input_file)
        if name == "prune":
            q.add_argument("-o", "--output", type=netlist_file, required=True)

    e = sub.add_parser("eval", help="accuracy of a netlist with the golden evaluator")
    e.add_argument("netlist", type=checked.input_file)
    e.add_argument("--dataset", default="digits", choices=DATASETS)
    e.add_argument("--data-path", default=None)

    f = sub.add_parser("prove", help="formal equivalence with an independent Verilog construction")
    f.add_argument("netlist", type=checked.input_file)
    f.add_argument("--out", "--work", dest="work", type=checked.output_dir, default=None,
                   help="run folder for the proof's Verilog and yosys log (default hwtrain-runs/logic_prove)")

    i = sub.add_parser("import-difflogic", help="convert difflogic-style layers (.npz) to a netlist")
    i.add_argument("model", type=checked.input_file,
                   help="npz with layer{i}_op (or layer{i}_w, (n,16) weights), layer{i}_a, layer{i}_b")
    i.add_argument("--classes", type=checked.integer(2), required=True)
    i.add_argument("--inputs", type=checked.positive, required=True)
    i.add_argument("--tau", type=checked.real(0.0, lo_open=True), default=1.0)
    i.add_argument("-o", "--output", type=netlist_file, required=True)
    return p


def run(args) -> int:
    from ..golden.logic import LogicNetwork as Golden
    from ..logic.netlist import Netlist, from_difflogic
    from ..logic.prune import prune

    cmd = args.logic_cmd
    if cmd == "train":
        from ..logic.train import LogicTrainConfig, LogicTrainer
        d, enc, x_tr, x_te = dataset_features(args.dataset, args.data_path, args.levels)
        widths = tuple(args.widths)
        tau = args.tau or max(1.0, (widths[-1] / d.classes) ** 0.5)
        cfg = LogicTrainConfig(widths=widths, tau=tau, lr=args.lr, batch=args.batch, steps=args.steps,
                               seed=args.seed, resample=not args.no_resample,
                               discretize_layers=args.discretize_layers, connections=args.connections,
                               window=args.window, image_shape=IMAGE_SHAPES.get(args.dataset, ()), lut=args.lut,
                               shift=args.shift)
        res = LogicTrainer(enc.bits, d.classes, cfg, enc).fit(
            encode(enc, x_tr), d.y_train, encode(enc, x_te), d.y_test,
            log=lambda r: print(json.dumps(r), flush=True))
        res.netlist.save(str(checked.prepare_output(args.output)))
        print(json.dumps({"netlist": str(args.output), "test_acc": res.best_val, "gates": res.netlist.gates,
                          "seconds": round(res.seconds, 1)}))
    elif cmd == "prune":
        nl = Netlist.load(args.netlist)
        p = prune(nl)
        p.save(str(checked.prepare_output(args.output)))
        print(json.dumps({"gates_before": nl.gates, "gates_after": p.gates, "depth": p.depth}))
    elif cmd == "info":
        nl = Netlist.load(args.netlist)
        print(json.dumps({**nl.summary(), "ops": nl.op_histogram(), "meta": nl.meta}, indent=1))
    elif cmd == "eval":
        nl = Netlist.load(args.netlist)
        require(nl.encoder is not None, "eval needs a netlist with a thermometer encoder")
        d, _, _, x_te = dataset_features(args.dataset, args.data_path, 1)
        require(x_te.shape[1] == nl.encoder.features,
                f"dataset {args.dataset} has {x_te.shape[1]} features, netlist expects {nl.encoder.features}")
        print(json.dumps({"dataset": args.dataset, "test_acc": Golden(nl).accuracy(x_te, d.y_test)}))
    elif cmd == "prove":
        from ..logic.formal import prove_equivalent
        from ..flows.toolchain import runs_dir
        args.work = args.work or runs_dir() / "logic_prove"
        nl = Netlist.load(str(args.netlist))
        print(f"proving {args.netlist} ({nl.gates} gates) equal to an independent construction with "
              f"yosys sat; log in {Path(args.work).resolve()} ...", file=sys.stderr, flush=True)
        print(json.dumps(prove_equivalent(nl, args.work)))
    elif cmd == "import-difflogic":
        from ..npzfile import read_npz
        z = read_npz(args.model, "a .npz of difflogic layers")
        layers = []
        i = 0
        while f"layer{i}_a" in z:
            ops = z.get(f"layer{i}_op", z.get(f"layer{i}_w"))
            require(ops is not None, f"{args.model}: layer {i} has neither layer{i}_op nor layer{i}_w")
            require(f"layer{i}_b" in z, f"{args.model}: layer {i} has layer{i}_a but no layer{i}_b")
            layers.append((ops, z[f"layer{i}_a"], z[f"layer{i}_b"]))
            i += 1
        require(layers, f"{args.model}: no layer0_a array found")
        nl = from_difflogic(layers, args.classes, inputs=args.inputs, tau=args.tau)
        nl.save(str(checked.prepare_output(args.output)))
        print(json.dumps(nl.summary()))
    return 0
