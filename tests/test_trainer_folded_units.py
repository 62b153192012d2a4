"""The folded trainer's units (Amaranth simulator) against their golden twins.

StepUnit vs ``bits.saturate`` (every 4-bit weight, every direction/enable);
AccumulateUnit and ApplyUnit (mini-batch) vs the golden ``acc += delta`` and
``clip(h + 2 acc)`` over every 4-bit weight and accumulator;
LaneRing vs ``prng.Xorshift32.draws`` over two sweeps of a ring whose last
group is short; DecisionUnit vs ``rules.predict`` / ``rules.margins``;
WinnerTracker vs ``rules.easiest_wrong``. The whole engine is checked in
tests/test_trainer_folded.py.
"""

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Signal, signed
from amaranth.sim import Simulator

from hwtrain.core import bits as gbits
from hwtrain.core import prng
from hwtrain.golden.train import rules
from hwtrain.golden.trainer_folded import decision_latency
from hwtrain.hdl.saturate import within_gate
from hwtrain.hdl.trainer_folded import (AccumulateUnit, ApplyUnit, ChunkTracker, DecisionUnit, LaneRing, StepUnit,
                                        WinnerTracker,
                                        entry_layout)


def run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_step_unit_every_weight_and_direction():
    B = 4
    vals = list(range(-7, 8, 2))                       # every odd 4-bit weight
    dut = StepUnit(len(vals), B)
    got = {}

    async def bench(ctx):
        ctx.set(dut.h, vals)
        for up in (0, (1 << len(vals)) - 1):
            for en in (0, 0b01010101, (1 << len(vals)) - 1):
                ctx.set(dut.up, up)
                ctx.set(dut.en, en)
                await ctx.delay(1e-9)
                got[up, en] = [ctx.get(dut.out[j]) for j in range(len(vals))]

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    for (up, en), out in got.items():
        step = [(2 if up >> j & 1 else -2) if en >> j & 1 else 0 for j in range(len(vals))]
        assert out == list(gbits.saturate(np.add(vals, step), B))


def test_within_gate_is_abs_compare_a_clock_after_the_gate_is_set():
    class Gate(Elaboratable):
        def __init__(self):
            self.z, self.gate, self.ok = Signal(signed(5)), Signal(4), Signal()

        def elaborate(self, platform):
            m = Module()
            m.d.comb += self.ok.eq(within_gate(m, self.z, self.gate, name="neg_gate"))
            return m

    dut = Gate()
    got, stale = {}, []

    async def bench(ctx):
        for g in range(16):
            ctx.set(dut.gate, g)
            await ctx.tick()                        # -gate reaches its register
            for z in range(-16, 16):
                ctx.set(dut.z, z)
                await ctx.delay(1e-9)
                got[z, g] = ctx.get(dut.ok)
        ctx.set(dut.gate, 3)                        # read in the clock the gate changes: -gate still -15
        ctx.set(dut.z, -5)
        await ctx.delay(1e-9)
        stale.append(ctx.get(dut.ok))

    run(dut, bench)
    assert got == {(z, g): int(abs(z) <= g) for z in range(-16, 16) for g in range(16)}
    assert stale == [1]                             # the documented one-clock lag (abs(-5) <= 3 is false)


def comb_outputs(dut, cases):
    """Settle the combinational ``dut`` for each dict of port values; return ``out`` per case."""
    got = []

    async def bench(ctx):
        for case in cases:
            for port, v in case.items():
                ctx.set(getattr(dut, port), v)
            await ctx.delay(1e-9)
            got.append([ctx.get(dut.out[j]) for j in range(len(dut.out))])

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return got


