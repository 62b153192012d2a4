"""Fully binarized EP + BOP engine with weights and momenta in block RAM (issue 21, part 2).

Golden twin: :class:`hwtrain.golden.ep.EpEngine` (the same bits as
:class:`hwtrain.hdl.ep.EpEngine`, which keeps W1, W2 in flip-flop rings).
Same stream interface: ``i`` {x, label, train} -> ``o`` {pred}; the same
golden-only options are refused (:func:`hwtrain.hdl.ep.refuse_unsupported`).

Configuration: :class:`EpBramConfig` = :class:`~hwtrain.golden.ep.EpConfig` plus
the folding, ``simd`` (S1: input bits per W1 word) and ``simd_hidden`` (S2:
hidden neurons per W2 word, also the hidden neurons updated per clock).

Memory layout (``amaranth.lib.memory.Memory``, one read and one write port
each, every block-RAM output straight into a register, ``no_rw_check``):

====  ======================  =======================  ==========================
name  rows x words            word                     address of (row, word)
====  ======================  =======================  ==========================
W1    H x W1w, W1w=ceil(D/S1)  S1 weight bits           ``i * W1w + w``
M1    same                     S1 momenta (N bits each)  same
W2    O x W2w, W2w=ceil(H/S2)  S2 weight bits           ``o * W2w + w``
M2    same                     S2 momenta               same
====  ======================  =======================  ==========================

With ``slice_memories`` each of these memories is a
:class:`~hwtrain.hdl.fanout.SlicedMemory`: its word cut into slices as wide as one DP16KD is
at the memory's depth (784-512 at S1 = 49: W1/M1 8,192 words in 2-bit slices, 25 + 147
blocks), each slice reading and writing at its own copy of the addresses and write enable, so
no block's output passes a multiplexer and no register drives every block.

Bit j of word w holds column ``w * S (+) j``; padding columns hold -1 weights
whose momenta never move (their gradient is 0 and their momentum stays 0).
Biases live in two LUT RAMs (H and O entries).

One copy of W2 serves both directions. A time step sweeps W2 row by row,
word by word (one word per clock): each word's popcount with the hidden
activations (``2*popcount(a_h & w) - popcount(a_h)``) accumulates the output
neuron's dot product, and the same word adds ``a_y[o] ? (w ? +1 : -1) : 0`` to
the hidden neurons' column accumulators (a ring of W2w words of S2 counters
that turns one word per clock, so the word being read always meets its
accumulators at the ring's head). Each accumulator starts the step at the
neuron's *drive* ``W1.x + (b >> bias_frac)``, which is constant during a
sample and computed once per sample by a sweep of W1 (one word per clock).
A pseudo-row of all-ones weights before row 0 gives ``popcount(a_h)`` (and, in
the W1 sweep, ``popcount(x)``). After the sweep, the hidden pass updates S2
hidden neurons per clock from the accumulators (W2w clocks), then a latch
clock takes the new activations (every neuron of a step reads the previous
step's activations, as in the golden model).

BOP sweeps W1/M1 and W2/M2 side by side (one word of each per clock, every
word once: the leak applies to every momentum), in a 4-stage pipeline: read,
registered word | ``M - trunc(M >> k)`` | ``+ g``, clamp and flip test |
write back. Biases move by ``nudged - free`` in the same pass.

Clocks per sample (:func:`cycles_per_sample`, checked by the benches), with
``Pk = popcount register stages`` of a k-bit word (:func:`pc_stages`) and ``Ek = 1`` when
memory k is banked (deeper than ``bank_depth``, not sliced), else 0:

    drive  = (H + 1) W1w + P1 + 6 + E1
    step   = (O + 1) W2w + max(W2w + 3, P2 + 6) + E2 + 1
    train  = drive + (T + K) step + max(H W1w, O W2w) + 5 + max(E1, E2)
    infer  = drive + T step + tournament registers(C, "round") + 2

``probe=True`` adds a read-back port for benches (read it only while idle):
``probe_addr`` selects a word address and, :func:`probe_latency` clocks later (3, or 4
with a banked memory), ``probe_w1``,
``probe_m1`` (word ``probe_addr`` of W1/M1), ``probe_w2``, ``probe_m2`` (of
W2/M2), ``probe_b_hidden``, ``probe_b_output`` (bias ``probe_addr``) show it;
momentum lane l is in bits ``[l*N, (l+1)*N)``, two's complement.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from ..core.bits import sat_bounds
from ..errors import HwtrainError, require
from ..golden.ep import EpConfig, initial_weights
from .argmax import tournament, tournament_registers
from .bop import bop_accumulate, bop_leak
from .fanout import BLOCK_MODES, Copies, SlicedMemory, one_block_width
from .ep import _bit, _sat, prediction_layout, refuse_unsupported, sample_layout
from .popcount import popcount

# Block RAM for the weight and momentum words; LUT RAM for the biases. No word is read in the clock it is
# written (every pass reads each word once and the next pass starts after the last write), so the read/write
# collision logic yosys would add in front of the output registers is dropped (as in hdl/trainer_folded.py).
ROWS = {"ram_style": "block", "no_rw_check": 1}
# Registered copies of each high-fan-out control (ring shifts, drive pushes, hidden pass): each copy drives
# 1/COPIES of the loads, so placement can put it near them. yosys merges flip-flops of equal D input and
# init value, so the copies are hdl.fanout.Copies, which the flow keeps (EpBramEngine._pipe_copies,
# _pick_copies).
COPIES = 4
# The hidden neurons' rings (states, accumulators, drives) take their controls (sweep shift, hidden pass,
# accumulator reload, drive push) in RING_COPIES copies, each driving the rings of a few lanes; these
# copies are kept apart by their own feedback (EpBramEngine._issuer's ``vf1_copies``, the hidden pass's
# registers) rather than by delays and inversions, so there can be more than four. At least RING_COPIES,
# and one per RING_NEURONS hidden neurons up to one per lane (784-512: 64 copies of 8 neurons' rings).
RING_COPIES = 16
RING_NEURONS = 8
# copies of v & fw that one registered copy of an issuer's start and end-of-sweep test drives
VF_LOADS = 8
TABLE = {"ram_style": "distributed", "no_rw_check": 1}
BIAS_LUT_DEPTH = 256
# Address and write-enable copies of a sliced memory, each driving the pins of 1/SLICE_GROUPS of its
# slices (EpBramConfig.slice_memories).
SLICE_GROUPS = 16
# A sliced memory's read: the address copies registered once more, and each slice's output registered
# (a register on each side of every block, which the placer can put beside it): two clocks more.
SLICED_READ_REGS = 2
# The input ring's controls (load while idle, turn) in X_GROUPS copies, one per group of lanes (a lane's
# ring of W1w bits is beside the lane's datapath; the lanes spread over the die with their memories);
# the scheduled flip thresholds likewise in TAU_GROUPS copies per BOP side.
X_GROUPS = 8
TAU_GROUPS = 8


def _pos(name: str, value) -> None:
    require(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
            f"{name} must be an integer >= 1, got {value!r}")


@dataclass(frozen=True)
class EpBramConfig(EpConfig):
    """:class:`EpConfig` plus the block-RAM engine's folding.

    simd          S1, input bits per W1/M1 word (clipped to ``inputs``).
    simd_hidden   S2, hidden neurons per W2/M2 word and per clock of the hidden pass
                  (clipped to ``hidden``).
    bank_depth    words per memory bank: a weight or momentum memory deeper than this is
                  built from banks of ``bank_depth`` words, each bank's output registered
                  and the banks multiplexed after those registers (one more clock of read
                  latency); 512 = one DP16KD deep in its 36-bit mode.
    slice_memories  instead of banks, cut each weight and momentum word into slices as wide
                  as one DP16KD is at the memory's depth, each slice a memory of the full depth
                  (for deep memories on a large die: every block's output goes straight into a
                  register, with no multiplexer across blocks spread over the die); bank_depth is
                  then unused.
    """

    simd: int = 64
    simd_hidden: int = 64
    bank_depth: int = 512
    slice_memories: bool = False

    def __post_init__(self):
        super().__post_init__()
        _pos("simd", self.simd)
        _pos("simd_hidden", self.simd_hidden)
        _pos("bank_depth", self.bank_depth)
        require(isinstance(self.slice_memories, bool),
                f"slice_memories must be true or false, got {self.slice_memories!r}")
        if self.slice_memories:
            g = geometry(self)
            deepest, block = max(g["depth1"], g["depth2"]), BLOCK_MODES[-1][0]
            require(deepest <= block, f"slice_memories: a memory of {deepest} words is deeper than one "
                                      f"DP16KD ({block} words); use bank_depth instead")

    def ep_config(self) -> EpConfig:
        """The golden model's configuration (the folding removed)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(EpConfig)}
        return EpConfig(**d)

    @classmethod
    def of(cls, cfg: EpConfig, **folding) -> "EpBramConfig":
        d = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(EpConfig)}
        if isinstance(cfg, EpBramConfig):
            d.update(simd=cfg.simd, simd_hidden=cfg.simd_hidden, bank_depth=cfg.bank_depth,
                     slice_memories=cfg.slice_memories)
        d.update({k: v for k, v in folding.items() if v is not None})
        return cls(**d)


def pc_stages(bits: int) -> int:
    """Internal register stages of the compressor popcount of a ``bits``-wide word."""
    return 0 if bits <= 8 else 1 if bits <= 128 else 2


