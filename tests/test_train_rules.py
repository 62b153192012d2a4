"""Hand-computed cases for each integer rule of the fully binary trainers."""

import dataclasses

import numpy as np
import pytest

from hwtrain.errors import HwtrainError
from hwtrain.core import bits
from hwtrain.golden.train import rules
from hwtrain.golden.train.config import TrainConfig
from hwtrain.golden.train.mlp import MLPTrainer


def test_pm1_matmul_matches_packed_popcount():
    rng = np.random.default_rng(0)
    a = rng.choice([-1, 1], size=(7, 131)).astype(np.int8)
    w = rng.choice([-1, 1], size=(5, 131)).astype(np.int8)
    assert np.array_equal(rules.pm1_matmul(a, w.T), bits.dot_pm1(bits.pack(a), bits.pack(w), 131))


def test_margins_and_prediction_tie_break():
    logits = np.array([[3, 5, 5], [7, 1, -1], [0, 0, 0]])
    y = np.array([1, 0, 2])
    assert rules.margins(logits, y).tolist() == [0, 6, 0]
    assert rules.predict(logits).tolist() == [1, 0, 0]  # lowest index on ties


def test_easiest_wrong_hand_case():
    # 1 sample, 6 neurons in 2 groups of 3. target, z:
    # group 0: t=(+1,+1,-1) z=(-3,-1,+5): wrong = n0 (-3), n1 (-1), n2 (stab -5) -> n1 wins (stab -1)
    # group 1: t=(-1,+1,+1) z=(-2, 4, 0): wrong = n3? sign(-2)=-1 == t: right; n4 right; n5 sign(0)=+1 right
    t = np.array([[1, 1, -1, -1, 1, 1]], dtype=np.int8)
    z = np.array([[-3, -1, 5, -2, 4, 0]])
    c = rules.easiest_wrong(t, z, 3)
    assert c.tolist() == [[0, 1, 0, 0, 0, 0]]
    # ties go to the lowest index; z = 0 with target -1 is wrong (sign(0) = +1) with stability 0
    t2 = np.array([[-1, 1, 1, -1]], dtype=np.int8)
    z2 = np.array([[0, -2, -2, 0]])
    assert rules.easiest_wrong(t2, z2, 4).tolist() == [[-1, 0, 0, 0]]
    assert rules.easiest_wrong(t2, z2, 2).tolist() == [[-1, 0, 0, -1]]
    # inactive samples select nothing
    assert rules.easiest_wrong(t2, z2, 2, active=[False]).tolist() == [[0, 0, 0, 0]]


def test_gate_and_backproject_hand_case():
    # W (2 out, 3 in), target a* of the layer above = (+1, -1), z = (1, 7), NU = 2
    w = np.array([[1, -1, 1], [1, 1, -1]], dtype=np.float32)
    g = rules.gate(np.array([[1, 7]]), 2)
    assert g.tolist() == [[1, 0]]
    # only neuron 0 passes: a* = sign(W[0]) = (+1, -1, +1)
    assert rules.backproject(w, g * np.array([[1, -1]])).tolist() == [[1, -1, 1]]
    # no gate open: W^T 0 = 0, sign(0) = +1
    assert rules.backproject(w, np.zeros((1, 2))).tolist() == [[1, 1, 1]]


def test_backproject_zero_skip_and_zero_targets_are_never_wrong():
    # W^T (g * a*) with both gates open and a* = (+1, +1): (1+1, -1+1, 1-1) = (2, 0, 0)
    w = np.array([[1, -1, 1], [1, 1, -1]], dtype=np.float32)
    both = np.array([[1, 1]])
    assert rules.backproject(w, both).tolist() == [[1, 1, 1]]                 # plus: sign(0) = +1
    assert rules.backproject(w, both, "skip").tolist() == [[1, 0, 0]]         # skip: 0 = no target
    assert rules.backproject(w, np.zeros((1, 2)), "skip").tolist() == [[0, 0, 0]]
    # a 0 target is never a candidate: t = (0, -1, +1), z = (5, 2, -1). Neuron 0 would be
    # "wrong" with stability 0 (the largest); it is skipped, so n2 (stability -1) beats n1 (-2)
    t = np.array([[0, -1, 1]], dtype=np.int8)
    assert rules.easiest_wrong(t, np.array([[5, 2, -1]]), 3).tolist() == [[0, 0, 1]]
    assert rules.easiest_wrong(np.zeros((1, 3), np.int8), np.array([[5, 2, -1]]), 3).tolist() == [[0, 0, 0]]


