"""Relaxed-network trainer: relaxation, gradients, resampling, discretization, digits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwtrain.data import load_digits
from hwtrain.errors import HwtrainError
from hwtrain.golden.logic import LogicNetwork
from hwtrain.logic.netlist import Thermometer, gate_value
from hwtrain.logic.train import RELAX, FixedPairLayer, LogicTrainConfig, LogicTrainer, RelaxedLayer, shift_images


def test_relaxation_is_exact_on_booleans():
    for op, (a, b) in itertools.product(range(16), itertools.product((0, 1), repeat=2)):
        c = RELAX[op]
        assert c[0] + c[1] * a + c[2] * b + c[3] * a * b == gate_value(op, a, b)


def check_gradients(layer, x, gy, weights, inputs, eps=1e-6):
    """``layer.gw`` at the (neuron, column) pairs ``weights`` and the input gradient at the
    (sample, input) pairs ``inputs`` against central differences of ``sum(y * gy)``."""
    layer.w = layer.w.astype(np.float64)
    loss = lambda: float((layer.forward(x, False) * gy).sum())
    layer.forward(x, True)
    gx = layer.backward(gy.astype(np.float64), need_input_grad=True)
    for arr, points, grad in ((layer.w, weights, layer.gw), (x, inputs, gx)):
        for idx in points:
            arr[idx] += eps
            up = loss()
            arr[idx] -= 2 * eps
            down = loss()
            arr[idx] += eps
            assert grad[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-7)


def test_layer_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    layer = RelaxedLayer(5, 6, LogicTrainConfig(widths=(6,), candidates=16), rng)
    check_gradients(layer, rng.random((4, 5)), rng.standard_normal((4, 6)),
                    [(0, 0), (2, 5), (5, 15)], [(0, 0), (3, 4), (1, 2)])


def test_init_covers_every_input_in_each_candidate_column():
    cfg = LogicTrainConfig(widths=(50,))
    layer = RelaxedLayer(30, 50, cfg, np.random.default_rng(1))
    assert (layer.ops[0] == np.arange(16)).all()
    for k in range(16):
        used = np.union1d(layer.ia[:, k], layer.ib[:, k])
        assert used.size == 30


@pytest.fixture(scope="module")
def digits_bits():
    d = load_digits()
    enc = Thermometer.uniform(64, 3, 5, 0, 16)
    bits = lambda x: (x.astype(np.int64)[:, :, None] > enc.thresholds[None]).reshape(len(x), -1)
    return d, enc, bits(d.x_train), bits(d.x_test)


def test_trains_digits_and_exports_a_netlist_the_golden_model_agrees_with(digits_bits):
    d, enc, bt, bs = digits_bits
    cfg = LogicTrainConfig(widths=(300, 300), tau=6.0, steps=200, batch=64, eval_every=50, patience=20,
                           stable_eps=1e-2)
    res = LogicTrainer(enc.bits, 10, cfg, enc).fit(bt, d.y_train, bs, d.y_test)
    assert res.best_val > 0.6             # chance is 0.1
    acc = LogicNetwork(res.netlist).accuracy(d.x_test.astype(np.int64), d.y_test)
    assert acc == res.best_val            # discrete accuracy is the evaluator's, raw features in
    assert sum(v[0] + v[1] for v in res.resampled.values()) > 0
    losses = [h["loss"] for h in res.history]
    assert losses[-1] < losses[0]


def test_progressive_discretization_freezes_the_first_layer(digits_bits):
    d, enc, bt, bs = digits_bits
    cfg = LogicTrainConfig(widths=(120, 120), tau=4.0, steps=120, batch=32, eval_every=60, patience=10,
                           stable_eps=1e-2, discretize_layers=1, resample=False)
    tr = LogicTrainer(enc.bits, 10, cfg, enc)
    w0 = None
    res = tr.fit(bt, d.y_train, bs, d.y_test)
    assert 0 in res.discretized_at and tr.layers[0].frozen
    w0 = tr.layers[0].w.copy()
    tr.train_step(bt[:32].astype(np.float32), d.y_train[:32])
    assert (tr.layers[0].w == w0).all()   # a frozen layer no longer trains


def test_bad_config():
    with pytest.raises(HwtrainError, match="equal GroupSum groups"):
        LogicTrainer(10, 3, LogicTrainConfig(widths=(20, 10)))
    with pytest.raises(HwtrainError, match="widths"):
        LogicTrainConfig(widths=(0,))


def test_reduceat_fallback_equals_sparse_scatter():
    cfg = LogicTrainConfig(widths=(40,))
    layer = RelaxedLayer(25, 40, cfg, np.random.default_rng(3))
    g = np.random.default_rng(4).standard_normal((7, 40 * 16)).astype(np.float32)
    plan = layer._reduce_plan(layer.ia.ravel())
    want = np.zeros((7, 25))
    np.add.at(want.T, layer.ia.ravel(), g.T)
    assert np.allclose(layer._gather_sum(plan, g), want, atol=1e-4)
    sparse = pytest.importorskip("scipy.sparse")
    assert np.allclose(layer._gather_sum(layer._scatter()[0], g), want, atol=1e-4)


# ---------------------------------------------------------------- connections="fixed" (difflogic)

def test_fixed_mixture_is_exact_on_booleans():
    """A one-hot softmax makes the mixed coefficients one gate's relaxation: exact on {0, 1}."""
    cfg = LogicTrainConfig(widths=(16,), connections="fixed")
    layer = FixedPairLayer(2, 16, cfg, np.random.default_rng(0))
    layer.ia[:, 0], layer.ib[:, 0] = 0, 1
    layer.w = np.where(np.eye(16, dtype=bool), 0.0, -1e4)   # neuron k = function k (exp underflows to 0)
    x = np.array(list(itertools.product((0, 1), repeat=2)), dtype=np.float64)
    y = layer.forward(x, False)
    want = np.array([[gate_value(op, a, b) for op in range(16)] for a, b in x.astype(int)])
    assert (y == want).all()


