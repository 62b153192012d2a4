"""Golden twin of the on-chip training engine (``hwtrain.hdl.trainer.OnlineTrainer``).

A thin wrapper around :class:`hwtrain.golden.train.mlp.MLPTrainer` in online
mode (batch 1): it feeds one sample per step exactly as the engine does and
keeps the counters the engine keeps. All learning rules, PRNG draws and
host-side schedules are the ones of ``MLPTrainer``; nothing here changes them.

Counters (same definitions as the hardware, docs/trainer.md):

* ``samples``  training samples seen;
* ``errors``   samples whose output-classifier prediction (pre-update weights)
               was not the label;
* ``updates``  hidden-weight rows changed by the +-2 update (selected
               neurons of layers that updated), summed over samples.
"""

from __future__ import annotations

import numpy as np

from ..errors import require
from .train.config import TrainConfig
from .train.mlp import MLPTrainer
from .train import rules


class OnlineTrainer:
    """Batch-1 CP+R / BEP MLP trainer with the engine's counters and register view."""

    def __init__(self, cfg: TrainConfig):
        require(cfg.algorithm in ("cpr", "bep"), f"the on-chip trainer trains cpr or bep, not {cfg.algorithm}")
        require(cfg.batch == 1, f"the on-chip trainer is online: batch must be 1, got {cfg.batch}")
        self.cfg = cfg
        self.t = MLPTrainer(cfg)
        self.samples = 0
        self.errors = 0
        self.updates = 0

    # --- one step ---------------------------------------------------------------
    def train_sample(self, x, y: int) -> int:
        """One online step; returns the prediction made with the pre-update weights."""
        x1 = np.asarray(x, dtype=np.int8).reshape(1, -1)
        y1 = np.asarray([int(y)])
        logits = self.t.logits(x1)
        pred = int(rules.predict(logits)[0])
        self._active = bool(rules.margins(logits, y1)[0] < self.t.hwp.margins[0])
        coeffs, _, n_err = self.t.update_terms(x1, y1)
        n_err2 = self.t.step(x1, y1)
        assert n_err == n_err2 == int(pred != y)
        rows = [int((c != 0).any(axis=0).sum()) for c in coeffs]
        self.samples += 1
        self.errors += n_err
        self.updates += sum(rows)
        # What the engine's timing depends on: rows updated per layer, BEP update criterion.
        self.last = {"rows": rows, "active": bool(any(rows)) if self.cfg.algorithm == "cpr" else self._active}
        return pred

    def order(self, n: int) -> np.ndarray:
        """The epoch's sample order (the ``SHUFFLE`` stream, host side)."""
        return self.t.order(n)

    def end_epoch(self, train_error: float, val_error: float | None = None) -> None:
        self.t.end_epoch(train_error, val_error)

    def predict(self, x) -> np.ndarray:
        return self.t.predict(x)

    # --- what the engine holds ----------------------------------------------------
    @property
    def H(self) -> list:
        return self.t.H

    def registers(self) -> dict:
        """Current host-written register values (margins, gates, thresholds, gamma, every)."""
        return {"margins": list(self.t.hwp.margins), "gates": list(self.t.hwp.gates),
                "reinforce": list(self.t.reinforce_thr), "gamma": list(self.t.gamma),
                "reinforce_every": self.cfg.reinforce_every}

    def counters(self) -> dict:
        return {"samples": self.samples, "errors": self.errors, "updates": self.updates}
