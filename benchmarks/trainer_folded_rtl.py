"""The folded CP+R engine at 784-135-135 in Verilog (cocotb + Verilator) beside its golden twin on FashionMNIST.

    nice -n 10 .venv/bin/python benchmarks/trainer_folded_rtl.py --samples 2000 \\
        --data-path /usr/share/datasets/fashion-mnist --out benchmarks/results/trainer_folded_rtl.json
    nice -n 10 .venv/bin/python benchmarks/trainer_folded_rtl.py --samples 2000 --batch 100 --reinforce-every 1 \\
        --work build/trainer_folded_rtl_mb --out benchmarks/results/trainer_folded_rtl_minibatch.json
    nice -n 10 .venv/bin/python benchmarks/trainer_folded_rtl.py --algorithm bep --samples 2000 \\
        --work build/trainer_folded_rtl_bep --out benchmarks/results/trainer_folded_rtl_bep.json
    nice -n 10 .venv/bin/python benchmarks/trainer_folded_rtl.py --pe 4,2 --simd 112,68 --overlap --stream \\
        --samples 2000 --work build/trainer_folded_rtl_ov --out benchmarks/results/trainer_folded_rtl_overlap.json

One online epoch of the first ``--samples`` FashionMNIST training samples
(median-binarized), in the golden shuffled order, through the emitted Verilog
of the configuration synthesized by benchmarks/trainer_folded_synth.py:
every prediction, the clocks of every sample (``cycles_per_sample``), then
every hidden weight and every counter (hwtrain/benches/bench_trainer_folded.py). No stalls
by default (``--stall`` adds them on both streams). ``--stream`` sends every TRAIN of the epoch
without waiting for responses (how an ``--overlap`` engine holds two samples at once); the
clocks are then not compared (tests/test_trainer_folded.py checks a stream's clocks).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trainer_folded_synth import config, pair  # noqa: E402

from hwtrain.core.report import command_line  # noqa: E402
from hwtrain.flows.designs import generate  # noqa: E402
from hwtrain.flows.simulate import run_bench  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="784")
    ap.add_argument("--algorithm", default="cpr", choices=("cpr", "bep"), help="the rule of the --net config")
    ap.add_argument("--config", default=None,
                    help="a FoldedTrainConfig as JSON instead of --net (e.g. a small BEP engine)")
    ap.add_argument("--dataset", default=None, help="digits, fashion_mnist or random_prototypes")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=None, help="mini-batch size (default: the --net config's, 1)")
    ap.add_argument("--reinforce-every", type=int, default=None, help="steps between reinforcement sweeps")
    ap.add_argument("--pe", type=pair, default=None, help="PE of the two layers of --net (default: its FOLDING)")
    ap.add_argument("--simd", type=pair, default=None, help="SIMD of the two layers of --net")
    ap.add_argument("--overlap", action="store_true", help="cpr: layer 0 and layer 1 as two pipelined stages")
    ap.add_argument("--stream", action="store_true", help="send each epoch's TRAINs without waiting")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--stall", type=float, default=0.0)
    ap.add_argument("--data-path", default=None)
    ap.add_argument("--work", type=Path, default=Path("build/trainer_folded_rtl"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    command = command_line(argv)
    from hwtrain.golden.trainer_folded import FoldedTrainConfig
    cfg = FoldedTrainConfig.from_json(args.config) if args.config else config(args.net, args.algorithm, args.pe, args.simd,
                                                                                 args.overlap)
    changes = {k: v for k, v in (("batch", args.batch), ("reinforce_every", args.reinforce_every)) if v is not None}
    if changes:
        import dataclasses
        cfg = dataclasses.replace(cfg, **changes)
    t0 = time.perf_counter()
    path, info = generate(f"trainer_{cfg.algorithm}_folded", cfg, args.work)
    t_emit = time.perf_counter() - t0
    dataset = args.dataset or ("fashion_mnist" if cfg.inputs == 784 else "random_prototypes")
    s = run_bench(path, info["top"], "bench_trainer_folded",
                  {"config": cfg.to_dict(), "dataset": dataset, "data_path": args.data_path,
                   "epochs": args.epochs, "n_train": args.samples, "seed": 1,
                   "p_in_stall": args.stall, "p_out_stall": args.stall, "stream": args.stream})
    s.update(command=command, emit_seconds=t_emit, total_seconds=time.perf_counter() - t0)
    ok = s["failed"] == 0 and s["mismatches"] == 0
    print(f"{'BIT-EXACT' if ok else 'MISMATCH'}: {s['samples']} training samples of {info['top']}; "
          f"predictions, {'clocks, ' if s['cycle_checks'] else ''}all hidden weights and counters compared; "
          f"{s['mismatches']} differ; "
          + (f"clocks/sample {s['min_cycles_per_train_sample']}..{s['max_cycles_per_train_sample']}"
             if s["cycle_checks"] else "streamed (clocks not compared)"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(s, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "trainer_folded_rtl.py"))
