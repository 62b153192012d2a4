"""Emitted Verilog of OnlineTrainer trains beside the golden model (cocotb + Verilator).

Two Verilator builds (CP+R 64-16 and BEP 64-16-8; each design is emitted once
per module into one file, so the later runs reuse its build). Each streams two
whole epochs of binarized digits (every training sample, 64 inputs) and two
epochs of a Random Prototypes subset, with random idle cycles on the command
side and back-pressure on the response side. Every prediction, the cycles of
every training sample, every hidden weight and every counter must match after
each epoch. The digits-sized engines (hidden >= 128) run in
benchmarks/trainer_rtl.py.
"""

import dataclasses

import pytest

from hwtrain.flows.designs import generate
from hwtrain.flows.simulate import run_bench
from hwtrain.golden.train.config import TrainConfig

CPR = TrainConfig(algorithm="cpr", inputs=64, hidden=(16,), classes=10, hidden_bits=6, gamma=(8,),
                  r=0.25, p_r=0.5, batch=1, seed=2)
BEP = TrainConfig(algorithm="bep", inputs=64, hidden=(16, 8), classes=10, hidden_bits=8, gamma=(4, 8),
                  r=0.25, nu=0.1, p_r=0.5, batch=1, seed=2)
STALLS = {"seed": 1, "p_in_stall": 0.3, "p_out_stall": 0.3}


@pytest.fixture(scope="module")
def trainer_rtl(tmp_path_factory):
    """Emit each design once; run ``bench_trainer`` on it with the given parameters."""
    emitted = {}

    def run(cfg, golden_cfg=None, **params):
        if cfg not in emitted:
            emitted[cfg] = generate(f"trainer_{cfg.algorithm}", cfg, tmp_path_factory.mktemp(cfg.algorithm))
        path, info = emitted[cfg]
        extra = {"golden_config": golden_cfg.to_dict()} if golden_cfg else {}
        return run_bench(path, info["top"], "bench_trainer", {"config": cfg.to_dict(), **STALLS, **params, **extra})

    return run


@pytest.mark.parametrize("cfg", [CPR, BEP], ids=["cpr", "bep"])
def test_digits_and_random_prototypes_bit_exact(trainer_rtl, cfg):
    s = trainer_rtl(cfg, dataset="digits", epochs=2, n_train=1438, n_test=359)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 2 * 1438 and s["cycle_checks"] == 2 * 1438
    assert s["curve"][-1]["counters"]["updates"] > 0
    s = trainer_rtl(cfg, dataset="random_prototypes", epochs=2, n_train=300, n_test=100)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 600


def test_bench_catches_a_golden_model_that_differs(trainer_rtl):
    """Negative control: the golden twin is told another reinforcement probability."""
    s = trainer_rtl(CPR, golden_cfg=dataclasses.replace(CPR, p_r=0.9), dataset="digits", epochs=1,
                    n_train=200, n_test=0)
    assert s["failed"] == 1 and s["mismatches"] > 0
