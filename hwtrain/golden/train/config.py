"""Training configurations: real-valued hyperparameters in, hardware integers out.

``TrainConfig`` is what a user writes (sizes, r, nu, p_r, gamma, B, batch size).
``TrainConfig.hw()`` converts it once, on the host, into ``HwParams``: every
quantity a hardware trainer holds as an integer of stated width. The trainers
in this package use only ``HwParams`` inside their hot paths; the host-side
schedules (reinforcement rescale, group-size schedule) run between epochs and
produce new integers. The conversion rules are written down in
docs/semantics_training.md and tested in tests/test_train_config.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from ...config import ConfigBase
from ...errors import HwtrainError, require
from ...core import prng

ALGORITHMS = ("cpr", "bep", "bep_tt")
PR_SCHEDULES = ("cumulative", "error", "constant")
REINFORCE_FANS = ("out", "in")
CLASSIFIERS = ("random", "bef")
ZERO_TARGETS = ("plus", "skip")
TT_MASKS = ("last", "sum")


def _pos_int(name, v, minimum=1):
    require(isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
            f"{name} must be an integer >= {minimum}, got {v!r}")


def _prob(name, v, lo=0.0, hi=1.0):
    require(isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi,
            f"{name} must be a number in [{lo}, {hi}], got {v!r}")


def signed_width(max_abs: int) -> int:
    """Bits of a two's-complement integer holding every value in [-max_abs, max_abs]."""
    return max(int(max_abs), 1).bit_length() + 1


def margin_threshold(r: float, k: int) -> int:
    """Update iff ``logit[y] - max_{c != y} logit[c] < M``; ``M = max(1, ceil(r * K))``.

    ``M >= 1`` makes a tie with another class an error even for r = 0.
    """
    return max(1, math.ceil(r * k - 1e-9))


def gate_threshold(nu: float, fan_in: int) -> int:
    """Gate open iff ``|z| <= NU``; ``NU = floor(nu * fan_in)`` (|z| is an integer)."""
    return int(math.floor(nu * fan_in + 1e-9))


def reinforce_probability(p_r: float, k: int) -> float:
    """Per-weight reinforcement probability ``p_r * sqrt(2 / (pi * K))``, clipped to 1."""
    return min(1.0, p_r * math.sqrt(2.0 / (math.pi * k)))


def reinforce_threshold(p_r: float, k: int) -> int:
    """32-bit PRNG threshold of :func:`reinforce_probability` (event iff draw < T)."""
    return prng.threshold(reinforce_probability(p_r, k))