def test_fixed_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    layer = FixedPairLayer(5, 7, LogicTrainConfig(widths=(7,), connections="fixed"), rng)
    check_gradients(layer, rng.random((6, 5)), rng.standard_normal((6, 7)),
                    [(0, 0), (3, 9), (6, 15), (2, 6)], [(0, 0), (5, 4), (2, 2), (3, 1)])


def test_fixed_equals_learned_mode_with_one_pair_per_neuron():
    """The collapsed mixture equals the learned-mode sum over 16 candidates sharing one pair."""
    rng = np.random.default_rng(5)
    fixed = FixedPairLayer(9, 11, LogicTrainConfig(widths=(11,), connections="fixed"), rng)
    learned = RelaxedLayer(9, 11, LogicTrainConfig(widths=(11,)), rng)
    learned.ia[:], learned.ib[:] = fixed.ia, fixed.ib
    learned.w = fixed.w.copy()
    x = rng.random((5, 9)).astype(np.float32)
    assert np.allclose(fixed.forward(x, False), learned.forward(x, False), atol=1e-5)


def test_fixed_mode_trains_digits(digits_bits):
    d, enc, bt, bs = digits_bits
    cfg = LogicTrainConfig(widths=(600, 600), tau=6.0, steps=200, batch=64, eval_every=50, lr=0.05,
                           connections="fixed")
    tr = LogicTrainer(enc.bits, 10, cfg, enc)
    assert all(isinstance(l, FixedPairLayer) for l in tr.layers)
    res = tr.fit(bt, d.y_train, bs, d.y_test)
    assert res.best_val > 0.5             # chance is 0.1
    assert LogicNetwork(res.netlist).accuracy(d.x_test.astype(np.int64), d.y_test) == res.best_val
    assert res.resampled == {0: [0, 0], 1: [0, 0]}
    with pytest.raises(HwtrainError, match="connections"):
        LogicTrainConfig(connections="random")


def test_logic_train_config_from_json_with_clear_errors():
    """LogicTrainConfig is on the shared configuration base: JSON round trip, one-line errors."""
    from hwtrain.errors import HwtrainError
    from hwtrain.logic.train import LogicTrainConfig
    cfg = LogicTrainConfig.from_dict({"widths": [30, 20], "tau": 3, "connections": "fixed"})
    assert cfg.widths == (30, 20) and LogicTrainConfig.from_json(cfg.to_json()) == cfg
    for bad, message in (({"widths": [30], "taus": 3}, r"unknown LogicTrainConfig keys \['taus'\]"),
                         ({"widths": "30,20"}, "widths must be a list of positive integers, got '30,20'"),
                         ({"widths": [30, 2.5]}, "field widths must be a list of integers"),
                         ({"lr": "fast"}, "field lr must be a number, got 'fast'"),
                         ({"resample": 1}, "field resample must be true or false"),
                         ({"lr": 0}, "lr must be positive"),
                         ({"connections": "dense"}, "connections must be 'learned', 'fixed' or 'local'")):
        with pytest.raises(HwtrainError, match=message):
            LogicTrainConfig.from_dict(bad)


