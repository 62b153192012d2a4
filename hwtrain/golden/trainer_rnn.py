"""Configuration, size plan, cycle model and golden twin of the on-chip BEP-TT trainer (binary RNN).

The engine (``hwtrain.hdl.trainer_rnn.RnnTrainer``, docs/trainer_rnn.md) trains a
many-to-one binary RNN online (batch 1) or in mini-batches of ``cfg.batch`` sequences with
exactly the rules of :class:`hwtrain.golden.train.rnn.RNNTrainer` (``algorithm="bep_tt"``,
docs/semantics_training.md). Its configuration is a :class:`TrainConfig` plus
``simd``: the hidden weights of a neuron are stored as memory words of SIMD
weights, one word read per clock.

Memory layout (one row per neuron, PE = 1):

* bank S: the state neurons. Row j holds H_xs[j] in ``wx = ceil(K0/S)`` words,
  then H_ss[j] in ``ws = ceil(K_s/S)`` words (``words = wx + ws`` per row);
  the x part is padded to a whole word, so no word mixes the two matrices.
* bank Y: the output neurons. Row k holds H_sy[k] in ``ws`` words.

Mini-batch (batch > 1): each bank also holds one accumulator word per weight word from
``acc_offset`` (the next power of two at or above its weight words) on, as the folded
trainer's lane memories do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import HwtrainError, require
from ..core.prng import Xorshift32
from .train import rules
from .train.config import TrainConfig
from .train.rnn import RNNTrainer
from .trainer import apply_accumulators
from .trainer_folded import (ARG_BITS, ECP5_85F_EBR, LAYER_BITS, PARAM_BITS, WORD, acc_offset, ebr_blocks)


@dataclass(frozen=True)
class RnnTrainConfig(TrainConfig):
    """A bep_tt :class:`TrainConfig` with the word width of the row memories.

    simd  weights per memory word (both banks); default min(32, max(K0, K_s)).
    """

    simd: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.algorithm != "bep_tt":
            return                                   # plan() refuses it with a clear message
        ks = self.hidden[0]
        s = self.simd if self.simd is not None else min(32, max(self.inputs, ks))
        require(isinstance(s, int) and not isinstance(s, bool) and s >= 1,
                f"simd must be a positive integer, got {s!r}")
        require(s <= max(self.inputs, ks), f"simd {s} is more than the widest row part ({max(self.inputs, ks)})")
        object.__setattr__(self, "simd", s)


def plan(cfg: RnnTrainConfig) -> dict:
    """Word geometry, memory sizes and DP16KD estimate; raises HwtrainError if the engine cannot be built."""
    require(isinstance(cfg, RnnTrainConfig), "the RNN trainer needs an RnnTrainConfig")
    require(cfg.algorithm == "bep_tt", f"the RNN trainer implements bep_tt, not {cfg.algorithm}")
    ks, ky = cfg.hidden
    k0, T, S, B, C, bs = cfg.inputs, cfg.steps, cfg.simd, cfg.hidden_bits, cfg.classes, cfg.batch
    for name, k in (("state layer K_s", ks), ("output layer K_y", ky)):
        require(k < 1 << PARAM_BITS, f"{name} has {k} neurons; gamma registers hold < {1 << PARAM_BITS}")
    require(C <= 1 << ARG_BITS, f"{C} classes do not fit the {ARG_BITS}-bit label field")
    require(cfg.reinforce_every < 1 << PARAM_BITS,
            f"reinforce_every {cfg.reinforce_every} does not fit the {PARAM_BITS}-bit register")
    require(T >= 1, "steps (T) must be >= 1")
    # mini-batch: the accumulators share the B-bit weight words; one sequence moves an H_xs / H_ss
    # accumulator by up to T with tt_update "sum" (its temporal sum), by 1 with "sign" and H_sy
    top = (1 << (B - 1)) - 1
    per = T if cfg.tt_update == "sum" else 1
    require(bs == 1 or bs * per <= top,
            f"a batch of {bs} sequences moves an H_xs/H_ss accumulator by up to {bs} x {per} = {bs * per} "
            f"(tt_update {cfg.tt_update!r}), more than the {B}-bit accumulator word holds ({top}): "
            + (f"batch at most {top // per}" if top // per >= 2 else "train online (batch 1), or with more hidden_bits"))
    wx, ws = -(-k0 // S), -(-ks // S)
    words = wx + ws
    zs_bits = rules_signed_width(k0 + ks)
    offs = {n: acc_offset(d) if bs > 1 else 0 for n, d in (("bank_s", ks * words), ("bank_y", ky * ws))}
    mem = {"bank_s": (S * B, offs["bank_s"] + ks * words), "bank_y": (S * B, offs["bank_y"] + ky * ws),
           "z": (zs_bits, T * ks)}
    ebr = sum(ebr_blocks(w, d) for w, d in mem.values())
    require(ebr <= ECP5_85F_EBR,
            f"the row memories need about {ebr} DP16KD blocks ("
            + ", ".join(f"{n} {w}b x {d}" for n, (w, d) in mem.items())
            + f"), an ECP5-85F has {ECP5_85F_EBR}"
            + (" (mini-batch: an accumulator word beside every weight word)" if bs > 1 else ""))
    return {"batch": bs, "acc_offset": offs,
            "inputs": k0, "ks": ks, "ky": ky, "steps": T, "simd": S, "wx": wx, "ws": ws, "words": words,
            "word_bits": S * B, "resp_words": -(-S * B // WORD), "x_words": -(-k0 // WORD),
            "zs_bits": zs_bits, "zy_bits": rules_signed_width(ks), "mem": mem, "ebr": ebr,
            "class_bits": max(1, (C - 1).bit_length()),
            "stab_bits": rules_signed_width(T * (k0 + ks)) if cfg.tt_mask == "sum" else rules_signed_width(k0 + ks),
            "acc_bits": rules_signed_width(T)}


def rules_signed_width(max_abs: int) -> int:
    return max(int(max_abs), 1).bit_length() + 1


# --- cycles ---------------------------------------------------------------------------
# Pipeline constants (docs/trainer_rnn.md), checked cycle-exactly by tests/test_trainer_rnn.py.
# A sweep issues one word per clock; the constants are its preparation clock and the clocks that
# drain the pipeline behind its last word (bank S0, S1, S2, then the forward lane's popcount, count
# and z registers, or the S3 write-back, or the mask and temporal-sum registers).
STEP_FILL = 8        # per time step: SPREP, then S0..S2, popcount, count, z, drain check
OUT_FILL = 9         # the output layer: the same plus the D1 register (logits, tracker)
DECIDE = 1           # the DECIDE clock, then the DecisionUnit's latency
SWEEP_FILL = 5       # a back-projection sweep: prep, S0..S2, sign of the sums
MASK_FILL = 6        # the state mask pass: prep, M1, MB, M2, M3, end
UPD_Y_FILL = 6       # the output rows' update: S0..S2, S3 operands, S4 write, end (1 clock when no row is selected)
UPD_S_FILL = 10      # the state rows' update: AR, A1, A1B, A2, S0..S2, S3 operands, S4 write, end (1 clock when none)
RF_FILL = 6          # a reinforcement sweep of one bank: S0..S2, S3 operands, S4 write, end
APPLY_FILL = 6       # mini-batch, the apply sweep of one bank (two words a weight word): S0..S2, S3, S4 write, end
STEP = 1             # mini-batch: the clock that counts the step after the apply sweep
TAIL = 5             # the command's register slice, FIN, RESP, the response clock, the response's register slice
FLUSH_TAIL = 4       # FLUSH with nothing to do: the command's slice, RESP, the response clock, the response's slice


def decision_latency(classes: int) -> int:
    from .trainer_folded import decision_latency as dl
    return dl(classes)


def apply_cycles(cfg: RnnTrainConfig) -> int:
    """Mini-batch: the apply sweep that closes a batch (bank S, then bank Y, every weight word's
    accumulator word then the word itself) and the clock that counts the step."""
    p = plan(cfg)
    return 2 * p["ks"] * p["words"] + APPLY_FILL + 2 * p["ky"] * p["ws"] + APPLY_FILL + STEP


def reinforce_cycles(cfg: RnnTrainConfig) -> int:
    """A reinforcement sweep of bank S, then bank Y."""
    p = plan(cfg)
    return p["ks"] * p["words"] + RF_FILL + p["ky"] * p["ws"] + RF_FILL


def cycles_per_sample(cfg: RnnTrainConfig, active: bool = False, rows_y: int = 0, rows_s: int = 0,
                      reinforce: bool = False, closes: bool = False) -> int:
    """Clocks from the edge that takes a TRAIN's last word to the edge that takes its response.

    ``active``: the output margin was below M (the backward pass ran); ``rows_y`` / ``rows_s``:
    output / state rows updated (state rows: into the accumulators in a mini-batch); ``closes``
    (mini-batch): the sequence is its batch's last, so the apply sweep follows; ``reinforce``: this
    step ended with a reinforcement sweep (online: any step; mini-batch: a closing one).
    """
    p = plan(cfg)
    T, ks, ky, wx, ws, w = p["steps"], p["ks"], p["ky"], p["wx"], p["ws"], p["words"]
    n = ks * wx + STEP_FILL + (T - 1) * (ks * w + STEP_FILL)           # the state layer, step by step
    n += ky * ws + OUT_FILL                                             # the output layer
    n += DECIDE + decision_latency(cfg.classes)
    if active:
        n += ky * ws + SWEEP_FILL                                       # s*_T through H_sy
        n += rows_y * ws + UPD_Y_FILL if rows_y else 1                  # H_sy rows
        n += (T - 1) * (ks * ws + SWEEP_FILL)                           # s*_{t-1} through H_ss
        n += ks * (T if cfg.tt_mask == "sum" else 1) + MASK_FILL        # the state mask
        n += rows_s * w * T + UPD_S_FILL if rows_s else 1               # H_xs, H_ss rows (T terms per word)
    if closes and cfg.batch > 1:
        n += apply_cycles(cfg)
    if reinforce:
        n += reinforce_cycles(cfg)
    return n + TAIL


def flush_cycles(cfg: RnnTrainConfig, closes: bool = False, reinforce: bool = False) -> int:
    """Clocks from the edge that takes FLUSH to the edge that takes its response: nothing online; in a
    mini-batch ``closes`` (a batch was open: the apply sweep, the step) and ``reinforce`` (that step owed
    a reinforcement sweep)."""
    n = apply_cycles(cfg) if closes and cfg.batch > 1 else 0
    return n + (reinforce_cycles(cfg) if reinforce else 0) + FLUSH_TAIL


def cycle_bound(cfg: RnnTrainConfig, active: bool = False, rows_y: int = 0, rows_s: int = 0,
                reinforce: bool = False, closes: bool = False) -> int:
    """Port bound of the folding (one word of each bank per clock, one bank busy at a time): every word
    the rule must read once per use: the state rows once per time step (the x part only at t = 1), the
    output rows once; active: the output rows and the H_ss part of the state rows once per back-projection,
    each updated row's words once more (a state word also needs its T-term temporal sum, one term
    per clock); reinforce: every word once; closes (mini-batch): every word twice (its accumulator
    word, then the word)."""
    p = plan(cfg)
    T, ks, ky, wx, ws, w = p["steps"], p["ks"], p["ky"], p["wx"], p["ws"], p["words"]
    n = ks * wx + (T - 1) * ks * w + ky * ws
    if active:
        n += ky * ws + (T - 1) * ks * ws + rows_y * ws + rows_s * w * T
    if reinforce:
        n += ks * w + ky * ws
    if closes and cfg.batch > 1:
        n += 2 * (ks * w + ky * ws)
    return n


# --- golden twin -------------------------------------------------------------------------

class RnnGolden:
    """RNNTrainer fed one sequence at a time, with the engine's counters and register view.

    Online (``cfg.batch == 1``): every sequence is a step. Mini-batch (``cfg.batch = bs > 1``), as
    ``RNNTrainer.step`` does it with batch bs: each sequence is forwarded and decided with the weights
    of its batch's start, its update terms are summed into ``acc`` (one array per matrix, the
    engine's accumulator words), and the batch closes after bs sequences (or at :meth:`flush`, the
    epoch's short last batch) with ``H <- sat(H + 2 acc)``, the step count and, when due, the
    reinforcement sweep.

    Counters (same definitions as the hardware): ``samples``; ``errors`` (prediction with the
    pre-update weights != label); ``updates`` (rows selected by the two masks: output rows of
    H_sy plus state neurons, whose H_xs and H_ss rows change together).
    """

    def __init__(self, cfg: TrainConfig):
        require(cfg.algorithm == "bep_tt", f"the RNN trainer trains bep_tt, not {cfg.algorithm}")
        self.cfg = cfg
        self.t = RNNTrainer(cfg)
        self.samples = self.errors = self.updates = 0
        self.in_batch = 0                                   # sequences of the open batch
        self.acc = [np.zeros(h.shape, dtype=np.int64) for h in self.t.H]
        self.last = {}

    def expand(self, x) -> np.ndarray:
        """The engine's input: sequences (N, T, K0) +-1 after the fixed expansion layer (host side)."""
        return self.t.prepare(np.asarray(x)).a

    def train_sample(self, x, y: int) -> int:
        """One sequence (T, raw or K0); returns the prediction made with the weights of its batch's start."""
        t = self.t
        xp = t.prepare(np.asarray(x)[None])
        y1 = np.asarray([int(y)])
        logits = t.logits(xp)
        pred = int(rules.predict(logits)[0])
        active = bool(rules.margins(logits, y1)[0] < t.hwp.margins[0])
        parts, n_err = t.row_deltas(xp, y1)
        assert n_err == int(pred != int(y))
        rows_s, rows_y = int(parts[0][0].size), int(parts[2][0].size)
        if self.cfg.batch == 1:
            t.apply_step(parts)
            closes = True
        else:
            for acc, (rows, delta) in zip(self.acc, parts):
                if rows.size:
                    acc[rows] += delta
            self.in_batch += 1
            closes = self.in_batch == self.cfg.batch
            if closes:
                self._close()
        self.samples += 1
        self.errors += n_err
        self.updates += rows_s + rows_y
        # what the engine's clocks depend on (cycles_per_sample's arguments)
        self.last = {"active": active, "rows_y": rows_y, "rows_s": rows_s, "closes": closes and self.cfg.batch > 1,
                     "reinforce": closes and t.steps_done % self.cfg.reinforce_every == 0}
        return pred

    def flush(self) -> bool:
        """Close the open batch (``H <- sat(H + 2 acc)``, the step, reinforcement when due); True if one
        was open. ``last_flush``: flush_cycles' arguments."""
        closes = self.in_batch > 0
        if closes:
            self._close()
        self.last_flush = {"closes": closes, "reinforce": closes and self.t.steps_done % self.cfg.reinforce_every == 0}
        return closes

    def _close(self) -> None:
        apply_accumulators(self.t, self.acc)
        self.in_batch = 0

    def order(self, n: int) -> np.ndarray:
        return self.t.order(n)

    def end_epoch(self, train_error: float, val_error: float | None = None) -> None:
        self.t.end_epoch(train_error, val_error)

    def predict(self, x) -> np.ndarray:
        return self.t.predict(x)

    @property
    def H(self) -> list:
        return self.t.H

    def registers(self) -> dict:
        return {"margins": list(self.t.hwp.margins), "gates": list(self.t.hwp.gates),
                "reinforce": list(self.t.reinforce_thr), "gamma": list(self.t.gamma),
                "reinforce_every": self.cfg.reinforce_every}

    def counters(self) -> dict:
        return {"samples": self.samples, "errors": self.errors, "updates": self.updates}


