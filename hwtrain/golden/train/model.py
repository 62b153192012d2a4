"""The model file: a versioned .npz that hardware flows load (format in docs/model_format.md)."""

from __future__ import annotations

import json
import os

import numpy as np

from ...errors import HwtrainError, require
from ...npzfile import read_npz
from ...core.bits import sat_bounds
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
    """(meta record, arrays by name) of the model file at ``path``; the meta record's
    common fields (format, version, config, matrices) are checked, the arrays are not."""
    arrays = read_npz(path, "an hwtrain model file")
    require("meta" in arrays, f"{path} is not an hwtrain model file (no meta record)")
    raw = arrays.pop("meta")
    require(raw.dtype == np.uint8 and raw.ndim == 1,
            f"{path}: corrupt meta record (a {raw.dtype} array of shape {raw.shape}, expected UTF-8 bytes)")
    try:
        meta = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HwtrainError(f"{path}: corrupt meta record ({e})") from None
    require(isinstance(meta, dict), f"{path}: corrupt meta record (a JSON {type(meta).__name__}, expected an object)")
    require(meta.get("format") == FORMAT, f"{path} is not an hwtrain model file (format {meta.get('format')!r})")
    require(meta.get("version") == VERSION,
            f"{path} has model format version {meta.get('version')!r}, this hwtrain reads version {VERSION}")
    config, names = meta.get("config"), meta.get("matrices")
    require(isinstance(config, dict) and isinstance(config.get("algorithm"), str),
            f"{path}: the meta record has no configuration (config.algorithm)")
    require(isinstance(names, list) and names and all(isinstance(n, str) for n in names),
            f"{path}: the meta record names no hidden-weight matrices (matrices: {names!r})")
    return meta, arrays


def _int_matrix(path, arrays: dict, name: str, shape=None, lo: int = -2**31, hi: int = 2**31 - 1) -> np.ndarray:
    """Array ``name``: present, integer, of ``shape`` (or 2-D), values in [lo, hi]."""
    require(name in arrays, f"{path}: array {name} is missing")
    a = arrays[name]
    want = "x".join(map(str, shape)) if shape is not None else "2-D"
    require(a.dtype.kind in "iu" and (a.shape == tuple(shape) if shape is not None else a.ndim == 2),
            f"{path}: {name} is a {a.dtype} array of shape {a.shape}, expected {want} integers")
    require(a.size == 0 or (int(a.min()) >= lo and int(a.max()) <= hi),
            f"{path}: {name} holds values outside [{lo}, {hi}]")
    return a.astype(np.int64)


def _schedule(path, meta: dict, tr) -> dict:
    s = meta.get("schedule")
    require(isinstance(s, dict), f"{path}: the meta record has no schedule")

    def is_int(v, lo=0):
        return isinstance(v, int) and not isinstance(v, bool) and v >= lo

    def is_num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v

    checks = {"epoch": is_int(s.get("epoch")), "steps_done": is_int(s.get("steps_done")),
              "p_r": is_num(s.get("p_r")) and 0 <= s["p_r"] <= 1, "stale": is_int(s.get("stale")),
              "reinforce": isinstance(s.get("reinforce"), list) and len(s["reinforce"]) == len(tr.reinforce_thr)
              and all(is_int(v) and v < 2**32 for v in s["reinforce"]),
              "gamma": isinstance(s.get("gamma"), list) and len(s["gamma"]) == len(tr.gamma)
              and all(is_int(v, 1) for v in s["gamma"]),
              "best_metric": s.get("best_metric") is None or is_num(s.get("best_metric"))}
    bad = [k for k, good in checks.items() if not good]
    require(not bad, f"{path}: schedule field(s) {', '.join(bad)} missing or malformed")
    require(isinstance(meta.get("history", []), list), f"{path}: history must be a list")
    return s


def load_model(path):
    """Rebuild a trainer (weights, classifiers, PRNG and schedule state) from ``path``."""
    from . import make_trainer

    meta, arrays = read_meta(path)
    origin = {"qubo": "a QUBO-trained network", "qonnx": "a network imported from QONNX",
              "ste": "an STE-trained network folded into thresholds"}
    algo = meta["config"].get("algorithm") if isinstance(meta.get("config"), dict) else None
    require(algo not in origin,
            f"{path} holds {origin.get(algo)}, which cannot resume training "
            f"(inference cores read it with BinaryMLP.load)")
    try:
        cfg = TrainConfig.from_dict(meta["config"])
    except HwtrainError as e:
        raise HwtrainError(f"{path}: bad configuration in the meta record: {e}") from None
    tr = make_trainer(cfg)
    require(meta["matrices"] == list(tr.names),
            f"{path}: the meta record names matrices {meta['matrices']}, the configuration has {list(tr.names)}")
    lo, hi = sat_bounds(cfg.hidden_bits)
    for m, (name, shape) in enumerate(cfg.shapes.items()):
        h = _int_matrix(path, arrays, name, shape, lo, hi)
        require(bool((h % 2 == 1).all()), f"{path}: {name} holds even hidden weights (they are odd by construction)")
        tr.H[m] = h.astype(np.int32)
        tr.W[m] = np.where(tr.H[m] >= 0, 1, -1).astype(np.float32)
    for i in range(len(tr.P)):
        p = _int_matrix(path, arrays, f"P{i}", tr.P[i].shape, -1, 1)
        require(bool((p != 0).all()), f"{path}: classifier P{i} holds zeros, expected +-1")
        tr.P[i] = p.astype(np.int8)
    if getattr(tr, "E", None) is not None:
        e = _int_matrix(path, arrays, "E", tr.E.shape, -1, 1)
        require(bool((e != 0).all()), f"{path}: expansion layer E holds zeros, expected +-1")
        tr.E = e.astype(np.int8)
    for name in [f"prng_{n}" for n in tr.names] + (["prng_shuffle"] if "prng_shuffle" in arrays else []):
        st = arrays.get(name)
        require(st is not None and st.dtype.kind in "iu" and st.ndim == 1 and st.size >= 1
                and bool(((st > 0) & (st < 2**32)).all()),
                f"{path}: PRNG state {name} missing or malformed (expected non-zero 32-bit lane states)")
    try:
        tr.set_prng_states(arrays)
    except HwtrainError as e:
        raise HwtrainError(f"{path}: {e}") from None
    s = _schedule(path, meta, tr)
    tr.epoch, tr.steps_done, tr.p_r = s["epoch"], s["steps_done"], float(s["p_r"])
    tr.reinforce_thr, tr.gamma = list(s["reinforce"]), list(s["gamma"])
    tr.best_metric = float("inf") if s.get("best_metric") is None else s["best_metric"]
    tr.stale = s["stale"]
    tr.history = list(meta.get("history", []))
    return tr