# ---------------------------------------------------------------- connections="local" (issue 20)

def _local_trainer(widths=(300, 200, 100), window=2, seed=0, levels=3, image_shape=(8, 8), features=64):
    enc = Thermometer.uniform(features, levels, 5, 0, 16)
    cfg = LogicTrainConfig(widths=widths, connections="local", window=window, seed=seed,
                           image_shape=image_shape)
    return LogicTrainer(enc.bits, 10, cfg, enc), enc


def _check_windows(tr, levels, width):
    """Every gate's two inputs lie within the window around the gate (all gates, all layers)."""
    prev = np.arange(tr.inputs) // levels               # an input bit's cell is its feature's pixel
    reach = []
    for layer, r in zip(tr.layers, tr.cfg.radii):
        assert isinstance(layer, FixedPairLayer)
        gy, gx = np.divmod(layer.cell, width)
        d = 0
        for idx in (layer.ia[:, 0], layer.ib[:, 0]):
            py, px = np.divmod(prev[idx], width)
            d = max(d, np.abs(py - gy).max(), np.abs(px - gx).max())
        assert d <= r
        reach.append(int(d))
        prev = layer.cell
    return reach


@pytest.mark.parametrize("window", [1, 2, 3])
def test_local_pairs_lie_within_the_window(window):
    tr, enc = _local_trainer(window=window)
    _check_windows(tr, 3, 8)
    # gates spread over all 64 positions, hidden layers sorted by position (raster index order)
    for layer in tr.layers:
        assert np.unique(layer.cell).size == 64
    assert all((np.diff(layer.cell) >= 0).all() for layer in tr.layers[:-1])
    # every class group of the last layer covers the whole image
    groups = tr.layers[-1].cell.reshape(10, -1)
    assert all(g.min() <= 6 and g.max() >= 57 for g in groups)
    # covering: every input bit and every gate of a hidden layer is read
    for layer in tr.layers[:-1]:
        assert np.union1d(layer.ia, layer.ib).size == layer.n_in
    # the window is not trivially narrow: some pair reaches the window's edge
    prev = np.arange(tr.inputs) // 3
    d = np.abs(np.divmod(prev[tr.layers[0].ia[:, 0]], 8)[1] - np.divmod(tr.layers[0].cell, 8)[1])
    assert d.max() == window


def test_a_window_per_layer():
    """window=(3, 1, 2): each layer's pairs lie within its own radius and reach it."""
    tr, _ = _local_trainer(widths=(300, 200, 100), window=(3, 1, 2))
    assert tr.cfg.radii == (3, 1, 2)
    assert _check_windows(tr, 3, 8) == [3, 1, 2]
    assert LogicTrainConfig(widths=(5, 5), window=[4, 2]).window == (4, 2)       # from JSON: a list
    assert LogicTrainConfig(widths=(5, 5), window=3).radii == (3, 3)


def test_local_without_image_shape_is_a_1d_window_and_28x28_works():
    tr, _ = _local_trainer(image_shape=(), window=2)
    _check_windows(tr, 3, 64)                           # a (1, 64) image: |d feature| <= 2
    enc = Thermometer(np.full((784, 1), 127), 8)
    cfg = LogicTrainConfig(widths=(2000, 1000), connections="local", window=3, image_shape=(28, 28))
    tr = LogicTrainer(784, 10, cfg, enc)
    _check_windows(tr, 1, 28)


def test_local_connections_are_reproducible_by_seed():
    a, _ = _local_trainer(seed=7)
    b, _ = _local_trainer(seed=7)
    c, _ = _local_trainer(seed=8)
    for la, lb in zip(a.layers, b.layers):
        assert (la.ia == lb.ia).all() and (la.ib == lb.ib).all() and (la.w == lb.w).all()
    assert any((la.ia != lc.ia).any() for la, lc in zip(a.layers, c.layers))


def test_local_mode_trains_digits(digits_bits):
    d, enc, bt, bs = digits_bits
    cfg = LogicTrainConfig(widths=(600, 600), tau=6.0, steps=200, batch=64, eval_every=50, lr=0.05,
                           connections="local", window=2, image_shape=(8, 8))
    tr = LogicTrainer(enc.bits, 10, cfg, enc)
    res = tr.fit(bt, d.y_train, bs, d.y_test)
    assert res.best_val > 0.5             # chance is 0.1
    assert LogicNetwork(res.netlist).accuracy(d.x_test.astype(np.int64), d.y_test) == res.best_val


