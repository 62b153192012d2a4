"""BEP-TT on chip: the golden twin against RNNTrainer, and RnnTrainer (Amaranth simulator) against the twin.

``RnnGolden`` (sample by sample, the engine's counters) must train exactly like
``RNNTrainer`` with batch 1 over a whole epoch: every hidden weight, PRNG lane,
prediction and error count. The engine is trained through its host driver beside
the twin on the same sequences in the same shuffled order: every prediction, the
clocks of every TRAIN (against ``cycles_per_sample``), every hidden weight of the
three matrices and every counter after each epoch. The Verilog is checked in
sim/test_trainer_rnn_rtl.py.
"""

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwtrain.core.prng import Xorshift32
from hwtrain.errors import HwtrainError
from hwtrain.golden.train.rnn import RNNTrainer
from hwtrain.golden.trainer_rnn import (RnnGolden, RnnTrainConfig, cycle_bound, cycles_per_sample, flush_cycles,
                                        plan)
from hwtrain.hdl.stream_sim import CountingTransport
from hwtrain.hdl.trainer_rnn import RnnTrainer
from hwtrain.trainer_rnn_host import RnnTrainerHost


def sequences(n, steps, width, classes, seed=5):
    x = np.where(Xorshift32(seed, width).bits(n * steps), 1, -1).astype(np.int8).reshape(n, steps, width)
    y = (np.arange(n) * 7 + seed) % classes
    # a class-dependent drift so that the network learns something
    x[:, -1, 0] = np.where(y % 2 == 0, 1, -1)
    return x, y


class IdlingTransport(CountingTransport):
    """Idles 0, 1 or 2 clocks before each command word, with junk on the payload (``valid`` low)."""

    def __init__(self, ctx, dut):
        super().__init__(ctx, dut)
        self.words = 0

    async def put(self, word):
        self.words += 1
        if self.words % 3:
            self.ctx.set(self.dut.cmd.payload, 0x5A5A5A5A ^ self.words)
            await self.ctx.tick().repeat(self.words % 3)
        await super().put(word)


def train_both(cfg, x, y, epochs, golden_cfg=None, transport=CountingTransport):
    """Train engine and golden twin side by side; return (mismatch descriptions, golden twin, cycles)."""
    dut = RnnTrainer(cfg)
    g = RnnGolden(golden_cfg or cfg)
    xe = g.expand(x)
    bad, cycles = [], []

    async def bench(ctx):
        io = transport(ctx, dut)
        host = RnnTrainerHost(cfg, io)
        for ep in range(epochs):
            order = g.order(len(y))
            right = 0
            for i in order:
                want = g.train_sample(x[i], int(y[i]))
                got = await host.train_sample(xe[i], int(y[i]))
                right += got == y[i]
                if got != want:
                    bad.append(("prediction", ep, int(i), got, want))
                formula = cycles_per_sample(cfg, **g.last)
                cycles.append((io.edges, formula, dict(g.last)))
                if io.edges != formula:
                    bad.append(("cycles", ep, int(i), io.edges, formula, dict(g.last)))
            if cfg.batch > 1:                      # the epoch's short last batch: FLUSH closes it
                g.flush()
                await host.flush()
                formula = flush_cycles(cfg, **g.last_flush)
                cycles.append((io.edges, formula, {"flush": dict(g.last_flush)}))
                if io.edges != formula:
                    bad.append(("flush cycles", ep, io.edges, formula, dict(g.last_flush)))
            hw = await host.read_weights()
            for mi, (a, b) in enumerate(zip(hw, g.H)):
                if not np.array_equal(a, b):
                    bad.append(("hidden weights", ep, mi, int((a != b).sum())))
            c = await host.counters()
            if c != g.counters():
                bad.append(("counters", ep, c, g.counters()))
            e_epoch = (len(y) - right) / len(y)
            g.end_epoch(e_epoch)
            await host.end_epoch(e_epoch)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return bad, g, cycles


BASE = dict(algorithm="bep_tt", classes=3, r=0.5, nu=0.3, p_r=0.9, batch=1, seed=3)


