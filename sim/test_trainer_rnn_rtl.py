"""Emitted Verilog of RnnTrainer (BEP-TT) trains beside the golden model (cocotb + Verilator).

One small Verilator build: a binary RNN on ItalyPowerDemand (its last 24 values, 10-bit
thermometer, expanded on the host to 9 bits per step by the fixed random layer), state
layer 18 (SIMD 4: 9 = 2 x 4 + 1, 18 = 4 x 4 + 2), output layer 17 (both over 16 rows: the
back-projection picks a row's target bits in two clocks, 16 rows a group), 6-bit weights,
tt_update "sum", reinforcement after every 3 steps, 30% random stalls on both streams.
Two whole epochs of the 67 training sequences: every prediction, the clocks of every
sequence, every hidden weight of H_xs, H_ss and H_sy and every counter after each
epoch, the host schedules in between. The negative control reuses the build with a
golden twin told tt_update "sign". A second build trains the same network in mini-batches
of 5 (8-bit weights: 5 x 24 = 120 fits the accumulators; 67 = 13 x 5 + 2, so every epoch ends
with a short batch that the host's FLUSH closes). The paper-size network is run in
benchmarks/trainer_rnn_rtl.py.
"""

import dataclasses

import pytest

from hwtrain.data import fetch
from hwtrain.flows.designs import generate
from hwtrain.flows.simulate import run_bench
from hwtrain.golden.trainer_rnn import RnnTrainConfig

CFG = RnnTrainConfig(algorithm="bep_tt", inputs=9, raw_inputs=10, hidden=(18, 17), classes=2, steps=24,
                     hidden_bits=6, gamma=(6, 1), r=0.5, nu=0.2, p_r=0.5, batch=1, reinforce_every=3,
                     classifier="bef", simd=4, seed=2)
CFG_MB = dataclasses.replace(CFG, batch=5, hidden_bits=8, reinforce_every=1)
STALLS = {"seed": 1, "p_in_stall": 0.3, "p_out_stall": 0.3}


def _builder(cfg, tmp_path_factory):
    path, info = generate("trainer_bep_tt", cfg, tmp_path_factory.mktemp("rnn"))
    # ItalyPowerDemand as `hwtrain data fetch italy_power` gets it: the user's cache if it holds it,
    # else fetched into this run's folder (a fresh machine has no cache)
    data = fetch.cached_dir("italy_power") or fetch.fetch(
        "italy_power", root=tmp_path_factory.mktemp("data"), log=lambda *a: None)

    def run(golden_cfg=None, **params):
        extra = {"golden_config": golden_cfg.to_dict()} if golden_cfg else {}
        return run_bench(path, info["top"], "bench_trainer_rnn",
                         {"config": cfg.to_dict(), "data_path": str(data), **STALLS, **params, **extra})

    return run


@pytest.fixture(scope="module")
def rnn_rtl(tmp_path_factory):
    return _builder(CFG, tmp_path_factory)


def test_italy_power_epochs_bit_exact(rnn_rtl):
    s = rnn_rtl(dataset="italy_power", epochs=2)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 2 * 67 and s["cycle_checks"] == 2 * 67
    assert s["curve"][-1]["counters"]["updates"] > 0


def test_bench_catches_a_golden_model_that_differs(rnn_rtl):
    """Negative control: the golden twin is told tt_update "sign" instead of "sum"."""
    s = rnn_rtl(golden_cfg=dataclasses.replace(CFG, tt_update="sign"), dataset="italy_power", epochs=1)
    assert s["failed"] == 1 and s["mismatches"] > 0


def test_italy_power_minibatch_epochs_bit_exact(tmp_path_factory):
    """Mini-batches of 5 through the Verilog, two epochs: every prediction (the batch-start weights),
    the clocks of every sequence (a batch's last one with the apply sweep) and of each epoch's FLUSH
    (it closes the short last batch), every weight and counter after it."""
    s = _builder(CFG_MB, tmp_path_factory)(dataset="italy_power", epochs=2)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 2 * 67 and s["cycle_checks"] == 2 * 67 + 2        # + each epoch's FLUSH
    assert s["curve"][-1]["counters"]["updates"] > 0
