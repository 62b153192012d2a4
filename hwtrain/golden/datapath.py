"""Golden twin of :class:`hwtrain.hdl.datapath.XnorPopcountArray`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import DatapathConfig
from ..errors import require
from ..core import bits
from ..core.prng import Xorshift32


@dataclass(frozen=True)
class DatapathParams:
    """Weights (N, K) as 0/1 bits (1 means +1) and integer thresholds (N,).

    Neuron j fires (output bit 1, meaning +1) when its popcount of agreements
    reaches its threshold: ``popcount_j >= thresholds[j]``. A bias-free
    ``sign(w . x)`` with sign(0) = +1 is the threshold ``ceil(K / 2)``; a
    threshold of 0 always fires and K + 1 never does.
    """

    weights: np.ndarray
    thresholds: np.ndarray

    def check(self, cfg: DatapathConfig) -> "DatapathParams":
        w = np.asarray(self.weights)
        t = np.asarray(self.thresholds)
        require(w.shape == (cfg.neurons, cfg.inputs),
                f"weights have shape {w.shape}, expected (N, K) = ({cfg.neurons}, {cfg.inputs})")
        require(t.shape == (cfg.neurons,),
                f"thresholds have shape {t.shape}, expected (N,) = ({cfg.neurons},)")
        require(bool(((t >= 0) & (t <= cfg.inputs + 1)).all()),
                f"thresholds must lie in 0..K+1 = 0..{cfg.inputs + 1}, got {t.min()}..{t.max()}")
        return DatapathParams(bits._as_bits(w), t.astype(np.int64))

    @classmethod
    def random(cls, cfg: DatapathConfig) -> "DatapathParams":
        """Weights and thresholds drawn from the shared PRNG (one lane per neuron).

        Weight bits are bit 31 of the first K draws of each lane; the threshold is
        the number of ones among the next K bits, so it sits near K/2 like the
        popcounts of random inputs and the output bits are not constant.
        """
        g = Xorshift32(cfg.seed, cfg.neurons)
        w = g.bits(cfg.inputs).T
        t = g.bits(cfg.inputs).sum(axis=0)
        return cls(w, t.astype(np.int64))


class XnorPopcountArray:
    """N neurons, each counting agreements between its K weights and the input.

    ``__call__`` takes samples as (S, K) +-1 / 0-1 values or (S, words) packed
    words and returns ``(fire, popcount)``: (S, N) booleans and (S, N) int32.
    """

    def __init__(self, cfg: DatapathConfig, params: DatapathParams | None = None):
        self.cfg = cfg
        self.params = (params or DatapathParams.random(cfg)).check(cfg)
        self.w_words = bits.pack(self.params.weights)

    def __call__(self, x, *, packed: bool = False):
        k = self.cfg.inputs
        x_words = np.asarray(x, dtype=np.uint64) if packed else bits.pack(x)
        if x_words.ndim == 1:
            x_words = x_words[None, :]
        pop = bits.xnor_popcount(x_words, self.w_words, k)
        return pop >= self.params.thresholds[None, :], pop
