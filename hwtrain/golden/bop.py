"""BOP (binary optimizer) in integer form: momentum memory, comparator, flip.

Golden twin of :class:`hwtrain.hdl.bop.Bop`. Rule, per synapse, with the
*loss* gradient ``g = dL/dw`` in {-1, 0, +1} (any ternary source) and the
binary weight ``w`` in {-1, +1} (bit 1 means +1):

    M <- saturate(M - trunc(M / 2**gamma_shift) + g, mom_bits)
    flip iff w * M > tau;  w <- -w where flipped

``M`` is the real-valued momentum divided by gamma: the real filter
``m <- (1 - gamma) m + gamma g`` with ``gamma = 2**-gamma_shift`` becomes, for
``M = m / gamma``, ``M <- M - gamma M + g``, so every ternary event moves M by
exactly one and ``tau = round(tau_real / gamma)`` on the host. The leak
``trunc(M / 2**k)`` rounds toward zero (``sign(M) * (|M| >> k)``): a floor
shift would leak positive and negative momenta differently (it never lets a
negative M shrink below 2**k in magnitude but drains a positive one), a bias
the weights would feel. When ``gamma_shift >= mom_bits - 1`` the leak is always
0 and M is a plain saturating up/down counter.

The flip condition is larq's ``Bop``: the momentum of the loss gradient agrees
in sign with the weight and exceeds tau in magnitude, so stepping the weight
against the gradient (flipping it) lowers the loss. The momentum is not reset
by a flip: afterwards ``w * M < -tau`` and the weight can only flip back once
the gradient's average has changed sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ConfigBase
from ..errors import require
from ..core.bits import sat_bounds, saturate


def _int(name: str, value, lo: int, hi: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo
    ok = ok and (hi is None or value <= hi)
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    require(ok, f"{name} must be an integer {rng}, got {value!r}")


@dataclass(frozen=True)
class BopConfig(ConfigBase):
    """A BOP memory of ``rows`` x ``lanes`` momenta, updated one row at a time.

    lanes        synapses updated in parallel (one row of the weight matrix).
    rows         rows in the momentum memory.
    mom_bits     signed momentum width N (symmetric saturation, see bits.saturate).
    gamma_shift  k, gamma = 2**-k; the leak is trunc(M / 2**k).
    tau          integer flip threshold in units of one gradient event, 0 <= tau < 2**(N-1) - 1.
    """

    lanes: int = 8
    rows: int = 4
    mom_bits: int = 8
    gamma_shift: int = 4
    tau: int = 2

    def __post_init__(self):
        _int("lanes", self.lanes, 1)
        _int("rows", self.rows, 1)
        _int("mom_bits", self.mom_bits, 2, 32)
        _int("gamma_shift", self.gamma_shift, 1, 32)
        top = sat_bounds(self.mom_bits)[1]
        require(isinstance(self.tau, int) and 0 <= self.tau < top,
                f"tau must be an integer in [0, {top - 1}] for {self.mom_bits}-bit momenta "
                f"(a larger tau never flips), got {self.tau!r}")

    @property
    def row_width(self) -> int:
        return (self.rows - 1).bit_length() or 1



def leak(m: np.ndarray, gamma_shift: int) -> np.ndarray:
    """``trunc(m / 2**gamma_shift)``: arithmetic shift rounding toward zero."""
    m = np.asarray(m, dtype=np.int64)
    return np.where(m < 0, -((-m) >> gamma_shift), m >> gamma_shift)


def bop_update(w: np.ndarray, m: np.ndarray, g: np.ndarray, *, mom_bits: int,
               gamma_shift: int, tau: int):
    """One BOP step on arrays of any (equal) shape.

    ``w`` bool (True = +1), ``m`` integer momenta, ``g`` loss gradient in
    {-1, 0, 1}. Returns ``(w_new, m_new, flips)``; nothing is modified in place.
    """
    m = np.asarray(m, dtype=np.int64)
    m_new = saturate(m - leak(m, gamma_shift) + np.asarray(g, dtype=np.int64), mom_bits)
    w = np.asarray(w, dtype=bool)
    flips = np.where(w, m_new, -m_new) > tau
    return w ^ flips, m_new, flips


class Bop:
    """Momentum memory of ``cfg.rows`` rows; ``step`` updates one row like the hardware."""

    def __init__(self, cfg: BopConfig):
        self.cfg = cfg
        self.momenta = np.zeros((cfg.rows, cfg.lanes), dtype=np.int64)

    def step(self, row: int, w: np.ndarray, g: np.ndarray):
        """Update row ``row`` with weights ``w`` (bool, lanes) and gradient ``g``;
        return ``(w_new, flips)`` and store the new momenta."""
        require(0 <= row < self.cfg.rows, f"row {row} outside the momentum memory (0..{self.cfg.rows - 1})")
        w_new, self.momenta[row], flips = bop_update(
            w, self.momenta[row], g, mom_bits=self.cfg.mom_bits,
            gamma_shift=self.cfg.gamma_shift, tau=self.cfg.tau)
        return w_new, flips
