"""Golden model of the simulated-annealing Ising machine (spec: docs/semantics_qubo.md).

Integer Ising problem ``E(s) = sum_i h_i s_i + sum_{i<j} J_ij s_i s_j`` over spins
s in {-1,+1} (bit 1 = +1). Local fields ``f_i = h_i + sum_j J_ij s_j`` are kept up to
date; flipping spin k costs ``dE = 2u`` with ``u = -s_k f_k``.

Run of one lane (lanes = independent restarts, each its own PRNG lane):

1. reset: every spin -1, fields ``h - J.1``, energy ``E(-1)`` (host-computed).
2. init sweep: for k = 0..n-1 one draw; flip k iff bit 31 of the draw is 1.
3. for each temperature step t, ``sweeps`` sweeps; each visits k = 0..n-1 in order with
   one draw r: accept iff ``u <= 0`` or ``(1 <= u <= D and r < lut[t, u-1])``.
4. an accepted flip: ``E += 2u``, ``f_i += 2 J_ik s_k'`` for all i (``J_kk = 0``), ``s_k = -s_k``.

The energy trace is E after the init sweep and after every sweep (1 + steps*sweeps values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import ConfigBase
from ..errors import require
from ..core.prng import MASK32, generator, threshold


def signed_width(bound: int) -> int:
    """Bits of a two's-complement value holding -bound..bound."""
    return max(int(bound).bit_length() + 1, 2)


@dataclass
class IsingProblem:
    """Integer Ising problem: ``h`` (n,), symmetric ``J`` (n, n) with zero diagonal."""
    h: np.ndarray
    J: np.ndarray
    offset: int = 0          # E_qubo * scale = E_ising + offset (bookkeeping only)
    scale: int = 1

    def __post_init__(self):
        self.h = np.asarray(self.h)
        self.J = np.asarray(self.J)
        require(self.h.ndim == 1 and self.h.size >= 1, f"h must be a non-empty vector, got shape {self.h.shape}")
        n = self.h.size
        require(self.J.shape == (n, n), f"J must be ({n}, {n}) for {n} spins, got {self.J.shape}")
        for name, a in (("h", self.h), ("J", self.J)):
            require(np.issubdtype(a.dtype, np.integer) or bool((a == np.round(a)).all()),
                    f"Ising {name} must hold integers")
        self.h, self.J = self.h.astype(np.int64), self.J.astype(np.int64)
        require(bool((self.J == self.J.T).all()), "J must be symmetric")
        require(not self.J.diagonal().any(), "J must have a zero diagonal (no self-couplings)")

    @property
    def n(self) -> int:
        return self.h.size

    @classmethod
    def from_qubo(cls, q) -> "IsingProblem":
        """Exact integer Ising form of an integer QUBO: x = (s+1)/2, everything times 4."""
        J = np.zeros((q.n, q.n), dtype=np.int64)
        J[q.rows, q.cols] = q.vals
        J = J + J.T
        h = 2 * q.linear + J.sum(1)
        offset = 4 * q.offset + 2 * int(q.linear.sum()) + int(q.vals.sum())
        return cls(h, J, offset, 4)

    @classmethod
    def random(cls, n: int, seed: int, *, jmax: int = 7, density: float = 0.5) -> "IsingProblem":
        """A random problem from the shared PRNG (lane i draws row i; used by tests/benches)."""
        d = generator(seed, n).draws(2 * n + 1).astype(np.int64)         # (2n+1, n)
        vals = (d[:n] % (2 * jmax + 1)) - jmax
        keep = d[n:2 * n] < int(density * 2**32)
        J = np.triu(np.where(keep, vals, 0).T, 1)
        return cls((d[2 * n] % (2 * jmax + 1)) - jmax, J + J.T)

    def energy(self, spins) -> np.ndarray:
        s = np.atleast_2d(np.asarray(spins, dtype=np.int64))
        return s @ self.h + ((s @ self.J) * s).sum(1) // 2

    @property
    def field_bound(self) -> int:
        return int((np.abs(self.h) + np.abs(self.J).sum(1)).max())

    @property
    def energy_bound(self) -> int:
        return int(np.abs(self.h).sum() + np.abs(self.J).sum() // 2)


@dataclass(frozen=True)
class Schedule(ConfigBase):
    """Geometric inverse temperatures ``betas`` (energy units of the integer problem),
    ``sweeps`` sweeps per step, uphill moves up to ``lut_depth`` (a power of two)."""
    betas: tuple[float, ...]
    sweeps: int = 1
    lut_depth: int = 256

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(self.betas))
        require(len(self.betas) >= 1, "a schedule needs at least one temperature step")
        require(all(b > 0 and math.isfinite(b) for b in self.betas), "inverse temperatures must be positive")
        require(self.sweeps >= 1, f"sweeps per step must be >= 1, got {self.sweeps}")
        d = self.lut_depth
        require(d >= 1 and d & (d - 1) == 0, f"lut_depth must be a power of two, got {d}")

    @classmethod
    def geometric(cls, problem: IsingProblem, steps: int, sweeps: int = 1, *, lut_depth: int = 256,
                  hot: float = 0.5, cold: float = 0.01) -> "Schedule":
        """Hot: the largest uphill move accepted with probability ``hot``; cold: the smallest
        non-zero one with probability ``cold`` (the rule dwave-samplers uses by default)."""
        require(steps >= 1, f"need at least one temperature step, got {steps}")
        mags = np.concatenate([np.abs(problem.h), np.abs(problem.J[np.triu_indices(problem.n, 1)])])
        nz = mags[mags > 0]
        big = 2 * max(problem.field_bound, 1)
        small = 2 * (int(nz.min()) if nz.size else 1)
        b0, b1 = math.log(1 / hot) / big, math.log(1 / cold) / small
        betas = tuple(float(b0 * (b1 / b0) ** (i / max(steps - 1, 1))) for i in range(steps)) \
            if steps > 1 else (b1,)
        return cls(betas, sweeps, lut_depth)

    def lut(self) -> np.ndarray:
        """(steps, D) uint32: ``lut[t, u-1] = min(threshold(exp(-2 u beta_t)), 2^32 - 1)``."""
        u = np.arange(1, self.lut_depth + 1)
        out = np.empty((len(self.betas), self.lut_depth), dtype=np.uint32)
        for t, b in enumerate(self.betas):
            out[t] = [min(threshold(math.exp(-2.0 * b * v)), MASK32) for v in u]
        return out


