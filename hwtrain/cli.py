"""The ``hwtrain`` command: a thin layer over the flows.

    hwtrain generate datapath --inputs 64 --neurons 16     Verilog + manifest into hwtrain-runs/datapath/
    hwtrain verify   datapath --inputs 64 --neurons 16     cocotb bench vs golden model
    hwtrain synth    datapath --inputs 64 --neurons 16     yosys + nextpnr: resources, Fmax
    hwtrain demo                                           on-chip training of digits, end to end

Every design's configuration fields are options (``--inputs``, ``--pipeline``,
...); ``--config FILE.json`` reads them from a file instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import types
import typing
from pathlib import Path

from . import args as checked
from .errors import HwtrainError
from .flows.designs import DESIGNS, config_for, design, generate
from .flows.synth import RESET_LESS_HELP

REFERENCE = {"inputs": 64, "neurons": 16, "pipeline": 3}


def _add_config_options(p: argparse.ArgumentParser, config_type: type) -> None:
    hints = typing.get_type_hints(config_type)
    helps = _field_help(config_type)
    # Defaults stay None: the configuration's own defaults apply, and values
    # from --config are overridden only by options actually given.
    for f in dataclasses.fields(config_type):
        opt = "--" + f.name.replace("_", "-")
        kinds = [h for h in (typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name])
                             in (typing.Union, types.UnionType) else (hints[f.name],)) if h is not type(None)]
        hint = kinds[0] if len(kinds) == 1 else tuple(kinds)
        common = dict(dest=f.name, default=None, help=helps.get(f.name))
        if hint is bool:
            p.add_argument(opt, action=argparse.BooleanOptionalAction, **common)
        elif hint is tuple or typing.get_origin(hint) is tuple:
            item = (typing.get_args(hint) or (_number,))[0]
            if typing.get_origin(item) is tuple:         # a list of tuples: groups split by ";"
                p.add_argument(opt, type=_groups(typing.get_args(item)[0]), metavar="N,N;N,N;...", **common)
            else:
                p.add_argument(opt, type=_comma_list(item), metavar="A,B,..." if item is str else "N,N,...",
                               **common)
        elif hint is str:
            p.add_argument(opt, metavar="NAME", **common)
        elif hint is float:
            p.add_argument(opt, type=checked.real(), metavar="X", **common)
        elif hint == (int, str):
            p.add_argument(opt, type=_int_or_name, metavar="N|NAME", **common)
        else:
            p.add_argument(opt, type=int, metavar="N", **common)
    p.add_argument("--config", metavar="FILE.json|JSON",
                   help="the configuration as a JSON file, @file or inline JSON object "
                        "(options given override it)")


def _field_help(config_type: type) -> dict[str, str]:
    """Each field's line in the configuration's docstring (``name   what it is``)."""
    names = {f.name for f in dataclasses.fields(config_type)}
    out, field, column = {}, None, 0
    for line in (config_type.__doc__ or "").splitlines():
        text = line.strip()
        word, _, rest = text.partition(" ")
        indent = len(line) - len(line.lstrip())
        if word in names and rest.strip() and word not in out:
            field, column = word, indent
            out[word] = rest.strip()
        elif field and text and indent > column:       # the field's text goes on
            out[field] += " " + text
        else:
            field = None
    return {k: v.replace("%", "%%") for k, v in out.items()}


def _number(text: str) -> int | float:
    return int(text) if text.strip().lstrip("+-").isdigit() else float(text)


_number.__name__ = "number"


def _comma_list(item: type):
    def parse(text: str) -> tuple:
        parts = [t.strip() for t in text.split(",") if t.strip()]
        try:
            return tuple(item(t) for t in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {item.__name__}, "
                                             f"got {text!r}") from None
    return parse


def _groups(item: type):
    """``"1,2,3;4,5,6"`` -> ((1, 2, 3), (4, 5, 6)) (e.g. ``--tau-schedule``)."""
    one = _comma_list(item)

    def parse(text: str) -> tuple:
        return tuple(one(g) for g in text.split(";") if g.strip())
    return parse


def _int_or_name(text: str) -> int | str:
    return int(text) if text.strip().lstrip("+-").isdigit() else text


def _config(args) -> object:
    """The configuration of ``args.design``: ``--config``, then every option given over it."""
    d = design(args.design)
    values = checked.read_config_text(args.config) if args.config else {}
    values.update({f.name: getattr(args, f.name) for f in dataclasses.fields(d.config_type)
                   if getattr(args, f.name) is not None})
    return config_for(args.design, values)


def _design_subparsers(action: argparse.ArgumentParser, extra=None) -> None:
    sub = action.add_subparsers(dest="design", required=True, metavar="DESIGN")
    for name, d in DESIGNS.items():
        p = sub.add_parser(name, help=f"{d.block} ({d.config_type.__name__})")
        _add_config_options(p, d.config_type)
        if extra:
            extra(p)


def _dataset_names() -> tuple[str, ...]:
    from .data.presets import NAMES
    return NAMES


def _verify_options(p):
    p.add_argument("--samples", type=checked.positive, default=1000,
                   help="random test vectors (or PRNG draws) when no --dataset is given")
    p.add_argument("--dataset", choices=_dataset_names(),
                   help="stream this dataset's whole test split (e.g. digits)")
    p.add_argument("--data-path", help="file or folder holding the dataset, where it needs one")
    p.add_argument("--dataset-samples", type=checked.positive, default=None, metavar="N",
                   help="stream only the first N samples of --dataset's test split (default: all)")
    p.add_argument("--binarize", type=checked.binarize_scheme, metavar="SCHEME",
                   help="image binarization of --dataset (default: what the model file says it was "
                        "trained with, else the dataset's default)")
    p.add_argument("--json", type=checked.output_file, help="write the bench summary here as JSON")
    p.add_argument("--sim", default="verilator", help="verilator (default) or icarus")
    p.add_argument("--stall", type=checked.real(0.0, 1.0, hi_open=True), default=0.3,
                   help="probability of a stall on each stream side per cycle")
    p.add_argument("--bench-seed", type=int, default=7, help="seed of stimulus and stalls")
    p.add_argument("--out", type=checked.output_dir, default=None,
                   help="run folder: Verilog, simulator build and logs (default hwtrain-runs/<design>)")


def _synth_options(p):
    p.add_argument("--target", default="ecp5", help="ecp5 (LFE5U-85F, out-of-context) or ice40 (UP5K)")
    p.add_argument("--freq", type=checked.real(0.0, 2000.0, lo_open=True), default=100.0,
                   help="target clock for nextpnr, MHz")
    p.add_argument("--router", choices=("router1", "router2"),
                   help="nextpnr router (default router1; router2 is faster on large designs)")
    p.add_argument("--harness", choices=("ooc", "scan"),
                   help="ECP5 timing harness: ooc (default; registered ports, out-of-context, "
                        "clock on fabric) or scan (pins, global clock; for designs over ~5k FFs)")
    p.add_argument("--synth-args", default=None, metavar="OPTIONS",
                   help="extra synth_ecp5/synth_ice40 options (default: what the design's tables "
                        "were measured with, e.g. -nowidelut for compressor popcounts)")
    p.add_argument("--tool-timeout", type=checked.real(1.0, 7 * 86400.0), default=3600.0, metavar="SECONDS",
                   help="stop yosys or nextpnr after this long (default 3600; a 60%%-full LFE5U-85F can need more)")
    p.add_argument("--pnr-args", default="", metavar="OPTIONS",
                   help="extra nextpnr options, e.g. \"--placer-heap-timingweight 40\"")
    p.add_argument("--abc", choices=("abc9", "abc"), default=None,
                   help="ECP5 LUT mapper (default: abc9, as synth_ecp5 does, and classic abc for "
                        "the netlists yosys' abc9 fails on)")
    p.add_argument("--reset-less", action="store_true", help=RESET_LESS_HELP)
    p.add_argument("--floorplan", choices=("none", "image"), default="none",
                   help="ECP5, design logic: image = lock every registered node where its inputs are, the image "
                        "laid over the die (register_every lut4, register_encoder; docs/logic.md)")
    p.add_argument("--out", type=checked.output_dir, default=None,
                   help="run folder for netlists and tool logs (default hwtrain-runs/synth/<top>-<target>)")
    p.add_argument("--json", type=checked.output_file, help="write the report here as JSON")


def _generate_options(p):
    p.add_argument("--out", type=checked.output_dir, default=None,
                   help="run folder for <top>.v and its manifest <top>.json (default hwtrain-runs/<design>)")
    p.add_argument("--ports", choices=("native", "axis"), default="native",
                   help="native (Amaranth names: i__payload, o__valid, clk, rst) or axis (AXI4-Stream: "
                        "s_axis_t*, m_axis_t*, aclk, aresetn; top <top>_axis; docs/axis.md)")


def cmd_generate(args) -> int:
    cfg = _config(args)
    from .flows.toolchain import runs_dir
    path, info = generate(args.design, cfg, args.out or runs_dir() / args.design, ports=args.ports)
    print(f"wrote {path} and {path.with_suffix('.json').name} (sha256 {info['sha256'][:16]})")
    return 0


def _input_width(cfg) -> int | None:
    """Input bits of a design that classifies a dataset's samples (None for the others)."""
    sizes = getattr(cfg, "sizes", None)
    return sizes[0] if sizes else None


