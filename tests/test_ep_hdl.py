"""EpEngine (Amaranth simulator) against the golden EpEngine after every sample:
predictions, weights, momenta and biases, for small odd-shaped configurations."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwtrain.golden.ep import EpConfig
from hwtrain.golden.ep import EpEngine as GoldenEp
from hwtrain.core.prng import Xorshift32, index_of
from hwtrain.hdl.ep import EpEngine
from hwtrain.hdl.stream_sim import stream_get, stream_put

CONFIGS = [
    # O > H, states start at the threshold (active)
    EpConfig(inputs=7, hidden=5, classes=3, replicas=2, state_bits=4, state_init=8, in_shift=3,
             bias_bits=6, bias_frac=1, nudge=32, free_steps=3, nudged_steps=2, mom_bits=5,
             gamma_shift=2, tau_hidden=0, tau_output=1, seed=3),
    # H > O, states start just below it; no leak (gamma_shift >= mom_bits - 1)
    EpConfig(inputs=9, hidden=6, classes=2, replicas=1, state_bits=5, state_init=15, in_shift=3,
             bias_bits=5, bias_frac=0, nudge=64, free_steps=2, nudged_steps=3, mom_bits=4,
             gamma_shift=5, tau_hidden=1, tau_output=0, seed=8),
]


def signed_lanes(word: int, lanes: int, n: int) -> list[int]:
    vals = [(word >> (i * n)) & ((1 << n) - 1) for i in range(lanes)]
    return [v - (1 << n) if v >> (n - 1) else v for v in vals]


def bits_of(word: int, k: int) -> list[bool]:
    return [bool((word >> j) & 1) for j in range(k)]


def samples(cfg: EpConfig, n: int, seed: int):
    g = Xorshift32(seed, cfg.inputs + 2)
    d = g.draws(n)
    xs = (d[:, :cfg.inputs] >> 31) == 1                  # inputs active with p = 1/2
    labels = index_of(d[:, cfg.inputs], cfg.classes).astype(int)
    train = (d[:, cfg.inputs + 1] >> 29) != 0           # 1 in 8 samples is inference only
    return xs, labels, train


async def read_state(ctx, dut, cfg: EpConfig) -> dict:
    st = {k: [] for k in ("w1", "w2", "m1", "m2", "b_hidden", "b_output")}
    for r in range(max(cfg.hidden, cfg.outputs)):
        ctx.set(dut.probe_row, r)
        await ctx.tick()
        if r < cfg.hidden:
            st["w1"].append(bits_of(ctx.get(dut.probe_w1), cfg.inputs))
            st["m1"].append(signed_lanes(ctx.get(dut.probe_m1), cfg.inputs, cfg.mom_bits))
            st["b_hidden"].append(ctx.get(dut.probe_b_hidden))
        if r < cfg.outputs:
            st["w2"].append(bits_of(ctx.get(dut.probe_w2), cfg.hidden))
            st["m2"].append(signed_lanes(ctx.get(dut.probe_m2), cfg.hidden, cfg.mom_bits))
            st["b_output"].append(ctx.get(dut.probe_b_output))
    return st


@pytest.mark.parametrize("cfg", CONFIGS, ids=["O>H", "H>O"])
def test_engine_equals_golden_after_every_sample(cfg):
    n = 24
    xs, labels, train = samples(cfg, n, seed=cfg.seed)
    golden = GoldenEp(cfg)
    want_pred, want_state = [], []
    for x, y, t in zip(xs, labels, train):
        want_pred.append(golden.train_sample(x, y) if t else golden.predict(x))
        want_state.append({k: v.tolist() for k, v in golden.state().items()})
    w1_0, w2_0 = GoldenEp(cfg).w1, GoldenEp(cfg).w2
    # the run exercises flips in both layers and moves biases
    assert (golden.w1 != w1_0).any() and (golden.w2 != w2_0).any()
    assert golden.b_hidden.any() and golden.b_output.any()

    dut = EpEngine(cfg, probe=True)
    got_pred, got_state = [], []

    async def bench(ctx):
        for x, y, t in zip(xs, labels, train):
            await stream_put(ctx, dut.i, {"x": sum(1 << j for j in range(cfg.inputs) if x[j]),
                                          "label": int(y), "train": int(t)})
            got_pred.append((await stream_get(ctx, dut.o)).pred)
            got_state.append(await read_state(ctx, dut, cfg))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got_pred == want_pred
    for s, (got, want) in enumerate(zip(got_state, want_state)):
        for key in want:
            assert got[key] == want[key], f"sample {s}: {key} differs"
