"""CPU trainer for relaxed layered Boolean networks (NumPy; SciPy used when present).

Model (seed 004, section 4.1, in our own words). A neuron of layer l holds K
candidate triples ``(op_k, a_k, b_k)`` -- a gate function id and two input
indices into layer l-1 -- and K real weights ``w_k``. Its relaxed output is

    y = sum_k softmax(w)_k * r_{op_k}(x[a_k], x[b_k])

where ``r_op`` is difflogic's probabilistic relaxation of gate ``op``: every
one of the 16 is ``c0 + c1 a + c2 b + c3 a b`` (:data:`RELAX`), exact on {0, 1}.
At initialisation ``op_k = k`` (K = 16: every function once) and the input
slots cover all inputs (each candidate column independently: all inputs once,
repeated, the remaining slots uniform, then shuffled).

Decoder: GroupSum, ``logit_c = (sum of group c's outputs) / tau``, softmax
cross-entropy, Adam.

Connection resampling: per neuron the entropy ``H`` of ``softmax(w)`` is
tracked by an EMA (momentum ``ema``). A neuron whose EMA moved less than
``stable_eps`` for ``patience`` consecutive steps is *stable*; then

* dominated (largest normalised weight > ``dominant``): every other candidate
  gets a fresh uniform triple (its weight and thus the neuron's mixture stay);
* dispersed (``H > dispersed * log K``): all candidates get fresh triples and
  fresh Gaussian weights;
* otherwise it is still learning and left alone.

Progressive discretization: layers ``0 .. discretize_layers-1`` are watched in
order; when the EMA of a layer's mean entropy is stable for ``patience`` steps,
the layer is replaced by its dominant triples (argmax of w) and frozen, so the
following layers train on its Boolean outputs.

Fixed connections (``connections="fixed"``, difflogic's parameterisation).
The learned mode above costs K = 16 relaxed gates per neuron. In the fixed mode
a neuron has ONE input pair ``(a, b)``, drawn at initialisation (same covering
scheme as one candidate column) and never changed, and 16 weights, one per gate
function. Because every relaxation is affine in ``(1, a, b, ab)``, the mixture
collapses to one relaxed gate with mixed coefficients:

    coef = softmax(w) @ RELAX            # (neurons, 4)
    y    = coef0 + coef1 a + coef2 b + coef3 a b

so a step costs about one relaxed gate per neuron instead of 16 (measure it
with ``benchmarks/logic_mnist.py --compare-modes``). No resampling (there are
no candidate connections to resample); progressive discretization still works.

Local connections (``connections="local"``, issue 20). The fixed mode's math
(one pair per neuron, a softmax over the 16 functions, :class:`FixedPairLayer`)
with pairs drawn from a neighbourhood, so that the netlist has locality and
places and routes on an FPGA without wires across the whole die:

* Every node has a *cell*, a position on the ``image_shape`` grid ``(H, W)``
  (raster index ``y * W + x``). An input bit's cell is its feature's pixel
  (bit ``f * T + t`` of a T-level thermometer lies on pixel ``f``). Gate ``g`` of
  a hidden layer of ``n`` gates lies on cell ``g * H * W // n``: gates are spread
  evenly over the pixels and sorted by position, so the netlist's index order
  is the raster order. The last layer does this per GroupSum group (gate ``j``
  of group ``q`` on cell ``(j * classes + q) * H * W // n``), so every class
  sees the whole image and the groups interleave.
* A gate at ``(y, x)`` reads nodes of the previous layer whose cells lie in the
  square window ``|dy| <= window, |dx| <= window`` (clipped at the border):
  ``window`` is a radius in pixels, the same in every layer or one per layer
  (a tuple), so the receptive field grows by the layer's radius per layer.
* Covering: per cell, the cell's own previous-layer nodes are handed out to
  the cell's gates first (slot a of gate k gets node k, slot b node m + k, for
  m gates and p nodes in the cell, while k < p resp. m + k < p), so every node
  of the previous layer is read whenever a cell has at least half as many gates
  as nodes; every other slot is a uniform draw from the window (exactly
  uniform over the window's nodes); then a and b are swapped at random.
* Inputs without a known 2-D shape (``image_shape=()``) fall back to a 1-D
  window over the feature index (a ``(1, features)`` image).

All draws come from the trainer's seeded RNG. A window with no previous-layer
node in it (layers much narrower than the image) is refused at construction.

LUT nodes (``lut = k``, issue 20). A node is a k-input LUT (k = 2..6) with
its own learned truth table: 2**k real parameters ``theta``, entry
``t_c = sigmoid(theta_c)``, and the relaxed output is the multilinear extension
of the table,

    y = sum_c t_c * prod_i (x_i if bit i of c else 1 - x_i)

(``c = sum_i x_i << (k - 1 - i)``, the netlist's order), exact on {0, 1}; it is
computed as a Shannon contraction from the last input (:class:`LutNodeLayer`).
Export: entry ``c`` of the table is ``theta_c > 0``. A k-input LUT maps to one
LUT4 of the FPGA for k <= 4, so a LUT4 net of N nodes costs about N LUT4s where
a gate net needs about one LUT4 per gate (docs/logic.md). Inputs come from the
fixed (covering) or local (windowed) draws, ``ceil(k / 2)`` pairs per node.
No resampling or progressive discretization (``discretize_layers`` must be 0).

Discretization for export: every neuron becomes its dominant triple; the
network becomes a :class:`~hwtrain.logic.netlist.Netlist` and is scored with
the bit-parallel golden evaluator, so reported accuracies are the hardware's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..config import ConfigBase
from ..errors import require
from .netlist import GroupSum, LutLayer, Netlist, Thermometer, from_difflogic

#: difflogic relaxations as c0 + c1 a + c2 b + c3 ab, by function id.
RELAX = np.array([
    [0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, -1], [0, 1, 0, 0],
    [0, 0, 1, -1], [0, 0, 1, 0], [0, 1, 1, -2], [0, 1, 1, -1],
    [1, -1, -1, 1], [1, -1, -1, 2], [1, 0, -1, 0], [1, 0, -1, 1],
    [1, -1, 0, 0], [1, -1, 0, 1], [1, 0, 0, -1], [1, 0, 0, 0],
], dtype=np.float32)


@dataclass(frozen=True)
class LogicTrainConfig(ConfigBase):
    """Hyperparameters of the relaxed-network trainer (see module docstring).

    ``connections``: ``"learned"`` (K candidate triples per neuron, resampled),
    ``"fixed"`` (one random input pair per neuron, covering all inputs) or
    ``"local"`` (one input pair per neuron drawn from a window: gates have
    positions on the ``image_shape`` grid, sorted by position; a gate reads the
    previous layer's nodes within ``window`` pixels (``|dy|, |dx| <= window``)
    of its own position; without an ``image_shape`` the window is 1-D over the
    feature index). ``window`` and ``image_shape`` are used by the local mode only.
    """

    widths: tuple[int, ...] = (2000, 2000)
    tau: float = 10.0
    candidates: int = 16
    lr: float = 0.05
    batch: int = 128
    steps: int = 2000
    seed: int = 0
    init_std: float = 1.0
    resample: bool = True
    resample_until: float = 0.7      # fraction of steps with resampling enabled
    ema: float = 0.99
    stable_eps: float = 1e-3
    patience: int = 100
    dominant: float = 0.9
    dispersed: float = 0.9
    discretize_layers: int = 0
    eval_every: int = 200
    connections: str = "learned"     # "learned": K candidate triples; "fixed": difflogic; "local": see below
    window: int | tuple[int, ...] = 4  # local mode: window radius in pixels (Chebyshev), every layer or one per layer
                                     # (MNIST short runs: 4 > 3 > 2; a smaller radius shortens the wires on the FPGA)
    image_shape: tuple[int, ...] = ()  # local mode: (H, W) of the features; () = 1-D window over features
    lut: int = 0                     # 0: 2-input gates (softmax over 16 functions); k in 2..6: k-input LUT nodes
    shift: int = 0                   # each training image translated by up to shift pixels (needs image_shape)

    @property
    def radii(self) -> tuple[int, ...]:
        """The local window's radius for each layer."""
        return self.window if isinstance(self.window, tuple) else (self.window,) * len(self.widths)

    def __post_init__(self):
        require(not isinstance(self.widths, str), f"widths must be a list of positive integers, got {self.widths!r}")
        object.__setattr__(self, "widths", tuple(self.widths))
        require(len(self.widths) >= 1 and all(isinstance(w, int) and w >= 1 for w in self.widths),
                f"widths must be a list of positive integers, got {self.widths!r}")
        require(self.candidates >= 1, f"candidates must be >= 1, got {self.candidates}")
        require(self.tau > 0, f"tau must be positive, got {self.tau}")
        require(self.lr > 0, f"lr must be positive, got {self.lr}")
        require(self.batch >= 1 and self.steps >= 0, f"batch must be >= 1 and steps >= 0, got batch "
                                                     f"{self.batch}, steps {self.steps}")
        require(0 <= self.resample_until <= 1 and 0 < self.ema < 1,
                f"resample_until must lie in [0, 1] and ema in (0, 1), got {self.resample_until}, {self.ema}")
        require(self.patience >= 1 and self.eval_every >= 1,
                f"patience and eval_every must be >= 1, got {self.patience}, {self.eval_every}")
        require(0 <= self.discretize_layers <= len(self.widths),
                f"discretize_layers must lie in 0..{len(self.widths)}")
        require(0 < self.dominant <= 1 and 0 < self.dispersed <= 1, "dominant/dispersed must lie in (0, 1]")
        require(self.connections in ("learned", "fixed", "local"),
                f"connections must be 'learned', 'fixed' or 'local', got {self.connections!r}")
        if not isinstance(self.window, int):
            require(isinstance(self.window, (tuple, list)), f"window must be a positive integer or one per layer, "
                                                            f"got {self.window!r}")
            object.__setattr__(self, "window", tuple(self.window))
            if len(self.window) == 1:                    # one radius for every layer, as an int
                object.__setattr__(self, "window", self.window[0])
        if not isinstance(self.window, int):
            require(len(self.window) == len(self.widths), f"window: {len(self.window)} radii for "
                                                          f"{len(self.widths)} layers; give one, or one per layer")
        require(all(isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in self.radii),
                f"window must be a positive integer (a radius in pixels) or one per layer, got {self.window!r}")
        require(isinstance(self.lut, int) and not isinstance(self.lut, bool) and (self.lut == 0 or 2 <= self.lut <= 6),
                f"lut must be 0 (2-input gates) or a LUT size 2..6, got {self.lut!r}")
        require(not self.lut or (self.connections in ("fixed", "local") and self.discretize_layers == 0),
                f"LUT nodes (lut={self.lut}) need connections 'fixed' or 'local' and discretize_layers 0, "
                f"got {self.connections!r} and {self.discretize_layers}")
        require(not isinstance(self.image_shape, str), f"image_shape must be (H, W) or (), got {self.image_shape!r}")
        object.__setattr__(self, "image_shape", tuple(self.image_shape))
        require(len(self.image_shape) in (0, 2) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                                        for v in self.image_shape),
                f"image_shape must be (H, W) of positive integers or (), got {self.image_shape!r}")
        require(isinstance(self.shift, int) and not isinstance(self.shift, bool) and self.shift >= 0,
                f"shift must be a non-negative integer (pixels), got {self.shift!r}")
        require(not self.shift or self.image_shape,
                f"shift={self.shift} translates images, so it needs an image_shape (H, W)")