def test_local_bad_config():
    for bad, message in (({"window": 0}, "window must be a positive integer"),
                         ({"window": -2}, "window must be a positive integer"),
                         ({"window": [2, 0]}, "window must be a positive integer"),
                         ({"window": "2"}, "window must be a positive integer or one per layer"),
                         ({"window": [2, 2, 2]}, "window: 3 radii for 2 layers"),
                         ({"image_shape": [28]}, r"image_shape must be \(H, W\)"),
                         ({"image_shape": [28, 0]}, r"image_shape must be \(H, W\)")):
        with pytest.raises(HwtrainError, match=message):
            LogicTrainConfig.from_dict({"connections": "local", **bad})
    with pytest.raises(HwtrainError, match="image_shape 28x28 does not match 64 features"):
        _local_trainer(image_shape=(28, 28))
    with pytest.raises(HwtrainError, match="no node of the previous layer lies within window 1"):
        _local_trainer(widths=(300, 10, 100), window=1)    # 10 gates cannot fill a 3x3 window everywhere


def test_shift_images_translates_each_image_and_fills_zeros():
    """Against a loop over pixels: row r's pixel (i, j) is the input's (i + dy - 1, j + dx - 1), else 0."""
    h, w, levels, s = 3, 4, 2, 40
    x = np.arange(1, s * h * w * levels + 1, dtype=np.float32).reshape(s, -1)
    out = shift_images(x, (h, w), 1, np.random.default_rng(5))
    dy, dx = np.random.default_rng(5).integers(0, 3, (2, s))
    want = np.zeros((s, h, w, levels), np.float32)
    img = x.reshape(s, h, w, levels)
    for r in range(s):
        for i in range(h):
            for j in range(w):
                si, sj = i + dy[r] - 1, j + dx[r] - 1
                if 0 <= si < h and 0 <= sj < w:
                    want[r, i, j] = img[r, si, sj]
    assert (out == want.reshape(s, -1)).all()
    assert {(a, b) for a, b in zip(dy, dx)} == set(itertools.product(range(3), repeat=2))  # all 9 moves drawn


def test_shift_trains_digits_and_leaves_validation_alone(digits_bits):
    d, enc, bt, bs = digits_bits
    cfg = LogicTrainConfig(widths=(600, 600), tau=6.0, steps=100, batch=64, eval_every=50, lr=0.05,
                           connections="local", window=2, image_shape=(8, 8), shift=1)
    tr = LogicTrainer(enc.bits, 10, cfg, enc)
    res = tr.fit(bt, d.y_train, bs, d.y_test)
    assert res.best_val > 0.5             # chance is 0.1
    assert LogicNetwork(res.netlist).accuracy(d.x_test.astype(np.int64), d.y_test) == res.best_val


def test_shift_bad_config(digits_bits):
    d, enc, bt, bs = digits_bits
    for bad, message in (({"shift": -1}, "shift must be a non-negative integer"),
                         ({"shift": True}, "shift must be an? "),
                         ({"shift": 1}, r"needs an image_shape \(H, W\)")):
        with pytest.raises(HwtrainError, match=message):
            LogicTrainConfig.from_dict({"connections": "fixed", **bad})
    cfg = LogicTrainConfig(widths=(20,), steps=1, connections="fixed", image_shape=(5, 5), shift=1)
    with pytest.raises(HwtrainError, match="not a whole number of bits per pixel of the 5x5 image"):
        LogicTrainer(enc.bits, 10, cfg, enc).fit(bt, d.y_train)


