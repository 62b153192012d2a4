"""Amaranth simulation of hwtrain.hdl.logic.LogicNetwork against its golden twin."""

from __future__ import annotations

import re

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwtrain.errors import HwtrainError
from hwtrain.golden.logic import LogicNetwork as Golden
from hwtrain.hdl.logic import LogicNetwork, class_width, count_width
from hwtrain.logic.netlist import GroupSum, Thermometer, random_netlist
from hwtrain.logic.prune import prune


def _payload_int(nl, x_row, raw):
    if raw:
        fb = nl.encoder.feature_bits
        return sum(int(v) << (f * fb) for f, v in enumerate(x_row))
    return sum(int(v) << i for i, v in enumerate(x_row))


def simulate(nl, X, *, raw, register_every, counts_out=True, p_in=0.3, p_out=0.3, seed=1, **hw):
    """Stream every row of X through the design with random stalls on both sides."""
    dut = LogicNetwork(nl, raw=raw, register_every=register_every, counts_out=counts_out, **hw)
    rng = np.random.default_rng(seed)
    in_gaps = rng.random(len(X) * 4) < p_in
    out_stalls = rng.random(len(X) * 8 + 100) < p_out
    iw, cw = class_width(nl.classes), count_width(nl.group_size)
    got = []
    cycles = []

    async def producer(ctx):
        k = 0
        for row in X:
            while in_gaps[k % len(in_gaps)]:
                k += 1
                await ctx.tick()
            k += 1
            ctx.set(dut.i.payload.as_value() if raw else dut.i.payload, _payload_int(nl, row, raw))
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        k = 0
        t = 0
        while len(got) < len(X):
            ready = not out_stalls[k % len(out_stalls)]
            k += 1
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload.as_value())
            t += 1
            if valid and ready:
                v = int(payload)
                cls = v & ((1 << iw) - 1)
                counts = [(v >> (iw + c * cw)) & ((1 << cw) - 1) for c in range(nl.classes)] \
                    if counts_out else None
                got.append((cls, counts))
                cycles.append(t)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return dut, got, cycles


def check(nl, X, *, raw, register_every, counts_out=True, **kw):
    golden = Golden(nl)
    counts = golden.counts(X) if raw else golden.counts_from_bits(X)
    pred = golden.argmax(counts)
    dut, got, cycles = simulate(nl, X, raw=raw, register_every=register_every, counts_out=counts_out, **kw)
    if kw.get("p_in", 0.3) == 0 and kw.get("p_out", 0.3) == 0:
        assert cycles[-1] - cycles[0] == len(X) - 1      # one sample per clock
    assert [g[0] for g in got] == pred.tolist()
    if counts_out:
        assert np.array([g[1] for g in got]).tolist() == counts.tolist()
    return dut, counts