def test_apply_update_saturates_and_keeps_odd():
    h = np.array([[5, -7, 1], [7, 7, -7]])
    delta = np.array([[1, -1, -3], [0, 1, -1]])
    rules.apply_update(h, delta, 4)  # bounds +-7
    assert h.tolist() == [[7, -7, -5], [7, 7, -7]]
    assert (h % 2 == 1).all()


def test_reinforce_rule():
    h = np.array([[1, -1, 7, -5]], dtype=np.int32)
    draws = np.array([[10, 10, 10, 99]], dtype=np.uint32)
    n = rules.reinforce(h, draws, 50, 4)
    assert n == 3
    assert h.tolist() == [[3, -3, 7, -5]]  # 7 saturates, last draw >= threshold
    h2 = np.array([[1]], dtype=np.int32)
    assert rules.reinforce(h2, np.array([[0xFFFFFFFF]], dtype=np.uint32), 2**32, 4) == 1  # p = 1


def _tiny(alg, **kw):
    cfg = TrainConfig(alg, 3, (2,), 2, gamma=2, batch=1, r=0.0, nu=1.0, p_r=0.0, shuffle=False, **kw)
    return MLPTrainer(cfg)


def test_cpr_one_sample_three_inputs_two_neurons():
    tr = _tiny("cpr", hidden_bits=4)
    tr.H[0] = np.array([[1, 1, -1], [-3, 1, 1]], dtype=np.int32)
    tr.W[0] = rules.sign(tr.H[0]).astype(np.float32)
    tr.P = [np.array([[1, 1], [-1, 1]], dtype=np.int8)]  # class 0 prototype (+1,+1), class 1 (-1,+1)
    x = np.array([[1, -1, 1]], dtype=np.int8)
    # z = W x = (1-1-1, -1-1+1) = (-1, -1); a = (-1, -1); logits = P a = (-2, 0) -> predicts 1
    # label 0: margin = -2 - 0 < 1 -> update. target rho_0 = (+1, +1); both wrong, stabilities -1, -1
    # -> tie, neuron 0 wins: h_0 += 2 * (+1) * x = (3, -1, 1)
    err = tr.step(x, np.array([0]))
    assert err == 1
    assert tr.H[0].tolist() == [[3, -1, 1], [-3, 1, 1]]
    # now z = (3, -1); a = (+1, -1) -> logits (0, -2): correct with margin 2 >= M = 1: no update
    assert tr.step(x, np.array([0])) == 0
    assert tr.H[0].tolist() == [[3, -1, 1], [-3, 1, 1]]
    # with margin threshold M = 3 (r = 1.5, K = 2) the same sample updates; neuron 1 is the only
    # wrong one (target +1, z = -1): h_1 += 2 * x = (-1, -1, 3)
    tr.hwp = dataclasses.replace(tr.hwp, margins=(3,))
    assert tr.step(x, np.array([0])) == 0
    assert tr.H[0].tolist() == [[3, -1, 1], [-1, -1, 3]]


