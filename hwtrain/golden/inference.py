"""Golden twin of :class:`hwtrain.hdl.inference.InferenceCore`."""

from __future__ import annotations

import numpy as np

from ..inference.config import InferenceConfig
from ..inference.model import BinaryMLP
from ..core import bits


class InferenceCore:
    """Classes (and logits) of a binary MLP, through packed XNOR/popcount.

    Every implementation of every layer (parallel, folded, serial) computes the
    same function; only cycles differ, and those are the configuration's
    formulas (``cfg.cycles_per_sample``, ``cfg.latency``).
    """

    def __init__(self, cfg: InferenceConfig, model: BinaryMLP | None = None):
        self.cfg = cfg
        self.model = (model or BinaryMLP.random(cfg)).check(cfg)
        self._w = [bits.pack(w) for w in self.model.weights]
        self._p = bits.pack(self.model.classifier)

    def thresholds(self, layer: int) -> np.ndarray:
        """A hidden neuron fires when its agreements reach ceil(K/2): sign(0) = +1;
        or the model's own per-neuron thresholds (imported networks)."""
        if self.model.thresholds is not None:
            return np.asarray(self.model.thresholds[layer], dtype=np.int64)
        k = self.cfg.sizes[layer]
        return np.full(self.cfg.sizes[layer + 1], (k + 1) // 2, dtype=np.int64)

    def activations(self, x) -> list[np.ndarray]:
        """Packed activations of every layer, starting with the input."""
        a = [bits.pack(x)]
        for l, w in enumerate(self._w):
            agree = bits.xnor_popcount(a[-1], w, self.cfg.sizes[l])
            a.append(bits.pack(agree >= self.thresholds(l)[None, :]))
        return a

    def __call__(self, x) -> tuple[np.ndarray, np.ndarray]:
        """``(classes, logits)`` for (S, K0) +-1 or 0/1 samples."""
        k = self.cfg.sizes[-1]
        agree = bits.xnor_popcount(self.activations(x)[-1], self._p, k)
        return np.argmax(agree, axis=1), 2 * agree - k
