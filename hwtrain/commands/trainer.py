"""``hwtrain trainer ...``: the on-chip online training engines (CP+R, BEP).

    hwtrain trainer plan --config '{"algorithm": "cpr", "inputs": 784, "hidden": [135, 135], "classes": 10,
                                    "batch": 1, "pe": [5, 5], "simd": [112, 27]}' --device LFE5U-85F
    hwtrain trainer plan --config cfg.json --search            # fastest PE/SIMD that fits the device
    hwtrain trainer rtl  --config @cfg.json --dataset digits --epochs 2

``plan`` prints a verdict for a device: fits or not, DP16KD (hidden weights exact)
and LUT/FF estimates against the device's totals, cycles per sample and the
bound, samples/s at ``--clock-mhz``. A configuration with ``pe``/``simd`` (a
FoldedTrainConfig) is planned for the folded engine (hwtrain/hdl/trainer_folded.py,
designs trainer_cpr_folded / trainer_bep_folded); one without them for the first
engine (hwtrain/hdl/trainer.py, designs trainer_cpr / trainer_bep), as before.
``--search`` always plans the folded engine and picks PE/SIMD itself.
A configuration that does not fit or cannot be folded is refused with its numbers.
``rtl`` emits the first engine's Verilog and trains it for whole epochs beside
the golden model (cocotb + Verilator, hwtrain/benches/bench_trainer.py); the
folded engine's bench is ``hwtrain verify trainer_cpr_folded --config ...``.
``--config`` is a TrainConfig as JSON, or @file.json; ``batch`` must be 1.
Synthesis: ``hwtrain synth trainer_cpr --config cfg.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from .. import args as checked
from ..errors import HwtrainError
from ..golden.train.config import TrainConfig

FOLDED_KEYS = ("pe", "simd")


def _values(text: str) -> dict:
    from ..args import read_config_text
    return read_config_text(text)


def _config(text: str) -> TrainConfig:
    return TrainConfig.from_dict(_values(text))


def _folded_config(values: dict):
    from ..golden.trainer_folded import FoldedTrainConfig
    return FoldedTrainConfig.from_dict(values)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("trainer", help="on-chip online training engines (cpr, bep)",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="trainer_command", required=True)
    a = sub.add_parser("plan", help="does the engine fit a device: resources, cycles per sample; PE/SIMD search")
    a.add_argument("--config", required=True,
                   help="TrainConfig (with pe/simd: the folded engine) as a JSON file, @file or inline JSON")
    a.add_argument("--device", default=None,
                   help="LFE5U-25F, LFE5U-45F or LFE5U-85F (default; folded engine only)")
    a.add_argument("--clock-mhz", type=checked.real(0.0, 2000.0, lo_open=True), default=100.0,
                   help="clock for samples/s (default 100 MHz; not a measured Fmax)")
    a.add_argument("--search", action="store_true",
                   help="folded engine: find the PE/SIMD per layer with the fewest typical cycles per "
                        "sample that fits the device")
    a.add_argument("--top", type=checked.positive, default=5, help="--search: candidates listed (default 5)")
    a.add_argument("--headroom", type=checked.real(0.0, 1.0, hi_open=True), default=0.1,
                   help="--search: keep the estimated COMB and FF under (1 - headroom) of the device "
                        "(default 0.1, about the estimate's error; DP16KD are exact and may be used up)")
    a.add_argument("--json", type=checked.output_file, default=None, help="write the plan here as JSON")
    r = sub.add_parser("rtl", help="train the emitted Verilog beside the golden model")
    r.add_argument("--config", required=True, help="TrainConfig as a JSON file, @file or inline JSON")
    r.add_argument("--dataset", default="digits", choices=("digits", "random_prototypes"))
    r.add_argument("--epochs", type=checked.positive, default=1)
    r.add_argument("--n-train", type=checked.positive, default=1438)
    r.add_argument("--n-test", type=checked.natural, default=359)
    r.add_argument("--stall", type=checked.real(0.0, 1.0, hi_open=True), default=0.0,
                   help="random stall probability on both streams")
    r.add_argument("--json", type=checked.output_file, default=None, help="write the bench summary here")
    return p


def run(args) -> int:
    if args.trainer_command == "plan":
        values = _values(args.config)
        if args.search or any(k in values for k in FOLDED_KEYS):
            return _plan_folded(values, args)
        if args.device is not None:
            raise HwtrainError("--device plans the folded engine: give the configuration pe and simd "
                               "(or use --search); the first engine is planned for the LFE5U-85F only")
        return _plan_first(TrainConfig.from_dict(values))
    cfg = _config(args.config)
    from ..hdl.trainer import plan
    from ..flows.designs import generate
    from ..flows.simulate import run_bench
    plan(cfg)                               # refuse an engine that cannot be built before emitting it
    with tempfile.TemporaryDirectory() as tmp:
        path, info = generate(f"trainer_{cfg.algorithm}", cfg, Path(tmp))
        s = run_bench(path, info["top"], "bench_trainer",
                      {"config": cfg.to_dict(), "dataset": args.dataset, "epochs": args.epochs,
                       "n_train": args.n_train, "n_test": args.n_test, "seed": 1,
                       "p_in_stall": args.stall, "p_out_stall": args.stall},
                      progress=checked.progress)
    ok = s["failed"] == 0 and s["mismatches"] == 0
    print(f"{'BIT-EXACT' if ok else 'MISMATCH'}: {s['samples']} training samples; predictions, cycles, "
          f"hidden weights and counters compared after every epoch; {s['mismatches']} differ")
    for c in s["curve"]:
        print(f"  epoch {c['epoch']}: online training error {checked.percent(c['train_error_online'])}"
              + (f", test accuracy of the on-chip weights {checked.percent(c['test_acc_onchip_weights'])}"
                 if c["test_acc_onchip_weights"] is not None else ""))
    print(f"  cycles per training sample: {s['min_cycles_per_train_sample']}..{s['max_cycles_per_train_sample']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(s, indent=1))
    return 0 if ok else 1


def _plan_first(cfg: TrainConfig) -> int:
    """The first engine (hwtrain/hdl/trainer.py): its plan as before, as JSON."""
    from ..hdl.trainer import OnlineTrainer, plan
    p = plan(cfg)
    eng = OnlineTrainer(cfg)
    full = [k // g for k, g in zip(cfg.hidden, cfg.gamma)]
    print(json.dumps({"engine": "first (hwtrain/hdl/trainer.py; give pe/simd or --search for the folded engine)",
                      "sizes": p["sizes"], "row_bits": p["row_bits"], "ebr_blocks": p["ebr"],
                      "cmd_data_bits": p["data_bits"],
                      "cycles_per_sample_no_update": eng.cycles_per_sample(),
                      "cycles_per_sample_all_groups_update": eng.cycles_per_sample(full, True),
                      "bound_all_groups_update": eng.cycle_bound(full)}, indent=1))
    return 0


def _plan_folded(values: dict, args) -> int:
    from ..flows import trainer_plan as tp
    dev = tp.device(args.device or tp.DEFAULT_DEVICE)
    cfg = _folded_config(values)
    if args.search:
        found = tp.search(cfg, dev, top=args.top, headroom=args.headroom)
        best = found[0]
        print(_search_table(cfg, found, dev, args.clock_mhz, args.headroom))
        print()
        print(_verdict_text(best["config"], best["verdict"], args.clock_mhz))
        print(f"\nchosen configuration (hwtrain generate trainer_{best['config'].algorithm}_folded --config FILE):")
        print(json.dumps(best["config"].to_dict()))
        _write_json(args.json, {"search": [{"config": f["config"].to_dict(), **_jsonable(f["verdict"])}
                                           for f in found],
                                "chosen": best["config"].to_dict()})
        return 0
    v = tp.verdict(cfg, dev, args.clock_mhz)
    print(_verdict_text(cfg, v, args.clock_mhz))
    _write_json(args.json, {"config": cfg.to_dict(), **_jsonable(v)})
    if not v["fits"]:
        raise HwtrainError(tp.refusal(cfg, v))
    return 0


def _jsonable(v: dict) -> dict:
    return json.loads(json.dumps(v, default=str))


def _write_json(path, obj) -> None:
    if path:
        checked.prepare_output(path).write_text(json.dumps(obj, indent=1))
        print(f"wrote {path}")


def _net(cfg) -> str:
    return "-".join(map(str, (cfg.inputs,) + tuple(cfg.hidden)))


def _pct(u, t) -> str:
    return f"{100 * u / t:.0f}%"


def _verdict_text(cfg, v: dict, clock_mhz: float) -> str:
    r, t, e = v["resources"], v["device_totals"], v["model_error"]
    loo = e["leave_one_out_max"]
    head = (f"folded trainer {cfg.algorithm} {_net(cfg)} (B = {cfg.hidden_bits}, {cfg.classes} classes), "
            f"pe {list(cfg.pe)}, simd {list(cfg.simd)} on the {v['device']}: "
            + ("DOES NOT FIT (" + "; ".join(v["over"]) + ")" if not v["fits"]
               else "FITS (tight: " + "; ".join(v["tight"]) + ")" if v["tight"] else "FITS"))
    lines = [head, "",
             f"  {'resource':<8} {'need':>9} {'of':>9} {'use':>5}  how",
             f"  {'DP16KD':<8} {r['ebr']:>9,} {t['DP16KD']:>9,} {_pct(r['ebr'], t['DP16KD']):>5}  "
             f"{v['hidden_weight_ebr']} hidden-weight blocks (exact); small tables in LUT RAM",
             f"  {'COMB':<8} {r['comb']:>9,} {t['COMB']:>9,} {_pct(r['comb'], t['COMB']):>5}  "
             f"estimate: {v['pack']} x (LUT4 {r['lut4']:,} + 2 x CCU2C {r['carry']:,}); "
             f"LUT4 within {loo['lut4']:.0%}, CCU2C {loo['carry']:.0%} (leave-one-out, {e['points']} syntheses)",
             f"  {'FF':<8} {r['ff']:>9,} {t['FF']:>9,} {_pct(r['ff'], t['FF']):>5}  "
             f"estimate, within {loo['ff']:.0%} (leave-one-out)"]
    if cfg.batch > 1:
        lines.append("  (LUT/FF estimates are fitted on online engines; the mini-batch engine's single write path "
                     "per layer measured smaller: docs/trainer_folded.md, Mini-batch)")
    lines += ["",
             f"  {'layer':>5} {'fan-in':>6} {'K':>5} {'PE':>4} {'SIMD':>5} {'W':>4} {'NG':>4} {'S':>4}  "
             f"{'memory (PE x bits x depth)':<26} {'DP16KD':>6}"]
    for l, d in enumerate(v["layers"]):
        mem = f"{d['pe']} x {d['word_bits']}b x {d['mem_depth']}"
        lines.append(f"  {l + 1:>5} {d['fan_in']:>6} {d['neurons']:>5} {d['pe']:>4} {d['simd']:>5} "
                     f"{d['words']:>4} {d['groups']:>4} {d['period']:>4}  {mem:<26} {d['ebr']:>6}")
    c = v.get("cycles")
    if c:
        bep = ", backward sweeps run" if cfg.algorithm == "bep" else ""
        lines += ["",
                  f"  {'cycles per sample':<20} {'no update':>10} {'typical':>8} {'all groups update':>18}",
                  f"  {'engine':<20} {c['no_update']:>10} {c['typical']:>8} {c['all_groups_update']:>18}",
                  f"  {'bound of the folding':<20} {c['bound_no_update']:>10} {c['bound_typical']:>8} "
                  f"{c['bound_all_groups_update']:>18}",
                  f"  typical: {', '.join(map(str, c['typical_rows']))} of {', '.join(map(str, c['all_rows']))} "
                  f"winner rows updated per layer (half of the K/gamma groups, at least one{bep}; an assumption)",
                  f"  + reinforcement sweep: {c['reinforce_sweep']:,} clocks (bound {c['bound_reinforce_sweep']:,}) "
                  + (f"every {cfg.reinforce_every} samples" if cfg.batch == 1 else
                     f"every {cfg.reinforce_every} steps of {cfg.batch} samples")]
        if cfg.batch > 1:
            lines.append(f"  + apply sweep (mini-batch; accumulators in the weight memories from depth "
                         f"{', '.join(str(d['acc_offset']) for d in v['layers'])}): {c['apply_sweep']:,} clocks "
                         f"(bound {c['bound_apply_sweep']:,}) every {cfg.batch} samples")
        if cfg.overlap:
            a, b = c["stages_typical"]
            lines.append(f"  overlap: a typical sample takes {a} clocks in layer 0 and {b} in the layers above; "
                         f"a host that streams gets a response every max + 1 clocks")
        lines += [f"  typical with the sweeps amortised: {c['typical_total']:.1f} clocks "
                  f"(bound {c['bound_typical_total']:.1f}, {c['typical_total'] / c['bound_typical_total']:.2f}x)",
                  f"  samples/s at {clock_mhz:g} MHz: {c['samples_per_s_typical']:,.0f}"
                  f"  (the clock is an assumption until nextpnr measures Fmax)"]
    return "\n".join(lines)


def _search_table(cfg, found: list, dev, clock_mhz: float, headroom: float) -> str:
    lines = [f"PE/SIMD search: {cfg.algorithm} {_net(cfg)} (B = {cfg.hidden_bits}) on the {dev.name}, "
             f"fewest typical cycles per sample first (reinforcement amortised; ties: fewer resources);",
             f"estimated COMB and FF kept under {1 - headroom:.0%} of the device (--headroom {headroom:g}); "
             f"COMB/FF are estimates, DP16KD exact", "",
             f"  {'#':>2} {'pe':<14} {'simd':<16} {'cycles':>8} {'bound':>8} {'samples/s':>10} "
             f"{'DP16KD':>7} {'COMB':>14} {'FF':>14}"]
    for i, f in enumerate(found, 1):
        c, v = f["config"], f["verdict"]
        r, t = v["resources"], v["device_totals"]
        cy = v["cycles"]
        lines.append(f"  {i:>2} {str(list(c.pe)):<14} {str(list(c.simd)):<16} {cy['typical_total']:>8.1f} "
                     f"{cy['bound_typical_total']:>8.1f} {clock_mhz * 1e6 / cy['typical_total']:>10,.0f} "
                     f"{r['ebr']:>7} {r['comb']:>7,} ({_pct(r['comb'], t['COMB']):>4}) "
                     f"{r['ff']:>7,} ({_pct(r['ff'], t['FF']):>4})")
    return "\n".join(lines)
