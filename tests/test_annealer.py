"""The Amaranth annealer against the golden annealer (lane 0), in Amaranth's simulator;
golden-model properties of the annealer itself."""

import numpy as np
import pytest

from hwtrain.errors import HwtrainError
from hwtrain.golden.annealer import (Annealer, AnnealerConfig, IsingProblem, Schedule, check_fits,
                                     hardware_cost)
from hwtrain.core.prng import generator


def small_config(n=7, seed=5, steps=3, sweeps=2, depth=16) -> AnnealerConfig:
    p = IsingProblem.random(n, seed)
    return AnnealerConfig.make(p, Schedule.geometric(p, steps, sweeps, lut_depth=depth), seed=seed + 1)


def simulate(cfg, stall_seed=None):
    from amaranth.sim import Simulator
    from hwtrain.hdl.annealer import Annealer as HdlAnnealer
    from hwtrain.hdl.stream_sim import stream_get

    dut = HdlAnnealer(cfg)
    trace, final = [], {}
    stalls = generator(stall_seed, 1) if stall_seed is not None else None

    async def bench(ctx):
        for _ in range(cfg.trace_length()):
            if stalls is not None:
                await ctx.tick().repeat(int(stalls.next()[0] % 4) + 1)
            trace.append(await stream_get(ctx, dut.o))
        await ctx.tick().repeat(3)
        final["spins"] = ctx.get(dut.spins)
        final["done"] = ctx.get(dut.done)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    spins = np.array([1 if (final["spins"] >> i) & 1 else -1 for i in range(len(cfg.h))])
    return np.array(trace), spins, final["done"]


@pytest.mark.parametrize("n,steps,sweeps,depth,stall", [(7, 3, 2, 16, None), (5, 2, 1, 1, 9)])
def test_hardware_matches_golden_lane_zero(n, steps, sweeps, depth, stall):
    cfg = small_config(n=n, steps=steps, sweeps=sweeps, depth=depth)
    want_spins, want_trace = Annealer(cfg.problem(), cfg.schedule(), cfg.seed, lanes=2).run()
    got_trace, got_spins, done = simulate(cfg, stall)
    assert done == 1
    assert np.array_equal(got_trace, want_trace[0])
    assert np.array_equal(got_spins, want_spins[0])
    # the trace really moves, so equality is not trivially met
    assert len(set(got_trace.tolist())) > 1


def test_golden_energy_trace_is_the_true_energy():
    p = IsingProblem.random(24, 3, jmax=9)
    sch = Schedule.geometric(p, 6, 2, lut_depth=64)
    s, trace = Annealer(p, sch, seed=4, lanes=5).run()
    assert trace.shape == (5, 1 + 6 * 2)
    assert np.array_equal(trace[:, -1], p.energy(s))
    assert len(set(trace[:, -1].tolist())) > 1 or len(set(trace[0].tolist())) > 1


def test_lane_zero_does_not_depend_on_the_number_of_lanes():
    p = IsingProblem.random(10, 8)
    sch = Schedule.geometric(p, 4, 1, lut_depth=32)
    s1, t1 = Annealer(p, sch, seed=2, lanes=1).run()
    s4, t4 = Annealer(p, sch, seed=2, lanes=4).run()
    assert np.array_equal(s1[0], s4[0]) and np.array_equal(t1[0], t4[0])


def test_annealing_beats_random_spins():
    p = IsingProblem.random(40, 11)
    sch = Schedule.geometric(p, 20, 5, lut_depth=256)
    s, trace = Annealer(p, sch, seed=1, lanes=4).run()
    random_e = p.energy(2 * generator(99, 40).bits(64).astype(np.int64) - 1)
    assert trace[:, -1].max() < random_e.min()


def test_lut_rejects_large_uphill_moves_and_is_monotone():
    p = IsingProblem.random(8, 1)
    lut = Schedule.geometric(p, 5, 1, lut_depth=64).lut()
    assert (np.diff(lut.astype(np.int64), axis=1) <= 0).all()        # larger uphill: less likely
    assert (np.diff(lut.astype(np.int64), axis=0) <= 0).all()        # colder: less likely


def test_malformed_problems_and_oversized_problems_are_refused():
    with pytest.raises(HwtrainError, match="symmetric"):
        IsingProblem(np.zeros(2), np.array([[0, 1], [2, 0]]))
    with pytest.raises(HwtrainError, match="zero diagonal"):
        IsingProblem(np.zeros(2), np.array([[1, 0], [0, 0]]))
    with pytest.raises(HwtrainError, match="power of two"):
        Schedule((0.1,), 1, 12)
    big = IsingProblem(np.zeros(2000, dtype=np.int64), np.zeros((2000, 2000), dtype=np.int64))
    sch = Schedule((0.1,), 1, 16)
    with pytest.raises(HwtrainError, match="block-RAM bits"):
        check_fits(big, sch)
    assert hardware_cost(big, sch)["coupling_bits"] == 2000 * 2000 * 2


def test_schedule_is_a_configuration_with_clear_errors():
    from hwtrain.errors import HwtrainError
    from hwtrain.golden.annealer import Schedule
    s = Schedule.from_dict({"betas": [0.1, 0.5], "sweeps": 3, "lut_depth": 16})
    assert s.betas == (0.1, 0.5) and Schedule.from_json(s.to_json()) == s
    assert s.to_dict() == {"betas": [0.1, 0.5], "sweeps": 3, "lut_depth": 16}
    for bad, message in (({"betas": [0.1], "sweep": 2}, r"unknown Schedule keys \['sweep'\]"),
                         ({"betas": ["hot"]}, "field betas must be a list of numbers"),
                         ({"betas": [0.1], "lut_depth": 12}, "lut_depth must be a power of two"),
                         ({"sweeps": 2}, "Schedule needs betas")):
        with pytest.raises(HwtrainError, match=message):
            Schedule.from_dict(bad)