class Annealer:
    """Simulated annealing of ``problem`` in ``lanes`` independent restarts (PRNG lanes
    ``lane_seed(seed, i)``; lane 0 is what the hardware annealer with ``seed`` computes)."""

    def __init__(self, problem: IsingProblem, schedule: Schedule, seed: int = 1, lanes: int = 1):
        self.problem, self.schedule = problem, schedule
        self.seed, self.lanes = seed, lanes
        self.lut = schedule.lut().astype(np.int64)
        J = problem.J
        # neighbour lists: updating only non-zero couplings gives the same integers as a dense row
        self.nbr = [np.flatnonzero(J[:, k]) for k in range(problem.n)]
        self.nbr_j2 = [2 * J[idx, k] for k, idx in enumerate(self.nbr)]

    @staticmethod
    def reset_state(problem: IsingProblem) -> tuple[np.ndarray, int]:
        """Fields and energy with every spin -1 (the hardware's reset values)."""
        return problem.h - problem.J.sum(1), int(-problem.h.sum() + problem.J.sum() // 2)

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        """Final spins (lanes, n) in {-1,+1} and the energy trace (lanes, 1 + steps*sweeps)."""
        p, sch = self.problem, self.schedule
        n, L, D = p.n, self.lanes, sch.lut_depth
        f0, e0 = self.reset_state(p)
        s = -np.ones((L, n), dtype=np.int64)
        f = np.tile(f0, (L, 1))
        e = np.full(L, e0, dtype=np.int64)
        rng = generator(self.seed, L)
        lanes = np.arange(L)
        trace = []

        def sweep(lut_row):
            for k in range(n):
                r = rng.next().astype(np.int64)
                u = -s[:, k] * f[:, k]
                if lut_row is None:
                    acc = (r >> 31) == 1
                else:
                    thr = lut_row[np.clip(u - 1, 0, D - 1)]
                    acc = (u <= 0) | ((u <= D) & (r < thr))
                if not acc.any():
                    continue
                w = lanes[acc]
                e[w] += 2 * u[w]
                s[w, k] = -s[w, k]
                idx = self.nbr[k]
                if idx.size:
                    f[np.ix_(w, idx)] += s[w, k][:, None] * self.nbr_j2[k][None, :]
            trace.append(e.copy())

        sweep(None)
        for t in range(len(sch.betas)):
            for _ in range(sch.sweeps):
                sweep(self.lut[t])
        return s, np.stack(trace, axis=1)


def spins_to_bits(spins) -> np.ndarray:
    return (np.asarray(spins) > 0).astype(np.int8)


def widths(problem: IsingProblem) -> dict:
    """Register widths the hardware needs for this problem (two's complement)."""
    f0, e0 = Annealer.reset_state(problem)
    return {"coupling": signed_width(int(np.abs(problem.J).max(initial=0))),
            "field": signed_width(max(problem.field_bound, int(np.abs(f0).max()))),
            "energy": signed_width(max(problem.energy_bound, abs(e0)))}


@dataclass(frozen=True)
class AnnealerConfig(ConfigBase):
    """Everything that decides a bit of the hardware annealer: problem, schedule, seed."""
    h: tuple
    J: tuple                 # rows of the symmetric coupling matrix
    betas: tuple
    sweeps: int = 1
    lut_depth: int = 16
    seed: int = 1

    @classmethod
    def make(cls, problem: IsingProblem, schedule: Schedule, seed: int = 1) -> "AnnealerConfig":
        return cls(tuple(int(v) for v in problem.h), tuple(tuple(int(v) for v in r) for r in problem.J),
                   tuple(schedule.betas), schedule.sweeps, schedule.lut_depth, seed)

    @classmethod
    def from_dict(cls, d: dict) -> "AnnealerConfig":
        from ..config import config_from_dict
        cfg = config_from_dict(cls, d)
        n = len(cfg.h) if isinstance(cfg.h, tuple) else -1

        def ints(v):
            return all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        require(n >= 1 and ints(cfg.h), f"AnnealerConfig h must be a non-empty list of integers, got {cfg.h!r}")
        require(isinstance(cfg.J, tuple) and len(cfg.J) == n
                and all(isinstance(r, tuple) and len(r) == n and ints(r) for r in cfg.J),
                f"AnnealerConfig J must be a {n} x {n} integer matrix")
        require(isinstance(cfg.betas, tuple) and len(cfg.betas) >= 1
                and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < float("inf")
                        for b in cfg.betas),
                "AnnealerConfig betas must be a non-empty list of finite non-negative numbers")
        for name in ("sweeps", "lut_depth"):
            require(getattr(cfg, name) >= 1, f"AnnealerConfig {name} must be >= 1, got {getattr(cfg, name)}")
        require(cfg.seed >= 0, f"AnnealerConfig seed must be >= 0, got {cfg.seed}")
        return cfg

    def problem(self) -> IsingProblem:
        return IsingProblem(np.array(self.h), np.array(self.J))

    def schedule(self) -> Schedule:
        return Schedule(tuple(self.betas), self.sweeps, self.lut_depth)

    def to_dict(self) -> dict:
        return {"h": list(self.h), "J": [list(r) for r in self.J], "betas": list(self.betas),
                "sweeps": self.sweeps, "lut_depth": self.lut_depth, "seed": self.seed}

    def trace_length(self) -> int:
        return 1 + len(self.betas) * self.sweeps


