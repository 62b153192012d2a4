"""Emitted Verilog of FoldedTrainer trains beside the golden model (cocotb + Verilator).

One small Verilator build (small so that its C++ compiles quickly): CP+R
19-7-5 on Random Prototypes (10 classes), folded so that SIMD and PE barely
divide (layer 1: 3 neurons x 6 inputs, 19 = 3 x 6 + 1, 7 = 2 x 3 + 1; layer 2:
2 x 3, 7 = 2 x 3 + 1, 5 = 2 x 2 + 1), reinforcement after every step, 30%
random stalls on both streams. Two whole epochs of 400 samples: every
prediction, the clocks of every sample, every hidden weight and every counter
after each epoch, the host schedules in between. The negative control reuses
the build with a golden twin told another reinforcement probability. The
784-input engine is synthesized in benchmarks/trainer_folded_synth.py.
"""

import dataclasses

import pytest

from hwtrain.flows.designs import generate
from hwtrain.flows.simulate import run_bench
from hwtrain.golden.trainer_folded import FoldedTrainConfig

CPR = FoldedTrainConfig(algorithm="cpr", inputs=19, hidden=(7, 5), classes=10, hidden_bits=5, gamma=(7, 5),
                        r=0.25, p_r=0.5, batch=1, reinforce_every=1, pe=(3, 2), simd=(6, 3), seed=2)
STALLS = {"seed": 1, "p_in_stall": 0.3, "p_out_stall": 0.3}


@pytest.fixture(scope="module")
def folded_rtl(tmp_path_factory):
    path, info = generate("trainer_cpr_folded", CPR, tmp_path_factory.mktemp("folded"))

    def run(golden_cfg=None, **params):
        extra = {"golden_config": golden_cfg.to_dict()} if golden_cfg else {}
        return run_bench(path, info["top"], "bench_trainer_folded",
                         {"config": CPR.to_dict(), **STALLS, **params, **extra})

    return run


def test_random_prototypes_epochs_bit_exact(folded_rtl):
    s = folded_rtl(dataset="random_prototypes", epochs=2, n_train=400)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 800 and s["cycle_checks"] == 800
    assert s["curve"][-1]["counters"]["updates"] > 0


def test_minibatch_epochs_bit_exact(tmp_path):
    """Mini-batches of 12 (accumulators in the row memories, apply sweep, FLUSH of the short last batch)."""
    cfg = dataclasses.replace(CPR, batch=12)
    path, info = generate("trainer_cpr_folded", cfg, tmp_path)
    s = run_bench(path, info["top"], "bench_trainer_folded",
                  {"config": cfg.to_dict(), **STALLS, "dataset": "random_prototypes", "epochs": 2, "n_train": 150})
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 300 and s["cycle_checks"] == 300
    assert s["curve"][-1]["counters"]["updates"] > 0


def test_overlap_streamed_epochs_bit_exact(tmp_path):
    """Layer overlap, the host streaming every TRAIN of an epoch (so layer 0 trains one sample while
    layer 1 finishes the one before) with 30 % stalls: every prediction, weight and counter."""
    cfg = dataclasses.replace(CPR, overlap=True)
    path, info = generate("trainer_cpr_folded", cfg, tmp_path)
    s = run_bench(path, info["top"], "bench_trainer_folded",
                  {"config": cfg.to_dict(), **STALLS, "dataset": "random_prototypes", "epochs": 2, "n_train": 200,
                   "stream": True})
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 400 and s["curve"][-1]["counters"]["updates"] > 0


def test_bench_catches_a_golden_model_that_differs(folded_rtl):
    """Negative control: the golden twin is told another reinforcement probability."""
    s = folded_rtl(golden_cfg=dataclasses.replace(CPR, p_r=0.9), dataset="random_prototypes", epochs=1,
                  n_train=100)
    assert s["failed"] == 1 and s["mismatches"] > 0
