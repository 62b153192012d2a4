"""BEP-TT golden model: forward recurrence, masks shared across time, batch semantics."""

import numpy as np
import pytest

from hwtrain.core import bits
from hwtrain.golden.train import TrainConfig, make_trainer, rules


def _cfg(**kw):
    base = dict(steps=4, gamma=(3, 2), hidden_bits=5, r=0.5, nu=0.3, p_r=0.0, batch=6, seed=2)
    base.update(kw)
    return TrainConfig("bep_tt", 10, (6, 4), 2, **base)


def _seq(n=12, seed=0, t=4, k=10):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.choice([-1, 1], size=(n, t, k)).astype(np.int8)
    x[:, :, 0] = np.where(y[:, None] == 1, 1, -1)
    return x, y


def test_forward_matches_unrolled_reference():
    tr = make_trainer(_cfg())
    x, _ = _seq()
    Z, S, zy, sy = tr.forward(x)
    wxs, wss, wsy = (bits.sign(h).astype(int) for h in tr.H)
    for i in range(len(x)):
        s = np.zeros(6, dtype=int)
        for t in range(4):
            z = wxs @ x[i, t] + wss @ s
            assert np.array_equal(Z[i, t], z)
            s = np.where(z >= 0, 1, -1)
        assert np.array_equal(zy[i], wsy @ s)


@pytest.mark.parametrize("tt_mask", ["last", "sum"])
def test_state_masks_are_shared_across_time_and_minibatch_aggregates(tt_mask):
    # with sign(0) = +1 targets every s*_t is +-1, so a selected row is nonzero at every step
    tr = make_trainer(_cfg(zero_target="plus", tt_mask=tt_mask))
    x, y = _seq()
    coeffs, ins, _ = tr.update_terms(x, y)
    cs = coeffs[0].reshape(12, 4, 6)
    rows = cs != 0
    # a neuron selected for a sample is selected at every time step (mask shared across time)
    assert (rows.any(axis=1) == rows.all(axis=1)).all()
    assert rows.any()
    # with ternary targets (skip) a selected row is zero exactly at the steps whose target is 0
    tr = make_trainer(_cfg(tt_mask=tt_mask))
    assert tr.cfg.zero_target == "skip"
    coeffs, _, _ = tr.update_terms(x, y)
    cs = coeffs[0].reshape(12, 4, 6)
    sel = (cs != 0).any(axis=1)
    assert sel.any() and (cs[~np.broadcast_to(sel[:, None, :], cs.shape)] == 0).all()
    before = [h.copy() for h in tr.H]
    per = [tr.deltas(x[i:i + 1], y[i:i + 1]) for i in range(6)]
    tr.step(x[:6], y[:6])
    for m in range(3):
        assert np.array_equal(tr.H[m], np.clip(before[m] + 2 * sum(p[m] for p in per), -15, 15))


def test_expansion_layer_and_learning():
    cfg = _cfg(raw_inputs=3, batch=4, p_r=0.5)
    tr = make_trainer(cfg)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    x = rng.choice([-1, 1], size=(40, 4, 3)).astype(np.int8)
    x[:, -1, :] = np.where(y[:, None] == 1, 1, -1)
    a = tr.prepare(x).a
    assert a.shape == (40, 4, 10)
    assert np.array_equal(a[0, 0], rules.sign(tr.E.astype(int) @ x[0, 0]))
    acc0 = tr.accuracy(x, y)
    tr.fit(x, y, 8)
    assert tr.accuracy(x, y) > max(acc0, 0.8)


def test_ternary_sign_update_mode():
    tr = make_trainer(_cfg(tt_update="sign"))
    ref = make_trainer(_cfg(tt_update="sum"))
    x, y = _seq()
    per_sign = [tr.deltas(x[i:i + 1], y[i:i + 1]) for i in range(6)]
    per_sum = [ref.deltas(x[i:i + 1], y[i:i + 1]) for i in range(6)]
    for s, r in zip(per_sign, per_sum):  # same weights: sign mode is the ternary sign of the sum mode
        assert np.array_equal(s[0], np.sign(r[0])) and np.array_equal(s[1], np.sign(r[1]))
        assert np.array_equal(s[2], r[2])
    assert any(np.abs(r[0]).max() > 1 for r in per_sum)  # the sum mode really moves by more than 1
    before = [h.copy() for h in tr.H]
    tr.step(x[:6], y[:6])
    for m in range(3):
        assert np.array_equal(tr.H[m], np.clip(before[m] + 2 * sum(p[m] for p in per_sign), -15, 15))


