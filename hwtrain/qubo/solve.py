"""Solvers for a :class:`~hwtrain.qubo.formulation.Qubo`: dwave-samplers' simulated annealing
(the reference) and hwtrain's golden annealer (the spec of the hardware)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import HwtrainError, require
from ..golden.annealer import Annealer, IsingProblem, Schedule
from .formulation import Qubo

SOLVERS = ("dwave", "annealer")


@dataclass
class Solution:
    x: np.ndarray               # best 0/1 assignment (n,)
    energy: int                 # its QUBO energy
    energies: np.ndarray        # QUBO energy of every restart
    seconds: float
    spin_updates: int           # spin visits performed (restarts * sweeps * n)
    samples: np.ndarray | None = None   # every restart's final assignment (restarts, n)

    @property
    def updates_per_s(self) -> float:
        return self.spin_updates / max(self.seconds, 1e-9)


def annealer_schedule(ip: IsingProblem, sweeps: int, steps: int = 0, lut_depth: int = 1024) -> Schedule:
    """The golden annealer's schedule ``solve`` uses: ``steps`` (default sweeps // 10, at
    least 1) geometric steps of ``sweeps // steps`` sweeps each, LUT depth ``lut_depth``."""
    steps = steps or max(sweeps // 10, 1)
    return Schedule.geometric(ip, steps, max(sweeps // steps, 1), lut_depth=lut_depth)


def solve(q: Qubo, solver: str = "dwave", *, sweeps: int = 1000, restarts: int = 4, seed: int = 1,
          steps: int = 0, lut_depth: int = 1024) -> Solution:
    """Anneal ``q`` with ``restarts`` independent runs of ``sweeps`` sweeps; keep the best.

    The annealer uses ``steps`` temperature steps (default: sweeps // 10, at least 1)
    of ``sweeps // steps`` sweeps each.
    """
    require(solver in SOLVERS, f"unknown solver {solver!r}; expected one of {', '.join(SOLVERS)}")
    require(sweeps >= 1 and restarts >= 1, f"need sweeps >= 1 and restarts >= 1, got {sweeps}, {restarts}")
    if solver == "dwave":
        try:
            from dwave.samplers import SimulatedAnnealingSampler
        except ImportError:
            raise HwtrainError("the dwave solver needs dwave-samplers (pip install 'hwtrain[qubo]')") from None
        bqm = q.to_bqm()
        t0 = time.perf_counter()
        ss = SimulatedAnnealingSampler().sample(bqm, num_reads=restarts, num_sweeps=sweeps,
                                                 seed=seed, beta_schedule_type="geometric")
        sec = time.perf_counter() - t0
        X = ss.record.sample.astype(np.int8)
        order = list(ss.variables)
        x = np.zeros_like(X)
        x[:, order] = X
    else:
        ip = IsingProblem.from_qubo(q)
        sch = annealer_schedule(ip, sweeps, steps, lut_depth)
        t0 = time.perf_counter()
        s, _ = Annealer(ip, sch, seed, restarts).run()
        sec = time.perf_counter() - t0
        x = (s > 0).astype(np.int8)
        sweeps = 1 + len(sch.betas) * sch.sweeps
    e = q.energy(x)
    best = int(np.argmin(e))
    return Solution(x[best], int(e[best]), e, sec, restarts * sweeps * q.n, x)
