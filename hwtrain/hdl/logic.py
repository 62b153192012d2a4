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

Speed (issue 20): ``register_every="lut4"`` chooses the boundaries from the
netlist: a stage grows layer by layer while every node's cone still reads at
most four registered nodes, so yosys/ABC maps each stage to one LUT4 level
(about two gates per LUT4), and a register always follows the last layer.
``register_after`` lists the boundaries by hand. ``register_encoder`` puts a
register on the thermometer bits (those the net reads). ``head="pipelined"``
builds the GroupSum as compressor popcounts (``hwtrain.hdl.popcount``, full
adders of LUT3s, a carry chain for the final sum) with a register after every
``head_levels`` adder levels and after the sum, then a tournament with a
register after every round: no stage of the head has more than about two LUT
levels. ``flow="credit"`` drops the global enable: registers run freely and
a credit-counted output FIFO takes the back-pressure (``_credit_fifo``).
Latency = 1 + encoder register + gate boundaries + popcount registers +
tournament registers (+ 1 with the credit FIFO) (:attr:`LogicNetwork.latency`,
checked in simulation).

LUT layers (netlist version 2): a layer of k-input LUTs is built per chunk as a
Shannon tree of wide bitwise multiplexers over the gathered input vectors
(``l3_lut_x0`` ... ``l3_lut_x3``), the leaves the truth tables' entries as
constant vectors; yosys folds the constants and ABC maps each node's cone to
one LUT when its k <= 4 inputs are registered (``register_every="lut4"``
registers after every LUT4 layer).

Cheaper head (issue 20): ``head="fused"`` absorbs the last gate stage into the
popcounts' first level (:class:`FusedHead`): per class, outputs whose cones
together read at most four stage inputs are summed straight from those inputs
(one truth table per sum bit), the other outputs enter the heap as bits, and
the heap register stands in for the register after the last gate layer (same
latency). ``fifo="lutram"`` puts the credit flow's output FIFO in a memory
with asynchronous read (distributed RAM on ECP5) instead of flip-flops with a
multiplexer per bit.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..errors import require
from ..golden.logic import FIFOS, FLOWS, HEADS, LogicCoreConfig
from ..logic.netlist import GATE_NAMES, LutLayer, Netlist, op_depends
from ..config import dadda_plan
from .argmax import PIPELINES as ARGMAX_PIPELINES, tournament, tournament_registers
from .popcount import compress_heap, popcount, register_levels


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


_USES_A = {op for op in range(16) if op_depends(op)[0]}
_USES_B = {op for op in range(16) if op_depends(op)[1]}

#: Inputs of one LUT of the fabrics hwtrain targets (ECP5, iCE40).
LUT_INPUTS = 4


def constant_node(table: int, k: int, ins: list) -> Const | None:
    """The node as a constant when its ``k``-input function (``table``, MSB first as in the netlist)
    does not depend on its non-constant inputs (``ins``: each a Const or another value), else None.
    Covers tables that read nothing and nodes whose inputs the net has made constants."""
    fixed = {i: v.value for i, v in enumerate(ins) if isinstance(v, Const)}
    rows = [c for c in range(1 << k) if all(((c >> (k - 1 - i)) & 1) == v for i, v in fixed.items())]
    values = {(table >> ((1 << k) - 1 - c)) & 1 for c in rows}
    return Const(values.pop(), 1) if len(values) == 1 else None