def geometry(cfg: EpBramConfig) -> dict:
    D, H, O = cfg.inputs, cfg.hidden, cfg.outputs
    S1, S2 = min(cfg.simd, D), min(cfg.simd_hidden, H)
    W1w, W2w = -(-D // S1), -(-H // S2)
    extra = lambda depth: SLICED_READ_REGS if cfg.slice_memories else int(depth > cfg.bank_depth)  # noqa: E731
    return {"D": D, "H": H, "O": O, "S1": S1, "S2": S2, "W1w": W1w, "W2w": W2w,
            "P1": pc_stages(S1), "P2": pc_stages(S2),
            "depth1": H * W1w, "depth2": O * W2w,
            "E1": extra(H * W1w), "E2": extra(O * W2w),
            "m1_bits": H * W1w * S1 * cfg.mom_bits, "m2_bits": O * W2w * S2 * cfg.mom_bits}


def cycles_per_sample(cfg: EpBramConfig, train: bool = True) -> int:
    """Clocks from the edge that takes a sample to the edge that delivers its prediction
    (ready consumer); the formula of the module docstring."""
    g = geometry(cfg)
    drive = (g["H"] + 1) * g["W1w"] + g["P1"] + 6 + g["E1"]
    step = (g["O"] + 1) * g["W2w"] + max(g["W2w"] + 3, g["P2"] + 6) + g["E2"] + 1
    if train:
        bop = max(g["depth1"], g["depth2"]) + 5 + max(g["E1"], g["E2"])
        return drive + (cfg.free_steps + cfg.nudged_steps) * step + bop
    return drive + cfg.free_steps * step + tournament_registers(cfg.classes, "round") + 2


def probe_latency(cfg: EpBramConfig) -> int:
    g = geometry(cfg)
    return 3 + max(g["E1"], g["E2"])


class _Port:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _memory(m, name: str, width: int, depth: int, init, bank_depth: int, addrs=None, *,
            sliced: bool = False, waddrs=None, wens=None):
    """A 1-read 1-write memory of ``depth`` words, banked when deeper than ``bank_depth``:
    each bank's output is registered and the banks are multiplexed after the registers (read
    data one clock later). Returns (read port, write port) with ``addr``/``data``(/``en``).
    ``addrs``: copies of the read address (each equal to the read port's ``addr``); bank b reads
    at copy ``b % len(addrs)``, so no one register drives every bank's address pins.

    ``sliced``: instead, a :class:`~hwtrain.hdl.fanout.SlicedMemory` whose slices are
    :func:`~hwtrain.hdl.fanout.one_block_width` bits wide, each a memory of the full depth (one
    DP16KD: no depth multiplexer, no banks), its read address registered once more per copy and its
    read data once more (read data :data:`SLICED_READ_REGS` clocks later than unsliced). Slice k of n reads at ``addrs[k * len(addrs) // n]`` and writes at
    ``waddrs`` / ``wens`` picked the same way (copies equal to the write port's ``addr`` / ``en``),
    so each copy drives the address and enable pins of a few neighbouring slices."""
    if sliced:
        aw = max(depth - 1, 1).bit_length()
        # the read data register without a reset (a reset would keep it out of the block: it is
        # the flip-flop synthesis can move into the block's output register, flows.synth.bram_outreg)
        rd = _Port(addr=Signal(aw, name=f"{name}_raddr"),
                   data=Signal(width, name=f"{name}_rdata", reset_less=True))
        wr = _Port(addr=Signal(aw, name=f"{name}_waddr"), data=Signal(width, name=f"{name}_wdata"),
                   en=Signal(name=f"{name}_wen"))
        mem = SlicedMemory(unsigned(1), width, depth, [[(v >> j) & 1 for j in range(width)] for v in init],
                           attrs=ROWS, per_slice=one_block_width(depth))
        m.submodules[name] = mem
        ra, wa, we = addrs or [rd.addr], waddrs or [wr.addr], wens or [wr.en]
        raq = [Signal(aw, name=f"{name}_raddr_q{k}") for k in range(len(ra))]
        n = len(mem.slices)
        m.d.sync += [q.eq(a) for q, a in zip(raq, ra)]
        m.d.sync += rd.data.eq(mem.rdata)
        m.d.comb += mem.wdata.eq(wr.data)
        for k in range(n):
            m.d.comb += [mem.raddr[k].eq(raq[k * len(ra) // n]), mem.waddr[k].eq(wa[k * len(wa) // n]),
                         mem.wen[k].eq(we[k * len(we) // n])]
        return rd, wr
    if depth <= bank_depth:
        mem = Memory(shape=width, depth=depth, init=init, attrs=ROWS)
        m.submodules[name] = mem
        return mem.read_port(), mem.write_port()
    nb = -(-depth // bank_depth)
    ob = (bank_depth - 1).bit_length()
    aw = max(depth - 1, 1).bit_length()
    rd = _Port(addr=Signal(aw, name=f"{name}_raddr"), data=Signal(width, name=f"{name}_rdata"))
    wr = _Port(addr=Signal(aw, name=f"{name}_waddr"), data=Signal(width, name=f"{name}_wdata"),
               en=Signal(name=f"{name}_wen"))
    # the bank select in one copy per address copy (each from its own address register), each
    # copy selecting a slice of the word's bits (one select for every bit was a net of 2 x width loads)
    srcs = addrs if addrs else [rd.addr]
    ncp = max(1, min(len(srcs), width))
    sel2 = []
    for k in range(ncp):
        s1 = Signal(range(nb), name=f"{name}_bank1_c{k}")
        s2 = Signal(range(nb), name=f"{name}_bank2_c{k}")
        m.d.sync += [s1.eq(srcs[k] >> ob), s2.eq(s1)]
        sel2.append(s2)
    outs = []
    for b in range(nb):
        lo = b * bank_depth
        n = min(bank_depth, depth - lo)
        mem = Memory(shape=width, depth=n, init=list(init[lo:lo + n]) if init else [], attrs=ROWS)
        m.submodules[f"{name}_bank{b}"] = mem
        rp, wp = mem.read_port(), mem.write_port()
        q = Signal(width, name=f"{name}_bank{b}_q")
        ra = addrs[b % len(addrs)] if addrs else rd.addr
        m.d.comb += [rp.addr.eq(ra[:ob]), wp.addr.eq(wr.addr[:ob]), wp.data.eq(wr.data),
                     wp.en.eq(wr.en & ((wr.addr >> ob) == b))]
        m.d.sync += q.eq(rp.data)
        outs.append(q)
    for k in range(ncp):
        lo, hi = width * k // ncp, width * (k + 1) // ncp
        m.d.comb += rd.data[lo:hi].eq(Array(q[lo:hi] for q in outs)[sel2[k]])
    return rd, wr


def lane_group_bits(words: int, lanes: int, k: int, groups: int) -> list[int]:
    """Bit indices of lane group ``k`` (of ``groups``) in every word of a ring of ``words`` words of
    ``lanes`` bits (bit ``w * lanes + j`` is lane j of word w): the bits one control copy drives."""
    return [w * lanes + j for w in range(words) for j in range(lanes * k // groups, lanes * (k + 1) // groups)]


def top_name(cfg: EpBramConfig, *, probe: bool = False) -> str:
    return (f"ep_bram_d{cfg.inputs}_h{cfg.hidden}_c{cfg.classes}x{cfg.replicas}_s{cfg.state_bits}"
            f"_m{cfg.mom_bits}_t{cfg.free_steps}k{cfg.nudged_steps}_simd{cfg.simd}x{cfg.simd_hidden}"
            + ("_sliced" if cfg.slice_memories else f"_bank{cfg.bank_depth}" if cfg.bank_depth != 512 else "")
            + (f"_tausched{len(cfg.tau_schedule)}" if cfg.tau_schedule else "")
            + f"_seed{cfg.seed}" + ("_probe" if probe else ""))


def _word_inits(rows, words: int, simd: int) -> list[int]:
    out = []
    for row in rows:
        for w in range(words):
            out.append(sum(1 << j for j in range(simd) if w * simd + j < len(row) and row[w * simd + j]))
    return out


def _scale(v, sh: int):
    return v << sh if sh >= 0 else v >> -sh


class EpBramEngine(wiring.Component):
    """The on-chip EP trainer with W1, W2 and their momenta in block RAM (module doc)."""

    def __init__(self, cfg: EpConfig, *, simd: int | None = None, simd_hidden: int | None = None,
                 probe: bool = False):
        try:
            refuse_unsupported(cfg)
        except HwtrainError:
            self._MustUse__silence = True          # never elaborated: no UnusedElaboratable warning
            raise
        cfg = EpBramConfig.of(cfg, simd=simd, simd_hidden=simd_hidden)
        self.cfg = cfg
        self.g = geometry(cfg)
        self.probe = probe
        self.probe_latency = probe_latency(cfg)
        members = {"i": In(stream.Signature(sample_layout(cfg))),
                   "o": Out(stream.Signature(prediction_layout(cfg)))}
        if probe:
            g = self.g
            self.probe_depth = max(g["depth1"], g["depth2"], g["H"], g["O"])
            members.update({
                "probe_addr": In(range(self.probe_depth)),
                "probe_w1": Out(g["S1"]), "probe_w2": Out(g["S2"]),
                "probe_m1": Out(g["S1"] * cfg.mom_bits), "probe_m2": Out(g["S2"] * cfg.mom_bits),
                "probe_b_hidden": Out(signed(cfg.bias_bits)), "probe_b_output": Out(signed(cfg.bias_bits)),
            })
        super().__init__(members)

    def cycles_per_sample(self, train: bool = True) -> int:
        return cycles_per_sample(self.cfg, train)

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def _issuer(m, name: str, rows: int, words: int, addr_width: int, copies: int = 1, row_copies: int = 1,
                vf_copies: int = 0, early: bool = False):
        """Address counter of a sweep over ``rows`` x ``words`` (optionally led by a pseudo-row of
        ``words`` words whose reads the datapath ignores), started by ``start`` (with ``start_ps``:
        pseudo-row first) or, if ``early``, by their values a clock ahead (registered here, so the
        start's fan-out hangs off a flip-flop). Its registers are stage S0. ``copies``
        address registers (``a_copies``, the first is ``a``), each counting on its own feedback; likewise
        ``row_copies`` row counters (``r_copies``, the first is ``r``), and ``vf_copies`` registers equal to
        ``v & fw`` one stage later, at S1 (``vf1_copies``), each cleared on its own feedback."""
        it = {"v": Signal(name=f"{name}_v"), "ps": Signal(name=f"{name}_pseudo"),
              "r": Signal(range(max(rows, 2)), name=f"{name}_row"),
              "w": Signal(range(max(words, 2)), name=f"{name}_word"),
              "a": Signal(addr_width, name=f"{name}_addr"),
              "fw": Signal(name=f"{name}_forward"),
              "start": Signal(name=f"{name}_start"), "start_ps": Signal(name=f"{name}_start_pseudo")}
        it["a_copies"] = [it["a"]] + [Signal(addr_width, name=f"{name}_addr_c{k}") for k in range(1, copies)]
        it["r_copies"] = [it["r"]] + [Signal(range(max(rows, 2)), name=f"{name}_row_c{k}")
                                      for k in range(1, row_copies)]
        last_w = it["w"] == words - 1
        # the sweep's last word (v & last_w & ~ps & r == rows - 1) as a register, from the clock before
        # (no sweep starts while one runs; rows >= 2): the copies below take it from one flip-flop, not
        # from the counters' three LUTs (14.28 ns into the 24 copies at 64407d5)
        require(rows >= 2, f"{name}: a sweep of {rows} row(s); the issuer needs at least 2")
        end = Signal(name=f"{name}_end")
        if words >= 2:
            m.d.sync += end.eq(it["v"] & ~it["ps"] & (it["r"] == rows - 1) & (it["w"] == words - 2))
        else:
            m.d.sync += end.eq(it["v"] & ~it["ps"] & (it["r"] == rows - 2))
        # v & fw at S1: set by the start and cleared by the end of the sweep, both registered in a copy
        # per VF_LOADS copies (the start and the end-of-sweep test fanned out across the die to every
        # copy was the 784-512 engine's critical path, 13.55 ns at 85a3b1a)
        it["vf1_copies"] = [Signal(name=f"{name}_vf_c{k}") for k in range(vf_copies)]
        n_ctl = -(-vf_copies // VF_LOADS)
        st, st_ps = Copies(1, n_ctl, name=f"{name}_start_s1"), Copies(1, n_ctl, name=f"{name}_start_pseudo_s1")
        st_end = Copies(1, n_ctl + copies, name=f"{name}_end_s1")
        go, go_ps = it["start"], it["start_ps"]
        if early:
            go, go_ps = Signal(name=f"{name}_go"), Signal(name=f"{name}_go_pseudo")
            m.d.sync += [go.eq(it["start"]), go_ps.eq(it["start_ps"])]
        m.d.sync += [*st.eq(go), *st_ps.eq(go_ps), *st_end.eq(end)]
        for k, q in enumerate(it["vf1_copies"]):
            g = k // VF_LOADS
            with m.If(st[g]):
                m.d.sync += q.eq(st_ps[g])
            with m.Elif(q & st_end[g]):
                m.d.sync += q.eq(0)
        # The address copies go back to 0 the clock after a sweep's last word, each on its own registered
        # end-of-sweep copy, not at the start (whose fan-out then stays small): a sweep never starts in
        # the clock its previous one ends (the controller waits for ~v), so a is 0 when the next begins.
        for k, a in enumerate(it["a_copies"]):
            with m.If(st_end[n_ctl + k]):
                m.d.sync += a.eq(0)
            with m.Elif(it["v"] & ~it["ps"]):
                m.d.sync += a.eq(a + 1)
        with m.If(go):
            m.d.sync += [it["v"].eq(1), it["ps"].eq(go_ps), it["fw"].eq(go_ps),
                         it["w"].eq(0), *(r.eq(0) for r in it["r_copies"])]
        with m.Elif(it["v"]):
            with m.If(last_w):
                m.d.sync += it["w"].eq(0)
                with m.If(it["ps"]):
                    m.d.sync += it["ps"].eq(0)
                with m.Elif(it["r"] == rows - 1):
                    m.d.sync += it["v"].eq(0)
                with m.Else():
                    m.d.sync += [r.eq(r + 1) for r in it["r_copies"]]
            with m.Else():
                m.d.sync += it["w"].eq(it["w"] + 1)
        it["tags"] = {"v": it["v"], "ps": it["ps"], "fw": it["fw"], "r": it["r"], "w": it["w"], "a": it["a"],
                      "first": it["w"] == 0, "last": last_w, "lastrow": ~it["ps"] & (it["r"] == rows - 1)}
        return it

    @staticmethod
    def _pipe_copies(m, name: str, tags: dict, fn, n: int = COPIES) -> list:
        """``n`` copies of ``fn(tags)`` registered once, i.e. of ``fn`` one pipeline stage later
        (``fn`` of all-zero tags is 0), as :class:`~hwtrain.hdl.fanout.Copies`, which synthesis keeps
        apart. (Copies built as plain delays of earlier stages merged into the pipeline's own register:
        at 784-512 one flip-flop, t2s2's pseudo-row tag, drove half the accumulator lanes, 10.84 ns of
        routing at 7b742e2.)"""
        v = fn(tags)
        copies = Copies(len(v), n, name=name)
        m.d.sync += copies.eq(v)
        return list(copies.regs)

    @staticmethod
    def _lag(m, name: str, sigs: list, n: int) -> list:
        """Each of ``sigs`` through ``n`` registers."""
        out = []
        for k, v in enumerate(sigs):
            for i in range(n):
                q = Signal(len(v), name=f"{name}_c{k}_{i}")
                m.d.sync += q.eq(v)
                v = q
            out.append(v)
        return out

    @staticmethod
    def _pick_copies(m, name: str, bits, lo, row_ahead, n: int, post=lambda v: v) -> Copies:
        """``n`` registered copies of ``post(bits[r])``, picked in two clocks, not by one wide
        multiplexer after the row register: each group of 8 picked by ``lo`` (r's low 3 bits one
        stage earlier, a register) into a register, then the group picked by r's high bits, each copy
        at its own copy of them (loaded from ``row_ahead``, the row of the stage before): no one
        multiplexer drives every copy (one pick into the eight copies of the W2 sweep's output
        activation was 3.18 ns of routing after it at 172e022). ``bits`` must not change between the
        two clocks."""
        grp = Signal(-(-len(bits) // 8), name=f"{name}_pick_groups")
        for gi in range(len(grp)):
            m.d.sync += grp[gi].eq(bits[8 * gi:min(8 * gi + 8, len(bits))].bit_select(lo, 1))
        out = Copies(1, n, name=name)
        hi = Copies(max(len(row_ahead) - 3, 1), n, name=f"{name}_row")
        m.d.sync += hi.eq(row_ahead[3:])
        for i in range(n):
            m.d.sync += out[i].eq(post(grp[0] if len(grp) == 1 else grp.bit_select(hi[i], 1)))
        return out

    @staticmethod
    def _group(i: int, n: int, parts: int = COPIES) -> int:
        return i * parts // max(n, 1)

    @staticmethod
    def _delay(m, tags: dict, name: str) -> dict:
        out = {}
        for k, v in tags.items():
            q = Signal(len(v), name=f"{name}_{k}")
            m.d.sync += q.eq(v)
            out[k] = q
        return out

    def _bop_stage1(self, m, mq, lanes: int, name: str):
        """``M - trunc(M / 2**k)`` per lane (the leak rounds toward zero), combinational."""
        n = self.cfg.mom_bits
        out = []
        for j in range(lanes):
            t1 = Signal(signed(n + 1), name=f"{name}_t1_{j}")
            m.d.comb += t1.eq(bop_leak(m, mq[j * n:(j + 1) * n].as_signed(), n, self.cfg.gamma_shift, f"{name}_{j}"))
            out.append(t1)
        return out

    def _taus(self):
        """The BOP flip thresholds (W1, W2): the two constants, or with a ``tau_schedule`` two
        registers and the count of samples trained since reset (stopped at the schedule's last
        ``after``); :meth:`_tau_step` moves them on as a training sample's BOP ends."""
        c = self.cfg
        if not c.tau_schedule:
            return c.tau_hidden, c.tau_output, None
        top = sat_bounds(c.mom_bits)[1]
        tau_h = Signal(range(top), init=c.tau_hidden, name="tau_hidden")
        tau_y = Signal(range(top), init=c.tau_output, name="tau_output")
        trained = Signal(range(c.tau_schedule[-1][0] + 1), name="samples_trained")
        return tau_h, tau_y, trained

    def _tau_step(self, m, taus, bop_done):
        """Sample n's BOP has ended: the count becomes n + 1, and the entry whose ``after`` is
        n + 1 takes over, so sample n + 1 flips at ``cfg.taus(n + 1)`` as in the golden model."""
        tau_h, tau_y, trained = taus
        if trained is None:
            return
        sched = self.cfg.tau_schedule
        with m.If(bop_done & (trained != sched[-1][0])):
            m.d.sync += trained.eq(trained + 1)
            for after, th, ty in sched:
                with m.If(trained == after - 1):
                    m.d.sync += [tau_h.eq(th), tau_y.eq(ty)]

    def _bop_stage2(self, m, t1q, w, gp, gn, tau, name: str):
        """``sat(t1 + g)`` and the flip ``w * M > tau`` (on the unclamped sum: tau < 2**(N-1) - 1).
        A scheduled ``tau`` (a register) reaches the lanes through TAU_GROUPS registered copies: it
        changes only as a sample's BOP ends, thousands of clocks before the next BOP reads it."""
        n = len(t1q)
        if not isinstance(tau, int):
            copies = Copies(len(tau), min(TAU_GROUPS, n), name=f"{name}_tau")
            m.d.sync += copies.eq(tau)
        lane_tau = lambda j: tau if isinstance(tau, int) else copies[j * len(copies) // n]  # noqa: E731
        lanes = [bop_accumulate(m, t1, w[j], gp[j], gn[j], self.cfg.mom_bits, lane_tau(j), f"{name}_{j}")
                 for j, t1 in enumerate(t1q)]
        return Cat(*(new for new, _ in lanes)), Cat(*(flip for _, flip in lanes))

    # --- the engine -------------------------------------------------------------------------

    def elaborate(self, platform):
        c, g, m = self.cfg, self.g, Module()
        D, H, O, R, B, N = g["D"], g["H"], g["O"], c.replicas, c.state_bits, c.mom_bits
        S1, S2, W1w, W2w, P1, P2 = g["S1"], g["S2"], g["W1w"], g["W2w"], g["P1"], g["P2"]
        Hp = W2w * S2
        bias_lo, bias_hi = sat_bounds(c.bias_bits)
        f = c.bias_frac
        sh = c.in_shift
        w1_init, w2_init = initial_weights(c)
        aw = max(g["depth1"], g["depth2"], H, O, 2).bit_length()       # address registers (probe range)

        # --- memories ------------------------------------------------------------------------
        E1, E2, bd = g["E1"], g["E2"], c.bank_depth
        # issuers (stage S0): W1/M1 (drive pass, pseudo-row first; BOP), W2/M2 (relaxation sweep,
        # pseudo-row first; BOP); one read-address register per bank of a banked memory
        sl = c.slice_memories
        rc = min(S2, max(RING_COPIES, H // RING_NEURONS))     # copies of the hidden rings' controls
        nb1 = SLICE_GROUPS if sl else -(-g["depth1"] // bd)
        nb2 = SLICE_GROUPS if sl else -(-g["depth2"] // bd)
        is1 = self._issuer(m, "i1", H, W1w, aw, copies=nb1, row_copies=3, vf_copies=rc)
        is2 = self._issuer(m, "i2", O, W2w, aw, copies=nb2, row_copies=4, vf_copies=rc, early=True)
        ring_group = lambda j: self._group(j, S2, rc)      # noqa: E731 (lane j's ring controls)
        # a sliced memory's write address and enable in copies, registered beside the write-back
        # registers, one set per memory (up to SLICE_GROUPS copies, at most one a slice): one set shared
        # by a side's weights and momenta put each copy between W1 and M1 slices that the placer keeps
        # apart (89.27 and 83.43 MHz's critical path at 784-512, 10.4-11.2 ns of routing)
        mems = {"w1": (S1, g["depth1"], _word_inits(w1_init, W1w, S1), is1), "m1": (S1 * N, g["depth1"], [], is1),
                "w2": (S2, g["depth2"], _word_inits(w2_init, W2w, S2), is2), "m2": (S2 * N, g["depth2"], [], is2)}
        wc, ports = {}, {}
        for k, (width, depth, init, issuer) in mems.items():
            n = min(SLICE_GROUPS, -(-width // one_block_width(depth))) if sl else 0     # the memory's slices
            wc[k] = Copies(aw, n, name=f"{k}_waddr"), Copies(1, n, name=f"{k}_wen")
            ports[k] = _memory(m, k, width, depth, init, bd, issuer["a_copies"], sliced=sl,
                               waddrs=wc[k][0].regs, wens=wc[k][1].regs)
        (w1r, w1w_), (m1r, m1w), (w2r, w2w_), (m2r, m2w) = (ports[k] for k in ("w1", "m1", "w2", "m2"))
        # (the hidden biases in a block RAM beyond BIAS_LUT_DEPTH entries: the 512-entry LUT RAM's 32:1
        # read multiplexer into its read register was 13.19 ns at 784-512)
        m.submodules.b_hidden = bhmem = Memory(shape=signed(c.bias_bits), depth=H, init=[],
                                               attrs=ROWS if H > BIAS_LUT_DEPTH else TABLE)
        m.submodules.b_output = bymem = Memory(shape=signed(c.bias_bits), depth=O, init=[], attrs=TABLE)
        bhr, bhw = bhmem.read_port(), bhmem.write_port()
        # LUT-RAM (or block-RAM) outputs, registered without a reset: the hidden biases' block (784-512)
        # takes its register as the output register (bram_outreg; its unregistered read was 10.85 ns)
        bq_h = Signal(signed(c.bias_bits), name="bias_hidden_q", reset_less=True)
        bq_y = Signal(signed(c.bias_bits), name="bias_output_q")
        byr, byw = bymem.read_port(), bymem.write_port()
        m.d.sync += [bq_h.eq(bhr.data), bq_y.eq(byr.data)]

        taus = self._taus()                             # BOP flip thresholds of W1 and W2

        # --- sample registers ------------------------------------------------------------------
        x = Signal(W1w * S1, name="x")                   # padding inputs are 0
        train = Signal()
        nudging = Signal()
        tgt = Signal(O, name="target")
        pred = Signal(max(c.label_width, 1))
        step = Signal(range(max(c.free_steps, c.nudged_steps) + 1))

        # --- hidden neurons: rings of W2w words of S2 lanes (lane j of word w = neuron w*S2 + j) ----
        dbound = D + (1 << max(c.bias_bits - 1 - f, 0))
        dw = signed(dbound.bit_length() + 1)
        acc_w = signed((dbound + O).bit_length() + 1)
        s_h = [[Signal(B, name=f"s_hidden_{w}_{j}") for j in range(S2)] for w in range(W2w)]
        acc = [[Signal(acc_w, name=f"acc_hidden_{w}_{j}") for j in range(S2)] for w in range(W2w)]
        drive = [[Signal(dw, name=f"drive_{w}_{j}") for j in range(S2)] for w in range(W2w)]
        flat_drive = [d for word in drive for d in word]
        valid_lane = [[w * S2 + j < H for j in range(S2)] for w in range(W2w)]
        msb_h = Cat(s_h[w][j][B - 1] for w in range(W2w) for j in range(S2))[:H]

        # --- output neurons: registers ------------------------------------------------------------
        s_y = [Signal(B, name=f"s_output_{o}") for o in range(O)]
        msb_y = Cat(s[B - 1] for s in s_y)
        a_y = Signal(O, name="a_output")                 # previous step's output activations
        f_h, n_h = Signal(Hp, name="free_hidden"), Signal(Hp, name="nudged_hidden")
        f_y, n_y = Signal(O, name="free_output"), Signal(O, name="nudged_output")

        # --- read addresses (a banked memory's banks read at the issuer's address copies) -----------
        m.d.comb += [w1r.addr.eq(is1["a"]), m1r.addr.eq(is1["a"]),
                     w2r.addr.eq(is2["a"]), m2r.addr.eq(is2["a"])]

        # ================= W1 side: drive pass and BOP of W1 =================
        t1s1 = self._delay(m, is1["tags"], "w1s1")
        w1_chain = [is1["tags"], t1s1]
        for k in range(E1):           # banked: the bank registers add a clock
            t1s1 = self._delay(m, t1s1, f"w1s1b{k}")
            w1_chain.append(t1s1)
        t1s2 = self._delay(m, t1s1, "w1s2")
        w1_chain.append(t1s2)
        w1q = Signal(S1, name="w1_word")
        m1q = Signal(S1 * N, name="m1_word")
        xq = Signal(S1, name="x_word")
        # x is a ring of W1w words that turns one word per clock of the W1 sweeps (every sweep reads
        # whole rows, so it ends where it started): the word read is always word 0, not picked by the
        # word index out of W1w; the turn in copies (the copies of t1s1's valid tag)
        xg = min(X_GROUPS, S1)
        x_turn = Copies(1, xg, name="x_turn")             # t1s1's valid tag (w1_chain[-2] is t1s1)
        m.d.sync += x_turn.eq(w1_chain[-3]["v"])
        m.d.sync += [w1q.eq(w1r.data), m1q.eq(m1r.data), xq.eq(x[:S1])]
        # the hidden neuron's free / nudged activations for the W1 BOP, two copies each (S1 / 2 lanes each),
        # picked in two clocks (groups of 8 by the row's low bits a stage earlier, from the issuer's row
        # copies; f_h, n_h are latched before the BOP pass starts)
        lo1 = self._lag(m, "w1_pick_sel", [r[:3] for r in is1["r_copies"][1:]], E1)
        row1 = w1_chain[-3]["r"]                        # t1s1's row a stage earlier
        fq1 = self._pick_copies(m, "w1_free", f_h[:H], lo1[0], row1, 2)
        nq1 = self._pick_copies(m, "w1_nudged", n_h[:H], lo1[1], row1, 2)
        # drive: popcount(x & w) per word (all-ones weights on the pseudo-row: popcount(x))
        and_x = Signal(S1, name="and_x")
        ps1 = self._pipe_copies(m, "w1s2_pseudo", w1_chain[-2], lambda t: t["ps"])     # t1s2's ps in copies
        m.d.comb += and_x.eq(Cat((ps1[self._group(j, S1, len(ps1))] | w1q[j]) & xq[j] for j in range(S1)))
        pc1 = popcount(m, and_x, structure="compressor", stages=P1, en=Const(1), name="pc_x")
        pc1q = Signal.like(pc1, name="pc_x_q")
        m.d.sync += pc1q.eq(pc1)
        t1a = t1s2
        for k in range(1 + P1):
            t1_pre, t1a = t1a, self._delay(m, t1a, f"w1p{k}")
            w1_chain.append(t1a)
        t1_ahead = w1_chain[-3]                           # t1_pre a clock earlier
        acc1 = Signal(range(D + 1), name="acc_x")
        acc1_next = Signal(range(D + 1), name="acc_x_next")
        m.d.comb += acc1_next.eq(Mux(t1a["first"], 0, acc1) + pc1q)
        with m.If(t1a["v"]):
            m.d.sync += acc1.eq(acc1_next)
        t1b = self._delay(m, t1a, "w1a1")
        w1_chain.append(t1b)
        pcx = Signal(range(D + 1), name="popcount_x")
        drive_new = Signal(dw, name="drive_new")          # registered, then shifted into the ring
        m.d.sync += drive_new.eq(2 * acc1 - pcx + (bq_h >> f))
        with m.If(t1b["v"] & t1b["last"] & t1b["fw"] & t1b["ps"]):
            m.d.sync += pcx.eq(acc1)
        # push the drive into the ring the clock after the last word of a real row, in rc copies
        # (from the issuer's v & fw copies, each through its own registers)
        push_vf = self._lag(m, "drive_push_vf", is1["vf1_copies"], len(w1_chain) - 2)  # v & fw at t1b
        # (copy k serves lane group k; the drive registers are written below, with the hidden pass's turn)
        # (t1b's last & ~ps in a copy per lane group too, registered from t1a: two tag registers into the
        # rc copies' push and drive-enable logic were among f4f6298's late paths)
        real_last = Copies(1, len(push_vf), name="drive_push_last")
        m.d.sync += real_last.eq(t1a["last"] & ~t1a["ps"])
        push, push_next = [], []
        for k, vf in enumerate(push_vf):
            q, d = Signal(name=f"drive_push_c{k}"), Signal(name=f"drive_push_next_c{k}")
            m.d.comb += d.eq(vf & real_last[k])
            m.d.sync += q.eq(d)
            push.append(q)
            push_next.append(d)
        # BOP of W1: g = x_j (f_h[i] - n_h[i])
        bp1_t1 = self._bop_stage1(m, m1q, S1, "bop1")
        bp1_t1q = [Signal.like(t, name=f"bop1_t1q_{j}") for j, t in enumerate(bp1_t1)]
        bp1 = {"v": Signal(name="bop1_s3_v"), "a": Signal(aw, name="bop1_s3_addr"),
               "w": Signal(S1, name="bop1_s3_w"), "gp": Signal(S1, name="bop1_s3_gp"),
               "gn": Signal(S1, name="bop1_s3_gn")}
        m.d.sync += [q.eq(t) for q, t in zip(bp1_t1q, bp1_t1)]
        m.d.sync += [bp1["v"].eq(t1s2["v"] & ~t1s2["fw"]), bp1["a"].eq(t1s2["a"]), bp1["w"].eq(w1q),
                     bp1["gp"].eq(Cat(xq[j] & fq1[j * 2 // S1] & ~nq1[j * 2 // S1] for j in range(S1))),
                     bp1["gn"].eq(Cat(xq[j] & nq1[j * 2 // S1] & ~fq1[j * 2 // S1] for j in range(S1)))]
        new_m1, flips1 = self._bop_stage2(m, bp1_t1q, bp1["w"], bp1["gp"], bp1["gn"], taus[0], "bop1")
        wb1 = {"en": Signal(name="w1_wb_en"), "a": Signal(aw, name="w1_wb_addr"),
               "w": Signal(S1, name="w1_wb_w"), "m": Signal(S1 * N, name="m1_wb_m")}
        m.d.sync += [wb1["en"].eq(bp1["v"]), wb1["a"].eq(bp1["a"]), wb1["w"].eq(bp1["w"] ^ flips1),
                     wb1["m"].eq(new_m1)]
        m.d.sync += [r for k in ("w1", "m1") for r in (*wc[k][0].eq(bp1["a"]), *wc[k][1].eq(bp1["v"]))]
        m.d.comb += [w1w_.addr.eq(wb1["a"]), w1w_.data.eq(wb1["w"]), w1w_.en.eq(wb1["en"]),
                     m1w.addr.eq(wb1["a"]), m1w.data.eq(wb1["m"]), m1w.en.eq(wb1["en"])]

        # ================= W2 side: relaxation sweep and BOP of W2 =================
        t2s1 = self._delay(m, is2["tags"], "w2s1")
        w2_chain = [is2["tags"], t2s1]
        for k in range(E2):
            t2s1 = self._delay(m, t2s1, f"w2s1b{k}")
            w2_chain.append(t2s1)
        t2s2 = self._delay(m, t2s1, "w2s2")
        w2q = Signal(S2, name="w2_word")
        m2q = Signal(S2 * N, name="m2_word")
        fh2, nh2 = Signal(S2, name="w2_free_hidden"), Signal(S2, name="w2_nudged_hidden")
        # f_h, n_h again as rings of W2w words that turn with the W2 sweeps (every sweep reads whole
        # rows, so word 0 is always the word t2s1 reads, as for x), loaded from f_h, n_h the clock after
        # their latches (the W2 BOP starts later): no multiplexer of W2w words in front of fh2, nh2. Each
        # lane group's bits take their own copies of the controls.
        f_h2, n_h2 = Signal(Hp, name="free_hidden_ring"), Signal(Hp, name="nudged_hidden_ring")
        hg = min(X_GROUPS, S2)
        turn2 = Copies(1, hg, name="hidden_ring_turn")
        load_f2, load_n2 = Copies(1, hg, name="free_hidden_load"), Copies(1, hg, name="nudged_hidden_load")
        m.d.sync += turn2.eq(w2_chain[-2]["v"])                  # t2s1's valid tag
        for k in range(hg):
            for ring, src, load in ((f_h2, f_h, load_f2), (n_h2, n_h, load_n2)):
                bits = lane_group_bits(W2w, S2, k, hg)
                with m.If(load[k]):
                    m.d.sync += [ring[b].eq(src[b]) for b in bits]
                with m.Elif(turn2[k]):
                    m.d.sync += [ring[b].eq(ring[(b + S2) % Hp]) for b in bits]
        m.d.sync += [w2q.eq(w2r.data), m2q.eq(m2r.data), fh2.eq(f_h2[:S2]), nh2.eq(n_h2[:S2])]
        # the output neuron's activation (previous step) and its free / nudged activations, two copies
        # each (S2 / 2 lanes each), picked in two clocks as in the W1 BOP (a_y changes at a step's
        # latch, f_y / n_y at the phases' latches, all before the next sweep starts)
        lo2 = self._lag(m, "w2_pick_sel", [r[:3] for r in is2["r_copies"][1:]], E2)
        row2 = w2_chain[-2]["r"]                        # t2s1's row a stage earlier
        # (a_y of the row in a copy per lane group: each feeds its lanes' accumulator adders)
        ay2c = self._pick_copies(m, "w2_a_output", a_y, lo2[0], row2, min(X_GROUPS, S2),
                                 post=lambda v: v & ~t2s1["ps"])
        ay2 = ay2c[0]
        fy2 = self._pick_copies(m, "w2_free_output", f_y, lo2[1], row2, 2)
        ny2 = self._pick_copies(m, "w2_nudged_output", n_y, lo2[2], row2, 2)
        sweep_s2 = Signal(name="sweep_s2")
        m.d.comb += sweep_s2.eq(t2s2["v"] & t2s2["fw"])
        # the sweep's ring shift in rc copies (from the issuer's v & fw copies) (hidden states' and accumulators' rings)
        sweep_pre = self._lag(m, "sweep_s2", is2["vf1_copies"], len(w2_chain) - 2)    # v & fw at t2s1
        sweep_c = self._lag(m, "sweep_s2_q", sweep_pre, 1)                              # v & fw at t2s2
        row2 = Signal(S2, name="w2_row")
        ps2 = self._pipe_copies(m, "w2s2_pseudo", w2_chain[-1], lambda t: t["ps"], n=2 * COPIES)  # t2s2's ps
        m.d.comb += row2.eq(Cat(ps2[self._group(j, S2, len(ps2))] | w2q[j] for j in range(S2)))
        ah_word = Signal(S2, name="a_hidden_word")
        m.d.comb += ah_word.eq(Cat(s[B - 1] for s in s_h[0]))
        and_h = Signal(S2, name="and_h")
        m.d.comb += and_h.eq(row2 & ah_word)
        # Clocks the step waits for the hidden pass beyond the output pipeline (P2 + 6): up to two of them
        # go to registers in that pipeline, so no clock is added: the W2 popcount's input (the hidden
        # states' ring head, placed by the hidden pass, reached the compressor over 4.99 ns of routing:
        # f4f6298's 84.65 MHz path) and the class sums (below).
        spare = (W2w + 3) - (P2 + 6)
        pc_in_reg = spare >= 1
        if pc_in_reg:
            and_q = Signal(S2, name="and_h_q")
            m.d.sync += and_q.eq(and_h)
            and_h = and_q
        pc2 = popcount(m, and_h, structure="compressor", stages=P2, en=Const(1), name="pc_h")
        pc2q = Signal.like(pc2, name="pc_h_q")
        m.d.sync += pc2q.eq(pc2)

        # hidden pass (after the sweep): S2 neurons per clock, two stages. Clock k (hp_v) turns the rings
        # and registers (s >> 1) + (u >> 1) of word k (the head); clock k + 1 (hp_late) clamps it and writes
        # it where word k is by then: the tail, or the slot before it when the rings turn again.
        hp_v = Signal(name="hidden_pass")
        hp_w = Signal(range(max(W2w, 2)), name="hidden_pass_word")
        hp_late = Signal(name="hidden_pass_late")
        hp_w2 = Signal(range(max(W2w, 2)), name="hidden_pass_word_late")
        sweep_done = Signal()
        m.d.comb += sweep_done.eq(sweep_s2 & t2s2["lastrow"] & t2s2["last"])
        # hp_v and hp_late in rc copies, each hp_v copy its own register with its own feedback
        hv = [Signal(name=f"hidden_pass_c{k}") for k in range(rc)]
        hl = [Signal(name=f"hidden_pass_late_c{k}") for k in range(rc)]
        hv_next = [Signal(name=f"hidden_pass_next_c{k}") for k in range(rc)]
        # the sweep's end in rc copies, registered from t2s1's tags (t2s2 is t2s1 a clock later), and the
        # pass's last word a register: one decoded end into the rc copies' enables was 11.62 ns at f4f6298
        done_c = Copies(1, rc, name="sweep_done")
        m.d.sync += done_c.eq(t2s1["v"] & t2s1["fw"] & t2s1["lastrow"] & t2s1["last"])
        hp_end = Copies(1, rc, name="hidden_pass_end")       # hp_w == W2w - 1 next clock
        m.d.sync += hp_end.eq(Mux(sweep_done, W2w == 1, Mux(hp_v, hp_w == W2w - 2, hp_w == W2w - 1)))
        for k in range(rc):
            m.d.comb += hv_next[k].eq(done_c[k] | (hv[k] & ~hp_end[k]))
            m.d.sync += [hv[k].eq(hv_next[k]), hl[k].eq(hv[k])]
        with m.If(sweep_done):
            m.d.sync += [hp_v.eq(1), hp_w.eq(0)]
        with m.Elif(hp_v):
            m.d.sync += hp_w.eq(hp_w + 1)
            with m.If(hp_w == W2w - 1):
                m.d.sync += hp_v.eq(0)
        m.d.sync += [hp_late.eq(hp_v), hp_w2.eq(hp_w)]
        u_h_w = signed(len(acc[0][0]) + max(sh, 0))
        hsum = [Signal(signed(max(u_h_w.width, B) + 2), name=f"hidden_sum_{j}") for j in range(S2)]
        for j in range(S2):
            u = Signal(u_h_w, name=f"u_hidden_{j}")
            m.d.comb += u.eq(_scale(acc[0][j], sh))
            with m.If(hv[ring_group(j)]):
                m.d.sync += hsum[j].eq((s_h[0][j] >> 1) + (u >> 1))
        hnew = []
        top_s = (1 << B) - 1
        for j in range(S2):
            v = hsum[j]
            clamp = Mux(v < 0, 0, Mux(v > top_s, top_s, v))
            if all(valid_lane[w][j] for w in range(W2w)):
                hnew.append(clamp)
            elif not any(valid_lane[w][j] for w in range(W2w)):
                hnew.append(Const(0, B))
            else:           # padding lanes (neuron >= H) stay 0 (their activation is never counted)
                ok = Array(Const(int(valid_lane[w][j]), 1) for w in range(W2w))[hp_w2]
                hnew.append(Mux(ok, clamp, 0))

        # acc <- drive (the LOAD clock at the end of the drive pass) in rc copies, registered on the
        # last DRIVE_WAIT clock (la_go, registered from the FSM a clock ahead, is a one-clock pulse, so each copy's ``la_go & ~itself``
        # equals la_go registered, and the copies differ in structure)
        la_go, la_early = Signal(name="load_acc_go"), Signal(name="load_acc_early")
        m.d.sync += la_go.eq(la_early)          # a register: it reaches every lane group's copy
        la = [Signal(name=f"load_acc_c{k}") for k in range(rc)]
        m.d.sync += [q.eq(la_go & ~q) for q in la]
        load_acc = la
        # the accumulators' clock enable (sweep | hidden pass | reload) as one register per group, from
        # the next values of the three (three LUT levels of shared enables over 88..147 loads each were
        # the next paths in line)
        acc_ce = [Signal(name=f"acc_enable_c{k}") for k in range(rc)]
        m.d.sync += [acc_ce[k].eq(sweep_pre[k] | hv_next[k] | (la_go & ~la[k])) for k in range(rc)]
        init_states = Signal()       # s_h <- state_init (the clock after a sample is taken)
        m.d.sync += init_states.eq(0)
        # the hidden states turn in the sweep (the word being read meets its activations at the head)
        # and in the hidden pass, whose second clock writes word k's new states where word k is by then
        dest_w = W2w - 2 if W2w > 1 else 0
        # the turn (sweep | hidden pass) and the drives' clock enable (push | hidden pass outside a sweep)
        # as one register per lane group, from the controls' next values: no LUT between the copies and
        # the rings' clock enables
        s_turn = [Signal(name=f"state_turn_c{k}") for k in range(rc)]
        d_ce = [Signal(name=f"drive_enable_c{k}") for k in range(rc)]
        m.d.sync += [s_turn[k].eq(sweep_pre[k] | hv_next[k]) for k in range(rc)]
        m.d.sync += [d_ce[k].eq(push_next[k] | (~sweep_pre[k] & hv_next[k])) for k in range(rc)]
        for w in range(W2w):
            for j in range(S2):
                g = ring_group(j)
                with m.If(s_turn[g]):
                    m.d.sync += s_h[w][j].eq(s_h[(w + 1) % W2w][j])
                with m.If(hl[g]):
                    if w == dest_w:
                        with m.If(hv[g]):
                            m.d.sync += s_h[w][j].eq(hnew[j])
                    if w == W2w - 1:
                        with m.If(~hv[g]):
                            m.d.sync += s_h[w][j].eq(hnew[j])
        # Sample start: the states go to state_init one group of 8 neurons per clock, the groups'
        # commands a chain of registers (each drives 8 states: one command for all of them was a
        # net of H*B loads on the critical path). The chain ends long before the first sweep reads a
        # state (the drive pass takes (H + 1) W1w clocks, the chain W2w ceil(S2 / 8) + 2).
        groups = [(w, j0) for w in range(W2w) for j0 in range(0, S2, 8)]
        # (a register first: from the FSM's init_states to the ring head's resets was 11.07 ns at f4f6298)
        init_q = Signal(name="init_hidden_0")
        m.d.sync += init_q.eq(init_states)
        chain = [init_q]
        for k in range(1, len(groups)):
            q = Signal(name=f"init_hidden_{k}")
            m.d.sync += q.eq(chain[-1])
            chain.append(q)
        for (w, j0), en in zip(groups, chain):
            with m.If(en):
                m.d.sync += [s_h[w][j].eq(c.state_init if valid_lane[w][j] else 0)
                             for j in range(j0, min(j0 + 8, S2))]
        # column accumulators: the word read meets its S2 accumulators at the ring's head; the hidden
        # pass reloads them with the drive (each step starts from W1.x + bias)
        heads = [acc[0][j] + Mux(ay2c[self._group(j, S2, len(ay2c))], Mux(row2[j], 1, -1), 0) for j in range(S2)]
        for w in range(W2w):
            for j in range(S2):
                g = ring_group(j)
                with m.If(acc_ce[g]):
                    with m.If(sweep_c[g]):
                        m.d.sync += acc[w][j].eq(acc[w + 1][j] if w < W2w - 1 else heads[j])
                    with m.Elif(hv[g]):
                        m.d.sync += acc[w][j].eq(acc[w + 1][j] if w < W2w - 1 else drive[0][j])
                    with m.Else():
                        m.d.sync += acc[w][j].eq(drive[w][j])
                i = w * S2 + j          # the drive pass shifts the drives as one chain (flat index i)
                with m.If(d_ce[g]):
                    with m.If(~sweep_c[g] & hv[g]):
                        m.d.sync += drive[w][j].eq(drive[w + 1][j] if w < W2w - 1 else drive[0][j])
                    with m.Elif(i < H):     # push: after H pushes neuron i is entry i
                        m.d.sync += drive[w][j].eq(flat_drive[i + 1] if i < H - 1 else drive_new)

        # output neurons: accumulate the word popcounts, then bias, scale, nudge, update
        t2a = t2s2
        w2_chain.append(t2s2)
        for k in range(1 + P2 + pc_in_reg):
            t2_pre, t2a = t2a, self._delay(m, t2a, f"w2p{k}")
            w2_chain.append(t2a)
        t2_ahead = w2_chain[-3]                           # t2_pre a clock earlier
        t2a_ay = ay2
        for k in range(1 + P2 + pc_in_reg):
            q = Signal(name=f"w2p{k}_ay")
            m.d.sync += q.eq(t2a_ay)
            t2a_ay = q
        accy = Signal(range(H + 1), name="acc_output")
        accy_next = Signal(range(H + 1), name="acc_output_next")
        m.d.comb += accy_next.eq(Mux(t2a["first"], 0, accy) + pc2q)
        sweep_a = Signal()
        m.d.comb += sweep_a.eq(t2a["v"] & t2a["fw"])
        with m.If(sweep_a):
            m.d.sync += accy.eq(accy_next)
        t2b = self._delay(m, t2a, "w2a1")
        ayb = Signal(name="w2a1_ay")
        m.d.sync += ayb.eq(t2a_ay)
        # The output neuron's old state and target at row t2b["r"], picked in two clocks (the 70.18 MHz
        # critical path was one O:1 multiplexer after the row register): groups of 8 by the low row bits
        # at stage t2a (registered; its select in COPIES copies), then the group by the high bits. s_y[r]
        # and tgt do not change between the two clocks (a row's new state is written after stage t2b).
        ngr = -(-O // 8)
        rlo = self._pipe_copies(m, "out_pick_sel", w2_chain[-2], lambda t: t["r"][:3])
        grp_s = [Signal(B, name=f"out_pick_state_{gi}") for gi in range(ngr)]
        grp_t = [Signal(name=f"out_pick_target_{gi}") for gi in range(ngr)]
        for gi in range(ngr):
            sel = rlo[self._group(gi, ngr)]
            vals = s_y[8 * gi:8 * gi + 8]
            m.d.sync += [grp_s[gi].eq(Array(vals + [Const(0, B)] * (8 - len(vals)))[sel]),
                         grp_t[gi].eq(tgt[8 * gi:min(8 * gi + 8, O)].bit_select(sel, 1))]
        s_pick, tgt_o = Signal(B, name="out_pick_state"), Signal(name="out_pick_target")
        m.d.comb += [s_pick.eq(Array(grp_s)[t2b["r"][3:]]), tgt_o.eq(Array(grp_t)[t2b["r"][3:]])]
        pa_h = Signal(range(H + 1), name="popcount_a_hidden")
        pbound = H + (1 << max(c.bias_bits - 1 - f, 0))
        pre_y = Signal(signed(pbound.bit_length() + 2), name="pre_output")
        s_old = Signal(B, name="s_output_old")
        nz = Signal(signed(c.nudge.bit_length() + 2), name="nudge_q")
        y_v, y_o = Signal(name="out_v1"), Signal(range(max(O, 2)), name="out_o1")
        sweep_b = Signal()
        m.d.comb += sweep_b.eq(t2b["v"] & t2b["fw"] & t2b["last"])
        m.d.sync += y_v.eq(0)
        with m.If(sweep_b & t2b["ps"]):
            m.d.sync += pa_h.eq(accy)
        with m.If(sweep_b & ~t2b["ps"]):
            m.d.sync += [pre_y.eq(2 * accy - pa_h + (bq_y >> f)), s_old.eq(s_pick),
                         nz.eq(Mux(nudging, Mux(tgt_o, c.nudge, 0) - Mux(ayb, c.nudge, 0), 0)),
                         y_v.eq(1), y_o.eq(t2b["r"])]
        # the new state clamp((s >> 1) + (u >> 1)), u = scale(pre) + nudge, computed and registered before
        # the clock that writes it: that clock only fans it out to the O state registers (the clamp and
        # the fan-out in one clock were a99b1a9's critical path at 87.01 MHz, 7.5 ns of routing)
        u_y = Signal(signed(max(len(pre_y) + max(sh, 0), len(nz)) + 1), name="u_output")
        m.d.comb += u_y.eq(_scale(pre_y, sh) + nz)
        v_y = Signal(signed(max(len(u_y), B) + 2), name="output_sum")
        m.d.comb += v_y.eq((s_old >> 1) + (u_y >> 1))
        # the row's write enables decoded a clock early (one-hot, registered), and the row's class and
        # whether it is the class's first / last replica
        y_v2 = Signal(name="out_v2")
        y_sel2 = Signal(O, name="out_sel2")
        y_first2, y_last2 = Signal(name="out_first2"), Signal(name="out_last2")
        y_cls2 = Signal(range(max(c.classes, 2)), name="out_class2")
        top_y = (1 << B) - 1
        new_y = Signal(B, name="output_new")
        new_y_n = Signal(B, name="output_new_inv")      # a second copy, stored inverted (kept apart)
        clamp_y = Mux(v_y < 0, 0, Mux(v_y > top_y, top_y, v_y))
        m.d.sync += [new_y.eq(clamp_y), new_y_n.eq(~clamp_y[:B]), y_v2.eq(y_v),
                     y_sel2.eq(Cat(y_v & (y_o == o) for o in range(O))),
                     y_first2.eq(Cat(y_o == k * R for k in range(c.classes)).any()),
                     y_last2.eq(Cat(y_o == k * R + R - 1 for k in range(c.classes)).any()),
                     y_cls2.eq(sum(Cat(y_o >= k * R) for k in range(1, c.classes)) if c.classes > 1 else 0)]
        for o in range(O):
            with m.If(y_sel2[o]):
                m.d.sync += s_y[o].eq(new_y if 2 * o < O else ~new_y_n)
        # class sums of the new states, accumulated as the rows are written in order (a class's replicas
        # are consecutive rows, every row is written once per step): at a step's end class_sum_k is the sum
        # of the class's states, with no adder tree after the states (the free phase's latch takes them)
        cw = B + R.bit_length()
        csum = Signal(cw, name="class_sum_run")
        csum_next = Signal(cw, name="class_sum_next")
        class_sums = [Signal(cw, name=f"class_sum_{k}") for k in range(c.classes)]
        m.d.comb += csum_next.eq(Mux(y_first2, 0, csum) + new_y)
        with m.If(y_v2):
            m.d.sync += csum.eq(csum_next)
        # the class's sum goes to class_sum_k on its last replica's row; on a second spare clock (above) a
        # clock later, from the running sum's register (the adder into the ten class sums was 11.25 ns at
        # f4f6298)
        store, cls, total = y_v2 & y_last2, y_cls2, csum_next
        if spare >= 2:
            store, cls, total = Signal(name="out_store3"), Signal.like(y_cls2, name="out_class3"), csum
            m.d.sync += [store.eq(y_v2 & y_last2), cls.eq(y_cls2)]
        with m.If(store):
            with m.Switch(cls):
                for k in range(c.classes):
                    with m.Case(k):
                        m.d.sync += class_sums[k].eq(total)
        init_out = Signal()
        m.d.sync += init_out.eq(0)
        chain = [init_out]
        for k in range(1, -(-O // 8)):
            q = Signal(name=f"init_output_{k}")
            m.d.sync += q.eq(chain[-1])
            chain.append(q)
        for k, en in enumerate(chain):
            with m.If(en):
                m.d.sync += [s.eq(c.state_init) for s in s_y[8 * k:8 * k + 8]]
        require(max(W2w * -(-S2 // 8), -(-O // 8)) <= (H + 1) * W1w + 6,
                f"{O} output neurons are too many for {H} hidden neurons and {W1w} input words: the "
                f"state initialisation chain (one clock per 8 neurons) must end within the drive pass")

        # BOP of W2: g = f_y[o] f_h[i] - n_y[o] n_h[i]
        bp2_t1 = self._bop_stage1(m, m2q, S2, "bop2")
        bp2_t1q = [Signal.like(t, name=f"bop2_t1q_{j}") for j, t in enumerate(bp2_t1)]
        bp2 = {"v": Signal(name="bop2_s3_v"), "a": Signal(aw, name="bop2_s3_addr"),
               "w": Signal(S2, name="bop2_s3_w"), "gp": Signal(S2, name="bop2_s3_gp"),
               "gn": Signal(S2, name="bop2_s3_gn")}
        fa, na = Signal(S2, name="bop2_free_and"), Signal(S2, name="bop2_nudged_and")
        m.d.comb += [fa.eq(Cat(fh2[j] & fy2[self._group(j, S2, 2)] for j in range(S2))),
                     na.eq(Cat(nh2[j] & ny2[self._group(j, S2, 2)] for j in range(S2)))]
        m.d.sync += [q.eq(t) for q, t in zip(bp2_t1q, bp2_t1)]
        m.d.sync += [bp2["v"].eq(t2s2["v"] & ~t2s2["fw"]), bp2["a"].eq(t2s2["a"]), bp2["w"].eq(w2q),
                     bp2["gp"].eq(fa & ~na), bp2["gn"].eq(na & ~fa)]
        new_m2, flips2 = self._bop_stage2(m, bp2_t1q, bp2["w"], bp2["gp"], bp2["gn"], taus[1], "bop2")
        wb2 = {"en": Signal(name="w2_wb_en"), "a": Signal(aw, name="w2_wb_addr"),
               "w": Signal(S2, name="w2_wb_w"), "m": Signal(S2 * N, name="m2_wb_m")}
        m.d.sync += [wb2["en"].eq(bp2["v"]), wb2["a"].eq(bp2["a"]), wb2["w"].eq(bp2["w"] ^ flips2),
                     wb2["m"].eq(new_m2)]
        m.d.sync += [r for k in ("w2", "m2") for r in (*wc[k][0].eq(bp2["a"]), *wc[k][1].eq(bp2["v"]))]
        m.d.comb += [w2w_.addr.eq(wb2["a"]), w2w_.data.eq(wb2["w"]), w2w_.en.eq(wb2["en"]),
                     m2w.addr.eq(wb2["a"]), m2w.data.eq(wb2["m"]), m2w.en.eq(wb2["en"])]

        # biases: one entry of each per clock during BOP, in four stages: read (and the bias's
        # nudged - free, registered) | LUT-RAM output registered | sum registered | saturate and write
        bj = Signal(aw, name="bias_index")
        bj_v = Signal(name="bias_v")
        bj1, bj2, bj3 = (Signal(aw, name=f"bias_index{k}") for k in (1, 2, 3))
        bj1_v, bj2_v, bj3_v = (Signal(name=f"bias_v{k}") for k in (1, 2, 3))
        dh, dy = Signal(signed(2), name="bias_d_hidden"), Signal(signed(2), name="bias_d_output")
        dh2, dy2 = Signal(signed(2), name="bias_d_hidden2"), Signal(signed(2), name="bias_d_output2")
        sum_h = Signal(signed(c.bias_bits + 1), name="bias_sum_hidden")
        sum_y = Signal(signed(c.bias_bits + 1), name="bias_sum_output")
        # the nudged / free activations shifted out of registers loaded at the nudged phase's latch (the
        # LATCH clock that sets bj = 0): neuron bj's are at bit 0 on the bias pass's clock bj, not picked by
        # bj (a 128:1 select after bj was the 85.82 MHz critical path). The load in a copy per lane group
        # of the hidden activations (copy g < bg: neurons of lanes g * S2 // bg ..) and one for the
        # outputs; lat_b_go (from the FSM) is a one-clock pulse: each copy's ``lat_b_go & ~itself``
        # equals it registered, and the copies differ in structure (the last copy starts the BOP passes)
        bg = min(2 * X_GROUPS, S2)
        lat_b_go = Signal(name="latch_bias_go")
        lat_b = [Signal(name=f"latch_bias_c{k}") for k in range(bg + 2)]
        m.d.sync += [q.eq(lat_b_go & ~q) for q in lat_b]
        sr_nh, sr_fh = Signal(H, name="bias_nudged_hidden"), Signal(H, name="bias_free_hidden")
        sr_ny, sr_fy = Signal(O, name="bias_nudged_output"), Signal(O, name="bias_free_output")
        sr_bits = [(sr, i, v, (i % S2) * bg // S2 if sr is sr_nh or sr is sr_fh else bg)
                   for sr, src in ((sr_nh, msb_h), (sr_fh, f_h), (sr_ny, msb_y), (sr_fy, f_y))
                   for i, v in enumerate(src[:len(sr)])]
        for sr, i, v, g in sr_bits:
            with m.If(lat_b[g]):
                m.d.sync += sr[i].eq(v)
            with m.Else():
                m.d.sync += sr[i].eq(sr[i + 1] if i + 1 < len(sr) else 0)
        m.d.sync += [bj1.eq(bj), bj1_v.eq(bj_v), bj2.eq(bj1), bj2_v.eq(bj1_v), bj3.eq(bj2), bj3_v.eq(bj2_v),
                     dh.eq(_bit(sr_nh[0]) - _bit(sr_fh[0])),
                     dy.eq(_bit(sr_ny[0]) - _bit(sr_fy[0])),
                     dh2.eq(dh), dy2.eq(dy), sum_h.eq(bq_h + dh2), sum_y.eq(bq_y + dy2)]
        m.d.comb += [bhw.addr.eq(bj3), bhw.data.eq(_sat(sum_h, bias_lo, bias_hi)),
                     bhw.en.eq(bj3_v & (bj3 < H)),
                     byw.addr.eq(bj3), byw.data.eq(_sat(sum_y, bias_lo, bias_hi)),
                     byw.en.eq(bj3_v & (bj3 < O))]
        probe_a = Signal(aw, name="probe_addr_q")
        probe_a_next = Signal(aw, name="probe_addr_next")     # probe_a at the next clock (the FSM sets it)
        m.d.comb += probe_a_next.eq(probe_a)
        m.d.sync += probe_a.eq(probe_a_next)
        nb = max(H, O)
        # Bias read addresses: the BOP bias pass (entry bj), else the drive / sweep pipeline one stage ahead
        # (the LUT-RAM output is registered, bq, before the adders use it), else the probe. Each address is a
        # register loaded a clock ahead with what the read takes then: the bias pass's next entry (0 as the
        # pass starts), else the pipeline stage before, else the probe's next address (the selection in front
        # of the output biases' LUT-RAM address pins was the one late path of a6c5e28 reset-less at 100 MHz:
        # bias_v through the pick, 6.15 ns of routing, 97.32 MHz)
        bias_start = Signal(name="bias_pass_start")           # the FSM starts the bias pass (bj = 0 next)
        for name, rd, ahead in (("hidden", bhr, t1_ahead), ("output", byr, t2_ahead)):
            ra = Signal(aw, name=f"bias_{name}_read_addr")
            with m.If(bias_start):
                m.d.sync += ra.eq(0)
            with m.Elif(bj_v & (bj != nb - 1)):
                m.d.sync += ra.eq(bj + 1)
            with m.Elif(ahead["v"] & ahead["fw"]):
                m.d.sync += ra.eq(ahead["r"])
            with m.Else():
                m.d.sync += ra.eq(probe_a_next)
            m.d.comb += rd.addr.eq(ra)
        with m.If(bj_v):
            m.d.sync += bj.eq(bj + 1)
            with m.If(bj == nb - 1):
                m.d.sync += bj_v.eq(0)

        # --- prediction: class sums registered at the free-phase latch, then a tournament -------
        held = [Signal(B + R.bit_length(), name=f"score_held_{k}") for k in range(c.classes)]
        scores = class_sums
        best = tournament(m, held, "pred", pipeline="round", en=Const(1))
        tr = tournament_registers(c.classes, "round")
        m.d.sync += pred.eq(best)

        # --- phase controller ---------------------------------------------------------------------
        wait = Signal(range(max(P1 + 7, W2w + 4, P2 + 8, tr + 3, 8) + 1), name="wait")
        step_wait = max(W2w + 3, P2 + 6) + E2
        # Wide captures decided a clock early, so they hang off registers, not off the FSM's state decode:
        # ``idle`` (COPIES copies, each with its own feedback) is 1 exactly in IDLE, and x follows the
        # input payload while idle (the value of the transfer clock stays); ``lat*`` are 1 exactly in LATCH
        # (the end of a step, of the free phase, of the nudged phase), the last two in copies.
        # (copies 0..xg-1 load x, one per lane group, the three after them take the sample: drive pass start, sample
        # registers, target; one copy for both was cd49c47's critical path, 7.7 ns of routing)
        idle = [Signal(name=f"idle_c{k}", init=1) for k in range(xg + 3)]
        x_in, x_next = Signal(len(x), name="x_in"), Signal(len(x), name="x_next")     # padding inputs 0
        m.d.comb += [x_in.eq(self.i.payload.x), x_next.eq(Cat(x[S1:], x[:S1]))]
        out_fire = Signal()
        for k in range(len(idle)):
            with m.If(idle[k]):
                with m.If(self.i.valid):
                    m.d.sync += idle[k].eq(0)
            with m.Elif(out_fire):
                m.d.sync += idle[k].eq(1)
        for k in range(xg):              # lane group k's bits of every word (x_next keeps a bit's lane)
            bits = lane_group_bits(W1w, S1, k, xg)
            with m.If(idle[k]):
                m.d.sync += [x[b].eq(x_in[b]) for b in bits]
            with m.Elif(x_turn[k]):
                m.d.sync += [x[b].eq(x_next[b]) for b in bits]
        # the phases' latches in a copy per lane group of the hidden activations they load (copy g < lg:
        # the bits of lanes g * S2 // lg ..; copy lg: the rest), one latch for 512 + 100 flip-flops' enables
        # being the next fan-out in line at 784-512
        lg = min(X_GROUPS, S2)
        lat = Signal(name="latch")
        lat_f, lat_n = Copies(1, lg + 2, name="latch_free"), Copies(1, lg + 1, name="latch_nudged")
        m.d.sync += [lat.eq(0), *lat_f.eq(0), *lat_n.eq(0)]
        with m.If(lat):
            m.d.sync += a_y.eq(msb_y)
        for g in range(lg):
            bits = [b for b in lane_group_bits(W2w, S2, g, lg) if b < H]
            with m.If(lat_f[g]):
                m.d.sync += [f_h[b].eq(msb_h[b]) for b in bits]
            with m.If(lat_n[g]):
                m.d.sync += [n_h[b].eq(msb_h[b]) for b in bits]
        with m.If(lat_f[lg]):
            m.d.sync += [h.eq(v) for h, v in zip(held, scores)]
        with m.If(lat_f[lg + 1]):
            m.d.sync += f_y.eq(msb_y)
        with m.If(lat_n[lg]):
            m.d.sync += n_y.eq(msb_y)
        m.d.sync += [*load_f2.eq(lat_f[lg]), *load_n2.eq(lat_n[lg])]
        # The sample's captures and the sweeps' starts hang off those registers too, not off the FSM's
        # state decode: a sample is taken when idle and valid (the W1 drive pass starts, pseudo-row
        # first); the W2 sweep starts at LOAD (la[0]) and at every LATCH but the free phase's last one of
        # an inference (pseudo-row first; not at the nudged phase's last, lat_n, which starts both BOP
        # passes without it).
        take = [idle[xg + k] & self.i.valid for k in range(3)]
        with m.If(take[1]):
            init_bit = (c.state_init >> (B - 1)) & 1
            m.d.sync += [train.eq(self.i.payload.train), nudging.eq(0), step.eq(0), a_y.eq(-init_bit),
                         init_states.eq(1), init_out.eq(1)]
        with m.If(take[2]):
            m.d.sync += tgt.eq(Cat(self.i.payload.label == o // R for o in range(O)))
        # (is2 takes its start a clock early, the values la[0], lat, lat_f and lat_b are about to take)
        lat_go, free_end = Signal(name="latch_go"), Signal(name="free_end")
        m.d.comb += [is1["start"].eq(take[0] | lat_b[-1]), is1["start_ps"].eq(~lat_b[-1]),
                     is2["start"].eq(la_go | (lat_go & ~(free_end & ~train))), is2["start_ps"].eq(~lat_b_go)]
        bop_done = Signal()                              # a training sample's last BOP write is done
        self._tau_step(m, taus, bop_done)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.i.ready.eq(1)
                if self.probe:
                    with m.If(~self.i.valid):
                        m.d.sync += [a.eq(self.probe_addr) for a in is1["a_copies"] + is2["a_copies"]]
                        m.d.comb += probe_a_next.eq(self.probe_addr)
                    with m.Else():       # the sweeps start at address 0 (the issuers reset it only at their ends)
                        m.d.sync += [a.eq(0) for a in is1["a_copies"] + is2["a_copies"]]
                with m.If(self.i.valid):
                    m.next = "DRIVE"
            with m.State("DRIVE"):
                with m.If(~is1["v"]):
                    m.d.sync += wait.eq(0)
                    m.next = "DRIVE_WAIT"
            with m.State("DRIVE_WAIT"):
                # the last word was issued on the clock before; its drive is pushed P1 + 4 clocks after that
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == P1 + 2 + E1):
                    m.d.comb += la_early.eq(1)
                with m.If(wait == P1 + 3 + E1):
                    m.next = "LOAD"
            with m.State("LOAD"):
                m.next = "RUN"
            with m.State("RUN"):
                with m.If(~is2["v"]):
                    m.d.sync += wait.eq(0)
                    m.next = "RUN_WAIT"
            with m.State("RUN_WAIT"):
                m.d.sync += wait.eq(wait + 1)
                nudged_end = nudging & (step == c.nudged_steps - 1)
                with m.If(wait == step_wait - 2):
                    m.d.comb += [lat_b_go.eq(nudged_end), lat_go.eq(1), free_end.eq(~nudging & (step == c.free_steps - 1))]
                    m.d.sync += [lat.eq(1), *lat_f.eq(free_end), *lat_n.eq(nudged_end)]
                    m.next = "LATCH"
            with m.State("LATCH"):
                m.d.sync += step.eq(step + 1)
                with m.If(~nudging & (step == c.free_steps - 1)):
                    m.d.sync += [step.eq(0), nudging.eq(1)]
                    with m.If(train):
                        m.next = "RUN"
                    with m.Else():
                        m.d.sync += wait.eq(0)
                        m.next = "ARGMAX"
                with m.Elif(nudging & (step == c.nudged_steps - 1)):
                    m.d.sync += [bj.eq(0), bj_v.eq(1)]
                    m.d.comb += bias_start.eq(1)
                    m.next = "BOP"
                with m.Else():
                    m.next = "RUN"
            with m.State("BOP"):
                with m.If(~is1["v"] & ~is2["v"]):
                    m.d.sync += wait.eq(0)
                    m.next = "BOP_WAIT"
            with m.State("BOP_WAIT"):
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == 2 + max(E1, E2)):
                    m.d.comb += bop_done.eq(1)
                    m.next = "OUT"
            with m.State("ARGMAX"):
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == tr):
                    m.next = "OUT"
            with m.State("OUT"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.pred.eq(pred), out_fire.eq(self.o.ready)]
                with m.If(self.o.ready):
                    m.next = "IDLE"

        if self.probe:
            m.d.comb += [self.probe_w1.eq(w1q), self.probe_m1.eq(m1q), self.probe_w2.eq(w2q),
                         self.probe_m2.eq(m2q)]
            m.d.sync += [self.probe_b_hidden.eq(bhr.data), self.probe_b_output.eq(byr.data)]
        return m
