"""Feature-serial input for a learned Boolean network (issue 20: MNIST on the iCE40 UP5K).

A parallel port of 784 8-bit pixels is 6,272 flip-flops before the first node,
more than the UP5K's 5,280 logic cells. Here the features arrive ``per_beat`` at
a time in index order (pixels in raster order) and every thermometer bit the
network reads is captured in one flip-flop as its feature passes; nothing else
of the image is kept. The network (:class:`hwtrain.hdl.logic.LogicNetwork`,
``raw=False``) then reads the captured bits as its encoded input, so the
function is the golden model's (:class:`hwtrain.golden.logic.LogicNetwork` on
the whole feature vector): the serial port adds no semantics.

:class:`SerialEncoder`, per used bit one LUT4 and its flip-flop (one iCE40 logic
cell): the beat's place in the sample, ``b = row * C + col``, is kept as two
one-hot rings (``C = ceil(sqrt(B))`` columns stepping every beat, ``R = ceil(B / C)``
rows stepping when the columns wrap), so "this bit's beat" is the AND of two ring
bits instead of a counter compared with a constant. Stage 0 registers the beat
and ``acc_q`` (it was accepted); the rings step on ``acc_q``; stage 1 registers
the beat's comparisons (one per distinct threshold used at each place in the
beat), ``sel = acc_q & col`` and ``row``; stage 2 loads bit ``(f, t)`` when
``row_q[r] & sel_q[c]``: ``cap <= hit ? cmp_q : cap`` reads four signals.

Flow: ``o.valid`` rises three cycles after the last beat is accepted, with every
encoded bit (bits the network never reads are 0). ``i.ready`` is a flip-flop,
cleared when a last beat is accepted (a second, small pair of rings stepping on
``accept`` tells) and set when its sample leaves, so the next sample's captures
never overwrite one that waits; no ready/valid logic reaches the data rings'
enables, which span the die (UP5K, 1000-1000-500 MNIST net: 54.64 MHz with
``i.ready`` combinational, 55.21 MHz with it registered and the rings stepping
on ``accept``). A sample takes ``B + 3`` cycles at full rate (:attr:`period`).
"""

from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from ..errors import require
from ..logic.netlist import Netlist
from .logic import MAX_VECTOR, LogicNetwork, _chunks, output_layout


def beat_layout(netlist: Netlist, per_beat: int) -> data.ArrayLayout:
    """One beat: ``per_beat`` features of the netlist's encoder width."""
    return data.ArrayLayout(netlist.encoder.feature_bits, per_beat)


