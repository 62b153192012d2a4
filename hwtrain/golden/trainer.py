"""Golden twin of the on-chip training engine (``hwtrain.hdl.trainer.OnlineTrainer``).

A thin wrapper around :class:`hwtrain.golden.train.mlp.MLPTrainer` that feeds
one sample at a time exactly as the engines do (online, or mini-batches summed
sample by sample for the folded engine) and keeps the counters the engines keep. All learning rules, PRNG draws and
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


def apply_accumulators(t, accs) -> None:
    """Close a mini-batch: ``H <- sat(H + 2 * acc)`` for the rows any accumulator touched (through the
    trainer's ``apply_step``, one saturation after the sum), then every accumulator back to 0."""
    parts = []
    for acc in accs:
        rows = np.flatnonzero(acc.any(axis=1))
        parts.append((rows, acc[rows].copy()))
        acc[...] = 0
    t.apply_step(parts)


class OnlineTrainer:
    """CP+R / BEP MLP trainer fed one sample at a time, with the engine's counters and register view.

    ``batched=False`` (the row-per-word engine): batch 1, an update per sample.
    ``batched=True`` (the folded engine): ``cfg.batch`` samples per step, as
    ``MLPTrainer.step`` does it: each sample's update terms come from the
    weights at the start of its batch and are summed; the batch closes after
    ``cfg.batch`` samples (or at :meth:`flush`, the epoch's last short batch)
    with ``H <- sat(H + 2 * sum)``, the step count and, when due, the
    reinforcement sweep.
    """

    def __init__(self, cfg: TrainConfig, batched: bool = False):
        require(cfg.algorithm in ("cpr", "bep"), f"the on-chip trainer trains cpr or bep, not {cfg.algorithm}")
        require(batched or cfg.batch == 1, f"the on-chip trainer is online: batch must be 1, got {cfg.batch}")
        self.cfg = cfg
        self.t = MLPTrainer(cfg)
        self.samples = 0
        self.errors = 0
        self.updates = 0
        self.in_batch = 0                       # samples of the open batch
        self.acc = [np.zeros(h.shape, dtype=np.int64) for h in self.t.H]

    # --- one step ---------------------------------------------------------------
    def train_sample(self, x, y: int) -> int:
        """One sample; returns the prediction made with the weights at the start of its batch."""
        x1 = np.asarray(x, dtype=np.int8).reshape(1, -1)
        y1 = np.asarray([int(y)])
        logits = self.t.logits(x1)
        pred = int(rules.predict(logits)[0])
        self._active = bool(rules.margins(logits, y1)[0] < self.t.hwp.margins[0])
        coeffs, ins, n_err = self.t.update_terms(x1, y1)
        assert n_err == int(pred != y)
        rows = [int((c != 0).any(axis=0).sum()) for c in coeffs]
        if self.cfg.batch == 1:
            assert self.t.step(x1, y1) == n_err
            closed = True
        else:
            for acc, c, a in zip(self.acc, coeffs, ins):
                r = np.flatnonzero(c[0])
                if r.size:
                    acc[r] += np.outer(c[0, r], a[0])
            self.in_batch += 1
            closed = self.in_batch == self.cfg.batch
            if closed:
                self.flush()
        self.samples += 1
        self.errors += n_err
        self.updates += sum(rows)
        # What the engine's timing depends on: rows updated per layer, BEP update criterion, whether
        # this sample closed a step (batch) and whether that step owes a reinforcement sweep.
        self.last = {"rows": rows, "active": bool(any(rows)) if self.cfg.algorithm == "cpr" else self._active,
                     "closed": closed,
                     "reinforce_due": closed and self.t.steps_done % self.cfg.reinforce_every == 0}
        return pred

    def flush(self) -> bool:
        """Close the open batch (``H <- sat(H + 2 * sum)``, the step, reinforcement when due); True if one was open."""
        if self.in_batch == 0:
            return False
        apply_accumulators(self.t, self.acc)
        self.in_batch = 0
        return True

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
