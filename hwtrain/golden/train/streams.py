"""Which PRNG stream and draw is used for what (hardware reproduces these).

Every stream is a :class:`~hwtrain.core.prng.Xorshift32` whose master seed is
``prng.stream_seed(cfg.seed, STREAM)``; lane ``i`` starts from
``lane_seed(stream_seed(seed, STREAM), i)``.

* ``MATRIX + m``: hidden-weight matrix m (0-based, in ``TrainConfig.shapes``
  order), shape (rows, cols). One lane per *column* (input index); a sweep of
  the matrix takes ``rows`` draws per lane, draw t of lane j belonging to
  weight (t, j). Sweep 1 initialises: h = +1 if bit 31 of the draw is 1, else
  -1. Every later reinforcement event takes one full sweep: weight (t, j) is
  reinforced iff its draw < the current 32-bit threshold.
* ``CLASSIFIER + l``: random classifier of layer l (cpr: one per layer; bep,
  bep_tt: l = 0 only), shape (C, K). One lane per column k, draw c gives
  P[c, k] = +1 if bit 31 set else -1.
* ``BEF``: one lane; the local search of the binary equiangular frame takes two
  draws per iteration: class ``(d1 * C) >> 32``, coordinate ``(d2 * K) >> 32``.
* ``SHUFFLE``: one lane per training sample (N lanes); each epoch every lane
  draws once and the epoch order is ``argsort(draws, stable)``.
* ``EXPAND``: fixed +-1 expansion layer of bep_tt, shape (inputs, raw_inputs),
  one lane per column, draw t gives row t (bit 31).
"""

from __future__ import annotations

import numpy as np

from ...core import prng

SHUFFLE = 1
BEF = 2
EXPAND = 3
CLASSIFIER = 64
MATRIX = 128


def gen(seed: int, stream: int, lanes: int) -> prng.Xorshift32:
    return prng.generator(prng.stream_seed(seed, stream), lanes)


def pm1_from_draws(draws: np.ndarray) -> np.ndarray:
    """+1 where bit 31 of the draw is set, else -1 (int8)."""
    return np.where(draws >> np.uint32(31), np.int8(1), np.int8(-1)).astype(np.int8)


def random_pm1(seed: int, stream: int, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) +-1 matrix: one lane per column, draw t gives row t."""
    return pm1_from_draws(gen(seed, stream, cols).draws(rows))
