"""FoldedTrainer (Amaranth simulator) against its golden twin, bit for bit, over whole epochs.

The engine is trained through its host driver (hwtrain.trainer_folded_host)
beside the golden ``OnlineTrainer`` on the same samples in the same shuffled
order; every prediction, every hidden weight and every counter after each
epoch, and the clocks of every TRAIN (against ``cycles_per_sample``) are
compared. Foldings where SIMD and PE barely divide (one column or one neuron
left over) are among the shapes. The Verilog is checked in
sim/test_trainer_folded_rtl.py.
"""

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwtrain.errors import HwtrainError
from hwtrain.core.prng import Xorshift32
from hwtrain.golden.train.mlp import MLPTrainer
from hwtrain.golden.trainer_folded import FoldedGolden, FoldedTrainConfig, cycles_per_sample, plan, response_clocks
from hwtrain.hdl.stream_sim import CountingTransport, stream_put
from hwtrain.hdl.trainer_folded import FoldedTrainer
from hwtrain.trainer_folded_host import FoldedTrainerHost


def samples(k, n, classes, seed=5):
    x = np.where(Xorshift32(seed, k).bits(n), 1, -1).astype(np.int8)
    y = (np.arange(n) * 7 + seed) % classes
    return x, y


def train_both(cfg, x, y, epochs, golden_cfg=None, init_h=None):
    """Train engine and golden twin side by side; return (mismatch descriptions, golden twin)."""
    dut = FoldedTrainer(cfg)
    g = FoldedGolden(golden_cfg or cfg)
    bad = []

    async def bench(ctx):
        io = CountingTransport(ctx, dut)
        host = FoldedTrainerHost(cfg, io)
        if init_h is not None:
            for h, new in zip(g.t.H, init_h):
                h[...] = new
            g.t.W = [np.where(h >= 0, 1, -1).astype(np.float32) for h in g.t.H]
            await host.load_state(init_h, g.registers())
        pend = False                                  # a reinforcement sweep is owed
        for ep in range(epochs):
            order = g.order(len(y))
            right = 0
            for i in order:
                was_pending = pend
                want = g.train_sample(x[i], int(y[i]))
                pend = g.last["reinforce_due"]
                got = await host.train_sample(x[i], int(y[i]))
                right += got == y[i]
                if got != want:
                    bad.append(("prediction", ep, int(i), got, want))
                formula = cycles_per_sample(cfg, g.last["rows"], g.last["active"], was_pending,
                                            g.last["closed"], gamma=g.t.gamma)
                if io.edges != formula:
                    bad.append(("cycles", ep, int(i), io.edges, formula, g.last["rows"]))
            hw = await host.read_weights()                # FLUSH closes the batch, runs the owed sweep
            g.flush()
            pend = False
            for l, (a, b) in enumerate(zip(hw, g.H)):
                if not np.array_equal(a, b):
                    bad.append(("hidden weights", ep, l, int((a != b).sum())))
            c = await host.counters()
            if c != g.counters():
                bad.append(("counters", ep, c, g.counters()))
            e_epoch = (len(y) - right) / len(y)
            g.end_epoch(e_epoch)
            await host.end_epoch(e_epoch)
        if await host.pending() != 0:
            bad.append(("pending after flush",))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return bad, g


BASE = dict(algorithm="cpr", classes=3, r=0.5, p_r=0.9, batch=1, seed=3)


def test_one_layer_simd_and_pe_barely_divide_saturating():
    """11 -> 7: SIMD 5 leaves one column in the last word, PE 3 one neuron in the last group;
    3-bit weights saturate; reinforcement after every step (the ring turns in every sweep)."""
    cfg = FoldedTrainConfig(inputs=11, hidden=(7,), hidden_bits=3, gamma=(7,), pe=(3,), simd=(5,), **BASE)
    x, y = samples(11, 31, 3)
    bad, g = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    assert g.updates > 0 and (np.abs(g.H[0]) == 3).any()


