"""hwtrain's annealer (golden model = what the hardware computes, lane by lane) against
dwave-samplers' SimulatedAnnealingSampler on the same problems and sweep budget.

    nice -n 10 .venv/bin/python benchmarks/qubo_solvers.py --out benchmarks/results/qubo_solvers.json

Problems: random integer Ising problems (n spins, |J| <= 15, density 0.5) and BNN-training
QUBOs of 4x4 digits. Both solvers get ``--sweeps`` sweeps per restart and ``--restarts``
restarts; energies are compared in QUBO units (Ising problems: Ising units). The gap is
(E_hwtrain - E_dwave) / |E_dwave| of the best restart, and of the mean over restarts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hwtrain.golden.annealer import Annealer, IsingProblem, Schedule
from hwtrain.qubo.formulation import Penalties, Topology, build_qubo
from hwtrain.qubo.train import digits_4x4


def run_dwave(h, J, sweeps, restarts, seed):
    import dimod
    from dwave.samplers import SimulatedAnnealingSampler
    n = len(h)
    iu = np.triu_indices(n, 1)
    nz = J[iu] != 0
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(h.astype(float), (iu[0][nz], iu[1][nz], J[iu][nz].astype(float)),
                                                        0.0, dimod.SPIN)
    t0 = time.perf_counter()
    ss = SimulatedAnnealingSampler().sample(bqm, num_reads=restarts, num_sweeps=sweeps, seed=seed,
                                            beta_schedule_type="geometric")
    return ss.record.energy.astype(np.int64), time.perf_counter() - t0


def run_hwtrain(p, sweeps, restarts, seed, steps, lut_depth):
    sch = Schedule.geometric(p, steps, max(sweeps // steps, 1), lut_depth=lut_depth)
    t0 = time.perf_counter()
    s, _ = Annealer(p, sch, seed, restarts).run()
    return p.energy(s), time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeps", type=int, default=1000)
    ap.add_argument("--restarts", type=int, default=8)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lut-depth", type=int, default=1024)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    problems = [(f"ising n={n} seed={s}", IsingProblem.random(n, s, jmax=15), 1)
                for n in (64, 256) for s in (1, 2)]
    from hwtrain.golden.train.classifier import random_classifier
    for classes, hidden, samples, fixed in (((0, 1), (3,), 12, True), ((0, 1, 2), (5,), 10, False)):
        x, y, _, _ = digits_4x4(classes, n_train=samples, seed=1)
        clf = random_classifier(1, len(classes), hidden[-1]) if fixed else None
        q = build_qubo(x, y, Topology((17,) + hidden, len(classes)), Penalties(), classifier=clf)
        problems.append((f"bnn {len(classes)} classes 17-{hidden[0]}-{len(classes)} "
                         f"{'fixed' if fixed else 'trained'} classifier N={samples} ({q.n} vars)",
                         IsingProblem.from_qubo(q), 4))
    rows = []
    for name, p, scale in problems:
        off = p.offset
        e_dw, t_dw = run_dwave(p.h, p.J, args.sweeps, args.restarts, 1)
        e_hw, t_hw = run_hwtrain(p, args.sweeps, args.restarts, 1, args.steps, args.lut_depth)
        e_dw, e_hw = (e_dw + off) / scale, (e_hw + off) / scale
        best_dw, best_hw = float(e_dw.min()), float(e_hw.min())
        row = {"problem": name, "spins": p.n, "dwave_best": best_dw, "hwtrain_best": best_hw,
               "dwave_mean": float(e_dw.mean()), "hwtrain_mean": float(e_hw.mean()),
               "gap_best": (best_hw - best_dw) / max(abs(best_dw), 1e-9),
               "gap_mean": (e_hw.mean() - e_dw.mean()) / max(abs(e_dw.mean()), 1e-9),
               "dwave_seconds": t_dw, "hwtrain_seconds": t_hw,
               "dwave_updates_per_s": args.restarts * args.sweeps * p.n / t_dw,
               "hwtrain_golden_updates_per_s": args.restarts * args.sweeps * p.n / t_hw}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("| problem | dwave best / mean | hwtrain best / mean | gap best | gap mean |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['problem']} | {r['dwave_best']:g} / {r['dwave_mean']:.1f} | {r['hwtrain_best']:g} / "
              f"{r['hwtrain_mean']:.1f} | {100 * r['gap_best']:+.1f}% | {100 * r['gap_mean']:+.1f}% |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"benchmark": "qubo_solvers", "args": vars(args) | {"out": str(args.out)},
                                        "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "qubo_solvers.py"))
