"""Emitted Verilog of OnlineTrainer trains beside the golden model (cocotb + Verilator).

Two Verilator builds (CP+R 64-16 and BEP 64-16-8, so each builds in well under
a minute); each streams whole epochs of binarized digits (every training
sample, 64 inputs) and a Random Prototypes subset, with random idle cycles on
the command side and back-pressure on the response side. Every prediction,
the cycles of every training sample, every hidden weight and every counter
must match after each epoch. The digits-sized engines (hidden >= 128) are
measured in benchmarks/trainer_synth.py and benchmarks/trainer_rtl.py.
"""

import dataclasses

import pytest

from hwtrain.golden.train.config import TrainConfig

CPR = TrainConfig(algorithm="cpr", inputs=64, hidden=(16,), classes=10, hidden_bits=6, gamma=(8,),
                  r=0.25, p_r=0.5, batch=1, seed=2)
BEP = TrainConfig(algorithm="bep", inputs=64, hidden=(16, 8), classes=10, hidden_bits=8, gamma=(4, 8),
                  r=0.25, nu=0.1, p_r=0.5, batch=1, seed=2)
STALLS = {"seed": 1, "p_in_stall": 0.3, "p_out_stall": 0.3}


@pytest.mark.parametrize("design,cfg", [("trainer_cpr", CPR), ("trainer_bep", BEP)], ids=["cpr", "bep"])
def test_digits_and_random_prototypes_bit_exact(rtl_bench, design, cfg):
    s = rtl_bench(design, cfg, "bench_trainer", dataset="digits", epochs=2, n_train=1438, n_test=359,
                  **STALLS)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 2 * 1438 and s["cycle_checks"] == 2 * 1438
    assert s["curve"][-1]["counters"]["updates"] > 0
    s = rtl_bench(design, cfg, "bench_trainer", dataset="random_prototypes", epochs=2, n_train=300,
                  n_test=100, **STALLS)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 600


def test_bench_catches_a_golden_model_that_differs(rtl_bench):
    """Negative control: the golden twin is told another reinforcement probability."""
    other = dataclasses.replace(CPR, p_r=0.9)
    s = rtl_bench("trainer_cpr", CPR, "bench_trainer", dataset="digits", epochs=1, n_train=200, n_test=0,
                  golden_config=other.to_dict(), **STALLS)
    assert s["failed"] == 1 and s["mismatches"] > 0
