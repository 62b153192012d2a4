"""OnlineTrainer (Amaranth simulator) against its golden twin, bit for bit, over whole epochs.

Each run trains the engine through the host driver (hwtrain.trainer_host) and
the golden ``OnlineTrainer`` side by side on the same samples in the same
(shuffled) order and compares every prediction, every hidden weight after each
epoch, the counters, and the cycles of every TRAIN command against
``OnlineTrainer.cycles_per_sample``. Tiny configurations with odd shapes; the
Verilog of a digits engine is checked in sim/test_trainer_rtl.py.
"""

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwtrain.errors import HwtrainError
from hwtrain.core.prng import Xorshift32
from hwtrain.golden.train.config import TrainConfig
from hwtrain.golden.trainer import OnlineTrainer as Golden
from hwtrain.hdl import stream_sim
from hwtrain.hdl.trainer import OnlineTrainer, plan
from hwtrain.trainer_host import TrainerHost


class CountingTransport(stream_sim.CountingTransport):
    """The first trainer's command words are (op, arg, data) records."""

    async def put(self, op, arg, data):
        await super().put({"op": op, "arg": arg, "data": data})

    def unpack(self, payload) -> int:
        return int(payload.data)


def samples(k, n, classes, seed=5):
    x = np.where(Xorshift32(seed, k).bits(n), 1, -1).astype(np.int8)
    y = (np.arange(n) * 7 + seed) % classes
    return x, y


def train_both(cfg, x, y, epochs, golden_cfg=None, init_h=None):
    """Train engine and golden twin side by side; return a list of mismatch descriptions."""
    dut = OnlineTrainer(cfg)
    g = Golden(golden_cfg or cfg)
    bad = []

    async def bench(ctx):
        io = CountingTransport(ctx, dut)
        host = TrainerHost(cfg, io)
        if init_h is not None:
            for h, new in zip(g.t.H, init_h):
                h[...] = new
            g.t.W = [np.where(h >= 0, 1, -1).astype(np.float32) for h in g.t.H]
            await host.load_state(init_h, g.registers())
        for ep in range(epochs):
            order = g.order(len(y))
            right = 0
            for i in order:
                want = g.train_sample(x[i], int(y[i]))
                got = await host.train_sample(x[i], int(y[i]))
                right += got == y[i]
                if got != want:
                    bad.append(("prediction", ep, int(i), got, want))
                cyc = 1 + io.edges
                formula = dut.cycles_per_sample(g.last["rows"], g.last["active"])
                if cyc != formula:
                    bad.append(("cycles", ep, int(i), cyc, formula))
            hw = await host.read_weights()
            for l, (a, b) in enumerate(zip(hw, g.H)):
                if not np.array_equal(a, b):
                    bad.append(("hidden weights", ep, l, int((a != b).sum())))
            c = await host.counters()
            if c != g.counters():
                bad.append(("counters", ep, c, g.counters()))
            e_epoch = (len(y) - right) / len(y)
            g.end_epoch(e_epoch)
            await host.end_epoch(e_epoch)
        assert await host.pending() == 0

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return bad, g


BASE = dict(inputs=11, classes=3, r=0.5, nu=0.3, p_r=0.9, batch=1, seed=3)


def test_cpr_one_layer_saturating_bit_exact():
    """CP+R 11 -> 6 (groups of 3), 3-bit hidden weights so +-2 steps saturate often."""
    cfg = TrainConfig(algorithm="cpr", hidden=(6,), hidden_bits=3, gamma=(3,), **BASE)
    x, y = samples(11, 37, 3)
    bad, g = train_both(cfg, x, y, epochs=3)
    assert bad == []
    assert g.updates > 0 and (np.abs(g.H[0]) == 3).any()          # updates and saturation happened


def test_cpr_two_layers_with_schedules_bit_exact():
    """Two layers, reinforcement every 2 steps, group-size schedule (gamma changes between epochs)."""
    cfg = TrainConfig(algorithm="cpr", hidden=(6, 4), hidden_bits=4, gamma=(1, 2), reinforce_every=2,
                      gamma_patience=1, pr_schedule="cumulative", **BASE)
    x, y = samples(11, 23, 3, seed=9)
    bad, g = train_both(cfg, x, y, epochs=3)
    assert bad == []
    assert g.t.gamma != list(cfg.gamma)                            # the schedule did move gamma


def test_bep_two_and_three_layers_bit_exact():
    """BEP: desired activations with gating through one and two lower layers."""
    for hidden, gamma in (((6, 3), (2, 3)), ((5, 6, 3), (5, 2, 1))):
        cfg = TrainConfig(algorithm="bep", hidden=hidden, hidden_bits=5, gamma=gamma, **BASE)
        x, y = samples(11, 29, 3, seed=4)
        bad, g = train_both(cfg, x, y, epochs=2)
        assert bad == [], (hidden, bad[:3])
        assert g.updates > 0


def test_host_loads_initial_weights():
    """Rows written by the host replace the reset state (odd values, both signs)."""
    cfg = TrainConfig(algorithm="bep", hidden=(4, 3), hidden_bits=4, gamma=(2, 3), **BASE)
    rng = Xorshift32(77, 1)
    init = [((rng.draws(r * c)[:, 0] % 7).astype(np.int32) * 2 - 7).reshape(r, c)
            for r, c in cfg.shapes.values()]
    x, y = samples(11, 15, 3, seed=6)
    bad, _ = train_both(cfg, x, y, epochs=1, init_h=init)
    assert bad == []


def test_negative_control_wrong_golden_setting_is_detected():
    """A golden twin told a different margin r must disagree with the engine."""
    cfg = TrainConfig(algorithm="cpr", hidden=(6,), hidden_bits=4, gamma=(3,), **BASE)
    other = dataclasses.replace(cfg, r=1.5)
    x, y = samples(11, 20, 3)
    bad, _ = train_both(cfg, x, y, epochs=1, golden_cfg=other)
    assert any(b[0] == "hidden weights" for b in bad)


def test_rejects_configurations_that_do_not_fit():
    with pytest.raises(HwtrainError, match="online: batch must be 1"):
        plan(TrainConfig(algorithm="cpr", inputs=8, hidden=(4,), classes=2, batch=100))
    with pytest.raises(HwtrainError, match=r"need \d+ DP16KD blocks .* an ECP5-85F has 208"):
        plan(TrainConfig(algorithm="bep", inputs=784, hidden=(1024, 1024), classes=10, hidden_bits=16, batch=1))
    with pytest.raises(HwtrainError, match="implements cpr and bep"):
        plan(TrainConfig(algorithm="bep_tt", inputs=8, hidden=(4, 4), classes=2, batch=1))
    with pytest.raises(HwtrainError, match="takes a back-projected 0 as \\+1"):
        plan(TrainConfig(algorithm="bep", inputs=8, hidden=(4, 4), classes=2, batch=1,
                         zero_target="skip"))
    with pytest.raises(HwtrainError, match="row field holds at most 4096"):
        plan(TrainConfig(algorithm="cpr", inputs=2, hidden=(5000,), classes=2, hidden_bits=2, gamma=(5000,),
                         batch=1))