def _model_binarize(cfg) -> str | None:
    """The binarization a model file says its network was trained with."""
    model = getattr(cfg, "model", None)
    if not model:
        return None
    from .golden.train.model import read_meta
    return read_meta(model)[0].get("extra", {}).get("binarize")


def _dataset_files(name: str, path, out: Path, width: int | None = None, binarize: str | None = None,
                   first: int | None = None) -> dict:
    """Binarized test split of a dataset (its first ``first`` samples) as .npy files the bench reads."""
    import numpy as np
    from .data.presets import IMAGES, binarized
    data = binarized(name, path, binarize=binarize if name in IMAGES else None)
    x = data.x_test.reshape(len(data.x_test), -1)[:first]
    data.y_test = data.y_test[:first]
    if width is not None and x.shape[1] != width:
        raise HwtrainError(f"{name} samples have {x.shape[1]} input bits, the design takes {width}")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"{name}_x_test.npy", x > 0)
    np.save(out / f"{name}_y_test.npy", data.y_test)
    return {"inputs_file": str((out / f"{name}_x_test.npy").resolve()),
            "labels_file": str((out / f"{name}_y_test.npy").resolve()), "samples": len(x)}


def verify(design_name: str, cfg, *, samples: int, sim: str, stall: float, seed: int,
           out: Path, dataset: str | None = None, data_path=None, binarize: str | None = None,
           dataset_samples: int | None = None, progress=checked.progress) -> dict:
    from .flows.simulate import run_bench
    from .flows.toolchain import simulator_env
    simulator_env(sim)                      # unknown or missing simulator: fail before emitting
    if samples < 1:
        raise HwtrainError(f"--samples must be at least 1, got {samples}")
    if not 0.0 <= stall < 1.0:
        raise HwtrainError(f"--stall must be a probability in [0, 1), got {stall}")
    d = design(design_name)
    if not d.bench:
        raise HwtrainError(f"{design_name} has no cocotb bench; it is checked in the Amaranth simulator "
                           f"by the test suite")
    params = {"config": cfg.to_dict(), "samples": samples, "seed": seed,
              "p_in_stall": stall, "p_out_stall": stall}
    if dataset_samples is not None and not (dataset and not d.bench_params):
        raise HwtrainError("--dataset-samples needs --dataset and a design that classifies binarized samples "
                           "(inference)")
    # Stimulus that does not fit the design fails here, before anything is emitted.
    if d.bench_params:
        params.update(d.bench_params(cfg, samples=samples, seed=seed, dataset=dataset, data_path=data_path,
                                     binarize=binarize, out=Path(out)))
    elif dataset:
        if _input_width(cfg) is None:
            raise HwtrainError(f"--dataset applies to designs that classify samples, not {design_name}")
        params.update(_dataset_files(dataset, data_path, out, _input_width(cfg),
                                     binarize or _model_binarize(cfg), dataset_samples))
    path, info = generate(design_name, cfg, out, bench=True)
    progress(f"emitted {path}")
    return run_bench(path, info["top"], d.bench, params, sim=sim, progress=progress,
                     work_dir=Path(out) / "sim")