@pytest.mark.parametrize("algorithm", ["cpr", "bep"])
def test_two_chain_step_units_bit_exact(algorithm, monkeypatch):
    """Lanes whose words are at least PARALLEL_STEP_BITS wide step with the two-chain form (here layer 0's
    15-bit words, layer 1's 12-bit words not; 3-bit weights saturate)."""
    from hwtrain.hdl import trainer_folded as hdl
    monkeypatch.setattr(hdl, "PARALLEL_STEP_BITS", 15)
    extra = BASE if algorithm == "cpr" else BEP
    cfg = FoldedTrainConfig(inputs=11, hidden=(7, 4), hidden_bits=3, gamma=(7, 4), pe=(3, 2), simd=(5, 4),
                            **extra)
    x, y = samples(11, 31, 3)
    bad, g = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    assert g.updates > 0 and (np.abs(g.H[0]) == 3).any()


@pytest.mark.parametrize("algorithm", ["cpr", "bep"])
def test_one_word_sweeps(algorithm):
    """11 -> 6 -> 2: every sweep of layer 1 (PE 2 x SIMD 6) is one word in one group, so its pipeline is
    empty the clock before its only issue: the sweeps' end (the idle register) must not take that clock's
    empty pipeline for the end of the sweep."""
    extra = BASE if algorithm == "cpr" else BEP
    cfg = FoldedTrainConfig(inputs=11, hidden=(6, 2), hidden_bits=3, gamma=(2, 2), pe=(2, 2), simd=(11, 6),
                            **extra)
    x, y = samples(11, 23, 3, seed=4)
    bad, g = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    assert g.updates > 0


def test_two_layers_schedules_and_pe_above_words():
    """11 -> 6 -> 4: layer 1 PE 2 x SIMD 11 (one word, PE > W), layer 2 PE 1 x SIMD 4 (6 = 4 + 2);
    reinforcement every 2 steps, group-size schedule (gamma rewritten between epochs)."""
    cfg = FoldedTrainConfig(inputs=11, hidden=(6, 4), hidden_bits=4, gamma=(1, 2), reinforce_every=2,
                            gamma_patience=1, pr_schedule="cumulative", pe=(2, 1), simd=(11, 4), **BASE)
    x, y = samples(11, 23, 3, seed=9)
    bad, g = train_both(cfg, x, y, epochs=3)
    assert bad == [], bad[:5]
    assert g.t.gamma != list(cfg.gamma)


@pytest.mark.parametrize("hidden,gamma,pe,simd,every", [
    ((7, 5), (7, 5), (3, 2), (5, 3), 2),          # 23 = 4 x 5 + 3, 7 = 2 x 3 + 1; reinforcement every 2 steps
    ((9, 4, 6), (3, 2, 3), (3, 2, 2), (23, 2, 4), 1),   # three layers: the second stage holds two; PE > W
], ids=["two_layers", "three_layers"])
def test_overlap_bit_exact(hidden, gamma, pe, simd, every):
    """Layer overlap (layer 0 and the layers above in two sequencers, a sample handed over between them):
    every prediction, weight and counter of two epochs, and each sample's clocks alone (the host waits
    for every response: ``stage_cycles`` first + second)."""
    cfg = FoldedTrainConfig(inputs=23, hidden=hidden, hidden_bits=3, gamma=gamma, pe=pe, simd=simd,
                            reinforce_every=every, overlap=True, **BASE)
    x, y = samples(23, 29, 3, seed=4)
    bad, g = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    assert g.updates > 0 and (np.abs(g.H[0]) == 3).any()


BEP = dict(algorithm="bep", classes=3, r=0.5, nu=0.3, p_r=0.9, batch=1, seed=3)


