"""Batch semantics, PRNG reproducibility and model files of the trainers."""

import numpy as np
import pytest

from hwtrain.errors import HwtrainError
from hwtrain.core import bits, prng
from hwtrain.golden.train import TrainConfig, make_trainer, rules, streams
from hwtrain.golden.train.model import load_model, save_model

ALGS = [("cpr", {}), ("bep", {"classifier": "bef", "bef_iters": 200, "nu": 0.3})]


def _data(n=40, k=24, c=3, seed=0):
    rng = np.random.default_rng(seed)
    protos = rng.choice([-1, 1], size=(c, k))
    y = rng.integers(0, c, n)
    flip = rng.random((n, k)) < 0.2
    x = np.where(flip, -protos[y], protos[y]).astype(np.int8)
    return x, y


def _cfg(alg, kw, **more):
    base = dict(gamma=(3, 2), hidden_bits=4, r=0.5, p_r=0.9, batch=8, seed=5)
    base.update(kw)
    base.update(more)
    return TrainConfig(alg, 24, (12, 6), 3, **base)


@pytest.mark.parametrize("alg,kw", ALGS)
def test_minibatch_is_sum_of_per_sample_updates_from_pre_update_weights(alg, kw):
    x, y = _data()
    tr = make_trainer(_cfg(alg, kw, p_r=0.0))
    tr.fit(x, y, 1)  # move away from the initial weights
    before = [h.copy() for h in tr.H]
    xb, yb = x[:8], y[:8]
    per_sample = [tr.deltas(xb[i:i + 1], yb[i:i + 1]) for i in range(8)]  # weights unchanged by deltas()
    assert all(np.array_equal(a, b) for a, b in zip(before, tr.H))
    tr.step(xb, yb)
    lo, hi = bits.sat_bounds(4)
    for m in range(len(tr.H)):
        total = sum(d[m] for d in per_sample)
        assert np.array_equal(tr.H[m], np.clip(before[m] + 2 * total, lo, hi))
    assert any(np.abs(sum(d[m] for d in per_sample)).sum() for m in range(2))  # something was updated


@pytest.mark.parametrize("alg,kw", ALGS)
def test_online_equals_batch_one(alg, kw):
    x, y = _data()
    a = make_trainer(_cfg(alg, kw, batch=1, reinforce_every=4, shuffle=False))
    b = make_trainer(_cfg(alg, kw, batch=1, reinforce_every=4, shuffle=False))
    a.train_epoch(x, y)
    for i in range(len(y)):  # manual online loop, one sample per step
        b.step(x[i:i + 1], y[i:i + 1])
    assert all(np.array_equal(p, q) for p, q in zip(a.H, b.H))
    # and an online step differs from a batch step of the same samples (weights move in between)
    c = make_trainer(_cfg(alg, kw, batch=len(y), reinforce_every=1, shuffle=False))
    c.train_epoch(x, y)
    assert not all(np.array_equal(p, q) for p, q in zip(a.H, c.H))


@pytest.mark.parametrize("alg,kw", ALGS)
def test_training_is_reproducible_and_seed_dependent(alg, kw):
    x, y = _data()
    runs = []
    for seed in (5, 5, 6):
        tr = make_trainer(_cfg(alg, kw, seed=seed))
        tr.fit(x, y, 3)
        runs.append(tr)
    assert all(np.array_equal(p, q) for p, q in zip(runs[0].H, runs[1].H))
    assert not all(np.array_equal(p, q) for p, q in zip(runs[0].H, runs[2].H))
    for h in runs[0].H:
        assert (h % 2 != 0).all() and np.abs(h).max() <= 7  # odd, within B = 4 bits


def test_reinforcement_draws_follow_the_documented_lanes():
    cfg = _cfg("cpr", {}, p_r=1.0)
    tr = make_trainer(cfg)
    # initial weights: stream MATRIX + m, one lane per column, draw t -> row t, bit 31
    for m, (rows, cols) in enumerate(cfg.shapes.values()):
        g = prng.Xorshift32(prng.stream_seed(cfg.seed, streams.MATRIX + m), cols)
        init = np.where(g.draws(rows) >> np.uint32(31), 1, -1)
        assert np.array_equal(tr.H[m], init)
        # the next sweep decides reinforcement of weight (t, j)
        expect = tr.H[m].copy()
        ev = g.draws(rows).astype(np.uint64) < tr.reinforce_thr[m]
        expect = np.clip(expect + 2 * np.sign(expect) * ev, -7, 7)
        if m == 0:
            want0 = expect
    n = tr.reinforce()
    assert n > 0
    assert np.array_equal(tr.H[0], want0)


def test_reinforcement_probability_schedule():
    tr = make_trainer(_cfg("cpr", {}, p_r=0.5, pr_schedule="cumulative"))
    tr.end_epoch(0.25)
    assert tr.p_r == pytest.approx(0.25)
    tr.end_epoch(0.25)
    assert tr.p_r == pytest.approx(0.125)
    assert tr.reinforce_thr[0] == prng.threshold(0.125 * np.sqrt(2 / (np.pi * 12)))
    tr2 = make_trainer(_cfg("cpr", {}, p_r=0.5, pr_schedule="error"))
    tr2.end_epoch(0.25)
    tr2.end_epoch(0.04)
    assert tr2.p_r == pytest.approx(0.1)


def test_group_size_schedule():
    tr = make_trainer(_cfg("bep", {}, gamma=(2, 2), gamma_patience=2))
    for e in (0.5, 0.4, 0.4, 0.45):
        tr.end_epoch(e)
    assert tr.gamma == [3, 3]  # next divisors of 12 and 6 after two stale epochs


def test_packed_inference_matches_trainer():
    x, y = _data()
    tr = make_trainer(_cfg("bep", {}))
    tr.fit(x, y, 2)
    assert np.array_equal(tr.logits(x), tr.logits_packed(x))


@pytest.mark.parametrize("alg,kw", ALGS)
def test_model_file_roundtrip_resumes_bit_exact(tmp_path, alg, kw):
    x, y = _data()
    a = make_trainer(_cfg(alg, kw))
    a.fit(x, y, 2)
    path = tmp_path / "m.npz"
    save_model(path, a)
    b = load_model(path)
    a.fit(x, y, 2)
    b.fit(x, y, 2)
    assert all(np.array_equal(p, q) for p, q in zip(a.H, b.H))
    assert np.array_equal(a.predict(x), b.predict(x))


def test_model_file_errors(tmp_path):
    with pytest.raises(HwtrainError, match="no such file"):
        load_model(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(HwtrainError, match="not an hwtrain model"):
        load_model(bad)
    tr = make_trainer(_cfg("cpr", {}))
    p = tmp_path / "m.npz"
    save_model(p, tr)
    import json
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["version"] = 99
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(p, **arrays)
    with pytest.raises(HwtrainError, match="version 99"):
        load_model(p)


def test_bef_classifier_is_more_separated_than_random():
    from hwtrain.golden.train.classifier import bef_classifier, bef_cost, random_classifier
    r = random_classifier(3, 10, 64)
    b = bef_classifier(3, 10, 64, iters=3000)
    assert set(np.unique(b)) <= {-1, 1}
    assert bef_cost(b, 1.0) < bef_cost(r, 1.0)
    assert np.array_equal(b, bef_classifier(3, 10, 64, iters=3000))
