"""BOP: golden rule against a scalar reference, and the Amaranth unit against the golden twin."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwtrain.errors import HwtrainError
from hwtrain.golden.bop import Bop as GoldenBop
from hwtrain.golden.bop import BopConfig, bop_update, leak
from hwtrain.core.prng import Xorshift32, index_of
from hwtrain.hdl.bop import Bop
from hwtrain.hdl.stream_sim import stream_get


def scalar_bop(w: int, m: int, g: int, n: int, k: int, tau: int):
    """Per-synapse reference in plain Python: real filter m/gamma, larq flip rule."""
    lk = int(m / 2**k)                       # Python int(): truncation toward zero
    top = 2 ** (n - 1) - 1
    m = max(-top, min(top, m - lk + g))
    flip = w * m > tau
    return (-w if flip else w), m, flip


def _random_case(seed, size, n):
    d = Xorshift32(seed, 3).draws(size)
    top = 2 ** (n - 1) - 1
    w = (d[:, 0] >> 31).astype(bool)
    m = index_of(d[:, 1], 2 * top + 1).astype(np.int64) - top
    g = index_of(d[:, 2], 3).astype(np.int64) - 1
    return w, m, g


@pytest.mark.parametrize("n,k,tau", [(8, 3, 2), (6, 1, 0), (4, 5, 6), (12, 4, 100)])
def test_golden_rule_equals_scalar_reference(n, k, tau):
    w, m, g = _random_case(n * 31 + k, 4000, n)
    w_new, m_new, flips = bop_update(w, m, g, mom_bits=n, gamma_shift=k, tau=tau)
    for i in range(len(w)):
        rw, rm, rf = scalar_bop(1 if w[i] else -1, int(m[i]), int(g[i]), n, k, tau)
        assert (rw == 1) == w_new[i] and rm == m_new[i] and rf == flips[i], i
    assert flips.any() and not flips.all()     # the sample exercises both outcomes


def test_leak_rounds_toward_zero_for_both_signs():
    m = np.arange(-300, 301)
    assert (leak(-m, 3) == -leak(m, 3)).all()
    assert (leak(np.array([7, -7, 8, -8, 9, -9]), 3) == [0, 0, 1, -1, 1, -1]).all()


def test_flip_follows_larq_sign_convention():
    """A positive loss-gradient momentum flips +1 weights to -1, never -1 weights."""
    w = np.array([True, False, True, False])
    m = np.array([3, 3, -3, -3])
    w_new, _, flips = bop_update(w, m, np.zeros(4), mom_bits=8, gamma_shift=10, tau=2)
    assert flips.tolist() == [True, False, False, True]
    assert w_new.tolist() == [False, False, True, True]


def test_without_leak_the_momentum_is_a_saturating_counter():
    m = np.zeros(1, dtype=np.int64)
    for _ in range(200):
        _, m, _ = bop_update(np.array([False]), m, np.ones(1), mom_bits=6, gamma_shift=5, tau=30)
    assert m[0] == 31


@pytest.mark.parametrize("kw,msg", [
    ({"tau": 127}, "tau must be an integer in \\[0, 126\\]"),
    ({"mom_bits": 1}, "mom_bits must be an integer in \\[2, 32\\]"),
    ({"gamma_shift": 0}, "gamma_shift"),
    ({"lanes": 0}, "lanes must be"),
])
def test_bad_configs_are_refused(kw, msg):
    with pytest.raises(HwtrainError, match=msg):
        BopConfig(**kw)


@pytest.mark.parametrize("cfg", [BopConfig(lanes=5, rows=3, mom_bits=6, gamma_shift=2, tau=3),
                                 BopConfig(lanes=1, rows=1, mom_bits=4, gamma_shift=3, tau=0),
                                 BopConfig(lanes=9, rows=7, mom_bits=8, gamma_shift=8, tau=5)])
def test_hardware_equals_golden_with_stalls_and_repeated_rows(cfg):
    n_req = 60
    d = Xorshift32(cfg.lanes * 7 + cfg.rows, 4).draws(n_req * cfg.lanes).reshape(n_req, cfg.lanes, 4)
    rows = index_of(d[:, 0, 0], cfg.rows).astype(int)
    rows[10:20] = rows[10]                        # back-to-back requests to one row
    weights = (d[:, :, 1] >> 31).astype(bool)
    grads = index_of(d[:, :, 2], 3).astype(int) - 1
    stall = (d[:, 0, 3] >> 30) == 0               # consumer stalls ~1/4 of the time

    golden = GoldenBop(cfg)
    want = [golden.step(int(r), w, g) for r, w, g in zip(rows, weights, grads)]
    dut = Bop(cfg, peek=True)
    got, peeked = [], []

    async def producer(ctx):
        for r, w, g in zip(rows, weights, grads):
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, {"row": int(r), "w": _bits(w), "g_pos": _bits(g > 0),
                                    "g_neg": _bits(g < 0)})
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        for s in range(n_req):
            if stall[s]:
                await ctx.tick()
            p = await stream_get(ctx, dut.o)
            got.append((int(p.row), int(p.w), int(p.flips)))
        for r in range(cfg.rows):
            ctx.set(dut.peek_row, r)
            await ctx.tick()
            peeked.append(ctx.get(dut.peek_m))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert got == [(int(r), _bits(w), _bits(f)) for r, (w, f) in zip(rows, want)]
    n = cfg.mom_bits
    for r in range(cfg.rows):
        lanes = [(peeked[r] >> (l * n)) & ((1 << n) - 1) for l in range(cfg.lanes)]
        lanes = [v - (1 << n) if v >> (n - 1) else v for v in lanes]
        assert lanes == golden.momenta[r].tolist(), r
    assert any(f for _, _, f in got)


def _bits(v) -> int:
    return sum(1 << i for i, b in enumerate(np.asarray(v)) if b)