class RelaxedLayer:
    def __init__(self, n_in: int, n_out: int, cfg: LogicTrainConfig, rng: np.random.Generator):
        k = cfg.candidates
        self.n_in, self.n_out, self.k = n_in, n_out, k
        self.ops = np.tile(np.arange(k) % 16, (n_out, 1)).astype(np.int64)
        if k > 16:
            self.ops[:, 16:] = rng.integers(0, 16, (n_out, k - 16))
        self.ia = np.empty((n_out, k), dtype=np.int64)
        self.ib = np.empty((n_out, k), dtype=np.int64)
        for j in range(k):
            slots = 2 * n_out
            cover = (slots // n_in) * n_in
            s = np.concatenate([np.tile(np.arange(n_in), slots // n_in),
                                rng.integers(0, n_in, slots - cover)])
            rng.shuffle(s)
            self.ia[:, j], self.ib[:, j] = s[:n_out], s[n_out:]
        self.w = (rng.standard_normal((n_out, k)) * cfg.init_std).astype(np.float32)
        self.m = np.zeros_like(self.w)
        self.v = np.zeros_like(self.w)
        self.h_ema = np.full(n_out, np.log(k), dtype=np.float32)
        self.stable = np.zeros(n_out, dtype=np.int64)
        self.frozen = False
        self._sp = None

    # ------------------------------------------------------------- helpers
    def probs(self) -> np.ndarray:
        z = self.w - self.w.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def dominant(self):
        j = self.w.argmax(axis=1)
        r = np.arange(self.n_out)
        return self.ops[r, j], self.ia[r, j], self.ib[r, j]

    def _scatter(self):
        """Sum gradients of candidate slots into their input indices: SciPy sparse
        matrices when SciPy is installed, else a sorted ``np.add.reduceat``."""
        if self._sp is None:
            n = self.ia.size
            try:
                from scipy.sparse import csr_matrix
            except ImportError:
                self._sp = tuple(self._reduce_plan(idx.ravel()) for idx in (self.ia, self.ib))
            else:
                ones = np.ones(n, dtype=np.float32)
                cols = np.arange(n)
                self._sp = (csr_matrix((ones, (self.ia.ravel(), cols)), shape=(self.n_in, n)),
                            csr_matrix((ones, (self.ib.ravel(), cols)), shape=(self.n_in, n)))
        return self._sp

    def _reduce_plan(self, idx):
        order = np.argsort(idx, kind="stable")
        used, starts = np.unique(idx[order], return_index=True)
        return order, used, starts

    def _gather_sum(self, plan, g):
        if isinstance(plan, tuple):
            order, used, starts = plan
            out = np.zeros((g.shape[0], self.n_in), dtype=np.float32)
            out[:, used] = np.add.reduceat(g[:, order], starts, axis=1)
            return out
        return np.asarray((plan @ g.T).T, dtype=np.float32)

    # ------------------------------------------------------------- forward / backward
    def forward(self, x: np.ndarray, train: bool):
        if self.frozen:
            op, a, b = self.dominant()
            c = RELAX[op]
            xa, xb = x[:, a], x[:, b]
            return c[:, 0] + c[:, 1] * xa + c[:, 2] * xb + c[:, 3] * xa * xb
        c = RELAX[self.ops]                           # (n, k, 4)
        A = x[:, self.ia]                             # (B, n, k)
        Bv = x[:, self.ib]
        F = c[..., 0] + c[..., 1] * A + c[..., 2] * Bv + c[..., 3] * A * Bv
        p = self.probs()
        y = np.einsum("bnk,nk->bn", F, p, optimize=True)
        if train:
            self._cache = (A, Bv, F, p, c)
        return y

    def backward(self, gy: np.ndarray, need_input_grad: bool):
        A, Bv, F, p, c = self._cache
        self._cache = None
        gp = np.einsum("bn,bnk->nk", gy, F, optimize=True)
        self.gw = p * (gp - (p * gp).sum(axis=1, keepdims=True))
        if not need_input_grad:
            return None
        gF = gy[:, :, None] * p[None]
        gA = (gF * (c[..., 1] + c[..., 3] * Bv)).reshape(gy.shape[0], -1)
        gB = (gF * (c[..., 2] + c[..., 3] * A)).reshape(gy.shape[0], -1)
        sa, sb = self._scatter()
        return self._gather_sum(sa, gA) + self._gather_sum(sb, gB)

    def adam(self, lr: float, t: int, b1=0.9, b2=0.999, eps=1e-8):
        g = self.gw
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        mh = self.m / (1 - b1 ** t)
        vh = self.v / (1 - b2 ** t)
        self.w -= (lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)

    # ------------------------------------------------------------- resampling
    def entropy(self) -> np.ndarray:
        p = self.probs()
        return -(p * np.log(np.maximum(p, 1e-30))).sum(axis=1)

    def track(self, cfg: LogicTrainConfig) -> np.ndarray:
        h = self.entropy()
        new = cfg.ema * self.h_ema + (1 - cfg.ema) * h
        moved = np.abs(new - self.h_ema)
        self.h_ema = new.astype(np.float32)
        self.stable = np.where(moved < cfg.stable_eps, self.stable + 1, 0)
        return h

    def resample(self, cfg: LogicTrainConfig, rng: np.random.Generator, h: np.ndarray) -> tuple[int, int]:
        ready = self.stable >= cfg.patience
        if not ready.any():
            return 0, 0
        p = self.probs()
        dom = ready & (p.max(axis=1) > cfg.dominant)
        disp = ready & ~dom & (h > cfg.dispersed * np.log(self.k))
        mask = np.zeros((self.n_out, self.k), dtype=bool)
        mask[dom] = True
        mask[dom, self.w[dom].argmax(axis=1)] = False
        mask[disp] = True
        n = int(mask.sum())
        if n:
            self.ops[mask] = rng.integers(0, 16, n)
            self.ia[mask] = rng.integers(0, self.n_in, n)
            self.ib[mask] = rng.integers(0, self.n_in, n)
            self.m[mask] = 0
            self.v[mask] = 0
            self.w[disp] = (rng.standard_normal((int(disp.sum()), self.k)) * cfg.init_std).astype(np.float32)
            self._sp = None
        self.stable[ready & (dom | disp)] = 0
        return int(dom.sum()), int(disp.sum())


def _cover(n_in: int, n_out: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """2 * n_out input slots that use every input (repeated as often as it fits), shuffled."""
    slots = 2 * n_out
    cover = (slots // n_in) * n_in
    s = np.concatenate([np.tile(np.arange(n_in), slots // n_in), rng.integers(0, n_in, slots - cover)])
    rng.shuffle(s)
    return s[:n_out], s[n_out:]


def shift_images(bits: np.ndarray, shape: tuple[int, int], shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each row of ``bits`` (S, H*W*T, pixel-major as the thermometer lays them out) translated
    by its own (dy, dx), both uniform in -shift..shift; pixels moved in from outside are 0.

    Output pixel (i, j) of a row is input pixel (i + dy, j + dx). A regulariser for the
    training batches only: local connections see each stroke at several positions.
    """
    s, (h, w) = len(bits), shape
    img = bits.reshape(s, h, w, -1)
    pad = np.zeros((s, h + 2 * shift, w + 2 * shift, img.shape[3]), bits.dtype)
    pad[:, shift:shift + h, shift:shift + w] = img
    dy, dx = rng.integers(0, 2 * shift + 1, (2, s))
    rows = (dy[:, None] + np.arange(h))[:, :, None]
    cols = (dx[:, None] + np.arange(w))[:, None, :]
    return pad[np.arange(s)[:, None, None], rows, cols].reshape(s, -1)


def local_cells(n: int, cells: int, groups: int = 1) -> np.ndarray:
    """Cells of ``n`` gates spread evenly over ``cells`` positions, in raster order within
    each of ``groups`` contiguous groups (the last layer: one group per class). Gate ``j``
    of group ``q`` takes the slot ``j * groups + q`` of the ``n`` evenly spread slots, so
    the groups interleave and together still cover every cell evenly."""
    g = n // groups
    j, q = np.arange(n) % g, np.arange(n) // g
    return (j * groups + q) * cells // n


def local_pairs(prev_cell: np.ndarray, cell: np.ndarray, shape: tuple[int, int], radius: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Input pairs ``(a, b)`` (indices into the previous layer) for gates on ``cell``.

    ``prev_cell`` (non-decreasing) are the previous layer's cells on the ``shape``
    grid. Each slot is a node whose cell lies within ``radius`` (Chebyshev) of the
    gate's cell; the cell's own nodes are handed out first (covering), the other
    slots are uniform over the window's nodes (module docstring). Vectorised.
    """
    h, w = shape
    c = h * w
    prev_cell, cell = np.asarray(prev_cell, dtype=np.int64), np.asarray(cell, dtype=np.int64)
    require(prev_cell.size >= 1 and bool(np.all(np.diff(prev_cell) >= 0)),
            "local connections: the previous layer's cells must be sorted")
    counts = np.bincount(prev_cell, minlength=c)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n = cell.size
    gy, gx = np.divmod(cell, w)
    ys = gy[:, None] + np.arange(-radius, radius + 1)[None]               # (n, 2r+1) window rows
    ok = (ys >= 0) & (ys < h)
    yc = np.clip(ys, 0, h - 1)
    x0 = np.maximum(gx - radius, 0)[:, None]
    x1 = np.minimum(gx + radius, w - 1)[:, None]
    lo = start[yc * w + x0]
    hi = start[yc * w + x1] + counts[yc * w + x1]
    cnt = np.where(ok, hi - lo, 0)
    cum = np.cumsum(cnt, axis=1)
    total = cum[:, -1]
    if n and total.min() == 0:
        y, x = divmod(int(cell[int(total.argmin())]), w)
        require(False, f"local connections: no node of the previous layer lies within window {radius} of "
                       f"position ({y}, {x}); widen the window or the previous layer")

    def draw():
        u = (rng.random(n) * total).astype(np.int64)
        u = np.minimum(u, total - 1)
        k = (u[:, None] >= cum).sum(axis=1)
        r = np.arange(n)
        return lo[r, k] + u - (cum[r, k] - cnt[r, k])

    order = np.argsort(cell, kind="stable")
    sc = cell[order]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.searchsorted(sc, sc, side="left")
    m = np.bincount(cell, minlength=c)[cell]          # gates on the gate's cell
    p = counts[cell]                                  # previous-layer nodes on it
    shift = rng.integers(0, np.maximum(counts, 1))[cell]
    pp = np.maximum(p, 1)
    a = np.where(rank < p, start[cell] + (rank + shift) % pp, draw())
    b = np.where(rank + m < p, start[cell] + (rank + m + shift) % pp, draw())
    swap = rng.random(n) < 0.5
    return np.where(swap, b, a), np.where(swap, a, b)


class FixedPairLayer(RelaxedLayer):
    """difflogic neuron: one fixed input pair, a softmax over the 16 functions.

    ``ops``/``ia``/``ib`` keep the (n_out, K) shape of :class:`RelaxedLayer`
    (``ia``/``ib`` with a single column) so ``dominant`` and the scatter work
    unchanged; ``w`` column k is the weight of function k.
    """

    def __init__(self, n_in: int, n_out: int, cfg: LogicTrainConfig, rng: np.random.Generator, pairs=None):
        self.n_in, self.n_out, self.k = n_in, n_out, 16
        self.ops = np.tile(np.arange(16), (n_out, 1)).astype(np.int64)
        a, b = _cover(n_in, n_out, rng) if pairs is None else pairs
        self.ia, self.ib = a[:, None].astype(np.int64), b[:, None].astype(np.int64)
        self.w = (rng.standard_normal((n_out, 16)) * cfg.init_std).astype(np.float32)
        self.m = np.zeros_like(self.w)
        self.v = np.zeros_like(self.w)
        self.h_ema = np.full(n_out, np.log(16), dtype=np.float32)
        self.stable = np.zeros(n_out, dtype=np.int64)
        self.frozen = False
        self._sp = None

    def dominant(self):
        return self.w.argmax(axis=1), self.ia[:, 0], self.ib[:, 0]

    def forward(self, x: np.ndarray, train: bool):
        if self.frozen:
            return super().forward(x, train)
        p = self.probs()
        c = (p @ RELAX).astype(x.dtype)               # (n, 4): mixture of affine relaxations
        A = x[:, self.ia[:, 0]]                       # (B, n)
        Bv = x[:, self.ib[:, 0]]
        AB = A * Bv
        y = c[:, 0] + c[:, 1] * A + c[:, 2] * Bv + c[:, 3] * AB
        if train:
            self._cache = (A, Bv, AB, p, c)
        return y

    def backward(self, gy: np.ndarray, need_input_grad: bool):
        A, Bv, AB, p, c = self._cache
        self._cache = None
        gc = np.stack([gy.sum(axis=0), (gy * A).sum(axis=0), (gy * Bv).sum(axis=0),
                       (gy * AB).sum(axis=0)], axis=1)          # dL/dcoef (n, 4)
        gp = gc @ RELAX.T.astype(gc.dtype)                      # dL/dp (n, 16)
        self.gw = p * (gp - (p * gp).sum(axis=1, keepdims=True))
        if not need_input_grad:
            return None
        gA = gy * (c[:, 1] + c[:, 3] * Bv)
        gB = gy * (c[:, 2] + c[:, 3] * A)
        sa, sb = self._scatter()
        return self._gather_sum(sa, gA) + self._gather_sum(sb, gB)

    def resample(self, cfg, rng, h):
        return 0, 0          # one fixed pair per neuron: nothing to resample


class LutNodeLayer(RelaxedLayer):
    """k-input LUT nodes with learned truth tables (module docstring, "LUT nodes").

    ``ins`` (n_out, k) indexes the previous layer; ``w`` (n_out, 2**k) holds theta,
    so :meth:`RelaxedLayer.adam` and the scatter of input gradients are shared.
    """

    def __init__(self, n_in: int, n_out: int, cfg: LogicTrainConfig, rng: np.random.Generator, ins: np.ndarray):
        self.n_in, self.n_out, self.lut = n_in, n_out, int(ins.shape[1])
        self.ins = ins.astype(np.int64)
        self.w = (rng.standard_normal((n_out, 1 << self.lut)) * cfg.init_std).astype(np.float32)
        self.m = np.zeros_like(self.w)
        self.v = np.zeros_like(self.w)
        self.frozen = False
        self._sp = None

    def tables(self) -> np.ndarray:
        """Discrete truth tables (n_out,) uint64, entry c at bit 2**k - 1 - c."""
        k = self.lut
        bits = (self.w > 0).astype(np.uint64)
        return (bits << np.arange((1 << k) - 1, -1, -1, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)

    def _scatter(self):
        if self._sp is None:
            try:
                from scipy.sparse import csr_matrix
            except ImportError:
                self._sp = [self._reduce_plan(self.ins[:, i]) for i in range(self.lut)]
            else:
                ones, cols = np.ones(self.n_out, dtype=np.float32), np.arange(self.n_out)
                self._sp = [csr_matrix((ones, (self.ins[:, i], cols)), shape=(self.n_in, self.n_out))
                            for i in range(self.lut)]
        return self._sp

    def forward(self, x: np.ndarray, train: bool):
        # The table-entry axis leads every array ((entries, batch, nodes)), so each
        # step of the contraction and every sum over entries adds whole contiguous
        # (batch, nodes) planes; NumPy reduces a short last axis several times slower.
        t = 1 / (1 + np.exp(-self.w))                  # (n, 2**k) table entries in (0, 1)
        xs = [x[:, self.ins[:, i]] for i in range(self.lut)]
        cur, diffs = t.T[:, None, :], []               # (2**k, 1, n)
        for i in range(self.lut - 1, -1, -1):          # contract input i: entry pairs 2c, 2c + 1
            c = cur.reshape(-1, 2, *cur.shape[1:])
            d = c[:, 1] - c[:, 0]
            diffs.append(d)
            cur = c[:, 0] + d * xs[i]
        if train:
            self._cache = (xs, t, diffs)
        return cur[0]

    def backward(self, gy: np.ndarray, need_input_grad: bool):
        xs, t, diffs = self._cache
        self._cache = None
        k = self.lut
        left = gy[None]                                # gy x products of inputs 0..i-1's (1 - x, x)
        gx = [] if need_input_grad else None
        for i in range(k):
            if need_input_grad:                        # dy/dx_i: left weights x the rest's contraction
                gx.append((left * diffs[k - 1 - i]).sum(axis=0))
            hi = left * xs[i]
            left = np.stack([left - hi, hi], axis=1).reshape(-1, *left.shape[1:])
        self.gw = left.sum(axis=1).T * t * (1 - t)
        if not need_input_grad:
            return None
        sp = self._scatter()
        return sum(self._gather_sum(sp[i], gx[i]) for i in range(k))

    def track(self, cfg):
        return None

    def resample(self, cfg, rng, h):
        return 0, 0


def _lut_inputs(k: int, pairs) -> np.ndarray:
    """(n, k) inputs from ``pairs()`` draws of (a, b): ceil(k / 2) of them."""
    cols = []
    while len(cols) < k:
        cols += list(pairs())
    return np.stack(cols[:k], axis=1)


@dataclass
class TrainResult:
    netlist: Netlist
    history: list = field(default_factory=list)
    best_step: int = 0
    best_val: float = 0.0
    seconds: float = 0.0
    resampled: dict = field(default_factory=dict)
    discretized_at: dict = field(default_factory=dict)


class LogicTrainer:
    """Trains a relaxed network on encoded input bits; exports a Netlist."""

    def __init__(self, inputs: int, classes: int, cfg: LogicTrainConfig,
                 encoder: Thermometer | None = None):
        require(cfg.widths[-1] % classes == 0,
                f"the last layer ({cfg.widths[-1]} gates) must split into {classes} equal GroupSum groups")
        self.inputs, self.classes, self.cfg, self.encoder = inputs, classes, cfg, encoder
        self.rng = np.random.default_rng(cfg.seed)
        sizes = (inputs,) + tuple(cfg.widths)
        if cfg.connections == "local":
            self.layers = self._local_layers(sizes)
        elif cfg.lut:
            self.layers = [LutNodeLayer(a, b, cfg, self.rng, _lut_inputs(cfg.lut, lambda: _cover(a, b, self.rng)))
                           for a, b in zip(sizes[:-1], sizes[1:])]
        else:
            layer = FixedPairLayer if cfg.connections == "fixed" else RelaxedLayer
            self.layers = [layer(a, b, cfg, self.rng) for a, b in zip(sizes[:-1], sizes[1:])]
        self.layer_ema = [None] * len(self.layers)
        self.layer_stable = [0] * len(self.layers)
        self.step = 0

    def _local_layers(self, sizes) -> list:
        """FixedPairLayers with windowed pairs; ``layer.cell`` keeps each gate's position."""
        cfg, enc = self.cfg, self.encoder
        levels = enc.thresholds.shape[1] if enc is not None else 1
        features = enc.features if enc is not None else self.inputs
        require(features * levels == self.inputs,
                f"local connections: the encoder gives {features} x {levels} bits, not {self.inputs} inputs")
        shape = cfg.image_shape or (1, features)
        require(shape[0] * shape[1] == features,
                f"local connections: image_shape {shape[0]}x{shape[1]} does not match {features} features")
        cells = shape[0] * shape[1]
        prev = np.arange(self.inputs) // levels
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            cell = local_cells(n_out, cells, self.classes if last else 1)
            draw = lambda: local_pairs(prev, cell, shape, cfg.radii[i], self.rng)
            layer = LutNodeLayer(n_in, n_out, cfg, self.rng, _lut_inputs(cfg.lut, draw)) if cfg.lut else \
                FixedPairLayer(n_in, n_out, cfg, self.rng, pairs=draw())
            layer.cell = cell
            layers.append(layer)
            prev = cell
        self.image_shape = shape
        return layers

    def logits(self, x: np.ndarray, train: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, train and not layer.frozen)
        return x.reshape(x.shape[0], self.classes, -1).sum(axis=2) / self.cfg.tau

    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        cfg = self.cfg
        z = self.logits(xb.astype(np.float32), True)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        loss = float(-np.log(np.maximum(p[np.arange(len(yb)), yb], 1e-30)).mean())
        g = p
        g[np.arange(len(yb)), yb] -= 1
        g /= len(yb) * cfg.tau
        gy = np.repeat(g, cfg.widths[-1] // self.classes, axis=1).astype(np.float32)
        first_trainable = next((i for i, l in enumerate(self.layers) if not l.frozen), len(self.layers))
        self.step += 1
        for i in range(len(self.layers) - 1, first_trainable - 1, -1):
            gy = self.layers[i].backward(gy, need_input_grad=i > first_trainable)
            self.layers[i].adam(cfg.lr, self.step)
        return loss

    def _adapt(self, result: TrainResult) -> None:
        cfg = self.cfg
        resampling = cfg.resample and self.step <= cfg.resample_until * cfg.steps
        for i, layer in enumerate(self.layers):
            if layer.frozen:
                continue
            h = layer.track(cfg)
            if resampling:
                dom, disp = layer.resample(cfg, self.rng, h)
                r = result.resampled.setdefault(i, [0, 0])
                r[0] += dom
                r[1] += disp
        # progressive discretization, shallow to deep
        nxt = next((i for i, l in enumerate(self.layers) if not l.frozen), None)
        if nxt is not None and nxt < cfg.discretize_layers:
            h = float(self.layers[nxt].entropy().mean())
            prev = self.layer_ema[nxt]
            new = h if prev is None else cfg.ema * prev + (1 - cfg.ema) * h
            self.layer_stable[nxt] = self.layer_stable[nxt] + 1 if prev is not None and abs(new - prev) < cfg.stable_eps else 0
            self.layer_ema[nxt] = new
            if self.layer_stable[nxt] >= cfg.patience:
                self.layers[nxt].frozen = True
                result.discretized_at[nxt] = self.step

    def to_netlist(self, meta: dict | None = None) -> Netlist:
        if self.cfg.lut:
            layers, prev, start = [], 0, self.inputs
            for layer in self.layers:
                layers.append(LutLayer(layer.tables(), layer.ins + prev))
                prev, start = start, start + layer.n_out
            return Netlist(self.inputs, layers, np.arange(prev, start), GroupSum(self.classes, self.cfg.tau),
                           self.encoder, dict(meta or {}))
        layers = [layer.dominant() for layer in self.layers]
        return from_difflogic(layers, self.classes, inputs=self.inputs, tau=self.cfg.tau,
                              encoder=self.encoder, meta=dict(meta or {}))

    def fit(self, x_bits: np.ndarray, y: np.ndarray, x_val=None, y_val=None, *, log=None,
            max_seconds: float | None = None) -> TrainResult:
        """Train on encoded bits (S, inputs); keep the netlist with the best validation accuracy.

        ``max_seconds`` stops early (after the current step) when the wall-clock
        budget is spent.
        """
        from ..golden.logic import LogicNetwork

        cfg = self.cfg
        x_bits = np.asarray(x_bits, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        require(x_bits.ndim == 2 and x_bits.shape[1] == self.inputs,
                f"expected encoded bits of shape (samples, {self.inputs}), got {x_bits.shape}")
        if x_val is None:
            x_val, y_val = x_bits, y
        x_val_bits = np.asarray(x_val).astype(np.uint8)
        if cfg.shift:                   # (the config refuses a shift without an image shape)
            h, w = cfg.image_shape
            require(self.inputs % (h * w) == 0, f"shift={cfg.shift}: {self.inputs} input bits are not a whole "
                                                f"number of bits per pixel of the {h}x{w} image")
        result = TrainResult(netlist=self.to_netlist())
        t0 = time.monotonic()
        order = self.rng.permutation(len(y))
        pos = 0
        losses = []

        def evaluate():
            nl = self.to_netlist()
            acc = float((LogicNetwork(nl).predict_bits(x_val_bits) == y_val).mean())
            rec = {"step": self.step, "loss": float(np.mean(losses)) if losses else None, "val_acc": acc,
                   "seconds": time.monotonic() - t0,
                   "frozen_layers": sum(l.frozen for l in self.layers)}
            result.history.append(rec)
            if log:
                log(rec)
            if acc >= result.best_val:
                result.best_val, result.best_step, result.netlist = acc, self.step, nl
            losses.clear()

        for _ in range(cfg.steps):
            if pos + cfg.batch > len(order):
                order = self.rng.permutation(len(y))
                pos = 0
            idx = order[pos:pos + cfg.batch]
            pos += cfg.batch
            xb = shift_images(x_bits[idx], cfg.image_shape, cfg.shift, self.rng) if cfg.shift else x_bits[idx]
            losses.append(self.train_step(xb, y[idx]))
            self._adapt(result)
            if cfg.eval_every and self.step % cfg.eval_every == 0:
                evaluate()
            if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                break
        if not result.history or result.history[-1]["step"] != self.step:
            evaluate()
        result.seconds = time.monotonic() - t0
        result.netlist.meta.update({"trainer": "hwtrain.logic.train", "steps": self.step,
                                    "best_step": result.best_step, "val_acc": result.best_val})
        return result