@pytest.mark.parametrize("register_every", [0, 1, 2])
def test_encoded_bits_random_backpressure(register_every):
    nl = random_netlist(11, [30, 20, 12], 3, seed=5 + register_every)
    X = np.random.default_rng(register_every).integers(0, 2, (70, 11))
    dut, counts = check(nl, X, raw=False, register_every=register_every)
    assert dut.latency == 1 + (3 // register_every if register_every else 0)
    # groups of 4 bits: ties at the maximum must occur, so the tie-break is exercised
    top = counts.max(axis=1, keepdims=True)
    assert ((counts == top).sum(axis=1) > 1).any()


@pytest.mark.parametrize("register_every", [0, 1, 3])
def test_thermometer_raw_features_with_skips(register_every):
    enc = Thermometer(np.array([[0, 3, 9], [5, 6, 7], [1, 2, 14], [15, 15, 15], [8, 0, 4]]), 4)
    nl = random_netlist(enc.bits, [25, 17, 13, 10], 5, seed=11, skip=True, encoder=enc)
    X = np.random.default_rng(2).integers(0, 16, (65, 5))
    X[0] = 15
    X[1] = 0
    check(nl, X, raw=True, register_every=register_every, counts_out=register_every != 1)


def test_pruned_network_with_skip_connections_pipelined():
    nl = random_netlist(9, [40, 30, 20, 8], 4, seed=21)
    p = prune(nl)
    assert p.gates < nl.gates
    X = np.random.default_rng(3).integers(0, 2, (64, 9))
    # the pruned net reads across layers; registers after every layer carry those bits
    check(p, X, raw=False, register_every=1)
    g1 = Golden(nl).counts_from_bits(X)
    g2 = Golden(p).counts_from_bits(X)
    assert (g1 == g2).all()


def test_single_class_group_of_one_and_no_gates():
    from hwtrain.logic.netlist import GroupSum, Netlist
    nl = Netlist(3, [], np.array([2, 0, 1]), GroupSum(3))
    X = np.random.default_rng(4).integers(0, 2, (20, 3))
    check(nl, X, raw=False, register_every=2, p_in=0.0, p_out=0.0)


@pytest.mark.parametrize("flow", ["stall", "credit"])
def test_full_throughput_without_stalls(flow):
    nl = random_netlist(8, [16, 16, 8], 2, seed=1)
    X = np.random.default_rng(5).integers(0, 2, (40, 8))
    check(nl, X, raw=False, register_every=1, p_in=0.0, p_out=0.0, flow=flow)


def test_bad_arguments():
    nl = random_netlist(8, [16, 8], 2, seed=1)
    with pytest.raises(HwtrainError, match="thermometer"):
        LogicNetwork(nl, raw=True)
    with pytest.raises(HwtrainError, match="register_every"):
        LogicNetwork(nl, register_every=-1)
    with pytest.raises(HwtrainError, match="max_vector"):
        LogicNetwork(nl, max_vector=0)


@pytest.mark.parametrize("register_every", [0, 1])
def test_vectors_wider_than_max_vector_are_chunked(register_every):
    """Gate groups, pipeline registers and the encoder split into chunks of <= max_vector bits."""
    from amaranth.back import rtlil
    enc = Thermometer(np.array([[0, 3, 9], [5, 6, 7], [1, 2, 14], [15, 15, 15], [8, 0, 4]]), 4)
    nl = random_netlist(enc.bits, [40, 30, 20], 2, seed=12, skip=True, encoder=enc)
    X = np.random.default_rng(6).integers(0, 16, (60, 5))
    check(nl, X, raw=True, register_every=register_every, max_vector=3)
    text = rtlil.convert(LogicNetwork(nl, register_every=register_every, max_vector=3), emit_src=False)
    widths = [int(w) for w in re.findall(r"wire width (\d+) (?:output \d+ )?\\(?:l\d|enc|pipe)", text)]
    assert widths and max(widths) <= 3
    assert "enc_c4" in text and ("pipe_l0_c" in text) == (register_every == 1)


# ---- issue 20: pipelined variants (LUT4 packing, encoder register, pipelined head)

def first_output_cycle(nl, x_row, *, raw, **hw):
    """Cycles from the accepting edge of one input to its output being valid (no stalls)."""
    dut = LogicNetwork(nl, raw=raw, **hw)
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.payload.as_value() if raw else dut.i.payload, _payload_int(nl, x_row, raw))
        ctx.set(dut.i.valid, 1)
        await ctx.tick()                      # accepted on this edge
        ctx.set(dut.i.valid, 0)
        for t in range(1, 40):
            if ctx.get(dut.o.valid):
                seen.append(t)
                return
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return dut, seen[0]


PIPELINED = [
    dict(register_every="lut4", register_encoder=True, head="pipelined", flow="credit"),
    dict(register_every="lut4", register_encoder=True, head="pipelined"),
    dict(register_every=1, head="pipelined", head_levels=1, argmax_pipeline="round"),
    dict(register_every=0, register_after=[0, 2], register_encoder=True, head="pipelined", head_levels=3,
         argmax_pipeline="compare"),
    # fused head (the last gate stage inside the popcounts) and the LUT-RAM credit FIFO
    dict(register_every="lut4", register_encoder=True, head="fused", flow="credit", fifo="lutram"),
    dict(register_every="lut4", register_encoder=True, head="pipelined", flow="credit", fifo="lutram"),
    dict(register_every="lut4", register_encoder=True, head="fused"),
    dict(register_every=1, head="fused", head_levels=1, argmax_pipeline="round", flow="credit"),
    dict(register_every=0, register_after=[0, 2], register_encoder=True, head="fused", head_levels=3,
         argmax_pipeline="compare", flow="credit", fifo="lutram"),
]


