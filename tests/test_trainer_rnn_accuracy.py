"""benchmarks/trainer_rnn_accuracy.py: the engine's twin, trained as the engine's host trains it, is the golden trainer.

The benchmark's ``train_twin`` drives ``RnnGolden`` one sequence at a time (FLUSH at the epoch's end in
mini-batches, the host's ``end_epoch`` with the epoch's error count). Where the engine can run the golden
configuration (online, or a mini-batch that ``plan()`` accepts) its weights after every epoch, and so
its accuracy, must be those of ``RNNTrainer.fit``; what the engine cannot build must be refused.
"""

import dataclasses
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from hwtrain.core.prng import Xorshift32
from hwtrain.errors import HwtrainError
from hwtrain.golden.train import make_trainer
from hwtrain.golden.train.config import TrainConfig

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def acc():
    sys.path.insert(0, str(BENCH))
    try:
        import trainer_rnn_accuracy
    finally:
        sys.path.remove(str(BENCH))
    return trainer_rnn_accuracy


def sequences(n, steps, width, classes, seed):
    x = np.where(Xorshift32(seed, width).bits(n * steps), 1, -1).astype(np.int8).reshape(n, steps, width)
    y = (np.arange(n) * 5 + seed) % classes
    x[:, -1, :2] = np.where(y % 2 == 0, 1, -1)[:, None]        # something to learn
    return x, y


def data(seed=7):
    xtr, ytr = sequences(20, 4, 6, 3, seed)
    xte, yte = sequences(12, 4, 6, 3, seed + 1)
    return types.SimpleNamespace(x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)


# K0 = 8 from 6 raw bits (host-side expansion), 6-4 network, T = 4, 5-bit weights, gamma patience 1
BASE = dict(algorithm="bep_tt", inputs=8, raw_inputs=6, hidden=(6, 4), classes=3, steps=4, hidden_bits=5,
            gamma=(3, 2), gamma_patience=1, classifier="bef", r=0.5, nu=0.2, seed=3)


@pytest.mark.parametrize("semantics", [dict(batch=1, reinforce_every=3), dict(batch=3, reinforce_every=1)],
                         ids=["online", "bs3"])
def test_twin_is_the_golden_fit(acc, semantics):
    cfg = TrainConfig(**BASE, **semantics)
    d, epochs = data(), 4
    r = acc.train_twin(acc.engine_config(cfg, simd=4), d, epochs)
    tr = make_trainer(cfg)
    tr.fit(d.x_train, d.y_train, epochs, d.x_test, d.y_test)
    assert r["test_acc_per_epoch"] == [round(100 * h["test_acc"], 2) for h in tr.history]
    assert r["weights_sha1"] == acc.weights_digest(tr.H)              # every hidden weight after the last epoch
    assert r["gamma_per_epoch"][:-1] == [h["gamma"] for h in tr.history[1:]]
    assert r["gamma_per_epoch"][-1] == tr.gamma
    assert r["steps"] == tr.steps_done
    # negative control: another seed trains other weights
    other = acc.train_twin(acc.engine_config(dataclasses.replace(cfg, seed=4), simd=4), d, epochs)
    assert other["weights_sha1"] != r["weights_sha1"]


def test_twin_refuses_what_the_engine_cannot_build(acc):
    """bs 4 x T 4 = 16 exceeds a 5-bit accumulator word (15): plan() refuses, so does the benchmark."""
    cfg = TrainConfig(**BASE, batch=4, reinforce_every=1)
    with pytest.raises(HwtrainError, match="batch at most 3"):
        acc.train_twin(acc.engine_config(cfg, simd=4), data(), 1)


def test_minibatch_shape_search(acc):
    """ItalyPowerDemand's golden mini-batch configuration (255,255, bs 73, gamma 15, B = 16, T = 24; what
    train_accuracy.build makes of the table's options) does not fit the engine; the largest that does,
    with gamma dividing it, is 165 (plan(): 178 block RAMs), and 180 does not fit."""
    cfg = TrainConfig(algorithm="bep_tt", inputs=255, raw_inputs=10, hidden=(255, 255), classes=2, steps=24,
                      hidden_bits=16, gamma=(15, 15), r=0.5, nu=0.05, p_r=0.5, batch=73, reinforce_every=1,
                      gamma_patience=3, classifier="bef", seed=1)
    ecfg = acc.engine_config(cfg)
    with pytest.raises(HwtrainError):
        acc.plan(ecfg)
    assert acc.largest_minibatch_hidden(ecfg) == 165
    acc.plan(dataclasses.replace(ecfg, inputs=165, hidden=(165, 165)))
    with pytest.raises(HwtrainError):
        acc.plan(dataclasses.replace(ecfg, inputs=180, hidden=(180, 180)))
