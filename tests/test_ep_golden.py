"""Golden fully binarized EP: each rule of docs/semantics_ep.md against an
independent scalar construction."""

import dataclasses

import numpy as np
import pytest

from hwtrain.errors import HwtrainError
from hwtrain.golden.bop import bop_update
from hwtrain.golden.ep import EpConfig, EpEngine, initial_weights, neuron_step, scale_input, targets
from hwtrain.core.prng import Xorshift32, index_of, lane_seed, step

TINY = EpConfig(inputs=6, hidden=4, classes=3, replicas=2, state_bits=5, state_init=16, in_shift=3,
                bias_bits=6, bias_frac=1, nudge=64, free_steps=3, nudged_steps=2, mom_bits=5,
                gamma_shift=2, tau_hidden=0, tau_output=1, seed=4)


def scalar_sample(cfg, w1, w2, b_h, b_y, x, label, train):
    """Loop-per-neuron reference of one sample (Python ints only).
    Returns (prediction, free activations, nudged activations)."""
    H, O, B = cfg.hidden, cfg.outputs, cfg.state_bits
    pm = lambda bit: 1 if bit else -1  # noqa: E731
    s_h, s_y = [cfg.state_init] * H, [cfg.state_init] * O

    def shift(v):
        return v * 2 ** cfg.in_shift if cfg.in_shift >= 0 else v // 2 ** -cfg.in_shift

    def run(s_h, s_y, steps, nudged):
        for _ in range(steps):
            a_h = [int(s >= 2 ** (B - 1)) for s in s_h]
            a_y = [int(s >= 2 ** (B - 1)) for s in s_y]
            new_h, new_y = [], []
            for i in range(H):
                pre = sum(pm(w1[i][j]) * x[j] for j in range(cfg.inputs))
                pre += sum(pm(w2[o][i]) * a_y[o] for o in range(O)) + b_h[i] // 2 ** cfg.bias_frac
                new_h.append(min(max(s_h[i] // 2 + shift(pre) // 2, 0), 2 ** B - 1))
            for o in range(O):
                pre = sum(pm(w2[o][i]) * a_h[i] for i in range(H)) + b_y[o] // 2 ** cfg.bias_frac
                u = shift(pre)
                if nudged:
                    u += cfg.nudge * (int(o // cfg.replicas == label) - a_y[o])
                new_y.append(min(max(s_y[o] // 2 + u // 2, 0), 2 ** B - 1))
            s_h, s_y = new_h, new_y
        return s_h, s_y

    s_h, s_y = run(s_h, s_y, cfg.free_steps, False)
    scores = [sum(s_y[c * cfg.replicas:(c + 1) * cfg.replicas]) for c in range(cfg.classes)]
    pred = scores.index(max(scores))
    free = ([int(s >= 2 ** (B - 1)) for s in s_h], [int(s >= 2 ** (B - 1)) for s in s_y])
    s_h, s_y = run(s_h, s_y, cfg.nudged_steps, True)
    nudged = ([int(s >= 2 ** (B - 1)) for s in s_h], [int(s >= 2 ** (B - 1)) for s in s_y])
    return pred, free, nudged


def test_training_equals_scalar_reference_for_many_samples():
    cfg = TINY
    e = EpEngine(cfg)
    d = Xorshift32(11, cfg.inputs + 1).draws(60)
    xs = (d[:, :cfg.inputs] >> 31).astype(int)
    labels = index_of(d[:, cfg.inputs], cfg.classes).astype(int)
    m1 = np.zeros((cfg.hidden, cfg.inputs), int)
    m2 = np.zeros((cfg.outputs, cfg.hidden), int)
    w1, w2 = e.w1.tolist(), e.w2.tolist()
    b_h, b_y = [0] * cfg.hidden, [0] * cfg.outputs
    flips = 0
    for x, y in zip(xs, labels):
        pred, (fh, fy), (nh, ny) = scalar_sample(cfg, w1, w2, b_h, b_y, x.tolist(), y, True)
        assert e.train_sample(x, y) == pred
        # The loss gradient (times beta) is AND(free) - AND(nudged), fed to BOP.
        g1 = np.array([[fh[i] * x[j] - nh[i] * x[j] for j in range(cfg.inputs)] for i in range(cfg.hidden)])
        g2 = np.array([[fy[o] * fh[i] - ny[o] * nh[i] for i in range(cfg.hidden)] for o in range(cfg.outputs)])
        nw1, m1, f1 = bop_update(np.array(w1), m1, g1, mom_bits=cfg.mom_bits,
                                 gamma_shift=cfg.gamma_shift, tau=cfg.tau_hidden)
        nw2, m2, f2 = bop_update(np.array(w2), m2, g2, mom_bits=cfg.mom_bits,
                                 gamma_shift=cfg.gamma_shift, tau=cfg.tau_output)
        w1, w2 = nw1.tolist(), nw2.tolist()
        flips += int(f1.sum() + f2.sum())
        lo, hi = -(2 ** (cfg.bias_bits - 1) - 1), 2 ** (cfg.bias_bits - 1) - 1
        b_h = [min(max(b + n - f, lo), hi) for b, n, f in zip(b_h, nh, fh)]
        b_y = [min(max(b + n - f, lo), hi) for b, n, f in zip(b_y, ny, fy)]
        st = e.state()
        assert st["w1"].tolist() == w1 and st["w2"].tolist() == w2
        assert st["b_hidden"].tolist() == b_h and st["b_output"].tolist() == b_y
        assert (st["m1"] == m1).all() and (st["m2"] == m2).all()
    assert flips > 0 and e.flips == flips


def test_neuron_step_truncates_both_halves_and_clamps():
    s = np.array([5, 5, 0, 63, 63, 10])
    u = np.array([5, -1, -3, 200, 1, -100])
    # (5>>1)+(5>>1) = 4, not (5+5)>>1 = 5; -1>>1 = -1 (floor); clamp to [0, 63].
    assert neuron_step(s, u, 6).tolist() == [4, 1, 0, 63, 31, 0]


def test_input_scale_shifts_right_with_floor():
    assert scale_input(np.array([-5, 5, 3]), -1).tolist() == [-3, 2, 1]
    assert scale_input(np.array([-5, 5]), 2).tolist() == [-20, 20]


def test_activation_is_the_top_state_bit():
    """rho(s) = H(s - 1/2): with state scale 2**B, s >= 2**(B-1) fires."""
    cfg = dataclasses.replace(TINY, state_init=15, free_steps=1)
    e = EpEngine(cfg)
    e.w1[:] = True
    e.w2[:] = False
    # Hidden input: popcount of x (all +1 weights); s = 15//2 + (pre*8)//2.
    s_h, _ = e.free_phase(np.array([1, 0, 0, 0, 0, 0]))
    assert (s_h == 7 + 4).all()        # 11 < 16: not firing
    s_h, _ = e.free_phase(np.array([1, 1, 0, 0, 0, 0]))
    assert (s_h == 7 + 8).all()        # 15 < 16
    s_h, _ = e.free_phase(np.array([1, 1, 1, 0, 0, 0]))
    assert (s_h == 7 + 12).all() and ((s_h >> 4) == 1).all()


def test_initial_weights_follow_the_documented_lanes():
    cfg = TINY
    w1, w2 = initial_weights(cfg)
    for lane, row, n in [(0, w1[0], cfg.inputs), (3, w1[3], cfg.inputs),
                         (cfg.hidden, w2[0], cfg.hidden), (cfg.hidden + 5, w2[5], cfg.hidden)]:
        s, bits_ = lane_seed(cfg.seed, lane), []
        for _ in range(n):
            s = step(s)
            bits_.append(bool(s >> 31))
        assert row.tolist() == bits_


def test_replicated_targets_and_prediction_tie_break():
    cfg = TINY
    assert targets(cfg, 1).tolist() == [0, 0, 1, 1, 0, 0]
    e = EpEngine(cfg)
    assert e.prediction(np.array([3, 4, 7, 0, 1, 6])) == 0      # 7, 7, 7: first class wins
    assert e.prediction(np.array([3, 4, 7, 1, 1, 6])) == 1


def test_gradient_sign_lowers_the_loss_direction():
    """A hidden unit that turns on only when nudged, with input 1, has a negative
    loss gradient: BOP must flip a -1 weight toward +1, never a +1 weight."""
    g = np.outer(np.array([0 - 1]), np.array([1]))              # free - nudged
    w_new, _, flips = bop_update(np.array([[False]]), np.array([[0]]), g, mom_bits=5,
                                 gamma_shift=2, tau=0)
    assert flips[0, 0] and w_new[0, 0]
    _, _, flips = bop_update(np.array([[True]]), np.array([[0]]), g, mom_bits=5, gamma_shift=2, tau=0)
    assert not flips[0, 0]


@pytest.mark.parametrize("kw,msg", [
    ({"hidden": 0}, "hidden must be an integer >= 1"),
    ({"classes": 1}, "classes must be an integer >= 2"),
    ({"state_init": 64}, "state_init must be an integer in \\[0, 63\\]"),
    ({"bias_frac": 12}, "bias_frac must be an integer in \\[0, 11\\]"),
    ({"tau_output": 200}, "tau must be an integer in \\[0, 126\\]"),
    ({"in_shift": 40}, "in_shift"),
])
def test_bad_configs_are_refused_in_one_line(kw, msg):
    with pytest.raises(HwtrainError, match=msg):
        EpConfig(**kw)


def test_bad_samples_are_refused():
    e = EpEngine(TINY)
    with pytest.raises(HwtrainError, match="6 binary inputs"):
        e.predict(np.zeros(5))
    with pytest.raises(HwtrainError, match="label 3 outside 0..2"):
        e.train_sample(np.zeros(6), 3)
