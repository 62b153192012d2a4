"""Fully binarized Equilibrium Propagation with BOP, in integers (the spec).

Golden twin of :class:`hwtrain.hdl.ep.EpEngine`. The network is
``inputs -> hidden -> classes * replicas`` with binary (+-1) weights,
{0, 1} activations and symmetric connections (the hidden layer also hears the
output layer through W2 transposed). Every rule that decides a bit is written
in docs/semantics_ep.md; the short version:

* neuron state: unsigned ``state_bits``-bit integer ``s``; real state
  ``s / 2**state_bits`` in [0, 1); activation ``rho = s >= 2**(state_bits-1)``
  (H(s - 1/2), the state's top bit).
* pre-activation: ``pre = W.a + (b >> bias_frac)`` with the dot product of +-1
  weights and {0,1} activations (``2*popcount(a AND w) - popcount(a)``).
* input to the integrator: ``u = pre << in_shift`` (arithmetic right shift by
  ``-in_shift`` when negative, rounding toward -inf); nudged outputs add
  ``nudge * (target - rho)``.
* step (dt = 1/2, all neurons at once from the previous step's activations):
  ``s <- clamp((s >> 1) + (u >> 1), 0, 2**state_bits - 1)``.
* a sample: states start at ``state_init``; T free steps; snapshot; K nudged
  steps; snapshot; prediction = argmax over classes of the sum of the
  replicas' free-phase states (lowest class wins ties).
* update: loss gradient (times beta) ``g = AND(free) - AND(nudged)`` into BOP
  (:mod:`hwtrain.golden.bop`, larq's flip rule ``w * M > tau``); biases
  ``b <- saturate(b + nudged - free, bias_bits)``.

Initial weights come from ``Xorshift32`` lanes of master seed ``seed`` (see
:func:`initial_weights`); biases and momenta start at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ConfigBase
from ..errors import require
from ..core.bits import sat_bounds, saturate
from .bop import Bop, BopConfig
from ..core.prng import generator


def _int(name: str, value, lo: int, hi: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo
    ok = ok and (hi is None or value <= hi)
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    require(ok, f"{name} must be an integer {rng}, got {value!r}")


@dataclass(frozen=True)
class EpConfig(ConfigBase):
    """One fully binarized EP network and its number formats.

    inputs, hidden, classes, replicas   D, H, C, R; the output layer has C*R neurons
                                        (neuron c*R + r is replica r of class c).
    state_bits     B, unsigned neuron state width.
    state_init     state every neuron starts each sample from.
    in_shift       u = pre << in_shift (negative: arithmetic right shift); the
                   weight scale alpha is 2**(in_shift - B) in real units.
    bias_bits      signed saturating bias width; bias_frac of them are fraction
                   (the bias learning rate is 2**-bias_frac in dot-product units).
    nudge          beta in state LSBs: nudged outputs get u += nudge*(target - rho).
    free_steps     T; nudged_steps K.
    mom_bits, gamma_shift   BOP momentum width and gamma = 2**-gamma_shift (shared).
    tau_hidden, tau_output  BOP flip thresholds of W1 (input->hidden) and W2.
    seed           master seed of the weight initialisation.
    """

    inputs: int = 64
    hidden: int = 64
    classes: int = 10
    replicas: int = 4
    state_bits: int = 6
    state_init: int = 0
    in_shift: int = 2
    bias_bits: int = 12
    bias_frac: int = 4
    nudge: int = 128
    free_steps: int = 20
    nudged_steps: int = 10
    mom_bits: int = 8
    gamma_shift: int = 6
    tau_hidden: int = 4
    tau_output: int = 4
    seed: int = 1

    def __post_init__(self):
        for name in ("inputs", "hidden", "replicas", "free_steps", "nudged_steps"):
            _int(name, getattr(self, name), 1)
        _int("classes", self.classes, 2)
        _int("state_bits", self.state_bits, 2, 24)
        _int("state_init", self.state_init, 0, (1 << self.state_bits) - 1)
        _int("in_shift", self.in_shift, -16, 16)
        _int("bias_bits", self.bias_bits, 2, 32)
        _int("bias_frac", self.bias_frac, 0, self.bias_bits - 1)
        _int("nudge", self.nudge, 0, 1 << 20)
        _int("seed", self.seed, 0)
        # The two BOP memories validate momentum width, gamma and tau.
        self.bop_hidden, self.bop_output  # noqa: B018

    @property
    def outputs(self) -> int:
        return self.classes * self.replicas

    @property
    def bop_hidden(self) -> BopConfig:
        """BOP memory of W1: one row per hidden neuron, one lane per input."""
        return BopConfig(self.inputs, self.hidden, self.mom_bits, self.gamma_shift, self.tau_hidden)

    @property
    def bop_output(self) -> BopConfig:
        """BOP memory of W2: one row per output neuron, one lane per hidden neuron."""
        return BopConfig(self.hidden, self.outputs, self.mom_bits, self.gamma_shift, self.tau_output)

    @property
    def label_width(self) -> int:
        return (self.classes - 1).bit_length()



def initial_weights(cfg: EpConfig) -> tuple[np.ndarray, np.ndarray]:
    """Initial W1 (H, D) and W2 (C*R, H) as booleans (True = +1).

    One ``Xorshift32`` lane per weight row, master seed ``cfg.seed``
    (``generator(seed, H + C*R)``): W1[i, j] is bit 31 of draw j of lane i, and
    W2[o, i] is bit 31 of draw i of lane H + o.
    """
    n = max(cfg.inputs, cfg.hidden)
    bits = generator(cfg.seed, cfg.hidden + cfg.outputs).bits(n)      # (draw, lane)
    w1 = bits[:cfg.inputs, :cfg.hidden].T.copy()
    w2 = bits[:cfg.hidden, cfg.hidden:].T.copy()
    return w1, w2


def scale_input(pre: np.ndarray, in_shift: int) -> np.ndarray:
    """``pre << in_shift``, or an arithmetic (floor) right shift when negative."""
    return pre << in_shift if in_shift >= 0 else pre >> -in_shift


def neuron_step(s: np.ndarray, u: np.ndarray, state_bits: int) -> np.ndarray:
    """Shift-register neuron, dt = 1/2: ``clamp((s >> 1) + (u >> 1), 0, 2**B - 1)``.

    ``u >> 1`` is an arithmetic shift (floor), so ``(s >> 1) + (u >> 1)`` drops
    both low bits: it is not ``(s + u) >> 1``.
    """
    return np.clip((s >> 1) + (u >> 1), 0, (1 << state_bits) - 1)


def targets(cfg: EpConfig, label: int) -> np.ndarray:
    """Replicated one-hot target of the C*R output neurons, as {0, 1}."""
    return (np.arange(cfg.outputs) // cfg.replicas == label).astype(np.int64)


class EpEngine:
    """Online (batch 1) fully binarized EP with BOP; the state the hardware holds.

    ``w1`` (H, D) and ``w2`` (C*R, H) bool weights, ``b_hidden``/``b_output``
    integer biases, ``bop_hidden.momenta``/``bop_output.momenta`` integer momenta.
    """

    def __init__(self, cfg: EpConfig):
        self.cfg = cfg
        self.w1, self.w2 = initial_weights(cfg)
        self.b_hidden = np.zeros(cfg.hidden, dtype=np.int64)
        self.b_output = np.zeros(cfg.outputs, dtype=np.int64)
        self.bop_hidden = Bop(cfg.bop_hidden)
        self.bop_output = Bop(cfg.bop_output)
        self.flips = 0                      # total weight flips so far

    # --- dynamics ---------------------------------------------------------------

    def _relax(self, x, s_h, s_y, steps: int, target=None):
        """``steps`` synchronous integrator steps; returns the new states.

        Hidden and output neurons are one vector here, with the symmetric
        block matrix [[0, W2^T], [W2, 0]] (cheaper in NumPy than two products).
        """
        c = self.cfg
        H, top, smax = c.hidden, c.state_bits - 1, (1 << c.state_bits) - 1
        w1 = np.where(self.w1, 1, -1).astype(np.int64)
        w2 = np.where(self.w2, 1, -1).astype(np.int64)
        coupling = np.zeros((H + c.outputs, H + c.outputs), dtype=np.int64)
        coupling[:H, H:], coupling[H:, :H] = w2.T, w2
        # Input drive and biases stay constant during a sample.
        drive = np.concatenate([w1 @ x + (self.b_hidden >> c.bias_frac),
                                self.b_output >> c.bias_frac])
        s = np.concatenate([s_h, s_y])
        for _ in range(steps):
            a = s >> top                                    # activations: the top bit
            u = scale_input(drive + coupling @ a, c.in_shift)
            if target is not None:
                u[H:] += c.nudge * (target - a[H:])
            s = np.minimum(np.maximum((s >> 1) + (u >> 1), 0), smax)   # == neuron_step
        return s[:H], s[H:]

    def _check_x(self, x) -> np.ndarray:
        x = np.asarray(x)
        require(x.shape == (self.cfg.inputs,),
                f"a sample must have {self.cfg.inputs} binary inputs, got shape {x.shape}")
        return (x != 0).astype(np.int64) if x.dtype == bool else np.asarray(x > 0, np.int64)

    def free_phase(self, x):
        """States after the free phase from ``state_init`` (H and C*R)."""
        c = self.cfg
        s_h = np.full(c.hidden, c.state_init, dtype=np.int64)
        s_y = np.full(c.outputs, c.state_init, dtype=np.int64)
        return self._relax(x, s_h, s_y, c.free_steps)

    def prediction(self, s_y: np.ndarray) -> int:
        """Argmax over classes of the summed replica states (first maximum wins)."""
        return int(np.argmax(s_y.reshape(self.cfg.classes, self.cfg.replicas).sum(axis=1)))

    def predict(self, x) -> int:
        x = self._check_x(x)
        return self.prediction(self.free_phase(x)[1])

    def train_sample(self, x, label: int) -> int:
        """Free phase, nudged phase, BOP and bias update; returns the free-phase prediction."""
        c = self.cfg
        require(0 <= int(label) < c.classes, f"label {label} outside 0..{c.classes - 1}")
        x = self._check_x(x)
        top = c.state_bits - 1
        s_h, s_y = self.free_phase(x)
        pred = self.prediction(s_y)
        f_h, f_y = s_h >> top, s_y >> top
        s_h, s_y = self._relax(x, s_h, s_y, c.nudged_steps, targets(c, int(label)))
        n_h, n_y = s_h >> top, s_y >> top
        # Loss gradient times beta: dL/dW = (1/beta)(AND(free) - AND(nudged)).
        g1 = np.outer(f_h - n_h, x)
        g2 = np.outer(f_y, f_h) - np.outer(n_y, n_h)
        self.w1, m1, fl1 = self._bop(self.bop_hidden, self.w1, g1)
        self.w2, m2, fl2 = self._bop(self.bop_output, self.w2, g2)
        self.flips += int(fl1.sum() + fl2.sum())
        self.b_hidden = saturate(self.b_hidden + n_h - f_h, c.bias_bits)
        self.b_output = saturate(self.b_output + n_y - f_y, c.bias_bits)
        return pred

    @staticmethod
    def _bop(bop: Bop, w, g):
        from .bop import bop_update
        bc = bop.cfg
        w_new, bop.momenta, flips = bop_update(w, bop.momenta, g, mom_bits=bc.mom_bits,
                                               gamma_shift=bc.gamma_shift, tau=bc.tau)
        return w_new, bop.momenta, flips

    # --- epochs -----------------------------------------------------------------

    def train_epoch(self, xs, labels) -> np.ndarray:
        """Train on every sample in order; returns the free-phase predictions."""
        return np.array([self.train_sample(x, y) for x, y in zip(xs, labels)], dtype=np.int64)

    def accuracy(self, xs, labels) -> float:
        preds = np.array([self.predict(x) for x in xs])
        return float((preds == np.asarray(labels)).mean())

    def state(self) -> dict:
        """Everything the hardware holds between samples (for bit-exact comparison)."""
        return {"w1": self.w1.copy(), "w2": self.w2.copy(),
                "b_hidden": self.b_hidden.copy(), "b_output": self.b_output.copy(),
                "m1": self.bop_hidden.momenta.copy(), "m2": self.bop_output.momenta.copy()}


def bias_bounds(cfg: EpConfig) -> tuple[int, int]:
    return sat_bounds(cfg.bias_bits)


def digits_binary(*, threshold: int = 8, n_train: int = 1437, seed: int = 7):
    """scikit-learn's 8x8 digits with pixels binarized by ``pixel >= threshold``
    (pixels are 0..16), in an order shuffled by ``Xorshift32(seed, 1)`` (the
    argsort of the lane's first 1797 draws); the first ``n_train`` samples
    train, the rest test. Returns ``(x_train, y_train, x_test, y_test)``."""
    from sklearn.datasets import load_digits

    from ..core.prng import Xorshift32
    require(0 <= threshold <= 16, f"digits threshold must lie in 0..16, got {threshold}")
    d = load_digits()
    require(1 <= n_train < len(d.target), f"n_train must lie in 1..{len(d.target) - 1}, got {n_train}")
    order = np.argsort(Xorshift32(seed, 1).draws(len(d.target))[:, 0], kind="stable")
    x = (d.data[order] >= threshold).astype(np.int64)
    y = d.target[order].astype(np.int64)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]
