"""The model file: a versioned .npz that hardware flows load (format in docs/model_format.md)."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from ...errors import HwtrainError, require
from .config import TrainConfig

FORMAT = "hwtrain-binary-model"
VERSION = 1


def save_model(path, trainer, extra: dict | None = None) -> None:
    """Write config JSON, hidden weights, classifier(s), PRNG and schedule state to ``path``."""
    cfg = trainer.cfg
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config": cfg.to_dict(),
        "hw": cfg.hw().to_dict(),
        "widths": cfg.widths(),
        "matrices": trainer.names,
        "schedule": {"epoch": trainer.epoch, "steps_done": trainer.steps_done, "p_r": trainer.p_r,
                     "reinforce": [int(t) for t in trainer.reinforce_thr], "gamma": list(trainer.gamma),
                     "best_metric": None if trainer.best_metric == float("inf") else trainer.best_metric,
                     "stale": trainer.stale},
        "history": trainer.history,
        "extra": extra or {},
    }
    arrays = {"meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)}
    for name, h in zip(trainer.names, trainer.H):
        arrays[name] = h.astype(np.int32)
    for i, p in enumerate(trainer.P):
        arrays[f"P{i}"] = p.astype(np.int8)
    if getattr(trainer, "E", None) is not None:
        arrays["E"] = trainer.E.astype(np.int8)
    arrays.update(trainer.prng_states())
    d = os.path.dirname(os.path.abspath(path))
    require(os.path.isdir(d), f"cannot write model to {path}: directory {d} does not exist")
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def read_meta(path) -> tuple[dict, dict]:
    require(os.path.isfile(path), f"cannot read model {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise HwtrainError(f"{path} is not an hwtrain model file ({e})") from None
    require("meta" in arrays, f"{path} is not an hwtrain model file (no meta record)")
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HwtrainError(f"{path}: corrupt meta record ({e})") from None
    require(meta.get("format") == FORMAT, f"{path} is not an hwtrain model file (format {meta.get('format')!r})")
    require(meta.get("version") == VERSION,
            f"{path} has model format version {meta.get('version')}, this hwtrain reads version {VERSION}")
    return meta, arrays


def load_model(path):
    """Rebuild a trainer (weights, classifiers, PRNG and schedule state) from ``path``."""
    from . import make_trainer

    meta, arrays = read_meta(path)
    cfg = TrainConfig.from_dict(meta["config"])
    tr = make_trainer(cfg)
    for m, (name, shape) in enumerate(cfg.shapes.items()):
        require(name in arrays, f"{path}: missing hidden-weight matrix {name}")
        h = arrays[name]
        require(h.shape == shape, f"{path}: {name} has shape {h.shape}, the configuration says {shape}")
        tr.H[m] = h.astype(np.int32).copy()
        tr.W[m] = np.where(tr.H[m] >= 0, 1, -1).astype(np.float32)
    for i in range(len(tr.P)):
        p = arrays.get(f"P{i}")
        require(p is not None and p.shape == tr.P[i].shape, f"{path}: classifier P{i} missing or mis-shaped")
        tr.P[i] = p.astype(np.int8)
    if "E" in arrays:
        tr.E = arrays["E"].astype(np.int8)
    tr.set_prng_states(arrays)
    s = meta["schedule"]
    tr.epoch, tr.steps_done, tr.p_r = s["epoch"], s["steps_done"], s["p_r"]
    tr.reinforce_thr, tr.gamma = list(s["reinforce"]), list(s["gamma"])
    tr.best_metric = float("inf") if s["best_metric"] is None else s["best_metric"]
    tr.stale = s["stale"]
    tr.history = list(meta.get("history", []))
    return tr
