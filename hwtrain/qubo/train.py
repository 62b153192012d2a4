"""QUBO training end to end: data, the dropout-style scheme, decoding, accuracy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import require
from ..core.prng import generator, stream_seed
from .formulation import Penalties, Topology, build_qubo, complete, decode, predict
from .solve import Solution, solve


RELAX = 16                 # classification penalty of the annealed (relaxed) QUBO, sign penalty 1
DIGITS_MAX = 16            # scikit-learn digits pixels are integers 0..16


def digits_4x4(classes=(0, 1, 2), n_train: int = 30, n_test: int = 0, seed: int = 1, side: int = 4):
    """scikit-learn digits pooled to ``side`` x ``side`` (4: 2x2 mean pooling; 8: the raw
    image), binarized at half the intensity scale (pixel +1 iff its pooled value is at least
    8 of 16), plus a constant +1 pixel (the bias input): +-1 arrays with side^2 + 1 columns.

    Why half-scale and not the median: the median of pooled pixels over all digits is 3.25,
    low enough to light the inside of a 0 at 4x4 (the 2x2 mean of a ring's inner edge), so
    0 and 1 look alike (logistic regression on all 0/1 training digits: 80 % test accuracy
    at the median, 92 % at half-scale; docs/qubo.md).

    ``n_train`` samples (``n_test``; 0 = all) are drawn evenly over ``classes`` (first ones in
    file order after a PRNG shuffle of stream 11 (12) of ``seed``); labels are renumbered
    0..len(classes)-1 in increasing digit order.
    """
    from ..data.files import load_digits
    d = load_digits()
    classes = tuple(int(c) for c in classes)
    require(len(classes) >= 2 and len(set(classes)) == len(classes) and all(0 <= c <= 9 for c in classes),
            f"classes must be distinct digits 0..9, at least two, got {list(classes)}")
    require(side in (4, 8), f"side must be 4 (2x2 pooled) or 8 (raw), got {side}")
    require(n_train >= 1 and n_test >= 0, f"need n_train >= 1 and n_test >= 0, got {n_train}, {n_test}")
    f = 8 // side

    def pool(x):
        return x.reshape(-1, side, f, side, f).sum(axis=(2, 4))          # integer sums, f*f pixels

    xt, xs = pool(d.x_train.astype(np.int64)), pool(d.x_test.astype(np.int64))
    thr = f * f * DIGITS_MAX // 2                                         # mean >= 8  <=>  sum >= 8 f^2

    def pick(x, y, n, stream):
        keep = np.isin(y, classes)
        x, y = x[keep], y[keep]
        order = np.argsort(generator(stream_seed(seed, stream), len(y)).next(), kind="stable")
        x, y = x[order], y[order]
        per = [np.flatnonzero(y == c)[: -(-n // len(classes))] for c in classes]
        idx = np.sort(np.concatenate(per))[:n] if n else np.arange(len(y))
        bits = np.where(x[idx].reshape(len(idx), -1) >= thr, 1, -1).astype(np.int8)
        lab = np.searchsorted(np.array(sorted(classes)), y[idx])
        return np.concatenate([bits, np.ones((len(idx), 1), np.int8)], axis=1), lab

    x_tr, y_tr = pick(xt, d.y_train, n_train, 11)
    x_te, y_te = pick(xs, d.y_test, n_test, 12)
    return x_tr, y_tr, x_te, y_te


def train_qubo(x, y, topology: Topology, penalties: Penalties = Penalties(), *, solver: str = "dwave",
               sweeps: int = 1000, restarts: int = 4, seed: int = 1, dropout_rounds: int = 0,
               keep: float = 0.6, dropout_weight: int = 1, polish: bool = False, classifier=None,
               relax: int = RELAX, steps: int = 0, lut_depth: int = 1024):
    """Build, (optionally) pre-train reduced subnetworks, solve, decode.

    ``relax`` (default ``RELAX``; 0 = off) anneals a relaxed QUBO instead of the sound one:
    the same variables with sign penalty 1 and classification penalty ``relax``, so the
    weights still move at temperatures where classification counts. Every restart's weights
    are then repaired: all auxiliary bits recomputed exactly (``complete``) and the state
    scored on the sound QUBO; the lowest sound energy wins (``solve_repaired``, docs/qubo.md).
    Subnetworks of the dropout scheme are solved the same way. ``steps`` and ``lut_depth``
    set the golden annealer's schedule (``solve``; ignored by dwave-samplers).

    Dropout-style scheme (``dropout_rounds > 0``): each round keeps a random odd-sized subset
    of every hidden layer's neurons (PRNG stream 13 of ``seed``), solves the subnetwork's QUBO
    and tallies, per weight of the full network, +1/-1 votes of the rounds it took part in.
    The full QUBO then gets the linear penalty ``-dropout_weight * votes_k * (2 w_k - 1)``.
    ``classifier`` (+-1, (C, K_L)) fixes the output layer (``build_qubo``); a subnetwork
    then keeps the classifier's columns of its kept last-layer neurons.
    ``polish`` runs the weight-flip descent from every restart's solution and keeps the best.
    Returns (model, solution, qubo, info).
    """
    fixed = classifier is not None
    s = topology.sizes
    info = {"rounds": []}
    bias = None
    if dropout_rounds:
        require(0 < keep <= 1, f"keep must lie in (0, 1], got {keep}")
        nw = sum(s[l] * s[l - 1] for l in range(1, len(s))) + (0 if fixed else topology.classes * s[-1])
        votes = np.zeros(nw, dtype=np.int64)
        rng = generator(stream_seed(seed, 13), max(s[1:]))
        for r in range(dropout_rounds):
            kept = []
            draws = rng.next().astype(np.int64)
            for l in range(1, len(s)):
                k = max(int(round(keep * s[l])) | 1, 1)
                k = min(k, s[l] if s[l] % 2 else s[l] - 1)
                kept.append(np.sort(np.argsort(draws[: s[l]], kind="stable")[:k]))
                draws = rng.next().astype(np.int64)
            sub_sizes = (s[0],) + tuple(len(k) for k in kept)
            sub = Topology(sub_sizes, topology.classes)
            q, sol, _ = solve_repaired(x, y, sub, penalties, relax=relax,
                                       classifier=np.asarray(classifier)[:, kept[-1]] if fixed else None,
                                       solver=solver, sweeps=sweeps, restarts=restarts, seed=seed + 1 + r,
                                       steps=steps, lut_depth=lut_depth)
            m = decode(q, sol.x)
            # map the subnetwork's weights back to full-network weight indices
            offs, start = [], 0
            rows_prev = np.arange(s[0])
            full = []
            for l in range(1, len(s) + (0 if fixed else 1)):
                out = l == len(s)
                rows = np.arange(topology.classes) if out else kept[l - 1]
                width = s[l - 1]
                sub_w = m.classifier if out else m.weights[l - 1]
                idx = start + rows[:, None] * width + rows_prev[None, :]
                votes[idx.ravel()] += sub_w.astype(np.int64).ravel()
                start += (topology.classes if out else s[l]) * width
                rows_prev = rows
            info["rounds"].append({"sizes": list(sub_sizes), "energy": sol.energy})
        bias = dropout_weight * votes
    q, sol, annealed = solve_repaired(x, y, topology, penalties, relax=relax, bias=bias, classifier=classifier,
                                      solver=solver, sweeps=sweeps, restarts=restarts, seed=seed,
                                      steps=steps, lut_depth=lut_depth)
    model = decode(q, sol.x)
    info.update(train_acc=float((predict(model, x) == y).mean()), energy=sol.energy,
                variables=q.n, seconds=sol.seconds, relax=int(relax))
    if relax:
        info["annealed_energy"] = annealed
    if polish:
        best = None
        for xr in sol.samples:
            xp = polish_weights(q, xr, x, y)
            e = int(q.energy(xp)[0])
            if best is None or e < best[0]:
                best = (e, xp)
        model = decode(q, best[1])
        info.update(polished_energy=best[0], train_acc=float((predict(model, x) == y).mean()))
    return model, sol, q, info


def solve_repaired(x, y, topology: Topology, penalties: Penalties, *, relax: int = RELAX, bias=None,
                   classifier=None, solver: str = "dwave", sweeps: int = 1000, restarts: int = 4, seed: int = 1,
                   steps: int = 0, lut_depth: int = 1024):
    """Anneal, then repair: returns (sound QUBO, solution on it, best annealed energy).

    ``relax = 0``: anneal the sound QUBO (``penalties``) and return its samples as they are.
    ``relax > 0``: anneal the relaxed QUBO (sign penalty 1, classification penalty ``relax``,
    everything else as ``penalties``; same variable layout), take each restart's weight bits,
    recompute every auxiliary bit exactly from weights and data (``complete`` on the sound
    QUBO) and keep the restart with the lowest sound energy. The returned solution's
    ``samples`` are the repaired states, ``energies`` their sound energies; the annealer
    itself (golden model or hardware) is unchanged.
    """
    require(int(relax) >= 0, f"relax must be a non-negative integer, got {relax!r}")
    run = dict(sweeps=sweeps, restarts=restarts, seed=seed, steps=steps, lut_depth=lut_depth)
    q = build_qubo(x, y, topology, penalties, bias=bias, classifier=classifier)
    if not relax:
        sol = solve(q, solver, **run)
        return q, sol, sol.energy
    qa = build_qubo(x, y, topology, replace(penalties, sign=1, classify=int(relax)), bias=bias,
                    classifier=classifier)
    sol = solve(qa, solver, **run)
    X = np.stack([complete(q, decode(qa, s), x, y) for s in sol.samples])
    e = q.energy(X)
    best = int(np.argmin(e))
    return q, Solution(X[best], int(e[best]), e, sol.seconds, sol.spin_updates, X), sol.energy


def polish_weights(q, sol_x, x, y, max_passes: int = 20) -> np.ndarray:
    """Weight-flip descent on the QUBO energy with every auxiliary bit re-completed
    (``complete``): flip weight k when that lowers the energy; repeat until no flip helps.

    Annealing alone stalls on this QUBO because changing one weight needs coordinated flips
    of many slack bits; completing them exactly removes that barrier (docs/qubo.md).
    """
    nw = q.weight_variables()
    cur = complete(q, decode(q, sol_x), x, y)
    e = int(q.energy(cur)[0])
    if e > int(q.energy(sol_x)[0]):
        cur, e = np.asarray(sol_x, dtype=np.int8).copy(), int(q.energy(sol_x)[0])
    for _ in range(max_passes):
        improved = False
        for k in range(nw):
            trial = cur.copy()
            trial[k] ^= 1
            trial = complete(q, decode(q, trial), x, y)
            e2 = int(q.energy(trial)[0])
            if e2 < e:
                cur, e, improved = trial, e2, True
        if not improved:
            break
    return cur