def test_accumulate_unit_every_accumulator_and_direction():
    """acc +- 1 per enabled element, no bound (a batch never reaches the B-bit limit: plan() checks)."""
    B = 4
    accs = list(range(-6, 7))                          # |acc| <= batch <= 2^(B-1) - 1 = 7, one step left
    dut = AccumulateUnit(len(accs), B)
    cases = [{"acc": accs, "up": up, "en": en}
             for up in (0, (1 << len(accs)) - 1, 0b0101010101010) for en in (0, 0b1100110011001, (1 << len(accs)) - 1)]
    for case, out in zip(cases, comb_outputs(dut, cases)):
        delta = [((1 if case["up"] >> j & 1 else -1) if case["en"] >> j & 1 else 0) for j in range(len(accs))]
        assert out == list(np.add(accs, delta))


def test_apply_unit_every_weight_and_accumulator():
    """sat(h + 2 acc) for every odd 4-bit weight and every accumulator of a batch of up to 7."""
    B = 4
    lo, hi = gbits.sat_bounds(B)
    hs, accs = np.meshgrid(np.arange(-7, 8, 2), np.arange(-7, 8))
    hs, accs = hs.ravel().tolist(), accs.ravel().tolist()
    dut = ApplyUnit(len(hs), B)
    (out,) = comb_outputs(dut, [{"h": hs, "acc": accs}])
    assert out == np.clip(np.add(hs, np.multiply(2, accs)), lo, hi).tolist()
    assert min(out) == lo and max(out) == hi                  # both bounds were reached


