"""BEP-TT: a many-to-one binary RNN trained by binary error propagation through time (seed 001, 3.5)."""

from __future__ import annotations

import numpy as np

from ...errors import require
from . import rules, streams
from .base import TrainerBase, check_dataset
from .classifier import bef_classifier, random_classifier
from .config import TrainConfig


class RNNTrainer(TrainerBase):
    """s_t = sign(W_xs a_t + W_ss s_{t-1}), s_0 = 0 (no recurrent term at t = 1);
    s_y = sign(W_sy s_T); logits = P s_y.

    Inputs are (N, T, K0) +-1, or (N, T, raw_inputs) when a fixed expansion layer
    is configured: a_t = sign(E x_t) with E (K0, raw_inputs) +-1 from stream EXPAND.
    Hidden weights: H[0] = H_xs (K_s, K0), H[1] = H_ss (K_s, K_s), H[2] = H_sy (K_y, K_s).
    """

    def __init__(self, cfg: TrainConfig):
        require(cfg.algorithm == "bep_tt", f"RNNTrainer trains bep_tt, not {cfg.algorithm}")
        super().__init__(cfg)
        ky = cfg.hidden[1]
        if cfg.classifier == "bef":
            self.P = [bef_classifier(cfg.seed, cfg.classes, ky, cfg.bef_iters, cfg.bef_alpha)]
        else:
            self.P = [random_classifier(cfg.seed, cfg.classes, ky)]
        self.E = None
        if cfg.raw_inputs:
            self.E = streams.random_pm1(cfg.seed, streams.EXPAND, cfg.inputs, cfg.raw_inputs)
        # group sizes: gamma[0] for the state neurons (H_xs, H_ss rows), gamma[1] for H_sy rows

    def prepare(self, x):
        """Validate sequences and pass them through the expansion layer (once)."""
        if isinstance(x, _Expanded):
            return x
        x = np.asarray(x)
        cfg = self.cfg
        width = cfg.raw_inputs or cfg.inputs
        require(x.ndim == 3 and x.shape[1] == cfg.steps and x.shape[2] == width,
                f"sequences have shape {x.shape}, expected (N, {cfg.steps}, {width})")
        if self.E is not None:
            n, t, _ = x.shape
            x = rules.sign(rules.pm1_matmul(x.reshape(n * t, -1), self.E.T)).reshape(n, t, cfg.inputs)
        return _Expanded(x.astype(np.int8, copy=False))

    def forward(self, a):
        """Pre-activations Z (S, T, K_s), states S (S, T, K_s), z_y (S, K_y), s_y (S, K_y)."""
        wxs, wss, wsy = self.W
        n, t, _ = a.shape
        ks = wss.shape[0]
        zx = rules.pm1_matmul(a.reshape(n * t, -1), wxs.T).reshape(n, t, ks)
        Z = np.empty((n, t, ks), dtype=np.int32)
        S = np.empty((n, t, ks), dtype=np.int8)
        Z[:, 0] = zx[:, 0]
        S[:, 0] = rules.sign(Z[:, 0])
        for k in range(1, t):
            Z[:, k] = zx[:, k] + rules.pm1_matmul(S[:, k - 1], wss.T)
            S[:, k] = rules.sign(Z[:, k])
        zy = rules.pm1_matmul(S[:, -1], wsy.T)
        return Z, S, zy, rules.sign(zy)

    def logits(self, x):
        a = self.prepare(x).a
        _, _, _, sy = self.forward(a)
        return rules.pm1_matmul(sy, self.P[0].T)

    def predict(self, x):
        return rules.predict(self.logits(x))

    def update_terms(self, x, y):
        """Coefficients and inputs of H_xs, H_ss, H_sy (time folded into the sample axis)."""
        a = self.prepare(x).a
        y = np.asarray(y)
        cfg, hwp = self.cfg, self.hwp
        n, t, k0 = a.shape
        Z, S, zy, sy = self.forward(a)
        logits = rules.pm1_matmul(sy, self.P[0].T)
        n_err = int((rules.predict(logits) != y).sum())
        active = rules.margins(logits, y) < hwp.margins[0]
        ks, ky = cfg.hidden
        cy = np.zeros((n, ky), dtype=np.int8)
        cs = np.zeros((n, t, ks), dtype=np.int8)
        idx = np.flatnonzero(active)
        if idx.size:
            wxs, wss, wsy = self.W
            target = self.P[0][y[idx]]                       # s*_y
            cy[idx] = rules.easiest_wrong(target, zy[idx], self.gamma[1])
            g = rules.gate(zy[idx], hwp.gates[1])
            st = np.empty((idx.size, t, ks), dtype=np.int8)   # s*_t
            st[:, -1] = rules.backproject(wsy, g * target, cfg.zero_target)
            for k in range(t - 2, -1, -1):
                g = rules.gate(Z[idx, k + 1], hwp.gates[0])
                st[:, k] = rules.backproject(wss, g * st[:, k + 1], cfg.zero_target)
            Zi, Si = Z[idx], S[idx]
            if cfg.tt_mask == "last":
                # the MLP rule on the last step (the layer feeding s_y), shared by all steps
                stab = st[:, -1].astype(np.int32) * Zi[:, -1]  # s*_T z_T
                cand = (Si[:, -1] != st[:, -1]) & (st[:, -1] != 0)
            else:
                stab = (st.astype(np.int32) * Zi).sum(axis=1)  # sum_t s*_t z_t
                cand = ((Si != st) & (st != 0)).any(axis=1)     # wrong at some time step (0 = no target)
            mask = rules.winner_from_stability(np.ones((idx.size, ks), np.int8), stab, cand, self.gamma[0])
            cs[idx] = mask[:, None, :] * st                     # shared across time
        prev = np.zeros_like(S)
        prev[:, 1:] = S[:, :-1]                                 # s_{t-1}, s_0 = 0
        c_flat = cs.reshape(n * t, ks)
        return ([c_flat, c_flat, cy],
                [a.reshape(n * t, k0), prev.reshape(n * t, ks), S[:, -1]], n_err)

    def row_deltas(self, x, y):
        if self.cfg.tt_update == "sum":
            return super().row_deltas(x, y)
        coeffs, inputs, n_err = self.update_terms(x, y)
        n = len(np.asarray(y))
        t = self.cfg.steps
        ks = self.cfg.hidden[0]
        parts = []
        cs = coeffs[0].reshape(n, t, ks)
        sel = (cs != 0).any(axis=1)                                   # (n, ks) selected rows per sample
        mu, row = np.nonzero(sel)
        for inp in inputs[:2]:
            a = inp.reshape(n, t, -1).astype(np.float32)
            c = cs[mu, :, row].astype(np.float32)                     # (pairs, t)
            per = np.einsum("pt,ptk->pk", c, a[mu]).astype(np.int32)  # per-sample temporal sums
            per = np.sign(per)                                        # ternary sign: 0 stays 0
            rows = np.unique(row)
            delta = np.zeros((rows.size, per.shape[1]), dtype=np.int32)
            np.add.at(delta, np.searchsorted(rows, row), per)
            parts.append((rows, delta))
        c, a = coeffs[2], inputs[2]
        rows = np.flatnonzero((c != 0).any(axis=0))
        parts.append((rows, rules.pm1_matmul(c[:, rows].T, a) if rows.size else None))
        return parts, n_err

    def check(self, x, y, what="training set"):
        cfg = self.cfg
        return check_dataset(x, y, cfg.classes, (cfg.steps, cfg.raw_inputs or cfg.inputs), what)


class _Expanded:
    """Marks sequences already passed through the expansion layer (indexable by sample)."""

    def __init__(self, a):
        self.a = a.a if isinstance(a, _Expanded) else a

    def __getitem__(self, idx):
        return _Expanded(self.a[idx])

    def __len__(self):
        return len(self.a)
