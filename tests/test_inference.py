"""Inference cores: configuration errors, golden semantics, every layer kind in Amaranth simulation."""

import numpy as np
import pytest

from hwtrain.errors import HwtrainError
from hwtrain.core import bits
from hwtrain.golden.inference import InferenceCore
from hwtrain.core.prng import Xorshift32
from hwtrain.hdl.inference import InferenceCore as InferenceCoreHdl
from hwtrain.hdl.stream_sim import run_stream
from hwtrain.inference import BinaryMLP, InferenceConfig
from hwtrain.inference.config import LayerImpl


@pytest.mark.parametrize("kwargs, message", [
    (dict(sizes=(64,), classes=10), "at least one layer"),
    (dict(sizes=(64, 0), classes=10), "positive integer"),
    (dict(sizes=(64, 30), classes=1), "classes"),
    (dict(sizes=(64, 30), classes=10, impl="folded:7x16"), r"PE=7 does not divide its 30 neurons"),
    (dict(sizes=(64, 30), classes=10, impl="folded:5x24"), r"SIMD=24 does not divide its 64 inputs"),
    (dict(sizes=(64, 30), classes=10, impl="serial:3"), r"SIMD=3 does not divide its 64 inputs"),
    (dict(sizes=(64, 30), classes=10, impl="systolic"), "unknown layer implementation"),
    (dict(sizes=(64, 30), classes=10, impl="folded:8"), "cannot read layer implementation"),
    (dict(sizes=(64, 30, 10), classes=10, impl=("serial", "serial", "serial")), "3 layer implementations"),
    (dict(sizes=(64, 30), classes=10, store="flash"), "unknown weight store"),
    (dict(sizes=(8, 30), classes=10, impl="parallel:9"), "layer 0: pipeline of 9 stages"),
    (dict(sizes=(64, 30), classes=10, impl="folded:5x16:x"), "cannot read layer implementation"),
    (dict(sizes=(64, 30), classes=10, impl="folded:5x16:p-1"), "cannot read layer implementation"),
    (dict(sizes=(64, 30), classes=10, impl="folded:5x16:p9"), "layer 0: 9 pipeline registers do not fit"),
    (dict(sizes=(8, 4), classes=10, impl="folded:4x8:p2"), r"at most 1 \(the PE popcount"),
    (dict(sizes=(64, 30), classes=10, impl="folded:5x16:c2"), r"layer 0: :c2 needs the ROM weight store"),
    (dict(sizes=(64, 30), classes=10, impl="folded:5x16:c6", store="rom"), r"at most PE=5 PEs per copy"),
    (dict(sizes=(64, 30), classes=10, impl="folded:5x16:c2:c2"), "cannot read layer implementation"),
    (dict(sizes=(64, 30), classes=10, impl="serial:4:c2"), "cannot read layer implementation"),
    (dict(sizes=(16, 8), classes=10, impl="folded:8x8:p2:c1", store="rom"),
     r"2 pipeline registers and the 2 issue registers \(:c\) exceed its 2 compute cycles"),
])
def test_bad_configurations_are_explained(kwargs, message):
    with pytest.raises(HwtrainError, match=message):
        InferenceConfig(**kwargs)


def test_cycle_formulas():
    cfg = InferenceConfig((64, 32, 16), 10, impl=("folded:8x16", "serial:4"))
    assert [cfg.layer_cycles(l) for l in range(2)] == [4 * 4 + 1, 8 + 1]
    assert cfg.cycles_per_sample == 17
    # folded: its cycles + 1 + one popcount register (default), its slice; serial: no register
    assert cfg.latency == (17 + 1 + 1 + 1) + (9 + 1 + 1) + 2
    deep = InferenceConfig((64, 32, 16), 10, impl=("folded:8x16:p3", "serial:4:p1"))
    assert deep.impl == ("folded:8x16:p3", "serial:4:p1")
    assert deep.cycles_per_sample == 17 and deep.latency == (17 + 1 + 3 + 1) + (9 + 1 + 1 + 1) + 2
    assert InferenceConfig((64, 32), 10, impl="folded:8x16:p1").impl == ("folded:8x16",)
    assert InferenceConfig((64, 32), 10, impl="folded:8x16:p0").latency == 17 + 1 + 1 + 2
    # the issue registers of :cG: two more cycles of latency, none per sample
    copied = InferenceConfig((64, 32, 16), 10, impl=("folded:8x16:p3:c4", "serial:4:p1"), store="rom")
    assert copied.impl == ("folded:8x16:p3:c4", "serial:4:p1")
    assert copied.layer_impls[0].copies == 4 and LayerImpl.parse("folded:8x16:c4:p3").pipeline == 3
    assert copied.cycles_per_sample == 17 and copied.latency == deep.latency + 2
    from hwtrain.hdl.inference import ISSUE_REGISTERS
    assert copied.layer_impls[0].issue_registers == ISSUE_REGISTERS
    par = InferenceConfig((64, 32, 16), 10, impl="parallel:3")
    assert par.cycles_per_sample == 1 and par.latency == (3 + 1) + (3 + 1) + 2


