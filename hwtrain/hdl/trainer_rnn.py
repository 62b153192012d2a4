"""On-chip BEP-TT trainer: a many-to-one binary RNN trained online or in mini-batches, 32-bit command stream.

``RnnTrainer(cfg)`` is the hardware twin of :class:`hwtrain.golden.trainer_rnn.RnnGolden`
(``RNNTrainer`` one sequence at a time, online or in batches of ``cfg.batch``,
docs/semantics_training.md "BEP-TT") for an
:class:`hwtrain.golden.trainer_rnn.RnnTrainConfig`. Architecture, memory layout,
protocol and cycle formula are in docs/trainer_rnn.md.

Units (each a ``wiring.Component``): :class:`RowBank` (a row memory of SIMD-weight
words with its read pipeline S0-S2, its reinforcement PRNG lanes and a saturating
write-back at S3; mini-batch: accumulator words and the apply sweep's write-back),
:class:`SatAddUnit` (``clip(h + 2 d)`` of one word), :class:`TermAccumulateUnit` (a
mini-batch accumulator word plus a temporal sum),
:class:`TemporalSum` (the per-column temporal sums of a state-row update), and from
the folded trainer (:mod:`hwtrain.hdl.trainer_folded`) :class:`ForwardLane`
(XNOR/popcount over a row), :class:`LaneRing`, :class:`BackProjectionRing`,
:class:`WinnerTracker`, :class:`DecisionUnit`, and for mini-batches :class:`AccumulateUnit`
and :class:`ApplyUnit`. :class:`RnnTrainer` holds the
sequence, state, pre-activation and desired-activation memories and the sequencer.
"""

from __future__ import annotations

import operator
from functools import reduce

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..core import prng
from ..golden.trainer_rnn import RnnGolden, RnnTrainConfig, plan
from ..golden.trainer_folded import ARG_BITS, COUNTER_BITS, PARAM_BITS, WORD
from ..protocol.trainer_folded import (HEADER, OP_FLUSH, OP_READ_REG, OP_READ_ROW, OP_TRAIN, OP_WRITE_REG,
                                       REG_ERRORS, REG_EVERY, REG_GAMMA, REG_GATE, REG_MARGIN, REG_PENDING,
                                       REG_REINFORCE, REG_SAMPLES, REG_UPDATES)
from .fanout import LUTRAM_SLICE_BITS, Copies, SlicedMemory
from .saturate import within_gate
from .skid import register_slice
from .trainer_folded import (ROM, ROWS, TABLE, AccumulateUnit, ApplyUnit, BackProjectionRing, DecisionUnit,
                             ForwardLane, LaneRing, WinnerTracker)


def _pm1_bits(values) -> int:
    return sum(1 << j for j, v in enumerate(values) if v > 0)


class SatAddUnit(wiring.Component):
    """``clip(h + 2 d, -hi, hi)`` for every element of one word (combinational), ``hi = 2^(B-1) - 1``.

    Golden twin: ``TrainerBase.apply_step`` (``np.clip(H + 2 * delta)``) and ``rules.reinforce``.
    """

    def __init__(self, simd: int, bits: int, dbits: int):
        self.bits, self.dbits = bits, dbits
        super().__init__({"h": In(data.ArrayLayout(signed(bits), simd)),
                          "d": In(data.ArrayLayout(signed(dbits), simd)),
                          "out": Out(data.ArrayLayout(signed(bits), simd))})

    def elaborate(self, platform):
        m = Module()
        hi = (1 << (self.bits - 1)) - 1
        B = self.bits
        for j in range(len(self.h)):
            v = Signal(signed(max(self.bits, self.dbits + 1) + 1), name=f"sum{j}")
            m.d.comb += v.eq(self.h[j] + (self.d[j] << 1))
            # the clip from the bits, without comparators: v > hi iff v >= 2^(B-1) (v >= 0 and a bit at or
            # above B-1 set); v < -hi iff v <= -2^(B-1) (v < 0 and not: bits B-1.. all ones, low bits not 0)
            high = v[B - 1:len(v) - 1]
            over, under = Signal(name=f"over{j}"), Signal(name=f"under{j}")
            m.d.comb += [over.eq(~v[-1] & high.any()),
                         under.eq(v[-1] & ~(high.all() & v[:B - 1].any()))]
            m.d.comb += self.out[j].eq(Mux(over, hi, Mux(under, -hi, v[:B].as_signed())))
        return m


class TermAccumulateUnit(wiring.Component):
    """Mini-batch accumulators of one word for a multi-bit per-sequence term (``tt_update="sum"``: a
    temporal sum, up to T a sequence): ``acc + d`` per element (combinational). No bound: plan()
    refuses a batch whose ``bs * T`` leaves the B-bit range. The ternary terms (H_sy, ``"sign"``) go
    through the folded trainer's :class:`AccumulateUnit`. Golden twin: ``RnnGolden.acc``.
    """

    def __init__(self, simd: int, bits: int, dbits: int):
        super().__init__({"acc": In(data.ArrayLayout(signed(bits), simd)),
                          "d": In(data.ArrayLayout(signed(dbits), simd)),
                          "out": Out(data.ArrayLayout(signed(bits), simd))})

    def elaborate(self, platform):
        m = Module()
        for j in range(len(self.acc)):
            m.d.comb += self.out[j].eq(self.acc[j] + self.d[j])
        return m


class TemporalSum(wiring.Component):
    """Per-column temporal sums of one state-row word: ``sum_t s*_t x_t[col]``, one term per clock.

    ``valid``: a term arrives (``x``: the word of a_t or s_{t-1}; ``nz``/``sg``: s*_t of the row,
    0 = no target; ``mask``: real columns); ``first``: it is the word's t = 1 term (the sum restarts).
    ``delta`` is the sum (``tt_update="sum"``) or its ternary sign (``"sign"``), registered.
    ``groups`` (column lists): ``valid``, ``first``, ``nz`` and ``sg`` come as one copy per group
    (bit ``g`` for the columns of group ``g``), so that each reaches only its group's sums.
    Golden twin: ``RNNTrainer.row_deltas``.
    """

    def __init__(self, simd: int, acc_bits: int, sign: bool, groups=None):
        self.sign = sign
        self.groups = groups or [list(range(simd))]
        n = len(self.groups)
        super().__init__({"valid": In(n), "first": In(n), "x": In(simd), "nz": In(n), "sg": In(n),
                          "mask": In(simd),
                          "delta": Out(data.ArrayLayout(signed(2 if sign else acc_bits), simd))})
        self.acc_bits = acc_bits

    def elaborate(self, platform):
        m = Module()
        S = len(self.x)
        acc = [Signal(signed(self.acc_bits), name=f"acc{j}") for j in range(S)]
        for g, cols in enumerate(self.groups):
            with m.If(self.valid[g]):
                for j in cols:
                    term = Mux(self.nz[g] & self.mask[j], Mux(self.x[j] == self.sg[g], 1, -1), 0)
                    m.d.sync += acc[j].eq(Mux(self.first[g], 0, acc[j]) + term)
        for j in range(S):
            if self.sign:
                m.d.comb += self.delta[j].eq(Mux(acc[j] > 0, 1, Mux(acc[j] < 0, -1, 0)))
            else:
                m.d.comb += self.delta[j].eq(acc[j])
        return m


def tag_layout(words: int, rows: int) -> data.StructLayout:
    """What travels with a word through a bank's pipeline."""
    return data.StructLayout({"w": range(max(words, 2)), "row": range(max(rows, 2)),
                              "first": 1, "last": 1, "fwd": 1, "bp": 1, "rd": 1, "t": 1})


