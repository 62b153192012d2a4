"""Datasets as the integer features a logic network's thermometer encoder reads.

Integer-valued data (scikit-learn's digits, 0..16) stay as they are, in as many
bits as their largest value needs; real-valued data (MNIST, FashionMNIST) are
scaled by the training split's maximum to 0..255 (8 bits). Training
(``hwtrain logic train``) and verification (``hwtrain verify logic --dataset``)
read them through here, so the RTL sees the features the net was trained on.
"""

from __future__ import annotations

import numpy as np

from ..errors import require
from .netlist import Thermometer

#: Datasets a logic network can be trained on and verified with.
DATASETS = ("digits", "mnist", "fashion_mnist")
#: (H, W) of each dataset's images, for local connections (``LogicTrainConfig.image_shape``).
IMAGE_SHAPES = {"digits": (8, 8), "mnist": (28, 28), "fashion_mnist": (28, 28)}


def dataset_features(name: str, path=None, levels: int = 1):
    """(dataset, uniform thermometer of ``levels`` per feature, train features, test features):
    features as (samples, features) int64 arrays."""
    from ..data.presets import load
    require(name in DATASETS, f"unknown dataset {name!r} for logic networks; expected {', '.join(DATASETS)}")
    d = load(name, path)          # --data-path, else the data cache (`hwtrain data fetch NAME`)
    x_tr, x_te = np.asarray(d.x_train), np.asarray(d.x_test)
    if x_tr.dtype.kind == "f":
        top = float(max(x_tr.max(), 1e-9))
        fb = 8
        scale = lambda x: np.clip(np.rint(np.asarray(x) / top * 255), 0, 255).astype(np.int64)
    else:
        fb = max(1, int(x_tr.max()).bit_length())
        scale = lambda x: np.asarray(x).astype(np.int64)
    x_tr, x_te = scale(x_tr).reshape(len(x_tr), -1), scale(x_te).reshape(len(x_te), -1)
    enc = Thermometer.uniform(x_tr.shape[1], levels, fb, 0, int(x_tr.max()))
    return d, enc, x_tr, x_te


def encode(enc: Thermometer, x) -> np.ndarray:
    """Integer features (samples, features) -> encoded bits (samples, features * levels) uint8."""
    return (np.asarray(x)[:, :, None] > enc.thresholds[None]).reshape(len(x), -1).astype(np.uint8)
