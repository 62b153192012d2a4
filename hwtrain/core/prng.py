"""The shared pseudo-random generator, specified bit for bit.

Every random decision hwtrain makes (initial weights, stochastic reinforcement,
sample order) draws from this generator, and the hardware ``Xorshift32`` block
reproduces it exactly.

Specification (one lane):

* state: 32-bit unsigned, never 0.
* step: ``s ^= s << 13; s ^= s >> 17; s ^= s << 5`` (all mod 2**32), Marsaglia's
  xorshift32 with period 2**32 - 1.
* draw: the state *after* a step. The first draw of a lane seeded with s0 is
  step(s0).
* lanes: independent generators side by side; lane ``i`` of a generator with
  master seed ``seed`` starts from ``lane_seed(seed, i)`` (a splitmix32-style hash
  evaluated on the host; its result is the hardware's reset value).
* Bernoulli(p): ``draw < threshold(p)`` with ``threshold(p) = round(p * 2**32)``
  clipped to [0, 2**32]; draws lie in [1, 2**32 - 1], so the event probability is
  ``max(threshold - 1, 0) / (2**32 - 1)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import require

MASK32 = 0xFFFF_FFFF


def lane_seed(seed: int, lane: int) -> int:
    """Non-zero 32-bit start state of ``lane`` for master ``seed`` (host-side hash)."""
    require(seed >= 0, f"seed must be a non-negative integer, got {seed}")
    require(lane >= 0, f"lane must be a non-negative integer, got {lane}")
    z = (seed * 0x9E3779B9 + (lane + 1) * 0x85EBCA6B) & MASK32
    z = ((z ^ (z >> 16)) * 0x7FEB352D) & MASK32
    z = ((z ^ (z >> 15)) * 0x846CA68B) & MASK32
    z ^= z >> 16
    return z or 0x6D2B79F5


def step(state: int) -> int:
    """One xorshift32 step of a single lane (Python integers, for reference)."""
    state ^= (state << 13) & MASK32
    state ^= state >> 17
    state ^= (state << 5) & MASK32
    return state


def threshold(p: float) -> int:
    """Integer threshold T so that ``draw < T`` is a Bernoulli(p) event (see module doc)."""
    require(0.0 <= p <= 1.0, f"a probability must lie in [0, 1], got {p}")
    return int(min(max(round(p * 2**32), 0), 2**32))


class Xorshift32:
    """Several independent xorshift32 lanes, vectorised over lanes.

    >>> g = Xorshift32(seed=1, lanes=4)
    >>> g.next().shape
    (4,)
    """

    def __init__(self, seed: int = 1, lanes: int = 1, *, states=None):
        require(lanes >= 1, f"a generator needs at least one lane, got {lanes}")
        if states is None:
            states = [lane_seed(seed, i) for i in range(lanes)]
        states = np.asarray(states, dtype=np.uint64)
        require(states.ndim == 1 and states.size >= 1, "states must be a non-empty 1-D sequence")
        require(bool((states > 0).all() and (states <= MASK32).all()),
                "every lane state must be a non-zero 32-bit value")
        self.state = states.astype(np.uint32)

    @property
    def lanes(self) -> int:
        return self.state.size

    def next(self) -> np.ndarray:
        """Advance every lane once; return the new states (uint32, one per lane)."""
        s = self.state
        s ^= s << np.uint32(13)
        s ^= s >> np.uint32(17)
        s ^= s << np.uint32(5)
        return s.copy()

    def draws(self, n: int) -> np.ndarray:
        """The next ``n`` draws of every lane, shape (n, lanes), uint32."""
        out = np.empty((n, self.lanes), dtype=np.uint32)
        s = self.state
        for i in range(n):
            s ^= s << np.uint32(13)
            s ^= s >> np.uint32(17)
            s ^= s << np.uint32(5)
            out[i] = s
        return out

    def bernoulli(self, thresholds) -> np.ndarray:
        """One draw per lane compared against integer thresholds: ``draw < T``."""
        return self.next().astype(np.uint64) < np.asarray(thresholds, dtype=np.uint64)

    def bits(self, n: int) -> np.ndarray:
        """``n`` pseudo-random bits per lane (bit 31 of successive draws), shape (n, lanes)."""
        return (self.draws(n) >> np.uint32(31)).astype(bool)


# --- helpers for the training golden models (appended; existing behaviour unchanged) ---

def lane_seeds(seed: int, lanes: int) -> np.ndarray:
    """Vectorised :func:`lane_seed` for lanes ``0..lanes-1`` (uint32, same values)."""
    require(seed >= 0, f"seed must be a non-negative integer, got {seed}")
    require(lanes >= 1, f"a generator needs at least one lane, got {lanes}")
    m = np.uint64(MASK32)
    lane = np.arange(1, lanes + 1, dtype=np.uint64)
    z = (np.uint64((seed * 0x9E3779B9) & MASK32) + lane * np.uint64(0x85EBCA6B)) & m
    z = ((z ^ (z >> np.uint64(16))) * np.uint64(0x7FEB352D)) & m
    z = ((z ^ (z >> np.uint64(15))) * np.uint64(0x846CA68B)) & m
    z ^= z >> np.uint64(16)
    z[z == 0] = 0x6D2B79F5
    return z.astype(np.uint32)


def stream_seed(seed: int, stream: int) -> int:
    """Master seed of an independent named stream derived from a user seed.

    ``stream_seed(seed, s) = lane_seed(seed, 2**20 + s)``: a host-side hash, so
    every purpose (initialisation of layer l, classifier, shuffling, ...) gets
    its own generator whose lanes are ``lane_seed(stream_seed(seed, s), i)``.
    """
    require(stream >= 0, f"stream must be a non-negative integer, got {stream}")
    return lane_seed(seed, (1 << 20) + stream)


def generator(seed: int, lanes: int) -> "Xorshift32":
    """``Xorshift32(seed, lanes)`` with the lane seeds computed vectorised (same state)."""
    return Xorshift32(lanes=lanes, states=lane_seeds(seed, lanes))


def scalar_draws(state: int, n: int) -> tuple[list[int], int]:
    """``n`` successive draws of one lane as Python ints, and the final state.

    Same sequence as a one-lane :class:`Xorshift32`; fast for long scalar runs.
    """
    out = []
    s = state
    for _ in range(n):
        s ^= (s << 13) & MASK32
        s ^= s >> 17
        s ^= (s << 5) & MASK32
        out.append(s)
    return out, s


def index_of(draw, n: int):
    """Map a 32-bit draw to ``0..n-1`` without division: ``(draw * n) >> 32``."""
    return (np.asarray(draw, dtype=np.uint64) * np.uint64(n)) >> np.uint64(32)