def _print_verdict(s: dict) -> bool:
    ok = s["failed"] == 0 and s.get("mismatches", 1) == 0
    print(f"{'BIT-EXACT' if ok else 'MISMATCH'}: {s['samples']} outputs compared with the golden "
          f"model, {s.get('mismatches')} differ")
    for key, label in (("latency_cycles", "latency (cycles)"),
                       ("cycles_unstalled", "cycles for the unstalled run")):
        if key in s:
            print(f"  {label}: {s[key]}")
    if "samples_unstalled" in s:
        print(f"  throughput unstalled: {s['samples_unstalled']} samples in "
              f"{s['cycles_unstalled']} cycles (latency {s['latency_cycles']})")
    if s.get("rtl_accuracy") is not None:
        print(f"  test accuracy: RTL {checked.percent(s['rtl_accuracy'])}, golden model "
              f"{checked.percent(s['golden_accuracy'])}")
    if not ok:
        print(f"  first mismatches: {s.get('first_mismatches')}\n  log: {s['log']}")
    return ok


def cmd_verify(args) -> int:
    cfg = _config(args)
    t = time.monotonic()
    from .flows.toolchain import runs_dir
    s = verify(args.design, cfg, samples=args.samples, sim=args.sim, stall=args.stall,
               seed=args.bench_seed, out=args.out or runs_dir() / args.design, dataset=args.dataset,
               data_path=args.data_path, binarize=args.binarize,
               dataset_samples=getattr(args, "dataset_samples", None))
    ok = _print_verdict(s)
    print(f"  ({args.sim}, {time.monotonic() - t:.1f} s)")
    if args.json:
        checked.prepare_output(args.json).write_text(json.dumps({"design": args.design, "config": cfg.to_dict(),
                                                                 "bit_exact": ok, **s}, indent=1))
        print(f"wrote {args.json}")
    return 0 if ok else 1