def test_golden_twin_is_rnn_trainer_online():
    """RnnGolden, one sequence at a time, equals RNNTrainer.step with batch 1 over two whole epochs:
    every prediction (pre-update weights), error count, hidden weight and PRNG lane."""
    cfg = RnnTrainConfig(inputs=7, hidden=(6, 4), steps=4, hidden_bits=5, gamma=(3, 2), reinforce_every=3,
                         raw_inputs=3, **BASE)
    x, y = sequences(40, 4, 3, 3, seed=8)
    g, ref = RnnGolden(cfg), RNNTrainer(cfg)
    xr = ref.prepare(x)
    for _ in range(2):
        order = g.order(len(y))
        assert np.array_equal(order, ref.order(len(y)))
        errors = 0
        for i in order:
            want = int(ref.predict(xr[[i]])[0])
            errors += ref.step(xr[[i]], y[[i]])
            assert g.train_sample(x[i], int(y[i])) == want
        for a, b in zip(g.H, ref.H):
            assert np.array_equal(a, b)
        assert all(np.array_equal(s, t) for s, t in zip(g.t.prng_states().values(), ref.prng_states().values()))
        assert errors > 0 and g.errors == errors
        g.end_epoch(errors / len(y))
        ref.end_epoch(errors / len(y))
        g.errors = 0
    assert g.updates > 0


@pytest.mark.parametrize("tt_update", ["sum", "sign"])
def test_golden_twin_is_rnn_trainer_in_minibatches(tt_update):
    """RnnGolden in mini-batches of 7 (40 sequences: a short last batch of 5, closed by flush()) equals
    RNNTrainer.step with batch 7 over two whole epochs: every prediction (the batch-start weights),
    error count, hidden weight after every batch and PRNG lane; reinforcement every 2 steps."""
    cfg = RnnTrainConfig(inputs=7, hidden=(6, 4), steps=4, hidden_bits=5, gamma=(3, 2), reinforce_every=2,
                         raw_inputs=3, tt_update=tt_update, **{**BASE, "batch": 7})
    x, y = sequences(40, 4, 3, 3, seed=8)
    g, ref = RnnGolden(cfg), RNNTrainer(cfg)
    xr = ref.prepare(x)
    closed = 0
    for _ in range(2):
        order = g.order(len(y))
        assert np.array_equal(order, ref.order(len(y)))
        errors = 0
        for s in range(0, len(y), 7):
            idx = order[s:s + 7]
            want = ref.predict(xr[idx])
            errors += ref.step(xr[idx], y[idx])
            got = [g.train_sample(x[i], int(y[i])) for i in idx]
            assert got == want.tolist()
            assert g.last["closes"] == (len(idx) == 7)
            if len(idx) < 7:
                assert g.flush() and g.last_flush["closes"]
            closed += 1
            for a, b in zip(g.H, ref.H):
                assert np.array_equal(a, b)
        assert not g.flush() and g.last_flush == {"closes": False, "reinforce": False}
        assert all(np.array_equal(s, t) for s, t in zip(g.t.prng_states().values(), ref.prng_states().values()))
        assert errors > 0 and g.errors == errors
        g.end_epoch(errors / len(y))
        ref.end_epoch(errors / len(y))
        g.errors = 0
    assert g.updates > 0 and g.t.steps_done == closed == 12


def test_engine_takes_command_words_with_gaps():
    """Two 32-bit words of a_t per step (40 inputs), with idle clocks and junk payloads between the
    command words: each word of the input shift register moves only on a word taken."""
    cfg = RnnTrainConfig(inputs=40, hidden=(6, 4), steps=2, hidden_bits=4, gamma=(3, 4), simd=4, **BASE)
    assert plan(cfg)["x_words"] == 2
    x, y = sequences(10, 2, 40, 3, seed=6)
    bad, g, _ = train_both(cfg, x, y, epochs=1, transport=IdlingTransport)
    assert bad == [] and g.updates > 0


@pytest.mark.parametrize("opts,shape", [
    (dict(), dict(inputs=5, hidden=(6, 4), steps=3, simd=4)),                       # 5 = 4 + 1, 6 = 4 + 2
    (dict(tt_update="sign", tt_mask="sum", reinforce_every=2), dict(inputs=4, hidden=(6, 3), steps=4, simd=3)),
    (dict(zero_target="plus", gamma_patience=1), dict(inputs=3, hidden=(4, 4), steps=2, simd=4)),
    (dict(raw_inputs=2), dict(inputs=6, hidden=(5, 5), steps=3, simd=2)),          # expansion on the host
    (dict(), dict(inputs=4, hidden=(4, 3), steps=1, simd=3)),                       # T = 1: no recurrence
    # several output winners per step (UY reads its list ahead), with two words and one word per row
    (dict(gamma_y=1), dict(inputs=5, hidden=(6, 4), steps=3, simd=4)),
    (dict(gamma_y=1), dict(inputs=3, hidden=(4, 4), steps=2, simd=4)),
    (dict(gamma_y=1), dict(inputs=5, hidden=(6, 4), steps=3, simd=2)),             # and three words per row
    # reinforcement thresholds from the fan-in: H_xs's (K = 3) and H_ss's (K = 6) differ
    (dict(reinforce_fan="in", reinforce_every=1), dict(inputs=3, hidden=(6, 4), steps=3, simd=4)),
    # a wide margin (r = 1): active sequences with no output row, or no state row, to update
    (dict(r=1.0), dict(inputs=5, hidden=(6, 4), steps=3, simd=4)),
], ids=["sum_last", "sign_sum_every2", "plus_schedule", "expanded", "one_step", "y_winners", "y_winners_1word",
        "y_winners_3words", "fan_in_thresholds", "no_rows_updated"])