def test_cli_logic_train_shift(tmp_path, capsys):
    """`hwtrain logic train --shift 1` trains on translated images and says what was wrong otherwise."""
    import json

    from hwtrain.cli import main
    out = tmp_path / "n.npz"
    assert main(["logic", "train", "--dataset", "digits", "--widths", "200,100", "--levels", "2", "--steps", "20",
                 "--connections", "local", "--window", "1", "--shift", "1", "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["gates"] == 300 and out.exists()
    assert main(["logic", "train", "--shift", "-1", "-o", str(out)]) == 2
    assert "argument --shift: must be >= 0, got -1" in capsys.readouterr().err


def test_cli_logic_train_local_connections(tmp_path, capsys):
    """`hwtrain logic train --connections local` windows the pairs on the dataset's image (digits: 8 x 8)."""
    import json

    from hwtrain.cli import main
    from hwtrain.logic.netlist import Netlist
    out = tmp_path / "n.npz"
    assert main(["logic", "train", "--dataset", "digits", "--widths", "200,100", "--levels", "2", "--steps", "20",
                 "--connections", "local", "--window", "1", "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["gates"] == 300
    nl = Netlist.load(str(out))
    first = nl.layers[0]
    pix = lambda node: np.divmod(np.asarray(node) // 2, 8)        # input bit -> (row, col) of its pixel
    cell = np.arange(200) * 64 // 200                                 # layer-1 gate positions
    for node in (first.a, first.b):
        assert np.abs(np.stack(pix(node)) - np.stack(np.divmod(cell, 8))).max() <= 1


# ---- LUT nodes (lut = k)

def test_lut_nodes_are_exact_on_booleans_when_tables_saturate():
    """With saturated entries the multilinear relaxation is the LUT: the exported tables' values."""
    from hwtrain.logic.netlist import lut_value
    from hwtrain.logic.train import LutNodeLayer
    rng = np.random.default_rng(0)
    for k in (2, 3, 4):
        layer = LutNodeLayer(k, 9, LogicTrainConfig(widths=(9,), connections="fixed", lut=k), rng,
                             np.tile(np.arange(k), (9, 1)))
        layer.w = np.where(rng.random(layer.w.shape) < 0.5, -60.0, 60.0).astype(np.float32)
        x = np.array(list(itertools.product((0, 1), repeat=k)), dtype=np.float32)
        want = [[lut_value(t, row) for t in layer.tables().tolist()] for row in x.astype(int)]
        assert np.abs(layer.forward(x, False) - np.array(want)).max() < 1e-20     # sigmoid(60) = 1 - 9e-27


def test_lut_node_gradients_match_finite_differences():
    from hwtrain.logic.train import LutNodeLayer
    rng = np.random.default_rng(3)
    layer = LutNodeLayer(6, 5, LogicTrainConfig(widths=(5,), connections="fixed", lut=4), rng,
                         rng.integers(0, 6, (5, 4)))
    check_gradients(layer, rng.random((4, 6)), rng.standard_normal((4, 5)),
                    [(0, 0), (2, 9), (4, 15), (1, 6)], [(0, 0), (3, 5), (2, 2), (1, 4)])


@pytest.mark.parametrize("connections", ["fixed", "local"])
def test_lut_nodes_train_digits(digits_bits, connections):
    d, enc, bt, bs = digits_bits
    cfg = LogicTrainConfig(widths=(200, 200), tau=6.0, steps=150, batch=64, eval_every=50, lr=0.05,
                           connections=connections, window=2, image_shape=(8, 8), lut=4)
    tr = LogicTrainer(enc.bits, 10, cfg, enc)
    res = tr.fit(bt, d.y_train, bs, d.y_test)
    assert res.best_val > 0.6             # chance is 0.1
    nl = res.netlist
    assert nl.has_luts and [l.k for l in nl.layers] == [4, 4] and nl.gates == 400
    assert LogicNetwork(nl).accuracy(d.x_test.astype(np.int64), d.y_test) == res.best_val


def test_lut_bad_config():
    for bad, message in (({"lut": 1}, "lut must be 0"), ({"lut": 7}, "lut must be 0"),
                         ({"lut": 4}, "need connections 'fixed' or 'local'"),
                         ({"lut": 4, "connections": "fixed", "discretize_layers": 1}, "discretize_layers 0")):
        with pytest.raises(HwtrainError, match=message):
            LogicTrainConfig.from_dict(bad)


def test_cli_logic_train_lut_nodes(tmp_path, capsys):
    """`hwtrain logic train --lut 4` exports LUT4 layers; a LUT size with learned connections is refused."""
    import json

    from hwtrain.cli import main
    from hwtrain.logic.netlist import Netlist
    out = tmp_path / "n.json"
    assert main(["logic", "train", "--dataset", "digits", "--widths", "120,60", "--steps", "20", "--lut", "4",
                 "--connections", "local", "--window", "2", "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["gates"] == 180
    nl = Netlist.load(str(out))
    assert [l.k for l in nl.layers] == [4, 4] and json.loads(out.read_text())["version"] == 2
    assert main(["logic", "info", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["ops"] == {"lut4": 180}
    assert main(["logic", "train", "--dataset", "digits", "--widths", "20", "--steps", "2", "--lut", "4",
                 "-o", str(tmp_path / "m.json")]) != 0
    assert "need connections 'fixed' or 'local'" in capsys.readouterr().err
