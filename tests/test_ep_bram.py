"""EpBramEngine (Amaranth simulator) against the golden EpEngine: whole epochs, every
prediction, and after each epoch every weight, momentum and bias; clocks per sample
against the formula; a negative control."""

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwtrain.core.prng import Xorshift32, index_of
from hwtrain.errors import HwtrainError
from hwtrain.golden.ep import EpConfig
from hwtrain.golden.ep import EpEngine as GoldenEp
from hwtrain.hdl import fanout
from hwtrain.hdl.ep_bram import EpBramConfig, EpBramEngine, cycles_per_sample, geometry

# 11 inputs in words of 4 (3 words, the last one 3 wide), 7 hidden in words of 2 (4 words,
# the last one 1 wide), 3 classes x 2 replicas; states start at the threshold; leaky momenta;
# memories in banks of 8 words (W1: 21 words in 3 banks, W2: 12 in 2).
ODD = EpBramConfig(inputs=11, hidden=7, classes=3, replicas=2, state_bits=4, state_init=8, in_shift=3,
                   bias_bits=6, bias_frac=1, nudge=32, free_steps=3, nudged_steps=2, mom_bits=5,
                   gamma_shift=2, tau_hidden=0, tau_output=1, seed=3, simd=4, simd_hidden=2,
                   bank_depth=8)
# H > O, one word per row in W2 (simd_hidden = hidden), popcounts with a register stage
# (simd 9 > 8), no leak.
WIDE = EpBramConfig(inputs=19, hidden=10, classes=2, replicas=1, state_bits=5, state_init=15, in_shift=2,
                    bias_bits=5, bias_frac=0, nudge=64, free_steps=2, nudged_steps=3, mom_bits=4,
                    gamma_shift=5, tau_hidden=1, tau_output=0, seed=8, simd=9, simd_hidden=10)

# More than 8 output and hidden neurons (the BOP's and the sweep's activation picks take groups of 8
# over two clocks), more outputs than hidden neurons (the bias pass is as long as the output layer);
# memories unbanked, then the same in banks of 8 words (W1: 27 words in 4 banks, W2: 24 in 3).
MANY = EpBramConfig(inputs=13, hidden=9, classes=4, replicas=3, state_bits=4, state_init=0, in_shift=2,
                    bias_bits=6, bias_frac=1, nudge=32, free_steps=3, nudged_steps=2, mom_bits=4,
                    gamma_shift=3, tau_hidden=0, tau_output=0, seed=5, simd=5, simd_hidden=5,
                    bank_depth=32)
MANY_BANKED = dataclasses.replace(MANY, bank_depth=8)
# Flip thresholds that change twice during the run (training samples 6 and 25 of about 42).
SCHEDULED = dataclasses.replace(ODD, tau_schedule=((6, 1, 2), (25, 2, 0)))
# One hidden neuron per W2 word (7 words per row): the step waits 4 clocks longer for the hidden pass
# than for the output pipeline, so the W2 popcount's input and the class sums take a register each
# (ODD has one such clock: the popcount's input register alone).
DEEP_W2 = dataclasses.replace(ODD, simd_hidden=1)
# One W1 word per hidden neuron (simd = inputs): the hidden bias is read for a row that lasts one clock.
ONE_WORD_W1 = dataclasses.replace(ODD, simd=11)
# Memories cut into slices (3 bits each in the test below: W1 2 slices, M1 7, W2 2, M2 7, in 6
# address and write-enable groups).
SLICED = dataclasses.replace(MANY, slice_memories=True)

def samples(cfg, n: int, seed: int, p_train_shift: int = 29):
    g = Xorshift32(seed, cfg.inputs + 2)
    d = g.draws(n)
    xs = (d[:, :cfg.inputs] >> 31) == 1
    labels = index_of(d[:, cfg.inputs], cfg.classes).astype(int)
    train = (d[:, cfg.inputs + 1] >> p_train_shift) != 0
    return xs, labels, train


def _signed(v: int, n: int) -> int:
    return v - (1 << n) if v >> (n - 1) else v


def _lanes(word: int, lanes: int, n: int) -> list[int]:
    return [_signed((word >> (i * n)) & ((1 << n) - 1), n) for i in range(lanes)]


async def read_state(ctx, dut, cfg) -> dict:
    """The whole learned state through the probe port (probe_latency clocks per address)."""
    g = geometry(cfg)
    words = {}
    for a in range(dut.probe_depth):
        ctx.set(dut.probe_addr, a)
        await ctx.tick().repeat(dut.probe_latency)
        words[a] = {k: ctx.get(getattr(dut, f"probe_{k}"))
                    for k in ("w1", "m1", "w2", "m2", "b_hidden", "b_output")}
    st = {"w1": [], "w2": [], "m1": [], "m2": [], "b_hidden": [], "b_output": []}
    for rows, cols, W, S, wk, mk in ((g["H"], g["D"], g["W1w"], g["S1"], "w1", "m1"),
                                     (g["O"], g["H"], g["W2w"], g["S2"], "w2", "m2")):
        for r in range(rows):
            bits, moms = [], []
            for w in range(W):
                ww = words[r * W + w]
                bits += [bool((ww[wk] >> j) & 1) for j in range(S)]
                moms += _lanes(ww[mk], S, cfg.mom_bits)
            st[wk].append(bits[:cols])
            st[mk].append(moms[:cols])
    st["b_hidden"] = [words[i]["b_hidden"] for i in range(g["H"])]
    st["b_output"] = [words[o]["b_output"] for o in range(g["O"])]
    return st