@pytest.mark.parametrize("hw", PIPELINED)
def test_pipelined_variants_bit_exact_and_latency(hw):
    enc = Thermometer(np.array([[0, 3, 9], [5, 6, 7], [1, 2, 14], [15, 15, 15], [8, 0, 4]]), 4)
    nl = random_netlist(enc.bits, [25, 17, 13, 21], 7, seed=11, skip=True, encoder=enc)  # odd: 7 x 3
    X = np.random.default_rng(2).integers(0, 16, (65, 5))
    dut, counts = check(nl, X, raw=True, **hw)
    if hw.get("flow") == "credit":      # FIFO full and empty: long stalls on either side
        check(nl, X, raw=True, p_in=0.05, p_out=0.8, seed=3, **hw)
        check(nl, X, raw=True, p_in=0.8, p_out=0.05, seed=4, **hw)
    _, first = first_output_cycle(nl, X[0], raw=True, **hw)
    assert first == dut.latency == (1 + dut.register_encoder + len(dut.boundaries) + sum(dut.head_registers)
                                   + (dut.flow == "credit"))
    assert dut.head_registers[0] >= 1 and dut.head_registers[1] >= 2


@pytest.mark.parametrize("head,fifo", [("pipelined", "shift"), ("fused", "lutram")])
@pytest.mark.parametrize("classes,group", [(1, 5), (5, 1), (1, 1)])
def test_pipelined_corner_shapes(classes, group, head, fifo):
    """One class (no tournament round), groups of one bit (no popcount)."""
    nl = random_netlist(7, [15, classes * group], classes, seed=classes + group)
    X = np.random.default_rng(9).integers(0, 2, (40, 7))
    hw = dict(register_every="lut4", head=head, flow="credit", fifo=fifo)
    dut, _ = check(nl, X, raw=False, **hw)
    assert first_output_cycle(nl, X[0], raw=False, **hw)[1] == dut.latency


def test_lut_boundaries_cones_read_at_most_four_registered_nodes():
    from hwtrain.hdl.logic import _USES_A, _USES_B, lut_boundaries
    for seed in range(4):
        nl = prune(random_netlist(12, [30, 30, 24, 20, 10], 5, seed=seed, skip=seed % 2 == 1))
        bounds = lut_boundaries(nl)
        assert bounds[-1] == nl.depth - 1 and bounds == sorted(set(bounds))
        starts = nl.layer_starts()
        sup = {j: {j} for j in range(nl.nodes)}
        edges = [-1] + bounds
        for lo, hi in zip(edges, edges[1:]):       # stage = layers lo+1 .. hi
            sup = {j: {j} for j in range(starts[lo + 1])}
            for l in range(lo + 1, hi + 1):
                lay = nl.layers[l]
                for k, (op, a, b) in enumerate(zip(lay.op.tolist(), lay.a.tolist(), lay.b.tolist())):
                    s = (sup[a] if op in _USES_A else set()) | (sup[b] if op in _USES_B else set())
                    assert len(s) <= 4
                    sup[starts[l] + k] = s
        assert len(bounds) < nl.depth or nl.depth == 1 or seed % 2   # layered nets pack 2 layers


def test_tournament_twin_equals_argmax():
    from hwtrain.golden.logic import tournament_argmax
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 7, 10):
        v = rng.integers(0, 3, (300, n))
        assert (tournament_argmax(v) == v.argmax(axis=1)).all()


def test_pipelined_bad_arguments():
    nl = random_netlist(8, [16, 8], 2, seed=1)
    for kw, msg in [(dict(register_every="lut6"), "register_every"), (dict(register_every=True), "register_every"),
                    (dict(register_after=[2]), "register_after"), (dict(head="fast"), "head"),
                    (dict(head_levels=0), "head_levels"), (dict(argmax_pipeline="x"), "argmax_pipeline"),
                    (dict(flow="ready"), "flow"), (dict(fifo="bram"), "fifo")]:
        with pytest.raises(HwtrainError, match=msg):
            LogicNetwork(nl, **kw)