@pytest.mark.parametrize("groups", [1, 2], ids=["one_group", "a_rotate_per_lane"])
def test_lane_ring_reproduces_the_golden_draws(groups):
    """7 rows in groups of 3 (the last has 1) by 5 columns in words of 2 (the last has 1), two sweeps;
    the lanes in one group or each in its own (its own rotate copy, queue slice and slot register)."""
    K, F, PE, S = 7, 5, 3, 2
    W, NG = -(-F // S), -(-K // PE)
    gen = prng.Xorshift32(seed=11, lanes=F)
    init = [prng.step(int(s)) for s in gen.state] + [1] * (W * S - F)
    thr = 1 << 31
    slices = [range(j, j + 1) for j in range(S)] if groups == 2 else None
    dut = LaneRing(W, S, PE, K - (NG - 1) * PE, [init[w * S:(w + 1) * S] for w in range(W)], slices=slices)
    every = (1 << len(dut.rotate)) - 1
    seen = []

    async def bench(ctx):
        for g in range(len(dut.rotate)):
            ctx.set(dut.thr[g], thr)
        for _ in range(2):
            for g in range(NG):
                for w in range(W):
                    ctx.set(dut.rotate, every)             # word at "S1"
                    ctx.set(dut.last, g == NG - 1)
                    await ctx.tick()
                    ctx.set(dut.rotate, 0)                 # its events at "S2"
                    seen.append((g, w, [ctx.get(dut.events[p]) for p in range(PE)]))
                    await ctx.tick()

    run(dut, bench)
    ref = prng.Xorshift32(seed=11, lanes=F)
    for sweep in range(2):
        d = ref.draws(K) < thr                             # (rows, columns)
        for g, w, ev in seen[sweep * NG * W:(sweep + 1) * NG * W]:
            for p in range(PE):
                for j in range(S):
                    k, col = g * PE + p, w * S + j
                    if k < K and col < F:
                        assert bool(ev[p] >> j & 1) == bool(d[k, col]), (sweep, g, w, p, j)


@pytest.mark.parametrize("C", [2, 5, 10])
def test_decision_unit_matches_predict_and_margins(C):
    lb = 6
    rng = prng.Xorshift32(5, 1)
    logits = (rng.draws(40 * C)[:, 0] % 9).astype(np.int32).reshape(40, C) - 4   # many ties
    ys = np.arange(40) % C
    dut = DecisionUnit(C, lb)
    out = []

    async def bench(ctx):
        ctx.set(dut.threshold, 2)
        for row, y in zip(logits, ys):
            ctx.set(dut.logits, [int(v) for v in row])
            ctx.set(dut.y, int(y))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            clocks = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                clocks += 1
            out.append((ctx.get(dut.pred), ctx.get(dut.active)))
            lat.append(clocks)

    lat = []
    run(dut, bench)
    assert set(lat) == {dut.latency} and dut.latency == decision_latency(C)   # the cycle model's figure
    assert [o[0] for o in out] == list(rules.predict(logits))
    assert [o[1] for o in out] == [int(v) for v in rules.margins(logits, ys) < 2]


def test_winner_tracker_matches_easiest_wrong():
    K, gamma, zb = 12, 4, 5
    rng = prng.Xorshift32(9, 1)
    d = rng.draws(3 * K)[:, 0]
    z = (d[:K] % 13).astype(np.int32) - 6
    t = np.where(d[K:2 * K] >> 31, 1, -1)
    ent = entry_layout(4, 1)
    dut = WinnerTracker(K, zb, ent)
    got = []

    async def bench(ctx):
        ctx.set(dut.gamma, gamma)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        for k in range(K):
            ctx.set(dut.valid, 1)
            ctx.set(dut.wrong, int((z[k] >= 0) != (t[k] > 0)))
            ctx.set(dut.stab, int(t[k] * z[k]))
            ctx.set(dut.entry, {"base": k, "lane": 0, "t": int(t[k] > 0)})
            await ctx.tick()
        ctx.set(dut.valid, 0)
        n = ctx.get(dut.count)
        for i in range(n):
            ctx.set(dut.rd_addr, i)
            await ctx.tick()
            got.append((ctx.get(dut.rd_data.base), ctx.get(dut.rd_data.t)))

    run(dut, bench)
    coeff = rules.easiest_wrong(t[None, :], z[None, :], gamma)[0]
    assert got == [(int(k), int(coeff[k] > 0)) for k in np.flatnonzero(coeff)]


@pytest.mark.parametrize("gamma,lanes", [(3, 3), (5, 3), (15, 3), (3, 2), (5, 4), (3, 1)])
def test_chunk_tracker_matches_easiest_wrong(gamma, lanes):
    """Chunks of `lanes` neurons per clock (the last one short), groups of gamma >= lanes ending inside
    chunks, at their ends, or spanning several; ties in stability; one clock idle between two chunks."""
    K, zb = 15, 5
    rng = prng.Xorshift32(11, 1)
    d = rng.draws(2 * K)[:, 0]
    z = (d[:K] % 7).astype(np.int32) - 3                      # many equal stabilities
    t = np.where(d[K:] >> 31, 1, -1)
    ent = entry_layout(4, 2)
    dut = ChunkTracker(K, lanes, zb, ent)
    got = []

    async def bench(ctx):
        ctx.set(dut.gamma, gamma)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        for c, k0 in enumerate(range(0, K, lanes)):
            n = min(lanes, K - k0)
            ctx.set(dut.valid, 1)
            ctx.set(dut.n, n)
            for p in range(lanes):
                k = min(k0 + p, K - 1)
                ctx.set(dut.wrong[p], int((z[k] >= 0) != (t[k] > 0)))
                ctx.set(dut.stab[p], int(t[k] * z[k]))
                ctx.set(dut.entry[p], {"base": k0, "lane": p, "t": int(t[k] > 0)})
            await ctx.tick()
            if c == 1:
                ctx.set(dut.valid, 0)
                await ctx.tick()
        ctx.set(dut.valid, 0)
        while ctx.get(dut.busy):
            await ctx.tick()
        await ctx.tick()                  # the last entry is written the clock busy falls
        n = ctx.get(dut.count)
        for i in range(n):
            ctx.set(dut.rd_addr, i)
            await ctx.tick()
            got.append((ctx.get(dut.rd_data.base) + ctx.get(dut.rd_data.lane), ctx.get(dut.rd_data.t)))

    run(dut, bench)
    coeff = rules.easiest_wrong(t[None, :], z[None, :], gamma)[0]
    assert got == [(int(k), int(coeff[k] > 0)) for k in np.flatnonzero(coeff)]
