"""Inference cores on a model trained by `hwtrain train`: the whole digits test split
through the emitted Verilog, every class and logit equal to the golden model, for
each neuron implementation, with random stalls; measured cycles equal the formulas."""

import numpy as np
import pytest

from hwtrain.cli import main
from hwtrain.inference import InferenceConfig


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "digits_cpr_64.npz"
    assert main(["train", "-a", "cpr", "-d", "digits", "--hidden", "64", "--epochs", "3",
                 "-q", "-o", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def digits_test_split(tmp_path_factory):
    from hwtrain.data.presets import binarized
    d = binarized("digits")
    out = tmp_path_factory.mktemp("data")
    np.save(out / "x.npy", d.x_test > 0)
    np.save(out / "y.npy", d.y_test)
    return {"inputs_file": str(out / "x.npy"), "labels_file": str(out / "y.npy"),
            "samples": len(d.x_test)}


@pytest.mark.parametrize("impl, store, classifier_pipeline", [
    ("parallel:2", "auto", 1),        # one sample per clock
    ("folded:8x16", "bram", 3),       # FINN-style MVAU, weights in block RAM, deeper classifier
    ("serial:2", "registers", 1),     # bit-serial, weights in rotating registers
    ("folded:8x16:p2:c4", "rom", 3),  # the issue register: address copies, a ROM per PE
])
def test_whole_test_split_bit_exact(rtl_bench, digits_model, digits_test_split, impl, store,
                                    classifier_pipeline):
    cfg = InferenceConfig(**InferenceConfig.complete(
        {"model": str(digits_model), "impl": (impl,), "store": store, "logits_out": True,
         "classifier_pipeline": classifier_pipeline}))
    s = rtl_bench("inference", cfg, "bench_inference", seed=5, p_in_stall=0.25, p_out_stall=0.25,
                  **digits_test_split)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == digits_test_split["samples"] + min(digits_test_split["samples"], 32)
    assert s["latency_cycles"] == cfg.latency
    assert s["cycles_unstalled"] == s["expected_cycles_unstalled"]
    assert s["rtl_accuracy"] == s["golden_accuracy"] > 0.5
    if impl.startswith("parallel"):
        assert cfg.cycles_per_sample == 1