def cmd_synth(args) -> int:
    from .flows.synth import synthesize
    cfg = _config(args)
    d = design(args.design)
    name = d.top_name(cfg)
    plan = None
    if args.floorplan != "none":
        if d.floorplan is None:
            raise HwtrainError(f"--floorplan {args.floorplan}: design {args.design} has no floorplan "
                               f"(the image floorplan is for logic nets)")
        if args.target != "ecp5":
            raise HwtrainError(f"--floorplan locks cells on the ECP5 LFE5U-85F, not on {args.target}")
        plan = d.floorplan(cfg)
    from .flows.toolchain import runs_dir
    work = args.out or runs_dir() / "synth" / f"{name}-{args.target}"
    # a design's own options are synth_ecp5's (its tables' runs); synth_ice40 has no -nowidelut
    synth_args = (d.synth_args(cfg) if args.target == "ecp5" else "") if args.synth_args is None else args.synth_args
    print(f"synthesizing {name} for {args.target} {synth_args} (logs in {work}) ...", flush=True)
    r = synthesize(d.make(cfg), name, target=args.target, freq_mhz=args.freq, router=args.router,
                   harness=args.harness, synth_args=synth_args, work_dir=work, abc=args.abc,
                   timeout=args.tool_timeout, pnr_args=args.pnr_args, reset_less=args.reset_less,
                   floorplan=plan)
    print(r.table())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"config": cfg.to_dict(), **r.to_dict()}, indent=2))
        print(f"wrote {args.json}")
    return 0