def test_model_shape_mismatch_is_explained():
    cfg = InferenceConfig((16, 8), 4)
    other = BinaryMLP.random(InferenceConfig((16, 6), 4))
    with pytest.raises(HwtrainError, match=r"model sizes \[16, 6\] do not match the configuration's \[16, 8\]"):
        InferenceCore(cfg, other)


def test_golden_equals_float_reference():
    cfg = InferenceConfig((37, 20, 9), 5)
    core = InferenceCore(cfg)
    x = Xorshift32(5, 37).bits(200).astype(np.int8) * 2 - 1
    a = x.astype(np.int64)
    for w in core.model.weights:
        a = np.where(a @ w.T.astype(np.int64) >= 0, 1, -1)
    logits = a @ core.model.classifier.T.astype(np.int64)
    cls, got_logits = core(x)
    np.testing.assert_array_equal(got_logits, logits)
    np.testing.assert_array_equal(cls, np.argmax(logits, axis=1))


def run_core(cfg, x):
    """Stream samples through the Amaranth core with random gaps on both sides."""
    dut = InferenceCoreHdl(cfg)
    payloads = bits.to_int(bits.pack(x), cfg.sizes[0])
    gaps = Xorshift32(3, 2).draws(len(payloads)) % 4
    return dut.golden, run_stream(dut, payloads, gaps=gaps)


@pytest.mark.parametrize("sizes, impl, store, popcount", [
    ((16, 8, 6), ("folded:2x4", "serial:2"), "registers", "compressor"),
    ((16, 8, 6), ("folded:4x2", "parallel:2"), "rom", "tree"),
    ((16, 8, 6), ("parallel:3", "parallel:2"), "auto", "compressor"),
    ((12, 6), ("folded:3x3",), "bram", "compressor"),
    ((9, 5), ("serial:1",), "rom", "tree"),
    ((7, 4, 3), ("parallel:1", "folded:1x4"), "bram", "tree"),
    ((8, 4), ("folded:4x4",), "bram", "tree"),            # two weight words: fetch edge case
    # popcount pipeline registers: none, deeper, as deep as the compute cycles allow
    ((16, 8, 6), ("folded:2x4:p0", "serial:2:p2"), "registers", "compressor"),
    ((16, 8, 6), ("folded:4x8:p2", "folded:2x8:p3"), "rom", "compressor"),
    ((16, 8, 6), ("folded:8x8:p2", "folded:6x8:p1"), "bram", "tree"),
    # block RAM without an output register: one, two and many words, with and without popcount registers
    ((12, 6), ("folded:3x3",), "bram_direct", "compressor"),
    ((8, 4), ("folded:4x4",), "bram_direct", "tree"),
    ((8, 4), ("folded:2x8:p0",), "bram_direct", "compressor"),
    ((16, 8, 6), ("folded:2x4:p2", "serial:2:p1"), "bram_direct", "compressor"),
    ((8, 4), ("folded:4x8:p1",), "registers", "compressor"),   # one compute cycle
    # the issue registers (:cG): groups that divide PE or not, one weight word, P = 0
    ((16, 8, 6), ("folded:4x4:p2:c2", "folded:3x8:p0:c2"), "rom", "compressor"),
    ((16, 8, 6), ("folded:8x8:p0:c8", "folded:6x4:p0:c1"), "rom", "tree"),
])
def test_every_layer_kind_equals_golden(sizes, impl, store, popcount):
    cfg = InferenceConfig(sizes, 4, impl=impl, store=store, logits_out=True, popcount=popcount)
    x = np.concatenate([np.ones((1, sizes[0]), bool), Xorshift32(sizes[0], sizes[0]).bits(40)])
    golden, got = run_core(cfg, x)
    cls, logits = golden(x)
    assert len(got) == len(x)
    for s, out in enumerate(got):
        assert out.cls == cls[s], f"sample {s}"
        assert [int(out.logits[c]) for c in range(4)] == logits[s].tolist(), f"sample {s}"


