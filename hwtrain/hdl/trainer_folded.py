"""Folded on-chip online trainer (CP+R): PE neurons x SIMD inputs per clock, 32-bit command stream.

``FoldedTrainer(cfg)`` is the hardware twin of :class:`hwtrain.golden.trainer.OnlineTrainer`
for a :class:`hwtrain.golden.trainer_folded.FoldedTrainConfig`. Memory layout,
pipeline, protocol and the cycle formula are in docs/trainer_folded.md; the
rules are those of docs/semantics_training.md.

Units (each a ``wiring.Component``): :class:`StepUnit` (saturating +-2 on one
word), :class:`LaneRing` (the reinforcement PRNG lanes), :class:`ForwardLane`
(XNOR/popcount and accumulation of one PE lane), :class:`WinnerTracker`
(easiest wrong neuron per group, with the winner list) and
:class:`DecisionUnit` (argmax, margin and update criterion, one class per
clock). :class:`FoldedTrainer` holds the row memories and the sequencer.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..core import prng
from ..golden.trainer_folded import (ARG_BITS, COUNTER_BITS, LAYER_BITS, PARAM_BITS, WORD,
                                     FoldedGolden, FoldedTrainConfig, plan)
from .argmax import tournament, tournament_registers
from .fanout import Copies, SlicedMemory
from .popcount import popcount
from .prng import xorshift32_step
from .saturate import saturating_step2, within_gate

from ..protocol.trainer_folded import (HEADER, OP_FLUSH, OP_READ_REG, OP_READ_ROW, OP_TRAIN, OP_WRITE_REG,
                                       OP_WRITE_ROW, REG_ERRORS, REG_EVERY, REG_GAMMA, REG_GATE, REG_MARGIN,
                                       REG_PENDING, REG_REINFORCE, REG_SAMPLES, REG_UPDATES)


def word_layout(cfg: FoldedTrainConfig, l: int) -> data.ArrayLayout:
    """One hidden-weight memory word of layer ``l``: SIMD signed B-bit weights."""
    return data.ArrayLayout(signed(cfg.hidden_bits), cfg.simd[l])


# Memory placement (yosys attributes). Every read port of the engine is followed by a register, and
# no word is ever read in the clock it is written (the sequencer's sweeps guarantee it: a word is read
# once per sweep and written 3 clocks later, and reads of a memory start only after its last write),
# so the read/write collision logic yosys would otherwise add in front of those registers is dropped
# (no_rw_check). The hidden weights go to block RAM; the small tables (winner list, classifier columns,
# pre-activations) to LUT RAM and the constant ones (classifier columns, targets) to LUTs, whose output is ready early in the clock: a DP16KD's output
# takes ~5.8 ns on an ECP5, too late for any logic before the next register at 100 MHz.
ROWS = {"ram_style": "block", "no_rw_check": 1}
TABLE = {"ram_style": "distributed", "no_rw_check": 1}
ROM = {"ram_style": "logic"}       # constant tables (classifier columns, targets) as LUT logic


# --- units -------------------------------------------------------------------------

# Online lanes whose words are at least this wide step with saturating_step2's two-chain form (twice
# the cells; the wide first layer's step unit was the 784-input engines' critical path at 98-100 MHz,
# then the 216-bit second layer's the CP+R engine's at 99.65 MHz). Narrower lanes (the tests' small
# shapes) keep the one-chain form.
PARALLEL_STEP_BITS = 128


class StepUnit(wiring.Component):
    """Saturating +-2 step of every element of one word (combinational).

    ``en[j]`` and ``up[j]`` per element: ``h + 2`` when up, ``h - 2`` when down,
    unchanged at the bound ``+-(2^(B-1) - 1)`` (odd, so odd weights stay odd).
    ``parallel``: :func:`~hwtrain.hdl.saturate.saturating_step2`'s two-chain form.
    Golden twin: ``rules.apply_update`` / ``rules.reinforce`` (``bits.saturate``).
    """

    def __init__(self, simd: int, bits: int, parallel: bool = False):
        self.bits, self.parallel = bits, parallel
        layout = data.ArrayLayout(signed(bits), simd)
        super().__init__({"h": In(layout), "up": In(simd), "en": In(simd), "out": Out(layout)})

    def elaborate(self, platform):
        m = Module()
        for j in range(len(self.up)):
            m.d.comb += self.out[j].eq(saturating_step2(m, self.h[j], self.en[j], self.up[j], name=f"h{j}",
                                                        parallel=self.parallel))
        return m


class AccumulateUnit(wiring.Component):
    """Mini-batch accumulators of one word (combinational): ``acc + 1`` where ``en & up``,
    ``acc - 1`` where ``en & ~up``. No bound: a batch of at most ``2^(B-1) - 1`` samples
    (plan() checks) cannot leave the B-bit range. Golden twin: ``OnlineTrainer.acc``.
    """

    def __init__(self, simd: int, bits: int):
        layout = data.ArrayLayout(signed(bits), simd)
        super().__init__({"acc": In(layout), "up": In(simd), "en": In(simd), "out": Out(layout)})

    def elaborate(self, platform):
        m = Module()
        for j in range(len(self.up)):
            m.d.comb += self.out[j].eq(self.acc[j] + Mux(self.en[j], Mux(self.up[j], 1, -1), 0))
        return m


class ApplyUnit(wiring.Component):
    """The end of a mini-batch for one word (combinational): ``sat(h + 2 acc)`` per element,
    bounded by ``+-(2^(B-1) - 1)``. Golden twin: ``OnlineTrainer.flush`` (``bits.sat_bounds``)."""

    def __init__(self, simd: int, bits: int):
        self.bits = bits
        layout = data.ArrayLayout(signed(bits), simd)
        super().__init__({"h": In(layout), "acc": In(layout), "out": Out(layout)})

    def elaborate(self, platform):
        m = Module()
        hi = (1 << (self.bits - 1)) - 1
        for j in range(len(self.h)):
            v = Signal(signed(self.bits + 2), name=f"sum{j}")
            m.d.comb += v.eq(self.h[j] + (self.acc[j] << 1))
            m.d.comb += self.out[j].eq(Mux(v > hi, hi, Mux(v < -hi, -hi, v)))
        return m


class LaneRing(wiring.Component):
    """The reinforcement PRNG lanes of one layer: W words of SIMD xorshift32 lanes as a ring.

    Lane j (= input column j) holds its next draw. The head (a register) is the
    word at S1 of the sweep; the unit registers, for the next clock (S2), the
    events ``draw < thr`` of the PE rows of its group (``events[p]``, SIMD bits:
    draw p of each lane). ``rotate`` (the S1 word is a forward read of a pending
    sweep) moves the head to the tail, advanced by the group's rows: PE, or the
    last group's count when ``last``. Every path starts at a register (no
    multiplexer before the xorshift chain). The ring is back at word 0 after
    every whole sweep. Golden twin: ``prng.Xorshift32.draws`` (lane j, draw t -> row t).

    The other W - 1 words wait in LUT RAM, a queue read asynchronously at slot
    ``at`` (the next head) and written at the same slot with the advanced head as
    the head leaves it: only the head's SIMD x 32 flip-flops and the RAM's write
    enables hang on ``rotate`` (as W x SIMD x 32 registers, 784 inputs made it the
    clock enable of 25,088 flip-flops spread over the die).
    """

    def __init__(self, words: int, simd: int, pe: int, last_group: int, init, slices: list[range] | None = None):
        self.words, self.simd, self.pe, self.last_group = words, simd, pe, last_group
        self.init = init                              # words x simd lane states
        # lanes in groups (the row memory's column slices), each with its own rotate (a copy of one
        # register, given by the caller) and its own queue slice and slot register: ``rotate`` was the
        # enable of the 3,584 head flip-flops of a 112-lane ring (784-135-135), one net across the die
        self.slices = slices or [range(simd)]
        # thr in a copy per group too: one 33-bit register into the compare of every lane was
        # (784-135-135 PE 2 at 1b48618) the second-latest endpoint, 12.84 ns
        super().__init__({"rotate": In(len(self.slices)), "last": In(1),
                          "thr": In(data.ArrayLayout(33, len(self.slices))),
                          "events": Out(data.ArrayLayout(simd, pe))})

    def elaborate(self, platform):
        m = Module()
        W, S, PE = self.words, self.simd, self.pe
        lanes = data.ArrayLayout(32, S)
        head = Signal(lanes, init=list(self.init[0]), name="head")
        # chain[i][j] = step^i(lane j): draws of rows 0..PE-1 of the group, then the advanced state.
        chain = [[head[j] for j in range(S)]]
        for i in range(1, PE + 1):
            row = []
            for j in range(S):
                st = Signal(32, name=f"chain{i}_{j}")
                m.d.comb += st.eq(xorshift32_step(chain[-1][j]))
                row.append(st)
            chain.append(row)
        group = {j: g for g, cols in enumerate(self.slices) for j in cols}
        for p in range(PE):
            m.d.sync += self.events[p].eq(Cat(chain[p][j] < self.thr[group[j]] for j in range(S)))
        tail = Signal(lanes, name="tail")
        m.d.comb += [tail[j].eq(Mux(self.last, chain[self.last_group][j], chain[PE][j])) for j in range(S)]
        if W == 1:
            for g, cols in enumerate(self.slices):
                with m.If(self.rotate[g]):
                    m.d.sync += [head[j].eq(tail[j]) for j in cols]
            return m
        n = len(self.slices)
        queue = SlicedMemory(unsigned(32), S, W - 1, [list(self.init[w]) for w in range(1, W)],
                             attrs={"ram_style": "distributed"}, slices=self.slices, read_domain="comb")
        m.submodules.queue = queue
        # the slot in two sets of copies, one for the read and one for the write address: one flip-flop
        # on both a LUT RAM's asynchronous read address and its write address comes out of yosys
        # driving its net twice (nextpnr: "multiply driven") when it is a kept copy
        at_r, at_w = Copies(range(W - 1), n, name="read_slot"), Copies(range(W - 1), n, name="write_slot")
        m.d.comb += [*at_r.drive(queue.raddr), *at_w.drive(queue.waddr), queue.wen.eq(self.rotate),
                     queue.wdata.eq(tail)]
        for g, cols in enumerate(self.slices):
            with m.If(self.rotate[g]):
                m.d.sync += [head[j].eq(queue.rdata[j]) for j in cols]
                m.d.sync += [at[g].eq(Mux(at[g] == W - 2, 0, at[g] + 1)) for at in (at_r, at_w)]
        return m


class BackProjectionRing(wiring.Component):
    """BEP back-projection ``W^T (g * a*)`` into a layer's F input columns, W words of SIMD sums as a ring.

    Each clock of a back-projection sweep (``rotate``) the head word (the word
    at S2) adds, per column j, the PE terms ``en_p ? (vis_pj == t_p ? +1 : -1) : 0``
    and moves to the tail; after the NG*W words of a sweep the ring is back at
    word 0. ``clear`` zeroes it. ``sums`` shows every column's sum.
    Golden twin: ``rules.backproject`` (sign taken by the caller, sign(0) = +1).

    ``rotate`` has a bit per group of two columns (:attr:`groups`), all equal, each the
    clock enable of its columns' counters only: the caller drives them from copies of one
    register (one enable net into all W x SIMD counters of the 255,255 BEP-TT engine made
    1,735 of its 4,409 late endpoints). ``clear`` takes effect a clock later, from a register
    per group for the same reason (the caller's clear is a state decode): no ``rotate`` may
    come in the clock after it.
    """

    def __init__(self, words: int, simd: int, pe: int, bits: int):
        self.words, self.simd, self.pe, self.bits = words, simd, pe, bits
        # (groups of 8 columns: each clear copy still drove ~576 flip-flops, 1,300 late endpoints at 255,255)
        self.groups = -(-simd // 2)
        super().__init__({"rotate": In(self.groups), "clear": In(1), "vis": In(data.ArrayLayout(simd, pe)),
                          "t": In(pe), "en": In(pe),
                          "sums": Out(data.ArrayLayout(signed(bits), words * simd))})

    def elaborate(self, platform):
        m = Module()
        W, S, PE = self.words, self.simd, self.pe
        word = data.ArrayLayout(signed(self.bits), S)
        ring = [Signal(word, name=f"ring{w}") for w in range(W)]
        for w in range(W):
            for j in range(S):
                m.d.comb += self.sums[w * S + j].eq(ring[w][j])
        clear = Copies(1, self.groups, name="clear")
        m.d.sync += clear.eq(self.clear)
        for j in range(S):
            g = j * self.groups // S
            with m.If(self.rotate[g]):
                for w in range(W - 1):
                    m.d.sync += ring[w][j].eq(ring[w + 1][j])
                terms = [Mux(self.en[p], Mux(self.vis[p][j] == self.t[p], 1, -1), 0) for p in range(PE)]
                total = terms[0]
                for tm in terms[1:]:
                    total = total + tm
                m.d.sync += ring[W - 1][j].eq(ring[0][j] + total)
            with m.If(clear[g]):
                m.d.sync += [ring[w][j].eq(0) for w in range(W)]
        return m


class ForwardLane(wiring.Component):
    """XNOR/popcount of one PE lane, accumulated over a neuron's W words.

    ``word`` and ``x`` are registered by the caller (S2). The popcount has one
    internal register (S3: a Dadda stage boundary, or with ``slices`` the count of each
    column slice) and a registered count (S4); on the last word the
    pre-activation ``z = 2 * count - F`` is registered (S5, ``z_valid`` high
    for one clock). ``extra`` registers more inside the popcount (wide SIMD words) move
    S4 and S5 as many clocks later. Golden twin: ``rules.pm1_matmul``.
    """

    def __init__(self, simd: int, bits: int, fan_in: int, slices: list[range] | None = None,
                 extra: int = 0):
        self.simd, self.bits, self.fan_in, self.extra = simd, bits, fan_in, extra
        self.slices = slices if slices and len(slices) > 1 else None
        self.zbits = max(fan_in, 1).bit_length() + 1
        self.latency = 3 + extra           # clocks from word/x (S2) to z (S5 + extra)
        super().__init__({"word": In(data.ArrayLayout(signed(bits), simd)), "x": In(simd),
                          "mask": In(simd), "valid": In(1), "first": In(1), "last": In(1),
                          "z": Out(signed(self.zbits)), "z_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        S = self.simd
        vis = Signal(S, name="visible")               # sign(h) = ~MSB (h is odd, never 0)
        m.d.comb += vis.eq(Cat(~self.word[j][self.bits - 1] for j in range(S)))
        agree = Signal(S, name="agree")
        m.d.comb += agree.eq(~(vis ^ self.x) & self.mask)
        if self.slices is None:
            pc = popcount(m, agree, structure="compressor", stages=1 + self.extra, en=Const(1), name="pc")
        else:
            # One count per column slice of the row memory, registered (S3) where that slice's
            # block RAMs are, then their sum: a few count bits cross the die, not the row's signs.
            parts = []
            for i, cols in enumerate(self.slices):
                part = popcount(m, agree[cols.start:cols.stop], structure="compressor", stages=self.extra,
                                en=Const(1), name=f"pc_slice{i}")
                q = Signal.like(part, name=f"count_slice{i}")
                m.d.sync += q.eq(part)
                parts.append(q)
            pc = Signal(range(S + 1), name="pc_sum")
            m.d.comb += pc.eq(sum(parts))
        pcq = Signal(range(S + 1), name="count")
        m.d.sync += pcq.eq(pc)
        # tags follow the popcount's registers to the count register (S4 + extra)
        t4 = Cat(self.valid, self.first, self.last)
        for i in range(self.latency - 1):
            q = Signal(3, name=f"tags{3 + i}")
            m.d.sync += q.eq(t4)
            t4 = q
        acc = Signal(range(self.fan_in + 1), name="acc")
        nacc = Signal(range(self.fan_in + 1), name="acc_next")
        m.d.comb += nacc.eq(Mux(t4[1], 0, acc) + pcq)
        m.d.sync += self.z_valid.eq(0)
        with m.If(t4[0]):
            m.d.sync += acc.eq(nacc)
            with m.If(t4[2]):
                m.d.sync += [self.z.eq(nacc * 2 - self.fan_in), self.z_valid.eq(1)]
        return m


def registered_list_write(m: Module, wr, count: Signal, entry) -> Signal:
    """A winner list's write port driven from registers: address ``count`` and ``entry`` of this clock,
    written next clock when the returned enable is set (``m.d.sync += en.eq(1)``): the trackers' compares
    reach no LUT-RAM cell's data, address or enable (784-135-135 PE 2 at 1b48618: the 13.17 ns critical
    path and ~330 late endpoints)."""
    wa = Signal.like(count, name="write_addr")
    wd = Signal(wr.data.shape(), name="write_entry")
    we = Signal(name="write_en")
    m.d.comb += [wr.addr.eq(wa), wr.data.eq(wd), wr.en.eq(we)]
    m.d.sync += [we.eq(0), wa.eq(count), wd.eq(entry)]
    return we


def entry_layout(addr_bits: int, lane_bits: int) -> data.StructLayout:
    """A winner-list entry: first word address of the row, PE lane, target."""
    return data.StructLayout({"base": addr_bits, "lane": lane_bits, "t": 1})


class WinnerTracker(wiring.Component):
    """Easiest wrong neuron per group of ``gamma`` (a register), one neuron per clock, and the winner list.

    A neuron is wrong when ``(z >= 0) != t``; its stability is ``t ? z : -z``
    (both computed by the caller, one register earlier); a wrong neuron replaces the group's best only with a strictly larger
    stability, so the lowest index wins ties. At a group's last neuron the
    winner (if any) is counted, and appended to the list the next clock. Golden twin: ``rules.easiest_wrong``.

    ``read_through``: the list's read port returns an entry written in the same clock (for a caller
    that reads the first entry as the last one is written; it costs an address compare before the
    read register).
    """

    def __init__(self, neurons: int, zbits: int, entry: data.StructLayout, read_through: bool = False):
        self.neurons, self.read_through = neurons, read_through
        super().__init__({"clear": In(1), "valid": In(1), "stab": In(signed(zbits + 1)), "wrong": In(1),
                          "entry": In(entry), "gamma": In(PARAM_BITS),
                          "count": Out(range(neurons + 1)),
                          "rd_addr": In(range(max(neurons, 2))), "rd_data": Out(entry)})
        self.zbits = zbits

    def elaborate(self, platform):
        m = Module()
        n = self.neurons
        # (a transparent read port is a declared read/write collision: yosys refuses no_rw_check on it)
        mem = Memory(shape=self.entry.shape(), depth=n, init=[],
                     attrs={"ram_style": "distributed"} if self.read_through else TABLE)
        m.submodules.list = mem
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=(wr,) if self.read_through else ())
        m.d.comb += [rd.addr.eq(self.rd_addr), self.rd_data.eq(rd.data)]
        gc = Signal(PARAM_BITS, name="in_group")
        # "this neuron closes its group" in a register beside the group counter, not a compare of
        # gc with gamma - 1 in front of every best-entry enable and the list's write enable
        closes = Signal(name="closes_group")
        bv = Signal(name="best_valid")
        bs = Signal(signed(self.zbits + 1), name="best_stability")
        be = Signal.like(self.entry, name="best_entry")
        take = Signal()
        stab = self.stab
        m.d.comb += take.eq(self.wrong & (~bv | (stab > bs)))
        # the list is written a clock after the group closes: an entry is in it the clock after
        # ``count`` counts it
        we = registered_list_write(m, wr, self.count, Mux(take, self.entry, be))
        with m.If(self.valid):
            with m.If(closes):
                # take | bv, written without the stability compare (take needs wrong): the compare's carry
                # chain into count's enable was 8 late endpoints of tracker_y.count (255,255 at d4fed19)
                with m.If(self.wrong | bv):
                    m.d.sync += [we.eq(1), self.count.eq(self.count + 1)]
                m.d.sync += [gc.eq(0), bv.eq(0), closes.eq(self.gamma == 1)]
            with m.Else():
                m.d.sync += [gc.eq(gc + 1), closes.eq(gc + 2 == self.gamma)]
                with m.If(take):
                    m.d.sync += [bv.eq(1), bs.eq(stab), be.eq(self.entry)]
        with m.If(self.clear):
            m.d.sync += [self.count.eq(0), gc.eq(0), bv.eq(0), closes.eq(self.gamma == 1)]
        return m


class ChunkTracker(wiring.Component):
    """:class:`WinnerTracker` for up to ``lanes`` consecutive neurons per clock (the ``n`` first lanes of a
    chunk), for group sizes ``gamma >= n``, so that at most one group closes per chunk.

    Four registered steps: (A) each lane's stability, wrongness and side of the chunk's group boundary
    (lanes before it close the open group); (B, two clocks) the first-maximum wrong lane on each side
    (lowest lane on ties); (C) the open group's best takes the closing side's only with a strictly
    larger stability (it holds lower indices), the group's winner goes to the list, and the other
    side opens the next group.
    ``busy`` while a chunk is inside. Golden twin: ``rules.easiest_wrong``.
    """

    def __init__(self, neurons: int, lanes: int, zbits: int, entry: data.StructLayout):
        self.neurons, self.lanes, self.zbits, self.entry_layout = neurons, lanes, zbits, entry
        super().__init__({"clear": In(1), "valid": In(1), "n": In(range(lanes + 1)),
                          "stab": In(data.ArrayLayout(signed(zbits + 1), lanes)), "wrong": In(lanes),
                          "entry": In(data.ArrayLayout(entry, lanes)), "gamma": In(PARAM_BITS),
                          "busy": Out(1), "count": Out(range(neurons + 1)),
                          "rd_addr": In(range(max(neurons, 2))), "rd_data": Out(entry)})

    def elaborate(self, platform):
        m = Module()
        n_l, zb, ent = self.lanes, self.zbits, self.entry_layout
        mem = Memory(shape=ent, depth=self.neurons, init=[], attrs=TABLE)
        m.submodules.list = mem
        wr, rd = mem.write_port(), mem.read_port()
        m.d.comb += [rd.addr.eq(self.rd_addr), self.rd_data.eq(rd.data)]
        cand = data.StructLayout({"v": 1, "stab": signed(zb + 1), "entry": ent})

        # A: position of lane 0 in its group; the chunk closes the group when it reaches gamma
        pos = Signal(PARAM_BITS, name="position")
        reach = Signal(PARAM_BITS + 1, name="reach")
        m.d.comb += reach.eq(pos + self.n)
        a_v, a_close = Signal(name="a_valid"), Signal(name="a_closes")
        a_pre = [Signal(cand, name=f"a_closing{p}") for p in range(n_l)]
        a_post = [Signal(cand, name=f"a_opening{p}") for p in range(n_l)]
        m.d.sync += a_v.eq(self.valid)
        with m.If(self.valid):
            closes = reach >= self.gamma
            m.d.sync += [a_close.eq(closes), pos.eq(Mux(closes, reach - self.gamma, reach))]
            for p in range(n_l):
                ok = self.wrong[p] & (p < self.n)
                before = closes & (pos + p < self.gamma)
                m.d.sync += [a_pre[p].v.eq(ok & before), a_post[p].v.eq(ok & ~before)]
                for c in (a_pre[p], a_post[p]):
                    m.d.sync += [c.stab.eq(self.stab[p]), c.entry.eq(self.entry[p])]

        # B: the first maximum on each side, in two clocks: the first round's stability compares
        # (one per lane pair, both sides share the lanes' stabilities) registered beside a copy of the
        # candidates, then the picks (a compare's carry chain into the multiplexers that pick the
        # ~30-bit candidates was the BEP 784 engine's 99.55 MHz critical path)
        a2_v, a2_close = Signal(name="a2_valid"), Signal(name="a2_closes")
        a2_pre = [Signal(cand, name=f"a2_closing{p}") for p in range(n_l)]
        a2_post = [Signal(cand, name=f"a2_opening{p}") for p in range(n_l)]
        gt = Signal(n_l // 2, name="a2_pair_greater")        # lane 2i + 1's stability > lane 2i's
        m.d.sync += [a2_v.eq(a_v), a2_close.eq(a_close), gt.eq(Cat(a_pre[2 * i + 1].stab > a_pre[2 * i].stab
                                                                   for i in range(n_l // 2)))]
        m.d.sync += [x.eq(y) for x, y in zip(a2_pre + a2_post, a_pre + a_post)]

        def first_max(cs):
            first = True
            while len(cs) > 1:
                nxt = []
                for i in range(0, len(cs) - 1, 2):
                    a, b = cs[i], cs[i + 1]
                    w = Signal(cand)
                    m.d.comb += w.eq(Mux(b.v & (~a.v | (gt[i // 2] if first else b.stab > a.stab)), b, a))
                    nxt.append(w)
                cs, first = nxt + ([cs[-1]] if len(cs) % 2 else []), False
            return cs[0]
        b_v, b_close = Signal(name="b_valid"), Signal(name="b_closes")
        b_pre, b_post = Signal(cand, name="b_closing"), Signal(cand, name="b_opening")
        m.d.sync += [b_v.eq(a2_v), b_close.eq(a2_close), b_pre.eq(first_max(a2_pre)), b_post.eq(first_max(a2_post))]

        # C: the open group's best
        best = Signal(cand, name="best")
        win = Signal(cand, name="group_winner")
        m.d.comb += win.eq(Mux(b_pre.v & (~best.v | (b_pre.stab > best.stab)), b_pre, best))
        we = registered_list_write(m, wr, self.count, win.entry)
        with m.If(b_v):
            with m.If(b_close):
                with m.If(b_pre.v | best.v):
                    m.d.sync += [we.eq(1), self.count.eq(self.count + 1)]
                m.d.sync += best.eq(b_post)
            with m.Elif(b_post.v & (~best.v | (b_post.stab > best.stab))):
                m.d.sync += best.eq(b_post)
        # (the last entry is written the clock busy falls; the engine's first read is two clocks later)
        m.d.comb += self.busy.eq(a_v | a2_v | b_v)
        with m.If(self.clear):
            m.d.sync += [self.count.eq(0), pos.eq(0), best.v.eq(0)]
        return m


class DecisionUnit(wiring.Component):
    """Prediction, margin and update criterion of one classifier, in a fixed number of clocks.

    The logits, which hold still while the unit decides, are registered with a copy that has
    ``logit[y]`` masked out; two tournaments (:func:`hwtrain.hdl.argmax.tournament`, a register
    after every round but the last) run over them: the argmax (lowest index on ties) and the
    argmax of the masked copy (``max_{c != y}``).
    Their indices are registered, the two logits fetched and registered, then
    ``margin = logit[y] - max_{c != y} < M`` is registered: ``done`` rises :attr:`latency`
    clocks after ``start`` and stays high until the next ``start``.
    Golden twin: ``rules.predict``, ``rules.margins``.
    """

    def __init__(self, classes: int, logit_bits: int):
        self.classes, self.lb = classes, logit_bits
        self.latency = tournament_registers(classes, "round") + 4
        cb = max(1, (classes - 1).bit_length())
        super().__init__({"start": In(1), "logits": In(data.ArrayLayout(signed(logit_bits), classes)),
                          "y": In(cb), "threshold": In(PARAM_BITS),
                          "done": Out(1), "pred": Out(cb), "active": Out(1)})

    def elaborate(self, platform):
        m = Module()
        C, lb = self.classes, self.lb
        lowest = -(1 << lb)                                 # below every logit
        # the logits and their copy with logit[y] masked in registers first: the label's decode into the
        # first round's compares was the CP+R 784 engine's 98.25 MHz path (342dc8d)
        logits = [Signal(signed(lb), name=f"logit{c}", reset_less=True) for c in range(C)]
        masked = [Signal(signed(lb + 1), name=f"masked{c}", reset_less=True) for c in range(C)]  # lowest: lb + 1 bits
        for c in range(C):
            m.d.sync += [logits[c].eq(self.logits[c]), masked[c].eq(Mux(self.y == c, lowest, self.logits[c]))]
        best = tournament(m, logits, "best", pipeline="round", en=Const(1))
        other = tournament(m, masked, "other", pipeline="round", en=Const(1))
        best_q = Signal.like(best, name="best_index")
        other_q = Signal.like(other, name="other_index")
        ly = Signal(signed(lb), name="logit_y")
        lo = Signal(signed(lb), name="logit_other")
        # the logits padded to 2^bits with copies of the last: an index out of range (never taken) read
        # as 0 became a synchronous reset of logit_other from other_q's decode (its LSR: a 12.29 ns
        # endpoint of 784-135-135 PE 2 at c1a795e)
        padded = Array(logits + [logits[-1]] * ((1 << max(len(other_q), len(self.y))) - C))
        m.d.sync += [best_q.eq(best), other_q.eq(other), ly.eq(padded[self.y]), lo.eq(padded[other_q])]
        margin = Signal(signed(lb + 2), name="margin")
        m.d.comb += margin.eq(ly - lo)
        stage = Signal(self.latency - 1, name="stage")      # start travelling through the pipeline
        m.d.sync += stage.eq(Cat(self.start, stage[:-1]))
        with m.If(self.start):
            m.d.sync += self.done.eq(0)
        with m.If(stage[-2]):                               # the indices are in best_q / other_q
            m.d.sync += self.pred.eq(best_q)
        with m.If(stage[-1]):
            m.d.sync += [self.active.eq(margin < self.threshold), self.done.eq(1)]
        return m


# --- the engine --------------------------------------------------------------------

def _pm1_bits(values) -> int:
    return sum(1 << j for j, v in enumerate(values) if v > 0)


class FoldedTrainer(wiring.Component):
    """Online CP+R training engine folded PE x SIMD per layer; reset state = the golden trainer's initial state.

    Ports: ``cmd`` (in) and ``resp`` (out), 32-bit word streams (docs/trainer_folded.md).
    """

    def __init__(self, cfg: FoldedTrainConfig):
        self.cfg = cfg
        self.p = plan(cfg)
        g = FoldedGolden(cfg)
        self.init_mem = []            # per layer, per PE lane: list of words (lists of SIMD ints)
        self.init_lanes = []          # per layer: W x SIMD next-draw states
        for l, d in enumerate(self.p["layers"]):
            H = g.H[l]
            W, S, PE = d["words"], d["simd"], d["pe"]
            mems = []
            for p in range(PE):
                words = []
                for grp in range(d["groups"]):
                    k = grp * PE + p
                    for w in range(W):
                        row = [int(H[k, j]) if k < d["neurons"] and j < d["fan_in"] else 1
                               for j in range(w * S, w * S + S)]
                        words.append(row)
                mems.append(words)
            self.init_mem.append(mems)
            st = [prng.step(int(s)) for s in g.t.gens[l].state] + [1] * (W * S - d["fan_in"])
            self.init_lanes.append([st[w * S:(w + 1) * S] for w in range(W)])
        self.classifiers = g.t.P
        self.init_regs = g.registers()
        super().__init__({"cmd": In(stream.Signature(WORD)), "resp": Out(stream.Signature(WORD))})

    def elaborate(self, platform):
        cfg, P = self.cfg, self.p
        m = Module()
        L = cfg.layers
        B = cfg.hidden_bits
        C = cfg.classes
        cb = P["class_bits"]
        NX = P["x_words"]
        cmd, resp = self.cmd, self.resp
        hdr = data.View(HEADER, cmd.payload)

        # --- host registers and counters ---
        regs = self.init_regs
        bep = cfg.algorithm == "bep"
        MB = cfg.batch > 1          # mini-batch: updates go to accumulator words, applied at the batch's end
        # Layer overlap (cpr online): layer 0 and the layers above are two stages, each with its own
        # sequencer, step count and pending sweeps; the first hands a finished sample (its activations,
        # label and update count) to the second and takes the next one (docs/trainer_folded.md).
        OV = cfg.overlap
        stages = [range(0, 1), range(1, L)] if OV else [range(L)]
        stage_of = {l: i for i, st in enumerate(stages) for l in st}
        margin = [Signal(PARAM_BITS, name=f"reg_margin{l}", init=regs["margins"][min(l, len(regs["margins"]) - 1)])
                  for l in range(L)]
        gate = [Signal(PARAM_BITS, name=f"reg_gate{l}", init=regs["gates"][l]) for l in range(L)]
        thr = [Signal(33, name=f"reg_reinforce{l}", init=regs["reinforce"][l]) for l in range(L)]
        gamma = [Signal(PARAM_BITS, name=f"reg_gamma{l}", init=regs["gamma"][l]) for l in range(L)]
        every = Signal(PARAM_BITS, name="reg_every", init=regs["reinforce_every"])
        samples = Signal(COUNTER_BITS, name="cnt_samples")
        errors = Signal(COUNTER_BITS, name="cnt_errors")
        updates = Signal(COUNTER_BITS, name="cnt_updates")
        # steps since the last reinforcement sweep, per stage (one stage unless OV)
        stepcnt = [Signal(PARAM_BITS, name=f"steps_since_reinforce{i}") for i in range(len(stages))]
        # "a reinforcement sweep is owed at this step's end", from registers: stepcnt and every change at
        # least a few clocks before any step ends (the compare's carry chain into the sequencer was the
        # BEP-TT engine's 65.3 MHz critical path at 255,255)
        due = [Signal(name=f"reinforce_due{i}") for i in range(len(stages))]
        m.d.sync += [d_.eq(c_ + 1 >= every) for d_, c_ in zip(due, stepcnt)]
        in_batch = Signal(range(cfg.batch), name="batch_fill")      # samples in the open mini-batch

        xbuf = Signal(NX * WORD, name="sample_x")
        yreg = Signal(cb, name="sample_y")
        # OV: the second stage's label and input, taken from the first stage with its sample
        y_above = Signal(cb, name="sample_y_above") if OV else yreg
        in_above = Signal(cfg.hidden[0], name="l1_input_held") if OV else None
        op = Signal(4, name="op")
        sel_layer = Signal(LAYER_BITS, name="sel_layer")
        sel_arg = Signal(ARG_BITS, name="sel_arg")
        max_nw = max(d["resp_words"] for d in P["layers"])
        cnt = Signal(range(max(NX, 2, max_nw) + 1), name="word_count")
        flush = Signal(name="flush_mode")
        # register words in or out (two words), and every response's first word. One shift (a word in at
        # the top, the response word out at the bottom) serves reception and transmission alike.
        rbuf = Signal(2 * WORD, name="word_buffer")
        # Rows in and out do not pass through a row-wide buffer: each memory word is shifted, 32 bits a
        # clock, through its lane's write-data register (RowShift below), so the only wide paths are
        # inside a lane, next to its block RAMs, and no row-wide bus crosses the die.
        # WRITE_ROW: a received memory word is written now into layer l's lane p (one flag per lane,
        # decoded from sel_layer / row_p the clock before: the decode in front of the write-address
        # registers' enable was the 98.25 MHz critical path)
        row_write = {(l, p): Signal(name=f"row_write_l{l}_p{p}")
                     for l, d in enumerate(P["layers"]) for p in range(d["pe"])}
        row_write_addr = Signal(max(max(1, (d["depth"] - 1).bit_length()) for d in P["layers"]),
                                name="row_write_addr")
        row_in = Signal(WORD, name="row_in")             # WRITE_ROW: the word taken last clock
        row_p = Signal(8, name="row_lane")
        m.d.sync += [f.eq(0) for f in row_write.values()]
        tx_left = Signal(range(max(2, max_nw) + 1), name="tx_left")

        # --- per-layer hardware ---
        lay = []
        for l, d in enumerate(P["layers"]):
            F, K, PE, S, W, NG = d["fan_in"], d["neurons"], d["pe"], d["simd"], d["words"], d["groups"]
            h = {"d": d}
            wl = word_layout(cfg, l)
            h["mem"] = []
            for p in range(PE):
                # mini-batch: the accumulators (0 at reset) follow the weights from d["acc_offset"] on
                init = self.init_mem[l][p] + [[0] * S] * (d["acc_offset"] - d["depth"]) if MB else self.init_mem[l][p]
                # in column slices of a few block RAMs, each at its own copy of the address registers
                # (hdl/fanout.py): no address net reaches all of a lane's block RAMs
                mem = SlicedMemory(signed(B), S, d["mem_depth"], init, attrs=ROWS)
                m.submodules[f"l{l}_h{p}"] = mem
                h["mem"].append(mem)
            NS = len(h["mem"][0].slices)
            abits = max(1, (d["depth"] - 1).bit_length())
            lbits = max(1, (PE - 1).bit_length())
            ent_l = entry_layout(abits, lbits)
            h["abits"] = abits
            # input of the layer as W words of S bits (padding columns are 0 and masked)
            inp = Signal(W * S, name=f"l{l}_input")
            if l == 0:
                m.d.comb += inp.eq(xbuf[:F])
            elif l == 1 and OV:
                m.d.comb += inp.eq(in_above)
            else:
                m.d.comb += inp.eq(lay[l - 1]["act"])
            h["y"] = yreg if l == 0 else y_above
            h["inp"] = data.View(data.ArrayLayout(S, W), inp)
            h["act"] = Signal(K, name=f"l{l}_act")
            # S0 issue interface (driven by the sequencer)
            h["iv"] = Signal(name=f"l{l}_issue_valid")
            h["iaddr"] = Signal(abits, name=f"l{l}_issue_addr")
            h["iw"] = Signal(range(W), name=f"l{l}_issue_word")
            h["ilast"] = Signal(name=f"l{l}_issue_last_group")
            h["ilane"] = Signal(lbits, name=f"l{l}_issue_lane")
            h["it"] = Signal(name=f"l{l}_issue_t")
            h["iu"] = Signal(name=f"l{l}_issue_update")     # the word is an update, not a forward read
            h["ib"] = Signal(name=f"l{l}_issue_backward")   # bep: back-projection / mask sweep word
            h["ig"] = Signal(range(NG + 1), name=f"l{l}_issue_group")
            h["ir"] = Signal(name=f"l{l}_issue_reinforce")  # reinforcement sweep word
            h["iacc"] = Signal(name=f"l{l}_issue_accumulator")  # mini-batch: the word's accumulators
            h["iap"] = Signal(name=f"l{l}_issue_apply")         # mini-batch: apply sweep word
            h["ird"] = Signal(name=f"l{l}_issue_row_read")      # READ_ROW: column mask 0, so the step
                                                                # unit hands the word on unchanged
            # S0: the issued word's tags and address in registers, so the block RAMs' address (fanned out
            # to every block of every PE lane) comes straight from flip-flops, not from the sequencer's
            # decisions; S1: the word leaves the memory; S2: it is in the lane registers.
            issue = (("v", h["iv"]), ("addr", h["iaddr"]), ("w", h["iw"]), ("last", h["ilast"]),
                     ("lane", h["ilane"]), ("t", h["it"]), ("u", h["iu"]), ("b", h["ib"]),
                     ("r", h["ir"]), ("g", h["ig"]), ("rd", h["ird"]))
            if MB:
                issue += (("acc", h["iacc"]), ("ap", h["iap"]))
            s0 = {k: Signal(len(v), name=f"l{l}_s0_{k}") for k, v in issue}
            s1 = {k: Signal(len(v), name=f"l{l}_s1_{k}") for k, v in issue}
            s2 = {k: Signal(len(v), name=f"l{l}_s2_{k}") for k, v in issue}
            m.d.sync += [s0[k].eq(v) for k, v in issue]
            m.d.sync += [s1[k].eq(s0[k]) for k in s0]
            # the S0 address again, in a copy per lane and slice
            maddr = Cat(h["iaddr"], h["iacc"]) if MB else h["iaddr"]      # acc_offset = 2^abits
            for p, mem in enumerate(h["mem"]):
                ra = Copies(len(maddr), NS, name=f"l{l}_s0_addr{p}")
                m.d.sync += ra.eq(maddr)
                m.d.comb += ra.drive(mem.raddr)
            m.d.sync += [s2[k].eq(s1[k]) for k in s1]
            # the read data register without a reset or an enable: the plain flip-flops synthesis can
            # move into the block RAMs' output registers (flows.synth.bram_outreg; a DP16KD's unregistered
            # read, 5.6 ns, then the route to this register was the PE 4/2 engine's 72 MHz critical path)
            rowq = [Signal(wl, name=f"l{l}_row{p}", reset_less=True) for p in range(PE)]
            m.d.sync += [rowq[p].eq(h["mem"][p].rdata) for p in range(PE)]
            h["rowq"] = rowq
            xq = Signal(S, name=f"l{l}_xword")
            full = (1 << S) - 1
            m.d.sync += xq.eq(h["inp"][s1["w"]])
            h["s0"], h["s1"], h["s2"] = s0, s1, s2
            # The column mask has two distinct bits (the columns of the last word's width, the rest),
            # which yosys merged into two flip-flops driving every column of every lane: in a copy per
            # lane and half memory slice instead, each beside its columns (a copy per slice into its
            # columns' step units, 5.28 ns of routing, was the BEP 784 engine's 85.05 MHz critical path).
            lastcols = F - (W - 1) * S
            half = {j: 2 * i + (j - c.start >= len(c) // 2) for i, c in enumerate(h["mem"][0].slices) for j in c}
            # Two levels: a copy per lane at S1 (from the S0 tags), then the lane's copies per half slice
            # from it (one LUT of the S1 tags into all 2 x NS x PE copies was 31 of PE 4/2's late endpoints).
            lane_masks = Copies(2, PE, name=f"l{l}_s1_colmask")
            m.d.sync += lane_masks.eq(Cat(~s0["rd"], ~s0["rd"] & (s0["w"] != W - 1)))
            mcopies = [Copies(2, 2 * NS, name=f"l{l}_s2_colmask{p}") for p in range(PE)]
            for p, c in enumerate(mcopies):
                m.d.sync += c.eq(lane_masks[p])
            lane_mask = [Cat(mcopies[p][half[j]][0 if j < lastcols else 1] for j in range(S))
                         for p in range(PE)]
            if not MB:
                # an update word's step direction per column, ~(x ^ t), a copy per lane, in two registered
                # hops (S1, S2) from the sample buffer to the lane's step units (one hop: a 4.66 ns route
                # into the 86.46 MHz critical path at 442480e)
                xt1 = Copies(S, PE, name=f"l{l}_s1_update_dir")
                xt = Copies(S, PE, name=f"l{l}_s2_update_dir")
                m.d.sync += xt1.eq(~(h["inp"][s0["w"]] ^ Mux(s0["t"], full, 0)))
                m.d.sync += [xt[p].eq(xt1[p]) for p in range(PE)]
            # Reinforcement lanes: one draw per lane per visit. The pending sweep runs on its own,
            # one word (one neuron's SIMD weights) per clock in row order, so the lane logic is
            # SIMD xorshift steps and compares, not PE x SIMD (docs/trainer_folded.md).
            ring = LaneRing(W, S, 1, 1, self.init_lanes[l], slices=h["mem"][0].slices)
            m.submodules[f"l{l}_lanes"] = ring
            h["ring"] = ring
            h["pend"] = Signal(name=f"l{l}_pending")
            h["thr_act"] = Copies(33, len(ring.slices), name=f"l{l}_thr_active")
            # the active thresholds load a clock after the step that owes the sweep, on a registered flag
            # per copy: the due flag with the FSM's decode into their 33 x slices clock enables was 10.97 ns
            # (the sweep's first word reaches the ring three clocks after that step at the earliest, and
            # the host writes thresholds only from IDLE)
            h["thr_load"] = Copies(1, len(ring.slices), name=f"l{l}_thr_load")
            m.d.sync += h["thr_load"].eq(0)
            for g in range(len(ring.slices)):
                with m.If(h["thr_load"][g]):
                    m.d.sync += h["thr_act"][g].eq(thr[l])
            m.d.comb += [ring.thr[g].eq(h["thr_act"][g]) for g in range(len(ring.slices))]
            # from registers only: the lane ring's rotate feeds its xorshift chain
            fwd_word = s2["v"] & ~s2["u"] & ~s2["b"] & ~s2["r"]
            if MB:
                fwd_word = fwd_word & ~s2["ap"]
            # the ring turns as a word passes S1, so its events are registered for S2; the turn is
            # S1's v & r, taken from S0 into a register per lane group of the ring
            turn = Copies(1, len(ring.slices), name=f"l{l}_ring_turn")
            m.d.sync += turn.eq(s0["v"] & s0["r"])
            m.d.comb += [ring.rotate.eq(Cat(turn.regs)), ring.last.eq(0)]
            # write-back: the word stepped at S2 is written at S3 from registers (address, data, enable),
            # so no sequencer or step logic reaches the memory's write port in the same clock. A word is
            # read once per sweep, and a sweep ends only when S1 and S2 are empty, i.e. the clock its last
            # write happens, so the next read of any word sees every write before it.
            h["wq"] = []
            nbits = d["resp_words"] * WORD
            sl = h["mem"][0].slices
            h["bit_slices"] = [(c.start * B, c.stop * B if i < len(sl) - 1 else nbits) for i, c in enumerate(sl)]
            if MB:
                # updates, sweeps and row writes touch one lane at a time: one address and data register
                # serve every lane memory of the layer, each with its own write enable
                shared = {"addr": Copies(abits + 1, PE * NS, name=f"l{l}_s3_addr"),
                          "data": Signal(d["resp_words"] * WORD, name=f"l{l}_s3_word")}
            # (write data padded to whole 32-bit words: the host's rows shift through it; the address
            # and enable in a copy per slice)
            for p, mem in enumerate(h["mem"]):
                wq = dict(shared) if MB else {"addr": Copies(abits, NS, name=f"l{l}_s3_addr{p}"),
                                              "data": Signal(d["resp_words"] * WORD, name=f"l{l}_s3_word{p}")}
                wq["en"] = Copies(1, NS, name=f"l{l}_s3_write{p}")
                first = p * NS if MB else 0
                m.d.comb += mem.wdata.eq(wq["data"][:d["word_bits"]])
                m.d.comb += wq["addr"].drive(mem.waddr, first)
                m.d.comb += wq["en"].drive(mem.wen)
                m.d.sync += wq["en"].eq(0)
                h["wq"].append(wq)
            h["step"] = []
            if not MB:
                for p in range(PE):
                    su = StepUnit(S, B, parallel=S * B >= PARALLEL_STEP_BITS)
                    m.submodules[f"l{l}_step{p}"] = su
                    h["step"].append(su)
                    m.d.comb += su.h.eq(rowq[p])
                    # Per-lane controls registered from S1: an update word steps only its own lane, so each
                    # lane's step multiplexer and write enable have a flip-flop of their own (distinct
                    # functions, which yosys cannot merge back into one die-wide net).
                    # the write enable in a copy per memory slice, each loading that slice's columns of the
                    # write-data register: one enable net into a lane's 896 data flip-flops, spread along
                    # its 25 block RAMs, was among the 784-135-135 engine's ~3,000 late endpoints; the
                    # update flag too, and the update's direction comes from a register (xt), so each
                    # column's step controls are one LUT of registers in its own slice (the step inputs
                    # were ~420 of the 711 late endpoints at 1b48618)
                    # Both in two registered steps, a copy per slice at S1 and at S2 (one gate driving the
                    # S2 copies across the die: 11.8 ns at 1c0e57b).
                    # The S2 update flag in two copies per slice, each for half its columns (one copy into
                    # 36 columns' step units, 3.7 ns of routing, was the 99.34 MHz critical path).
                    upd1 = Copies(1, NS, name=f"l{l}_s1_update{p}")
                    wen1 = Copies(1, NS, name=f"l{l}_s1_write{p}")
                    upd = Copies(1, 2 * NS, name=f"l{l}_s2_update{p}")
                    wen = Copies(1, NS, name=f"l{l}_s2_write{p}")
                    m.d.sync += [*upd1.eq(s0["u"] & (s0["lane"] == p)),
                                 *wen1.eq(s0["v"] & (s0["u"] | s0["r"]) & (s0["lane"] == p))]
                    m.d.sync += [upd[i].eq(upd1[i // 2]) for i in range(2 * NS)] + [wen[i].eq(wen1[i]) for i in range(NS)]
                    for j in range(S):
                        u = upd[half[j]]
                        m.d.comb += [su.up[j].eq(Mux(u, xt[p][j], ~rowq[p][j][B - 1])),
                                     su.en[j].eq(lane_mask[p][j] & (u | ring.events[0][j]))]
                    wq = h["wq"][p]
                    for i, (lo, hi) in enumerate(h["bit_slices"]):
                        with m.If(wen[i]):
                            m.d.sync += [wq["data"][lo:hi].eq(su.out.as_value()[lo:hi]), wq["addr"][i].eq(s2["addr"]),
                                         wq["en"][i].eq(1)]
            else:
                # Mini-batch (docs/trainer_folded.md): an update word adds +-1 to the row's accumulator
                # word; the apply sweep reads each word's accumulators (kept in ``hold``, cleared), then
                # its weights (written back as sat(h + 2 acc)); the reinforcement sweep steps weights by
                # +-2. All three are one row at a time, so one unit of each serves the layer through a
                # lane multiplexer.
                # The lane's word is picked at S2 into a register (S3), where the units work on it and
                # the write registers take their result: no multiplexer before the adders (the
                # picked word into the apply adder was the mini-batch engine's critical path).
                lane_word = Signal(wl, name=f"l{l}_s3_lane_word")
                with m.Switch(s2["lane"]):
                    for p in range(PE):
                        with m.Case(p):
                            m.d.sync += lane_word.eq(rowq[p])
                s3 = {k: Signal(len(s2[k]), name=f"l{l}_s3_{k}") for k in ("addr", "acc", "lane", "t", "u", "r", "ap")}
                s3["v"] = Signal(name=f"l{l}_s3_v")
                m.d.sync += [s3[k].eq(s2[k]) for k in s3 if k != "v"]
                m.d.sync += s3["v"].eq(s2["v"] & (s2["u"] | s2["r"] | s2["ap"]))
                h["s3v"] = s3["v"]
                x3, m3, ev3 = Signal(S, name=f"l{l}_s3_xword"), Signal(S, name=f"l{l}_s3_colmask"), Signal(S, name=f"l{l}_s3_events")
                m.d.sync += [x3.eq(xq), m3.eq(lane_mask[0]), ev3.eq(ring.events[0])]
                hold = Signal(wl, name=f"l{l}_acc_hold")
                su, au, ap = StepUnit(S, B), AccumulateUnit(S, B), ApplyUnit(S, B)
                m.submodules[f"l{l}_step"] = su
                h["step"].append(su)
                m.submodules[f"l{l}_accumulate"] = au
                m.submodules[f"l{l}_apply"] = ap
                m.d.comb += [su.h.eq(lane_word), su.up.eq(Cat(~lane_word[j][B - 1] for j in range(S))),
                             su.en.eq(ev3 & m3),
                             au.acc.eq(lane_word), au.up.eq(~(x3 ^ Mux(s3["t"], full, 0))), au.en.eq(m3),
                             ap.h.eq(lane_word), ap.acc.eq(hold)]
                with m.If(s3["v"] & s3["ap"] & s3["acc"]):
                    m.d.sync += hold.eq(lane_word)
                with m.If(s3["v"]):
                    m.d.sync += shared["addr"].eq(Cat(s3["addr"], s3["acc"]))
                    m.d.sync += [h["wq"][p]["en"].eq(s3["lane"] == p) for p in range(PE)]
                    with m.If(s3["r"]):
                        m.d.sync += shared["data"].eq(su.out)
                    with m.Elif(s3["u"]):
                        m.d.sync += shared["data"].eq(au.out)
                    with m.Elif(s3["acc"]):
                        m.d.sync += shared["data"].eq(0)
                    with m.Else():
                        m.d.sync += shared["data"].eq(ap.out)
            # forward lanes
            fls = []
            for p in range(PE):
                fl = ForwardLane(S, B, F, h["mem"][p].slices, extra=d["count_regs"])
                m.submodules[f"l{l}_fwd{p}"] = fl
                m.d.comb += [fl.word.eq(rowq[p]), fl.x.eq(xq), fl.mask.eq(lane_mask[p]), fl.valid.eq(fwd_word),
                             fl.first.eq(s2["w"] == 0), fl.last.eq(s2["w"] == W - 1)]
                fls.append(fl)
            zb = fls[0].zbits
            # Drain: a group's PE pre-activations, one neuron per clock in row order
            zbuf = [Signal(signed(zb), name=f"l{l}_drain{p}") for p in range(PE)]
            left = Signal(range(PE + 1), name=f"l{l}_drain_left")
            dk = Signal(range(K + 1), name=f"l{l}_drain_k")
            dlane = Signal(lbits, name=f"l{l}_drain_lane")
            dbase = Signal(abits + 1, name=f"l{l}_drain_base")
            dgrp = Signal(range(NG + 1), name=f"l{l}_drain_group")
            h["drain_reset"] = [dk.eq(0), dlane.eq(0), dbase.eq(0), dgrp.eq(0), left.eq(0)]
            out_v = Signal(name=f"l{l}_d0_valid")
            m.d.comb += out_v.eq(left != 0)
            with m.If(out_v):
                m.d.sync += [zbuf[p].eq(zbuf[p + 1]) for p in range(PE - 1)]
                m.d.sync += [left.eq(left - 1), dk.eq(dk + 1)]
                with m.If(dlane == PE - 1):
                    m.d.sync += [dlane.eq(0), dbase.eq(dbase + W)]
                with m.Else():
                    m.d.sync += dlane.eq(dlane + 1)
            h["mode_mb"] = Signal(name=f"l{l}_mask_sweep")     # bep: D1 feeds the tracker from z memory
            zq = [Signal(signed(zb), name=f"l{l}_s2_z{p}") for p in range(PE)]
            load_mb = Signal(name=f"l{l}_drain_load_mask")
            # bep, first layer below the top: its mask sweep feeds the tracker a whole group per clock
            # (ChunkTracker) when the group size is at least PE, else one neuron per clock by the drain
            chunked = bep and l == 0 and L > 1
            h["chunked"] = chunked
            fast = Signal(name=f"l{l}_mask_chunks")
            h["fast"] = fast
            if chunked:
                m.d.sync += fast.eq(gamma[l] >= PE)
            mask_word = Signal(name=f"l{l}_s2_mask_word")     # a mask sweep's group at S2 (its word 0)
            m.d.comb += [mask_word.eq(s2["v"] & s2["b"] & (s2["w"] == 0) & h["mode_mb"]),
                         load_mb.eq(mask_word & ~fast)]
            with m.If(fls[0].z_valid | load_mb):
                m.d.sync += [zbuf[p].eq(Mux(load_mb, zq[p], fls[p].z)) for p in range(PE)]
                m.d.sync += [left.eq(Mux(dgrp == NG - 1, d["last_group"], PE)), dgrp.eq(dgrp + 1)]
            h["astar"] = Signal(K, name=f"l{l}_desired")      # bep: desired activations a*_l
            # set (in a copy per 32 neurons) the clock the layer above's mask sweep ends: a*_l takes the
            # back-projection's signs a clock later, on registers only (the sweep's end, a compare of its
            # group counter with the FSM state, into the 135 enables was the BEP 784 engine's 83.75 MHz
            # path); the first read of a*_l is at S1 of a sweep issued after the sweep's next state
            h["astar_load"] = Copies(1, -(-K // 32), name=f"l{l}_desired_load")
            m.d.sync += h["astar_load"].eq(0)
            if bep:
                # pre-activations per PE lane and group (forward writes, backward sweeps read at S0)
                zrd = []
                for p in range(PE):
                    zmem = Memory(shape=signed(zb), depth=NG, init=[], attrs=TABLE)
                    m.submodules[f"l{l}_z{p}"] = zmem
                    zw, zr = zmem.write_port(), zmem.read_port()
                    m.d.comb += [zw.addr.eq(dgrp), zw.data.eq(fls[p].z), zw.en.eq(fls[p].z_valid),
                                 zr.addr.eq(s0["g"])]
                    zrd.append(zr)
                m.d.sync += [zq[p].eq(zrd[p].data) for p in range(PE)]
                # targets and gates of the PE neurons of the S1 group, registered for S2
                tq = Signal(PE, name=f"l{l}_s2_targets")
                gq = Signal(PE, name=f"l{l}_s2_gates")
                if l == L - 1:
                    P0 = self.classifiers[0]
                    for p in range(PE):
                        trom = Memory(shape=unsigned(C), depth=NG,
                                      init=[_pm1_bits(P0[:, g * PE + p]) if g * PE + p < K else 0
                                            for g in range(NG)], attrs=ROM)
                        m.submodules[f"l{l}_targets{p}"] = trom
                        tr_rd = trom.read_port()
                        m.d.comb += tr_rd.addr.eq(s0["g"])
                        m.d.sync += tq[p].eq(tr_rd.data.bit_select(h["y"], 1))
                else:
                    # a backward sweep's group g holds neurons g PE .. g PE + PE - 1 (prep() starts it at
                    # g = 0): their targets are word g of a*, picked in two clocks, a block of four
                    # words by g's high bits at S1, the word by its low bits at S2 (a*[kb + p], an adder
                    # and a 135-to-1 multiplexer in one clock, was the 99.59 MHz critical path)
                    nblk = -(-NG // 4)
                    astar_w = Cat(h["astar"], Const(0, nblk * 4 * PE - K))
                    blk = Signal(4 * PE, name=f"l{l}_s1_desired_block")
                    m.d.sync += [blk.eq(astar_w.word_select(s0["g"][2:], 4 * PE)),
                                 tq.eq(blk.word_select(s1["g"][:2], PE))]
                # |z| <= gate: two compares in parallel (the BEP engine's path at 84.30 MHz was |z| then <=)
                for p in range(PE):
                    lane_ok1 = Const(1) if p < d["last_group"] else ~s1["last"]
                    in_gate = within_gate(m, zrd[p].data, gate[l], name=f"l{l}_gate_neg{p}")
                    m.d.sync += gq[p].eq(in_gate & lane_ok1)
                if l > 0:
                    bpr = BackProjectionRing(W, S, PE, max(K, 1).bit_length() + 1)
                    m.submodules[f"l{l}_backproject"] = bpr
                    # the ring turns as a backward word reaches S2: from S1 into a register per column group
                    turn = Copies(1, bpr.groups, name=f"l{l}_backproject_turn")
                    m.d.sync += turn.eq(s1["v"] & s1["b"])
                    m.d.comb += [bpr.rotate.eq(Cat(turn.regs)), bpr.t.eq(tq), bpr.en.eq(gq)]
                    for p in range(PE):
                        m.d.comb += bpr.vis[p].eq(Cat(~rowq[p][j][B - 1] for j in range(S)))
                    h["bpr"] = bpr
                    # desired activations of the layer below: sign of the back-projection (0 -> +1)
                    below = lay[l - 1]
                    k_below = below["d"]["neurons"]
                    for c, load in enumerate(below["astar_load"].regs):
                        cols = range(32 * c, min(32 * c + 32, k_below))
                        with m.If(load):
                            m.d.sync += below["astar"][cols.start:cols.stop].eq(Cat(bpr.sums[j] >= 0 for j in cols))
            # D0: classifier column read; D1: activation, logits, tracker
            has_cls = not bep or l == L - 1
            h["has_cls"] = has_cls
            Pl = self.classifiers[0 if bep else l]
            prom = Memory(shape=unsigned(C), depth=K,
                          init=[_pm1_bits(Pl[:, k]) if has_cls else 0 for k in range(K)], attrs=ROM)
            m.submodules[f"l{l}_classifier"] = prom
            # the column of the neuron the drain outputs next clock (dk, or dk + 1 if it outputs one now),
            # registered so it is there at D0: both columns read from registers (dk and dk1 = dk + 1
            # count together) and picked by out_v after the ROM (the adder dk + out_v in front of the
            # ROM was the 99.74 MHz critical path)
            dk1 = Signal(range(K + 2), name=f"l{l}_drain_k1", init=1)
            with m.If(out_v):
                m.d.sync += dk1.eq(dk1 + 1)
            h["drain_reset"].append(dk1.eq(1))
            rd0, rd1 = prom.read_port(domain="comb"), prom.read_port(domain="comb")
            col0 = Signal(C, name=f"l{l}_d0_column")
            m.d.comb += [rd0.addr.eq(dk), rd1.addr.eq(dk1)]
            m.d.sync += col0.eq(Mux(out_v, rd1.data, rd0.data))
            d1v = Signal(name=f"l{l}_d1_valid")
            d1z = Signal(signed(zb), name=f"l{l}_d1_z")
            d1k = Signal(range(K + 1), name=f"l{l}_d1_k")
            ent = Signal(ent_l, name=f"l{l}_d1_entry")
            col = Signal(C, name=f"l{l}_d1_column")
            t = Signal(name=f"l{l}_d1_t")
            stab = Signal(signed(zb + 1), name=f"l{l}_d1_stability")
            wrong = Signal(name=f"l{l}_d1_wrong")
            t0 = Signal(name=f"l{l}_d0_t")
            if has_cls:
                m.d.comb += t0.eq(col0.bit_select(h["y"], 1))
            else:
                # a*[dk] from a copy of a* that shifts down a bit per neuron out of the drain (dk counts
                # them from the drain's reset, when the copy is loaded): a 135-to-1 multiplexer on dk in
                # front of the stability was the BEP 784 engine's 89.26 MHz path (a7e21c0). a* is written
                # at least a clock before the mask sweep's reset (the top layer's update state between)
                astar_d0 = Signal(K, name=f"l{l}_d0_desired")
                with m.If(out_v):
                    m.d.sync += astar_d0.eq(astar_d0[1:])
                h["drain_reset"].append(astar_d0.eq(h["astar"]))
                m.d.comb += t0.eq(astar_d0[0])
            m.d.sync += [d1v.eq(out_v), d1z.eq(zbuf[0]), d1k.eq(dk),
                         ent.base.eq(dbase), ent.lane.eq(dlane), col.eq(col0), t.eq(t0),
                         stab.eq(Mux(t0, zbuf[0], -zbuf[0])), wrong.eq((zbuf[0] >= 0) != t0)]
            a_k = Signal(name=f"l{l}_d1_a")
            m.d.comb += a_k.eq(d1z >= 0)
            lgb = max(K, 1).bit_length() + 1
            logits = Signal(data.ArrayLayout(signed(lgb), C), name=f"l{l}_logits")
            h["logits"] = logits
            with m.If(d1v & ~flush & ~h["mode_mb"]):
                m.d.sync += h["act"].bit_select(d1k, 1).eq(a_k)
                for c in range(C):
                    m.d.sync += logits[c].eq(logits[c] + Mux(col[c] == a_k, 1, -1))
            serial_v = d1v & ~flush & (h["mode_mb"] if not has_cls else Const(1))
            if not chunked:
                tr = WinnerTracker(K, zb, ent_l)
                m.submodules[f"l{l}_tracker"] = tr
                m.d.comb += [tr.valid.eq(serial_v), tr.stab.eq(stab), tr.wrong.eq(wrong), tr.gamma.eq(gamma[l]),
                             tr.entry.base.eq(ent.base), tr.entry.lane.eq(ent.lane), tr.entry.t.eq(t)]
            else:
                tr = ChunkTracker(K, PE, zb, ent_l)
                m.submodules[f"l{l}_tracker"] = tr
                chunk_base = Signal(abits + 1, name=f"l{l}_chunk_base")     # the S2 group's first word
                chunk_v = Signal(name=f"l{l}_chunk_valid")
                m.d.comb += [chunk_v.eq(mask_word & fast),
                             tr.gamma.eq(gamma[l])]
                with m.If(chunk_v):
                    m.d.sync += chunk_base.eq(chunk_base + W)
                with m.If(tr.clear):
                    m.d.sync += chunk_base.eq(0)
                with m.If(fast):
                    m.d.comb += [tr.valid.eq(chunk_v), tr.n.eq(Mux(s2["last"], d["last_group"], PE))]
                    for p in range(PE):
                        m.d.comb += [tr.stab[p].eq(Mux(tq[p], zq[p], -zq[p])), tr.wrong[p].eq((zq[p] >= 0) != tq[p]),
                                     tr.entry[p].base.eq(chunk_base), tr.entry[p].lane.eq(p), tr.entry[p].t.eq(tq[p])]
                with m.Else():
                    m.d.comb += [tr.valid.eq(serial_v), tr.n.eq(1), tr.stab[0].eq(stab), tr.wrong[0].eq(wrong),
                                 tr.entry[0].base.eq(ent.base), tr.entry[0].lane.eq(ent.lane), tr.entry[0].t.eq(t)]
            h["tracker"] = tr
            h["busy"] = Signal(name=f"l{l}_busy")
            # words inside the forward lanes (S3, S4, S5, and the popcount's added registers) and the
            # drain load: a delay line of the S2 valid
            pipe = Signal(fls[0].latency + 1, name=f"l{l}_pipe")
            m.d.sync += pipe.eq(Cat(fwd_word, pipe[:-1]))
            m.d.comb += h["busy"].eq(s0["v"] | s1["v"] | s2["v"] | (h["s3v"] if MB else 0) | pipe.any() | out_v | d1v
                                     | left.any() | (tr.busy if chunked else 0))
            # "the pipeline was empty last clock and nothing was issued": the sweeps end on this register,
            # a clock after busy falls, so busy's OR of the stages (and the drain's count, the tracker's
            # valids) is not in front of the sequencer's next-state logic (the BEP 784 engine's 89.14 MHz
            # path: layer 0's drain through busy into the state register, six LUT levels)
            h["idle"] = Signal(name=f"l{l}_idle")
            h["drain_clear"] = Signal(name=f"l{l}_drain_clear")
            m.d.sync += h["drain_clear"].eq(0)
            m.d.sync += h["idle"].eq(~h["busy"] & ~h["iv"])
            dec = DecisionUnit(C, lgb)
            m.submodules[f"l{l}_decide"] = dec
            m.d.comb += [dec.logits.eq(logits), dec.y.eq(h["y"]), dec.threshold.eq(margin[0] if bep else margin[l])]
            h["dec"] = dec
            # sequencer counters of this layer
            h["g"] = Signal(range(NG + 1), name=f"l{l}_g")
            h["s"] = Signal(range(max(W, PE) + 1), name=f"l{l}_s")
            # every sweep issues word s of its row, so S0 takes s every clock (its tags are read only with
            # the valid bit; a READ_ROW word's column mask is 0 whatever its word): the word index's
            # multiplexer over the sequencer's states into S0 was the CP+R 784 engine's 99.58 MHz path
            m.d.comb += h["iw"].eq(h["s"])
            h["a"] = Signal(abits + 1, name=f"l{l}_addr")
            # "this clock issues a row's first update word" in a register, set the clock before (entering
            # UPD, or on a row's last word): the issue address is then a multiplexer of registers with a
            # registered select (the issue address, set beside READ_ROW's read address), not the state decode
            h["upd_first"] = Signal(name=f"l{l}_upd_first")
            m.d.sync += h["upd_first"].eq(0)
            h["ui"] = Signal(range(K + 1), name=f"l{l}_upd_i")
            # ui + 1 kept beside ui, so the winner list's next read address comes from a register, not
            # an adder (784-135-135 PE 2 at 8baecd7: ui + 1 into it was the 67.87 MHz critical path)
            h["ui1"] = Signal(range(K + 2), name=f"l{l}_upd_i_next")
            # ui < count in a register, set when ui moves (count holds still while the list is read):
            # the compare chained into the issue address and its + 1 (784-135-135 PE 2 at d6cce34:
            # the 72.42 MHz critical path)
            h["more"] = Signal(name=f"l{l}_upd_more")
            # the winner list's read address in a register, set with s / ui / ui1 to what the state would
            # select (0 in USTART, ui1 on a row's last word, else ui): the state decode in front of the
            # LUT RAM's address was the critical path at 1c0e57b (89.44 MHz)
            h["ra"] = Signal(range(K + 2), name=f"l{l}_upd_read_addr")
            m.d.comb += h["tracker"].rd_addr.eq(h["ra"])
            h["rp"] = Signal(range(max(PE, 2)), name=f"l{l}_reinforce_lane")
            # "g is the last group" in a register for the row-order sweeps, set with g (the compare's carry
            # chain through the sequencer's decode was the CP+R PE 2/2 engine's 99.52 MHz path in session 22)
            h["g_last"] = Signal(name=f"l{l}_last_group")
            lay.append(h)

        pred = Signal(cb, name="pred")

        def sweep_counters(h):
            return [h["g"].eq(0), h["s"].eq(0), h["a"].eq(0)]

        def prep(h):
            """Per-sweep state of a layer back to its start."""
            return sweep_counters(h) + h["drain_reset"]

        def sweep_start(h):
            """A backward or mask sweep's start: the counters now, the drain a clock later (drain_clear)."""
            return sweep_counters(h) + [h["drain_clear"].eq(1)]

        # Prefetch: every TRAIN's header and input words are taken into a second buffer, while a
        # sample trains (and while any response goes out) as when idle, so the next sample starts
        # the clock its predecessor's response is taken (reception overlaps compute).
        xnext = Signal(NX * WORD, name="next_x")
        ynext = Signal(cb, name="next_y")
        nx_state = Signal(2, name="next_state")           # 0 empty, 1 receiving, 2 full
        nx_cnt = Signal(range(max(NX, 2)), name="next_count")
        prefetch_ok = Signal(name="prefetch_ok")
        # the word count is read only while receiving: cleared whenever empty, it needs no sequencer
        # state (prefetch_ok's decode of the FSM into its enable was the CP+R engine's 99.72 MHz path)
        with m.If(nx_state == 0):
            m.d.sync += nx_cnt.eq(0)
        # Receiving a sample's words does not wait for the sequencer (prefetch_ok gates only the header):
        # the 800-bit buffer's shift enable is the receive state and the word's valid, no state decode of
        # the sequencer (prefetch_ok in that enable was the 784 engines' 99.65-100.15 MHz path at e02cf80)
        with m.If(nx_state == 1):
            m.d.comb += cmd.ready.eq(1)
            with m.If(cmd.valid):
                m.d.sync += [xnext.eq(Cat(xnext[WORD:], cmd.payload)), nx_cnt.eq(nx_cnt + 1)]
                with m.If(nx_cnt == NX - 1):
                    m.d.sync += nx_state.eq(2)
        with m.Elif((nx_state == 0) & prefetch_ok):
            with m.If(cmd.valid & (hdr.op == OP_TRAIN)):
                m.d.comb += cmd.ready.eq(1)
                m.d.sync += [ynext.eq(hdr.arg[:cb]), nx_state.eq(1)]

        # The prefetched sample moves into the sample buffer the clock after the sequencer takes it
        # (xnext cannot change before: the next header is taken in that clock at the earliest, and
        # its words after it), so the 800-bit buffer's enable is one flip-flop, not the sequencer's
        # decision on the response handshake (784-135-135 PE 2: 70.69 MHz, that decision was the
        # critical path). The first input word is read at S1 of the first sweep, clocks later.
        x_load = Signal(name="sample_x_load")
        # "this clock issues READ_ROW's word" (set with the move into RD_ROW): the issue address's select
        row_issue = Signal(name="row_issue")
        m.d.sync += row_issue.eq(0)
        m.d.sync += x_load.eq(0)
        with m.If(x_load):
            m.d.sync += [xbuf.eq(xnext), yreg.eq(ynext)]

        # "the sequencer is in START<l> this clock" in a register per layer, set in PREP<l>, the clock
        # before (each lasts one clock): the forward sweep's start (tracker clear, logits and counters
        # to 0) hangs on it, not on the state's decode (784-135-135 PE 2 at c1a795e: that decode into
        # the logits' and tracker's resets, 92 late endpoints). In three copies: the logits' reset, the
        # tracker's clear and the sweep counters each hang on one (d6cce34: a single flag drove 244 late
        # endpoints across the die). Set from PREP's decode, not with each transition into it: the
        # transitions' OR (the host handshakes, the sweeps' ends) into the copies was the BEP 784
        # engine's 88.09 MHz path in session 22; PREP costs a clock per sweep.
        prep_now = [Copies(1, 3, name=f"l{l}_prep_now") for l in range(L)]
        m.d.sync += [r.eq(0) for f in prep_now for r in f.regs]

        def goto_prep(l):
            m.next = f"PREP{l}"

        def start_next():
            m.d.sync += [x_load.eq(1), flush.eq(0), op.eq(OP_TRAIN), nx_state.eq(0)]
            goto_prep(0)

        # Rows through the lanes' write-data registers. WRITE_ROW: each received word shifts in at the
        # top (the clock after it is taken), and the complete memory word is written from the register
        # the clock after its last word. READ_ROW: the lane's word comes through its step unit with
        # every column disabled (the row-read tag zeroes the column mask), i.e. on the write
        # register's existing input, and each word sent shifts the register down by 32 bits. The lane
        # selects are registers that follow (sel_layer, row_p), so each wide register's enable is one gate.
        # The shift and load enables are flip-flops set the clock before, in a copy per memory slice
        # (row_shifts(), row_loads() in the states below): a register's enable is not a gate of a
        # handshake and a lane select driving 896 flip-flops across the die (the 784-135-135 engine's
        # 74.2 MHz critical path at 91a93c9 ran from row_shift through two such gates).
        row_tx = Signal(WORD, name="row_tx")             # the selected register's bottom word
        row_lanes = []                                    # (lane selected now, shift copies, load copies)
        for l, h in enumerate(lay):
            d = h["d"]
            regs_l = [h["wq"][0]] if MB else h["wq"]
            for p, wq in enumerate(regs_l):
                here = (sel_layer == l) & ((row_p == p) if not MB else 1)
                sel = Signal(name=f"l{l}_row_select{p}")
                m.d.sync += sel.eq(here)
                n = len(h["bit_slices"])
                shift, load = Copies(1, n, name=f"l{l}_row_shift{p}"), Copies(1, n, name=f"l{l}_row_load{p}")
                m.d.sync += [*shift.eq(0), *load.eq(0)]
                # the shift and load copies take the registered select (the row's lane is settled in
                # ROW_COUNT, clocks before RX_ROW or RD_ROW): the select's compare of sel_layer and row_p
                # behind the handshake was the BEP 784 engine's 99.31 MHz path (fb42878)
                row_lanes.append((sel, shift, load))
                shifted = Cat(wq["data"], row_in)
                for i, (lo, hi) in enumerate(h["bit_slices"]):
                    with m.If(shift[i]):
                        m.d.sync += wq["data"][lo:hi].eq(shifted[lo + WORD:hi + WORD])
                    with m.If(load[i]):
                        m.d.sync += wq["data"][lo:hi].eq(h["step"][p].out.as_value()[lo:hi])
                with m.If(sel):
                    m.d.comb += row_tx.eq(wq["data"][:WORD])

            for p, wq in enumerate(h["wq"]):
                with m.If(row_write[l, p]):
                    m.d.sync += [wq["addr"].eq(row_write_addr), wq["en"].eq(1)]

        def row_shifts():
            """Next clock the selected lane register shifts: a received word in (WRITE_ROW), the word
            sent out (READ_ROW)."""
            return [a for here, shift, _ in row_lanes for a in shift.eq(here)]

        def row_loads():
            """Next clock the selected lane register takes the word read (READ_ROW)."""
            return [a for here, _, load in row_lanes for a in load.eq(here)]

        readable = {REG_SAMPLES: samples, REG_ERRORS: errors, REG_UPDATES: updates,
                    REG_PENDING: Cat(h["pend"] for h in lay), REG_EVERY: every}
        for l in range(L):
            readable.update({REG_MARGIN + l: margin[l], REG_GATE + l: gate[l],
                             REG_REINFORCE + l: thr[l], REG_GAMMA + l: gamma[l]})
        # the pick in two registered steps: which register sel_arg names (a compare of all its bits per
        # register), then that register (an AND-OR): one step from sel_arg into the pick was the 77.44 MHz
        # critical path at 784-135-135 (bb3323a)
        reg_hit = Signal(len(readable), name="register_hit")
        reg_pick = Signal(2 * WORD, name="register_pick")
        m.d.sync += reg_hit.eq(Cat(sel_arg == a for a in readable))
        pick = Const(0, 2 * WORD)
        for i, v in enumerate(readable.values()):
            pick = pick | Mux(reg_hit[i], v, 0)
        m.d.sync += reg_pick.eq(pick)

        # a forward sweep's start (the clock in START<l> that goes to FWD<l>)
        for l, h in enumerate(lay):
            # a stage's first layer starts its sweep unless a reinforcement sweep is owed or FLUSH runs
            opens = l == stages[stage_of[l]].start
            go = [f & (~h["pend"] & ~flush if opens else 1) for f in prep_now[l].regs]
            with m.If(go[0]):
                m.d.sync += prep(h)
                m.d.sync += h["mode_mb"].eq(0)
            # the tracker's clear and the logits' reset a clock later, from registers: neither takes
            # anything before the sweep's first neuron leaves the drain, clocks later (PE 4/2: go's LUT into
            # the 90 logit bits was 12.4 ns)
            clear_q, zero_q = Signal(name=f"l{l}_tracker_clear"), Signal(name=f"l{l}_logits_zero")
            m.d.sync += [clear_q.eq(go[1]), zero_q.eq(go[2])]
            m.d.comb += h["tracker"].clear.eq(clear_q)
            # bep's backward and mask sweeps: the drain's reset a clock after their PREP state, from a
            # register (the state's decode into the drain counters' resets and the a* copy was the BEP 784
            # engine's 86.81 MHz path); the first word reaches S2 three clocks after that. (A lower layer's
            # tracker takes neurons only in its mask sweep, so the forward sweep's clear serves it.)
            with m.If(h["drain_clear"]):
                m.d.sync += h["drain_reset"]
            with m.If(zero_q):
                m.d.sync += [h["logits"][c].eq(0) for c in range(C)]

        def next_in_row_order(h):
            """The sweeps' walk over a layer's rows in row order: the W words of a neuron, the PE lanes
            of a group (the last group has R lanes), then the next group (reinforcement, apply)."""
            d = h["d"]
            W, PE, NG = d["words"], d["pe"], d["groups"]
            with m.If(h["s"] == W - 1):
                m.d.sync += h["s"].eq(0)
                with m.If(h["rp"] == Mux(h["g_last"], d["last_group"] - 1, PE - 1)):
                    m.d.sync += [h["rp"].eq(0), h["g"].eq(h["g"] + 1), h["a"].eq(h["a"] + 1),
                                 h["g_last"].eq(h["g"] == NG - 2)]
                with m.Else():
                    m.d.sync += [h["rp"].eq(h["rp"] + 1), h["a"].eq(h["a"] - (W - 1))]
            with m.Else():
                m.d.sync += [h["s"].eq(h["s"] + 1), h["a"].eq(h["a"] + 1)]

        def update_states(l, po):
            """USTART and UPD of layer l: winner list -> W words per winner, +-2, written back at S2."""
            h = lay[l]
            d = h["d"]
            W = d["words"]
            tr = h["tracker"]
            st = stages[stage_of[l]]
            in_first = OV and stage_of[l] == 0      # layer 0 in the first of two stages
            act = Signal(name=f"l{l}_updates")
            if bep:
                # top layer first, then each lower layer's mask sweep (if the output margin triggered)
                m.d.comb += act.eq(lay[-1]["dec"].active & (tr.count != 0))
                nxt_active = f"MBPREP{l - 1}" if l > 0 else "FIN"
            else:
                m.d.comb += act.eq(h["dec"].active & (tr.count != 0))
                nxt_active = f"USTART{l + 1}" if l + 1 < st.stop else ("CLOSE0" if in_first else "FIN")
            nxt_idle = "FIN" if bep else nxt_active

            def goto_next():
                if bep and l > 0:
                    with m.If(lay[-1]["dec"].active):
                        m.next = nxt_active
                    with m.Else():
                        m.next = nxt_idle
                else:
                    m.next = nxt_active
            with m.State(f"USTART{l}"):
                m.d.comb += po
                m.d.sync += [h["s"].eq(0), h["more"].eq(tr.count != 0),       # (ui = 0 here)
                             h["ra"].eq(1 if W == 1 else 0)]                     # UPD's first address
                if in_first:
                    # counted when the second stage takes the sample (one adder, one writer)
                    m.d.sync += first_updates.eq(Mux(act, tr.count, 0))
                with m.If(act):
                    if not in_first:
                        m.d.sync += updates.eq(updates + tr.count)
                    m.d.sync += h["upd_first"].eq(1)
                    m.next = f"UPD{l}"
                with m.Else():
                    goto_next()
            with m.State(f"UPD{l}"):
                m.d.comb += po
                e = tr.rd_data
                # the next winner's entry is read when this one's last word issues; the address does
                # not wait for ui < count (a carry chain into every LUT-RAM cell's address)
                with m.If(h["more"]):
                    # (the address: e.base on the row's first word, then a; set beside READ_ROW's read address)
                    m.d.comb += [h["iv"].eq(1), h["ilane"].eq(e.lane), h["it"].eq(e.t),
                                 h["iu"].eq(1)] + ([h["iacc"].eq(1)] if MB else [])
                    m.d.sync += h["a"].eq(Mux(h["upd_first"], e.base + 1, h["a"] + 1))
                    with m.If(h["s"] == W - 1):
                        m.d.sync += [h["s"].eq(0), h["ui"].eq(h["ui1"]), h["ui1"].eq(h["ui1"] + 1),
                                     h["upd_first"].eq(1),
                                     h["more"].eq(h["ui1"] < tr.count),
                                     h["ra"].eq(h["ui1"] + 1 if W == 1 else h["ui1"])]
                    with m.Else():
                        m.d.sync += [h["s"].eq(h["s"] + 1), h["ra"].eq(Mux(h["s"] == W - 2, h["ui1"], h["ui"]))]
                with m.Elif(~h["s0"]["v"] & ~h["s1"]["v"] & ~h["s2"]["v"]):
                    goto_next()

        def close_step(i=0):
            """A step of stage i ends: count it; every ``every`` steps its reinforcement sweeps are owed."""
            with m.If(due[i]):
                m.d.sync += stepcnt[i].eq(0)
                for l in stages[i]:
                    m.d.sync += [lay[l]["pend"].eq(1), *lay[l]["thr_load"].eq(1)]
            with m.Else():
                m.d.sync += stepcnt[i].eq(stepcnt[i] + 1)

        def layer_states(l, po):
            """PREP, START, RFPREP, RF and FWD of layer l, in the sequencer of its stage (``po``: what each
            state drives beside, the prefetch's enable in the main sequencer)."""
            h = lay[l]
            d = h["d"]
            W, PE, NG = d["words"], d["pe"], d["groups"]
            per = max(W, PE)
            st = stages[stage_of[l]]
            in_first = OV and stage_of[l] == 0      # layer 0 in the first of two stages
            with m.State(f"PREP{l}"):
                m.d.comb += po
                m.d.sync += prep_now[l].eq(1)
                m.next = f"START{l}"
            with m.State(f"START{l}"):
                m.d.comb += po
                if l == st.start:
                    # a pending reinforcement sweep runs first (TRAIN and FLUSH)
                    # (what the sweep's start does is below the FSM, on prep_now and the same conditions)
                    with m.If(h["pend"]):
                        m.next = f"RFPREP{l}"
                    with m.Elif(flush):
                        if in_first:
                            m.d.sync += first_flushed.eq(1)
                            m.next = "L0_IDLE"
                        else:
                            m.d.sync += [rbuf[:WORD].eq(0), tx_left.eq(1)]
                            m.next = "TX"
                    with m.Else():
                        m.next = f"FWD{l}"
                else:
                    m.next = f"FWD{l}"
            with m.State(f"RFPREP{l}"):
                m.d.comb += po
                m.d.sync += [h["g"].eq(0), h["s"].eq(0), h["a"].eq(0), h["rp"].eq(0), h["g_last"].eq(NG == 1)]
                m.next = f"RF{l}"
            with m.State(f"RF{l}"):
                # rows in order: group g, lane p (the last group has R lanes), words w
                m.d.comb += po
                with m.If(h["g"] < NG):
                    m.d.comb += [h["iv"].eq(1), h["ilane"].eq(h["rp"]), h["ir"].eq(1)]
                    next_in_row_order(h)
                with m.Elif(~h["s0"]["v"] & ~h["s1"]["v"] & ~h["s2"]["v"]):
                    m.d.sync += h["pend"].eq(0)
                    if l + 1 < st.stop:
                        m.next = f"RFPREP{l + 1}"
                    else:
                        goto_prep(st.start)
            with m.State(f"FWD{l}"):
                m.d.comb += po
                with m.If(h["g"] < NG):
                    with m.If(h["s"] < W):
                        m.d.comb += [h["iv"].eq(1), h["ilast"].eq(h["g"] == NG - 1)]
                        m.d.sync += h["a"].eq(h["a"] + 1)
                    with m.If(h["s"] == per - 1):
                        m.d.sync += [h["s"].eq(0), h["g"].eq(h["g"] + 1)]
                    with m.Else():
                        m.d.sync += h["s"].eq(h["s"] + 1)
                with m.Elif(h["idle"]):
                    if l + 1 < st.stop:
                        goto_prep(l + 1)
                    elif in_first:
                        m.next = "DEC0"
                    else:
                        with m.If(flush):
                            m.d.sync += [rbuf[:WORD].eq(0), tx_left.eq(1)]
                            m.next = "TX"
                        with m.Else():
                            m.next = "DECIDE"

        if OV:
            # the first stage's sequencer (layer 0), beside the main one (IDLE, commands, layers 1..L-1)
            first_ready = Signal(name="first_stage_ready")      # a sample waits for the second stage
            first_flushed = Signal(name="first_stage_flushed")  # FLUSH: layer 0's owed sweep has run
            first_updates = Signal(COUNTER_BITS, name="first_stage_updates")   # its rows, counted at hand-over
            cmd_busy = Signal(name="command_busy")              # the main sequencer runs a host command
            first_idle = Signal(name="first_stage_idle")

            def start_first():
                m.d.sync += [x_load.eq(1), flush.eq(0), first_flushed.eq(0), nx_state.eq(0)]
                goto_prep(0)

            with m.FSM(name="first") as first_fsm:
                with m.State("L0_IDLE"):
                    # a sample starts the clock its last word is taken (or when it is there and the
                    # previous one has been handed over), never while a host command runs
                    free = ~first_ready & ~cmd_busy
                    with m.If(free & (nx_state == 2)):
                        start_first()
                    with m.Elif(free & (nx_state == 1) & cmd.valid & (nx_cnt == NX - 1)):
                        start_first()
                    with m.Elif(flush & ~first_flushed):       # FLUSH (the main sequencer waits)
                        goto_prep(0)
                layer_states(0, [])
                with m.State("DEC0"):
                    m.d.comb += lay[0]["dec"].start.eq(1)
                    m.next = "DECIDING0"
                with m.State("DECIDING0"):
                    with m.If(lay[0]["dec"].done):
                        m.d.sync += [lay[0][k].eq(v) for k, v in (("ui", 0), ("ui1", 1), ("ra", 0))]
                        m.next = "USTART0"
                update_states(0, [])
                with m.State("CLOSE0"):
                    close_step(0)
                    m.d.sync += first_ready.eq(1)
                    m.next = "L0_IDLE"
            m.d.comb += first_idle.eq(first_fsm.ongoing("L0_IDLE") & ~first_ready)

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                # A sample arrives through the prefetch buffer whether or not one trains, so the
                # sample buffer has one writer (x_load); it starts the clock its last word is taken.
                m.d.comb += prefetch_ok.eq(1)
                if OV:
                    # the second stage takes the first's sample (activations, label, update count)
                    m.d.sync += cmd_busy.eq(0)
                    with m.If(first_ready):
                        m.d.sync += [in_above.eq(lay[0]["act"]), y_above.eq(yreg), first_ready.eq(0),
                                     updates.eq(updates + first_updates), op.eq(OP_TRAIN)]
                        goto_prep(1)
                    cmd_ok = first_idle & ~first_ready
                else:
                    cmd_ok = Const(1)
                    with m.If(nx_state == 2):
                        start_next()
                    with m.Elif((nx_state == 1) & cmd.valid & (nx_cnt == NX - 1)):
                        start_next()
                with m.If(cmd_ok & (nx_state == 0) & cmd.valid & (hdr.op != OP_TRAIN)):
                    if OV:
                        m.d.sync += cmd_busy.eq(1)
                    m.d.comb += cmd.ready.eq(1)
                    m.d.sync += [op.eq(hdr.op), sel_layer.eq(hdr.layer), sel_arg.eq(hdr.arg), cnt.eq(0)]
                    with m.Switch(hdr.op):
                        with m.Case(OP_WRITE_REG):
                            m.next = "RX_REG"
                        with m.Case(OP_READ_REG):
                            m.next = "READ_REG"
                        with m.Case(OP_WRITE_ROW):
                            m.next = "ROW_LOC"
                        with m.Case(OP_READ_ROW):
                            m.next = "ROW_LOC"
                        with m.Case(OP_FLUSH):
                            m.d.sync += flush.eq(1)
                            if MB:
                                m.next = "FLUSH_BATCH"
                            elif OV:
                                m.next = "FLUSH_FIRST"     # layer 0's owed sweep, then the layers above
                            else:
                                goto_prep(0)
                        with m.Default():
                            m.d.sync += [rbuf[:WORD].eq(0), tx_left.eq(1)]
                            m.next = "TX"

            # --- registers ---
            with m.State("RX_REG"):
                m.d.comb += cmd.ready.eq(1)
                with m.If(cmd.valid):
                    m.d.sync += [rbuf.eq(Cat(rbuf[WORD:], cmd.payload)), cnt.eq(cnt + 1)]
                    with m.If(cnt == 1):
                        value = Cat(rbuf[(len(rbuf) // WORD - 1) * WORD:], cmd.payload)
                        with m.Switch(sel_arg):
                            for l in range(L):
                                with m.Case(REG_MARGIN + l):
                                    m.d.sync += margin[l].eq(value)
                                with m.Case(REG_GATE + l):
                                    m.d.sync += gate[l].eq(value)
                                with m.Case(REG_REINFORCE + l):
                                    m.d.sync += thr[l].eq(value)
                                with m.Case(REG_GAMMA + l):
                                    m.d.sync += gamma[l].eq(value)
                            with m.Case(REG_EVERY):
                                m.d.sync += every.eq(value)
                        m.d.sync += [rbuf[:WORD].eq(0), tx_left.eq(1)]
                        m.next = "TX"

            # Register and row reads go out through pick registers that follow their selectors
            # (sel_arg; sel_layer and the row's lane) every clock, so the wide word buffer is
            # loaded from one register, not through the selection.
            with m.State("READ_REG"):               # reg_hit takes sel_arg's match now
                m.next = "READ_REG_PICK"
            with m.State("READ_REG_PICK"):          # reg_pick takes the register now
                m.next = "READ_REG_LOAD"
            with m.State("READ_REG_LOAD"):
                m.d.sync += [rbuf[:2 * WORD].eq(reg_pick), tx_left.eq(2)]
                m.next = "TX"

            # --- rows: locate (group, lane) of row k, then one memory word per NW words ---
            row_g = Signal(ARG_BITS, name="row_base")
            row_w = Signal(range(max(d["words"] for d in P["layers"]) + 1), name="row_word")
            # Row k's first word address and PE lane by counting up to k (no divider on the
            # header path: a few hundred clocks per row command, off the training path).
            # (rows left to count, and "none left" in a register set with it: the 16-bit compare of a count
            # with sel_arg was in front of every counter's enable)
            row_k = Signal(ARG_BITS, name="row_k")
            row_done = Signal(name="row_counted")
            with m.State("ROW_LOC"):
                m.d.sync += [row_g.eq(0), row_p.eq(0), row_k.eq(sel_arg), row_done.eq(sel_arg == 0),
                             row_w.eq(0), cnt.eq(0)]
                m.next = "ROW_COUNT"
            with m.State("ROW_COUNT"):
                with m.If(row_done):
                    with m.If(op == OP_WRITE_ROW):
                        m.next = "RX_ROW"
                    with m.Else():
                        m.d.sync += row_issue.eq(1)
                        m.next = "RD_ROW"
                with m.Else():
                    m.d.sync += [row_k.eq(row_k - 1), row_done.eq(row_k == 1)]
                    with m.Switch(sel_layer):
                        for l, h in enumerate(lay):
                            d = h["d"]
                            with m.Case(l):
                                with m.If(row_p == d["pe"] - 1):
                                    m.d.sync += [row_p.eq(0), row_g.eq(row_g + d["words"])]
                                with m.Else():
                                    m.d.sync += row_p.eq(row_p + 1)

            with m.State("RX_ROW"):
                m.d.comb += cmd.ready.eq(1)
                with m.If(cmd.valid):
                    m.d.sync += [row_in.eq(cmd.payload), *row_shifts(), cnt.eq(cnt + 1)]
                    with m.Switch(sel_layer):
                        for l, h in enumerate(lay):
                            d = h["d"]
                            nw = d["resp_words"]
                            with m.Case(l):
                                with m.If(cnt == nw - 1):
                                    # the memory word is complete in the lane's register after the next
                                    # clock, and written from registers the clock after (row_write)
                                    m.d.sync += [cnt.eq(0), row_w.eq(row_w + 1), row_write_addr.eq(row_g + row_w),
                                                 *(row_write[l, p].eq(row_p == p) for p in range(d["pe"]))]
                                    with m.If(row_w == d["words"] - 1):
                                        m.next = "ROW_ACK"

            with m.State("ROW_ACK"):                # the row's last word is written this clock
                m.d.sync += [rbuf[:WORD].eq(0), tx_left.eq(1)]
                m.next = "TX"

            # READ_ROW's word address from a register that follows row_g + row_w (both settle clocks before
            # RD_ROW): no adder before the read-address copies
            row_rd_addr = Signal.like(row_write_addr, name="row_read_addr")
            m.d.sync += row_rd_addr.eq(row_g + row_w)
            # The issue address of every layer, from registers only: the sweep counter a, a winner's first
            # word (the list's read register) or READ_ROW's word, picked by flip-flops set the clock before
            # (upd_first, row_issue). It feeds each lane's S0 address copies, across the die; as a
            # multiplexer over the sequencer's states it was the overlap PE 5/2 engine's 62.3 MHz critical
            # path (state -> update decode -> the copies, 14.1 ns of routing) and the BEP 784 engine's at
            # 95.90 MHz. Words that are not issued (valid 0) read whatever a holds.
            for h in lay:
                m.d.comb += h["iaddr"].eq(Mux(row_issue, row_rd_addr,
                                              Mux(h["upd_first"], h["tracker"].rd_data.base, h["a"])))
            with m.State("RD_ROW"):
                with m.Switch(sel_layer):
                    for l, h in enumerate(lay):
                        with m.Case(l):
                            m.d.comb += [h["ilane"].eq(row_p), h["ird"].eq(1)]
                m.next = "RD_ROW_S0"

            with m.State("RD_ROW_S0"):              # the address is in S0
                m.next = "RD_ROW_S1"

            with m.State("RD_ROW_S1"):              # the word leaves the memory; the lane's register takes it
                if not MB:
                    m.d.sync += row_loads()
                m.next = "RD_ROW_PICK"

            with m.State("RD_ROW_PICK"):            # online: the write register takes rowq; mini-batch: the S3 lane word does
                if MB:
                    m.d.sync += row_loads()
                m.next = "RD_ROW_LOAD"

            with m.State("RD_ROW_LOAD"):            # mini-batch: the write register takes the lane word
                with m.Switch(sel_layer):
                    for l, h in enumerate(lay):
                        with m.Case(l):
                            m.d.sync += tx_left.eq(h["d"]["resp_words"])
                m.d.sync += row_w.eq(row_w + 1)
                m.next = "RD_ROW_CAP"

            with m.State("RD_ROW_CAP"):             # the register's bottom word goes out next
                m.d.sync += rbuf[:WORD].eq(row_tx)
                m.next = "TX"

            with m.State("RD_ROW_SHIFT"):           # the lane register shifts down by a word
                m.next = "RD_ROW_CAP"

            with m.State("TX"):
                m.d.comb += [resp.valid.eq(1), resp.payload.eq(rbuf[:WORD]), prefetch_ok.eq(1)]
                with m.If(resp.ready):
                    # only the bottom word moves: nothing reads the top word after TX, so its enable
                    # leaves out the response handshake (resp.ready through the FSM into the buffer's
                    # enable was the CP+R 784 engine's 99.92 MHz path)
                    m.d.sync += [rbuf[:WORD].eq(rbuf[WORD:]), tx_left.eq(tx_left - 1)]
                    with m.If(op == OP_READ_ROW):
                        # the row's next word: the lane register shifts next clock, then rbuf takes it
                        m.d.sync += row_shifts()
                        m.next = "RD_ROW_SHIFT"
                    with m.If(tx_left == 1):
                        m.next = "IDLE"
                        if not OV:      # (OV: the first stage starts samples, IDLE takes them)
                            with m.If((nx_state == 2) & (op != OP_READ_ROW)):
                                start_next()
                        with m.If(op == OP_READ_ROW):
                            with m.Switch(sel_layer):
                                for l, h in enumerate(lay):
                                    with m.Case(l):
                                        with m.If(row_w != h["d"]["words"]):
                                            m.d.sync += row_issue.eq(1)
                                            m.next = "RD_ROW"

            # --- forward sweeps (TRAIN) and flush sweeps (FLUSH) of the main sequencer's layers ---
            for l in stages[-1]:
                layer_states(l, [prefetch_ok.eq(1)])

            with m.State("DECIDE"):
                m.d.comb += prefetch_ok.eq(1)
                for l in stages[-1]:
                    m.d.comb += lay[l]["dec"].start.eq(1)
                m.next = "DECIDING"

            with m.State("DECIDING"):
                m.d.comb += prefetch_ok.eq(1)
                top = lay[-1]["dec"]
                with m.If(top.done):
                    m.d.sync += [pred.eq(top.pred), samples.eq(samples + 1),
                                 errors.eq(errors + (top.pred != lay[-1]["y"]))]
                    m.d.sync += [lay[l][k].eq(v) for l in stages[-1] for k, v in (("ui", 0), ("ui1", 1), ("ra", 0))]
                    m.next = "BEP_START" if bep else f"USTART{stages[-1].start}"

            if bep:
                top_active = lay[-1]["dec"].active

                def backward_sweep(l, period, then, words=None):
                    """Issue the first ``words`` words (default: every word) of each group of layer l
                    again (pre-update rows) with the backward tag, one group per ``period`` clocks."""
                    h = lay[l]
                    d = h["d"]
                    W, PE, NG = d["words"], d["pe"], d["groups"]
                    with m.If(h["g"] < NG):
                        with m.If(h["s"] < (words or W)):
                            m.d.comb += [h["iv"].eq(1), h["ilast"].eq(h["g"] == NG - 1),
                                         h["ib"].eq(1), h["ig"].eq(h["g"])]
                            m.d.sync += h["a"].eq(h["a"] + 1)
                        with m.If(h["s"] == period - 1):
                            m.d.sync += [h["s"].eq(0), h["g"].eq(h["g"] + 1)]
                        with m.Else():
                            m.d.sync += h["s"].eq(h["s"] + 1)
                    with m.Elif(h["idle"]):
                        if l > 0:
                            # a*_{l-1} takes the back-projection's signs next clock (beside the ring, above)
                            m.d.sync += lay[l - 1]["astar_load"].eq(1)
                        m.d.sync += h["mode_mb"].eq(0)
                        m.next = then

                with m.State("BEP_START"):
                    m.d.comb += prefetch_ok.eq(1)
                    if L > 1:
                        with m.If(top_active):
                            m.next = "BPPREP"
                        with m.Else():
                            m.next = f"USTART{L - 1}"
                    else:
                        m.next = f"USTART{L - 1}"
                if L > 1:
                    with m.State("BPPREP"):
                        m.d.comb += prefetch_ok.eq(1)
                        m.d.sync += sweep_start(lay[-1])
                        m.d.comb += lay[-1]["bpr"].clear.eq(1)
                        m.next = f"BP{L - 1}"
                    with m.State(f"BP{L - 1}"):
                        m.d.comb += prefetch_ok.eq(1)
                        backward_sweep(L - 1, lay[-1]["d"]["words"], f"USTART{L - 1}")
                for l in range(L - 1):
                    h = lay[l]
                    with m.State(f"MBPREP{l}"):
                        m.d.comb += prefetch_ok.eq(1)
                        m.d.sync += sweep_start(h) + [h["mode_mb"].eq(1)]
                        if l > 0:
                            m.d.comb += h["bpr"].clear.eq(1)
                        m.next = f"MB{l}"
                    with m.State(f"MB{l}"):
                        m.d.comb += prefetch_ok.eq(1)
                        if l == 0:
                            # the first layer's mask needs only its z values and no rows: one word per
                            # group, a group per clock into the ChunkTracker, or per PE clocks by the drain
                            backward_sweep(l, Mux(h["fast"], 1, h["d"]["pe"]), f"USTART{l}", words=1)
                        else:
                            backward_sweep(l, max(h["d"]["words"], h["d"]["pe"]), f"USTART{l}")

            # --- updates of the main sequencer's layers ---
            for l in stages[-1]:
                update_states(l, [prefetch_ok.eq(1)])

            if OV:
                with m.State("FLUSH_FIRST"):
                    # layer 0's owed sweep runs in its own sequencer, then the layers above
                    m.d.comb += prefetch_ok.eq(1)
                    with m.If(first_flushed):
                        goto_prep(1)

            with m.State("FIN"):
                m.d.comb += prefetch_ok.eq(1)
                if MB:
                    with m.If(in_batch == cfg.batch - 1):
                        m.d.sync += in_batch.eq(0)
                        m.next = "APPREP0"
                    with m.Else():
                        m.d.sync += [in_batch.eq(in_batch + 1), rbuf[:WORD].eq(pred), tx_left.eq(1)]
                        m.next = "TX"
                else:
                    close_step(len(stages) - 1)
                    m.d.sync += [rbuf[:WORD].eq(pred), tx_left.eq(1)]
                    m.next = "TX"

            if MB:
                # --- mini-batch: the apply sweep closes a batch (after its last TRAIN, or at FLUSH) ---
                with m.State("FLUSH_BATCH"):
                    with m.If(in_batch != 0):
                        m.d.sync += in_batch.eq(0)
                        m.next = "APPREP0"
                    with m.Else():
                        goto_prep(0)
                for l, h in enumerate(lay):
                    d = h["d"]
                    W, PE, NG = d["words"], d["pe"], d["groups"]
                    ph = Signal(name=f"l{l}_apply_phase")        # 0: the word's accumulators, 1: its weights
                    with m.State(f"APPREP{l}"):
                        m.d.comb += prefetch_ok.eq(1)
                        m.d.sync += [h["g"].eq(0), h["s"].eq(0), h["a"].eq(0), h["rp"].eq(0), ph.eq(0),
                                     h["g_last"].eq(NG == 1)]
                        m.next = f"AP{l}"
                    with m.State(f"AP{l}"):
                        # rows in order as in the reinforcement sweep, each word twice (accumulators, weights)
                        m.d.comb += prefetch_ok.eq(1)
                        with m.If(h["g"] < NG):
                            m.d.comb += [h["iv"].eq(1), h["ilane"].eq(h["rp"]),
                                         h["iap"].eq(1), h["iacc"].eq(~ph)]
                            m.d.sync += ph.eq(~ph)
                            with m.If(ph):
                                next_in_row_order(h)
                        with m.Elif(~h["s0"]["v"] & ~h["s1"]["v"] & ~h["s2"]["v"]):
                            m.next = f"APPREP{l + 1}" if l + 1 < L else "STEP"
                with m.State("STEP"):
                    m.d.comb += prefetch_ok.eq(1)
                    close_step()
                    with m.If(flush):
                        goto_prep(0)                # the reinforcement sweep, if owed, then FLUSH's response
                    with m.Else():
                        m.d.sync += [rbuf[:WORD].eq(pred), tx_left.eq(1)]
                        m.next = "TX"
        return m
