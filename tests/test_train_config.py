"""Host-side conversion of real hyperparameters to hardware integers."""

import math

from hwtrain.core import prng
from hwtrain.golden.train.config import (TrainConfig, gate_threshold, margin_threshold, paper_gamma,
                                         reinforce_threshold)


def test_conversions():
    assert margin_threshold(0.25, 135) == 34        # ceil(33.75)
    assert margin_threshold(0.5, 10) == 5
    assert margin_threshold(0.0, 10) == 1           # ties always update
    assert gate_threshold(0.05, 135) == 6           # floor(6.75)
    assert gate_threshold(0.05, 1000) == 50
    t = reinforce_threshold(0.5, 135)
    assert t == round(0.5 * math.sqrt(2 / (math.pi * 135)) * 2**32)
    assert reinforce_threshold(1.0, 1) == prng.threshold(min(1.0, math.sqrt(2 / math.pi)))


def test_paper_gamma_rule():
    assert paper_gamma(525) == 105
    assert paper_gamma(2025) == 81
    assert paper_gamma(35) == 35
    assert 1035 % paper_gamma(1035) == 0


def test_hw_params_and_roundtrip():
    cfg = TrainConfig("cpr", 1000, (135, 135), 10, gamma=45)
    hw = cfg.hw()
    assert hw.margins == (34, 34) and hw.gamma == (45, 45) and hw.hidden_bits == 8
    assert cfg.widths()["pre_activation"] == [11, 9]
    cfg2 = TrainConfig.from_json(cfg.to_json())
    assert cfg2 == cfg
    rnn = TrainConfig("bep_tt", 20, (30, 30), 3, steps=5, gamma=(15, 15), nu=0.1)
    assert rnn.hw().gates == (5, 3) and rnn.hw().margins == (8,)  # ceil(0.25 * 30)
    assert set(rnn.shapes) == {"H_xs", "H_ss", "H_sy"}