def test_skid_buffer_keeps_order_under_stalls_and_runs_one_per_clock():
    from amaranth.sim import Simulator
    from hwtrain.hdl.skid import SkidBuffer
    payloads = [int(v) for v in Xorshift32(7, 1).draws(200)[:, 0] % 256]
    gaps = Xorshift32(9, 2).draws(len(payloads)) % 3
    assert run_stream(SkidBuffer(8), payloads, gaps=gaps) == payloads
    # always-ready consumer, always-valid producer: one payload per clock, ready never drops
    dut, seen = SkidBuffer(8), []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        for n in range(20):
            ctx.set(dut.i.payload, n)
            assert ctx.get(dut.i.ready)
            await ctx.tick()
            if ctx.get(dut.o.valid):
                seen.append(ctx.get(dut.o.payload))
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == list(range(20))


@pytest.mark.parametrize("k, n, pe, simd, pipeline, copies", [
    (16, 8, 2, 4, 3, 0),      # 16 compute cycles, deep
    (16, 8, 4, 8, 2, 0),      # 4 compute cycles
    (12, 6, 6, 6, 2, 0),      # one fold of 2 slices: P = compute cycles
    (8, 4, 4, 8, 1, 0),       # one compute cycle
    (9, 5, 5, 1, 2, 0),       # serial-like, 1-input popcount
    (16, 8, 4, 8, 1, 2),      # the issue registers: P + 2 = 3 of 4 compute cycles in flight
    (12, 6, 6, 6, 0, 4),      # P + 2 = compute cycles, a short last group
])
@pytest.mark.parametrize("registered_ready", [False, True])
def test_pipelined_folded_layer_keeps_results_under_output_stalls(k, n, pe, simd, pipeline, copies,
                                                                   registered_ready):
    """A folded layer alone, fed back to back and drained with long random stalls:
    the next sample starts while the previous one's last slices are still in the
    popcount registers, and no result may be overwritten or lost."""
    from hwtrain.hdl.inference import FoldedLayer
    rng = np.random.default_rng(k * n + pipeline)
    w = rng.integers(0, 2, (n, k)).astype(bool)
    thr = rng.integers(0, k + 2, n)
    x = rng.integers(0, 2, (60, k)).astype(bool)
    expect = [int(bits.to_int(bits.pack(row[None, :]), n)[0])
              for row in ((~(x[:, None, :] ^ w[None])).sum(axis=2) >= thr[None])]
    gaps = np.stack([np.zeros(len(x), int), rng.integers(0, 3, len(x)) * rng.integers(0, 12, len(x))], 1)
    dut = FoldedLayer(k, n, pe, simd, w, thr, "rom" if copies else "registers", "compressor",
                      pipeline=pipeline, registered_ready=registered_ready, copies=copies)
    got = _run_stream_bounded(dut, [int(v) for v in bits.to_int(bits.pack(x), k)], gaps,
                              cycles=60 * (k + 40))
    bad = [s for s, (g, e) in enumerate(zip(got, expect)) if int(g) != e]
    if len(got) != len(expect) or bad:
        pytest.fail(f"{len(got)} of {len(expect)} results, wrong: {bad[:5]}", pytrace=False)


def _run_stream_bounded(dut, payloads, gaps, cycles):
    """run_stream, but a lost result ends the run after ``cycles`` instead of hanging."""
    from amaranth.sim import Simulator
    from hwtrain.hdl.stream_sim import stream_get, stream_put
    got = []

    async def producer(ctx):
        for n, payload in enumerate(payloads):
            if gaps[n, 0]:
                await ctx.tick().repeat(int(gaps[n, 0]))
            await stream_put(ctx, dut.i, payload)

    async def consumer(ctx):
        for n in range(len(payloads)):
            if gaps[n, 1]:
                await ctx.tick().repeat(int(gaps[n, 1]))
            got.append(await stream_get(ctx, dut.o))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer, background=True)
    sim.run_until(cycles * 1e-6)
    return got