# ---- issue 20: the fused head (last gate stage absorbed into the popcounts)

def _fused_nets():
    """Pruned random nets, layered and with skips, whose last stage has clusters."""
    for seed in range(4):
        yield seed, prune(random_netlist(7, [24, 30, 6 * 5], 6, seed=seed, skip=seed % 2 == 1))


@pytest.mark.parametrize("seed,nl", list(_fused_nets()))
def test_fused_head_bit_exact_on_random_pruned_netlists(seed, nl):
    from hwtrain.hdl.logic import FusedHead, lut_boundaries
    X = np.array([[(v >> i) & 1 for i in range(7)] for v in range(128)])     # every input
    X = np.concatenate([X, np.random.default_rng(seed).integers(0, 2, (40, 7))])
    hw = dict(register_every="lut4", head="fused", flow="credit", fifo="lutram")
    dut, _ = check(nl, X, raw=False, **hw)
    f = dut.fused
    # clusters were formed and each absorbed gates; the heap holds fewer bits than outputs
    sums = [e for heap in f.heaps for e in heap if e[1] == "sum"]
    assert sums and f.heap_bits < len(nl.outputs)
    # every cluster sum is the integer sum of its outputs: the heap's value per class
    # (sum bits at their columns) equals the golden count for every input
    bounds = lut_boundaries(nl)
    assert f.first_layer == (bounds[-2] + 1 if len(bounds) > 1 else 0)
    assert isinstance(f, FusedHead)
    _, first = first_output_cycle(nl, X[0], raw=False, **hw)
    assert first == dut.latency


def test_fused_head_negative_control_one_truth_table_row():
    """A cluster sum with one row of one truth table flipped must be caught."""
    from hwtrain.hdl import logic as hdl_logic
    seed, nl = next(iter(_fused_nets()))
    X = np.array([[(v >> i) & 1 for i in range(7)] for v in range(128)])
    hw = dict(register_every="lut4", head="fused", flow="credit", fifo="lutram", p_in=0.0, p_out=0.0)
    check(nl, X, raw=False, **hw)                       # the intact design passes
    plan = hdl_logic.FusedHead.__init__
    v = [int(b) for b in X[5]]                          # node values of one sample
    for layer in nl.layers:
        v += [(op >> (3 - 2 * v[a] - v[b])) & 1 for op, a, b in zip(layer.op.tolist(), layer.a.tolist(),
                                                                   layer.b.tolist())]

    def corrupted(self, *a, **kw):
        plan(self, *a, **kw)
        for heap in self.heaps:
            for k, (col, kind, data) in enumerate(heap):
                if kind == "sum" and data[0]:
                    support, tables, j = data
                    row = sum(v[u] << i for i, u in enumerate(support))    # the row sample 5 reads
                    tables = list(tables)
                    tables[j] ^= 1 << row                # one row of one sum bit
                    heap[k] = (col, kind, (support, tables, j))
                    return
    hdl_logic.FusedHead.__init__ = corrupted
    try:
        with pytest.raises(AssertionError):
            check(nl, X, raw=False, **hw)
    finally:
        hdl_logic.FusedHead.__init__ = plan


def test_fused_head_clusters_only_when_they_save_luts():
    """Outputs registered before the stage (support of one node each) are not
    clustered into 4:3 counters (3 LUTs to remove one bit, worse than a full adder)."""
    from hwtrain.hdl.logic import FusedHead
    from hwtrain.logic.netlist import GroupSum, Netlist
    nl = Netlist(12, [], np.arange(12), GroupSum(2))        # no gates: outputs are inputs
    f = FusedHead(nl, 0)
    assert all(kind == "node" for heap in f.heaps for _, kind, _ in heap)
    assert f.heap_bits == 12


# ---- LUT layers (netlist version 2)

