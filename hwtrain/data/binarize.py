"""Binarizers: real-valued features to +-1 inputs (int8), fitted on training data only."""

from __future__ import annotations

import numpy as np

from ..errors import HwtrainError, require


class MedianBinarizer:
    """+1 where a feature exceeds its training median, else -1 (per feature).

    ``per_feature=False`` uses one global median (as for images, where many
    pixels have median 0 and a per-pixel rule would lose them).
    """

    def __init__(self, per_feature: bool = True):
        self.per_feature = per_feature
        self.threshold = None

    def fit(self, x):
        x = _real(x)
        self.threshold = np.median(x, axis=0) if self.per_feature else np.median(x)
        return self

    def transform(self, x):
        require(self.threshold is not None, "binarizer used before fit()")
        x = _real(x)
        return np.where(x > self.threshold, 1, -1).astype(np.int8)

    def fit_transform(self, x):
        return self.fit(x).transform(x)


class ThermometerBinarizer:
    """Thermometer code of ``bits`` levels per feature: bit i is +1 iff x > t_i.

    Distributive thresholds (default): t_i is the i/(bits+1) quantile of the
    training values (per channel if ``axis`` is given, else global). Uniform
    thresholds: t_i = min + i*(max - min)/(bits+1). The code of one feature is
    the last axis, so (N, F) becomes (N, F * bits) and (N, T, F) becomes
    (N, T, F * bits); bit i of feature f sits at position f * bits + i.
    """

    def __init__(self, bits: int = 10, mode: str = "distributive", per_channel: bool = True):
        require(isinstance(bits, int) and bits >= 1, f"thermometer bits must be >= 1, got {bits!r}")
        require(mode in ("distributive", "uniform"), f"unknown thermometer mode {mode!r}")
        self.bits, self.mode, self.per_channel = bits, mode, per_channel
        self.thresholds = None  # (F, bits)

    def fit(self, x):
        x = _real(x)
        f = x.shape[-1]
        flat = x.reshape(-1, f)
        if not self.per_channel:
            flat = flat.reshape(-1, 1)
        q = np.arange(1, self.bits + 1) / (self.bits + 1)
        if self.mode == "distributive":
            t = np.quantile(flat, q, axis=0).T  # (F or 1, bits)
        else:
            lo, hi = flat.min(axis=0), flat.max(axis=0)
            t = lo[:, None] + q[None, :] * (hi - lo)[:, None]
        self.thresholds = np.broadcast_to(t, (f, self.bits)).copy()
        return self

    def transform(self, x):
        require(self.thresholds is not None, "binarizer used before fit()")
        x = _real(x)
        require(x.shape[-1] == self.thresholds.shape[0],
                f"thermometer fitted on {self.thresholds.shape[0]} features, got {x.shape[-1]}")
        code = x[..., :, None] > self.thresholds
        return np.where(code, 1, -1).astype(np.int8).reshape(x.shape[:-1] + (-1,))

    def fit_transform(self, x):
        return self.fit(x).transform(x)


class LevelBinarizer:
    """Thermometer at fixed fractions of the training range, one global scale for all features.

    Threshold i is ``lo + fractions[i] * (hi - lo)`` with ``lo``/``hi`` the
    minimum/maximum over all training values (for 8-bit images: 0 and 255, so
    ``fractions=(0.5,)`` is "pixel > 127.5"). Bit i of feature f sits at
    position ``f * len(fractions) + i``, as in :class:`ThermometerBinarizer`.
    """

    def __init__(self, fractions=(0.5,)):
        fr = tuple(float(f) for f in fractions)
        require(len(fr) >= 1 and all(0.0 <= f < 1.0 for f in fr),
                f"threshold fractions must lie in [0, 1), got {fractions!r}")
        require(list(fr) == sorted(set(fr)), f"threshold fractions must increase, got {fractions!r}")
        self.fractions = fr
        self.thresholds = None

    def fit(self, x):
        x = _real(x)
        lo, hi = float(x.min()), float(x.max())
        self.thresholds = lo + np.asarray(self.fractions) * (hi - lo)
        return self

    def transform(self, x):
        require(self.thresholds is not None, "binarizer used before fit()")
        x = _real(x)
        code = x[..., :, None] > self.thresholds
        return np.where(code, 1, -1).astype(np.int8).reshape(x.shape[:-1] + (-1,))

    def fit_transform(self, x):
        return self.fit(x).transform(x)