def test_engine_bit_exact(opts, shape):
    """Two epochs: every prediction, clock count, hidden weight (H_xs, H_ss, H_sy) and counter; 4-bit
    weights saturate; host schedules between epochs."""
    hid = shape["hidden"]
    opts = dict(opts)
    gamma = (hid[0] // (2 if hid[0] % 2 == 0 else 1), opts.pop("gamma_y", hid[1]))
    cfg = RnnTrainConfig(hidden_bits=4, gamma=gamma, **shape, **{**BASE, **opts})
    x, y = sequences(10, shape["steps"], opts.get("raw_inputs") or shape["inputs"], 3, seed=6)
    bad, g, cycles = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    assert g.updates > 0 and any(c[2]["rows_s"] for c in cycles)
    assert all(got >= cycle_bound(cfg, **last) for got, _, last in cycles)
    assert (np.abs(g.H[0]) == 7).any() or (np.abs(g.H[1]) == 7).any()
    if "r" in opts:            # the wide margin's point: active sequences that update no output row
        assert any(last["active"] and not last["rows_y"] for _, _, last in cycles)


@pytest.mark.parametrize("opts,shape", [
    (dict(batch=3), dict(inputs=5, hidden=(6, 4), steps=2, simd=4)),             # bs T = 6 <= 7
    (dict(batch=4, tt_update="sign", tt_mask="sum", reinforce_every=2, raw_inputs=3),
     dict(inputs=4, hidden=(6, 3), steps=4, simd=3)),
], ids=["sum_bs3", "sign_bs4_every2"])
def test_engine_minibatch_bit_exact(opts, shape):
    """Mini-batches (10 sequences: a short last batch, closed by FLUSH) over two epochs: every
    prediction (the batch-start weights), the clocks of every TRAIN and of every FLUSH, every hidden
    weight of the three matrices and every counter; 4-bit weights saturate (the accumulators reach
    4 of their bound bs T = 6 with "sum", 3 of bs = 4 with "sign")."""
    hid = shape["hidden"]
    cfg = RnnTrainConfig(hidden_bits=4, gamma=(hid[0] // 2, hid[1]), **shape, **{**BASE, **opts})
    x, y = sequences(10, shape["steps"], opts.get("raw_inputs") or shape["inputs"], 3, seed=6)
    bad, g, cycles = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    closing = [c for c in cycles if c[2].get("closes")]
    assert len(closing) == 2 * (10 // cfg.batch) and any(c[2]["reinforce"] for c in closing)
    assert g.updates > 0 and g.t.steps_done == 2 * -(-10 // cfg.batch)
    assert all(got >= cycle_bound(cfg, **last) for got, _, last in cycles if "flush" not in last)
    assert (np.abs(g.H[0]) == 7).any() or (np.abs(g.H[1]) == 7).any()


def test_negative_control_other_batch_is_detected():
    """A golden twin told batch 2 instead of 3 must disagree with the mini-batch engine."""
    cfg = RnnTrainConfig(inputs=5, hidden=(6, 4), steps=3, hidden_bits=5, gamma=(3, 2), simd=4,
                         **{**BASE, "batch": 3})
    x, y = sequences(12, 3, 5, 3)
    bad, _, _ = train_both(cfg, x, y, epochs=1, golden_cfg=dataclasses.replace(cfg, batch=2))
    assert any(b[0] == "hidden weights" for b in bad) and any(b[0] == "cycles" for b in bad)


def test_engine_bit_exact_with_sliced_rows(monkeypatch):
    """The row banks in slices of one or two columns (at scale a slice holds a few block RAMs), and the
    a_t / s_t / s*_t LUT RAMs in slices of two columns, each at its own copy of the address registers:
    the same weights, predictions and clocks."""
    from hwtrain.hdl import fanout, trainer_rnn
    monkeypatch.setattr(trainer_rnn, "LUTRAM_SLICE_BITS", 2)
    monkeypatch.setattr(fanout, "column_slices",
                        lambda columns, bits, depth, blocks=0: [range(c, min(c + 2, columns)) for c in range(0, columns, 2)])
    cfg = RnnTrainConfig(hidden_bits=4, gamma=(3, 4), inputs=5, hidden=(6, 4), steps=3, simd=3, **BASE)
    x, y = sequences(10, 3, 5, 3, seed=6)
    bad, g, _ = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    assert g.updates > 0


@pytest.mark.parametrize("bits,dbits", [(4, 2), (4, 6), (6, 7), (5, 3)])
def test_sat_add_unit_clips_like_numpy(bits, dbits):
    """``SatAddUnit``'s clip (from the bits of the sum, no comparators) is ``clip(h + 2 d, -hi, hi)`` for every
    weight ``h`` in range and every ``d`` of its width."""
    from hwtrain.hdl.trainer_rnn import SatAddUnit
    u = SatAddUnit(1, bits, dbits)
    hi = (1 << (bits - 1)) - 1
    wrong = []

    async def tb(ctx):
        for h in range(-hi, hi + 1):
            for d in range(-(1 << (dbits - 1)), 1 << (dbits - 1)):
                ctx.set(u.h[0], h)
                ctx.set(u.d[0], d)
                if ctx.get(u.out[0]) != int(np.clip(h + 2 * d, -hi, hi)):
                    wrong.append((h, d, ctx.get(u.out[0])))

    sim = Simulator(u)
    sim.add_testbench(tb)
    sim.run()
    assert not wrong, wrong[:5]


def test_negative_control_other_golden_is_detected():
    """A golden twin told another tt_update must disagree with the engine."""
    cfg = RnnTrainConfig(inputs=5, hidden=(6, 4), steps=3, hidden_bits=5, gamma=(3, 2), simd=4, **BASE)
    x, y = sequences(12, 3, 5, 3)
    bad, _, _ = train_both(cfg, x, y, epochs=1, golden_cfg=dataclasses.replace(cfg, tt_update="sign"))
    assert any(b[0] == "hidden weights" for b in bad)


def test_rejects_what_it_cannot_build():
    ok = dict(algorithm="bep_tt", inputs=4, hidden=(6, 4), classes=2, steps=3)     # B = 8: accumulators <= 127
    assert plan(RnnTrainConfig(**{**ok, "batch": 42}))["batch"] == 42               # 42 x 3 = 126
    with pytest.raises(HwtrainError, match=r"a batch of 43 sequences moves an H_xs/H_ss accumulator by up to "
                                           r"43 x 3 = 129 \(tt_update 'sum'\), more than the 8-bit accumulator "
                                           r"word holds \(127\): batch at most 42"):
        plan(RnnTrainConfig(**{**ok, "batch": 43}))
    assert plan(RnnTrainConfig(**{**ok, "batch": 127, "tt_update": "sign"}))["batch"] == 127
    with pytest.raises(HwtrainError, match=r"up to 128 x 1 = 128 \(tt_update 'sign'\)"):
        plan(RnnTrainConfig(**{**ok, "batch": 128, "tt_update": "sign"}))
    # the paper's 255,255 network: 180 DP16KD online; its accumulators would double both banks
    big = dict(ok, inputs=255, hidden=(255, 255), steps=24, hidden_bits=16, simd=32)
    assert plan(RnnTrainConfig(**{**big, "batch": 1}))["ebr"] == 180
    with pytest.raises(HwtrainError, match=r"need about 354 DP16KD blocks \(bank_s 512b x 8176, bank_y 512b x 4088, "
                                           r"z 10b x 6120\), an ECP5-85F has 208 \(mini-batch"):
        plan(RnnTrainConfig(**{**big, "batch": 7}))
    # the 64,64 network of the mini-batch benchmark: the accumulators fill the same blocks
    small = dict(big, inputs=64, hidden=(64, 64))
    assert plan(RnnTrainConfig(**{**small, "batch": 7}))["ebr"] == plan(RnnTrainConfig(**{**small, "batch": 1}))["ebr"]
    with pytest.raises(HwtrainError, match="implements bep_tt, not cpr"):
        plan(RnnTrainConfig(algorithm="cpr", inputs=4, hidden=(6, 4), classes=2))
    with pytest.raises(HwtrainError, match="DP16KD"):
        plan(RnnTrainConfig(**{**ok, "inputs": 1024, "hidden": (2048, 1024), "batch": 1, "hidden_bits": 16}))
    with pytest.raises(HwtrainError, match="simd 9 is more than"):
        RnnTrainConfig(**{**ok, "simd": 9})


@pytest.mark.parametrize("args,message", [
    (["generate", "trainer_bep_tt", "--config", '{"inputs": 4, "hidden": [6, 4], "classes": 2, "steps": 3}',
      "--batch", "43"], "a batch of 43 sequences moves an H_xs/H_ss accumulator by up to 43 x 3 = 129"),
    (["generate", "trainer_bep_tt", "--config", '{"inputs": 255, "hidden": [255, 255], "classes": 2, "steps": 24, '
      '"hidden_bits": 16, "simd": 32, "batch": 7}'], "354 DP16KD blocks"),
    (["generate", "trainer_bep_tt", "--config", '{"inputs": 4, "hidden": [6, 4], "classes": 2, "steps": 3, '
      '"algorithm": "bep"}'], "needs algorithm='bep_tt'"),
    (["generate", "trainer_bep_tt", "--config", '{"inputs": 4, "hidden": [6, 4], "classes": 2, "steps": 3, '
      '"simd": 7}'], "simd 7 is more than the widest row part (6)"),
    (["verify", "trainer_bep_tt", "--config", '{"inputs": 4, "hidden": [6, 4], "classes": 2, "steps": 3}',
      "--dataset", "digits"], "trains on sequence datasets"),
], ids=["batch", "minibatch_ebr", "algorithm", "simd", "dataset"])
def test_registry_refuses_bad_configurations(args, message, tmp_path, capsys):
    """hwtrain generate / verify trainer_bep_tt: exit 2, one line naming the problem, nothing written."""
    from hwtrain.cli import main
    out = tmp_path / "rtl"
    assert main(args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("batch", [1, 3], ids=["online", "minibatch"])
def test_small_engine_maps_to_ecp5(batch, tmp_path):
    """yosys synth_ecp5 takes the engine (its memories' attributes included: a transparent read port
    with no_rw_check made yosys assert, which no simulation sees), online and with accumulator words."""
    from hwtrain.flows.synth import synthesize
    cfg = RnnTrainConfig(inputs=5, hidden=(6, 4), steps=3, hidden_bits=5, gamma=(3, 2), simd=4,
                         **{**BASE, "batch": batch})
    r = synthesize(RnnTrainer(cfg), "rnn_small", work_dir=tmp_path, pnr=False)
    assert r.cells.get("LUT4", 0) > 0 and r.cells.get("TRELLIS_FF", 0) > 0, r.cells


def test_registers_read_back():
    """Every host register reads back what was written (READ_REG's pick: one select bit per register),
    the counters read 0 at reset, an address that names no register reads 0."""
    from hwtrain.protocol.trainer_folded import (REG_ERRORS, REG_EVERY, REG_GAMMA, REG_GATE, REG_MARGIN,
                                                 REG_PENDING, REG_REINFORCE, REG_SAMPLES, REG_UPDATES)
    cfg = RnnTrainConfig(inputs=5, hidden=(6, 4), steps=3, hidden_bits=4, gamma=(3, 4), simd=4, **BASE)
    dut = RnnTrainer(cfg)
    values = {REG_MARGIN: 5, REG_GATE: 7, REG_GATE + 1: 9, REG_GAMMA: 2, REG_GAMMA + 1: 3, REG_EVERY: 11,
              REG_REINFORCE: 0x1_2345_6789, REG_REINFORCE + 1: 0x0_8765_4321, REG_REINFORCE + 2: 0x1_0000_0001}
    got = {}

    async def bench(ctx):
        host = RnnTrainerHost(cfg, CountingTransport(ctx, dut))
        for adr, v in values.items():
            await host.write_reg(adr, v)
        for adr in [*values, REG_SAMPLES, REG_ERRORS, REG_UPDATES, REG_PENDING, 0x7F]:
            got[adr] = await host.read_reg(adr)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == {**values, REG_SAMPLES: 0, REG_ERRORS: 0, REG_UPDATES: 0, REG_PENDING: 0, 0x7F: 0}