def _lut_net(table_mask=None):
    """LUT4 layers with skips, then a LUT3 and a LUT2 layer, through a thermometer."""
    from hwtrain.logic.netlist import LutLayer, Netlist
    enc = Thermometer(np.array([[0, 3, 9], [5, 6, 7], [1, 2, 14], [15, 15, 15], [8, 0, 4]]), 4)
    nl = random_netlist(enc.bits, [20, 16, 12], 4, seed=13, skip=True, encoder=enc, lut=4)
    mid = random_netlist(nl.nodes, [9, 12], 4, seed=14, lut=3).layers
    last = LutLayer(mid[1].table & np.uint64(15), mid[1].ins[:, :2] % (nl.nodes + 9))
    if table_mask is not None:
        last.table = last.table ^ np.uint64(table_mask)
    return Netlist(nl.inputs, nl.layers + [mid[0], last], np.arange(nl.nodes + 9, nl.nodes + 21),
                   nl.decoder, enc)


@pytest.mark.parametrize("hw", [dict(register_every=0), dict(register_every=1, max_vector=5),
                                dict(register_every="lut4", register_encoder=True, head="pipelined",
                                     flow="credit", fifo="lutram")])
def test_lut_layers_bit_exact(hw):
    nl = _lut_net()
    X = np.random.default_rng(2).integers(0, 16, (65, 5))
    dut, counts = check(nl, X, raw=True, **hw)
    _, first = first_output_cycle(nl, X[0], raw=True, **hw)
    assert first == dut.latency
    if hw["register_every"] == "lut4":            # one stage per layer: every LUT reads registered nodes
        assert dut.boundaries == [0, 1, 2, 3, 4]
    # negative control: one table entry of every output LUT changed, the golden counts differ
    bad = Golden(_lut_net(table_mask=1)).counts(X)
    assert (bad != counts).any()


def test_fused_head_refuses_lut_layers():
    with pytest.raises(HwtrainError, match="has LUT layers"):
        LogicNetwork(_lut_net(), head="fused", register_every="lut4")


@pytest.mark.parametrize("register_every", [1, "lut4"])
def test_constant_nodes_are_not_registered(register_every):
    """A node that reads none of its inputs, or whose inputs the net made constants, is a constant in the
    RTL, not a pipeline register (yosys merged those into one flip-flop wired to every reader on the die);
    bit-exact against the golden model."""
    from amaranth.back import rtlil
    from hwtrain.logic.netlist import Layer, LutLayer, Netlist
    rng = np.random.default_rng(3)
    tables = rng.integers(1, 0xFFFF, 8, dtype=np.uint64)
    tables[[2, 5]] = [0, 0xFFFF]                                # nodes 14 and 17: constants 0 and 1
    l0 = LutLayer(tables, rng.integers(0, 12, (8, 4)))
    # gates 20-25: XOR, OR(0, x), FALSE, TRUE, AND(0, x) (a constant through its input), NAND
    l1 = Layer(np.array([6, 7, 0, 15, 1, 14]), np.array([12, 14, 12, 13, 14, 15]),
               np.array([13, 15, 16, 17, 19, 18]))
    xor4, and4 = 0x6996, 0x0001                                # (tables MSB first: row 1111 is bit 0)
    l2 = LutLayer(np.array([xor4, xor4, and4, xor4], dtype=np.uint64),
                  np.array([[20, 21, 24, 25],      # reads no constant
                            [22, 23, 14, 17],      # reads only constants: a constant
                            [20, 22, 21, 25],      # AND with the constant 0: a constant
                            [21, 23, 25, 20]]))    # XOR with a constant: not one
    nl = Netlist(12, [l0, l1, l2], np.arange(26, 30), GroupSum(2))
    X = rng.integers(0, 2, (40, 12))
    check(nl, X, raw=False, register_every=register_every)
    text = rtlil.convert(LogicNetwork(nl, raw=False, register_every=register_every))
    widths = {m[2]: int(m[1]) for m in re.finditer(r"wire width (\d+) \\(pipe_l\d)\b", text)}
    # layer 0: nodes 12-15, 18, 19 are read, less the constant 14; layer 1: 20-25 less 22, 23, 24;
    # layer 2 (the outputs): 26-29 less 27 and 28
    assert widths == {"pipe_l0": 5, "pipe_l1": 3, "pipe_l2": 2}
