"""Binarized MLPs trained with the straight-through estimator (STE), FINN/BNN style, in NumPy.

Unlike CP+R, BEP and BEP-TT (the fully binary rules the hardware trainers run), this is an
off-chip, floating-point trainer: latent real weights clipped to [-1, 1], ``sign()`` weights
and activations in the forward pass (sign(0) = +1), batch norm after every hidden layer,
the hard-tanh straight-through gradient ``1{|y| <= 1}`` through each sign, Adam on
minibatches, softmax cross-entropy on ``alpha * P a_L`` (one positive scale ``alpha`` for
all classes, like FINN's ``TensorNorm``: it never changes the argmax). Layer sizes follow
FINN's TFC/SFC networks (e.g. 784-256-256-256-10).

Inference (``forward_int``) is integer up to each hidden neuron's batch-norm decision:
``z = sign(W) a`` is an exact integer dot product, and the neuron fires when

    y(z) = gamma * (z - mean) / sqrt(var + eps) + beta  >=  0        (float64, elementwise)

with the running statistics. ``export`` folds that decision into hwtrain's model format
(docs/model_format.md, docs/training.md "STE"): it evaluates ``y`` by the same function at
every reachable ``z = 2c - K`` (c agreements, 0..K) and reads off the step. y is monotone
in z in floating point as in real arithmetic (each rounding is monotone), increasing for
gamma > 0 and decreasing for gamma < 0, so the firing set is ``c >= T`` (T is the
threshold, 0 = always, K + 1 = never) or ``c <= T'``; the latter row is negated (its
agreements become K - c) and gets ``T = K - T'``. Ties (y == 0 exactly) fire, as sign(0)
= +1. The classifier is ``sign(W_out)`` as ``P0``: class = argmax of ``P a_L``, lowest
index on ties. ``check_export`` proves the file: the golden inference model on it must give
every hidden activation and every class of ``forward_int``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ...errors import require


@dataclass
class SteConfig:
    """A binarized MLP and how the straight-through estimator trains it.

    sizes        input bits, then hidden layer widths (e.g. 784,256,256,256)
    classes      output classes (the classifier's rows)
    batch        minibatch size
    lr           Adam learning rate at the first epoch
    lr_final     learning rate at the last epoch (exponential decay in between)
    dropout      dropout probability on the input and hidden activations while training (FINN: 0.2)
    bn_momentum  weight of the newest batch in the running mean and variance
    eps          batch-norm epsilon (added to the variance)
    seed         seed of the initialisation, shuffling and dropout (NumPy PCG64)
    """

    sizes: tuple
    classes: int
    batch: int = 100
    lr: float = 0.005
    lr_final: float = 0.0005
    dropout: float = 0.0
    bn_momentum: float = 0.1
    eps: float = 1e-4
    seed: int = 1

    def __post_init__(self):
        self.sizes = tuple(int(s) for s in self.sizes)
        require(len(self.sizes) >= 2, f"an STE network needs inputs and at least one hidden layer, "
                                      f"got sizes {list(self.sizes)}")
        require(all(s >= 1 for s in self.sizes), f"layer sizes must be positive, got {list(self.sizes)}")
        require(int(self.classes) >= 2, f"need at least 2 classes, got {self.classes}")
        require(int(self.batch) >= 2, f"batch norm needs a minibatch of at least 2 samples, got {self.batch}")
        require(self.lr > 0 and self.lr_final > 0, f"learning rates must be positive, got {self.lr}, {self.lr_final}")
        require(0.0 <= self.dropout < 1.0, f"dropout must lie in [0, 1), got {self.dropout}")
        require(0.0 < self.bn_momentum <= 1.0, f"bn_momentum must lie in (0, 1], got {self.bn_momentum}")
        require(self.eps >= 0, f"eps must be >= 0, got {self.eps}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"] = list(self.sizes)
        return d


def _sign(v) -> np.ndarray:
    """+1 where v >= 0, else -1 (sign(0) = +1), float32."""
    return np.where(v >= 0, np.float32(1), np.float32(-1))


def bn_fires(z, gamma, beta, mean, var, eps) -> np.ndarray:
    """The hidden neurons' decision: ``gamma * (z - mean) / sqrt(var + eps) + beta >= 0``,
    elementwise in float64 (z: (..., N) integers; the parameters (N,)). The one definition
    used by the trainer's inference and by the export's fold."""
    z = np.asarray(z, dtype=np.float64)
    s = np.sqrt(np.asarray(var, dtype=np.float64) + float(eps))
    y = np.asarray(gamma, dtype=np.float64) * (z - np.asarray(mean, dtype=np.float64)) / s \
        + np.asarray(beta, dtype=np.float64)
    return y >= 0


class _Adam:
    def __init__(self, params: list, b1=0.9, b2=0.999, eps=1e-8):
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.b1, self.b2, self.eps, self.t = b1, b2, eps, 0

    def step(self, params: list, grads: list, lr: float) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= (lr / c1) * m / (np.sqrt(v / c2) + self.eps)


@dataclass
class SteTrainer:
    """Latent weights ``W[l]`` (N, K) in [-1, 1] (the last one is the classifier), batch-norm
    parameters and running statistics per hidden layer, the output scale ``log_alpha``."""

    cfg: SteConfig
    W: list = field(default_factory=list)
    gamma: list = field(default_factory=list)
    beta: list = field(default_factory=list)
    mean: list = field(default_factory=list)
    var: list = field(default_factory=list)
    log_alpha: np.ndarray = None
    history: list = field(default_factory=list)

    def __post_init__(self):
        c = self.cfg
        self.rng = np.random.default_rng(c.seed)
        dims = list(c.sizes) + [c.classes]
        if not self.W:
            for k, n in zip(dims[:-1], dims[1:]):
                lim = np.sqrt(6.0 / (k + n))                   # Glorot uniform
                self.W.append(self.rng.uniform(-lim, lim, (n, k)).astype(np.float32))
            hidden = dims[1:-1]
            self.gamma = [np.ones(n, np.float32) for n in hidden]
            self.beta = [np.zeros(n, np.float32) for n in hidden]
            self.mean = [np.zeros(n, np.float64) for n in hidden]
            self.var = [np.ones(n, np.float64) for n in hidden]
            self.log_alpha = np.array([np.log(1.0 / np.sqrt(dims[-2]))], np.float32)
        self._params = self.W + self.gamma + self.beta + [self.log_alpha]
        self._adam = _Adam(self._params)
        self.epoch = 0

    @property
    def layers(self) -> int:
        return len(self.cfg.sizes) - 1

    # ---- training -------------------------------------------------------------------------
    def _step(self, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, int]:
        """One Adam step on the minibatch (x: (B, K0) +-1 float32). (loss, correct)."""
        L, p = self.layers, self.cfg.dropout
        b = len(x)
        a = x
        cache = []
        for l in range(L):
            if p > 0:
                a = a * (self.rng.random(a.shape, dtype=np.float32) >= p) / np.float32(1 - p)
            wb = _sign(self.W[l])
            z = a @ wb.T
            mu = z.mean(axis=0)
            var = z.var(axis=0)
            s = np.sqrt(var + np.float32(self.cfg.eps))
            zh = (z - mu) / s
            yl = self.gamma[l] * zh + self.beta[l]
            m = self.cfg.bn_momentum
            self.mean[l] = (1 - m) * self.mean[l] + m * mu.astype(np.float64)
            self.var[l] = (1 - m) * self.var[l] + m * var.astype(np.float64) * b / (b - 1)
            cache.append((a, wb, zh, s, yl))
            a = _sign(yl)
        if p > 0:
            a = a * (self.rng.random(a.shape, dtype=np.float32) >= p) / np.float32(1 - p)
        pb = _sign(self.W[L])
        raw = a @ pb.T
        alpha = np.float32(np.exp(self.log_alpha[0]))
        logits = alpha * raw
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        prob = e / e.sum(axis=1, keepdims=True)
        loss = float(-np.mean(np.log(prob[np.arange(b), y] + 1e-12)))
        correct = int(np.sum(np.argmax(raw, axis=1) == y))
        d = prob
        d[np.arange(b), y] -= 1
        d /= b                                               # dloss/dlogits
        grads_w = [None] * (L + 1)
        grads_g, grads_b = [None] * L, [None] * L
        g_alpha = np.array([alpha * np.sum(d * raw)], np.float32)
        draw = d * alpha
        grads_w[L] = draw.T @ a
        da = draw @ pb
        for l in range(L - 1, -1, -1):
            a_in, wb, zh, s, yl = cache[l]
            dy = da * (np.abs(yl) <= 1)                       # straight-through (hard tanh)
            grads_g[l] = np.sum(dy * zh, axis=0)
            grads_b[l] = np.sum(dy, axis=0)
            dzh = dy * self.gamma[l]
            dz = (dzh - dzh.mean(axis=0) - zh * np.mean(dzh * zh, axis=0)) / s
            grads_w[l] = dz.T @ a_in
            if l:
                da = dz @ wb
        self._adam.step(self._params, grads_w + grads_g + grads_b + [g_alpha], lr)
        for w in self.W:
            np.clip(w, -1.0, 1.0, out=w)
        return loss * b, correct

    def lr_at(self, epoch: int, epochs: int) -> float:
        c = self.cfg
        return c.lr if epochs <= 1 else c.lr * (c.lr_final / c.lr) ** (epoch / (epochs - 1))

    def fit(self, x, y, epochs: int, x_test=None, y_test=None, log=None) -> list:
        """Train ``epochs`` epochs on +-1 samples ``x`` (N, K0) with labels ``y``."""
        x = _pm1(x, self.cfg.sizes[0], "training samples")
        y = _labels(y, len(x), self.cfg.classes)
        require(len(x) >= 2, f"need at least 2 training samples, got {len(x)}")
        bs = min(self.cfg.batch, len(x))
        for e in range(epochs):
            t0 = time.perf_counter()
            lr = self.lr_at(e, epochs)
            order = self.rng.permutation(len(x))
            loss = correct = seen = 0
            for i in range(0, len(x) - bs + 1, bs):      # a ragged last batch is dropped (BN)
                idx = order[i:i + bs]
                l_, c_ = self._step(x[idx], y[idx], lr)
                loss, correct, seen = loss + l_, correct + c_, seen + len(idx)
            self.epoch += 1
            rec = {"epoch": self.epoch, "lr": lr, "loss": loss / seen, "train_acc_batches": correct / seen,
                   "seconds": time.perf_counter() - t0}
            rec["samples_per_s"] = seen / rec["seconds"]
            if x_test is not None:
                rec["test_acc"] = float(np.mean(self.predict(x_test) == np.asarray(y_test)))
            self.history.append(rec)
            if log:
                log(rec)
        return self.history

    # ---- inference: integer dot products, the batch norm's decision, +-1 classifier --------
    def forward_int(self, x) -> tuple[list, np.ndarray, np.ndarray]:
        """(hidden activations as bool (S, N_l) per layer, integer logits ``P a_L`` (S, C),
        classes (argmax, lowest index on ties)) of +-1 or 0/1 samples, running statistics."""
        a = _pm1(x, self.cfg.sizes[0], "samples")
        acts = []
        for l in range(self.layers):
            z = np.rint(a @ _sign(self.W[l]).T).astype(np.int64)   # exact: |z| <= K < 2**24
            fire = bn_fires(z, self.gamma[l], self.beta[l], self.mean[l], self.var[l], self.cfg.eps)
            acts.append(fire)
            a = np.where(fire, np.float32(1), np.float32(-1))
        logits = np.rint(a @ _sign(self.W[-1]).T).astype(np.int64)
        return acts, logits, np.argmax(logits, axis=1)

    def predict(self, x, chunk: int = 5000) -> np.ndarray:
        x = np.asarray(x)
        return np.concatenate([self.forward_int(x[i:i + chunk])[2] for i in range(0, len(x), chunk)]) \
            if len(x) else np.zeros(0, np.int64)

    # ---- export ----------------------------------------------------------------------------
    def fold(self):
        """The network as hwtrain's thresholded binary MLP: ``(BinaryMLP, negated rows per layer)``."""
        from ...inference.model import BinaryMLP
        weights, thresholds, negated = [], [], []
        for l in range(self.layers):
            k = self.cfg.sizes[l]
            wb = np.where(self.W[l] >= 0, 1, -1).astype(np.int8)
            c = np.arange(k + 1)
            fires = bn_fires((2 * c - k)[:, None], self.gamma[l], self.beta[l], self.mean[l], self.var[l],
                             self.cfg.eps)                         # (K+1, N)
            up = np.where(fires.any(axis=0), np.argmax(fires, axis=0), k + 1)        # first firing c
            inc = fires == (c[:, None] >= up[None, :])
            last = np.where(fires.any(axis=0), k - np.argmax(fires[::-1], axis=0), -1)  # last firing c
            dec = fires == (c[:, None] <= last[None, :])
            is_inc, is_dec = inc.all(axis=0), dec.all(axis=0)
            bad = np.flatnonzero(~is_inc & ~is_dec)
            require(not len(bad), f"layer {l}: neuron {bad[0] if len(bad) else 0}'s batch-norm decision is not "
                                  f"a step in its dot product")
            neg = ~is_inc                                           # fires for c <= last: negate the row
            t = np.where(neg, k - last, up).astype(np.int64)
            weights.append(np.where(neg[:, None], -wb, wb).astype(np.int8))
            thresholds.append(t)
            negated.append(neg)
        p = np.where(self.W[-1] >= 0, 1, -1).astype(np.int8)
        return BinaryMLP(weights, p, thresholds), negated

    def state_arrays(self) -> dict:
        """The latent state (float arrays) for the model file: W_ste{l}, bn_{gamma,beta,mean,var}{l}."""
        out = {f"ste_W{l + 1}": w for l, w in enumerate(self.W)}
        for l in range(self.layers):
            out.update({f"ste_gamma{l + 1}": self.gamma[l], f"ste_beta{l + 1}": self.beta[l],
                        f"ste_mean{l + 1}": self.mean[l], f"ste_var{l + 1}": self.var[l]})
        out["ste_log_alpha"] = self.log_alpha
        return out


def _pm1(x, k0: int, what: str) -> np.ndarray:
    """+-1 float32 (S, K0) from +-1, 0/1 or bool samples."""
    x = np.asarray(x)
    require(x.ndim >= 2, f"{what}: expected a (samples, {k0}) array, got shape {x.shape}")
    x = x.reshape(len(x), -1)
    require(x.shape[1] == k0, f"{what} have {x.shape[1]} inputs, the network takes {k0}")
    if x.dtype == bool:
        return np.where(x, np.float32(1), np.float32(-1))
    require(x.dtype.kind in "iuf", f"{what}: expected +-1 or 0/1 values, got dtype {x.dtype}")
    vals = np.unique(x)
    require(bool(np.isin(vals, (-1, 1)).all() or np.isin(vals, (0, 1)).all()),
            f"{what}: expected binarized samples (+-1 or 0/1), found values {vals[:6].tolist()}")
    return np.where(x > 0, np.float32(1), np.float32(-1))


def _labels(y, n: int, classes: int) -> np.ndarray:
    y = np.asarray(y)
    require(y.shape == (n,) and y.dtype.kind in "iu", f"labels: expected {n} integers, got {y.dtype} {y.shape}")
    require(n == 0 or (int(y.min()) >= 0 and int(y.max()) < classes),
            f"labels must lie in 0..{classes - 1}, found {int(y.min())}..{int(y.max())}")
    return y.astype(np.int64)


def check_export(tr: SteTrainer, model, x) -> dict:
    """The golden inference model (``hwtrain.golden.inference.InferenceCore``) on ``model`` against
    ``tr.forward_int`` on samples ``x``: every hidden activation and every class must be equal.
    Raises HwtrainError naming the first difference; returns counts."""
    from ...core import bits
    from ...inference.config import InferenceConfig
    from ..inference import InferenceCore
    x = np.asarray(x)
    core = InferenceCore(InferenceConfig(sizes=model.sizes, classes=model.classes), model)
    n_act = 0
    for i in range(0, len(x), 5000):
        xs = x[i:i + 5000]
        acts, logits, classes = tr.forward_int(xs)
        gold = core.activations((xs > 0).astype(np.uint8))
        for l, want in enumerate(acts):
            got = bits.unpack(gold[l + 1], want.shape[1]) > 0
            bad = np.argwhere(got != want)
            require(not len(bad), f"layer {l}: {len(bad)} hidden activations of the exported model differ from "
                                  f"the trainer's, first at sample {i + bad[0][0] if len(bad) else 0} neuron "
                                  f"{bad[0][1] if len(bad) else 0}")
            n_act += want.size
        gc, glog = core(xs)
        bad = np.flatnonzero(gc != classes)
        require(not len(bad), f"{len(bad)} of {len(xs)} classes of the exported model differ from the trainer's, "
                              f"first at sample {i + bad[0] if len(bad) else 0}")
        require(bool(np.array_equal(glog, logits)), "the exported model's logits differ from the trainer's")
    return {"samples": int(len(x)), "classes_equal": int(len(x)), "activations_equal": int(n_act)}


def save_ste(path, tr: SteTrainer, model=None, extra: dict | None = None) -> dict:
    """Write the folded network as an hwtrain model file (``config.algorithm`` "ste"): ``H1..HL``
    +-1 (negated rows where the batch-norm scale is negative), thresholds ``T1..TL``, classifier
    ``P0``, plus the latent STE state (``ste_*`` float arrays, ignored by the inference cores)."""
    import os
    from .model import FORMAT, VERSION
    if model is None:
        model, _ = tr.fold()
    names = [f"H{l + 1}" for l in range(len(model.weights))]
    meta = {"format": FORMAT, "version": VERSION,
            "config": {"algorithm": "ste", "trainer": "ste", "sizes": list(model.sizes),
                       "classes": int(model.classes), "ste": tr.cfg.to_dict()},
            "matrices": names, "history": tr.history, "extra": extra or {}}
    arrays = {"meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)}
    for l, (name, w) in enumerate(zip(names, model.weights)):
        arrays[name] = np.asarray(w).astype(np.int32)
        arrays[f"T{l + 1}"] = np.asarray(model.thresholds[l]).astype(np.int32)
    arrays["P0"] = np.asarray(model.classifier).astype(np.int8)
    arrays.update(tr.state_arrays())
    d = os.path.dirname(os.path.abspath(path))
    require(os.path.isdir(d), f"cannot write model to {path}: directory {d} does not exist")
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return meta


__all__ = ["SteConfig", "SteTrainer", "bn_fires", "check_export", "save_ste"]