def top_name(cfg: RnnTrainConfig) -> str:
    ks, ky = cfg.hidden
    return (f"trainer_rnn_bep_tt_{cfg.inputs}_{ks}_{ky}_t{cfg.steps}_s{cfg.simd}_c{cfg.classes}"
            f"_b{cfg.hidden_bits}_{cfg.tt_update}_{cfg.tt_mask}_{cfg.zero_target}_s{cfg.seed}"
            + (f"_bs{cfg.batch}" if cfg.batch > 1 else ""))


def sequence_data(cfg: RnnTrainConfig, dataset: str, data_path=None, seed: int = 1, n: int = 0):
    """(x_train, y_train, x_test, y_test) of ``dataset`` as the design takes them (before expansion):
    a UCR set's last ``steps`` values, thermometer-coded so that a step has ``raw_inputs or inputs``
    bits; "random": ``n`` random sequences whose label is set by the last step's first bits."""
    width = cfg.raw_inputs or cfg.inputs
    if dataset == "random":
        n = n or 64
        x = np.where(Xorshift32(seed, width).bits(2 * n * cfg.steps), 1, -1).astype(np.int8)
        x = x.reshape(2 * n, cfg.steps, width)
        y = (np.arange(2 * n) * 7 + seed) % cfg.classes
        x[:, -1, 0] = np.where(y % 2 == 0, 1, -1)
        return x[:n], y[:n], x[n:], y[n:]
    from ..data.presets import binarized
    channels = binarized(dataset, data_path, window=cfg.steps, thermo_bits=1).x_train.shape[2]
    if width % channels:
        raise HwtrainError(f"{dataset} has {channels} channels per step; the design's {width} input bits per "
                           f"step are not a whole thermometer code per channel")
    d = binarized(dataset, data_path, window=cfg.steps, thermo_bits=width // channels)
    if d.classes != cfg.classes:
        raise HwtrainError(f"{dataset} has {d.classes} classes, the design {cfg.classes}")
    xt, yt = (d.x_train[:n], d.y_train[:n]) if n else (d.x_train, d.y_train)
    return xt, yt, d.x_test, d.y_test