def test_bep_two_layer_hand_case():
    cfg = TrainConfig("bep", 3, (2, 2), 2, gamma=(2, 2), batch=1, r=0.0, nu=1.0, p_r=0.0, shuffle=False,
                      hidden_bits=4)
    tr = MLPTrainer(cfg)
    tr.H = [np.array([[1, 1, 1], [1, -1, 1]], dtype=np.int32), np.array([[-1, 1], [1, -1]], dtype=np.int32)]
    tr.W = [rules.sign(h).astype(np.float32) for h in tr.H]
    tr.P = [np.array([[1, 1], [-1, -1]], dtype=np.int8)]
    x = np.array([[1, 1, -1]], dtype=np.int8)
    # layer 1: z1 = (1, -1) -> a1 = (1, -1); layer 2: z2 = (-1-1, 1+1) = (-2, 2) -> a2 = (-1, 1)
    # logits = P a2 = (0, 0): label 0, margin 0 < 1 -> update
    # a2* = rho_0 = (1, 1): neuron 0 wrong (stab -2) -> coeff (1, 0)
    # gates (NU = floor(1.0 * 2) = 2): |z2| <= 2 both open; a1* = sign(W2^T (1,1)) = sign((0, 0)) = (1, 1)
    # layer 1: a1 = (1, -1) vs (1, 1): neuron 1 wrong (stab -1) -> coeff (0, 1)
    des = tr.desired(x, [0])
    assert des[1].tolist() == [[1, 1]] and des[0].tolist() == [[1, 1]]
    coeffs, ins, n_err = tr.update_terms(x, np.array([0]))
    assert coeffs[1].tolist() == [[1, 0]] and coeffs[0].tolist() == [[0, 1]] and n_err == 0
    tr.step(x, np.array([0]))
    assert tr.H[1].tolist() == [[1, -1], [1, -1]]         # row 0: (-1, 1) + 2 * a1 = (1, -1)
    assert tr.H[0].tolist() == [[1, 1, 1], [3, 1, -1]]    # row 1 += 2 * x


def test_bep_gate_closed_blocks_signal():
    cfg = TrainConfig("bep", 3, (2, 2), 2, gamma=(2, 2), batch=1, r=0.0, nu=0.0, p_r=0.0, shuffle=False)
    tr = MLPTrainer(cfg)
    assert tr.hwp.gates == (0, 0)
    tr.H = [np.array([[1, 1, 1], [1, -1, 1]], dtype=np.int32), np.array([[-1, 1], [1, -1]], dtype=np.int32)]
    tr.W = [rules.sign(h).astype(np.float32) for h in tr.H]
    tr.P = [np.array([[1, 1], [-1, -1]], dtype=np.int8)]
    # |z2| = 2 > 0: gates closed, a1* = sign(0) = (+1, +1)
    assert tr.desired(np.array([[1, 1, -1]]), [0])[0].tolist() == [[1, 1]]


def test_config_errors():
    with pytest.raises(HwtrainError, match="does not divide"):
        TrainConfig("cpr", 10, (135,), 10, gamma=40)
    with pytest.raises(HwtrainError, match="hidden_bits"):
        TrainConfig("cpr", 10, (10,), 10, hidden_bits=1, gamma=5)
    with pytest.raises(HwtrainError, match="unknown algorithm"):
        TrainConfig("sgd", 10, (10,), 10)
    tr = MLPTrainer(TrainConfig("cpr", 4, (2,), 2, gamma=1))
    with pytest.raises(HwtrainError, match="labels must lie"):
        tr.check(np.ones((3, 4)), np.array([0, 1, 2]))
    with pytest.raises(HwtrainError, match="expected"):
        tr.check(np.ones((3, 5)), np.array([0, 1, 1]))
    with pytest.raises(HwtrainError, match="empty"):
        tr.check(np.ones((0, 4)), np.array([], dtype=int))


def test_fit_validates_datasets():
    tr = MLPTrainer(TrainConfig("bep", 4, (2,), 2, gamma=1))
    with pytest.raises(HwtrainError, match="training set: labels must lie"):
        tr.fit(np.ones((3, 4), dtype=np.int8), np.array([0, 1, 5]), 1)
    with pytest.raises(HwtrainError, match="test set: inputs have shape"):
        tr.fit(np.ones((3, 4), dtype=np.int8), np.array([0, 1, 1]), 1, np.ones((2, 3)), np.array([0, 1]))
    with pytest.raises(HwtrainError, match="inputs must be"):
        tr.fit(np.zeros((3, 4)), np.array([0, 1, 1]), 1)
