"""Emitted Verilog of EpBramEngine trains beside the golden model (cocotb + Verilator).

Whole epochs of a digits subset with random idle input cycles and output
back-pressure; predictions of every training and test sample, and the complete
weights, momenta and biases at the end of every epoch, must match bit for bit;
the measured clocks per sample must equal the formula.
"""

import dataclasses

import pytest

from hwtrain.flows.emit import to_verilog
from hwtrain.flows.simulate import run_bench
from hwtrain.hdl import fanout
from hwtrain.hdl.ep_bram import EpBramConfig, EpBramEngine, cycles_per_sample, top_name

# Odd shapes: 13 pixels in words of 5, 7 hidden in words of 3, 3 classes x 3 replicas, 5-bit states,
# no leak, memories in banks of 16 words, flip thresholds raised twice (after 300 and 700 of the 878
# training samples). The full digits engine runs in benchmarks (hwtrain verify ep_bram, docs/ep.md).
ODD = EpBramConfig(inputs=13, hidden=7, classes=3, replicas=3, state_bits=5, state_init=15, in_shift=3,
                   nudge=64, bias_bits=6, bias_frac=1, free_steps=3, nudged_steps=2, mom_bits=4,
                   gamma_shift=4, tau_hidden=0, tau_output=1, tau_schedule=((300, 1, 2), (700, 2, 1)),
                   seed=2, simd=5, simd_hidden=3, bank_depth=16)


@pytest.fixture
def ep_bram_rtl(tmp_path):
    def run(cfg, **params):
        top = top_name(cfg, probe=True)
        path = tmp_path / f"{top}.v"
        path.write_text(to_verilog(EpBramEngine(cfg, probe=True), top))
        base = {"config": cfg.to_dict(), "seed": 1, "p_in_stall": 0.3, "p_out_stall": 0.3}
        return run_bench(path, top, "bench_ep_bram", {**base, **params})
    return run


def test_whole_epochs_bit_exact(ep_bram_rtl):
    """Two whole epochs of the digits 0, 1, 2 (every train and test sample)."""
    s = ep_bram_rtl(ODD, epochs=2, n_train=1437, n_test=360)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 2 * (439 + 98)      # digits 0..2 in the shuffled split
    assert s["flips"] > 0
    assert s["cycles_per_train_sample"] == cycles_per_sample(ODD, train=True)
    assert s["cycles_per_inference_sample"] == cycles_per_sample(ODD, train=False)


def test_bench_catches_a_model_that_differs(ep_bram_rtl):
    """Negative control: the golden model is told a different flip threshold."""
    other = dataclasses.replace(ODD, tau_output=ODD.tau_output + 1)
    s = ep_bram_rtl(ODD, epochs=1, n_train=100, n_test=10, golden_config=other.to_dict())
    assert s["failed"] == 1 and s["mismatches"] > 0


def test_sliced_memories_bit_exact(ep_bram_rtl, monkeypatch):
    """The same shapes with every memory in slices (3 bits each here, so W1/M1 and W2/M2 take
    2-7 slices in address groups; an LFE5U's blocks give 784-512's 2-bit slices): one epoch."""
    monkeypatch.setattr(fanout, "BLOCK_MODES", ((1 << 14, 3),))
    cfg = dataclasses.replace(ODD, slice_memories=True)
    s = ep_bram_rtl(cfg, epochs=1, n_train=1437, n_test=360)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["flips"] > 0
    assert s["cycles_per_train_sample"] == cycles_per_sample(cfg, train=True)
    assert s["cycles_per_inference_sample"] == cycles_per_sample(cfg, train=False)