class SerialEncoder(wiring.Component):
    """Features ``per_beat`` at a time -> the encoded bits a network reads (module docstring).

    netlist   the network; its thermometer encoder and the input bits its nodes read.
    per_beat  features per beat (must divide the feature count).
    """

    def __init__(self, netlist: Netlist, per_beat: int = 1):
        require(netlist.encoder is not None,
                "a serial input encodes features: the netlist needs a thermometer encoder")
        features = netlist.encoder.features
        require(isinstance(per_beat, int) and not isinstance(per_beat, bool) and per_beat >= 1
                and features % per_beat == 0,
                f"features per beat (serial) must be a positive divisor of the netlist's {features} features, "
                f"got {per_beat!r}")
        self.netlist = netlist
        self.per_beat = per_beat
        self.beats = features // per_beat
        self.cols = math.isqrt(self.beats - 1) + 1          # ceil(sqrt(beats))
        self.rows = -(-self.beats // self.cols)
        super().__init__({
            "i": In(stream.Signature(beat_layout(netlist, per_beat))),
            "o": Out(stream.Signature(unsigned(netlist.inputs))),
        })

    @property
    def period(self) -> int:
        """Cycles per sample at full rate: its beats, the last one's two stages and the transfer."""
        return self.beats + 3

    @property
    def latency(self) -> int:
        """Cycles from accepting a sample's first beat to ``o.valid`` at full rate."""
        return self.beats + 2

    def _rings(self, m: Module, step, name: str):
        """One-hot column and row rings of the beat position, stepping on ``step``, back to
        beat 0 after the last beat; returns (columns, rows, "at the last beat")."""
        col = Signal(self.cols, name=f"{name}_col", init=1)
        row = Signal(self.rows, name=f"{name}_row", init=1)
        last = Signal(name=f"{name}_last")
        b = self.beats - 1
        m.d.comb += last.eq(row[b // self.cols] & col[b % self.cols])
        with m.If(step):
            with m.If(last):
                m.d.sync += [col.eq(1), row.eq(1)]
            with m.Else():
                m.d.sync += col.eq(col.rotate_left(1))
                with m.If(col[-1]):
                    m.d.sync += row.eq(row.rotate_left(1))
        return col, row, last

    def elaborate(self, platform):
        nl, enc = self.netlist, self.netlist.encoder
        m = Module()
        levels = enc.levels
        used = np.flatnonzero(nl.last_use()[:nl.inputs] >= 0)
        feat = used // levels
        thr = enc.thresholds[feat, used % levels]
        beat, place = feat // self.per_beat, feat % self.per_beat
        row, col = beat // self.cols, beat % self.cols

        # ---- stage 0: the beat registered; a beat's position in two pairs of rings
        ready = Signal(name="ready", init=1)          # no sample between its last beat and its transfer
        accept = Signal()
        acc_q = Signal(name="acc_q")
        x_q = Signal.like(self.i.payload, name="x_q")
        m.d.comb += [self.i.ready.eq(ready), accept.eq(self.i.valid & ready)]
        m.d.sync += [acc_q.eq(accept), x_q.eq(self.i.payload)]
        # The control rings step on ``accept`` and only clear ``ready``: a few flip-flops beside
        # it. The data rings step a clock later on ``acc_q``, a flip-flop, and fan out to the
        # capture cells over the whole die (on ``accept`` they were the UP5K build's critical
        # path: the ready/valid logic into their enables across the die, 55.21 MHz).
        _, _, last_ctl = self._rings(m, accept, "ctl")
        col_ring, row_ring, last = self._rings(m, acc_q, "data")
        with m.If(accept & last_ctl):
            m.d.sync += ready.eq(0)
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += ready.eq(1)

        # ---- stage 1: the beat's comparisons and its place
        sel_q = Signal(self.cols, name="sel_q")
        row_q = Signal(self.rows, name="row_q")
        last_q = Signal(name="last_q")
        m.d.sync += [sel_q.eq(Mux(acc_q, col_ring, 0)), row_q.eq(row_ring), last_q.eq(acc_q & last)]

        # one comparison per distinct threshold in use at each place of the beat
        cmp_bit = np.zeros(used.size, dtype=np.int64)
        cmps = []
        for j in range(self.per_beat):
            at = np.flatnonzero(place == j)
            values, which = np.unique(thr[at], return_inverse=True)
            cmp_bit[at] = len(cmps) + which
            cmps += [x_q[j] > int(v) for v in values.tolist()]
        cmp_q = Signal(max(1, len(cmps)), name="cmp_q")
        if cmps:
            m.d.sync += cmp_q.eq(Cat(*cmps))

        # ---- stage 2: one capture flip-flop per used bit (whole vectors: linear emission)
        bits = [Const(0, 1)] * nl.inputs
        for k, sl in enumerate(_chunks(used.size, MAX_VECTOR)):
            n = sl.stop - sl.start
            sfx = "" if used.size <= MAX_VECTOR else f"_c{k}"
            hit, new = Signal(n, name=f"hit{sfx}"), Signal(n, name=f"new{sfx}")
            cap = Signal(n, name=f"cap{sfx}")
            m.d.comb += [hit.eq(Cat(*(row_q[r] for r in row[sl].tolist()))
                                & Cat(*(sel_q[c] for c in col[sl].tolist()))),
                         new.eq(Cat(*(cmp_q[c] for c in cmp_bit[sl].tolist())))]
            m.d.sync += cap.eq((hit & new) | (~hit & cap))
            for j, u in enumerate(used[sl].tolist()):
                bits[u] = cap[j]
        m.d.comb += self.o.payload.eq(Cat(*bits))

        # ---- the finished sample
        with m.If(last_q):
            m.d.sync += self.o.valid.eq(1)
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


class SerialLogicNetwork(wiring.Component):
    """A :class:`LogicNetwork` behind a :class:`SerialEncoder`: features ``per_beat`` at a
    time in, (class, counts) out as from the core.

    core      the network, built with ``raw=False`` and no encoder register (the
              capture flip-flops are its input register).
    per_beat  features per beat.
    """

    def __init__(self, core: LogicNetwork, per_beat: int = 1):
        require(isinstance(core, LogicNetwork) and not core.raw,
                "a serial input feeds a LogicNetwork that takes encoded bits (raw=False)")
        require(not core.register_encoder,
                "a serial input captures the encoded bits in flip-flops already: "
                "leave register_encoder off")
        self.core = core
        self.encoder = SerialEncoder(core.netlist, per_beat)
        super().__init__({
            "i": In(stream.Signature(beat_layout(core.netlist, per_beat))),
            "o": Out(stream.Signature(output_layout(core.netlist, core.counts_out))),
        })

    @property
    def netlist(self) -> Netlist:
        return self.core.netlist

    @property
    def per_beat(self) -> int:
        return self.encoder.per_beat

    @property
    def beats(self) -> int:
        return self.encoder.beats

    @property
    def period(self) -> int:
        """Cycles per sample at full rate (:attr:`SerialEncoder.period`)."""
        return self.encoder.period

    @property
    def latency(self) -> int:
        """Cycles from accepting a sample's first beat to its output being valid."""
        return self.encoder.latency + self.core.latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.serial = self.encoder
        m.submodules.core = self.core
        connect(m, flipped(self.i), self.encoder.i)
        connect(m, self.encoder.o, self.core.i)
        connect(m, self.core.o, flipped(self.o))
        return m


def logic_core(cfg, netlist: Netlist | None = None) -> LogicNetwork | SerialLogicNetwork:
    """The core of a :class:`hwtrain.golden.logic.LogicCoreConfig`: the network, behind a
    serial input when ``cfg.serial`` is set (``netlist``: already loaded from ``cfg.netlist``)."""
    core = LogicNetwork.from_config(cfg, netlist)
    return SerialLogicNetwork(core, cfg.serial) if cfg.serial else core
