"""``hwtrain trainer ...``: the on-chip online training engines (CP+R, BEP).

    hwtrain trainer plan --config '{"algorithm": "cpr", "inputs": 64, "hidden": [128], "classes": 10, "batch": 1}'
    hwtrain trainer rtl  --config @cfg.json --dataset digits --epochs 2

``plan`` checks that the engine fits (one-line error otherwise) and prints its
sizes and cycle counts; ``rtl`` emits the Verilog and trains it for whole
epochs beside the golden model (cocotb + Verilator, hwtrain/benches/bench_trainer.py).
``--config`` is a TrainConfig as JSON, or @file.json; ``batch`` must be 1.
Synthesis: ``hwtrain synth trainer_cpr --config cfg.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from .. import args as checked
from ..golden.train.config import TrainConfig


def _config(text: str) -> TrainConfig:
    from ..args import read_config_text
    return TrainConfig.from_dict(read_config_text(text))


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("trainer", help="on-chip online training engines (cpr, bep)",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="trainer_command", required=True)
    a = sub.add_parser("plan", help="check that the engine fits; sizes and cycles per sample")
    a.add_argument("--config", required=True, help="TrainConfig as a JSON file, @file or inline JSON")
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
    cfg = _config(args.config)
    from ..hdl.trainer import OnlineTrainer, plan
    if args.trainer_command == "plan":
        p = plan(cfg)
        eng = OnlineTrainer(cfg)
        full = [k // g for k, g in zip(cfg.hidden, cfg.gamma)]
        print(json.dumps({"sizes": p["sizes"], "row_bits": p["row_bits"], "ebr_blocks": p["ebr"],
                          "cmd_data_bits": p["data_bits"],
                          "cycles_per_sample_no_update": eng.cycles_per_sample(),
                          "cycles_per_sample_all_groups_update": eng.cycles_per_sample(full, True),
                          "bound_all_groups_update": eng.cycle_bound(full)}, indent=1))
        return 0
    from ..flows.designs import generate
    from ..flows.simulate import run_bench
    plan(cfg)                               # refuse an engine that cannot be built before emitting it
    with tempfile.TemporaryDirectory() as tmp:
        path, info = generate(f"trainer_{cfg.algorithm}", cfg, Path(tmp))
        s = run_bench(path, info["top"], "bench_trainer",
                      {"config": cfg.to_dict(), "dataset": args.dataset, "epochs": args.epochs,
                       "n_train": args.n_train, "n_test": args.n_test, "seed": 1,
                       "p_in_stall": args.stall, "p_out_stall": args.stall},
                      progress=lambda text: print(f"  {text} ...", flush=True))
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