def cmd_sweep(args) -> int:
    from .flows import sweep
    args.design = "inference"
    base = _config(args)
    variants = [tuple(v.split(",")) for v in (args.variant or ["parallel:2", "serial:1"])]
    accuracy = None
    if args.dataset:
        import numpy as np
        from .data.presets import IMAGES, binarized
        from .golden.inference import InferenceCore
        # the bits the model was trained on (as verify does), not the dataset's default
        data = binarized(args.dataset, args.data_path,
                         binarize=_model_binarize(base) if args.dataset in IMAGES else None)
        cls, _ = InferenceCore(base, base.load_model())(data.x_test.reshape(len(data.x_test), -1))
        accuracy = float(np.mean(cls == data.y_test))
        print(f"golden test accuracy on {args.dataset}: {checked.percent(accuracy)}")
    title = f"{'-'.join(map(str, base.sizes))} -> {base.classes} on {args.target}"
    from .flows.toolchain import runs_dir
    stem = (args.out or runs_dir() / "sweep") / "sweep"
    rid, rows = sweep.run(base, variants, stem.parent, target=args.target, accuracy=accuracy,
                          router=args.router, harness=args.harness, tool_timeout=args.tool_timeout,
                          pnr_args=args.pnr_args, title=title, scheduler=args.scheduler,
                          workers=args.workers, timeout=args.connect_timeout,
                          log=lambda text: print(text, flush=True),
                          on_row=lambda rows: sweep.write(rows, base, stem, title))
    print(sweep.table(rows))
    print(f"results database: {stem.parent / 'runs.sqlite'} (hwtrain runs show {rid} --db {stem.parent})")
    paths = sweep.write(rows, base, stem, title)
    if args.json:
        checked.prepare_output(args.json).write_text(paths[0].read_text())
        paths.append(args.json)
    for path in paths:
        print(f"wrote {path}")
    return 0 if all("error" not in r for r in rows) else 1


def cmd_demo(args) -> int:
    from .flows.demo import run_demo
    from .flows.toolchain import runs_dir
    res = run_demo(args.out or runs_dir() / "demo", epochs=args.epochs, hidden=args.hidden,
                   synth=not args.no_synth, say=lambda text: print(text, flush=True))
    print(f"{'BIT-EXACT' if res.ok else 'MISMATCH'}: on-chip training and inference equal the golden model")
    return 0 if res.ok else 1


