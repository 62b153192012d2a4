"""XnorPopcountArray: configuration errors, golden semantics, Amaranth twin in simulation."""

import numpy as np
import pytest

from hwtrain.config import DatapathConfig
from hwtrain.errors import HwtrainError
from hwtrain.core import bits
from hwtrain.golden.datapath import DatapathParams, XnorPopcountArray
from hwtrain.core.prng import Xorshift32
from hwtrain.hdl.datapath import XnorPopcountArray as XnorPopcountArrayHdl
from hwtrain.hdl.stream_sim import run_stream


@pytest.mark.parametrize("kwargs, message", [
    (dict(inputs=0, neurons=3), "inputs .K. must be a positive integer"),
    (dict(inputs=5, neurons=-1), "neurons .N. must be a positive integer"),
    (dict(inputs=5, neurons=2, pipeline=0), "pipeline"),
    (dict(inputs=7, neurons=2, pipeline=6), "too deep for K=7"),
    (dict(inputs=64, neurons=2, popcount_width=6), "cannot hold a count of up to K=64"),
    (dict(inputs=8, neurons=2, weights="rom"), "unknown weight mode 'rom'"),
    (dict(inputs=8, neurons=2, popcount="magic"), "unknown popcount structure"),
    (dict(inputs=8, neurons=2, seed=-3), "seed"),
    (dict(inputs=True, neurons=2), "positive integer"),
])
def test_bad_configurations_are_explained(kwargs, message):
    with pytest.raises(HwtrainError, match=message):
        DatapathConfig(**kwargs)


def test_config_json_roundtrip_and_unknown_keys():
    cfg = DatapathConfig(65, 10, pipeline=3, weights="port")
    assert DatapathConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(HwtrainError, match="unknown DatapathConfig keys"):
        DatapathConfig.from_dict({"inputs": 3, "neurons": 1, "width": 4})
    with pytest.raises(HwtrainError, match="not valid JSON"):
        DatapathConfig.from_json("{inputs: 3")


def test_golden_matches_sign_of_dot_product_with_bias():
    """A threshold t is sign(w.x + b) with sign(0) = +1 for t = ceil((K - b) / 2)."""
    cfg = DatapathConfig(9, 4)
    rng = np.random.default_rng(0)
    w = rng.choice([-1, 1], size=(4, 9))
    b = np.array([0, 1, -3, 9])
    t = -(-(9 - b) // 2)
    arr = XnorPopcountArray(cfg, DatapathParams(w, t))
    x = rng.choice([-1, 1], size=(300, 9))
    fire, pop = arr(x)
    np.testing.assert_array_equal(pop, (x[:, None, :] == w[None]).sum(-1))
    np.testing.assert_array_equal(fire, bits.sign(x @ w.T + b) > 0)


def test_threshold_extremes_always_and_never_fire():
    cfg = DatapathConfig(5, 2)
    arr = XnorPopcountArray(cfg, DatapathParams(np.ones((2, 5)), np.array([0, 6])))
    fire, _ = arr(np.array([[1, 1, 1, 1, 1], [-1, -1, -1, -1, -1]]))
    np.testing.assert_array_equal(fire, [[True, False], [True, False]])


def test_random_parameters_come_from_the_prng_and_are_reproducible():
    cfg = DatapathConfig(33, 5, seed=4)
    a, b = DatapathParams.random(cfg), DatapathParams.random(cfg)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.weights, Xorshift32(4, 5).bits(33).T)
    assert not np.array_equal(a.weights, DatapathParams.random(DatapathConfig(33, 5, seed=5)).weights)
    assert 0 < a.weights.mean() < 1


def test_parameter_shape_errors():
    cfg = DatapathConfig(4, 2)
    with pytest.raises(HwtrainError, match=r"weights have shape \(3, 4\), expected \(N, K\) = \(2, 4\)"):
        XnorPopcountArray(cfg, DatapathParams(np.ones((3, 4)), np.zeros(2)))
    with pytest.raises(HwtrainError, match="thresholds must lie in 0..K\\+1"):
        XnorPopcountArray(cfg, DatapathParams(np.ones((2, 4)), np.array([0, 9])))


def _simulate(cfg, x, stall_seed=1):
    """Run samples through the Amaranth block with random gaps on both sides."""
    golden = XnorPopcountArray(cfg)
    dut = XnorPopcountArrayHdl(cfg)

    def load_weights(ctx):
        if cfg.weights == "port":
            for j in range(cfg.neurons):
                ctx.set(dut.weights[j], bits.to_int(bits.pack(golden.params.weights[j:j + 1]), cfg.inputs)[0])
                ctx.set(dut.thresholds[j], int(golden.params.thresholds[j]))

    payloads = bits.to_int(bits.pack(x), cfg.inputs)
    gaps = Xorshift32(stall_seed, 2).draws(len(payloads)) % 3
    return golden, run_stream(dut, payloads, gaps=gaps, setup=load_weights)


@pytest.mark.parametrize("k, n, pipeline, weights", [
    (1, 1, 1, "const"), (1, 3, 2, "port"), (7, 3, 1, "const"), (7, 3, 5, "port"),
    (16, 2, 3, "const"), (17, 4, 2, "port"),
])
def test_amaranth_block_equals_golden(k, n, pipeline, weights):
    cfg = DatapathConfig(k, n, pipeline=pipeline, weights=weights)
    x = np.concatenate([np.zeros((1, k), bool), np.ones((1, k), bool), Xorshift32(k, k).bits(60)])
    golden, got = _simulate(cfg, x)
    fire, pop = golden(x)
    assert len(got) == len(x)
    for s, out in enumerate(got):
        assert [(int(out.fire) >> j) & 1 for j in range(n)] == fire[s].astype(int).tolist(), f"sample {s}"
        assert [int(out.popcount[j]) for j in range(n)] == pop[s].tolist(), f"sample {s}"
