"""Packed-bit arithmetic: the integer semantics every hwtrain block implements.

Conventions (see docs/semantics.md, decided once here):

* A binary value is +1 or -1. In hardware and in packed form, bit 1 means +1 and
  bit 0 means -1.
* Vectors of K binary values are packed LSB first into little-endian ``uint64``
  words: element ``i`` is bit ``i % 64`` of word ``i // 64``. Padding bits above
  K are always 0, so XOR of two packed vectors has no stray bits.
* ``sign(v) = +1 if v >= 0 else -1``: sign(0) is +1.
* Hidden integers of B bits saturate symmetrically to ``[-(2**(B-1) - 1),
  2**(B-1) - 1]``. The most negative two's-complement value is never used, so
  odd values stay odd under +-2 steps and never reach 0.
"""

from __future__ import annotations

import numpy as np

from ..errors import HwtrainError, require

WORD = 64


def words_for(k: int) -> int:
    """Number of 64-bit words that hold ``k`` packed bits."""
    return (k + WORD - 1) // WORD


def _as_bits(x) -> np.ndarray:
    """Map +-1 values or 0/1 bits to booleans (True means +1)."""
    x = np.asarray(x)
    if x.dtype == bool:
        return x
    if x.dtype.kind not in "iuf":
        raise HwtrainError(f"expected +-1 or 0/1 values, got an array of dtype {x.dtype}")
    vals = np.unique(x)
    if np.isin(vals, (-1, 1)).all():
        return x > 0
    if np.isin(vals, (0, 1)).all():
        return x == 1
    raise HwtrainError(f"expected +-1 or 0/1 values, found {vals[:6].tolist()}")


def pack(x) -> np.ndarray:
    """Pack the last axis (K binary values, +-1 or 0/1 or bool) into uint64 words."""
    bits = _as_bits(x)
    k = bits.shape[-1]
    require(k >= 1, "cannot pack an empty vector (K must be >= 1)")
    n_words = words_for(k)
    padded = np.zeros(bits.shape[:-1] + (n_words * WORD,), dtype=np.uint8)
    padded[..., :k] = bits
    as_bytes = np.packbits(padded, axis=-1, bitorder="little")
    return np.ascontiguousarray(as_bytes).view("<u8").astype(np.uint64, copy=False)


def unpack(words: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`pack`: return int8 +-1 values, last axis of length ``k``."""
    words = np.ascontiguousarray(np.asarray(words, dtype=np.uint64))
    require(words.shape[-1] == words_for(k),
            f"{words.shape[-1]} packed words do not hold K={k} bits (expected {words_for(k)})")
    bits = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")[..., :k]
    return bits.astype(np.int8) * 2 - 1


def to_int(words: np.ndarray, k: int) -> list[int]:
    """Packed vectors as Python integers (bit i = element i), as hardware buses see them."""
    words = np.asarray(words, dtype=np.uint64).reshape(-1, words_for(k))
    return [sum(int(w) << (WORD * j) for j, w in enumerate(row)) for row in words]


def from_int(values, k: int) -> np.ndarray:
    """Inverse of :func:`to_int`: a list of K-bit integers to packed words."""
    n_words = words_for(k)
    mask = (1 << WORD) - 1
    out = np.zeros((len(values), n_words), dtype=np.uint64)
    for i, v in enumerate(values):
        require(0 <= v < (1 << k), f"value {v:#x} does not fit in K={k} bits")
        for j in range(n_words):
            out[i, j] = (v >> (WORD * j)) & mask
    return out


def xnor_popcount(x_words: np.ndarray, w_words: np.ndarray, k: int, *, chunk: int = 4096) -> np.ndarray:
    """Agreements between every sample and every weight row.

    ``x_words`` is (S, W) packed samples, ``w_words`` (N, W) packed weights;
    returns (S, N) int32 counts of positions where the two agree, i.e.
    popcount(XNOR) over the K valid bits. With zero padding this is
    ``K - popcount(x XOR w)``.
    """
    x_words = np.asarray(x_words, dtype=np.uint64)
    w_words = np.asarray(w_words, dtype=np.uint64)
    require(x_words.ndim == 2 and w_words.ndim == 2,
            f"expected 2-D packed arrays, got shapes {x_words.shape} and {w_words.shape}")
    require(x_words.shape[1] == w_words.shape[1] == words_for(k),
            f"packed widths {x_words.shape[1]} and {w_words.shape[1]} do not match K={k} "
            f"({words_for(k)} words)")
    out = np.empty((x_words.shape[0], w_words.shape[0]), dtype=np.int32)
    for s in range(0, x_words.shape[0], chunk):
        diff = np.bitwise_count(x_words[s:s + chunk, None, :] ^ w_words[None, :, :])
        out[s:s + chunk] = k - diff.sum(axis=-1, dtype=np.int32)
    return out


def dot_pm1(x_words: np.ndarray, w_words: np.ndarray, k: int) -> np.ndarray:
    """+-1 dot products (S, N) from packed operands: ``2 * agreements - K``."""
    return 2 * xnor_popcount(x_words, w_words, k) - k


def sign(v) -> np.ndarray:
    """+1 where ``v >= 0``, -1 elsewhere (sign(0) = +1), as int8."""
    return np.where(np.asarray(v) >= 0, 1, -1).astype(np.int8)


def sat_bounds(bits: int) -> tuple[int, int]:
    """Symmetric bounds of a saturating signed ``bits``-bit integer."""
    require(bits >= 2, f"a saturating signed integer needs at least 2 bits, got {bits}")
    top = (1 << (bits - 1)) - 1
    return -top, top


def saturate(v, bits: int) -> np.ndarray:
    """Clip to the symmetric signed range of ``bits`` bits (see module docstring)."""
    lo, hi = sat_bounds(bits)
    return np.clip(np.asarray(v, dtype=np.int64), lo, hi)


def saturating_add(h, delta, bits: int) -> np.ndarray:
    """``saturate(h + delta, bits)``: the one hidden-weight update rule."""
    return saturate(np.asarray(h, dtype=np.int64) + np.asarray(delta, dtype=np.int64), bits)
