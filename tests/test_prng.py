"""The shared PRNG: known answers, lane emulation, Bernoulli thresholds, Amaranth twin."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwtrain.errors import HwtrainError
from hwtrain.core import prng
from hwtrain.core.prng import Xorshift32
from hwtrain.hdl.prng import Xorshift32 as Xorshift32Hdl


def test_known_answers_of_marsaglia_xorshift32():
    # Marsaglia (2003), xorshift32 with shifts (13, 17, 5) from state 1.
    s, seq = 1, []
    for _ in range(3):
        s = prng.step(s)
        seq.append(s)
    assert seq == [270369, 67634689, 2647435461]
    g = Xorshift32(states=[1])
    assert g.draws(3)[:, 0].tolist() == seq


def test_lanes_equal_the_scalar_reference():
    g = Xorshift32(seed=5, lanes=7)
    d = g.draws(500)
    for lane in range(7):
        s = prng.lane_seed(5, lane)
        ref = []
        for _ in range(500):
            s = prng.step(s)
            ref.append(s)
        assert d[:, lane].tolist() == ref


def test_lane_seeds_are_distinct_and_non_zero():
    seeds = [prng.lane_seed(s, l) for s in range(20) for l in range(64)]
    assert 0 not in seeds and len(set(seeds)) == len(seeds)


def test_next_draws_and_bits_agree():
    a, b, c = Xorshift32(9, 3), Xorshift32(9, 3), Xorshift32(9, 3)
    n = np.stack([a.next() for _ in range(10)])
    np.testing.assert_array_equal(n, b.draws(10))
    np.testing.assert_array_equal(c.bits(10), (n >> 31).astype(bool))


def test_bernoulli_threshold_semantics():
    assert prng.threshold(0.0) == 0 and prng.threshold(1.0) == 2**32
    assert prng.threshold(0.25) == 2**30
    g = Xorshift32(3, 16)
    assert not g.bernoulli([0] * 16).any()
    assert g.bernoulli([2**32] * 16).all()
    freq = np.mean([Xorshift32(i, 64).bernoulli([prng.threshold(0.25)] * 64) for i in range(200)])
    assert abs(freq - 0.25) < 0.02
    with pytest.raises(HwtrainError, match=r"\[0, 1\]"):
        prng.threshold(1.5)


def test_bad_states_are_refused():
    with pytest.raises(HwtrainError, match="non-zero"):
        Xorshift32(states=[0])
    with pytest.raises(HwtrainError, match="at least one lane"):
        Xorshift32(lanes=0)


def test_amaranth_block_equals_golden_with_stalls():
    """Fast unit bench in Amaranth's simulator; the cocotb bench checks 100,000 draws."""
    lanes, n = 3, 300
    dut = Xorshift32Hdl(seed=11, lanes=lanes)
    want = Xorshift32(11, lanes).draws(n)
    ready = Xorshift32(99, 1).bits(4 * n)[:, 0]
    got = []

    async def bench(ctx):
        i = 0
        while len(got) < n:
            ctx.set(dut.o.ready, int(ready[i]))
            i += 1
            *_, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            assert valid
            if ready[i - 1]:
                got.append([int(payload[l]) for l in range(lanes)])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    np.testing.assert_array_equal(np.array(got, dtype=np.uint64), want)
