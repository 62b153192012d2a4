"""Configuration, size plan, cycle model and golden twin of the folded on-chip trainer.

The folded engine (``hwtrain.hdl.trainer_folded.FoldedTrainer``, docs/trainer_folded.md)
trains with exactly the rules of :class:`hwtrain.golden.trainer.OnlineTrainer`
(online CP+R over ``MLPTrainer``); only its architecture differs. Its
configuration is a :class:`TrainConfig` plus the folding of every layer:
``pe[l]`` neurons side by side and ``simd[l]`` inputs per memory word.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import require
from .train.config import TrainConfig
from .trainer import OnlineTrainer

ECP5_85F_EBR = 208          # DP16KD blocks of an LFE5U-85F
WORD = 32                   # command / response word
ARG_BITS = 24               # header arg field (label, row, register)
LAYER_BITS = 4              # header layer field
COUNTER_BITS = 32
PARAM_BITS = 16


def ebr_blocks(width: int, depth: int) -> int:
    """DP16KD blocks of a width x depth memory with 1 read + 1 write port (36 x 512 or 18 x 1024)."""
    if depth <= 512:
        return math.ceil(width / 36)
    return math.ceil(width / 18) * math.ceil(depth / 1024)


@dataclass(frozen=True)
class FoldedTrainConfig(TrainConfig):
    """A :class:`TrainConfig` with the folding of each layer.

    pe       neurons processed side by side per layer (default 1 each).
    simd     inputs per hidden-weight memory word per layer (default: the fan-in,
             at most 32).
    overlap  (cpr, online, two layers or more) the first layer trains the next
             sample while the layers above finish this one: CP+R's update of a
             layer depends only on that layer's own classifier, so the two run as
             a two-stage pipeline and a stream of samples goes at the slower
             stage's rate (docs/trainer_folded.md, "Layer overlap").
    """

    pe: tuple | None = None
    simd: tuple | None = None
    overlap: bool = False

    def __post_init__(self):
        super().__post_init__()
        fan = (self.inputs,) + tuple(self.hidden[:-1])
        for name, default in (("pe", (1,) * len(self.hidden)),
                              ("simd", tuple(min(f, 32) for f in fan))):
            v = getattr(self, name)
            if v is None:
                v = default
            elif isinstance(v, int):
                v = (v,) * len(self.hidden)
            v = tuple(v)
            require(len(v) == len(self.hidden),
                    f"{name} has {len(v)} entries but there are {len(self.hidden)} layers")
            for l, x in enumerate(v):
                require(isinstance(x, int) and not isinstance(x, bool) and x >= 1,
                        f"{name} of layer {l + 1} must be a positive integer, got {x!r}")
            object.__setattr__(self, name, v)
        for l, (s, f) in enumerate(zip(self.simd, fan)):
            require(s <= f, f"simd of layer {l + 1} is {s}, more than its fan-in {f}")
        for l, (p, k) in enumerate(zip(self.pe, self.hidden)):
            require(p <= k, f"pe of layer {l + 1} is {p}, more than its {k} neurons")
        if self.overlap:
            # BEP's lower layers wait for the top layer's back-projection, and a mini-batch's apply
            # sweep touches every layer at once: only online CP+R has stages that do not wait
            require(self.algorithm == "cpr", f"overlap needs algorithm cpr (its layers update on their own "
                                             f"classifiers), got {self.algorithm}")
            require(self.batch == 1, f"overlap trains online: batch must be 1, got {self.batch}")
            require(len(self.hidden) >= 2, "overlap needs two layers or more (the first layer and the ones "
                                           f"above it are the two stages), got {len(self.hidden)}")


# A forward lane counts more than this many columns (SIMD) with one more register inside its
# popcount, and the layer's forward sweep takes one clock more: the 112-column count of
# 784-135-135 in one clock was its critical path (66.93 MHz at cbd71a0, docs/trainer_folded.md).
COUNT_ONE_CLOCK = 64


def acc_offset(depth: int) -> int:
    """Mini-batch: where a row memory's accumulator words start, the next power of two at or above its
    ``depth`` weight words, so the accumulator bit is the address's top bit (this engine and the RNN's)."""
    return 1 << max(1, (depth - 1).bit_length())


def layer_geometry(f: int, k: int, pe: int, simd: int, B: int, accumulate: bool = False) -> dict:
    """Folding of one layer (fan-in f, k neurons): words per row, groups, period, memory size and blocks.

    ``accumulate`` (mini-batch): every row memory also holds the batch's update accumulators, one
    word per weight word, at ``acc_offset`` (the next power of two at or above the weight words).
    ``count_regs``: registers added inside the forward lanes' popcount (see COUNT_ONE_CLOCK).
    """
    w, ng = -(-f // simd), -(-k // pe)
    depth = ng * w
    offset = acc_offset(depth) if accumulate else 0
    mem_depth = offset + depth if accumulate else depth
    return {"fan_in": f, "neurons": k, "pe": pe, "simd": simd, "words": w, "groups": ng,
            "period": max(w, pe), "last_group": k - (ng - 1) * pe, "depth": depth,
            "acc_offset": offset, "mem_depth": mem_depth,
            "word_bits": simd * B, "resp_words": -(-simd * B // WORD),
            "ebr": pe * ebr_blocks(simd * B, mem_depth), "count_regs": int(simd > COUNT_ONE_CLOCK)}


def plan(cfg: FoldedTrainConfig) -> dict:
    """Per-layer folding, memory sizes and DP16KD count; raises HwtrainError if the engine cannot be built."""
    require(isinstance(cfg, FoldedTrainConfig), "the folded trainer needs a FoldedTrainConfig")
    require(cfg.algorithm in ("cpr", "bep"), f"the folded trainer implements cpr and bep, not {cfg.algorithm}")
    require(cfg.algorithm != "bep" or cfg.zero_target == "plus",
            f"the folded BEP trainer takes a back-projected 0 as +1 (zero_target='plus'), "
            f"got zero_target={cfg.zero_target!r}")
    top = (1 << (cfg.hidden_bits - 1)) - 1
    require(cfg.batch <= top,
            f"the mini-batch accumulators share the {cfg.hidden_bits}-bit weight words, so a batch holds at most "
            f"{top} samples; got batch {cfg.batch}")
    L = cfg.layers
    require(L <= 1 << LAYER_BITS, f"at most {1 << LAYER_BITS} layers fit the layer field, got {L}")
    for l, k in enumerate(cfg.hidden):
        require(k < 1 << PARAM_BITS, f"layer {l + 1} has {k} neurons; gamma registers hold < {1 << PARAM_BITS}")
    require(cfg.classes <= 1 << ARG_BITS, f"{cfg.classes} classes do not fit the {ARG_BITS}-bit label field")
    require(cfg.reinforce_every < 1 << PARAM_BITS,
            f"reinforce_every {cfg.reinforce_every} does not fit the {PARAM_BITS}-bit register")
    sizes = (cfg.inputs,) + tuple(cfg.hidden)
    B = cfg.hidden_bits
    layers = [layer_geometry(sizes[l], sizes[l + 1], cfg.pe[l], cfg.simd[l], B, cfg.batch > 1) for l in range(L)]
    total = sum(d["ebr"] for d in layers)
    require(total <= ECP5_85F_EBR,
            f"hidden weights need {total} DP16KD blocks ("
            + ", ".join(f"{d['pe']} x {d['word_bits']}b x {d['mem_depth']}" for d in layers)
            + f"), an ECP5-85F has {ECP5_85F_EBR}")
    return {"sizes": sizes, "layers": layers, "ebr": total, "x_words": -(-cfg.inputs // WORD),
            "class_bits": max(1, (cfg.classes - 1).bit_length())}


# --- cycles --------------------------------------------------------------------------
# Constants of the pipeline (docs/trainer_folded.md), checked cycle-exactly by the tests:
FWD_FILL = 11      # PREP, START + S0, S1, S2, S3, S4, S5 (z), drain load, D1, idle around the last group's words and R drains
DECIDE = 1         # the DECIDE clock (start), then decision_latency(C) clocks to done
UPD_IDLE = 1       # update phase of a layer that does not update
UPD_FILL = 5       # start (winner list read) + S0, S1, S2 + end, around u * W words
TAIL = 2           # FIN + the response clock
RF_START = 2       # PREP, START: the clocks before an owed reinforcement sweep
CHUNK_FILL = 8     # bep first-layer mask in chunks: S0, S1, S2, tracker A, B (two clocks), C, idle around the NG groups


def decision_latency(classes: int) -> int:
    """Clocks from the DecisionUnit's start to its done: the logits (and their copy with logit[y]
    masked) registered, two tournaments over them with a register after every round but the last
    (ceil(log2 C) rounds), then the indices, the two logits and the margin compare, one register each."""
    return max(0, (classes - 1).bit_length() - 1) + 4


def update_cycles(u: int, d: dict) -> int:
    """Update phase of a layer (plan dict ``d``) that updates ``u`` rows: W words each, back to back."""
    return u * d["words"] + UPD_FILL if u else UPD_IDLE


def forward_cycles(d: dict) -> int:
    """Forward sweep of a layer: the last group's W words are issued, then its R = last_group
    neurons leave the drain one per clock (and the popcount's added registers are passed)."""
    return (d["groups"] - 1) * d["period"] + d["words"] + d["last_group"] + FWD_FILL + d["count_regs"]


def reinforce_layer_cycles(d: dict) -> int:
    """A layer's part of a reinforcement sweep: every neuron's W words, one per clock in row order."""
    return 1 + d["neurons"] * d["words"] + 4


def apply_layer_cycles(d: dict) -> int:
    """Mini-batch: a layer's part of the apply sweep, every neuron's W words twice (accumulators, weights)."""
    return 1 + 2 * d["neurons"] * d["words"] + 4


def apply_cycles(cfg: FoldedTrainConfig) -> int:
    """Clocks of the apply sweep that closes a mini-batch, and its STEP clock."""
    return sum(apply_layer_cycles(d) for d in plan(cfg)["layers"]) + 1


def backproject_cycles(d: dict) -> int:
    """BEP: the back-projection sweep through the top layer (every word of it once)."""
    return 1 + d["groups"] * d["words"] + 5


def mask_sweep_cycles(d: dict, first: bool = False, gamma: int | None = None) -> int:
    """BEP mask/back-projection sweep of a lower layer: rows issued with a period S, the drain
    loaded at S2 of each group's first word (z from the z memory), the tracker at D1.
    The ``first`` layer projects nowhere, so only each group's word 0 is issued: with a group
    size ``gamma >= PE`` one group per clock straight into the chunk tracker, else one group
    per PE clocks (the drain's length); its chunk tracker decides three clocks later either way."""
    ng, s, w, r = d["groups"], d["period"], d["words"], d["last_group"]
    if first:
        if gamma >= d["pe"]:
            return ng + CHUNK_FILL
        return max(ng * d["pe"] + 1, (ng - 1) * d["pe"] + 5 + r, (ng - 1) * d["pe"] + 4) + 5
    return max(ng * s + 1, (ng - 1) * s + 5 + r, (ng - 1) * s + w + 3) + 2


def reinforce_cycles(cfg: FoldedTrainConfig) -> int:
    """Clocks of a pending reinforcement sweep (run before the next TRAIN's forward pass, or by FLUSH)."""
    return RF_START + sum(reinforce_layer_cycles(d) for d in plan(cfg)["layers"])


def cycles_per_sample(cfg: FoldedTrainConfig, rows=None, active: bool = False, pending: bool = False,
                      closes: bool = False, gamma=None) -> int:
    """Clocks from the edge that takes a TRAIN's last word to the edge that takes its response.

    ``rows``: rows updated per layer in this step (0 where the layer did not update);
    ``active`` (bep): the output margin was below M, so the backward sweeps ran;
    ``pending``: a reinforcement sweep was owed (the previous step was a multiple of
    reinforce_every and no FLUSH ran since), so it runs first;
    ``closes`` (mini-batch): the sample is its batch's last, so the apply sweep follows;
    ``gamma``: the group sizes in force (default ``cfg.gamma``; a schedule may raise them).
    """
    p = plan(cfg)
    lay = p["layers"]
    rows = rows or [0] * cfg.layers
    if cfg.overlap:
        return sum(stage_cycles(cfg, rows, pending))
    if pending:
        return reinforce_cycles(cfg) + cycles_per_sample(cfg, rows, active, closes=closes, gamma=gamma)
    if closes and cfg.batch > 1:
        return apply_cycles(cfg) + cycles_per_sample(cfg, rows, active, gamma=gamma)
    gamma = list(gamma or cfg.gamma)
    n = sum(forward_cycles(d) for d in lay)
    n += decision_latency(cfg.classes) + DECIDE
    if cfg.algorithm == "cpr":
        n += sum(update_cycles(u, d) for u, d in zip(rows, lay))
        return n + TAIL
    n += 1                                                    # BEP_START
    if not active:
        return n + UPD_IDLE + TAIL
    if cfg.layers > 1:
        n += backproject_cycles(lay[-1])
    n += update_cycles(rows[-1], lay[-1])
    for l in range(cfg.layers - 1):
        n += 1 + mask_sweep_cycles(lay[l], first=l == 0, gamma=gamma[l]) + update_cycles(rows[l], lay[l])
    return n + TAIL


# overlap: the first stage's CLOSE0 clock and the main sequencer's IDLE clock that takes its sample
HANDOVER = 2


def stage_cycles(cfg: FoldedTrainConfig, rows=None, pending: bool = False) -> tuple[int, int]:
    """``overlap``: the clocks of the two stages for one sample, (first, second).

    first: from the clock layer 0 starts the sample (the clock its last word is taken, if layer 0
    is free) to the clock the second stage takes it: layer 0's owed reinforcement sweep, forward
    sweep, decision, update and the hand-over. second: from that clock to the edge that takes the
    response: the owed sweeps, forward sweeps, decision and updates of layers 1..L-1, FIN, TX.
    Alone (the host waits for each response) a sample takes first + second clocks."""
    lay = plan(cfg)["layers"]
    rows = rows or [0] * cfg.layers
    dl = decision_latency(cfg.classes)
    first = forward_cycles(lay[0]) + DECIDE + dl + update_cycles(rows[0], lay[0]) + HANDOVER
    second = (sum(forward_cycles(d) for d in lay[1:]) + DECIDE + dl
              + sum(update_cycles(u, d) for u, d in zip(rows[1:], lay[1:])) + TAIL)
    if pending:
        first += RF_START + reinforce_layer_cycles(lay[0])
        second += RF_START + sum(reinforce_layer_cycles(d) for d in lay[1:])
    return first, second


def response_clocks(cfg: FoldedTrainConfig, steps) -> list[int]:
    """Clocks at which the responses of a stream of TRAINs are taken, counted from the edge that takes
    the first sample's last word, for a host that streams (every next sample waits in the prefetch
    buffer) and takes each response at once. ``steps``: (rows, pending) per sample.

    Without overlap a sample starts the clock its predecessor's response is taken. With it, layer 0
    starts a sample the clock after the second stage takes its predecessor, and the second stage
    takes a sample when layer 0 is done with it and the clock after the previous response at the
    earliest: the gap between responses is about the slower stage's clocks."""
    out, resp, take = [], 0, None
    seen = {}                                   # the clocks of each (rows, pending) met so far
    for rows, pending in steps:
        key = (tuple(rows), bool(pending))
        if key not in seen:
            seen[key] = (stage_cycles(cfg, rows, pending) if cfg.overlap
                         else cycles_per_sample(cfg, rows, pending=pending))
        if not cfg.overlap:
            resp += seen[key]
        else:
            first, second = seen[key]
            start = 0 if take is None else take + 1
            take = start + first if take is None else max(start + first, resp + 1)
            resp = take + second
        out.append(resp)
    return out


def _words_read(lay, rows, pending) -> int:
    """Words the layers ``lay`` read through their one read port per memory for one online step."""
    return sum(d["groups"] * d["words"] + u * d["words"] + (d["neurons"] * d["words"] if pending else 0)
               for u, d in zip(rows, lay))


def stream_period(cfg: FoldedTrainConfig, rows) -> float:
    """Clocks per sample of a long stream of steps that each update ``rows``, a reinforcement sweep owed
    every ``reinforce_every`` of them: the mean gap of ``response_clocks`` over one period of the sweeps
    in the steady state (with overlap both stages' sweeps may show, so it is simulated, not summed)."""
    e = cfg.reinforce_every
    clocks = response_clocks(cfg, [(rows, i > 0 and i % e == 0) for i in range(2 * e + 1)])
    return (clocks[2 * e] - clocks[e]) / e


def stage_bounds(cfg: FoldedTrainConfig, rows=None, pending: bool = False) -> tuple[int, int]:
    """``overlap``: the port bound of each stage for one step, (layer 0, layers 1..L-1)."""
    lay = plan(cfg)["layers"]
    rows = rows or [0] * cfg.layers
    return _words_read(lay[:1], rows[:1], pending), _words_read(lay[1:], rows[1:], pending)


def cycle_bound(cfg: FoldedTrainConfig, rows=None, active: bool = False, pending: bool = False,
                closes: bool = False) -> int:
    """Port bound of the folding: every word read once (forward) and each updated row's words once more;
    bep (active): the rows of every layer above the first read once more for the back-projection
    (the first layer's mask needs only its z values, no rows); pending: every neuron's W words
    once (SIMD reinforcement lanes, one draw per lane per clock); closes (mini-batch): every neuron's
    W words twice more (accumulators, then weights, one lane's word per clock)."""
    p = plan(cfg)
    rows = rows or [0] * cfg.layers
    if cfg.overlap:
        # the stages read their own memories side by side: a stream is bound by the busier one
        return max(stage_bounds(cfg, rows, pending))
    n = _words_read(p["layers"], rows, pending)
    if closes and cfg.batch > 1:
        n += sum(2 * d["neurons"] * d["words"] for d in p["layers"])
    if cfg.algorithm == "bep" and active:
        n += sum(d["groups"] * d["words"] for d in p["layers"][1:])
    return n


class FoldedGolden(OnlineTrainer):
    """Golden twin of the folded engine: the sample-by-sample trainer itself (same rules, same counters),
    online or in mini-batches of ``cfg.batch`` (closed by the engine's FLUSH at the end of an epoch)."""

    def __init__(self, cfg: TrainConfig):
        super().__init__(cfg, batched=True)


def top_name(cfg: FoldedTrainConfig) -> str:
    fold = "_".join(f"p{p}s{s}" for p, s in zip(cfg.pe, cfg.simd))
    return (f"trainer_folded_{cfg.algorithm}_{'_'.join(map(str, (cfg.inputs,) + tuple(cfg.hidden)))}"
            f"_{fold}_c{cfg.classes}_b{cfg.hidden_bits}_s{cfg.seed}" + (f"_bs{cfg.batch}" if cfg.batch > 1 else "")
            + ("_ov" if cfg.overlap else ""))