def divisors(k: int) -> list[int]:
    """The divisors of ``k`` in increasing order (O(sqrt k): layer sizes may be huge by mistake)."""
    small = [d for d in range(1, math.isqrt(k) + 1) if k % d == 0]
    return small + [k // d for d in reversed(small) if d * d != k]


def paper_gamma(k: int, lo: int = 75, hi: int = 105) -> int:
    """Seed 000's rule: the divisor of K closest to the range [lo, hi] (larger on ties: 525 -> 105, 2025 -> 81)."""
    return min(divisors(k), key=lambda d: (0 if lo <= d <= hi else min(abs(d - lo), abs(d - hi)), -d))


@dataclass(frozen=True)
class TrainConfig(ConfigBase):
    """A binary network and its fully binary training rule.

    algorithm      "cpr" (seed 000, local random classifiers), "bep" (seed 001,
                   MLP) or "bep_tt" (seed 001, many-to-one binary RNN).
    inputs         K0: binary inputs per sample (per time step for bep_tt,
                   after the optional expansion layer).
    hidden         layer sizes K1..KL. For bep_tt: (K_s, K_y), state and
                   output layer.
    classes        C.
    steps          T, time steps per sequence (bep_tt only; 1 otherwise).
    raw_inputs     bep_tt with expand: binary features per time step before
                   the fixed random +-1 expansion layer (0: no expansion,
                   inputs are used directly).
    hidden_bits    B: hidden weights are B-bit signed, saturating symmetric.
    gamma          group size per layer (must divide the layer); None: seed
                   000's rule (divisor closest to [75, 105]).
    r              robustness / margin (fraction of the classifier width).
    nu             gating threshold (bep, bep_tt), fraction of the fan-in.
    p_r            reinforcement probability at epoch 0.
    pr_schedule    "error" (default): p = p_r0 * sqrt(E_last epoch);
                   "cumulative": p_r <- p_r * sqrt(E) after each epoch
                   (literal seed 000 algorithm 1, line 21); "constant".
    reinforce_fan  K in sqrt(2 / (pi K)): "out" = neurons of the layer (the
                   papers' K_l), "in" = fan-in (Baldassi's N).
    batch          mini-batch size bs; 1 is online training.
    reinforce_every  reinforcement after every this many steps (mini-batches).
    gamma_patience  group-size schedule: move to the next divisor after this
                   many epochs without improvement (0 = fixed group size).
    classifier     "random" (uniform +-1) or "bef" (binary equiangular frame).
    bef_iters      local-search iterations of the BEF construction (0: 8*C*K).
    bef_alpha      weight of the variance term of the BEF cost.
    shuffle        reshuffle the training set every epoch (from the PRNG).
    tt_update      bep_tt: per-sample update of a selected H_xs/H_ss row is the
                   temporal sum sum_t s*_t a_t ("sum", seed 001 section 3.5)
                   or its ternary sign ("sign": +-1, 0 where the sum is 0).
    zero_target    bep, bep_tt: a back-projected desired activation
                   W^T (g * a*) that is exactly 0 becomes +1 ("plus",
                   sign(0) = +1) or 0 = no desired value ("skip": the neuron
                   is not updated for that sample/time step and passes no
                   error further down). None: "skip" for bep_tt, "plus" for
                   bep (what the bep RTL trainer implements).
    tt_mask        bep_tt: how the state-neuron mask (shared by all time
                   steps) is chosen. "last": candidates are the neurons wrong
                   at t = T, stability s*_T z_T (the MLP rule on the layer
                   feeding the output); "sum": candidates wrong at any t,
                   stability sum_t s*_t z_t.
    seed           master seed of every PRNG stream.
    """

    algorithm: str
    inputs: int
    hidden: tuple
    classes: int
    steps: int = 1
    raw_inputs: int = 0
    hidden_bits: int = 8
    gamma: tuple | None = None
    r: float = 0.25
    nu: float = 0.05
    p_r: float = 0.5
    pr_schedule: str = "error"
    reinforce_fan: str = "out"
    batch: int = 100
    reinforce_every: int = 1
    gamma_patience: int = 0
    classifier: str = "random"
    bef_iters: int = 0
    bef_alpha: float = 1.0
    shuffle: bool = True
    tt_update: str = "sum"
    zero_target: str | None = None
    tt_mask: str = "last"
    seed: int = 1

    def __post_init__(self):
        require(self.algorithm in ALGORITHMS,
                f"unknown algorithm {self.algorithm!r}; expected one of {', '.join(ALGORITHMS)}")
        _pos_int("inputs (K0)", self.inputs)
        hidden = self.hidden
        if isinstance(hidden, int):
            hidden = (hidden,)
        require(isinstance(hidden, (tuple, list)) and len(hidden) >= 1,
                f"hidden must be a non-empty list of layer sizes, got {self.hidden!r}")
        hidden = tuple(hidden)
        for i, k in enumerate(hidden):
            _pos_int(f"hidden layer {i + 1} size", k)
        object.__setattr__(self, "hidden", hidden)
        _pos_int("classes (C)", self.classes, 2)
        _pos_int("steps (T)", self.steps)
        _pos_int("raw_inputs", self.raw_inputs, 0)
        if self.algorithm == "bep_tt":
            require(len(hidden) == 2, f"bep_tt needs hidden = (K_s, K_y), got {hidden}")
        else:
            require(self.steps == 1, f"steps (T) is for bep_tt only; {self.algorithm} needs steps=1")
            require(self.raw_inputs == 0, f"raw_inputs (expansion) is for bep_tt only")
        require(isinstance(self.hidden_bits, int) and self.hidden_bits >= 2,
                f"hidden_bits (B) must be an integer >= 2, got {self.hidden_bits!r}")
        require(self.hidden_bits <= 24, f"hidden_bits (B) above 24 is not supported, got {self.hidden_bits}")
        gamma = self.gamma
        if gamma is None:
            gamma = tuple(paper_gamma(k) for k in hidden)
        elif isinstance(gamma, int):
            gamma = (gamma,) * len(hidden)
        gamma = tuple(gamma)
        require(len(gamma) == len(hidden),
                f"gamma has {len(gamma)} entries but there are {len(hidden)} layers")
        for i, (g, k) in enumerate(zip(gamma, hidden)):
            _pos_int(f"gamma of layer {i + 1}", g)
            require(k % g == 0, f"group size gamma={g} does not divide layer {i + 1} of size {k} "
                                f"(divisors: {divisors(k)})")
        object.__setattr__(self, "gamma", gamma)
        _prob("r (robustness)", self.r, 0.0, 2.0)
        _prob("nu (gating threshold)", self.nu, 0.0, 1.0)
        _prob("p_r (reinforcement probability)", self.p_r, 0.0, 1.0)
        require(self.pr_schedule in PR_SCHEDULES,
                f"unknown pr_schedule {self.pr_schedule!r}; expected one of {', '.join(PR_SCHEDULES)}")
        require(self.reinforce_fan in REINFORCE_FANS,
                f"unknown reinforce_fan {self.reinforce_fan!r}; expected one of {', '.join(REINFORCE_FANS)}")
        _pos_int("batch (bs)", self.batch)
        _pos_int("reinforce_every", self.reinforce_every)
        _pos_int("gamma_patience", self.gamma_patience, 0)
        require(self.classifier in CLASSIFIERS,
                f"unknown classifier {self.classifier!r}; expected one of {', '.join(CLASSIFIERS)}")
        _pos_int("bef_iters", self.bef_iters, 0)
        require(self.tt_update in ("sum", "sign"), f"unknown tt_update {self.tt_update!r}; expected sum or sign")
        zt = self.zero_target
        if zt is None:
            zt = "skip" if self.algorithm == "bep_tt" else "plus"
        require(zt in ZERO_TARGETS, f"unknown zero_target {zt!r}; expected one of {', '.join(ZERO_TARGETS)}")
        object.__setattr__(self, "zero_target", zt)
        require(self.tt_mask in TT_MASKS, f"unknown tt_mask {self.tt_mask!r}; expected one of {', '.join(TT_MASKS)}")
        require(self.bef_alpha >= 0, f"bef_alpha must be >= 0, got {self.bef_alpha}")
        require(isinstance(self.seed, int) and self.seed >= 0,
                f"seed must be a non-negative integer, got {self.seed!r}")

    # --- derived sizes -------------------------------------------------------
    @property
    def layers(self) -> int:
        return len(self.hidden)

    @property
    def fan_in(self) -> tuple:
        """Fan-in of each trained layer's pre-activation."""
        if self.algorithm == "bep_tt":
            ks, ky = self.hidden
            return (self.inputs + ks, ks)
        return (self.inputs,) + self.hidden[:-1]

    @property
    def shapes(self) -> dict:
        """Hidden-weight matrices, (rows = neurons, cols = inputs), by name."""
        if self.algorithm == "bep_tt":
            ks, ky = self.hidden
            return {"H_xs": (ks, self.inputs), "H_ss": (ks, ks), "H_sy": (ky, ks)}
        k = (self.inputs,) + self.hidden
        return {f"H{i + 1}": (k[i + 1], k[i]) for i in range(self.layers)}

    def reinforce_k(self) -> tuple:
        """K used in the reinforcement probability, per hidden-weight matrix."""
        shapes = self.shapes
        idx = 0 if self.reinforce_fan == "out" else 1
        return tuple(s[idx] for s in shapes.values())

    def hw(self) -> "HwParams":
        """The integer parameters a hardware trainer holds (host-side conversion, once)."""
        kl = self.hidden[-1]
        if self.algorithm == "cpr":
            margins = tuple(margin_threshold(self.r, k) for k in self.hidden)
        else:
            margins = (margin_threshold(self.r, kl),)
        gates = tuple(gate_threshold(self.nu, f) for f in self.fan_in)
        reinf = tuple(reinforce_threshold(self.p_r, k) for k in self.reinforce_k())
        return HwParams(hidden_bits=self.hidden_bits, margins=margins, gates=gates,
                        reinforce=reinf, gamma=self.gamma)

    def widths(self) -> dict:
        """Bit width of every integer quantity the hardware holds (see semantics doc)."""
        fan = self.fan_in
        kl = self.hidden[-1]
        per_sample = 2 * self.steps  # largest |per-sample increment| of one hidden weight
        return {
            "hidden_weight": self.hidden_bits,
            "pre_activation": [signed_width(f) for f in fan],
            "logit": signed_width(kl),
            "local_logit": [signed_width(k) for k in self.hidden],
            "margin": signed_width(2 * kl),
            "backprojection": [signed_width(k) for k in self.hidden],
            "rnn_stability_sum": signed_width(self.steps * fan[0]) if self.algorithm == "bep_tt" else None,
            "update_accumulator": signed_width(per_sample * self.batch),
            "reinforce_threshold": 33,
            "prng_state": 32,
        }

    def replace(self, **kw) -> "TrainConfig":
        return dataclasses.replace(self, **kw)


@dataclass(frozen=True)
class HwParams:
    """Integers written to a hardware trainer's registers.

    hidden_bits   B; hidden weights live in [-(2**(B-1) - 1), 2**(B-1) - 1].
    margins       M per classifier: update iff margin < M (cpr: one per layer,
                  local classifiers; bep/bep_tt: one, the output classifier).
    gates         NU per trained layer: gate open iff |z| <= NU (bep only).
    reinforce     32-bit thresholds per hidden-weight matrix at epoch 0.
    gamma         group size per layer at epoch 0.
    """

    hidden_bits: int
    margins: tuple
    gates: tuple
    reinforce: tuple
    gamma: tuple = field(default=())

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