def run_hw(cfg, batches, *, probe_each=False):
    """Run ``batches`` (lists of (x, label, train)) through the engine; returns the predictions, the
    clocks of each sample (accept edge to delivery edge) and the state after each batch."""
    dut = EpBramEngine(cfg, probe=True)
    preds, clocks, states = [], [], []

    async def bench(ctx):
        for batch in batches:
            for x, y, t in batch:
                ctx.set(dut.i.payload, {"x": sum(1 << j for j in range(cfg.inputs) if x[j]),
                                        "label": int(y), "train": int(t)})
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
                ctx.set(dut.i.valid, 0)
                ctx.set(dut.o.ready, 1)
                n = 0
                while True:
                    n += 1
                    _, _, valid, pred = await ctx.tick().sample(dut.o.valid, dut.o.payload.pred)
                    if valid:
                        break
                ctx.set(dut.o.ready, 0)
                preds.append(pred)
                clocks.append((bool(t), n))
            states.append(await read_state(ctx, dut, cfg))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return preds, clocks, states


def golden_run(cfg, batches):
    gold = GoldenEp(cfg.ep_config() if isinstance(cfg, EpBramConfig) else cfg)
    preds, states = [], []
    for batch in batches:
        for x, y, t in batch:
            preds.append(gold.train_sample(x, y) if t else gold.predict(x))
        states.append({k: v.tolist() for k, v in gold.state().items()})
    return preds, states, gold


@pytest.mark.parametrize("cfg", [ODD, WIDE, MANY, MANY_BANKED, SCHEDULED, SLICED, DEEP_W2, ONE_WORD_W1],
                         ids=["odd", "wide", "many", "many_banked", "tau_schedule", "sliced", "deep_w2",
                              "one_word_w1"])
def test_whole_epochs_equal_golden(cfg, monkeypatch):
    if cfg.slice_memories:      # slices of 3 bits, so these narrow words take several (up to 7)
        monkeypatch.setattr(fanout, "BLOCK_MODES", ((1 << 14, 3),))
    n, epochs = 24, 2
    xs, labels, train = samples(cfg, n, seed=cfg.seed)
    epoch = list(zip(xs, labels, train))
    batches = [epoch] * epochs
    want_pred, want_states, gold = golden_run(cfg, batches)
    # the run flips weights in both layers and moves biases
    w1_0, w2_0 = GoldenEp(cfg.ep_config()).w1, GoldenEp(cfg.ep_config()).w2
    assert (gold.w1 != w1_0).any() and (gold.w2 != w2_0).any()
    assert gold.b_hidden.any() and gold.b_output.any()
    got_pred, clocks, got_states = run_hw(cfg, batches)
    assert got_pred == want_pred
    for e, (got, want) in enumerate(zip(got_states, want_states)):
        for key in want:
            assert got[key] == want[key], f"epoch {e}: {key} differs"
    for t, n_clk in clocks:
        assert n_clk == cycles_per_sample(cfg, train=t)


def test_negative_control_another_tau_differs():
    """A golden twin told another tau must not match the engine's state."""
    xs, labels, train = samples(ODD, 24, seed=ODD.seed)
    batches = [list(zip(xs, labels, train))]
    other = dataclasses.replace(ODD, tau_output=ODD.tau_output + 1)
    _, want_states, _ = golden_run(other, batches)
    got_pred, _, got_states = run_hw(ODD, batches)
    assert any(got_states[0][k] != want_states[0][k] for k in want_states[0])


def test_negative_control_tau_schedule_ignored_differs():
    """The scheduled engine against a golden twin without the schedule: they must differ."""
    xs, labels, train = samples(SCHEDULED, 24, seed=SCHEDULED.seed)
    batches = [list(zip(xs, labels, train))] * 2
    _, want_states, _ = golden_run(dataclasses.replace(SCHEDULED, tau_schedule=()), batches)
    _, _, got_states = run_hw(SCHEDULED, batches)
    assert any(got_states[-1][k] != want_states[-1][k] for k in want_states[-1])


def test_refuses_golden_only_options():
    for field, value in (("nudge_mode", "state"), ("beta_sign", "random"), ("batch", 4),
                         ("mom_frac", 1), ("in_shift_output", 1), ("bias_mode", "state")):
        with pytest.raises(HwtrainError, match=field):
            EpBramEngine(dataclasses.replace(EpConfig(), **{field: value}))


def test_sliced_memory_deeper_than_one_block_is_refused():
    with pytest.raises(HwtrainError, match="deeper than one DP16KD"):
        dataclasses.replace(MANY, inputs=700, hidden=400, simd=1, slice_memories=True)
