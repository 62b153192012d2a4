"""The shared integer rules of the fully binary trainers (CP+R, BEP, BEP-TT).

Every function here is vectorised over a batch of samples and is the golden
twin of one hardware unit:

* :func:`pm1_matmul`      XNOR/popcount dot products (exact integers),
* :func:`margins`         logit margin for the update criterion,
* :func:`predict`         argmax with lowest-index tie-break,
* :func:`easiest_wrong`   group winner-takes-update mask,
* :func:`gate`            backward gating,
* :func:`apply_update`    aggregated +-2 update with saturation,
* :func:`reinforce`       h <- h + 2 sign(h) with a PRNG draw per weight.

Semantics are in docs/semantics_training.md.
"""

from __future__ import annotations

import numpy as np

from ...errors import require
from ...core import bits as _bits
from ...core.bits import sign  # noqa: F401  (re-exported: rules.sign is used by the trainers)

NEG = np.int32(-(1 << 30))  # "minus infinity" for masked stabilities


def pm1_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for small-integer matrices, exact, as int32.

    Runs in float32 BLAS: every product and partial sum is an integer of
    magnitude below 2**24, which float32 represents exactly, so the result is
    the exact integer dot product (checked against packed XNOR/popcount in
    the tests).
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    require(a.shape[-1] < 2**18, "pm1_matmul: inner dimension too large for an exact float32 product")
    return (a @ b).astype(np.int32)




def margins(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``logit[y] - max_{c != y} logit[c]`` per sample (int32)."""
    logits = np.asarray(logits, dtype=np.int32)
    idx = np.arange(logits.shape[0])
    true = logits[idx, y]
    other = logits.copy()
    other[idx, y] = NEG
    return true - other.max(axis=1)


def predict(logits: np.ndarray) -> np.ndarray:
    """Predicted class: argmax, lowest class index on ties."""
    return np.argmax(logits, axis=1)


def easiest_wrong(target: np.ndarray, z: np.ndarray, gamma: int, active=None) -> np.ndarray:
    """Winner-takes-update mask times target, shape (S, K), int8 in {-1, 0, +1}.

    Neurons are split into contiguous groups of ``gamma``: group g holds
    neurons g*gamma .. g*gamma+gamma-1. A neuron k is *wrong* when
    ``sign(z_k) != target_k``; its stability is ``target_k * z_k`` (<= 0 for a
    wrong neuron). In each group the wrong neuron with the largest stability
    (closest to flipping) wins; ties go to the lowest index; a group with no
    wrong neuron selects nothing. Rows of samples with ``active`` False are 0.
    The returned matrix is ``mask * target``: the per-neuron row coefficient of
    the +-2 update.
    """
    target = np.asarray(target, dtype=np.int8)
    z = np.asarray(z, dtype=np.int32)
    s, k = z.shape
    require(k % gamma == 0, f"group size {gamma} does not divide layer size {k}")
    wrong = (sign(z) != target) & (target != 0)  # a 0 target (no desire) is never wrong
    return _winner(target, target.astype(np.int32) * z, wrong, gamma, active)


def _winner(target, stability, candidate, gamma, active=None):
    s, k = stability.shape
    g = k // gamma
    score = np.where(candidate, stability, NEG).reshape(s, g, gamma)
    arg = np.argmax(score, axis=2)  # first maximum: lowest index
    any_c = candidate.reshape(s, g, gamma).any(axis=2)
    if active is not None:
        any_c &= np.asarray(active, dtype=bool)[:, None]
    out = np.zeros((s, g, gamma), dtype=np.int8)
    si, gi = np.nonzero(any_c)
    out[si, gi, arg[si, gi]] = 1
    return out.reshape(s, k) * target


def winner_from_stability(target, stability, candidate, gamma, active=None):
    """:func:`easiest_wrong` with stabilities and candidates given (BEP-TT)."""
    return _winner(np.asarray(target, dtype=np.int8), np.asarray(stability, dtype=np.int32),
                   np.asarray(candidate, dtype=bool), gamma, active)


def gate(z: np.ndarray, nu_threshold: int) -> np.ndarray:
    """Backward gate: 1 where ``|z| <= NU`` else 0 (int8)."""
    return (np.abs(z) <= nu_threshold).astype(np.int8)


def backproject(w: np.ndarray, gated_target: np.ndarray, zero: str = "plus") -> np.ndarray:
    """Desired activations of the layer below: ``sign(W^T (g * a*))`` per sample.

    ``w`` is (K_out, K_in) +-1, ``gated_target`` (S, K_out) in {-1, 0, +1}.
    ``zero`` says what a back-projection of exactly 0 becomes: ``"plus"``
    gives +1 (sign(0) = +1, the binary rule), ``"skip"`` gives 0 ("no desired
    value": the neuron is not a candidate for the update and passes nothing
    further down), so the result is ternary.
    """
    v = pm1_matmul(gated_target, w)
    if zero == "skip":
        return np.sign(v).astype(np.int8)
    require(zero == "plus", f"unknown zero-target rule {zero!r}; expected plus or skip")
    return sign(v)


def aggregate(coeff: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Sum over samples of ``outer(coeff[mu], inputs[mu])``: (K_out, K_in) int32."""
    return pm1_matmul(np.asarray(coeff).T, inputs)


def apply_update(h: np.ndarray, delta: np.ndarray, bits: int, rows=None) -> None:
    """``h <- saturate(h + 2 * delta)`` in place (only ``rows`` if given)."""
    lo, hi = _bits.sat_bounds(bits)
    if rows is None:
        np.clip(h + 2 * delta, lo, hi, out=h)
    else:
        h[rows] = np.clip(h[rows] + 2 * delta[rows], lo, hi)


def reinforce(h: np.ndarray, draws: np.ndarray, threshold: int, bits: int) -> int:
    """``h <- saturate(h + 2 sign(h))`` where ``draw < threshold``; in place.

    ``draws`` has the shape of ``h`` (uint32). Returns the number of events.
    """
    if threshold <= 0:
        return 0
    if threshold > 0xFFFF_FFFF:
        idx = np.arange(h.size)
    else:
        idx = np.flatnonzero(draws < np.uint32(threshold))
    lo, hi = _bits.sat_bounds(bits)
    flat = h.reshape(-1)
    v = flat[idx]
    flat[idx] = np.clip(v + np.where(v >= 0, 2, -2), lo, hi)
    return int(idx.size)
