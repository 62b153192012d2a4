"""What every fully binary trainer shares: hidden weights, PRNG streams, epochs, host schedules."""

from __future__ import annotations

import math
import time

import numpy as np

from ...errors import require
from ...core import bits as _bits
from ...core import prng
from . import rules, streams
from .config import TrainConfig, divisors, reinforce_threshold


class TrainerBase:
    """Hidden weights, their PRNG lanes, the epoch loop and the host-side schedules.

    Subclasses implement ``update_terms(batch_inputs, y)`` returning, per
    hidden-weight matrix, the row coefficients and the matching inputs, and
    ``logits(x)``.
    """

    def __init__(self, cfg: TrainConfig):
        require(isinstance(cfg, TrainConfig), "a trainer needs a TrainConfig")
        self.cfg = cfg
        self.hwp = cfg.hw()
        self.names = list(cfg.shapes)
        self.gens = []
        self.H = []
        for m, (name, (rows, cols)) in enumerate(cfg.shapes.items()):
            g = streams.gen(cfg.seed, streams.MATRIX + m, cols)
            self.H.append(streams.pm1_from_draws(g.draws(rows)).astype(np.int32))
            self.gens.append(g)
        self.W = [rules.sign(h).astype(np.float32) for h in self.H]
        # host-side schedule state
        self.p_r = float(cfg.p_r)
        self.reinforce_thr = list(self.hwp.reinforce)
        self.gamma = list(self.hwp.gamma)
        self.epoch = 0
        self.steps_done = 0
        self.best_metric = math.inf
        self.stale = 0
        self.shuffle_gen = None
        self.history = []

    # --- hardware-side operations ------------------------------------------
    def step(self, x, y) -> int:
        """One update from a mini-batch; returns the number of training errors in it.

        All per-sample updates are computed from the pre-update weights, summed,
        then applied with one saturation (``h <- sat(h + 2 * sum)``). Reinforcement
        follows after every ``reinforce_every`` steps.
        """
        parts, n_err = self.row_deltas(x, y)
        self.apply_step(parts)
        return n_err

    def apply_step(self, parts) -> None:
        """End of a step: ``H <- sat(H + 2 * delta)`` on each matrix's (rows, summed delta), visible
        weights refreshed, the step counted, reinforcement after every ``reinforce_every`` steps."""
        lo, hi = _bits.sat_bounds(self.cfg.hidden_bits)
        for m, (rows, delta) in enumerate(parts):
            if rows.size:
                self.H[m][rows] = np.clip(self.H[m][rows] + 2 * delta, lo, hi)
                self.W[m][rows] = rules.sign(self.H[m][rows])
        self.steps_done += 1
        if self.steps_done % self.cfg.reinforce_every == 0:
            self.reinforce()

    def row_deltas(self, x, y):
        """Per matrix: (touched rows, summed per-sample updates of those rows); error count."""
        coeffs, inputs, n_err = self.update_terms(x, y)
        parts = []
        for c, a in zip(coeffs, inputs):
            rows = np.flatnonzero((c != 0).any(axis=0))
            parts.append((rows, rules.pm1_matmul(c[:, rows].T, a) if rows.size else None))
        return parts, n_err

    def reinforce(self) -> int:
        """One reinforcement sweep of every hidden-weight matrix (one draw per weight).

        Matrices with the same number of rows advance their (independent) lanes
        in one vectorised call; the draws are those of each matrix's own stream.
        """
        n = 0
        by_rows = {}
        for m, h in enumerate(self.H):
            by_rows.setdefault(h.shape[0], []).append(m)
        for rows, ms in by_rows.items():
            sizes = [self.gens[m].lanes for m in ms]
            joint = prng.Xorshift32(lanes=sum(sizes), states=np.concatenate([self.gens[m].state for m in ms]))
            draws = joint.draws(rows)
            start = 0
            for m, k in zip(ms, sizes):
                self.gens[m].state = joint.state[start:start + k].copy()
                n += rules.reinforce(self.H[m], draws[:, start:start + k], self.reinforce_thr[m],
                                     self.cfg.hidden_bits)
                start += k
        return n

    def deltas(self, x, y) -> list:
        """Aggregated (un-doubled, unsaturated) update per matrix for a batch, from current weights."""
        parts, _ = self.row_deltas(x, y)
        out = []
        for h, (rows, d) in zip(self.H, parts):
            full = np.zeros(h.shape, dtype=np.int64)
            if rows.size:
                full[rows] = d
            out.append(full)
        return out

    # --- epochs --------------------------------------------------------------
    def order(self, n: int) -> np.ndarray:
        if not self.cfg.shuffle:
            return np.arange(n)
        if self.shuffle_gen is None or self.shuffle_gen.lanes != n:
            self.shuffle_gen = streams.gen(self.cfg.seed, streams.SHUFFLE, n)
        return np.argsort(self.shuffle_gen.next(), kind="stable")

    def train_epoch(self, x, y, progress=None) -> float:
        """One pass over (x, y) in mini-batches; returns the training error fraction E."""
        x = self.prepare(x)
        y = np.asarray(y)
        n = y.shape[0]
        order = self.order(n)
        bs = self.cfg.batch
        errors = 0
        for s in range(0, n, bs):
            idx = order[s:s + bs]
            errors += self.step(x[idx], y[idx])
            if progress is not None:
                progress(min(s + bs, n), n)
        return errors / n

    def end_epoch(self, train_error: float, val_error: float | None = None) -> None:
        """Host-side schedules between epochs: reinforcement rescale, group-size schedule."""
        cfg = self.cfg
        if cfg.pr_schedule == "cumulative":
            self.p_r = self.p_r * math.sqrt(train_error)
        elif cfg.pr_schedule == "error":
            self.p_r = cfg.p_r * math.sqrt(train_error)
        ks = cfg.reinforce_k()
        self.reinforce_thr = [reinforce_threshold(self.p_r, k) for k in ks]
        if cfg.gamma_patience:
            metric = val_error if val_error is not None else train_error
            if metric < self.best_metric:
                self.best_metric = metric
                self.stale = 0
            else:
                self.stale += 1
                if self.stale >= cfg.gamma_patience:
                    self.stale = 0
                    self.gamma = [next((d for d in divisors(k) if d > g), g)
                                  for g, k in zip(self.gamma, cfg.hidden)]
        self.epoch += 1

    def fit(self, x, y, epochs: int, x_test=None, y_test=None, x_val=None, y_val=None,
            log=None, progress=None) -> list:
        """Train ``epochs`` epochs; per-epoch record of errors and accuracies in ``history``.

        Inputs are validated first (shape, +-1 values, labels in 0..C-1, non-empty).
        """
        x, y = self._checked(x, y, "training set")
        if x_test is not None:
            x_test, y_test = self._checked(x_test, y_test, "test set")
        if x_val is not None:
            x_val, y_val = self._checked(x_val, y_val, "validation set")
        x = self.prepare(x)
        x_test = None if x_test is None else self.prepare(x_test)
        x_val = None if x_val is None else self.prepare(x_val)
        for _ in range(epochs):
            t0 = time.perf_counter()
            e = self.train_epoch(x, y, progress=progress)
            dt = time.perf_counter() - t0
            rec = {"epoch": self.epoch + 1, "train_error_online": e, "seconds": dt,
                   "samples_per_s": len(y) / dt if dt > 0 else None,
                   "p_r": self.p_r, "gamma": list(self.gamma),
                   "train_acc": self.accuracy(x, y)}
            val_err = None
            if x_val is not None:
                rec["val_acc"] = self.accuracy(x_val, y_val)
                val_err = 1 - rec["val_acc"]
            if x_test is not None:
                rec["test_acc"] = self.accuracy(x_test, y_test)
            self.end_epoch(e, val_err)
            self.history.append(rec)
            if log is not None:
                log(rec)
        return self.history

    def _checked(self, x, y, what):
        if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
            return self.check(x, y, what)
        return x, np.asarray(y)  # already prepared (e.g. expanded sequences)

    # --- inference -----------------------------------------------------------
    def predict(self, x) -> np.ndarray:
        return rules.predict(self.logits(self.prepare(x)))

    def accuracy(self, x, y) -> float:
        return float((self.predict(x) == np.asarray(y)).mean())

    def prepare(self, x):
        return x

    # --- state ---------------------------------------------------------------
    def prng_states(self) -> dict:
        d = {f"prng_{n}": g.state.copy() for n, g in zip(self.names, self.gens)}
        if self.shuffle_gen is not None:
            d["prng_shuffle"] = self.shuffle_gen.state.copy()
        return d

    def set_prng_states(self, d: dict) -> None:
        for n, g in zip(self.names, self.gens):
            st = np.asarray(d[f"prng_{n}"], dtype=np.uint32)
            require(st.shape == g.state.shape, f"PRNG state of {n} has shape {st.shape}, expected {g.state.shape}")
            g.state = st.copy()
        if "prng_shuffle" in d:
            st = np.asarray(d["prng_shuffle"], dtype=np.uint32)
            self.shuffle_gen = prng.Xorshift32(lanes=st.size, states=st)


def check_dataset(x, y, classes: int, shape_tail: tuple, what: str = "training set"):
    x = np.asarray(x)
    y = np.asarray(y)
    require(x.ndim == 1 + len(shape_tail) and tuple(x.shape[1:]) == tuple(shape_tail),
            f"{what}: inputs have shape {x.shape}, expected (N, {', '.join(map(str, shape_tail))})")
    require(x.shape[0] >= 1, f"{what} is empty")
    require(y.shape == (x.shape[0],), f"{what}: {x.shape[0]} inputs but labels of shape {y.shape}")
    require(y.dtype.kind in "iu", f"{what}: labels must be integers, got dtype {y.dtype}")
    require(int(y.min()) >= 0 and int(y.max()) < classes,
            f"{what}: labels must lie in 0..{classes - 1}, found {int(y.min())}..{int(y.max())}")
    vals = np.unique(x)
    require(np.isin(vals, (-1, 1)).all(), f"{what}: inputs must be +-1, found values {vals[:6].tolist()}")
    return x.astype(np.int8), y.astype(np.int64)
