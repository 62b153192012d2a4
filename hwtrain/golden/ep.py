"""Fully binarized Equilibrium Propagation with BOP, in integers (the spec).

Golden twin of :class:`hwtrain.hdl.ep.EpEngine`. The network is
``inputs -> hidden -> classes * replicas`` with binary (+-1) weights,
{0, 1} activations and symmetric connections (the hidden layer also hears the
output layer through W2 transposed). Every rule that decides a bit is written
in docs/semantics_ep.md; the short version, for the default configuration
(the engine the hardware builds):

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

Options that follow the thesis more closely (issue 21; each one's decision
and measurement is in docs/semantics_ep.md; the hardware refuses them):
``nudge_mode`` (nudge the output *state*, A.6), ``beta_sign = "random"``
(one PRNG bit per update), ``mom_frac`` (momentum fraction bits: a real EMA
instead of the leak's dead zone), ``in_shift_output`` (one alpha per matrix,
Alg. 7), ``bias_mode = "state"`` (bias in state units, rounded to nearest)
and ``batch`` (mini-batches from pre-update weights).

Two implementations of the same rules: :class:`EpEngine` (the reference, one
sample at a time in int64) and :class:`FastEpEngine` (every sample of a
mini-batch at once with exact float32 matrix products and a row-sparse BOP;
equal to the reference bit for bit, tests/test_ep_fast.py), for MNIST-sized
networks.

Initial weights come from ``Xorshift32`` lanes of master seed ``seed`` (see
:func:`initial_weights`); biases and momenta start at 0.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..config import ConfigBase
from ..errors import HwtrainError, require
from ..core.bits import sat_bounds, saturate
from .bop import Bop, BopConfig, bop_update
from ..core.prng import Xorshift32, generator, stream_seed

NUDGE_MODES = ("activation", "state", "constant")
BETA_SIGNS = ("positive", "random")
BIAS_MODES = ("pre", "state")
BETA_STREAM = 2          # PRNG stream of beta's sign: stream_seed(seed, 2)


def _int(name: str, value, lo: int, hi: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo
    ok = ok and (hi is None or value <= hi)
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    require(ok, f"{name} must be an integer {rng}, got {value!r}")


def _choice(name: str, value, options) -> None:
    require(value in options, f"{name} must be one of {', '.join(options)}, got {value!r}")


@dataclass(frozen=True)
class EpConfig(ConfigBase):
    """One fully binarized EP network and its number formats.

    inputs, hidden, classes, replicas   D, H, C, R; the output layer has C*R neurons
                                        (neuron c*R + r is replica r of class c).
    state_bits     B, unsigned neuron state width.
    state_init     state every neuron starts each sample from (the thesis: 1.0,
                   i.e. 2**B - 1).
    in_shift       u = pre << in_shift (negative: arithmetic right shift); the
                   weight scale alpha is 2**(in_shift - B) in real units.
    in_shift_output  None: W2 shares in_shift (one alpha). An integer: W2's own
                   alpha 2**(in_shift_output - B) (Alg. 7: one alpha per matrix);
                   then each matrix's sum is scaled (and floored) separately.
    bias_bits      signed saturating bias width; bias_frac of them are fraction.
    bias_mode      "pre": u = (W.a + (b >> bias_frac)) << in_shift (the bias in
                   dot-product units, floor). "state": u = scaled W.a +
                   round(b / 2**bias_frac), the bias in state LSBs (independent
                   of alpha, as the thesis's real bias), rounded half up.
    nudge          |beta| in state LSBs (beta = nudge / 2**B).
    nudge_mode     "activation": nudged outputs get u += beta_int*(target - rho).
                   "state": u += floor(beta_int*(target*2**B - s) / 2**B), the
                   thesis's -beta dl/ds (A.6). "constant": the same with the
                   free-phase state s* (the thesis's conv net: beta(y - y*)).
    beta_sign      "positive", or "random": one Xorshift32 draw per update
                   (stream_seed(seed, 2), one lane), beta < 0 when bit 31 is 1.
    free_steps     T; nudged_steps K.
    batch          samples per update (1 = online, as on chip); the samples of a
                   batch all see the pre-update weights, their ternary gradients
                   and bias moves are summed.
    mom_bits, gamma_shift   BOP momentum width and gamma = 2**-gamma_shift (shared).
    mom_frac       fraction bits of the momentum: one gradient event adds
                   2**mom_frac, so the leak's dead zone shrinks to
                   2**(gamma_shift - mom_frac) events (mom_frac >= gamma_shift: a
                   real EMA to within one LSB).
    tau_hidden, tau_output  BOP flip thresholds of W1 (input->hidden) and W2, in
                   gradient events (the momentum memory compares with tau << mom_frac).
    tau_schedule   raised thresholds later in training (hwtrain's rule, not the
                   thesis's; docs/semantics_ep.md): entries (after, tau_hidden,
                   tau_output), ``after`` strictly increasing and >= 1; an update
                   whose first sample is training sample number ``after`` or later
                   (counted from 0 since reset) flips with the last such entry's
                   thresholds. Empty: the two fixed thresholds above.
    seed           master seed of the weight initialisation (and beta's sign stream).
    """

    inputs: int = 64
    hidden: int = 64
    classes: int = 10
    replicas: int = 4
    state_bits: int = 6
    state_init: int = 0
    in_shift: int = 2
    in_shift_output: int | None = None
    bias_bits: int = 12
    bias_frac: int = 4
    bias_mode: str = "pre"
    nudge: int = 128
    nudge_mode: str = "activation"
    beta_sign: str = "positive"
    free_steps: int = 20
    nudged_steps: int = 10
    batch: int = 1
    mom_bits: int = 8
    mom_frac: int = 0
    gamma_shift: int = 6
    tau_hidden: int = 4
    tau_output: int = 4
    tau_schedule: tuple[tuple[int, int, int], ...] = ()
    seed: int = 1

    def __post_init__(self):
        for name in ("inputs", "hidden", "replicas", "free_steps", "nudged_steps", "batch"):
            _int(name, getattr(self, name), 1)
        _int("classes", self.classes, 2)
        _int("state_bits", self.state_bits, 2, 24)
        _int("state_init", self.state_init, 0, (1 << self.state_bits) - 1)
        _int("in_shift", self.in_shift, -16, 16)
        if self.in_shift_output is not None:
            _int("in_shift_output", self.in_shift_output, -16, 16)
        _int("bias_bits", self.bias_bits, 2, 32)
        _int("bias_frac", self.bias_frac, 0, self.bias_bits - 1)
        _choice("bias_mode", self.bias_mode, BIAS_MODES)
        _int("nudge", self.nudge, 0, 1 << 20)
        _choice("nudge_mode", self.nudge_mode, NUDGE_MODES)
        _choice("beta_sign", self.beta_sign, BETA_SIGNS)
        _int("mom_bits", self.mom_bits, 2, 32)
        _int("mom_frac", self.mom_frac, 0, self.mom_bits - 2)
        for name in ("tau_hidden", "tau_output"):
            _int(name, getattr(self, name), 0)
        _int("seed", self.seed, 0)
        top = sat_bounds(self.mom_bits)[1]
        for name in ("tau_hidden", "tau_output"):
            tau = getattr(self, name)
            require(self.mom_frac == 0 or (tau << self.mom_frac) < top,
                    f"{name} must be below {-(-top // (1 << self.mom_frac))} events for {self.mom_bits}-bit "
                    f"momenta with {self.mom_frac} fraction bits (a larger tau never flips), got {tau}")
        # The two BOP memories validate momentum width, gamma and tau.
        self.bop_hidden, self.bop_output  # noqa: B018
        self._check_tau_schedule()

    def _check_tau_schedule(self) -> None:
        sched = self.tau_schedule
        require(isinstance(sched, (tuple, list)) and all(isinstance(e, (tuple, list)) and len(e) == 3
                                                         for e in sched),
                f"tau_schedule must be a list of [after, tau_hidden, tau_output] entries, got {sched!r}")
        sched = tuple(tuple(e) for e in sched)
        object.__setattr__(self, "tau_schedule", sched)     # JSON lists -> hashable tuples
        last = 0
        for after, th, to in sched:
            _int("tau_schedule's after", after, last + 1)
            last = after
            try:    # each entry's thresholds pass the same checks as tau_hidden / tau_output
                dataclasses.replace(self, tau_hidden=th, tau_output=to, tau_schedule=())
            except (HwtrainError, TypeError) as e:
                raise HwtrainError(f"tau_schedule entry {[after, th, to]}: {e}") from None

    def taus(self, trained: int) -> tuple[int, int]:
        """(tau_hidden, tau_output) for an update whose first sample is training sample
        number ``trained`` (0-based) since reset."""
        th, to = self.tau_hidden, self.tau_output
        for after, h, o in self.tau_schedule:
            if trained >= after:
                th, to = h, o
        return th, to

    @property
    def outputs(self) -> int:
        return self.classes * self.replicas

    @property
    def shift_output(self) -> int:
        """W2's scale shift (``in_shift`` when both matrices share one alpha)."""
        return self.in_shift if self.in_shift_output is None else self.in_shift_output

    @property
    def bop_hidden(self) -> BopConfig:
        """BOP memory of W1: one row per hidden neuron, one lane per input."""
        return BopConfig(self.inputs, self.hidden, self.mom_bits, self.gamma_shift,
                         self.tau_hidden << self.mom_frac)

    @property
    def bop_output(self) -> BopConfig:
        """BOP memory of W2: one row per output neuron, one lane per hidden neuron."""
        return BopConfig(self.hidden, self.outputs, self.mom_bits, self.gamma_shift,
                         self.tau_output << self.mom_frac)

    @property
    def label_width(self) -> int:
        return (self.classes - 1).bit_length()

    @property
    def leak_free(self) -> bool:
        """Whether the BOP leak ``trunc(M / 2**gamma_shift)`` is 0 for every
        representable momentum (then a row whose gradient is 0 never changes)."""
        return sat_bounds(self.mom_bits)[1] < (1 << self.gamma_shift)


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


def bias_term(b: np.ndarray, cfg: EpConfig) -> np.ndarray:
    """``bias_mode = "state"``: the bias in state LSBs, ``round(b / 2**bias_frac)``
    rounded half up (``(b + 2**(f-1)) >> f``), so +-1 fraction LSB moves nothing
    and the rounding treats both signs alike up to the tie."""
    f = cfg.bias_frac
    return b if f == 0 else (b + (1 << (f - 1))) >> f


def neuron_step(s: np.ndarray, u: np.ndarray, state_bits: int) -> np.ndarray:
    """Shift-register neuron, dt = 1/2: ``clamp((s >> 1) + (u >> 1), 0, 2**B - 1)``.

    ``u >> 1`` is an arithmetic shift (floor), so ``(s >> 1) + (u >> 1)`` drops
    both low bits: it is not ``(s + u) >> 1``.
    """
    return np.clip((s >> 1) + (u >> 1), 0, (1 << state_bits) - 1)


def targets(cfg: EpConfig, label: int) -> np.ndarray:
    """Replicated one-hot target of the C*R output neurons, as {0, 1}."""
    return (np.arange(cfg.outputs) // cfg.replicas == label).astype(np.int64)


def nudge_term(cfg: EpConfig, beta_int: int, target, a_y, s_ref):
    """What a nudged output adds to u (``beta_int`` = +-nudge): ``beta_int * (target
    - rho)`` for ``nudge_mode = "activation"``; ``floor(beta_int * (target * 2**B -
    s_ref) / 2**B)`` for "state" (``s_ref`` = the current state) and "constant"
    (``s_ref`` = the free-phase state)."""
    if cfg.nudge_mode == "activation":
        return beta_int * (target - a_y)
    B = cfg.state_bits
    return (beta_int * ((target << B) - s_ref)) >> B


class EpEngine:
    """Fully binarized EP with BOP, one sample at a time (the reference).

    ``w1`` (H, D) and ``w2`` (C*R, H) bool weights, ``b_hidden``/``b_output``
    integer biases, ``bop_hidden.momenta``/``bop_output.momenta`` integer momenta.
    ``train_sample`` is online (an update per sample, whatever ``cfg.batch``);
    ``train_batch`` is one update from a mini-batch; ``train_epoch`` takes
    ``cfg.batch`` samples per update.
    """

    def __init__(self, cfg: EpConfig):
        self.cfg = cfg
        self.w1, self.w2 = initial_weights(cfg)
        self.b_hidden = np.zeros(cfg.hidden, dtype=np.int64)
        self.b_output = np.zeros(cfg.outputs, dtype=np.int64)
        self.bop_hidden = Bop(cfg.bop_hidden)
        self.bop_output = Bop(cfg.bop_output)
        self.flips = 0                      # total weight flips so far
        self.trained = 0                    # training samples so far (cfg.tau_schedule counts these)
        self.beta_rng = Xorshift32(stream_seed(cfg.seed, BETA_STREAM), 1)

    # --- dynamics ---------------------------------------------------------------

    def _drive(self, x, w1, b_h):
        """The constant part of the hidden neurons' input (before scaling when W2
        shares W1's alpha)."""
        c = self.cfg
        dot = w1 @ x
        if c.bias_mode == "pre":
            return dot + (b_h >> c.bias_frac)
        return dot

    def _inputs(self, drive, w1, w2, a_h, a_y):
        """The integrator inputs u of the hidden and output neurons (no nudge)."""
        c = self.cfg
        up_h, up_y = w2.T @ a_y, w2 @ a_h
        if c.bias_mode == "pre":
            pre_y = up_y + (self.b_output >> c.bias_frac)
            if c.in_shift_output is None:
                return scale_input(drive + up_h, c.in_shift), scale_input(pre_y, c.in_shift)
            return (scale_input(drive, c.in_shift) + scale_input(up_h, c.shift_output),
                    scale_input(pre_y, c.shift_output))
        u_h = scale_input(drive, c.in_shift) + scale_input(up_h, c.shift_output) + bias_term(self.b_hidden, c)
        return u_h, scale_input(up_y, c.shift_output) + bias_term(self.b_output, c)

    def _relax(self, x, s_h, s_y, steps: int, target=None, beta_int: int = 0, s_free=None):
        """``steps`` synchronous integrator steps; returns the new states."""
        c = self.cfg
        top, smax = c.state_bits - 1, (1 << c.state_bits) - 1
        w1 = np.where(self.w1, 1, -1).astype(np.int64)
        w2 = np.where(self.w2, 1, -1).astype(np.int64)
        drive = self._drive(x, w1, self.b_hidden)   # constant during a sample
        for _ in range(steps):
            a_h, a_y = s_h >> top, s_y >> top           # activations: the top bit
            u_h, u_y = self._inputs(drive, w1, w2, a_h, a_y)
            if target is not None:
                ref = s_free if c.nudge_mode == "constant" else s_y
                u_y = u_y + nudge_term(c, beta_int, target, a_y, ref)
            s_h = np.minimum(np.maximum((s_h >> 1) + (u_h >> 1), 0), smax)   # == neuron_step
            s_y = np.minimum(np.maximum((s_y >> 1) + (u_y >> 1), 0), smax)
        return s_h, s_y

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

    def predict_many(self, xs) -> np.ndarray:
        return np.array([self.predict(x) for x in xs], dtype=np.int64)

    def beta_sign(self) -> int:
        """+1, or for ``beta_sign = "random"`` the next draw's sign (bit 31 set: -1)."""
        if self.cfg.beta_sign == "positive":
            return 1
        return -1 if int(self.beta_rng.next()[0]) >> 31 else 1

    def _sample_gradient(self, x, label: int, sgn: int):
        """Both phases of one sample with the current weights. Returns the
        prediction, the activation snapshots ``(f_h, f_y, n_h, n_y)``."""
        c = self.cfg
        top = c.state_bits - 1
        s_h, s_y = self.free_phase(x)
        pred = self.prediction(s_y)
        f_h, f_y = s_h >> top, s_y >> top
        s_h, s_y = self._relax(x, s_h, s_y, c.nudged_steps, targets(c, int(label)),
                               sgn * c.nudge, s_y)
        return pred, (f_h, f_y, s_h >> top, s_y >> top)

    def _check_label(self, label) -> int:
        require(0 <= int(label) < self.cfg.classes, f"label {label} outside 0..{self.cfg.classes - 1}")
        return int(label)

    def train_sample(self, x, label: int) -> int:
        """Free phase, nudged phase, BOP and bias update; returns the free-phase prediction."""
        return int(self.train_batch(np.asarray(x)[None], np.asarray([label]))[0])

    def train_batch(self, xs, labels) -> np.ndarray:
        """One update from the samples ``xs`` (all with the pre-update weights);
        returns their free-phase predictions."""
        c = self.cfg
        labels = [self._check_label(y) for y in labels]
        xs = [self._check_x(x) for x in xs]
        require(len(xs) == len(labels) and len(xs) >= 1, "a batch needs as many labels as samples (>= 1)")
        sgn = self.beta_sign()
        g1 = np.zeros((c.hidden, c.inputs), np.int64)
        g2 = np.zeros((c.outputs, c.hidden), np.int64)
        db_h = np.zeros(c.hidden, np.int64)
        db_y = np.zeros(c.outputs, np.int64)
        preds = []
        for x, y in zip(xs, labels):
            pred, (f_h, f_y, n_h, n_y) = self._sample_gradient(x, y, sgn)
            preds.append(pred)
            # Loss gradient times |beta|: dL/dW = (1/beta)(AND(free) - AND(nudged)).
            g1 += sgn * np.outer(f_h - n_h, x)
            g2 += sgn * (np.outer(f_y, f_h) - np.outer(n_y, n_h))
            db_h += sgn * (n_h - f_h)
            db_y += sgn * (n_y - f_y)
        self._apply(g1, g2, db_h, db_y, c.taus(self.trained))
        self.trained += len(xs)
        return np.array(preds, dtype=np.int64)

    def _apply(self, g1, g2, db_h, db_y, taus):
        c = self.cfg
        self.w1, fl1 = self._bop(self.bop_hidden, self.w1, g1 << c.mom_frac, taus[0] << c.mom_frac)
        self.w2, fl2 = self._bop(self.bop_output, self.w2, g2 << c.mom_frac, taus[1] << c.mom_frac)
        self.flips += int(fl1.sum() + fl2.sum())
        self.b_hidden = saturate(self.b_hidden + db_h, c.bias_bits)
        self.b_output = saturate(self.b_output + db_y, c.bias_bits)

    @staticmethod
    def _bop(bop: Bop, w, g, tau: int):
        bc = bop.cfg
        w_new, bop.momenta, flips = bop_update(w, bop.momenta, g, mom_bits=bc.mom_bits,
                                               gamma_shift=bc.gamma_shift, tau=tau)
        return w_new, flips

    # --- epochs -----------------------------------------------------------------

    def train_epoch(self, xs, labels) -> np.ndarray:
        """Train on every sample in order, ``cfg.batch`` per update (the last
        batch may be shorter); returns the free-phase predictions."""
        b, n = self.cfg.batch, len(labels)
        require(len(xs) == n, f"{len(xs)} samples but {n} labels")
        out = [self.train_batch(xs[i:i + b], labels[i:i + b]) for i in range(0, n, b)]
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def accuracy(self, xs, labels) -> float:
        return float((self.predict_many(xs) == np.asarray(labels)).mean())

    def state(self) -> dict:
        """Everything the hardware holds between samples (for bit-exact comparison);
        with a random beta sign also the sign generator's state."""
        st = {"w1": self.w1.copy(), "w2": self.w2.copy(),
              "b_hidden": self.b_hidden.copy(), "b_output": self.b_output.copy(),
              "m1": self.bop_hidden.momenta.copy(), "m2": self.bop_output.momenta.copy()}
        if self.cfg.beta_sign == "random":
            st["beta_prng"] = self.beta_rng.state.copy()
        return st


class FastEpEngine(EpEngine):
    """The same network and rules as :class:`EpEngine`, bit for bit, for MNIST-sized nets.

    Every sample of a mini-batch relaxes at once: the weights are kept as +-1
    float32 matrices and each time step is two matrix products, exact because
    every partial sum is an integer below 2**24 (checked at construction). The
    gradients are matrix products of the snapshots, and BOP touches only the
    rows whose gradient is non-zero when the leak is 0 for every momentum
    (``cfg.leak_free``), all rows otherwise. Momenta are stored as int16/int32.
    """

    def __init__(self, cfg: EpConfig):
        require(max(cfg.inputs, cfg.hidden + cfg.outputs) * max(cfg.batch, 1) < (1 << 24),
                "FastEpEngine needs every sum below 2**24 (float32 exact)")
        super().__init__(cfg)
        # int32 neuron arithmetic when no intermediate can reach 2**30, else int64
        pre = cfg.inputs + cfg.hidden + cfg.outputs + (1 << cfg.bias_bits)
        big = pre << max(cfg.in_shift, cfg.shift_output, 0)
        big += cfg.nudge << (cfg.state_bits + 1)
        self._it = np.int32 if big < (1 << 30) else np.int64
        self._wf1 = np.where(self.w1, 1.0, -1.0).astype(np.float32)
        self._wf2 = np.where(self.w2, 1.0, -1.0).astype(np.float32)
        mdt = np.int16 if cfg.mom_bits <= 16 else np.int32
        self._m1 = np.zeros((cfg.hidden, cfg.inputs), mdt)
        self._m2 = np.zeros((cfg.outputs, cfg.hidden), mdt)
        self._tgt = (np.arange(cfg.outputs)[None, :] // cfg.replicas).astype(np.int32)

    # The bool weights and int64 momenta of the reference are views computed on demand.
    @property
    def w1(self):
        return self._wf1 > 0

    @w1.setter
    def w1(self, v):
        self._wf1 = np.where(np.asarray(v, bool), 1.0, -1.0).astype(np.float32)

    @property
    def w2(self):
        return self._wf2 > 0

    @w2.setter
    def w2(self, v):
        self._wf2 = np.where(np.asarray(v, bool), 1.0, -1.0).astype(np.float32)

    def state(self) -> dict:
        self.bop_hidden.momenta = self._m1.astype(np.int64)
        self.bop_output.momenta = self._m2.astype(np.int64)
        return super().state()

    def _xs(self, xs) -> np.ndarray:
        xs = np.asarray(xs)
        require(xs.ndim == 2 and xs.shape[1] == self.cfg.inputs,
                f"samples must have {self.cfg.inputs} binary inputs each, got shape {xs.shape}")
        return (xs > 0).astype(np.float32)

    def _phases(self, X, labels=None, sgn: int = 1):
        """Free (and with labels, nudged) phase of every row of X at once.
        Returns the free output states and, when training, the four snapshots."""
        c, it = self.cfg, self._it
        n, top, smax = X.shape[0], c.state_bits - 1, (1 << c.state_bits) - 1
        sh1, sh2 = c.in_shift, c.shift_output
        shared = c.in_shift_output is None
        pre_mode = c.bias_mode == "pre"
        dot = (X @ self._wf1.T).astype(it)                       # (n, H)
        if pre_mode:
            drive = dot + (self.b_hidden >> c.bias_frac).astype(it)
            b_y = (self.b_output >> c.bias_frac).astype(it)
            if not shared:
                drive = scale_input(drive, sh1)
        else:
            drive = scale_input(dot, sh1) + bias_term(self.b_hidden, c).astype(it)
            b_y = bias_term(self.b_output, c).astype(it)
        s_h = np.full((n, c.hidden), c.state_init, it)
        s_y = np.full((n, c.outputs), c.state_init, it)
        wf2, wf2t = self._wf2, np.ascontiguousarray(self._wf2.T)

        def run(s_h, s_y, steps, nudge=None):
            for _ in range(steps):
                a_h, a_y = s_h >> top, s_y >> top
                up_h = (a_y.astype(np.float32) @ wf2).astype(it)
                up_y = (a_h.astype(np.float32) @ wf2t).astype(it)
                if pre_mode and shared:
                    u_h = scale_input(drive + up_h, sh1)
                    u_y = scale_input(up_y + b_y, sh1)
                elif pre_mode:
                    u_h = drive + scale_input(up_h, sh2)
                    u_y = scale_input(up_y + b_y, sh2)
                else:
                    u_h = drive + scale_input(up_h, sh2)
                    u_y = scale_input(up_y, sh2) + b_y
                if nudge is not None:
                    u_y += nudge(a_y, s_y)
                s_h = np.minimum(np.maximum((s_h >> 1) + (u_h >> 1), 0), smax)
                s_y = np.minimum(np.maximum((s_y >> 1) + (u_y >> 1), 0), smax)
            return s_h, s_y

        s_h, s_y = run(s_h, s_y, c.free_steps)
        if labels is None:
            return s_y, None
        tgt = (self._tgt == np.asarray(labels)[:, None]).astype(it)
        beta_int, B = sgn * c.nudge, c.state_bits
        if c.nudge_mode == "activation":
            nudge = lambda a_y, s: beta_int * (tgt - a_y)  # noqa: E731
        elif c.nudge_mode == "state":
            nudge = lambda a_y, s: (beta_int * ((tgt << B) - s)) >> B  # noqa: E731
        else:
            const = (beta_int * ((tgt << B) - s_y)) >> B
            nudge = lambda a_y, s: const  # noqa: E731
        f_h, f_y = s_h >> top, s_y >> top
        n_h, n_y = run(s_h, s_y, c.nudged_steps, nudge)
        return s_y, (f_h, f_y, n_h >> top, n_y >> top)

    def _predict_states(self, s_y) -> np.ndarray:
        c = self.cfg
        return np.argmax(s_y.reshape(len(s_y), c.classes, c.replicas).sum(axis=2), axis=1)

    def predict_many(self, xs, chunk: int = 512) -> np.ndarray:
        X = self._xs(xs)
        out = [self._predict_states(self._phases(X[i:i + chunk])[0]) for i in range(0, len(X), chunk)]
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

    def predict(self, x) -> int:
        return int(self.predict_many(self._check_x(x)[None])[0])

    def train_batch(self, xs, labels) -> np.ndarray:
        c = self.cfg
        X = self._xs(xs)
        labels = np.array([self._check_label(y) for y in labels], dtype=np.int64)
        require(len(X) == len(labels) and len(X) >= 1, "a batch needs as many labels as samples (>= 1)")
        sgn = self.beta_sign()
        tau_h, tau_y = c.taus(self.trained)
        self.trained += len(X)
        s_y, (f_h, f_y, n_h, n_y) = self._phases(X, labels, sgn)
        preds = self._predict_states(s_y).astype(np.int64)
        d_h = (f_h - n_h)                                             # (n, H) in {-1, 0, 1}
        rows1 = np.flatnonzero(d_h.any(axis=0)) if c.leak_free else np.arange(c.hidden)
        if len(rows1):
            g1 = (d_h[:, rows1].T.astype(np.float32) @ X).astype(np.int32)
            fl1 = self._bop_rows(self._m1, self._wf1, rows1, g1, sgn, tau_h)
        else:
            fl1 = 0
        fhf, nhf = f_h.astype(np.float32), n_h.astype(np.float32)
        changed = (f_y != n_y).any(axis=0) | ((f_y | n_y).any(axis=0) & d_h.any())
        rows2 = np.flatnonzero(changed) if c.leak_free else np.arange(c.outputs)
        if len(rows2):
            g2 = (f_y[:, rows2].T.astype(np.float32) @ fhf - n_y[:, rows2].T.astype(np.float32) @ nhf).astype(np.int32)
            fl2 = self._bop_rows(self._m2, self._wf2, rows2, g2, sgn, tau_y)
        else:
            fl2 = 0
        self.flips += int(fl1 + fl2)
        self.b_hidden = saturate(self.b_hidden + sgn * (n_h - f_h).sum(axis=0), c.bias_bits)
        self.b_output = saturate(self.b_output + sgn * (n_y - f_y).sum(axis=0), c.bias_bits)
        return preds

    def _bop_rows(self, m, wf, rows, g, sgn: int, tau_events: int) -> int:
        """:func:`hwtrain.golden.bop.bop_update` on ``rows`` of (m, wf), in place;
        returns the number of flips."""
        c = self.cfg
        lo, hi = sat_bounds(c.mom_bits)
        k = c.gamma_shift
        mr = m[rows].astype(np.int64)
        leak = np.where(mr < 0, -((-mr) >> k), mr >> k)
        mr = np.clip(mr - leak + ((sgn * g) << c.mom_frac), lo, hi)
        m[rows] = mr
        wr = wf[rows]
        flip = np.where(wr > 0, mr, -mr) > (tau_events << c.mom_frac)
        wf[rows] = np.where(flip, -wr, wr)
        return int(flip.sum())


# Table C.2 of the thesis, fully binarized 784-8192-100 (test error 2.83 +- 0.06 %, table 4.5).
THESIS_784_8192_100 = {"T": 20, "K": 10, "beta": 2.0, "gamma": 2e-6, "tau": (2.5e-7, 2e-7),
                       "lr_bias": 1e-7, "batch": 64}


def _log2_nearest(x: float) -> int:
    """Nearest power of two in log scale, a geometric tie going up."""
    return int(math.floor(math.log2(x) + 0.5))


def thesis_config(hidden: int, *, inputs: int = 784, classes: int = 10, replicas: int = 10,
                  seed: int = 1, **over) -> EpConfig:
    """The thesis's fully binarized 784-8192-100 recipe (table C.2, section 4.3,
    Alg. 7/8) for a network of ``hidden`` neurons, in the engine's integers:

    * 6-bit states (Alg. 8's Int6), started at 1.0 = 63 (C.2.2: "the state of the
      neurons to one"); T = 20, K = 10.
    * beta = 2: nudge = 2 * 2**6 = 128 on the output *state* (A.6), its sign drawn
      per mini-batch (C.2.2; PRNG stream 2).
    * alpha per matrix (Alg. 7 with PyTorch's uniform Kaiming init, mean |w| =
      1/(2 sqrt(fan_in))): alpha1 = 1/56 -> 2**-6 (in_shift 0); alpha2 =
      1/(2 sqrt(N)) -> nearest power of two (in_shift_output).
    * BOP per mini-batch of 64 with summed ternary events: gamma 2e-6 -> 2**-19
      (leak-free for 8-bit momenta: the thesis's leak is 2e-6 per batch, under
      10 % of a momentum over 50 epochs); tau in events = tau * beta * batch /
      gamma = 16 (W1) and 12.8 -> 13 (W2).
    * biases: lrBias 1e-7 is 1e-7 / (beta * 64) = 2**-30.3 per event, in state
      units 2**-(6 + 24): bias_mode "state" with 24 fraction bits in 32 (they never
      reach half a state LSB in any run here: in effect frozen at 0).
    """
    h = THESIS_784_8192_100
    B = 6
    a1 = 1 / (2 * math.sqrt(inputs))
    a2 = 1 / (2 * math.sqrt(hidden))
    events = [round(tau * h["beta"] * h["batch"] / h["gamma"]) for tau in h["tau"]]
    kw = dict(inputs=inputs, hidden=hidden, classes=classes, replicas=replicas, state_bits=B,
              state_init=(1 << B) - 1, in_shift=B + _log2_nearest(a1), in_shift_output=B + _log2_nearest(a2),
              bias_bits=32, bias_frac=round(-math.log2(h["lr_bias"] / (h["beta"] * h["batch"]))) - B,
              bias_mode="state", nudge=round(h["beta"] * 2**B), nudge_mode="state", beta_sign="random",
              free_steps=h["T"], nudged_steps=h["K"], batch=h["batch"], mom_bits=8, mom_frac=0,
              gamma_shift=round(-math.log2(h["gamma"])), tau_hidden=events[0], tau_output=events[1], seed=seed)
    kw.update(over)
    return EpConfig(**kw)


def bias_bounds(cfg: EpConfig) -> tuple[int, int]:
    return sat_bounds(cfg.bias_bits)


def digits_binary(*, threshold: int = 8, n_train: int = 1437, seed: int = 7):
    """scikit-learn's 8x8 digits with pixels binarized by ``pixel >= threshold``
    (pixels are 0..16), in an order shuffled by ``Xorshift32(seed, 1)`` (the
    argsort of the lane's first 1797 draws); the first ``n_train`` samples
    train, the rest test. Returns ``(x_train, y_train, x_test, y_test)``."""
    from sklearn.datasets import load_digits

    require(0 <= threshold <= 16, f"digits threshold must lie in 0..16, got {threshold}")
    d = load_digits()
    require(1 <= n_train < len(d.target), f"n_train must lie in 1..{len(d.target) - 1}, got {n_train}")
    order = np.argsort(Xorshift32(seed, 1).draws(len(d.target))[:, 0], kind="stable")
    x = (d.data[order] >= threshold).astype(np.int64)
    y = d.target[order].astype(np.int64)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def mnist_binary(*, n_train: int = 10_000, n_test: int = 2_000, binarize: str = "fixed:0.5", path=None):
    """MNIST through ``hwtrain data`` (:func:`hwtrain.data.presets.binarized`),
    pixels as {0, 1} (``binarize``: default pixel >= half the range); the first
    ``n_train`` training and ``n_test`` test images in the files' order."""
    from ..data.presets import binarized
    d = binarized("mnist", path, binarize=binarize)
    require(1 <= n_train <= len(d.y_train), f"n_train must lie in 1..{len(d.y_train)}, got {n_train}")
    require(1 <= n_test <= len(d.y_test), f"n_test must lie in 1..{len(d.y_test)}, got {n_test}")
    f = lambda x: (np.asarray(x) > 0).astype(np.int8)  # noqa: E731
    return (f(d.x_train[:n_train]), np.asarray(d.y_train[:n_train], np.int64),
            f(d.x_test[:n_test]), np.asarray(d.y_test[:n_test], np.int64))