@pytest.mark.parametrize("hidden,gamma,pe,simd", [
    ((6, 3), (2, 3), (2, 1), (5, 3)),             # 11 = 2 x 5 + 1, 6 = 2 x 3; 3 neurons one by one
    ((5, 6, 3), (5, 2, 1), (2, 3, 2), (4, 5, 3)),  # three layers; PE > W in the middle layer
    ((9, 3), (3, 3), (2, 1), (5, 3)),             # first-layer groups of 3 over chunks of 2 (boundaries inside)
    ((6, 3), (1, 3), (2, 1), (5, 3)),             # first-layer groups smaller than PE: the drain, one per clock
], ids=["two_layers", "three_layers", "chunks_straddle_groups", "groups_below_pe"])
def test_bep_bit_exact(hidden, gamma, pe, simd):
    """BEP on the same units: back-projection through the top layer (pre-update rows), gates from the
    z memory, desired activations, mask sweeps of the lower layers; every weight, counter and clock."""
    cfg = FoldedTrainConfig(inputs=11, hidden=hidden, hidden_bits=5, gamma=gamma, pe=pe, simd=simd, **BEP)
    x, y = samples(11, 29, 3, seed=4)
    bad, g = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    assert g.updates > 0


@pytest.mark.parametrize("algorithm,batch,every", [("cpr", 4, 2), ("bep", 3, 1)])
def test_minibatch_bit_exact(algorithm, batch, every):
    """Mini-batches on chip: updates summed in the accumulator words from the weights at the start of
    the batch, applied by the apply sweep (sat(h + 2 sum)); 23 samples leave a short last batch that
    FLUSH closes; reinforcement every ``every`` steps; saturating 4-bit weights. Every prediction,
    weight, counter and clock against the golden twin, which equals MLPTrainer.step over each batch."""
    extra = BASE if algorithm == "cpr" else BEP
    cfg = FoldedTrainConfig(inputs=11, hidden=(6, 4), hidden_bits=4, gamma=(2, 2), pe=(2, 3), simd=(5, 4),
                            reinforce_every=every, **{**extra, "batch": batch})
    x, y = samples(11, 23, 3, seed=2)
    bad, g = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    assert g.updates > 0 and g.t.steps_done == 2 * -(-23 // batch)
    ref = MLPTrainer(cfg)                             # the papers' mini-batch semantics, batch at once
    for _ in range(2):
        e = ref.train_epoch(x, y)
        ref.end_epoch(e)
    assert all(np.array_equal(a, b) for a, b in zip(ref.H, g.H))


@pytest.mark.parametrize("algorithm,batch", [("cpr", 1), ("bep", 3)])
def test_sliced_row_memories_bit_exact(algorithm, batch, monkeypatch):
    """The lanes' row memories in slices of two columns (at scale a slice holds a few block RAMs),
    each at its own copy of the read and write address registers (hdl/fanout.py), online and in
    mini-batches (one write address register per layer, copied per lane and slice)."""
    from hwtrain.hdl import fanout
    monkeypatch.setattr(fanout, "column_slices",
                        lambda columns, bits, depth, blocks=0: [range(c, min(c + 2, columns)) for c in range(0, columns, 2)])
    extra = BASE if algorithm == "cpr" else BEP
    cfg = FoldedTrainConfig(inputs=11, hidden=(6, 4), hidden_bits=4, gamma=(2, 2), pe=(2, 3), simd=(5, 4),
                            **{**extra, "batch": batch})
    x, y = samples(11, 17, 3, seed=2)
    bad, g = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    assert g.updates > 0


@pytest.mark.parametrize("algorithm,batch,sliced", [("cpr", 1, False), ("cpr", 1, True), ("bep", 3, True)])
def test_wide_words_count_in_two_clocks(algorithm, batch, sliced, monkeypatch):
    """A layer whose SIMD is over COUNT_ONE_CLOCK counts with one more popcount register and its
    forward sweep takes one clock more (here layer 1 only: SIMD 5 over 4, SIMD 4 not), with and
    without column slices; clocks per sample stay equal to the formula's."""
    from hwtrain.golden import trainer_folded as golden
    from hwtrain.hdl import fanout
    monkeypatch.setattr(golden, "COUNT_ONE_CLOCK", 4)
    if sliced:
        monkeypatch.setattr(fanout, "column_slices",
                            lambda columns, bits, depth, blocks=0: [range(c, min(c + 2, columns))
                                                                    for c in range(0, columns, 2)])
    extra = BASE if algorithm == "cpr" else BEP
    cfg = FoldedTrainConfig(inputs=11, hidden=(6, 4), hidden_bits=4, gamma=(2, 2), pe=(2, 3), simd=(5, 4),
                            **{**extra, "batch": batch})
    assert [d["count_regs"] for d in plan(cfg)["layers"]] == [1, 0]
    x, y = samples(11, 17, 3, seed=2)
    bad, g = train_both(cfg, x, y, epochs=2)
    assert bad == [], bad[:5]
    assert g.updates > 0


def test_minibatch_negative_control_other_batch_size():
    """A golden twin told another batch size must disagree with the mini-batch engine."""
    cfg = FoldedTrainConfig(inputs=11, hidden=(7,), hidden_bits=4, gamma=(7,), pe=(3,), simd=(5,),
                            **{**BASE, "batch": 4})
    x, y = samples(11, 20, 3)
    bad, _ = train_both(cfg, x, y, epochs=1, golden_cfg=dataclasses.replace(cfg, batch=5))
    assert any(b[0] == "hidden weights" for b in bad)


def test_host_loads_initial_weights():
    """Rows written by the host replace the reset state; PE = W = 3 with 2 neurons in the last group."""
    cfg = FoldedTrainConfig(inputs=11, hidden=(5,), hidden_bits=4, gamma=(5,), pe=(3,), simd=(4,), **BASE)
    rng = Xorshift32(77, 1)
    init = [((rng.draws(r * c)[:, 0] % 7).astype(np.int32) * 2 - 7).reshape(r, c)
            for r, c in cfg.shapes.values()]
    x, y = samples(11, 12, 3, seed=6)
    bad, _ = train_both(cfg, x, y, epochs=1, init_h=init)
    assert bad == [], bad[:5]


def test_negative_control_wrong_golden_setting_is_detected():
    """A golden twin told another reinforcement probability must disagree with the engine."""
    cfg = FoldedTrainConfig(inputs=11, hidden=(7,), hidden_bits=4, gamma=(7,), pe=(3,), simd=(5,), **BASE)
    other = dataclasses.replace(cfg, p_r=0.2)
    x, y = samples(11, 20, 3)
    bad, _ = train_both(cfg, x, y, epochs=1, golden_cfg=other)
    assert any(b[0] == "hidden weights" for b in bad)


def test_rejects_what_it_cannot_build():
    with pytest.raises(HwtrainError, match="a batch holds at most 127 samples; got batch 128"):
        plan(FoldedTrainConfig(algorithm="cpr", inputs=8, hidden=(4,), classes=2, batch=128))
    with pytest.raises(HwtrainError, match="implements cpr and bep"):
        plan(FoldedTrainConfig(algorithm="bep_tt", inputs=8, hidden=(4, 4), classes=2, batch=1))
    with pytest.raises(HwtrainError, match="takes a back-projected 0 as \\+1"):
        plan(FoldedTrainConfig(algorithm="bep", inputs=8, hidden=(4, 4), classes=2, batch=1, zero_target="skip"))
    with pytest.raises(HwtrainError, match=r"need \d+ DP16KD blocks .* an ECP5-85F has 208"):
        plan(FoldedTrainConfig(algorithm="cpr", inputs=784, hidden=(135,), classes=10, batch=1,
                               pe=(9,), simd=(392,)))
    with pytest.raises(HwtrainError, match="simd of layer 1 is 9, more than its fan-in 8"):
        FoldedTrainConfig(algorithm="cpr", inputs=8, hidden=(4,), classes=2, batch=1, simd=(9,))
    with pytest.raises(HwtrainError, match="pe has 2 entries but there are 1 layers"):
        FoldedTrainConfig(algorithm="cpr", inputs=8, hidden=(4,), classes=2, batch=1, pe=(1, 1))
    with pytest.raises(HwtrainError, match="overlap needs algorithm cpr"):
        FoldedTrainConfig(algorithm="bep", inputs=8, hidden=(4, 4), classes=2, batch=1, overlap=True)
    with pytest.raises(HwtrainError, match="overlap trains online: batch must be 1, got 4"):
        FoldedTrainConfig(algorithm="cpr", inputs=8, hidden=(4, 4), classes=2, batch=4, overlap=True)
    with pytest.raises(HwtrainError, match="overlap needs two layers or more"):
        FoldedTrainConfig(algorithm="cpr", inputs=8, hidden=(4,), classes=2, batch=1, overlap=True)


@pytest.mark.parametrize("overlap", [False, True], ids=["one_stage", "overlap"])
def test_streaming_overlaps_reception_with_compute(overlap):
    """Host streams TRAIN words without waiting: without overlap each sample starts the clock its
    predecessor's response is taken, so responses are exactly ``cycles_per_sample`` clocks apart;
    with it layer 0 starts the next sample as soon as the layers above take this one, and the gaps
    are ``response_clocks``'s (about the slower stage's clocks). Every prediction, then every
    weight and counter, still equals the golden twin's."""
    hidden, gamma, pe, simd = ((6, 5), (3, 5), (2, 1), (9, 3)) if overlap else ((6,), (3,), (2,), (9,))
    cfg = FoldedTrainConfig(inputs=40, hidden=hidden, hidden_bits=4, gamma=gamma, pe=pe, simd=simd,
                            reinforce_every=3, overlap=overlap, **BASE)
    x, y = samples(40, 25, 3, seed=8)
    dut = FoldedTrainer(cfg)
    g = FoldedGolden(cfg)
    order = g.order(len(y))
    want, rows, pending = [], [], []
    for i in order:
        pending.append(g.t.steps_done > 0 and g.t.steps_done % cfg.reinforce_every == 0)
        want.append(g.train_sample(x[i], int(y[i])))
        rows.append(g.last["rows"])
    host_words = FoldedTrainerHost(cfg, None)
    got, at, checks = [], [], {}

    async def producer(ctx):
        from hwtrain.protocol.trainer_folded import OP_TRAIN, header
        from hwtrain.trainer_folded_host import sample_words
        for i in order:
            for w in [header(OP_TRAIN, 0, int(y[i]))] + sample_words(x[i], host_words.p["x_words"]):
                await stream_put(ctx, dut.cmd, w)

    async def consumer(ctx):
        ctx.set(dut.resp.ready, 1)
        tick = 0
        async for _, _, valid, payload in ctx.tick().sample(dut.resp.valid, dut.resp.payload):
            tick += 1
            if valid:
                got.append(int(payload))
                at.append(tick)
                if len(got) == len(order):
                    break
        ctx.set(dut.resp.ready, 0)
        host = FoldedTrainerHost(cfg, CountingTransport(ctx, dut))
        checks["H"] = await host.read_weights()
        checks["counters"] = await host.counters()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert got == want
    clocks = response_clocks(cfg, list(zip(rows, pending)))
    gaps = [b - a for a, b in zip(at, at[1:])]
    assert gaps == [b - a for a, b in zip(clocks, clocks[1:])]
    alone = [cycles_per_sample(cfg, r, False, pn) for r, pn in zip(rows[1:], pending[1:])]
    if overlap:
        assert sum(gaps) < 0.8 * sum(alone)       # the stages do overlap
    else:
        assert gaps == alone
    assert all(np.array_equal(a, b) for a, b in zip(checks["H"], g.H))
    assert checks["counters"] == g.counters()


def test_host_refuses_a_nonzero_acknowledgement():
    """WRITE_REG / WRITE_ROW / FLUSH answer 0: a host that reads anything else is out of step with the
    engine and says so, rather than reading every later response one command off."""
    import asyncio

    class Canned:
        def __init__(self, answers):
            self.answers = list(answers)

        async def put(self, word):
            pass

        async def get(self):
            return self.answers.pop(0)

    cfg = FoldedTrainConfig(inputs=11, hidden=(7,), hidden_bits=3, gamma=(7,), pe=(3,), simd=(5,), **BASE)
    asyncio.run(FoldedTrainerHost(cfg, Canned([0, 0])).flush())      # a 0 goes through
    with pytest.raises(HwtrainError, match="answered 0x3 to command word .* expected 0"):
        asyncio.run(FoldedTrainerHost(cfg, Canned([3])).write_reg(0x40, 5))
    with pytest.raises(HwtrainError, match="expected 0"):
        asyncio.run(FoldedTrainerHost(cfg, Canned([1])).flush())
