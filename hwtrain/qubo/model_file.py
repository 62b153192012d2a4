"""Writes a QUBO-trained network as an hwtrain model file that ``BinaryMLP.load`` reads.

Hidden matrices ``H1..HL`` hold the +-1 weights themselves (int32, odd, so sign(H) = W)
and ``P0`` the output layer as the classifier. ``config.algorithm`` says "qubo": the
inference semantics are those of cpr/bep models (sign layers, a +-1 classifier, argmax),
but the file cannot resume training (``load_model`` would need a TrainConfig).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import require
from ..golden.train.model import FORMAT, VERSION


def save_qubo_model(path, model, extra: dict | None = None) -> None:
    names = [f"H{l + 1}" for l in range(len(model.weights))]
    meta = {"format": FORMAT, "version": VERSION,
            "config": {"algorithm": "qubo", "trainer": "qubo", "sizes": list(model.sizes),
                       "classes": int(model.classes)},
            "matrices": names, "extra": extra or {}}
    arrays = {"meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)}
    for name, w in zip(names, model.weights):
        arrays[name] = w.astype(np.int32)
    arrays["P0"] = model.classifier.astype(np.int8)
    d = os.path.dirname(os.path.abspath(path))
    require(os.path.isdir(d), f"cannot write model to {path}: directory {d} does not exist")
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