@pytest.mark.parametrize("impl, argmax", [
    (("folded:4x8:p2", "folded:2x8:p3"), "none"), (("folded:4x4:p0",), "none"),
    (("serial:4:p1", "parallel:2"), "none"),
    # registers in the argmax tournament; parallel layers: one sample per clock through them
    (("folded:4x4:p0",), "split"), (("parallel:1", "parallel:2"), "round"),
    (("parallel:2",), "compare"), (("parallel:1",), "split"),
    # no register slices between the layers (the second item's "-"): one cycle less per layer
    (("folded:4x8:p2", "folded:2x8:p3"), "split-"), (("folded:2x8", "folded:3x4"), "none-"),
    (("serial:4:p1", "parallel:2"), "round-"), (("parallel:1", "parallel:2"), "none-"),
    (("folded:4x8:p2:c2", "folded:2x8:p0:c1"), "none"), (("folded:4x8:p1:c3", "folded:2x4:c2"), "split-"),
])
def test_pipelined_core_runs_at_the_formulas(impl, argmax):
    """Always-valid producer, always-ready consumer: the first class after exactly
    ``latency`` cycles, then one every ``cycles_per_sample``."""
    from amaranth.sim import Simulator
    sizes = (16, 8, 6)[:len(impl) + 1]
    cfg = InferenceConfig(sizes, 4, impl=impl, store="rom", argmax_pipeline=argmax.rstrip("-"),
                          register_slices=not argmax.endswith("-"))
    dut, seen = InferenceCoreHdl(cfg), []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        for t in range(cfg.latency + 6 * cfg.cycles_per_sample + 1):
            if ctx.get(dut.o.valid):
                seen.append(t)
            await ctx.tick()
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen[0] == cfg.latency
    assert np.diff(seen).tolist() == [cfg.cycles_per_sample] * (len(seen) - 1)


def test_argmax_pipeline_registers_and_latency():
    from hwtrain.hdl.argmax import tournament_registers
    for classes in (2, 3, 4, 5, 10, 17):
        for p in ("none", "round", "compare", "split"):
            cfg = InferenceConfig((16, 8), classes, impl="parallel:2", argmax_pipeline=p)
            assert cfg.argmax_registers == tournament_registers(classes, None if p == "none" else p)
            assert cfg.latency == InferenceConfig((16, 8), classes, impl="parallel:2").latency \
                + cfg.argmax_registers
    assert InferenceConfig((16, 8), 10, argmax_pipeline="split").argmax_registers == 7
    with pytest.raises(HwtrainError, match="unknown argmax pipeline 'deep'"):
        InferenceConfig((16, 8), 10, argmax_pipeline="deep")


@pytest.mark.parametrize("classes, argmax, slices, impl", [
    (5, "round", True, ("folded:2x4", "parallel:1")), (10, "compare", True, ("folded:2x4", "parallel:1")),
    (10, "split", True, ("folded:2x4", "parallel:1")), (3, "split", True, ("folded:2x4", "parallel:1")),
    # without register slices: layers hand over directly, under the same random stalls
    (10, "split", False, ("folded:2x4", "parallel:1")), (4, "none", False, ("folded:4x4:p2", "serial:2")),
    (5, "round", False, ("parallel:1", "folded:3x8:p0")),
])
def test_pipelined_argmax_equals_golden_under_stalls(classes, argmax, slices, impl):
    """Classes and logits through a pipelined tournament (byes with an odd class count)
    under random stalls on both streams, with and without register slices between layers."""
    cfg = InferenceConfig((16, 8, 6), classes, impl=impl, store="bram_direct",
                          logits_out=True, argmax_pipeline=argmax, register_slices=slices)
    x = np.concatenate([np.ones((1, 16), bool), Xorshift32(16, 16).bits(40)])
    golden, got = run_core(cfg, x)
    cls, logits = golden(x)
    assert len(got) == len(x)
    for s, out in enumerate(got):
        assert out.cls == cls[s], f"sample {s}"
        assert [int(out.logits[c]) for c in range(classes)] == logits[s].tolist(), f"sample {s}"
