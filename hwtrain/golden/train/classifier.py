"""Fixed output classifiers: uniform random +-1, and the binary equiangular frame.

A classifier is a (C, K) +-1 matrix; row c is the prototype rho^c of class c and
the logits of an activation vector a are ``P a``.
"""

from __future__ import annotations

import numpy as np

from ...errors import require
from ...core import prng
from . import streams


def random_classifier(seed: int, classes: int, k: int, layer: int = 0) -> np.ndarray:
    """Uniform +-1 prototypes from stream ``CLASSIFIER + layer``."""
    return streams.random_pm1(seed, streams.CLASSIFIER + layer, classes, k)


def bef_cost(p: np.ndarray, alpha: float) -> float:
    """J = sum_{i<j} <rho_i, rho_j> + alpha * Var_{i<j}(<rho_i, rho_j>) (population variance)."""
    p = np.asarray(p, dtype=np.int64)
    g = p @ p.T
    iu = np.triu_indices(p.shape[0], 1)
    v = g[iu].astype(np.float64)
    return float(v.sum() + alpha * v.var())


def bef_classifier(seed: int, classes: int, k: int, iters: int = 0, alpha: float = 1.0) -> np.ndarray:
    """Binary equiangular frame by greedy coordinate descent (seed 001, appendix C).

    Start from :func:`random_classifier`; each iteration draws a class i and a
    coordinate k from the ``BEF`` stream, and flips ``P[i, k]`` iff that lowers
    J. Decisions are made in integers: with n pairs, S = sum of the pairwise
    inner products and Q = sum of their squares, ``n**2 * dJ = n**2 dS +
    alpha * (n dQ - 2 S dS - dS**2)``; the flip is accepted iff this is < 0.
    """
    require(classes >= 2, f"a classifier needs at least 2 classes, got {classes}")
    p = random_classifier(seed, classes, k).astype(np.int64)
    if iters == 0:
        iters = 8 * classes * k
    g = p @ p.T
    n = classes * (classes - 1) // 2
    iu = np.triu_indices(classes, 1)
    s_tot = int(g[iu].sum())
    q_tot = int((g[iu] ** 2).sum())
    lane = prng.lane_seed(prng.stream_seed(seed, streams.BEF), 0)
    draws, _ = prng.scalar_draws(lane, 2 * iters)
    others = np.ones(classes, dtype=bool)
    for it in range(iters):
        i = (draws[2 * it] * classes) >> 32
        c = (draws[2 * it + 1] * k) >> 32
        col = p[:, c]
        delta = -2 * col[i] * col  # change of G[i, j] for every j
        delta[i] = 0
        d_s = int(delta.sum())
        gi = g[i]
        d_q = int((2 * gi * delta + delta * delta).sum()) - 0
        # row i vs itself contributes nothing (delta[i] = 0)
        num = n * n * d_s + alpha * (n * d_q - 2 * s_tot * d_s - d_s * d_s)
        if num < 0:
            p[i, c] = -p[i, c]
            g[i] += delta
            g[:, i] += delta
            s_tot += d_s
            q_tot += d_q
    return p.astype(np.int8)