class RowBank(wiring.Component):
    """One row memory (``rows`` x ``words`` words of SIMD signed B-bit weights) and its pipeline.

    S0: the issued address and tag in registers; S1: the word leaves the block RAM; S2: it is in
    ``row`` with its tag; S3: the write-back's operands in registers. A word issued with ``wr`` is
    written back at S4 as ``clip(h + 2 d)``
    with ``d = delta`` (an update, from the caller at S2) or, with ``rf``, the reinforcement
    ``d = sign(h)`` where the lane's draw < ``thr`` (the caller gives ``thr`` for the S1 word and
    the real columns ``mask`` at S2). The reinforcement lanes (:class:`LaneRing`, one per column,
    one draw per visit) turn once per ``rf`` word, so a sweep must visit every word in row order.

    Mini-batch (``acc_offset`` > 0): the memory holds an accumulator word per weight word from
    ``acc_offset`` on (``iacc``: the issued word is the accumulator word of ``iaddr``). An update word
    goes to its accumulator word, written back as ``acc + d`` (:class:`AccumulateUnit` for ternary
    terms, :class:`TermAccumulateUnit` for temporal sums); an apply word (``iap``) is issued twice, its
    accumulator word first (kept in ``hold``, written back as 0), then the weight word, written back
    as ``sat(h + 2 hold)`` (:class:`ApplyUnit`). Golden twin: ``TrainerBase.apply_step`` and
    ``reinforce``; mini-batch ``RnnGolden.acc`` and ``flush``.
    """

    def __init__(self, rows: int, words: int, simd: int, bits: int, dbits: int, tag, init, lanes,
                 acc_offset: int = 0):
        self.rows, self.words, self.simd, self.bits, self.dbits = rows, words, simd, bits, dbits
        self.init, self.lanes, self.acc_offset = init, lanes, acc_offset
        self.depth = rows * words
        abits = max(1, (self.depth - 1).bit_length())
        if acc_offset:
            assert acc_offset == 1 << abits            # the accumulator bit is the address's top bit
            init = init + [[0] * simd] * (acc_offset - self.depth)   # accumulators 0 at reset
        # the rows in column slices, each read and written at its own copy of the S0 and S3 address
        # registers: no address net reaches every block RAM of the bank (hdl/fanout.py); the forward
        # lane counts each slice on its own (``slices``)
        self.mem = SlicedMemory(signed(bits), simd, acc_offset + self.depth, init, attrs=ROWS)
        self.slices = self.mem.slices
        wl = data.ArrayLayout(signed(bits), simd)
        super().__init__({"iv": In(1), "iaddr": In(abits), "iwr": In(1), "irf": In(1), "iacc": In(1), "iap": In(1),
                          "itag": In(tag),
                          "s0_tag": Out(tag), "s1_valid": Out(1), "s1_tag": Out(tag),
                          "s2_valid": Out(1), "s2_tag": Out(tag), "row": Out(wl),
                          "thr": In(33), "mask": In(simd), "delta": In(data.ArrayLayout(signed(dbits), simd)),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        S, B = self.simd, self.bits
        wl = data.ArrayLayout(signed(B), S)
        mem = self.mem
        m.submodules.mem = mem
        n = len(mem.slices)
        mb = bool(self.acc_offset)
        # the memory address: the accumulator bit on top in a mini-batch (acc_offset = 2^len(iaddr))
        iaddr = Cat(self.iaddr, self.iacc) if mb else self.iaddr
        abits = len(iaddr)
        s0 = {"v": Signal(name="s0_v"), "a": Signal(abits, name="s0_addr"), "wr": Signal(name="s0_wr"),
              "rf": Signal(name="s0_rf"), "acc": Signal(name="s0_acc"), "ap": Signal(name="s0_ap")}
        ra = Copies(abits, n, name="s0_addr")
        m.d.sync += ra.eq(iaddr)
        m.d.comb += ra.drive(mem.raddr)
        s1 = {k: Signal.like(v, name=f"s1_{k}") for k, v in s0.items()}
        s2 = {k: Signal.like(v, name=f"s2_{k}") for k, v in s0.items()}
        m.d.sync += [s0["v"].eq(self.iv), s0["a"].eq(iaddr), s0["wr"].eq(self.iwr), s0["rf"].eq(self.irf),
                     self.s0_tag.eq(self.itag)]
        if mb:
            m.d.sync += [s0["acc"].eq(self.iacc), s0["ap"].eq(self.iap)]
        m.d.sync += [s1[k].eq(s0[k]) for k in s0] + [self.s1_tag.eq(self.s0_tag)]
        m.d.sync += [s2[k].eq(s1[k]) for k in s1] + [self.s2_tag.eq(self.s1_tag)]
        m.d.comb += [self.s1_valid.eq(s1["v"]), self.s2_valid.eq(s2["v"])]
        # the S2 word in two copies: the caller's (forward lane, back-projection) and the write-back's
        # (saturating adder, reinforcement signs, accumulators): one register for both was 5.76 ns of
        # routing from a slice's word to its adders (255,255 at 4010e29: 92.42 MHz reset-less)
        words = Copies(wl, 2, name="s2_word")
        m.d.sync += words.eq(mem.rdata)
        m.d.comb += self.row.eq(words[0])
        ring = LaneRing(self.words, S, 1, 1, self.lanes)
        m.submodules.lanes = ring
        m.d.comb += [ring.rotate.eq(s1["v"] & s1["rf"]), ring.last.eq(0), ring.thr[0].eq(self.thr)]
        # The write-back's operands are registered at S3 and the written word at S4: from the S2 word's
        # register to its adders was 4.55 ns of routing on the 84.25 MHz path (bank Y's saturating add,
        # 255,255 at 24c6769); the S3 registers have the adders as their only loads.
        # the step's source (update or reinforcement) in a copy per memory slice, beside its columns: one
        # s2_rf register into all S x B adder inputs was 7.09 ns of routing (255,255 at b9a7343)
        rf2 = Copies(1, n, name="s2_rf_slice")
        m.d.sync += rf2.eq(s1["rf"])
        col_slice = {j: i for i, c in enumerate(mem.slices) for j in c}
        h3 = Signal(wl, name="s3_word")
        s3 = {k: Signal.like(v, name=f"s3_{k}") for k, v in s0.items()}
        m.d.sync += [h3.eq(words[1])] + [s3[k].eq(s2[k]) for k in s2]
        row = words[1]
        # (mini-batch: the saturating adder serves the reinforcement alone; updates go to the accumulators)
        sat = SatAddUnit(S, B, 2 if mb else self.dbits)
        m.submodules.sat = sat
        d3 = Signal.like(sat.d, name="s3_step")
        m.d.comb += sat.h.eq(h3)
        m.d.comb += sat.d.eq(d3)
        for j in range(S):
            rf_d = Mux(ring.events[0][j] & self.mask[j], Mux(row[j][B - 1], -1, 1), 0)
            m.d.sync += d3[j].eq(rf_d if mb else Mux(rf2[col_slice[j]], rf_d, self.delta[j]))
        wa, wd, we = Copies(abits, n, name="s4_addr"), Signal(wl, name="s4_word"), Signal(name="s4_write")
        wes = Copies(1, n, name="s4_write")
        m.d.sync += [*wa.eq(s3["a"]), we.eq(s3["v"] & s3["wr"]), *wes.eq(s3["v"] & s3["wr"])]
        if not mb:
            m.d.sync += wd.eq(sat.out)
        else:
            # an update adds its term to the accumulator word; an apply word pair: the accumulators into
            # ``hold`` (written back as 0), then the weights, written back as sat(h + 2 hold)
            dl3 = Signal.like(self.delta, name="s3_delta")
            m.d.sync += dl3.eq(self.delta)
            if self.dbits <= 2:
                au = AccumulateUnit(S, B)
                m.d.comb += [au.acc.eq(h3), au.en.eq(Cat(dl3[j] != 0 for j in range(S))),
                             au.up.eq(Cat(~dl3[j][-1] for j in range(S)))]
            else:
                au = TermAccumulateUnit(S, B, self.dbits)
                m.d.comb += [au.acc.eq(h3), au.d.eq(dl3)]
            ap = ApplyUnit(S, B)
            m.submodules.accumulate = au
            m.submodules.apply = ap
            hold = Signal(wl, name="acc_hold")
            with m.If(s3["v"] & s3["ap"] & s3["acc"]):
                m.d.sync += hold.eq(h3)
            m.d.comb += [ap.h.eq(h3), ap.acc.eq(hold)]
            with m.If(s3["rf"]):
                m.d.sync += wd.eq(sat.out)
            with m.Elif(~s3["ap"]):
                m.d.sync += wd.eq(au.out)
            with m.Elif(s3["acc"]):
                m.d.sync += wd.eq(0)
            with m.Else():
                m.d.sync += wd.eq(ap.out)
        m.d.comb += [mem.wdata.eq(wd), *wa.drive(mem.waddr), *wes.drive(mem.wen)]
        # (a word that is not written back is done at S2: read-only sweeps end as before)
        m.d.comb += self.busy.eq(s0["v"] | s1["v"] | s2["v"] | (s3["v"] & s3["wr"]) | we)
        return m


class RnnTrainer(wiring.Component):
    """BEP-TT training engine, online or in mini-batches of ``cfg.batch`` sequences; reset state = the
    golden trainer's initial state (accumulators 0).

    Ports: ``cmd`` (in) and ``resp`` (out), 32-bit word streams (docs/trainer_rnn.md).
    """

    def __init__(self, cfg: RnnTrainConfig):
        self.cfg = cfg
        self.p = p = plan(cfg)
        g = RnnGolden(cfg)
        S, wx, ws = p["simd"], p["wx"], p["ws"]
        k0, ks, ky = p["inputs"], p["ks"], p["ky"]
        Hxs, Hss, Hsy = g.H

        def words_of(row, n):
            return [[int(row[j]) if j < len(row) else 1 for j in range(w * S, w * S + S)] for w in range(n)]

        self.init_s = [wd for j in range(ks) for wd in words_of(Hxs[j], wx) + words_of(Hss[j], ws)]
        self.init_y = [wd for k in range(ky) for wd in words_of(Hsy[k], ws)]

        def lanes(gen, n, words):
            st = [prng.step(int(s)) for s in gen.state] + [1] * (words * S - n)
            return [st[w * S:(w + 1) * S] for w in range(words)]

        gens = g.t.gens
        self.lanes_s = lanes(gens[0], k0, wx) + lanes(gens[1], ks, ws)
        self.lanes_y = lanes(gens[2], ks, ws)
        self.classifier = g.t.P[0]
        self.init_regs = g.registers()
        super().__init__({"cmd": In(stream.Signature(WORD)), "resp": Out(stream.Signature(WORD))})

    def elaborate(self, platform):
        cfg, P = self.cfg, self.p
        m = Module()
        S, B, C, T = P["simd"], cfg.hidden_bits, cfg.classes, P["steps"]
        k0, ks, ky, wx, ws, W = P["inputs"], P["ks"], P["ky"], P["wx"], P["ws"], P["words"]
        NX, cb = P["x_words"], P["class_bits"]
        skip = cfg.zero_target == "skip"
        # mini-batch (docs/trainer_rnn.md "Mini-batch"): updates go to the accumulator words; the batch's
        # last TRAIN (or FLUSH) runs the apply sweep, then the step is counted
        MB = cfg.batch > 1
        in_batch = Signal(range(max(cfg.batch, 2)), name="in_batch")    # sequences of the open batch
        apply_acc = Signal(name="apply_acc")      # the apply sweep's next word is an accumulator word
        resp = self.resp
        # commands enter through a register slice: the sequencer sees a registered word and valid, not the
        # host side's handshake (cmd.valid into the input word's 256 shift enables, 31 late endpoints at
        # 10.71 ns with 255,255 at d4fed19); one clock of latency, one word per clock as before
        cmd = stream.Signature(WORD).create(path=("rx",))
        register_slice(m, self.cmd, self.cmd.payload, cmd, name="cmd")
        hdr = data.View(HEADER, cmd.payload)
        regs = self.init_regs

        # --- host registers and counters ---
        margin = Signal(PARAM_BITS, name="reg_margin", init=regs["margins"][0])
        gate = [Signal(PARAM_BITS, name=f"reg_gate{l}", init=regs["gates"][l]) for l in range(2)]
        thr = [Signal(33, name=f"reg_reinforce{i}", init=regs["reinforce"][i]) for i in range(3)]
        gamma = [Signal(PARAM_BITS, name=f"reg_gamma{l}", init=regs["gamma"][l]) for l in range(2)]
        every = Signal(PARAM_BITS, name="reg_every", init=regs["reinforce_every"])
        samples = Signal(COUNTER_BITS, name="cnt_samples")
        errors = Signal(COUNTER_BITS, name="cnt_errors")
        updates = Signal(COUNTER_BITS, name="cnt_updates")
        stepcnt = Signal(PARAM_BITS, name="steps_since_reinforce")
        # "a reinforcement sweep is owed at this step's end", from registers: stepcnt and every change at
        # least a few clocks before any step ends (the compare's carry chain into the sequencer was the
        # BEP-TT engine's 65.3 MHz critical path at 255,255)
        due = Signal(name="reinforce_due")
        m.d.sync += due.eq(stepcnt + 1 >= every)
        yreg = Signal(cb, name="label")
        pred = Signal(cb, name="pred")

        # --- sequence, states, pre-activations, desired activations ---
        # LUT RAM read asynchronously (no_rw_check applies to clocked read ports only: yosys asserts), in
        # column slices of LUTRAM_SLICE_BITS, each with its own (kept) copy of the read address, write address
        # and write enable: one address net into all 128 LUT-RAM cells of s at 255,255 was the 63.35 MHz
        # critical path (c4d8321, 14.79 ns of routing)
        lut = {"ram_style": "distributed"}
        tbits = max(1, (T - 1).bit_length())

        def lut_ram(name, width):
            mem = SlicedMemory(unsigned(1), width, T, [], attrs=lut, per_slice=LUTRAM_SLICE_BITS,
                               read_domain="comb")
            m.submodules[name] = mem
            n = len(mem.slices)
            ports = (Copies(tbits, n, name=f"{name}_read_addr"), Copies(tbits, n, name=f"{name}_write_addr"),
                     Copies(1, n, name=f"{name}_write"))
            m.d.comb += [*ports[0].drive(mem.raddr), *ports[1].drive(mem.waddr), *ports[2].drive(mem.wen)]
            m.d.sync += ports[2].eq(0)
            return mem, ports
        xmem, (x_ra, x_wa, x_we) = lut_ram("x", k0)            # a_t
        smem, (s_ra, s_wa, s_we) = lut_ram("s", ks)            # s_t
        dmem, (d_ra, d_wa, d_we) = lut_ram("d", 2 * ks)        # s*_t: nonzero bits, sign bits
        zmem = Memory(shape=signed(P["zs_bits"]), depth=T * ks, init=[], attrs=ROWS)  # z_t of the state layer
        m.submodules.z = zmem
        # the LUT RAMs are written a clock after the sequencer decides, enable and address from registers
        # (data: x_shift; s_cur; the s* row from the ring's sums, loaded into target_nonzero/sign then too);
        # swe and dwe tell the logic beside the memories that a write is under way
        swe, dwe = Signal(name="s_write"), Signal(name="d_write")
        m.d.sync += [swe.eq(0), dwe.eq(0)]

        def x_write(t):
            return [*x_we.eq(1), *x_wa.eq(t)]

        def s_write(t):
            return [swe.eq(1), *s_we.eq(1), *s_wa.eq(t)]

        def d_write(t):
            return [dwe.eq(1), *d_we.eq(1), *d_wa.eq(t)]
        z_wr, z_rd = zmem.write_port(), zmem.read_port()

        # --- the two row banks ---
        tag = tag_layout(W, max(ks, ky))
        dbits = P["acc_bits"] if cfg.tt_update == "sum" else 2
        offs = P["acc_offset"]                              # mini-batch: the accumulator words (else 0)
        bs = RowBank(ks, W, S, B, max(dbits, 2), tag, self.init_s, self.lanes_s, offs["bank_s"])
        by = RowBank(ky, ws, S, B, 2, tag, self.init_y, self.lanes_y, offs["bank_y"])
        m.submodules.bank_s = bs
        m.submodules.bank_y = by

        def mask_of(n, w):
            return (1 << max(0, min(S, n - w * S))) - 1
        mask_s = [mask_of(k0, w) for w in range(wx)] + [mask_of(ks, w) for w in range(ws)]
        mask_y = [mask_of(ks, w) for w in range(ws)]
        masks, masks_y = Array(Const(v, S) for v in mask_s), Array(Const(v, S) for v in mask_y)

        def col_mask(reg, table):
            """The registered column mask with every column that is real in all words a constant 1: one
            register for the 31 such columns at 255,255 drove every slice's step and lane logic (6.19 ns
            of routing at 6f19ef6)."""
            return Cat(Const(1, 1) if all(v >> j & 1 for v in table) else reg[j] for j in range(S))

        xin = Signal(wx * S, name="x_step")                  # a_t of the step being computed
        sprev = Signal(ws * S, name="s_prev")                # s_{t-1}; s_T after the forward pass
        scur = Signal(ks, name="s_cur")
        inp = data.View(data.ArrayLayout(S, W), Cat(xin, sprev))
        sT = data.View(data.ArrayLayout(S, ws), sprev)

        # S2 operands of bank S: the input word and the column mask of the S1 word
        xq, mq_r = Signal(S, name="s_xword"), Signal(S, name="s_colmask")
        m.d.sync += mq_r.eq(masks[bs.s1_tag.w])
        # the input word picked at the S1 word index in a copy per 8 columns (the issue tag's w through
        # S0 and S1 copies of the bank's tag): one s1_tag.w into the 32 16-to-1 picks was late at 255,255
        wq = -(-S // 8)
        w_s0 = Copies(len(bs.itag.w), wq, name="s0_word_index")
        w_s1 = Copies(len(bs.itag.w), wq, name="s1_word_index")
        m.d.sync += [*w_s0.eq(bs.itag.w), *[w_s1[g].eq(w_s0[g]) for g in range(wq)]]
        m.d.sync += [xq[8 * g:8 * g + 8].eq(Array(inp[i][8 * g:8 * g + 8] for i in range(W))[w_s1[g]])
                     for g in range(wq)]
        mq = col_mask(mq_r, mask_s)
        # the S1 word's reinforcement threshold (input or state part), picked from the S0 tag into a register:
        # the compare of w with wx before the lanes' 33-bit compares was the 88.75 MHz path (93d3e25)
        thr_s = Signal(33, name="s1_reinforce_threshold")
        m.d.sync += thr_s.eq(Mux(bs.s0_tag.w < wx, thr[0], thr[1]))
        m.d.comb += [bs.mask.eq(mq), bs.thr.eq(thr_s)]
        yq, ymq_r = Signal(S, name="y_xword"), Signal(S, name="y_colmask")
        y_word = sT[by.s1_tag.w]                            # s_T's word of the S1 row word
        m.d.sync += [yq.eq(y_word), ymq_r.eq(masks_y[by.s1_tag.w])]
        ymq = col_mask(ymq_r, mask_y)
        m.d.comb += [by.mask.eq(ymq), by.thr.eq(thr[2])]
        # bank Y's update: d = t * s_T on the real columns. The agreement t == s_T goes in its own S2
        # register per column, beside the column's adder: from y_xword, which also feeds the forward lane,
        # it crossed the die (4.98 ns of routing, the 87.92 MHz path of 255,255 at bae5d79)
        yagree = Signal(S, name="y_update_agree")
        m.d.sync += yagree.eq(y_word ^ (~by.s1_tag.t).replicate(S))
        for j in range(S):
            m.d.comb += by.delta[j].eq(Mux(ymq[j], Mux(yagree[j], 1, -1), 0))

        # --- forward lanes ---
        fs = ForwardLane(S, B, k0 + ks, bs.slices)
        fy = ForwardLane(S, B, ks, by.slices)
        m.submodules.fwd_s = fs
        m.submodules.fwd_y = fy
        m.d.comb += [fs.word.eq(bs.row), fs.x.eq(xq), fs.mask.eq(mq),
                     fs.valid.eq(bs.s2_valid & bs.s2_tag.fwd), fs.first.eq(bs.s2_tag.first),
                     fs.last.eq(bs.s2_tag.last),
                     fy.word.eq(by.row), fy.x.eq(yq), fy.mask.eq(ymq),
                     fy.valid.eq(by.s2_valid & by.s2_tag.fwd), fy.first.eq(by.s2_tag.first),
                     fy.last.eq(by.s2_tag.last)]
        tcur = Signal(range(T + 1), name="t")
        jo = Signal(range(max(ks, ky) + 1), name="drained")       # neurons out of the forward lane
        zw = Signal(range(T * ks + 1), name="z_write_addr")
        zeff = Signal(signed(P["zs_bits"]), name="z_state")
        m.d.comb += zeff.eq(fs.z + Mux(tcur == 0, ks, 0))        # t = 1: the s part was not read (-K_s)
        # z_t is written to its block RAM a clock later, from registers: the adder into the block RAM's
        # data inputs made ~250 late endpoints at 255,255 (z is read only in the backward phases)
        zwa, zwd, zwe = Signal.like(zw, name="z_write_addr_q"), Signal.like(zeff, name="z_write_data"), \
            Signal(name="z_write_en")
        m.d.sync += [zwa.eq(zw), zwd.eq(zeff), zwe.eq(fs.z_valid)]
        m.d.comb += [z_wr.addr.eq(zwa), z_wr.data.eq(zwd), z_wr.en.eq(zwe)]
        # s_t[jo] is set a clock later, from registers: the sign of zeff's adder into the 255 bits of s_cur
        # (the s LUT RAM's write data, across the die) was 75 late endpoints at 255,255 (24c6769, 84.25 MHz
        # without rip-up). s_cur is read two clocks after the last neuron's z at the earliest (s_write).
        zsign, zsign_at, zsign_v = Signal(name="z_state_sign"), Signal.like(jo, name="z_state_neuron"), \
            Signal(name="z_state_valid")
        m.d.sync += [zsign.eq(zeff >= 0), zsign_at.eq(jo), zsign_v.eq(fs.z_valid)]
        with m.If(zsign_v):
            m.d.sync += scur.bit_select(zsign_at, 1).eq(zsign)
        with m.If(fs.z_valid):
            m.d.sync += [jo.eq(jo + 1), zw.eq(zw + 1)]

        # output layer: D1 register after the lane, then logits, gate and target bits, tracker
        prom = Memory(shape=unsigned(C), depth=ky, init=[_pm1_bits(self.classifier[:, k]) for k in range(ky)],
                      attrs=ROM)
        m.submodules.classifier = prom
        p_rd = prom.read_port(domain="comb")
        m.d.comb += p_rd.addr.eq(jo)
        zyb = len(fy.z)
        d1v, d1z = Signal(name="d1_valid"), Signal(signed(zyb), name="d1_z")
        d1k, d1col = Signal(range(max(ky, 2)), name="d1_k"), Signal(C, name="d1_column")
        ybase = Signal(range(ky * ws + 1), name="y_base")
        d1base = Signal.like(ybase, name="d1_base")
        m.d.sync += d1v.eq(fy.z_valid)
        # the tracker's stability and wrongness are computed into D1 registers beside z
        d1st, d1wr = Signal(signed(zyb + 1), name="d1_stability"), Signal(name="d1_wrong")
        tnext = p_rd.data.bit_select(yreg, 1)
        with m.If(fy.z_valid):
            m.d.sync += [d1z.eq(fy.z), d1k.eq(jo), d1col.eq(p_rd.data), d1base.eq(ybase), jo.eq(jo + 1),
                         ybase.eq(ybase + ws), d1st.eq(Mux(tnext, fy.z, -fy.z)), d1wr.eq((fy.z >= 0) != tnext)]
        lgb = max(ky, 1).bit_length() + 1
        logits = Signal(data.ArrayLayout(signed(lgb), C), name="logits")
        gy, ty = Signal(ky, name="gates_y"), Signal(ky, name="targets_y")
        d1t, d1a = Signal(name="d1_t"), Signal(name="d1_a")
        m.d.comb += [d1t.eq(d1col.bit_select(yreg, 1)), d1a.eq(d1z >= 0)]
        with m.If(d1v):
            for c in range(C):
                m.d.sync += logits[c].eq(logits[c] + Mux(d1col[c] == d1a, 1, -1))
        # neuron k's gate and target bits land a clock later (D2), from registers: the |z| <= gate compare
        # with the decode of k into the bit enables was a 13.97 ns path at 255,255 (they are read after DECIDE)
        d2v, d2k = Signal(name="d2_valid"), Signal.like(d1k, name="d2_k")
        d2g, d2t = Signal(name="d2_gate"), Signal(name="d2_t")
        m.d.sync += [d2v.eq(d1v), d2k.eq(d1k), d2g.eq(within_gate(m, d1z, gate[1], name="gate_y_neg")), d2t.eq(d1t)]
        with m.If(d2v):
            m.d.sync += [gy.bit_select(d2k, 1).eq(d2g), ty.bit_select(d2k, 1).eq(d2t)]
        ey = data.StructLayout({"base": range(max(ky * ws, 2)), "t": 1})
        try_ = WinnerTracker(ky, zyb, ey, read_through=True)   # (UY reads entry 0 as the last is written)
        m.submodules.tracker_y = try_
        m.d.comb += [try_.valid.eq(d1v), try_.stab.eq(d1st), try_.wrong.eq(d1wr),
                     try_.entry.base.eq(d1base), try_.entry.t.eq(d1t), try_.gamma.eq(gamma[1])]
        dec = DecisionUnit(C, lgb)
        m.submodules.decide = dec
        m.d.comb += [dec.logits.eq(logits), dec.y.eq(yreg), dec.threshold.eq(margin)]

        # --- back-projection: one ring of K_s column sums, fed by bank Y (s*_T) or bank S (s*_{t-1}) ---
        bpr = BackProjectionRing(ws, S, 1, max(ks, ky).bit_length() + 1)
        m.submodules.backproject = bpr
        bp_from_s = Signal(name="bp_from_state")
        dnz, dsg = Signal(ks, name="target_nonzero"), Signal(ks, name="target_sign")   # s*_{t} being propagated
        bp_en, bp_t = Signal(name="bp_en"), Signal(name="bp_t")
        # z_t of the issued neuron: addressed at issue (z_read_addr = z_base + j, a register kept beside j:
        # the adder into the block RAM's address was the 84.25 MHz path at 24c6769), out of the block RAM at
        # S0, in a register at S1
        zr = Signal(range(T * ks + 1), name="z_read_addr")
        m.d.comb += z_rd.addr.eq(zr)
        zz = z_rd.data
        zq1 = Signal(signed(P["zs_bits"]), name="s1_z")
        m.d.sync += zq1.eq(zz)
        # the row's target bits, in S1 registers (picked from the row index in two clocks, below)
        nz1, sg1 = Signal(name="s1_target_nonzero"), Signal(name="s1_target_sign")
        gy1, ty1 = Signal(name="s1_gate_y"), Signal(name="s1_target_y")
        with m.If(bp_from_s):
            m.d.sync += [bp_en.eq(within_gate(m, zq1, gate[0], name="gate_s_neg") & nz1), bp_t.eq(sg1)]
        with m.Else():
            m.d.sync += [bp_en.eq(gy1), bp_t.eq(ty1)]
        # the ring turns as a back-projection word reaches S2: decided at S1 into a register per column
        # group (bp_from_state does not change while a bank holds words: a phase starts on an idle bank)
        turn = Copies(1, bpr.groups, name="backproject_turn")
        m.d.sync += turn.eq(Mux(bp_from_s, bs.s1_valid & bs.s1_tag.bp, by.s1_valid & by.s1_tag.bp))
        m.d.comb += [bpr.en.eq(bp_en), bpr.t.eq(bp_t), bpr.rotate.eq(Cat(turn.regs))]
        m.d.comb += bpr.vis[0].eq(Mux(bp_from_s, Cat(~bs.row[j][B - 1] for j in range(S)),
                                      Cat(~by.row[j][B - 1] for j in range(S))))
        # the s* row from the ring's sums, in registers every clock: the sums are final in the clock that
        # decides the s* memory's write, which happens a clock later (the compares into the LUT RAM's write
        # data were 11.24 ns at 255,255, 24c6769)
        new_nz, new_sg = Signal(ks, name="s_target_nonzero"), Signal(ks, name="s_target_sign")
        m.d.sync += [new_nz.eq(Cat((bpr.sums[j] != 0) if skip else Const(1) for j in range(ks))),
                     new_sg.eq(Cat((bpr.sums[j] > 0) if skip else (bpr.sums[j] >= 0) for j in range(ks)))]

        def group_bits(vec, low):
            """Each 16-bit group's bit of ``vec`` at ``low(g)[:4]`` (a select per group g)."""
            bits = Cat(vec, Const(0, -len(vec) % 16))
            return Cat(bits[g * 16:(g + 1) * 16].bit_select(low(g)[:4], 1) for g in range(len(bits) // 16))

        def pick(vec, early, late, name):
            """vec's bit at an index in two clocks, not one wide multiplexer: a register takes the bit of
            each 16-bit group g at ``early(g)``'s low 4 bits (a copy of the index per group), and the group
            is picked at ``late``'s high bits, ``late`` being the index a clock later."""
            part = Signal(-(-len(vec) // 16), name=f"{name}_groups")
            m.d.sync += part.eq(group_bits(vec, early))
            return part.bit_select(late[4:], 1)

        # --- the state mask (tt_mask): M0 read z, M1 term, M2 sum over t, M3 tracker ---
        sb = P["stab_bits"]
        es = data.StructLayout({"row": range(max(ks, 2)), "t": 1})
        trs = WinnerTracker(ks, sb - 1, es, read_through=True)   # (US: as tracker_y)
        m.submodules.tracker_s = trs
        mask_phase = Signal(name="mask_phase")
        mv, mtm, mj = Signal(name="m0_valid"), Signal(range(T), name="m0_t"), Signal(range(max(ks, 2)), name="m0_j")
        mfirst, mlast = Signal(name="m0_first"), Signal(name="m0_last")
        maddr = Signal(range(T * ks + 1), name="m0_zaddr")
        m1 = {"v": Signal(name="m1_v"), "t": Signal(range(T), name="m1_t"), "j": Signal.like(mj, name="m1_j"),
              "f": Signal(name="m1_first"), "l": Signal(name="m1_last")}
        m.d.sync += [m1["v"].eq(mv), m1["t"].eq(mtm), m1["j"].eq(mj), m1["f"].eq(mfirst), m1["l"].eq(mlast)]
        with m.If(mask_phase):
            m.d.comb += z_rd.addr.eq(maddr)
        # the three LUT RAMs are read at one address register, ua_t: the forward step (= t) in the forward
        # pass, the mask's M0 step (= m0_t) in the mask pass, the update's A0 step in the update; each
        # read row lands in a register (dq: the s* row, xr: a_t and s_{t-1}) before any word or bit select
        ua_t = Signal(range(T + 1), name="a0_t")
        # s_{t-1} is read at ua_t - 1, kept in a register of its own so the LUT RAM's address comes from
        # flip-flops (255,255 at f77b5e5: the subtraction into s's address was the 67.58 MHz critical path)
        # (and x and s* at copies of ua_t, one per LUT-RAM slice)

        # "ua_t is the last step" in a register of its own, set with ua_t: the compare selected the state
        # winner list's read address (255,255 at 0ac3f9b: 69.86 MHz critical path)
        ua_last = Signal(name="a0_t_last", init=int(T == 1))
        # ua_t's next step (0 after T - 1) in a register of its own, set with ua_t: the increment and the
        # wrap were in front of the LUT RAMs' read-address copies (255,255 at a20e7d8: a0_t_last through
        # the carry chain into d's read address, one of the two 94.43 MHz paths)
        ua_next = Signal.like(ua_t, name="a0_t_next", init=int(T > 1))

        def set_t(value):
            v = Value.cast(value)[:len(ua_t)]             # the value ua_t takes
            return [ua_t.eq(v), *x_ra.eq(v), *d_ra.eq(v), *s_ra.eq(v - 1), ua_last.eq(v == T - 1),
                    ua_next.eq(Mux(v == T - 1, 0, v + 1))]

        # ua_t is set in few places, each on a plain state decode, so that the enable of its ~160 copies
        # is shallow (the OR of six states' conditions, with compares, was 111 late endpoints at 11.35 ns
        # at 8921be8): 0 in IDLE and while the mask pass drains; the next step (wrapping to 0 after
        # T - 1) in SPREP, where step t's a_t is read as ua_t moves on (nothing reads the LUT RAMs
        # until the next SPREP), per term of the mask pass and of the state-row update
        def step_t():
            return set_t(ua_next)
        dq = Signal(2 * ks, name="d_row")
        m.d.sync += dq.eq(dmem.rdata)
        # M1: z out of the block RAM and s*_t[j] out of the row register, both into registers (MB)
        mb = {"v": Signal(name="mb_v"), "j": Signal.like(mj, name="mb_j"), "f": Signal(name="mb_first"),
              "l": Signal(name="mb_last"), "z": Signal(signed(P["zs_bits"]), name="mb_z"), "nz": Signal(name="mb_nz"),
              "sg": Signal(name="mb_sg")}
        # s*_t[j]'s two bits out of the row register dq, each 16-bit group's pick at its own copy of m1_j:
        # one m1_j into the 255-to-1 picks was 5.27 ns of routing (371dbbf: 78.81 MHz); picking the
        # groups a clock earlier from the LUT RAM's output put its read on the path (2d72737: 67.5 MHz)
        ngr = -(-ks // 16)
        j_c = Copies(len(mj), ngr, name="m1_j_group")
        m.d.sync += j_c.eq(mj)

        # (the group picks go into registers at MB and the group is picked at mb_j in M2, beside the term:
        # both picks in the clock into MB were the other 94.43 MHz path at a20e7d8, mb_nz through L6MUX21s)
        m.d.sync += [mb["v"].eq(m1["v"]), mb["j"].eq(m1["j"]), mb["f"].eq(m1["f"]), mb["l"].eq(m1["l"]),
                     mb["z"].eq(zz)]
        m.d.comb += [mb["nz"].eq(pick(dq[:ks], lambda g: j_c[g], mb["j"], "mask_target_nonzero")),
                     mb["sg"].eq(pick(dq[ks:], lambda g: j_c[g], mb["j"], "mask_target_sign"))]
        m2 = {"v": Signal(name="m2_v"), "j": Signal.like(mj, name="m2_j"), "f": Signal(name="m2_first"),
              "l": Signal(name="m2_last"), "stab": Signal(signed(sb), name="m2_stab"), "wrong": Signal(name="m2_wrong")}
        zm = mb["z"]
        m.d.sync += [m2["v"].eq(mb["v"]), m2["j"].eq(mb["j"]), m2["f"].eq(mb["f"]), m2["l"].eq(mb["l"]),
                     m2["stab"].eq(Mux(mb["nz"], Mux(mb["sg"], zm, -zm), 0)),
                     m2["wrong"].eq(mb["nz"] & ((zm >= 0) != mb["sg"]))]
        acc_st, acc_wr = Signal(signed(sb), name="stab_sum"), Signal(name="wrong_any")
        n_st, n_wr = Signal(signed(sb), name="stab_sum_next"), Signal(name="wrong_any_next")
        m.d.comb += [n_st.eq(Mux(m2["f"], 0, acc_st) + m2["stab"]), n_wr.eq(Mux(m2["f"], 0, acc_wr) | m2["wrong"])]
        m3v, m3st, m3wr, m3j = Signal(name="m3_v"), Signal(signed(sb), name="m3_stab"), Signal(name="m3_wrong"), \
            Signal.like(mj, name="m3_j")
        m.d.sync += m3v.eq(m2["v"] & m2["l"])
        with m.If(m2["v"]):
            m.d.sync += [acc_st.eq(n_st), acc_wr.eq(n_wr), m3st.eq(n_st), m3wr.eq(n_wr), m3j.eq(m2["j"])]
        m.d.comb += [trs.valid.eq(m3v), trs.stab.eq(m3st), trs.wrong.eq(m3wr), trs.entry.row.eq(m3j),
                     trs.entry.t.eq(0), trs.gamma.eq(gamma[0])]

        # --- state-row update: A0 read a_t / s_{t-1} / s*_t, AR rows in registers, A1 the word and the row's
        # target bits, A1B those in copies per slice and the term summed, A2 the finished word issued ---
        tsum = TemporalSum(S, P["acc_bits"], cfg.tt_update == "sign", bs.slices)
        m.submodules.temporal_sum = tsum
        ua_v, ua_w, ua_row = Signal(name="a0_valid"), Signal(range(max(W, 2)), name="a0_w"), \
            Signal(range(max(ks, 2)), name="a0_row")
        pad = lambda v, n: Cat(v, Const(0, n - len(v))) if n > len(v) else v
        xr = Signal(W * S, name="ar_row")
        m.d.sync += xr.eq(Cat(pad(xmem.rdata.as_value(), wx * S), pad(smem.rdata.as_value(), ws * S)))
        urow = data.View(data.ArrayLayout(S, W), xr)
        ar = {"v": Signal(name="ar_v"), "f": Signal(name="ar_first"), "l": Signal(name="ar_last"),
              "w": Signal.like(ua_w, name="ar_w"), "row": Signal.like(ua_row, name="ar_row_index")}
        m.d.sync += [ar["v"].eq(ua_v), ar["f"].eq(ua_t == 0), ar["l"].eq(ua_last), ar["w"].eq(ua_w),
                     ar["row"].eq(ua_row)]
        a1 = {"v": Signal(name="a1_v"), "f": Signal(name="a1_first"), "l": Signal(name="a1_last"),
              "w": Signal.like(ua_w, name="a1_w"), "row": Signal.like(ua_row, name="a1_row"),
              "x": Signal(S, name="a1_x"), "m": Signal(S, name="a1_mask"), "nz": Signal(name="a1_nz"),
              "sg": Signal(name="a1_sg")}
        # the AR row's word picked at ar_w in a copy per 8 columns: one ar_w into the 32 16-to-1 picks
        # (through the column mask's decode) was the 87.94 MHz path at 4d95f65
        ar_wc = Copies(len(ua_w), -(-S // 8), name="ar_w_group")
        m.d.sync += ar_wc.eq(ua_w)
        m.d.sync += [a1["x"][8 * g:8 * g + 8].eq(Array(urow[i][8 * g:8 * g + 8] for i in range(W))[ar_wc[g]])
                     for g in range(len(ar_wc))]
        m.d.sync += [a1["v"].eq(ar["v"]), a1["f"].eq(ar["f"]), a1["l"].eq(ar["l"]), a1["w"].eq(ar["w"]),
                     a1["row"].eq(ar["row"]),
                     a1["m"].eq(Mux((ar["w"] >= wx) & ar["f"], 0, masks[ar["w"]]))]
        # the row's two target bits out of dq in two clocks, as the mask pass picks them: each 16-bit group's
        # bit at AR, at a copy of the row index per group, the group at A1 (the 255-to-1 pick at ar_row in one
        # clock was the 89.45 MHz path at 5b81dcc: 3.99 ns of routing and six LUT levels)
        # (a copy per four groups: one per group put 16 loads on the state winner list's read, 11.05 ns at 7df52a3)
        row_c = Copies(min(4, len(ua_row)), -(-ngr // 4), name="ar_row_group")
        m.d.sync += row_c.eq(ua_row)
        m.d.comb += [a1["nz"].eq(pick(dq[:ks], lambda g: row_c[g // 4], a1["row"], "a1_target_nonzero")),
                     a1["sg"].eq(pick(dq[ks:], lambda g: row_c[g // 4], a1["row"], "a1_target_sign"))]
        # A1B: the term's controls in a copy per bank-S slice, beside the slice's temporal sums (one a1_nz
        # register reached all S sums across the die: 8.0 ns of routing, the 88.70 MHz path at a7f660b)
        a1b = {k: Copies(1, len(bs.slices), name=f"a1b_{k}") for k in ("v", "f", "nz", "sg")}
        a1b_x, a1b_m = Signal(S, name="a1b_x"), Signal(S, name="a1b_mask")
        a1b_l, a1b_w = Signal(name="a1b_last"), Signal.like(ua_w, name="a1b_w")
        a1b_row = Signal.like(ua_row, name="a1b_row")
        m.d.sync += [r for k in a1b for r in a1b[k].eq(a1[k])]
        m.d.sync += [a1b_x.eq(a1["x"]), a1b_m.eq(a1["m"]), a1b_l.eq(a1["l"]), a1b_w.eq(a1["w"]),
                     a1b_row.eq(a1["row"])]
        m.d.comb += [tsum.valid.eq(Cat(a1b["v"].regs)), tsum.first.eq(Cat(a1b["f"].regs)), tsum.x.eq(a1b_x),
                     tsum.nz.eq(Cat(a1b["nz"].regs)), tsum.sg.eq(Cat(a1b["sg"].regs)), tsum.mask.eq(a1b_m)]
        a2v, a2w = Signal(name="a2_issue"), Signal.like(ua_w, name="a2_w")
        # the word's bank-S address is added up at A1B (into a register): the issue mux takes registers only
        a2addr = Signal(range(max(ks * W, 2)), name="a2_addr")
        m.d.sync += [a2v.eq(a1b["v"][0] & a1b_l), a2w.eq(a1b_w), a2addr.eq(a1b_row * W + a1b_w)]
        # the row word is issued when its sum is complete (A2); the sum travels beside it to S2
        dl0 = Signal(data.ArrayLayout(signed(max(dbits, 2)), S), name="delta_s0")
        dl1, dl2 = Signal.like(dl0, name="delta_s1"), Signal.like(dl0, name="delta_s2")
        m.d.sync += [dl1.eq(dl0), dl2.eq(dl1)]
        for j in range(S):
            m.d.comb += bs.delta[j].eq(dl2[j])

        # --- sequencer ---
        op = Signal(4, name="op")
        sel_layer = Signal(4, name="sel_layer")
        sel_arg = Signal(ARG_BITS, name="sel_arg")
        rw = max(P["resp_words"], 2)
        rbuf = Signal(rw * WORD, name="word_buffer")
        reg_in = Signal(2 * WORD, name="register_value")      # WRITE_REG's two words, READ_REG's value
        tx_left = Signal(range(rw + 1), name="tx_left")
        xsh = Signal(NX * WORD, name="x_shift")
        # "the sequencer is in RX_X" in a copy per 32-bit word of x_shift (set on the way in, cleared on the
        # way out): each word shifts on its copy and the command slice's valid, two registers
        in_rx_x = Copies(1, NX, name="in_rx_x")
        xwords = [xsh[k * WORD:(k + 1) * WORD] for k in range(NX)]
        for k in range(NX):
            with m.If(in_rx_x[k] & cmd.valid):
                m.d.sync += xwords[k].eq(xwords[k + 1] if k + 1 < NX else cmd.payload)
        cnt = Signal(range(max(NX, 2) + 1), name="word_count")
        j = Signal(range(max(ks, ky, 2) + 1), name="j")
        # j < ks and j < ky in registers set with j: the compares were the start of the sweeps' issue
        # decisions (255,255 at 5388e2e: j < ks into the LUT-RAM address copies' enables, 15.25 ns)
        j_ks, j_ky = Signal(name="j_below_ks", init=1), Signal(name="j_below_ky", init=1)

        # j's low 4 bits in a copy per 16-bit group of the back-projection picks below (one j into the 64
        # group multiplexers of the four picks: 10.3-10.8 ns at 4010e29)
        j_lo = Copies(min(4, len(j)), -(-max(ks, ky) // 16), name="j_group")

        def set_j(v):
            v = Value.cast(v)[:len(j)]
            return [j.eq(v), j_ks.eq(v < ks), j_ky.eq(v < ky), *j_lo.eq(v)]

        # a back-projection row's bits: the issue clock picks at j (the tag's row is j, issued that clock),
        # S0 at the tag's row (255,255 at 94b3259: the 255-to-1 pick from S0 was the 67.42 MHz critical path)
        def jg(g):
            return j_lo[g]
        m.d.sync += [nz1.eq(pick(dnz, jg, bs.s0_tag.row, "target_nonzero")),
                     sg1.eq(pick(dsg, jg, bs.s0_tag.row, "target_sign")),
                     gy1.eq(pick(gy, jg, by.s0_tag.row, "gates_y")), ty1.eq(pick(ty, jg, by.s0_tag.row, "targets_y"))]
        w = Signal(range(max(W, 2) + 1), name="w")
        a = Signal(range(max(ks * W, ky * ws, 2) + 1), name="addr")
        zb = Signal(range(T * ks + 1), name="z_base")
        tb = Signal(range(T + 1), name="t_back")
        ui = Signal(range(max(ks, ky) + 2), name="winner")
        # ui + 1 kept in a register of its own: the winner list's read address comes from flip-flops
        # through one multiplexer, not through an adder (255,255 at 6c74eb3: ui + 1 into the LUT-RAM
        # list's address was the critical path, 62.56 MHz)
        ui1 = Signal(range(max(ks, ky) + 3), name="winner_next", init=1)
        # "entry ui of the winner list is a winner" (ui < count) in a register set with ui: the compare
        # was in front of the update sweeps' issue decisions and ui's own enable (255,255 at d4fed19)
        ui_left = Signal(name="winner_left")
        row_w = Signal(range(max(W, 2) + 1), name="row_word")
        row_n = Signal(range(max(W, 2) + 1), name="row_words")

        readable = {REG_SAMPLES: samples, REG_ERRORS: errors, REG_UPDATES: updates, REG_PENDING: Const(0, 1),
                    REG_EVERY: every, REG_MARGIN: margin}
        for l in range(2):
            readable.update({REG_GATE + l: gate[l], REG_GAMMA + l: gamma[l]})
        for i in range(3):
            readable[REG_REINFORCE + i] = thr[i]
        read_sel = Signal(len(readable), name="read_select")

        # responses leave through a register slice: the word buffer shifts on the slice's ready (a register),
        # not on resp.ready (the host side's handshake into 512 clock enables was a 14.19 ns path at 255,255)
        tx = stream.Signature(WORD).flip().create(path=("tx",))
        register_slice(m, tx, rbuf[:WORD], resp, name="resp")

        # the word buffer's controls in a copy per 32-bit word: one in_tx & ready net into the 512 clock
        # enables was the 81.13 MHz critical path (9.8 ns of routing)
        row_at_s2 = Copies(1, rw, name="row_read_at_s2")
        row_from_y = Copies(1, rw, name="row_read_from_y")
        m.d.sync += [*row_at_s2.eq((bs.s1_valid & bs.s1_tag.rd) | (by.s1_valid & by.s1_tag.rd)),
                     *row_from_y.eq(by.s1_valid & by.s1_tag.rd)]

        # "the sequencer is in TX" in a register (set on every way in, cleared on the way out): the word
        # buffer's shift hangs on it and the slice's ready (a register), not on the state's decode
        in_tx = Copies(1, rw, name="in_tx")

        def goto_tx():
            m.d.sync += in_tx.eq(1)
            m.next = "TX"

        # a response goes out through RESP, which loads the word buffer from a registered source (0, the
        # prediction or register_value): loading it in every state that responds put their conditions
        # (the decision's outputs, sweep compares) into the buffer's enables, 33 late endpoints at 12.11 ns
        # at 43b6e99; one clock more per response
        resp_src = Signal(2, name="response_source")        # 0: zero, 1: pred, 2: register_value
        # "tx_left is 1" in a register kept with tx_left: its compare was in front of in_tx's 16 copies
        tx_one = Signal(name="tx_left_one")

        def respond(src, n=1):
            m.d.sync += [resp_src.eq({"zero": 0, "pred": 1, "register": 2}[src]), tx_left.eq(n), tx_one.eq(n == 1)]
            m.next = "RESP"

        m.d.comb += [xmem.wdata.eq(xsh[:k0]), smem.wdata.eq(scur), dmem.wdata.eq(Cat(new_nz, new_sg))]
        # the wide registers loaded at the end of a phase take their value in that clock too (s_T's
        # states stay in s_cur, the ring's sums stay until the prep clock's clear takes effect)
        with m.If(swe):
            m.d.sync += sprev.eq(scur)
        with m.If(dwe):
            m.d.sync += [dnz.eq(new_nz), dsg.eq(new_sg)]
        # the banks' issue address is ``a`` unless a state says otherwise (a word is issued only with iv):
        # with 0 as the default, every state's decode was an input of the address multiplexer in front
        # of bank S's 16 address copies (255,255 at 5388e2e: 376 late endpoints)
        m.d.comb += [bs.iaddr.eq(a), by.iaddr.eq(a)]
        # UY issues at ``a`` and the step ``uy_t``, loaded from the output winner list (a registered read:
        # the entry read at ``rd_addr`` in one clock is ``rd_data`` in the next) at a row's last word: the
        # list reads one entry ahead, two with one word per row (the row's last word is also its first)
        uy_t = Signal(name="uy_t")
        uy_ahead = ui1 if ws > 1 else ui1 + 1

        def load_uy():
            return [a.eq(try_.rd_data.base), uy_t.eq(try_.rd_data.t)]

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                m.d.sync += set_t(0)
                m.d.comb += cmd.ready.eq(1)
                with m.If(cmd.valid):
                    m.d.sync += [op.eq(hdr.op), sel_layer.eq(hdr.layer), sel_arg.eq(hdr.arg), cnt.eq(0),
                                 read_sel.eq(Cat(hdr.arg == adr for adr in readable))]
                    with m.Switch(hdr.op):
                        with m.Case(OP_TRAIN):
                            m.d.sync += [yreg.eq(hdr.arg[:cb]), tcur.eq(0), *in_rx_x.eq(1)]
                            m.next = "RX_X"
                        with m.Case(OP_WRITE_REG):
                            m.next = "RX_REG"
                        with m.Case(OP_READ_REG):
                            m.next = "READ_REG"
                        with m.Case(OP_READ_ROW):
                            m.next = "ROW_LOC"
                        if MB:
                            with m.Case(OP_FLUSH):         # close a short batch
                                # (pred is what the step's end responds: FLUSH answers 0)
                                with m.If(in_batch != 0):
                                    m.d.sync += [in_batch.eq(0), pred.eq(0), a.eq(0), apply_acc.eq(1)]
                                    m.next = "APS"
                                with m.Else():
                                    respond("zero")
                        with m.Default():                  # FLUSH (online: nothing is deferred) and unknown ops
                            respond("zero")

            with m.State("RX_X"):
                m.d.comb += cmd.ready.eq(1)
                with m.If(cmd.valid):
                    m.d.sync += cnt.eq(cnt + 1)
                    with m.If(cnt == NX - 1):
                        m.d.sync += x_write(tcur)
                        m.d.sync += [cnt.eq(0), tcur.eq(tcur + 1)]
                        with m.If(tcur == T - 1):
                            m.d.sync += [tcur.eq(0), *in_rx_x.eq(0)]
                            m.next = "SPREP"

            # --- forward: the state layer, step by step ---
            with m.State("SPREP"):               # x reads at ua_t = tcur (T = 1: a_1 is still in x_shift)
                m.d.sync += [xin.eq(xsh[:k0] if T == 1 else xmem.rdata.as_value()), *set_j(0), w.eq(0), a.eq(0), jo.eq(0),
                             *step_t()]
                with m.If(ua_t == 0):              # (not at the input handshake, where it was a 14.38 ns path)
                    m.d.sync += zw.eq(0)
                m.next = "SFWD"
            with m.State("SFWD"):
                last_w = Mux(tcur == 0, wx - 1, W - 1)
                with m.If(j_ks):
                    m.d.comb += [bs.iv.eq(1), bs.iaddr.eq(a), bs.itag.w.eq(w), bs.itag.fwd.eq(1),
                                 bs.itag.first.eq(w == 0), bs.itag.last.eq(w == last_w)]
                    with m.If(w == last_w):
                        m.d.sync += [w.eq(0), *set_j(j + 1), a.eq(a + W - w)]
                    with m.Else():
                        m.d.sync += [w.eq(w + 1), a.eq(a + 1)]
                with m.Elif(jo == ks):
                    m.d.sync += s_write(tcur)
                    m.d.sync += tcur.eq(tcur + 1)
                    with m.If(tcur == T - 1):
                        m.next = "YPREP"
                    with m.Else():
                        m.next = "SPREP"

            # --- forward: the output layer, logits, output tracker ---
            with m.State("YPREP"):
                m.d.sync += [*set_j(0), w.eq(0), a.eq(0), jo.eq(0), ybase.eq(0)]
                m.d.sync += [logits[c].eq(0) for c in range(C)]
                m.d.comb += try_.clear.eq(1)
                m.next = "YFWD"
            with m.State("YFWD"):
                with m.If(j_ky):
                    m.d.comb += [by.iv.eq(1), by.iaddr.eq(a), by.itag.w.eq(w), by.itag.fwd.eq(1),
                                 by.itag.first.eq(w == 0), by.itag.last.eq(w == ws - 1)]
                    m.d.sync += a.eq(a + 1)
                    with m.If(w == ws - 1):
                        m.d.sync += [w.eq(0), *set_j(j + 1)]
                    with m.Else():
                        m.d.sync += w.eq(w + 1)
                with m.Elif((jo == ky) & ~d1v):
                    m.next = "DECIDE"
            with m.State("DECIDE"):
                m.d.comb += dec.start.eq(1)
                m.next = "DECIDING"
            with m.State("DECIDING"):
                with m.If(dec.done):
                    m.d.sync += [pred.eq(dec.pred), samples.eq(samples + 1), errors.eq(errors + (dec.pred != yreg))]
                    with m.If(dec.active):
                        m.next = "BPYPREP"
                    with m.Else():
                        m.next = "FIN"

            # --- backward: s*_T through H_sy, then the output rows' update ---
            with m.State("BPYPREP"):
                m.d.sync += [*set_j(0), w.eq(0), a.eq(0), bp_from_s.eq(0)]
                m.d.comb += bpr.clear.eq(1)
                m.next = "BPY"
            with m.State("BPY"):
                with m.If(j_ky):
                    m.d.comb += [by.iv.eq(1), by.iaddr.eq(a), by.itag.w.eq(w), by.itag.bp.eq(1), by.itag.row.eq(j)]
                    m.d.sync += a.eq(a + 1)
                    with m.If(w == ws - 1):
                        m.d.sync += [w.eq(0), *set_j(j + 1)]
                    with m.Else():
                        m.d.sync += w.eq(w + 1)
                with m.Elif(~by.busy):
                    m.d.sync += d_write(T - 1)
                    # (the list's read address is 0 outside UY: rd_data holds entry 0)
                    m.d.sync += [ui.eq(0), ui1.eq(1), ui_left.eq(try_.count != 0), w.eq(0), *load_uy()]
                    if ws == 1:
                        m.d.comb += try_.rd_addr.eq(1)
                    m.next = "UY"
            with m.State("UY"):
                # the word address and step from registers: the list's read with ``base + w`` added in front
                # of the address copies was the 84.00 MHz path (255,255 at 2bc4338)
                # (the list's read address does not wait for ui < count: see the folded trainer's UPD)
                m.d.comb += try_.rd_addr.eq(uy_ahead)
                with m.If(ui_left):
                    m.d.comb += [by.iv.eq(1), by.iwr.eq(1), by.iacc.eq(MB), by.iaddr.eq(a),
                                 by.itag.w.eq(w), by.itag.t.eq(uy_t)]
                    with m.If(w == ws - 1):
                        m.d.sync += [w.eq(0), ui.eq(ui1), ui1.eq(ui1 + 1), ui_left.eq(ui1 < try_.count), *load_uy()]
                    with m.Else():
                        m.d.sync += [w.eq(w + 1), a.eq(a + 1)]
                with m.Elif(~by.busy):
                    m.d.sync += [updates.eq(updates + try_.count), tb.eq(T - 1), zb.eq((T - 1) * ks)]
                    m.next = "BPSPREP"

            # --- backward through time: s*_{t-1} = sign(W_ss^T (g_t * s*_t)), t = T..2 ---
            with m.State("BPSPREP"):
                # (ua_t for the mask pass: nothing reads the LUT RAMs during the back-projection)
                m.d.sync += [*set_j(0), w.eq(0), a.eq(wx), bp_from_s.eq(1), zr.eq(zb),
                             *set_t(0 if cfg.tt_mask == "sum" else T - 1)]
                m.d.comb += bpr.clear.eq(1)
                with m.If(tb == 0):
                    m.d.sync += [*set_j(0), mtm.eq(0 if cfg.tt_mask == "sum" else T - 1), mask_phase.eq(1),
                                 maddr.eq(0 if cfg.tt_mask == "sum" else (T - 1) * ks)]
                    m.d.comb += trs.clear.eq(1)
                    m.next = "MASK"
                with m.Else():
                    m.next = "BPS"
            with m.State("BPS"):
                with m.If(j_ks):
                    m.d.comb += [bs.iv.eq(1), bs.iaddr.eq(a), bs.itag.w.eq(wx + w), bs.itag.bp.eq(1),
                                 bs.itag.row.eq(j)]
                    with m.If(w == ws - 1):
                        m.d.sync += [w.eq(0), *set_j(j + 1), a.eq(a + wx + 1), zr.eq(zr + 1)]
                    with m.Else():
                        m.d.sync += [w.eq(w + 1), a.eq(a + 1)]
                with m.Elif(~bs.busy):
                    m.d.sync += d_write(tb - 1)
                    m.d.sync += [tb.eq(tb - 1), zb.eq(zb - ks)]
                    m.next = "BPSPREP"

            # --- the state mask, shared by every time step ---
            with m.State("MASK"):
                with m.If(j_ks):
                    m.d.comb += [mv.eq(1), mj.eq(j)]
                    if cfg.tt_mask == "sum":
                        # (ua_t steps with m0_t here, so ua_last is "m0_t is the last step", a register: the
                        # compare selected the LUT RAMs' read-address copies, 17 late endpoints at 24c6769)
                        m.d.comb += [mfirst.eq(mtm == 0), mlast.eq(ua_last)]
                        m.d.sync += step_t()
                        with m.If(ua_last):
                            m.d.sync += [mtm.eq(0), *set_j(j + 1), maddr.eq(j + 1)]
                        with m.Else():
                            m.d.sync += [mtm.eq(mtm + 1), maddr.eq(maddr + ks)]
                    else:
                        m.d.comb += [mfirst.eq(1), mlast.eq(1)]
                        m.d.sync += [*set_j(j + 1), maddr.eq(maddr + 1)]
                with m.Else():
                    # (the last term's row is in d_row already: ua_t is free while the pass drains)
                    m.d.sync += set_t(0)
                    with m.If(~m1["v"] & ~mb["v"] & ~m2["v"] & ~m3v):
                        # (the tracker's count is final: its last entry came in a clock ago at the latest)
                        m.d.sync += [mask_phase.eq(0), ui.eq(0), ui1.eq(1), ui_left.eq(trs.count != 0), w.eq(0)]
                        m.next = "US"

            # --- state rows: per winner, per word, T terms, then the word's +-2*sum write-back ---
            with m.State("US"):
                e = trs.rd_data
                m.d.comb += trs.rd_addr.eq(Mux(ua_last & (w == W - 1), ui1, ui))
                with m.If(ui_left):
                    m.d.comb += [ua_v.eq(1), ua_w.eq(w), ua_row.eq(e.row)]
                    m.d.sync += step_t()
                    with m.If(ua_last):
                        with m.If(w == W - 1):
                            m.d.sync += [w.eq(0), ui.eq(ui1), ui1.eq(ui1 + 1), ui_left.eq(ui1 < trs.count)]
                        with m.Else():
                            m.d.sync += w.eq(w + 1)
                with m.Elif(~ar["v"] & ~a1["v"] & ~a1b["v"][0] & ~a2v & ~bs.busy):
                    m.d.sync += updates.eq(updates + trs.count)
                    m.next = "FIN"

            # --- end of the step: reinforcement when due, then the prediction goes out ---
            if MB:
                with m.State("FIN"):                       # the batch's last sequence: the apply sweep
                    with m.If(in_batch == cfg.batch - 1):
                        m.d.sync += [in_batch.eq(0), a.eq(0), apply_acc.eq(1)]
                        m.next = "APS"
                    with m.Else():
                        m.d.sync += in_batch.eq(in_batch + 1)
                        respond("pred")
                # the apply sweep, bank S then bank Y, in address order, each word twice: its accumulator
                # word, then the word itself (RowBank keeps the first for the second)
                for name, bank, n_words, then in (("APS", bs, ks * W, "APY"), ("APY", by, ky * ws, "STEP")):
                    with m.State(name):
                        with m.If(a < n_words):
                            m.d.comb += [bank.iv.eq(1), bank.iwr.eq(1), bank.iap.eq(1), bank.iacc.eq(apply_acc),
                                         bank.iaddr.eq(a)]
                            m.d.sync += apply_acc.eq(~apply_acc)
                            with m.If(~apply_acc):
                                m.d.sync += a.eq(a + 1)
                        with m.Elif(~bank.busy):
                            m.d.sync += [a.eq(0), apply_acc.eq(1)]
                            m.next = then
            with m.State("STEP" if MB else "FIN"):
                with m.If(due):
                    m.d.sync += [stepcnt.eq(0), *set_j(0), w.eq(0), a.eq(0)]
                    m.next = "RFS"
                with m.Else():
                    m.d.sync += stepcnt.eq(stepcnt + 1)
                    respond("pred")
            with m.State("RFS"):
                with m.If(a < ks * W):
                    m.d.comb += [bs.iv.eq(1), bs.iwr.eq(1), bs.irf.eq(1), bs.iaddr.eq(a), bs.itag.w.eq(w)]
                    m.d.sync += [a.eq(a + 1), w.eq(Mux(w == W - 1, 0, w + 1))]
                with m.Elif(~bs.busy):
                    m.d.sync += [a.eq(0), w.eq(0)]
                    m.next = "RFY"
            with m.State("RFY"):
                with m.If(a < ky * ws):
                    m.d.comb += [by.iv.eq(1), by.iwr.eq(1), by.irf.eq(1), by.iaddr.eq(a), by.itag.w.eq(w)]
                    m.d.sync += [a.eq(a + 1), w.eq(Mux(w == ws - 1, 0, w + 1))]
                with m.Elif(~by.busy):
                    respond("pred")

            # --- registers ---
            with m.State("RX_REG"):
                m.d.comb += cmd.ready.eq(1)
                with m.If(cmd.valid):
                    m.d.sync += [reg_in.eq(Cat(reg_in[WORD:], cmd.payload)), cnt.eq(cnt + 1)]
                    with m.If(cnt == 1):
                        m.next = "SET_REG"
            with m.State("SET_REG"):
                # the register is written a clock after its last word, from the word buffer: its
                # enable is the state and sel_arg's decode, not the handshake (255,255 at 355f1da: the
                # decode with cmd.valid into reg_reinforce0's enable was the 63.09 MHz critical path)
                value = reg_in
                with m.Switch(sel_arg):
                    with m.Case(REG_MARGIN):
                        m.d.sync += margin.eq(value)
                    for l in range(2):
                        with m.Case(REG_GATE + l):
                            m.d.sync += gate[l].eq(value)
                        with m.Case(REG_GAMMA + l):
                            m.d.sync += gamma[l].eq(value)
                    for i in range(3):
                        with m.Case(REG_REINFORCE + i):
                            m.d.sync += thr[i].eq(value)
                    with m.Case(REG_EVERY):
                        m.d.sync += every.eq(value)
                respond("zero")
            with m.State("READ_REG"):
                # the register's value is picked into reg_in, and the word buffer loads it a clock later:
                # sel_arg's multiplexer in front of the buffer was the 85.55 MHz path at 7df52a3; an AND-OR
                # of the values at read_sel (one bit per register, decoded with the header) replaces the
                # Switch's multiplexer chain (8 late endpoints at 11.18 ns at 4d95f65); no match reads 0
                m.d.sync += reg_in.eq(reduce(operator.or_, [Mux(read_sel[i], v, 0)
                                                            for i, v in enumerate(readable.values())]))
                m.next = "READ_REG_OUT"
            with m.State("READ_REG_OUT"):
                respond("register", 2)

            # --- rows: matrix (layer field) 0 = H_xs, 1 = H_ss, 2 = H_sy; one memory word at a time, at ``a``
            # (the banks' default issue address: a row address of its own was one more input, with its state
            # decode, of the multiplexer in front of bank S's address copies, the 86.46 MHz path at 677f2cb) ---
            with m.State("ROW_LOC"):
                rbits = max(ks, ky).bit_length()
                r = sel_arg[:rbits]
                with m.Switch(sel_layer):
                    with m.Case(0):
                        m.d.sync += [a.eq(r * W), row_n.eq(wx)]
                    with m.Case(1):
                        m.d.sync += [a.eq(r * W + wx), row_n.eq(ws)]
                    with m.Default():
                        m.d.sync += [a.eq(r * ws), row_n.eq(ws)]
                m.d.sync += row_w.eq(0)
                m.next = "RD_ROW"
            with m.State("RD_ROW"):
                with m.If(sel_layer == 2):
                    m.d.comb += [by.iv.eq(1), by.itag.rd.eq(1)]
                with m.Else():
                    m.d.comb += [bs.iv.eq(1), bs.itag.rd.eq(1)]
                m.next = "RD_WAIT"
            with m.State("RD_WAIT"):
                # the row word reaches S2 of its bank: flags registered at S1 (the tag's decode with the
                # state into the 512-bit buffer's enable was ~420 late endpoints at 255,255)
                # (the buffer takes the row below the FSM, on row_at_s2 alone: it rises only here)
                with m.If(row_at_s2[0]):
                    m.d.sync += [tx_left.eq(P["resp_words"]), tx_one.eq(P["resp_words"] == 1), row_w.eq(row_w + 1),
                                 a.eq(a + 1)]
                    goto_tx()

            with m.State("RESP"):
                m.d.sync += rbuf[:2 * WORD].eq(Mux(resp_src[1], reg_in, Mux(resp_src[0], pred, 0)))
                goto_tx()
            with m.State("TX"):
                m.d.comb += tx.valid.eq(1)
                with m.If(tx.ready):
                    m.d.sync += [tx_left.eq(tx_left - 1), tx_one.eq(tx_left == 2)]
                    with m.If(tx_one):
                        m.d.sync += in_tx.eq(0)
                        with m.If((op == OP_READ_ROW) & (row_w != row_n)):
                            m.next = "RD_ROW"
                        with m.Else():
                            m.next = "IDLE"

        # the word buffer's two wide loads, on registers only, each 32-bit word on its own copies
        rwords = [rbuf[k * WORD:(k + 1) * WORD] for k in range(rw)]
        rows = [Cat(r.as_value(), Const(0, rw * WORD - len(r.as_value()))) for r in (by.row, bs.row)]
        for k in range(rw):
            with m.If(in_tx[k] & tx.ready):
                m.d.sync += rwords[k].eq(rwords[k + 1] if k + 1 < rw else 0)
            with m.If(row_at_s2[k]):
                m.d.sync += rwords[k].eq(Mux(row_from_y[k], rows[0], rows[1])[k * WORD:(k + 1) * WORD])

        # A2: issue the finished word of a state-row update (the sequencer is in US, which never issues)
        with m.If(a2v):
            m.d.comb += [bs.iv.eq(1), bs.iwr.eq(1), bs.iacc.eq(MB), bs.iaddr.eq(a2addr), bs.itag.w.eq(a2w)]
            m.d.sync += [dl0[j].eq(tsum.delta[j]) for j in range(S)]
        return m
