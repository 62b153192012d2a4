"""A trained (or random) binary MLP as hardware sees it: +-1 weights and a +-1 classifier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import HwtrainError, require
from ..core import bits
from ..core.prng import Xorshift32


@dataclass
class BinaryMLP:
    """``weights[l]`` is (K_{l+1}, K_l) in {-1, +1}; ``classifier`` is (C, K_L) in {-1, +1}.

    Hidden layers compute ``sign(W a)`` with sign(0) = +1, i.e. a neuron fires
    when its agreements reach ``ceil(K / 2)``; logits are ``P a_L``; the class is
    the argmax with the lowest index winning ties.

    ``thresholds`` (optional, one (K_{l+1},) integer array per hidden layer in
    0..K_l+1) replaces ``ceil(K / 2)`` per neuron: neuron j of layer l fires when
    its agreements reach ``thresholds[l][j]`` (folded biases and batch norms of
    imported networks, docs/qonnx.md; 0 always fires, K_l + 1 never does).
    """

    weights: list
    classifier: np.ndarray
    thresholds: list | None = None

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    @property
    def classes(self) -> int:
        return self.classifier.shape[0]

    def check(self, cfg) -> "BinaryMLP":
        require(self.sizes == cfg.sizes,
                f"model sizes {list(self.sizes)} do not match the configuration's {list(cfg.sizes)}")
        require(self.classes == cfg.classes,
                f"model has {self.classes} classes, the configuration says {cfg.classes}")
        for l, w in enumerate(self.weights + [self.classifier]):
            require(np.isin(w, (-1, 1)).all(), f"matrix {l} of the model holds values other than +-1")
        if self.thresholds is not None:
            require(len(self.thresholds) == len(self.weights),
                    f"model has {len(self.thresholds)} threshold vectors for {len(self.weights)} layers")
            for l, (t, w) in enumerate(zip(self.thresholds, self.weights)):
                t = np.asarray(t)
                require(t.shape == (w.shape[0],) and t.dtype.kind in "iu",
                        f"thresholds of layer {l} are a {t.dtype} array of shape {t.shape}, "
                        f"expected ({w.shape[0]},) integers")
                require(t.size == 0 or (int(t.min()) >= 0 and int(t.max()) <= w.shape[1] + 1),
                        f"thresholds of layer {l} must lie in 0..K+1 = 0..{w.shape[1] + 1}")
        return self

    @classmethod
    def random(cls, cfg) -> "BinaryMLP":
        """Weights from the shared PRNG: layer l row j is lane j of seed ``cfg.seed + l``;
        the classifier uses seed ``cfg.seed + L``."""
        mats = []
        for l in range(cfg.layers + 1):
            k = cfg.sizes[l]
            n = cfg.sizes[l + 1] if l < cfg.layers else cfg.classes
            mats.append(Xorshift32(cfg.seed + l, n).bits(k).T.astype(np.int8) * 2 - 1)
        return cls(mats[:-1], mats[-1])

    @classmethod
    def load(cls, path) -> "BinaryMLP":
        """Read the visible weights sign(H) and the output classifier from a model
        file written by ``hwtrain train`` (docs/model_format.md)."""
        from ..golden.train.model import read_meta
        meta, arrays = read_meta(path)
        algo = meta["config"]["algorithm"]
        if algo not in ("cpr", "bep", "qubo", "qonnx", "ste"):
            raise HwtrainError(f"{path} holds a {algo} model; inference cores take binary MLPs "
                               f"trained by cpr, bep, qubo or ste, or imported from QONNX")
        p_names = sorted((k for k in arrays if k.startswith("P") and k[1:].isdigit()),
                         key=lambda k: int(k[1:]))
        require(p_names, f"{path} holds no classifier")
        weights, fan_in = [], None
        for name in meta["matrices"] + [p_names[-1]]:
            require(name in arrays, f"{path}: matrix {name} is missing")
            h = arrays[name]
            require(h.dtype.kind in "iu" and h.ndim == 2 and h.size > 0,
                    f"{path}: {name} is a {h.dtype} array of shape {h.shape}, expected a non-empty "
                    f"integer matrix")
            require(fan_in is None or h.shape[1] == fan_in,
                    f"{path}: {name} has {h.shape[1]} columns, but the layer before it has {fan_in} neurons")
            fan_in = h.shape[0]
            weights.append(bits.sign(h).astype(np.int8))
        p = arrays[p_names[-1]]
        require(bool(np.isin(p, (-1, 1)).all()), f"{path}: classifier {p_names[-1]} holds values other than +-1")
        thresholds = None
        if algo in ("qonnx", "ste"):        # per-neuron thresholds T1..TL (docs/model_format.md)
            thresholds = []
            for l, h in enumerate(weights[:-1]):
                t = arrays.get(f"T{l + 1}")
                require(t is not None and t.dtype.kind in "iu" and t.shape == (h.shape[0],)
                        and (t.size == 0 or (int(t.min()) >= 0 and int(t.max()) <= h.shape[1] + 1)),
                        f"{path}: thresholds T{l + 1} missing or malformed (expected {h.shape[0]} "
                        f"integers in 0..{h.shape[1] + 1})")
                thresholds.append(t.astype(np.int64))
        return cls(weights[:-1], weights[-1], thresholds)
