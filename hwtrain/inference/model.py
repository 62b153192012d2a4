"""A trained (or random) binary MLP as hardware sees it: +-1 weights and a +-1 classifier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import HwtrainError, require
from ..golden import bits
from ..golden.prng import Xorshift32


@dataclass
class BinaryMLP:
    """``weights[l]`` is (K_{l+1}, K_l) in {-1, +1}; ``classifier`` is (C, K_L) in {-1, +1}.

    Hidden layers compute ``sign(W a)`` with sign(0) = +1, i.e. a neuron fires
    when its agreements reach ``ceil(K / 2)``; logits are ``P a_L``; the class is
    the argmax with the lowest index winning ties.
    """

    weights: list
    classifier: np.ndarray

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
        if algo not in ("cpr", "bep", "qubo"):
            raise HwtrainError(f"{path} holds a {algo} model; inference cores take binary MLPs "
                               f"trained by cpr, bep or qubo")
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
        return cls(weights[:-1], weights[-1])
