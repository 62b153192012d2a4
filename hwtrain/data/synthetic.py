"""Random Prototypes (seed 000, section 4.1.1), generated from the shared PRNG."""

from __future__ import annotations

import numpy as np

from ..errors import require
from ..core import prng
from .dataset import Dataset

PROTO_STREAM = 7


def random_prototypes(n_train: int = 10_000, n_test: int = 2_000, k: int = 1000, classes: int = 10,
                      p: float = 0.44, seed: int = 1) -> Dataset:
    """One random +-1 prototype per class; samples flip each bit with probability p.

    PRNG use: stream ``prng.stream_seed(seed, 7)`` with one lane per input bit
    (k lanes). The first ``classes`` draws of each lane give the prototypes
    (bit 31: +1). Then candidate j (j = 0, 1, 2, ...) takes the next draw of
    every lane and flips bit i iff draw_i < threshold(p); its class is
    ``j % classes``. A candidate equal to an earlier accepted one (train or
    test) is discarded, and generation continues until n_train + n_test
    unique samples exist; the first n_train accepted are the training set.
    """
    require(n_train >= 1 and n_test >= 0, f"need n_train >= 1 and n_test >= 0, got {n_train}, {n_test}")
    require(classes >= 2 and k >= 1, f"need classes >= 2 and k >= 1, got {classes}, {k}")
    require(0.0 <= p <= 1.0, f"flip probability must lie in [0, 1], got {p}")
    need = n_train + n_test
    require(need <= 2 ** min(k, 62), f"more unique samples requested ({need}) than {k}-bit vectors exist")
    gen = prng.generator(prng.stream_seed(seed, PROTO_STREAM), k)
    protos = np.where(gen.draws(classes) >> np.uint32(31), 1, -1).astype(np.int8)
    thr = np.uint64(prng.threshold(p))
    xs, ys, seen = [], [], set()
    j = 0
    while len(xs) < need:
        require(j <= 100 * need + 10_000,
                f"could not draw {need} unique samples after {j} candidates (flip probability too small?)")
        n = min(need - len(xs) + 64, 4096)
        flips = gen.draws(n).astype(np.uint64) < thr
        labels = (j + np.arange(n)) % classes
        cand = np.where(flips, -protos[labels], protos[labels]).astype(np.int8)
        j += n
        keys = np.packbits(cand > 0, axis=1)
        for row, key, lab in zip(cand, keys, labels):
            b = key.tobytes()
            if b in seen:
                continue
            seen.add(b)
            xs.append(row)
            ys.append(lab)
            if len(xs) == need:
                break
    x = np.stack(xs)
    y = np.asarray(ys, dtype=np.int64)
    return Dataset("random_prototypes", x[:n_train], y[:n_train], x[n_train:], y[n_train:], classes,
                   {"k": k, "p": p, "seed": seed, "candidates": j})