def lut_layer_vector(mod, x: list, table: np.ndarray, name: str):
    """One chunk of a LUT layer: ``x[i]`` the gathered vector of input ``i`` of every
    node, ``table`` their truth tables; returns the signal of their values (a
    Shannon tree of bitwise multiplexers from the last input, constant leaves)."""
    k, n = len(x), len(table)
    t = [int(v) for v in table]
    cur = [Const(sum(((tj >> ((1 << k) - 1 - c)) & 1) << j for j, tj in enumerate(t)), n)
           for c in range(1 << k)]
    for i in range(k - 1, -1, -1):
        nxt = []
        for c in range(len(cur) // 2):
            y = Signal(n, name=f"{name}_m{i}_{c}" if i else name)
            mod.d.comb += y.eq((x[i] & cur[2 * c + 1]) | (~x[i] & cur[2 * c]))
            nxt.append(y)
        cur = nxt
    return cur[0]


def lut_boundaries(netlist: Netlist, lut_inputs: int = LUT_INPUTS) -> list[int]:
    """Gate layers after which a register goes so that every node computed in a
    stage depends on at most ``lut_inputs`` nodes registered before it (one LUT
    level per stage); a register always follows the last layer.

    Greedy from the inputs: a layer joins the current stage unless one of its
    gates would then read more than ``lut_inputs`` registered nodes.
    """
    if netlist.depth == 0:
        return []
    starts = netlist.layer_starts()
    support: list = [None] * netlist.nodes
    fresh = lambda end: [frozenset((j,)) for j in range(end)]
    support[:netlist.inputs] = fresh(netlist.inputs)
    bounds = []
    for l, layer in enumerate(netlist.layers):
        reads = list(zip(layer.reads().T.tolist(), layer.depends().T.tolist()))
        for attempt in range(2):
            sup = []
            for j in range(len(layer)):
                s = frozenset()
                for ids, used in reads:
                    if used[j]:
                        s |= support[ids[j]]
                sup.append(s)
            if attempt or all(len(x) <= lut_inputs for x in sup):
                break
            if l == 0:                      # a layer of LUTs wider than lut_inputs: its own stage
                break
            bounds.append(l - 1)            # l > 0 (a gate layer alone reads at most 2 nodes)
            support[:starts[l]] = fresh(starts[l])
        support[starts[l]:starts[l + 1]] = sup
    return bounds + [netlist.depth - 1]


def head_popcount_registers(group_size: int, head_levels: int) -> tuple[int, int]:
    """(``stages`` for :func:`compress_heap`, registers on the count's path) of a
    pipelined GroupSum popcount: registers spread so that no stage holds more
    than ``head_levels`` levels (adder stages and the final adder), and one on
    the sum so that the tournament starts from a register."""
    if group_size == 1:
        return 0, 0
    levels = len(dadda_plan([group_size])) + 1
    for stages in range(levels + 2):
        regs = sorted(register_levels(levels, stages)) if stages <= levels + 1 else []
        edges = [0] + [r for r in regs if r > 0] + [levels]
        if all(b - a <= head_levels for a, b in zip(edges, edges[1:])):
            return stages, stages + (levels not in regs)
    raise AssertionError("unreachable: one register per level always fits")


def heap_registers(heights: list[int], head_levels: int) -> tuple[int, int]:
    """:func:`head_popcount_registers` for a bit heap (``heights[c]`` bits of weight
    ``2**c``) instead of one column: (``stages`` for :func:`compress_heap`,
    registers on the sum's path). A heap of at most one bit per column is its
    own sum: (0, 0)."""
    if all(h <= 1 for h in heights):
        return 0, 0
    levels = len(dadda_plan(list(heights))) + 1
    for stages in range(levels + 2):
        regs = sorted(register_levels(levels, stages)) if stages <= levels + 1 else []
        edges = [0] + [r for r in regs if r > 0] + [levels]
        if all(b - a <= head_levels for a, b in zip(edges, edges[1:])):
            return stages, stages + (levels not in regs)
    raise AssertionError("unreachable: one register per level always fits")


def _tt_gate(op: int, a: int, b: int, mask: int) -> int:
    """Gate ``op`` on truth tables held as integers (bit r = value in row r)."""
    out = 0
    for va, ta in ((1, a), (0, ~a & mask)):
        for vb, tb in ((1, b), (0, ~b & mask)):
            if (op >> (3 - 2 * va - vb)) & 1:
                out |= ta & tb
    return out


class FusedHead:
    """Plan of the ``fused`` GroupSum head (issue 20): the last gate stage is
    absorbed into the popcounts' first level.

    Every output of the last stage (gate layers ``first_layer ..``, reading the
    nodes ``< base``, registered at the boundary before it) is a function of its
    *support*, the stage-input nodes its cone reads. Per class, outputs whose
    supports together hold at most ``lut_inputs`` nodes form a *cluster*; a
    cluster of k >= 3 outputs is summed straight from its support: each bit of
    the sum (0..k) is one ``lut_inputs``-input truth table, so 3 outputs become 2
    heap bits (5-7 become 3) in 2 (3) LUTs, where the plain head spends one LUT
    per output gate plus a full adder (2 LUT3s) per bit removed. The other
    outputs enter the heap as their gates' values, a node counted twice in a
    class once at weight 2. Exact: each cluster sum is the integer sum of its
    outputs, evaluated from the netlist's own gate functions.

    ``heaps[c]``: list of entries ``(column, kind, data)``: ``("node", id)`` or
    ``("sum", (support, tables))`` with ``tables[j]`` the truth table of sum bit j
    over the support (row r: bit i of r is support node i) at column j.
    """

    def __init__(self, netlist: Netlist, first_layer: int, lut_inputs: int = LUT_INPUTS):
        nl = netlist
        starts = nl.layer_starts()
        self.first_layer = first_layer
        self.base = base = starts[first_layer] if nl.depth else nl.inputs
        support: dict[int, frozenset] = {}

        def sup(n):
            if n < base:
                return frozenset((n,))
            return support[n]
        for l in range(first_layer, nl.depth):
            layer = nl.layers[l]
            for i, (op, a, b) in enumerate(zip(layer.op.tolist(), layer.a.tolist(), layer.b.tolist())):
                s = frozenset()
                if op in _USES_A:
                    s |= sup(a)
                if op in _USES_B:
                    s |= sup(b)
                support[starts[l] + i] = s
        self._sup = sup
        self.netlist = nl
        g, outs = nl.group_size, nl.outputs.tolist()
        self.heaps = []
        for c in range(nl.classes):
            members = outs[c * g:(c + 1) * g]
            heap = []
            for union, mem in self._clusters([sup(o) for o in members], lut_inputs):
                nodes = [members[i] for i in mem]
                if self.gain(nodes) > 0:
                    U = sorted(union)
                    tables = self._sum_tables(U, nodes)
                    heap += [(j, "sum", (tuple(U), tables, j)) for j in range(len(tables))]
                elif len(nodes) == 2 and nodes[0] == nodes[1]:
                    heap.append((1, "node", nodes[0]))
                else:
                    heap += [(0, "node", n) for n in nodes]
            self.heaps.append(heap)

    def gain(self, nodes) -> int:
        """LUTs a cluster sum saves, estimated: one per output gate it absorbs
        (a node of the stage, not one registered before it) plus a full adder (2
        LUTs) per heap bit it removes, minus its own LUTs, one per sum bit."""
        k = len(nodes)
        width = k.bit_length()
        return sum(n >= self.base for n in set(nodes)) + 2 * (k - width) - width if k >= 3 else 0

    @staticmethod
    def _clusters(sups, cap):
        """Greedy: outputs by decreasing support size join the cluster whose support
        grows least (ties: the larger cluster), or open a new one."""
        clusters = []                   # [union set, member positions]
        for i in sorted(range(len(sups)), key=lambda i: (-len(sups[i]), i)):
            best = None
            for cl in clusters:
                grow = len(cl[0] | sups[i]) - len(cl[0])
                if len(cl[0]) + grow <= cap and (best is None or (grow, -len(cl[1])) < best[0]):
                    best = ((grow, -len(cl[1])), cl)
            if best is None:
                clusters.append([set(sups[i]), [i]])
            else:
                best[1][0] |= sups[i]
                best[1][1].append(i)
        return [(frozenset(u), sorted(m)) for u, m in clusters]

    def _sum_tables(self, U, nodes):
        """Truth tables (over the support ``U``) of the bits of ``sum(nodes)``."""
        nl, starts = self.netlist, self.netlist.layer_starts()
        rows = 1 << len(U)
        mask = (1 << rows) - 1
        var = {u: sum(1 << r for r in range(rows) if (r >> i) & 1) for i, u in enumerate(U)}
        memo = {}

        def tt(n):
            if n < self.base:
                return var[n]
            if n not in memo:
                l = int(np.searchsorted(starts, n, side="right")) - 1
                layer = nl.layers[l]
                k = n - starts[l]
                op, a, b = int(layer.op[k]), int(layer.a[k]), int(layer.b[k])
                memo[n] = _tt_gate(op, tt(a) if op in _USES_A else 0, tt(b) if op in _USES_B else 0, mask)
            return memo[n]
        tabs = [tt(n) for n in nodes]
        sums = [sum((t >> r) & 1 for t in tabs) for r in range(rows)]
        width = max(1, max(sums).bit_length())
        return [sum(((v >> j) & 1) << r for r, v in enumerate(sums)) for j in range(width)]

    def heights(self, c: int) -> list[int]:
        h = [0] * (1 + max((col for col, _, _ in self.heaps[c]), default=0))
        for col, _, _ in self.heaps[c]:
            h[col] += 1
        return h

    @property
    def heap_bits(self) -> int:
        return sum(len(h) for h in self.heaps)

    def stage_needed(self) -> np.ndarray:
        """Bool per node: gates of the stage the head still needs (the cones of the
        outputs that enter the heap as bits); the others exist only inside cluster
        sums and are not built."""
        nl, starts = self.netlist, self.netlist.layer_starts()
        need = np.zeros(nl.nodes, dtype=bool)
        for heap in self.heaps:
            for _, kind, data in heap:
                if kind == "node":
                    need[data] = True
        for l in range(nl.depth - 1, self.first_layer - 1, -1):
            layer = nl.layers[l]
            for k in np.flatnonzero(need[starts[l]:starts[l + 1]]).tolist():
                op = int(layer.op[k])
                if op in _USES_A:
                    need[layer.a[k]] = True
                if op in _USES_B:
                    need[layer.b[k]] = True
        need[:self.base] = True
        return need

    @property
    def reads(self) -> set[int]:
        """Nodes the head reads: stage inputs of the cluster sums, outputs entering as bits."""
        r = set()
        for heap in self.heaps:
            for _, kind, data in heap:
                r |= set(data[0]) if kind == "sum" else {data}
        return r


class LogicNetwork(wiring.Component):
    """A learned Boolean network: input stream -> (class, counts) stream.

    netlist         the network (hwtrain.logic.netlist.Netlist).
    raw             input payload is raw features through the thermometer encoder
                    (default when the netlist has an encoder); otherwise the
                    payload is the encoded input bits (bit i = input node i).
    register_every  register after every k gate layers (0: combinational), or
                    ``"lut4"``: boundaries from :func:`lut_boundaries`.
    register_after  explicit gate layers (0-based) followed by a register;
                    replaces ``register_every``.
    register_encoder  register the thermometer bits the network reads.
    head            ``"comb"`` (popcount trees and argmax in the output cycle) or
                    ``"pipelined"`` (module docstring).
    head_levels     adder levels per pipelined popcount stage.
    argmax_pipeline registers of the pipelined head's tournament (``round``,
                    ``compare`` or ``split``; hwtrain.hdl.argmax).
    flow            ``"stall"``: one enable (``~o.valid | o.ready``) on every
                    register; ``"credit"``: free-running registers and an output
                    FIFO of ``latency + 1`` entries (``_credit_fifo``).
    fifo            the credit flow's FIFO: ``"shift"`` (flip-flops, entry 0 is the
                    output register) or ``"lutram"`` (a memory with asynchronous
                    read, distributed RAM on ECP5, behind the output register:
                    ``_credit_fifo_lutram``).
    counts_out      also stream out the GroupSum counts.
    max_vector      widest vector built (module docstring); wider ones are chunked.
    """

    def __init__(self, netlist: Netlist, *, raw: bool | None = None, register_every: int | str = 0,
                 register_after=None, register_encoder: bool = False, head: str = "comb",
                 head_levels: int = 2, argmax_pipeline: str = "split", flow: str = "stall",
                 fifo: str = "shift", counts_out: bool = True, max_vector: int = MAX_VECTOR):
        raw = netlist.encoder is not None if raw is None else raw
        require(not raw or netlist.encoder is not None,
                "raw feature input needs a netlist with a thermometer encoder")
        require(register_every == "lut4" or (isinstance(register_every, int)
                                             and not isinstance(register_every, bool) and register_every >= 0),
                f"register_every must be a non-negative integer or 'lut4', got {register_every!r}")
        require(head != "fused" or not netlist.has_luts,
                "head 'fused' absorbs a stage of 2-input gates; this netlist has LUT layers: "
                "use head 'pipelined'")
        if register_after is not None:
            register_after = sorted(set(int(l) for l in register_after))
            require(all(0 <= l < netlist.depth for l in register_after),
                    f"register_after must name gate layers 0..{netlist.depth - 1}, got {register_after}")
        require(head in HEADS, f"head must be one of {', '.join(HEADS)}, got {head!r}")
        require(flow in FLOWS, f"flow must be one of {', '.join(FLOWS)}, got {flow!r}")
        require(fifo in FIFOS, f"fifo must be one of {', '.join(FIFOS)}, got {fifo!r}")
        require(argmax_pipeline in ARGMAX_PIPELINES[1:],
                f"argmax_pipeline must be one of {', '.join(ARGMAX_PIPELINES[1:])}, got {argmax_pipeline!r}")
        require(isinstance(head_levels, int) and head_levels >= 1,
                f"head_levels must be a positive integer, got {head_levels!r}")
        require(isinstance(max_vector, int) and max_vector >= 1,
                f"max_vector must be a positive integer, got {max_vector!r}")
        self.max_vector = max_vector
        self.netlist = netlist
        self.raw = raw
        self.register_every = register_every
        self.register_after = register_after
        self.register_encoder = bool(register_encoder)
        self.head = head
        self.head_levels = head_levels
        self.argmax_pipeline = argmax_pipeline
        self.flow = flow
        self.fifo = fifo
        self.counts_out = counts_out
        super().__init__({
            "i": In(stream.Signature(input_shape(netlist, raw))),
            "o": Out(stream.Signature(output_layout(netlist, counts_out))),
        })

    @classmethod
    def from_config(cls, cfg: LogicCoreConfig, netlist: Netlist | None = None) -> "LogicNetwork":
        """The core of a :class:`LogicCoreConfig` (``netlist``: already loaded from ``cfg.netlist``)."""
        return cls(netlist or cfg.load_netlist(), raw=cfg.raw, register_every=cfg.register_every,
                   register_after=cfg.register_after, register_encoder=cfg.register_encoder, head=cfg.head,
                   head_levels=cfg.head_levels, argmax_pipeline=cfg.argmax_pipeline, flow=cfg.flow,
                   fifo=cfg.fifo, counts_out=cfg.counts_out)

    @property
    def boundaries(self) -> list[int]:
        """Gate layers (0-based) after which a pipeline register sits."""
        if self.register_after is not None:
            return list(self.register_after)
        k = self.register_every
        if k == "lut4":
            return lut_boundaries(self.netlist)
        if k == 0:
            return []
        return [l for l in range(self.netlist.depth) if (l + 1) % k == 0]

    @property
    def fused(self) -> FusedHead | None:
        """The ``fused`` head's plan (None for the other heads): its stage starts
        after the last boundary before the last gate layer."""
        if self.head != "fused":
            return None
        if getattr(self, "_fused", None) is None:
            prev = [b for b in self.boundaries if b < self.netlist.depth - 1]
            self._fused = FusedHead(self.netlist, max(prev) + 1 if prev else 0)
        return self._fused

    @property
    def _fused_sum_registers(self) -> list[tuple[int, int]]:
        """Per class (compress_heap stages, registers on the sum) of the fused head."""
        f = self.fused
        return [heap_registers(f.heights(c), self.head_levels) for c in range(self.netlist.classes)]

    @property
    def head_registers(self) -> tuple[int, int]:
        """(popcount, tournament) registers of the head (0, 0 when combinational).
        The fused head's heap register stands in for the register after the last
        gate layer (counted in :attr:`boundaries`) or, without one, is counted here."""
        if self.head == "comb":
            return 0, 0
        if self.head == "fused":
            nl = self.netlist
            own = nl.depth == 0 or (nl.depth - 1) not in self.boundaries
            pop = own + max(r for _, r in self._fused_sum_registers)
        else:
            _, pop = head_popcount_registers(self.netlist.group_size, self.head_levels)
        return pop, tournament_registers(self.netlist.classes, self.argmax_pipeline)

    @property
    def latency(self) -> int:
        """Cycles from accepting an input to its output being valid:
        1 (output register) + encoder register + gate boundaries + head registers
        (+ 1 for the ``credit`` flow's register in front of its FIFO)."""
        return (1 + self.register_encoder + len(self.boundaries) + sum(self.head_registers)
                + (self.flow == "credit"))

    def elaborate(self, platform):
        nl = self.netlist
        m = Module()
        if self.flow == "credit":
            # Free-running pipeline: no register has an enable, so no net fans out
            # to every flip-flop (with thousands of them, the enable's routing
            # alone took 3 ns on ECP5). Back-pressure is absorbed by an output
            # FIFO of latency + 1 entries; an input is accepted only while the
            # samples in flight plus those waiting fit in it (a credit count).
            en = Const(1, 1)
        else:
            en = Signal()
            m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        if self.head in ("pipelined", "fused"):
            # Encoder, gates and head as submodules: kept apart (``synth_ecp5
            # -noflatten``), ABC maps each to its own depth, so the one-LUT gate
            # stages are not relaxed to the two levels the encoder's 5-input
            # comparators and the head's adder stages need (ABC recovers area
            # up to the deepest path of the module it maps).
            me, mg, mh = Module(), Module(), Module()
            m.submodules.encoder, m.submodules.gates, m.submodules.head = me, mg, mh
        else:
            me = mg = mh = m
        mgates = mf = mg
        if self.head == "fused":
            # the fused stage (its gates, the cluster sums and the heap register) on
            # its own: ABC maps it at one LUT level, as the gate stages; inside the
            # head it would relax it to the head's two levels (226.8 MHz on the
            # 800-wide digits net, against 311.9 on the 200-wide)
            mf = Module()
            m.submodules.fuse = mf

        # ---- encoder
        cap = self.max_vector
        bit = [None] * nl.nodes
        if self.raw:
            enc = nl.encoder
            thr = enc.thresholds
            cmp = []
            for f in range(enc.features):
                feat = Signal(enc.feature_bits, name=f"feat{f}")
                me.d.comb += feat.eq(self.i.payload[f])
                cmp += [feat > int(thr[f, t]) for t in range(enc.levels)]
            # Whole vectors per assignment: assigning bit by bit costs Amaranth's
            # netlist builder O(width) per statement (quadratic overall).
            for k, sl in enumerate(_chunks(nl.inputs, cap)):
                x = Signal(sl.stop - sl.start, name="enc" if nl.inputs <= cap else f"enc_c{k}")
                me.d.comb += x.eq(Cat(*cmp[sl]))
                bit[sl] = [x[j] for j in range(len(x))]
        else:
            x = Signal(nl.inputs, name="enc")
            me.d.comb += x.eq(self.i.payload)
            bit[:nl.inputs] = [x[i] for i in range(nl.inputs)]

        # ---- last layer reading each node (depth for the outputs)
        last_use = nl.last_use()

        valid = self.i.valid
        if self.flow == "credit":
            # the pipeline does not stop, so it carries "accepted", not "offered"
            valid = Signal(name="accepted")
            m.d.comb += valid.eq(self.i.valid & self.i.ready)

        def register_nodes(mod, nodes, name):
            """Registers ``bit[j]`` of every node in ``nodes`` (chunked) in place; a constant node
            stays a constant (a register of it would be one flip-flop that yosys merges across the
            whole net: a wire from one place to every reader on the die)."""
            nodes = np.array([j for j in nodes.tolist() if not isinstance(bit[j], Const)], dtype=np.int64)
            for c, sl in enumerate(_chunks(nodes.size, cap)):
                part = nodes[sl].tolist()
                r = Signal(len(part), name=name + ("" if nodes.size <= cap else f"_c{c}"))
                with mod.If(en):
                    mod.d.sync += r.eq(Cat(*(bit[j] for j in part)))
                for j, node in enumerate(part):
                    bit[node] = r[j]

        def register_valid(mod, v, name):
            r = Signal(name=name)
            with mod.If(en):
                mod.d.sync += r.eq(v)
            return r

        if self.register_encoder:
            # only the bits some gate or output reads: the others cost nothing
            register_nodes(me, np.flatnonzero(last_use[:nl.inputs] >= 0), "pipe_enc")
            valid = register_valid(me, valid, "valid_enc")

        # ---- gate layers and pipeline registers
        starts = nl.layer_starts()
        bounds = set(self.boundaries)
        need = self.fused.stage_needed() if self.head == "fused" else None
        for l, layer in enumerate(nl.layers):
            # fused head: its stage's gates are mapped with the cluster sums (across a
            # module boundary, every output crossing it, ABC spent more LUTs on them)
            mg = mf if need is not None and l >= self.fused.first_layer else mgates
            if isinstance(layer, LutLayer):
                for c, sl in enumerate(_chunks(len(layer), cap)):
                    name = f"l{l}_lut" + ("" if len(layer) <= cap else f"_c{c}")
                    x = []
                    for i in range(layer.k):
                        xi = Signal(sl.stop - sl.start, name=f"{name}_x{i}")
                        mg.d.comb += xi.eq(Cat(*(bit[j] for j in layer.ins[sl, i].tolist())))
                        x.append(xi)
                    y = lut_layer_vector(mg, x, layer.table[sl], name)
                    for j in range(sl.start, sl.stop):
                        c = constant_node(int(layer.table[j]), layer.k, [bit[i] for i in layer.ins[j].tolist()])
                        bit[starts[l] + j] = y[j - sl.start] if c is None else c
            else:
                for op in np.unique(layer.op).tolist():
                    all_pos = np.flatnonzero(layer.op == op)
                    if need is not None:        # fused head: gates only inside cluster sums are not built
                        all_pos = all_pos[need[starts[l] + all_pos]]
                    for c, sl in enumerate(_chunks(len(all_pos), cap)):
                        pos = all_pos[sl]
                        k = len(pos)
                        name = f"l{l}_{GATE_NAMES[op]}" + ("" if len(all_pos) <= cap else f"_c{c}")
                        a = b = None
                        if op in _USES_A:
                            a = Signal(k, name=f"{name}_a")
                            mg.d.comb += a.eq(Cat(*(bit[j] for j in layer.a[pos].tolist())))
                        if op in _USES_B:
                            b = Signal(k, name=f"{name}_b")
                            mg.d.comb += b.eq(Cat(*(bit[j] for j in layer.b[pos].tolist())))
                        y = Signal(k, name=name)
                        mg.d.comb += y.eq(_gate_vector(op, a, b, k))
                        base = starts[l]
                        for j, p in enumerate(pos.tolist()):
                            c = constant_node(op, 2, [bit[int(layer.a[p])], bit[int(layer.b[p])]])
                            bit[base + p] = y[j] if c is None else c
            if l in bounds and not (self.head == "fused" and l == nl.depth - 1):
                # (fused head: the heap register of its first level stands in for this one)
                valid = register_valid(mg, valid, f"valid_l{l}")
                register_nodes(mg, np.flatnonzero(last_use[:starts[l + 1]] > l), f"pipe_l{l}")

        # ---- GroupSum
        # The popcount reads its group as a list of single-bit slices of named
        # signals: no ``net_out``/group vector, which would be one Verilog line
        # of up to (gates in the last layer) sources, and no slice of a
        # concatenation, which Amaranth would re-emit in full for every bit read
        # (quadratic in the group size).
        g, cw = nl.group_size, count_width(nl.group_size)
        outs = nl.outputs.tolist()
        pipelined = self.head in ("pipelined", "fused")
        pop_stages, pop_regs = head_popcount_registers(g, self.head_levels) if pipelined else (0, 0)
        counts = []
        if self.head == "fused":
            counts, valid = self._fused_head(mf, mh, bit, en, valid, register_valid)
            pop_regs = 0                # the valid registers went with the counts
        for c in range(nl.classes if self.head != "fused" else 0):
            cnt = Signal(cw, name=f"count{c}")
            group = [bit[j] for j in outs[c * g:(c + 1) * g]]
            if g == 1:
                mh.d.comb += cnt.eq(group[0])
            elif pipelined:
                # compressor: LUT3 full adders and one carry chain instead of a tree
                # of small adders, each mapped on its own (docs/popcount.md)
                total = compress_heap(mh, [group], stages=pop_stages, en=en, name=f"pop{c}")
                if pop_regs > pop_stages:
                    q = Signal(cw, name=f"pop{c}_sum_q")
                    with mh.If(en):
                        mh.d.sync += q.eq(total)
                    total = q
                mh.d.comb += cnt.eq(total)
            else:
                mh.d.comb += cnt.eq(popcount(mh, group, structure="tree", stages=0, en=en,
                                            name=f"pop{c}"))
            counts.append(cnt)
        for r in range(pop_regs):
            valid = register_valid(mh, valid, f"valid_pop{r}")

        # ---- argmax, lowest index wins ties
        amode = self.argmax_pipeline if pipelined else None
        arg_regs = tournament_registers(nl.classes, amode)
        best = tournament(mh, counts, "amax", pipeline=amode, en=en)
        for r in range(arg_regs):
            valid = register_valid(mh, valid, f"valid_amax{r}")
            if self.counts_out:
                # the counts travel beside the tournament
                nxt = []
                for c, cnt in enumerate(counts):
                    q = Signal(cw, name=f"count{c}_d{r}")
                    with mh.If(en):
                        mh.d.sync += q.eq(cnt)
                    nxt.append(q)
                counts = nxt

        if self.flow == "credit":
            if self.fifo == "lutram":
                self._credit_fifo_lutram(m, valid, best, counts)
            else:
                self._credit_fifo(m, valid, best, counts)
            return m
        with m.If(en):
            m.d.sync += [self.o.valid.eq(valid), self.o.payload.cls.eq(best)]
            if self.counts_out:
                m.d.sync += [self.o.payload.counts[c].eq(counts[c]) for c in range(nl.classes)]
        return m

    def _fused_head(self, mf, mh, bit, en, valid, register_valid):
        """GroupSum counts of the ``fused`` head (:class:`FusedHead`): each class's
        heap (cluster sums as truth tables of their stage inputs, other outputs as
        bits), registered, then compressed; every count arrives after the same
        number of registers (shorter heaps get delay registers on the sum)."""
        f, nl = self.fused, self.netlist
        cw = count_width(nl.group_size)
        plans = self._fused_sum_registers
        total_regs = max(r for _, r in plans)
        counts = []
        for c, heap in enumerate(f.heaps):
            cols = [[] for _ in f.heights(c)]
            for k, (col, kind, data) in enumerate(heap):
                if kind == "node":
                    cols[col].append(bit[data])
                    continue
                support, tables, j = data
                if not support:
                    cols[col].append(Const(tables[j] & 1, 1))
                    continue
                addr = Signal(len(support), name=f"fuse{c}_{k}_in")
                mf.d.comb += addr.eq(Cat(*(bit[u] for u in support)))
                y = Signal(name=f"fuse{c}_{k}_b{j}")
                mf.d.comb += y.eq(Const(tables[j], 1 << len(support)).bit_select(addr, 1))
                cols[col].append(y)
            heap_q = []
            for col, bits in enumerate(cols):
                if not bits:
                    heap_q.append([])
                    continue
                r = Signal(len(bits), name=f"fuse{c}_c{col}_q")
                with mf.If(en):
                    mf.d.sync += r.eq(Cat(*bits))
                heap_q.append([r[i] for i in range(len(bits))])
            stages, regs = plans[c]
            if all(len(col) <= 1 for col in heap_q):
                total = Cat(*(col[0] if col else Const(0, 1) for col in heap_q))
            else:
                total = compress_heap(mh, heap_q, stages=stages, en=en, name=f"pop{c}")
            for r in range(total_regs - stages):
                q = Signal(len(total), name=f"pop{c}_sum_q{r}")
                with mh.If(en):
                    mh.d.sync += q.eq(total)
                total = q
            cnt = Signal(cw, name=f"count{c}")
            mh.d.comb += cnt.eq(total)
            counts.append(cnt)
        valid = register_valid(mf, valid, "valid_heap")
        for r in range(total_regs):
            valid = register_valid(mh, valid, f"valid_pop{r}")
        return counts, valid

    def _credit_fifo_lutram(self, m, valid, best, counts):
        """Output FIFO of the ``credit`` flow in a memory with asynchronous read
        (ECP5: TRELLIS_DPR16X4 distributed RAM, 16 x 4 bits each) in front of the
        output register: a few dozen LUTs where the shift FIFO spends a 2:1
        multiplexer and an enable per bit plus three thermometer counts (issue 20).

        Every result is written into the memory in the cycle the shift FIFO loads
        its input register (write enable and data come straight from the
        tournament's registers), and the output register reloads from the read
        pointer whenever it is free or read and the memory holds a sample, so the
        latency is the shift FIFO's. The memory holds at most ``latency`` samples
        (the credits allow ``latency + 1`` with the output register); its depth
        is the next power of two, so the pointers wrap by themselves. Its fill
        ``ram`` and the credit count ``occ`` are thermometer codes: ``empty`` is a
        flip-flop, not a pointer comparison in front of the write enable.
        """
        depth = self.latency + 1
        layout = self.o.payload.shape()
        entry = Signal(layout, name="fifo_in")
        m.d.comb += entry.cls.eq(best)
        if self.counts_out:
            m.d.comb += [entry.counts[c].eq(counts[c]) for c in range(self.netlist.classes)]
        abits = max(1, (depth - 2).bit_length())     # 2**abits >= latency
        m.submodules.fifo_mem = mem = Memory(shape=layout, depth=1 << abits, init=[])
        wr = mem.write_port()
        rd = mem.read_port(domain="comb")
        wp = Signal(abits, name="fifo_wp")
        rp = Signal(abits, name="fifo_rp")
        ram = Signal(depth - 1, name="fifo_ram")     # thermometer: bit k = more than k samples
        occ = Signal(depth, name="credit_occ")
        load = Signal(name="fifo_load")
        pop = Signal()
        accept = Signal()
        m.d.comb += [rd.addr.eq(rp), wr.addr.eq(wp), wr.data.eq(entry), wr.en.eq(valid),
                     pop.eq(self.o.valid & self.o.ready), load.eq((~self.o.valid | self.o.ready) & ram[0]),
                     self.i.ready.eq(~occ[depth - 1]), accept.eq(self.i.valid & self.i.ready)]
        with m.If(valid):
            m.d.sync += wp.eq(wp + 1)
        with m.If(load):
            m.d.sync += [self.o.payload.eq(rd.data), self.o.valid.eq(1), rp.eq(rp + 1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        for count, up, down in ((ram, valid, load), (occ, accept, pop)):
            with m.If(up & ~down):
                m.d.sync += count.eq(Cat(Const(1, 1), count[:-1]))
            with m.Elif(down & ~up):
                m.d.sync += count.eq(count[1:])

    def _credit_fifo(self, m, valid, best, counts):
        """Output FIFO of the ``credit`` flow; its entries are the output registers,
        so the latency is the same as with the ``stall`` flow.

        ``occ`` counts samples accepted and not yet read out. A sample accepted in
        every cycle stays in flight for ``latency`` cycles, so ``depth = latency
        + 1`` entries keep one sample per clock when the consumer is ready, and
        the FIFO never holds more than ``occ <= depth`` samples.
        """
        depth = self.latency + 1
        layout = self.o.payload.shape()
        # The FIFO's input is registered (one more cycle of latency): its write
        # logic then starts from flip-flops, not behind the argmax's last multiplexer.
        entry = Signal(layout, name="fifo_in")
        m.d.sync += entry.cls.eq(best)
        if self.counts_out:
            m.d.sync += [entry.counts[c].eq(counts[c]) for c in range(self.netlist.classes)]
        push = Signal(name="fifo_push")
        m.d.sync += push.eq(valid)
        # A shift-register FIFO: entry 0 is the output register (no read
        # multiplexer after it); a read shifts every entry one place towards it,
        # a write fills the first free entry.
        mem = [Signal(layout, name=f"fifo{k}") for k in range(depth)]
        # Counts as thermometer codes (bit k: count > k), so ``i.ready`` and
        # ``o.valid`` are single flip-flops and each bit updates from its two
        # neighbours, with no adder or comparator between registers; ``slot`` is
        # the FIFO level one-hot (bit k: level == k), the write position.
        level = Signal(depth, name="fifo_level")
        occ = Signal(depth, name="credit_occ")
        slot = Signal(depth + 1, name="fifo_slot", init=1)
        pop = Signal()
        accept = Signal()
        m.d.comb += [self.o.valid.eq(level[0]), pop.eq(self.o.valid & self.o.ready),
                     self.i.ready.eq(~occ[depth - 1]), accept.eq(self.i.valid & self.i.ready),
                     self.o.payload.eq(mem[0])]
        for k in range(depth):
            with m.If(pop):
                with m.If(push & slot[k + 1]):
                    m.d.sync += mem[k].eq(entry)
                if k + 1 < depth:       # the last entry is free after a read
                    with m.Else():
                        m.d.sync += mem[k].eq(mem[k + 1])
            with m.Elif(push & slot[k]):
                m.d.sync += mem[k].eq(entry)
        with m.If(push & ~pop):
            m.d.sync += slot.eq(slot << 1)
        with m.Elif(pop & ~push):
            m.d.sync += slot.eq(slot >> 1)
        for count, up in ((level, push), (occ, accept)):
            with m.If(up & ~pop):
                m.d.sync += count.eq(Cat(Const(1, 1), count[:-1]))
            with m.Elif(pop & ~up):
                m.d.sync += count.eq(count[1:])

