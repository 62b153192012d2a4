"""Layered Boolean network as a stream component (golden twin: hwtrain.golden.logic).

The netlist (hwtrain.logic.netlist) becomes, layer by layer, one wide bitwise
operation per gate function present in the layer: the inputs of all AND gates of
a layer are gathered into two named vectors (``l3_and_a``, ``l3_and_b``, pure
wiring) and one named signal holds ``a & b`` for all of them. Every compound
expression is thus bound to a named ``Signal`` and every single bit is a slice of
a named signal, which keeps Verilog emission linear in the number of gates.

Vector width cap (``max_vector``, default :data:`MAX_VECTOR`): every gathered
operand, gate result, pipeline register and encoder vector holds at most that
many bits; wider ones are split into chunks (``l3_a_and_b_c0``, ...). Yosys
writes each such vector as one Verilog line listing its source bits, and
Verilator refuses lines of more than 40,000 tokens (about 6,000 single-bit
sources): a 250,000-gate net has 62,500-bit registers and 3,900-gate groups.

Pipeline: ``register_every = k > 0`` puts a register after every k-th gate
layer (including after the last layer when k divides the depth); each register
holds exactly the nodes still read later (skip connections travel through the
registers). ``k = 0`` is combinational. The GroupSum popcounts and the argmax
always feed the output register, so the latency is ``1 + depth // k`` cycles
(1 when k = 0). The whole pipeline advances when the output register is empty or
read (``en = ~o.valid | o.ready``), and ``i.ready = en``.

Argmax tie-break: the lowest class index wins (a balanced tournament where the
right operand, which always has the higher indices, wins only when strictly
larger).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..errors import require
from ..logic.netlist import GATE_NAMES, Netlist
from .argmax import tournament
from .popcount import popcount


#: Largest vector the emitter builds (see module docstring); well below
#: Verilator's 40,000-token line limit even when a line lists two operands.
MAX_VECTOR = 1024


def _chunks(n: int, size: int):
    """``range`` slices covering 0..n in pieces of at most ``size``."""
    return [slice(lo, min(lo + size, n)) for lo in range(0, n, size)]


def class_width(classes: int) -> int:
    return max(1, (classes - 1).bit_length())


def count_width(group_size: int) -> int:
    return max(1, group_size.bit_length())


def output_layout(netlist: Netlist, counts_out: bool) -> data.StructLayout:
    """Output payload: ``cls`` (predicted class), then ``counts`` (per class) if enabled."""
    fields = {"cls": unsigned(class_width(netlist.classes))}
    if counts_out:
        fields["counts"] = data.ArrayLayout(count_width(netlist.group_size), netlist.classes)
    return data.StructLayout(fields)


def input_shape(netlist: Netlist, raw: bool):
    if raw:
        enc = netlist.encoder
        return data.ArrayLayout(enc.feature_bits, enc.features)
    return unsigned(netlist.inputs)


def _gate_vector(op: int, a, b, k: int):
    if op == 0:
        return Const(0, k)
    if op == 1:
        return a & b
    if op == 2:
        return a & ~b
    if op == 3:
        return a
    if op == 4:
        return ~a & b
    if op == 5:
        return b
    if op == 6:
        return a ^ b
    if op == 7:
        return a | b
    if op == 8:
        return ~(a | b)
    if op == 9:
        return ~(a ^ b)
    if op == 10:
        return ~b
    if op == 11:
        return a | ~b
    if op == 12:
        return ~a
    if op == 13:
        return ~a | b
    if op == 14:
        return ~(a & b)
    return Const((1 << k) - 1, k)


_USES_A = {1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14}
_USES_B = {1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14}


class LogicNetwork(wiring.Component):
    """A learned Boolean network: input stream -> (class, counts) stream.

    netlist         the network (hwtrain.logic.netlist.Netlist).
    raw             input payload is raw features through the thermometer encoder
                    (default when the netlist has an encoder); otherwise the
                    payload is the encoded input bits (bit i = input node i).
    register_every  register after every k gate layers (0: combinational).
    counts_out      also stream out the GroupSum counts.
    max_vector      widest vector built (module docstring); wider ones are chunked.
    """

    def __init__(self, netlist: Netlist, *, raw: bool | None = None, register_every: int = 0,
                 counts_out: bool = True, max_vector: int = MAX_VECTOR):
        raw = netlist.encoder is not None if raw is None else raw
        require(not raw or netlist.encoder is not None,
                "raw feature input needs a netlist with a thermometer encoder")
        require(isinstance(register_every, int) and register_every >= 0,
                f"register_every must be a non-negative integer, got {register_every!r}")
        require(isinstance(max_vector, int) and max_vector >= 1,
                f"max_vector must be a positive integer, got {max_vector!r}")
        self.max_vector = max_vector
        self.netlist = netlist
        self.raw = raw
        self.register_every = register_every
        self.counts_out = counts_out
        super().__init__({
            "i": In(stream.Signature(input_shape(netlist, raw))),
            "o": Out(stream.Signature(output_layout(netlist, counts_out))),
        })

    @property
    def boundaries(self) -> list[int]:
        """Gate layers (0-based) after which a pipeline register sits."""
        k = self.register_every
        if k == 0:
            return []
        return [l for l in range(self.netlist.depth) if (l + 1) % k == 0]

    @property
    def latency(self) -> int:
        """Cycles from accepting an input to its output being valid."""
        return 1 + len(self.boundaries)

    def elaborate(self, platform):
        nl = self.netlist
        m = Module()
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]

        # ---- encoder
        cap = self.max_vector
        bit = [None] * nl.nodes
        if self.raw:
            enc = nl.encoder
            thr = enc.thresholds
            cmp = []
            for f in range(enc.features):
                feat = Signal(enc.feature_bits, name=f"feat{f}")
                m.d.comb += feat.eq(self.i.payload[f])
                cmp += [feat > int(thr[f, t]) for t in range(enc.levels)]
            # Whole vectors per assignment: assigning bit by bit costs Amaranth's
            # netlist builder O(width) per statement (quadratic overall).
            for k, sl in enumerate(_chunks(nl.inputs, cap)):
                x = Signal(sl.stop - sl.start, name="enc" if nl.inputs <= cap else f"enc_c{k}")
                m.d.comb += x.eq(Cat(*cmp[sl]))
                bit[sl] = [x[j] for j in range(len(x))]
        else:
            x = Signal(nl.inputs, name="enc")
            m.d.comb += x.eq(self.i.payload)
            bit[:nl.inputs] = [x[i] for i in range(nl.inputs)]

        # ---- last layer reading each node (depth for the outputs)
        last_use = np.full(nl.nodes, -1, dtype=np.int64)
        for l, layer in enumerate(nl.layers):
            last_use[layer.a[np.isin(layer.op, list(_USES_A))]] = l
            last_use[layer.b[np.isin(layer.op, list(_USES_B))]] = l
        last_use[nl.outputs] = nl.depth

        # ---- gate layers and pipeline registers
        starts = nl.layer_starts()
        valid = self.i.valid
        bounds = set(self.boundaries)
        for l, layer in enumerate(nl.layers):
            for op in np.unique(layer.op).tolist():
                all_pos = np.flatnonzero(layer.op == op)
                for c, sl in enumerate(_chunks(len(all_pos), cap)):
                    pos = all_pos[sl]
                    k = len(pos)
                    name = f"l{l}_{GATE_NAMES[op]}" + ("" if len(all_pos) <= cap else f"_c{c}")
                    a = b = None
                    if op in _USES_A:
                        a = Signal(k, name=f"{name}_a")
                        m.d.comb += a.eq(Cat(*(bit[j] for j in layer.a[pos].tolist())))
                    if op in _USES_B:
                        b = Signal(k, name=f"{name}_b")
                        m.d.comb += b.eq(Cat(*(bit[j] for j in layer.b[pos].tolist())))
                    y = Signal(k, name=name)
                    m.d.comb += y.eq(_gate_vector(op, a, b, k))
                    base = starts[l]
                    for j, p in enumerate(pos.tolist()):
                        bit[base + p] = y[j]
            if l in bounds:
                live = np.flatnonzero(last_use[:starts[l + 1]] > l)
                v = Signal(name=f"valid_l{l}")
                with m.If(en):
                    m.d.sync += v.eq(valid)
                valid = v
                for c, sl in enumerate(_chunks(live.size, cap)):
                    nodes = live[sl].tolist()
                    r = Signal(len(nodes), name=f"pipe_l{l}" + ("" if live.size <= cap else f"_c{c}"))
                    with m.If(en):
                        m.d.sync += r.eq(Cat(*(bit[j] for j in nodes)))
                    for j, node in enumerate(nodes):
                        bit[node] = r[j]

        # ---- GroupSum
        # The popcount reads its group as a list of single-bit slices of named
        # signals: no ``net_out``/group vector, which would be one Verilog line
        # of up to (gates in the last layer) sources, and no slice of a
        # concatenation, which Amaranth would re-emit in full for every bit read
        # (quadratic in the group size).
        g, cw = nl.group_size, count_width(nl.group_size)
        outs = nl.outputs.tolist()
        counts = []
        for c in range(nl.classes):
            cnt = Signal(cw, name=f"count{c}")
            group = [bit[j] for j in outs[c * g:(c + 1) * g]]
            if g == 1:
                m.d.comb += cnt.eq(group[0])
            else:
                m.d.comb += cnt.eq(popcount(m, group, structure="tree", stages=0, en=en,
                                            name=f"pop{c}"))
            counts.append(cnt)

        # ---- argmax, lowest index wins ties
        best = tournament(m, counts, "amax")

        with m.If(en):
            m.d.sync += [self.o.valid.eq(valid), self.o.payload.cls.eq(best)]
            if self.counts_out:
                m.d.sync += [self.o.payload.counts[c].eq(counts[c]) for c in range(nl.classes)]
        return m
