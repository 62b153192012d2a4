"""Binary MLP trainers: CP+R with local random classifiers (seed 000) and BEP (seed 001)."""

from __future__ import annotations

import numpy as np

from ...errors import require
from ...core import bits as _bits
from . import rules
from .base import TrainerBase, check_dataset
from .classifier import bef_classifier, random_classifier
from .config import TrainConfig


class MLPTrainer(TrainerBase):
    """A binary MLP K0 -> K1 -> ... -> KL with a fixed +-1 classifier, trained by CP+R or BEP.

    Hidden weights ``H[l]`` are (K_{l+1}, K_l) int32 in the B-bit symmetric range;
    visible weights are ``sign(H[l])``. Classifiers ``P[l]`` are (C, K_{l+1})
    +-1 (cpr: one per layer, the last is the output classifier; bep: one).
    """

    def __init__(self, cfg: TrainConfig):
        require(cfg.algorithm in ("cpr", "bep"), f"MLPTrainer trains cpr or bep, not {cfg.algorithm}")
        super().__init__(cfg)
        if cfg.algorithm == "cpr":
            self.P = [random_classifier(cfg.seed, cfg.classes, k, layer=l) for l, k in enumerate(cfg.hidden)]
        elif cfg.classifier == "bef":
            self.P = [bef_classifier(cfg.seed, cfg.classes, cfg.hidden[-1], cfg.bef_iters, cfg.bef_alpha)]
        else:
            self.P = [random_classifier(cfg.seed, cfg.classes, cfg.hidden[-1])]

    # --- forward ---------------------------------------------------------------
    def forward(self, x):
        """Pre-activations z_l (int32) and activations a_l (int8 +-1), l = 1..L."""
        zs, acts = [], []
        a = x
        for w in self.W:
            z = rules.pm1_matmul(a, w.T)
            a = rules.sign(z)
            zs.append(z)
            acts.append(a)
        return zs, acts

    def logits(self, x):
        _, acts = self.forward(x)
        return rules.pm1_matmul(acts[-1], self.P[-1].T)

    def logits_packed(self, x):
        """Same logits through the packed XNOR/popcount primitives (hwtrain.core.bits)."""
        a = np.asarray(x)
        for h in self.H:
            k = a.shape[1]
            a = _bits.sign(_bits.dot_pm1(_bits.pack(a), _bits.pack(_bits.sign(h)), k))
        k = a.shape[1]
        return _bits.dot_pm1(_bits.pack(a), _bits.pack(self.P[-1]), k)

    def prepare(self, x):
        x = np.asarray(x)
        if x.dtype != np.int8:
            x = x.astype(np.int8)
        return x

    # --- the learning rules ------------------------------------------------------
    def update_terms(self, x, y):
        """Row coefficients (S, K_l) in {-1,0,1} and inputs (S, K_{l-1}) per layer; error count.

        The update of layer l is ``H_l += 2 * sum_mu outer(coeff[mu], inputs[mu])``.
        """
        cfg, hwp = self.cfg, self.hwp
        x = self.prepare(x)
        y = np.asarray(y)
        zs, acts = self.forward(x)
        ins = [x] + acts[:-1]
        out_logits = rules.pm1_matmul(acts[-1], self.P[-1].T)
        n_err = int((rules.predict(out_logits) != y).sum())
        coeffs = []
        if cfg.algorithm == "cpr":
            for l in range(cfg.layers):
                loc = out_logits if l == cfg.layers - 1 else rules.pm1_matmul(acts[l], self.P[l].T)
                active = rules.margins(loc, y) < hwp.margins[l]
                target = self.P[l][y]
                coeffs.append(rules.easiest_wrong(target, zs[l], self.gamma[l], active))
            return coeffs, ins, n_err
        # BEP: desired activations from the output back, on the samples that trigger
        active = rules.margins(out_logits, y) < hwp.margins[0]
        coeffs = [np.zeros(z.shape, dtype=np.int8) for z in zs]
        idx = np.flatnonzero(active)
        if idx.size:
            target = self.P[0][y[idx]]
            for l in range(cfg.layers - 1, -1, -1):
                z = zs[l][idx]
                coeffs[l][idx] = rules.easiest_wrong(target, z, self.gamma[l])
                if l > 0:
                    g = rules.gate(z, hwp.gates[l])
                    target = rules.backproject(self.W[l], g * target, cfg.zero_target)
        return coeffs, ins, n_err

    def desired(self, x, y):
        """Desired activations a*_l of every layer for every sample (BEP), for inspection/tests."""
        require(self.cfg.algorithm == "bep", "desired activations are defined for bep")
        zs, _ = self.forward(self.prepare(x))
        target = self.P[0][np.asarray(y)]
        out = [None] * self.cfg.layers
        for l in range(self.cfg.layers - 1, -1, -1):
            out[l] = target
            if l > 0:
                target = rules.backproject(self.W[l], rules.gate(zs[l], self.hwp.gates[l]) * target,
                                           self.cfg.zero_target)
        return out

    def check(self, x, y, what="training set"):
        return check_dataset(x, y, self.cfg.classes, (self.cfg.inputs,), what)