def _hand_trainer(**kw):
    """K0 = 2, K_s = 2, K_y = 2, T = 2, one group per layer, all gates open (nu = 1), no reinforcement."""
    tr = make_trainer(TrainConfig("bep_tt", 2, (2, 2), 2, steps=2, gamma=(2, 2), hidden_bits=5, r=0.5, nu=1.0,
                                  p_r=0.0, batch=1, classifier="random", **kw))
    mats = [[[1, 1], [1, -1]], [[1, 1], [-1, 1]], [[1, -1], [1, 1]]]  # W_xs, W_ss, W_sy
    for m, w in enumerate(mats):
        tr.H[m][:] = np.array(w)
        tr.W[m] = rules.sign(tr.H[m]).astype(np.float32)
    tr.P[0] = np.array([[1, -1], [-1, 1]], dtype=np.int8)
    return tr


def test_bep_tt_hand_case_last_step_mask_and_zero_targets():
    # a_1 = (1, 1), a_2 = (-1, 1), label 1.
    # forward: z_1 = W_xs a_1 = (2, 0), s_1 = (1, 1); z_2 = W_xs a_2 + W_ss s_1 = (0, -2) + (2, 0) = (2, -2),
    #          s_2 = (1, -1); z_y = W_sy s_2 = (2, 0), s_y = (1, 1); logits P s_y = (0, 0): margin 0 < M = 1.
    # output:  s*_y = rho_1 = (-1, 1); n0 wrong (stab -2), n1 right -> H_sy[0] += 2 * (-1) * s_2.
    # back:    s*_2 = sign(W_sy^T s*_y) = sign(0, 2) -> skip: (0, 1); s*_1 = sign(W_ss^T (0, 1)) = (-1, 1).
    # last-step mask: n0 has no target at T, n1 is wrong at T (s_2 = -1, stab -2) -> n1 wins.
    #          H_xs[1] += 2 (s*_{1,1} a_1 + s*_{2,1} a_2) = 2 (0, 2); H_ss[1] += 2 (s*_{1,1} s_0 + s*_{2,1} s_1) = 2 (1, 1)
    x = np.array([[[1, 1], [-1, 1]]], dtype=np.int8)
    y = np.array([1])
    tr = _hand_trainer()
    Z, S, zy, _ = tr.forward(x)
    assert Z[0].tolist() == [[2, 0], [2, -2]] and zy[0].tolist() == [2, 0]
    d = tr.deltas(x, y)
    assert d[0].tolist() == [[0, 0], [0, 2]]
    assert d[1].tolist() == [[0, 0], [1, 1]]
    assert d[2].tolist() == [[-1, 1], [0, 0]]
    # the temporal-sum rule: n0 wrong at t = 1 (s*_1 = -1, z = 2): stab -2 + 0 = -2; n1: 1 * 0 + 1 * (-2) = -2;
    # tie -> lowest index, n0: H_xs[0] += 2 (-1) a_1, H_ss[0] += 2 (-1 * s_0 + 0 * s_1) = 0
    d = _hand_trainer(tt_mask="sum").deltas(x, y)
    assert d[0].tolist() == [[-1, -1], [0, 0]]
    assert d[1].tolist() == [[0, 0], [0, 0]]
    # sign(0) = +1 targets: s*_2 = (1, 1), s*_1 = sign(W_ss^T (1, 1)) = sign(0, 2) = (1, 1); n1 wins again
    d = _hand_trainer(zero_target="plus").deltas(x, y)
    assert d[0].tolist() == [[0, 0], [0, 2]]
    assert d[1].tolist() == [[0, 0], [1, 1]]
    tr = _hand_trainer()
    tr.step(x, y)
    assert tr.H[0].tolist() == [[1, 1], [1, 3]] and tr.H[1].tolist() == [[1, 1], [1, 3]]
    assert tr.H[2].tolist() == [[-1, 1], [1, 1]]