# ECP5 LFE5U-85F: 208 EBR of 18 kbit, 83,640 LUT4 / FF.
DEVICES = {"ecp5-85": {"ebr_bits": 208 * 18 * 1024, "ebr": 208, "ff": 83_640}}
# (depth, width) configurations of one ECP5 EBR (DP16KD / PDPW16KD)
EBR_MODES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def ebr_blocks(depth: int, width: int) -> int:
    """EBRs for a depth x width memory in the best single configuration (0 if width is 0)."""
    if not width or not depth:
        return 0
    return min(-(-depth // d) * -(-width // w) for d, w in EBR_MODES)


def _varying_bit_columns(words: np.ndarray, width: int) -> int:
    """Bit columns of a ROM (rows = fields/entries, columns = addresses) that are not the same
    at every address; yosys removes the constant ones before mapping to EBR."""
    return int(sum(((((words >> b) & 1).min(1)) != (((words >> b) & 1).max(1))).sum() for b in range(width)))


def hardware_cost(problem: IsingProblem, schedule: Schedule) -> dict:
    """Memory bits, EBRs and registers the hardware annealer needs for this problem.

    EBRs: each memory at its depth and its *non-constant* width (yosys drops data bits that
    are equal at every address) in the best EBR configuration. Checked against yosys: the
    631-spin digits problem (docs/qubo.md) gives 270 + 8 = 278, what yosys mapped; the 64-spin
    random problem gives 9 + 16, one more than yosys' 24.
    """
    w = widths(problem)
    n = problem.n
    jw = w["coupling"]
    coupling_ebr = ebr_blocks(n, _varying_bit_columns(problem.J & ((1 << jw) - 1), jw))
    lut = schedule.lut().astype(np.int64).reshape(1, -1)
    lut_ebr = ebr_blocks(lut.size, _varying_bit_columns(lut, 32))
    return {"coupling_bits": n * n * jw, "lut_bits": len(schedule.betas) * schedule.lut_depth * 32,
            "coupling_ebr": coupling_ebr, "lut_ebr": lut_ebr, "ebr": coupling_ebr + lut_ebr,
            "field_ff": n * w["field"], **w}


def check_fits(problem: IsingProblem, schedule: Schedule, device: str = "ecp5-85") -> dict:
    """Refuse, with the numbers, a problem whose memories or registers exceed ``device``."""
    require(device in DEVICES, f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    c, d = hardware_cost(problem, schedule), DEVICES[device]
    bits = c["coupling_bits"] + c["lut_bits"]
    require(bits <= d["ebr_bits"], f"{problem.n} spins need {bits} block-RAM bits (couplings {c['coupling_bits']}, "
                                   f"LUT {c['lut_bits']}), {device} has {d['ebr_bits']}")
    require(c["ebr"] <= d["ebr"], f"{problem.n} spins need {c['ebr']} EBR (couplings {c['coupling_ebr']}: "
                                  f"{problem.n} deep x {problem.n} fields of {c['coupling']} bits; LUT "
                                  f"{c['lut_ebr']}), {device} has {d['ebr']}")
    require(c["field_ff"] + problem.n <= d["ff"], f"{problem.n} spins need {c['field_ff'] + problem.n} field/spin "
                                                  f"registers, {device} has {d['ff']}")
    return c