def cmd_designs(args) -> int:
    """Every design of the registry: where its hardware, golden twin and bench are, and which
    boards ``hwtrain build`` puts it on."""
    from .boards.build import BOARDS
    boards = ",".join(sorted(BOARDS))
    rows = [("design", "configuration", "hardware (Amaranth)", "golden twin (NumPy)", "bench", "hwtrain build")]
    rows += [(name, d.config_type.__name__, d.hardware, d.golden, d.bench or "-", boards if d.board else "-")
             for name, d in DESIGNS.items()]
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
    print("\nhwtrain generate|verify|synth DESIGN --help lists each design's options; "
          "hwtrain build --board BOARD --design DESIGN --config JSON builds a bitstream of a design "
          "behind the UART host link on the boards named.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = checked.Parser(prog="hwtrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("designs", help="list the designs: configuration, hardware, golden twin, bench")
    p.set_defaults(func=cmd_designs)
    p = sub.add_parser("generate", help="emit Verilog and a manifest")
    _design_subparsers(p, _generate_options)
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("verify", help="simulate the RTL against the golden model")
    _design_subparsers(p, _verify_options)
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("synth", help="synthesize, place and route; resources and Fmax")
    _design_subparsers(p, _synth_options)
    p.set_defaults(func=cmd_synth)
    p = sub.add_parser("sweep", help="synthesize an inference core in several implementations, on Dask")
    _add_config_options(p, design("inference").config_type)
    p.add_argument("--variant", action="append", metavar="IMPL,IMPL,...",
                   help="per-layer implementations of one variant (repeat for more)")
    p.add_argument("--dataset", choices=_dataset_names(), help="report the golden test accuracy on this dataset")
    p.add_argument("--data-path")
    p.add_argument("--target", default="ecp5")
    p.add_argument("--router", choices=("router1", "router2"),
                   help="nextpnr router (default router1; router2 is faster on large designs)")
    p.add_argument("--harness", choices=("ooc", "scan"),
                   help="ECP5 timing harness: ooc (default; registered ports, out-of-context, "
                        "clock on fabric) or scan (pins, global clock; for designs over ~5k FFs)")
    p.add_argument("--tool-timeout", type=checked.real(1.0, 7 * 86400.0), default=3600.0, metavar="SECONDS",
                   help="stop yosys or nextpnr after this long (default 3600; a 60%%-full LFE5U-85F can need more)")
    p.add_argument("--pnr-args", default="", metavar="OPTIONS",
                   help="extra nextpnr options, e.g. \"--placer-heap-timingweight 40\"")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the variants on this running Dask scheduler (tcp://host:8786; workers need "
                        "hwtrain and the same paths); default: an embedded local cluster")
    p.add_argument("--workers", type=checked.integer(0, 1024), default=None, metavar="N",
                   help="workers of the embedded cluster (default: as many as cores; 0: one variant after "
                        "another in this process, no Dask)")
    p.add_argument("--connect-timeout", type=checked.real(0.0, 3600.0, lo_open=True), default=10.0,
                   metavar="SECONDS", help="how long to wait for --scheduler (default 10)")
    p.add_argument("--out", type=checked.output_dir, default=None,
                   help="run folder: runs.sqlite (results database; a sweep run again resumes), "
                        "sweep.json, sweep.md (table) and sweep.png (plot), synthesis logs "
                        "(default hwtrain-runs/sweep)")
    p.add_argument("--json", type=checked.output_file, help="also write the report here as JSON")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("demo", help="train digits on chip in RTL beside the golden model, then infer, "
                                    "verify and synthesize")
    p.add_argument("--epochs", type=checked.positive, default=5)
    p.add_argument("--hidden", type=checked.integer(8, 256), default=32, help="hidden neurons")
    p.add_argument("--no-synth", action="store_true", help="skip synthesis and place-and-route")
    p.add_argument("--out", type=checked.output_dir, default=None, help="run folder (default hwtrain-runs/demo)")
    p.set_defaults(func=cmd_demo)
    for plugin in _plugins():
        plugin.add_parser(sub).set_defaults(func=plugin.run)
    return parser


def _plugins():
    """The verbs of :mod:`hwtrain.commands` (training, trainer, EP, logic nets, QUBO, boards, data)."""
    import importlib
    for module in ("train", "trainer", "ep", "logic", "qubo", "qonnx", "build", "board", "data", "runs", "fold"):
        module = f"hwtrain.commands.{module}"
        try:
            yield importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name is None or not module.startswith(e.name):
                raise


def main(argv=None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader of the output went away (`hwtrain designs | head`): stop quietly, as Unix tools do;
        # stdout goes to /dev/null so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:                 # --help, or a bad option (one line printed already)
        return e.code if isinstance(e.code, int) else 2
    try:
        return args.func(args)
    except HwtrainError as e:
        print(f"hwtrain: error: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("hwtrain: error: out of memory: the network or dataset is too large for this machine",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwtrain: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