class DropConstantBits:
    """Another binarizer's code without the bits that are (nearly) constant over the training set.

    A bit is kept iff its training fraction of +1 lies in ``[p, 1 - p]``.
    Nearly constant inputs stall CP+R and BEP: a batch update moves all of
    their hidden weights the same way, by up to the batch size, so after the
    first steps they act as one large bias and every hidden neuron becomes
    constant (docs/training.md, MNIST). ``keep`` holds the kept positions.
    """

    def __init__(self, inner, p: float = 0.05):
        require(0.0 < p < 0.5, f"drop fraction must lie in (0, 0.5), got {p!r}")
        self.inner, self.p = inner, float(p)
        self.keep = None

    def fit(self, x):
        b = self.inner.fit(x).transform(x)
        require(b.ndim == 2, f"dropping constant bits needs (N, features) data, got shape {b.shape}")
        on = (b > 0).mean(axis=0)
        keep = np.flatnonzero((on >= self.p) & (on <= 1 - self.p))
        require(keep.size > 0, f"every bit is on or off in more than {100 * (1 - self.p):g}% of the "
                               f"training samples; lower the drop fraction")
        self.keep = keep
        return self

    def transform(self, x):
        require(self.keep is not None, "binarizer used before fit()")
        return self.inner.transform(x)[:, self.keep]

    def fit_transform(self, x):
        return self.fit(x).transform(x)


BINARIZE_HELP = ("median (per-pixel training median), fixed[:F[,F...]] (thresholds at fractions F of the "
                 "pixel range, default 0.5), thermo:N (N uniform levels: fixed:1/(N+1),...,N/(N+1)); "
                 "append +drop:P to leave out bits that are +1 (or -1) in fewer than a fraction P of the "
                 "training images, e.g. fixed:0.5+drop:0.05")


def parse_binarize(scheme: str):
    """(kind, parameters, drop fraction or None) of an image binarization scheme (:data:`BINARIZE_HELP`)."""
    text = str(scheme).strip().lower()
    bad = f"unknown --binarize {scheme!r}; expected {BINARIZE_HELP}"
    base, *mods = text.split("+")
    drop = None
    for m in mods:
        name, _, arg = m.partition(":")
        require(name == "drop" and drop is None, bad)
        try:
            drop = float(arg)
        except ValueError:
            raise HwtrainError(bad) from None
        require(0.0 < drop < 0.5, f"+drop:P needs 0 < P < 0.5, got {arg}")
    kind, _, arg = base.partition(":")
    if kind == "median":
        require(not arg, bad)
        return "median", (), drop
    if kind == "fixed":
        try:
            fr = tuple(float(v) for v in arg.split(",")) if arg else (0.5,)
        except ValueError:
            raise HwtrainError(bad) from None
        LevelBinarizer(fr)  # validates
        return "fixed", fr, drop
    if kind == "thermo":
        try:
            n = int(arg)
        except ValueError:
            raise HwtrainError(bad) from None
        require(1 <= n <= 255, f"thermo:N needs 1 <= N <= 255, got {n}")
        return "fixed", tuple((i + 1) / (n + 1) for i in range(n)), drop
    raise HwtrainError(bad)


def image_binarizer(scheme: str):
    """An unfitted binarizer for image pixels from a scheme string (``median``, ``fixed:0.5+drop:0.05``, ...)."""
    kind, arg, drop = parse_binarize(scheme)
    b = MedianBinarizer(per_feature=True) if kind == "median" else LevelBinarizer(arg)
    return DropConstantBits(b, drop) if drop else b


def _real(x):
    x = np.asarray(x, dtype=np.float64)
    require(x.ndim >= 2 and x.shape[0] >= 1, f"expected (N, features...) data, got shape {x.shape}")
    require(np.isfinite(x).all(), "data contains NaN or infinite values")
    return x
