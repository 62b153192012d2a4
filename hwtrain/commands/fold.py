"""``hwtrain fold``: choose an inference core's implementation per layer for a device and a rate.

    hwtrain fold --model build/models/m.npz --rate 5e6            # least logic at 5 M samples/s
    hwtrain fold --sizes 784,128,128,128 --classes 10 --fastest   # fewest clocks that fit the device

Prints the chosen implementations (exact cycles per sample and latency, estimated LUT4/FF,
DP16KD counted), the device's totals and the ``hwtrain sweep`` command that measures the core
with yosys + nextpnr. The estimate and its measured error: hwtrain/flows/inference_plan.py.
Wire-up (hwtrain/cli.py): ``add_parser(subparsers)``, then ``run(args)``.
"""

from __future__ import annotations

import json
import shlex

from .. import args as checked
from ..errors import HwtrainError, require


def add_parser(subparsers):
    p = subparsers.add_parser("fold", help="choose an inference core's folding for a device and a target rate",
                              description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model file (hwtrain train); its sizes and classes")
    p.add_argument("--sizes", default=None, metavar="N,N,...", help="input width and hidden widths (no --model)")
    p.add_argument("--classes", type=checked.integer(2, 4096), default=None, help="classes (no --model)")
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--rate", type=checked.real(0.0, 1e12, lo_open=True), metavar="SAMPLES_PER_S",
                      help="target samples/s: the least estimated logic that reaches it")
    goal.add_argument("--fastest", action="store_true", help="the fewest clocks per sample that fit the device")
    p.add_argument("--device", default="LFE5U-85F", help="LFE5U-25F, LFE5U-45F or LFE5U-85F (default)")
    p.add_argument("--clock-mhz", type=checked.real(0.0, 1000.0, lo_open=True), default=100.0,
                   help="clock assumed for samples/s and latency (default 100; nextpnr measures the real one)")
    p.add_argument("--store", choices=("rom", "bram", "bram_direct", "registers", "auto"), default="rom",
                   help="weight store of the folded layers (default rom: LUT ROMs, the fast ECP5 cores)")
    p.add_argument("--headroom", type=checked.real(0.0, 0.9), default=0.1,
                   help="--fastest: keep estimated LUT4 and FF under (1 - headroom) of the device (default 0.1)")
    p.add_argument("--max-simd", type=checked.integer(1, 1 << 20), default=None, metavar="N",
                   help="inputs a PE counts per clock at most (default 98: the timing model, "
                        "hwtrain/flows/inference_plan.py)")
    p.add_argument("--json", type=checked.output_file, default=None, help="write the plan here as JSON")
    return p


def _shape(args) -> tuple[tuple[int, ...], int]:
    if args.model:
        require(args.sizes is None and args.classes is None,
                "give either --model or --sizes/--classes, not both")
        from ..inference.model import BinaryMLP
        m = BinaryMLP.load(args.model)
        return tuple(m.sizes), m.classes
    require(args.sizes is not None and args.classes is not None,
            "give --model, or --sizes (e.g. 784,128,128,128) and --classes")
    try:
        sizes = tuple(int(v) for v in args.sizes.split(","))
    except ValueError:
        raise HwtrainError(f"cannot read --sizes {args.sizes!r}; expected widths like 784,128,128") from None
    require(len(sizes) >= 2 and min(sizes) >= 1,
            f"--sizes needs an input width and at least one hidden width, all >= 1; got {args.sizes!r}")
    return sizes, args.classes


def run(args) -> int:
    from ..flows import inference_plan as ip
    sizes, classes = _shape(args)
    dev = ip.device(args.device)
    p = ip.plan(sizes, classes, dev, rate=None if args.fastest else args.rate, clock_mhz=args.clock_mhz,
                store=args.store, headroom=args.headroom, max_simd=args.max_simd or ip.MAX_SIMD)
    cfg, e = p.config, p.estimate
    goal = "fastest that fits" if args.fastest else f"{args.rate:,.0f} samples/s"
    print(f"{'-'.join(map(str, sizes))} -> {classes} on the {dev.name}, {goal} at {args.clock_mhz:g} MHz "
          f"(an assumption until nextpnr measures Fmax): {'FITS' if p.fits() else 'DOES NOT FIT'}")
    print(f"  {'layer':<6} {'K':>5} {'N':>5}  {'implementation':<22} {'clocks/sample':>13}")
    for l, impl in enumerate(cfg.impl):
        print(f"  {l:<6} {sizes[l]:>5} {sizes[l + 1]:>5}  {impl:<22} {cfg.layer_cycles(l):>13}")
    print(f"  clocks per sample {cfg.cycles_per_sample}, latency {cfg.latency} clocks: "
          f"{p.samples_per_s:,.0f} samples/s, {p.latency_ns:,.0f} ns at {args.clock_mhz:g} MHz")
    err = ip.MODEL["error"]["leave_one_out_max"]
    print(f"  LUT4   {e['lut4']:>9,} of {dev.comb:>7,}  estimate (leave-one-out error up to {err['lut4']:.0%})")
    print(f"  FF     {e['ff']:>9,} of {dev.ff:>7,}  estimate (up to {err['ff']:.0%})")
    print(f"  DP16KD {e['ebr']:>9,} of {dev.dp16kd:>7,}  counted")
    model = ["--model", args.model] if args.model else ["--sizes", ",".join(map(str, sizes)),
                                                       "--classes", str(classes)]
    cmd = ["hwtrain", "sweep", *model, "--variant", ",".join(cfg.impl), "--store", cfg.store,
           "--classifier-pipeline", str(cfg.classifier_pipeline), "--argmax-pipeline", cfg.argmax_pipeline,
           "--router", "router2", "--harness", "scan", "--pnr-args", "--placer-heap-timingweight 40"]
    print("measure it:\n  " + shlex.join(cmd))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "sizes": list(sizes), "classes": classes, "device": dev.name, "rate": args.rate,
            "clock_mhz": args.clock_mhz, "impl": list(cfg.impl), "store": cfg.store,
            "cycles_per_sample": cfg.cycles_per_sample, "latency_cycles": cfg.latency,
            "samples_per_s": p.samples_per_s, "latency_ns": p.latency_ns, "estimate": e,
            "fits": p.fits(), "sweep_command": shlex.join(cmd)}, indent=2))
        print(f"wrote {args.json}")
    return 0
