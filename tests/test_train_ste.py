"""STE trainer (hwtrain.golden.train.ste): learning, the exact fold of batch norm into integer
thresholds (negative scales, ties), the export's proof and its negative controls, the command."""

import itertools

import numpy as np
import pytest

from hwtrain.cli import main
from hwtrain.errors import HwtrainError
from hwtrain.golden.train.ste import SteConfig, SteTrainer, bn_fires, check_export, save_ste
from hwtrain.inference.model import BinaryMLP


def _all_inputs(k: int) -> np.ndarray:
    return np.array(list(itertools.product((-1, 1), repeat=k)), dtype=np.int8)


def test_learns_separable_toy_set():
    rng = np.random.default_rng(0)                   # 4 random +-1 prototypes, 10 % of bits flipped
    protos = np.where(rng.random((4, 20)) < 0.5, 1, -1)
    y = rng.integers(0, 4, 600)
    x = (protos[y] * np.where(rng.random((600, 20)) < 0.1, -1, 1)).astype(np.int8)
    tr = SteTrainer(SteConfig((20, 32), 4, batch=20, lr=0.01, lr_final=0.002, seed=3))
    hist = tr.fit(x[:400], y[:400], 8, x[400:], y[400:])
    assert hist[-1]["test_acc"] >= 0.98           # chance: 0.25
    assert hist[-1]["loss"] < hist[0]["loss"]
    model, _ = tr.fold()
    assert check_export(tr, model, x)["classes_equal"] == 600


def _hand_set(eps=0.0):
    """8-6-5 -> 3 with batch norms chosen by hand: exact ties at z = 2 (s = 2), negative scales,
    zero scales (always / never fires)."""
    tr = SteTrainer(SteConfig((8, 6, 5), 3, eps=eps, seed=5))
    tr.gamma[0] = np.array([1.0, -1.0, 0.5, -3.0, 0.0, 0.0], np.float32)
    tr.beta[0] = np.array([0.0, 0.0, 0.25, -0.5, 0.0, -1e-6], np.float32)
    tr.mean[0] = np.array([2.0, 2.0, -4.0, 0.0, 0.0, 0.0])
    tr.var[0] = np.full(6, 4.0)
    return tr


def test_fold_ties_negative_scales_exhaustive():
    tr = _hand_set()
    model, neg = tr.fold()
    # neuron 0: (z - 2)/2 >= 0 <=> z >= 2 <=> c >= 5 (the tie z = 2 fires)
    # neuron 1: -(z - 2)/2 >= 0 <=> z <= 2 <=> c <= 5: row negated, T = 8 - 5 = 3 (tie fires too)
    # neuron 2: 0.5 (z + 4)/2 + 0.25 >= 0 <=> z >= -5 <=> c >= 2 (z odd never: z even, c >= 2 gives z >= -4)
    # neuron 3: -3 z / 2 - 0.5 >= 0 <=> z <= -1/3 <=> c <= 3: negated, T = 5
    # neuron 4: gamma 0, beta 0: always fires (T = 0); neuron 5: beta < 0: never (T = K + 1 = 9)
    assert model.thresholds[0].tolist() == [5, 3, 2, 5, 0, 9]
    assert neg[0].tolist() == [False, True, False, True, False, False]
    w = np.where(tr.W[0] >= 0, 1, -1)
    assert np.array_equal(model.weights[0][1], -w[1]) and np.array_equal(model.weights[0][0], w[0])
    x = _all_inputs(8)
    r = check_export(tr, model, x)                       # every input of the 8-bit network
    assert r["classes_equal"] == 256 and r["activations_equal"] == 256 * 11
    # the tie itself: an input whose dot product with row 0 is exactly 2 fires neurons 0 and 1
    z = x.astype(np.int64) @ w[:2].T
    tie = np.flatnonzero((z[:, 0] == 2))
    acts, _, _ = tr.forward_int(x[tie])
    assert acts[0][:, 0].all()
    tie1 = np.flatnonzero(z[:, 1] == 2)
    assert tr.forward_int(x[tie1])[0][0][:, 1].all()


def test_fold_random_batch_norms_exhaustive():
    rng = np.random.default_rng(11)
    for seed in range(3):
        tr = SteTrainer(SteConfig((10, 12, 7), 4, seed=seed))
        for l, n in enumerate((12, 7)):
            tr.gamma[l] = rng.normal(0, 1, n).astype(np.float32)          # about half negative
            tr.beta[l] = rng.normal(0, 0.5, n).astype(np.float32)
            tr.mean[l] = rng.normal(0, 2, n)
            tr.var[l] = rng.uniform(0.5, 9, n)
        model, neg = tr.fold()
        assert any(n.any() for n in neg)
        check_export(tr, model, _all_inputs(10))
        # closed form, away from ties: T = ceil((K + mean - beta s / gamma) / 2) for gamma > 0
        k = 10
        s = np.sqrt(tr.var[0] + tr.cfg.eps)
        tau = tr.mean[0] - tr.beta[0].astype(np.float64) * s / tr.gamma[0]
        pos = tr.gamma[0] > 0
        closed = np.clip(np.ceil((k + tau) / 2), 0, k + 1)
        assert np.array_equal(model.thresholds[0][pos], closed[pos])


def test_corrupted_threshold_fails_the_check():
    tr = _hand_set()
    x = _all_inputs(8)
    model, _ = tr.fold()
    t = [a.copy() for a in model.thresholds]
    t[0][0] += 1                                        # 5 -> 6: the tie z = 2 no longer fires
    with pytest.raises(HwtrainError, match="layer 0: .* hidden activations"):
        check_export(tr, BinaryMLP(model.weights, model.classifier, t), x)
    t = [a.copy() for a in model.thresholds]
    t[0][0] -= 1                                        # '>' instead of '>=' the other way
    with pytest.raises(HwtrainError, match="differ"):
        check_export(tr, BinaryMLP(model.weights, model.classifier, t), x)
    w = [a.copy() for a in model.weights]
    w[0][1] = -w[0][1]                                  # the negative scale ignored (row not flipped)
    with pytest.raises(HwtrainError, match="layer 0"):
        check_export(tr, BinaryMLP(w, model.classifier, model.thresholds), x)


def test_model_file_round_trip(tmp_path):
    tr = _hand_set()
    path = tmp_path / "ste.npz"
    save_ste(path, tr, extra={"dataset": "toy"})
    m = BinaryMLP.load(path)
    model, _ = tr.fold()
    assert all(np.array_equal(a, b) for a, b in zip(m.thresholds, model.thresholds))
    assert check_export(tr, m, _all_inputs(8))["classes_equal"] == 256
    from hwtrain.golden.train.model import load_model
    with pytest.raises(HwtrainError, match="STE-trained"):
        load_model(path)


def test_bn_fires_is_sign_with_sign0_plus():
    assert bn_fires(np.array([[1, 2, 3]]), [1, 1, 1], [0, 0, 0], [2, 2, 2], [1, 1, 1], 0).tolist() == \
        [[False, True, True]]


def test_bad_input():
    with pytest.raises(HwtrainError, match="batch norm"):
        SteConfig((8, 4), 2, batch=1)
    with pytest.raises(HwtrainError, match="hidden layer"):
        SteConfig((8,), 2)
    tr = SteTrainer(SteConfig((8, 4), 2))
    with pytest.raises(HwtrainError, match="takes 8"):
        tr.fit(np.ones((10, 9), np.int8), np.zeros(10, np.int64), 1)
    with pytest.raises(HwtrainError, match="binarized"):
        tr.fit(np.full((10, 8), 0.3), np.zeros(10, np.int64), 1)
    with pytest.raises(HwtrainError, match="labels must lie"):
        tr.fit(np.ones((10, 8), np.int8), np.full(10, 2, np.int64), 1)


def test_command(tmp_path, capsys):
    out = tmp_path / "m.npz"
    rp = ["-d", "random_prototypes", "--n-train", "300", "--n-test", "100"]
    assert main(["train", "-a", "ste", *rp, "--hidden", "16", "--epochs", "2", "--batch", "30",
                 "-o", str(out), "--json", str(tmp_path / "h.json")]) == 0
    text = capsys.readouterr().out
    assert "epoch   2" in text and "all 100 test classes" in text
    assert BinaryMLP.load(out).sizes == (1000, 16)
    for bad, msg in ((["--online"], "--online applies"), (["--batch", "1"], "at least 2"),
                     (["--gamma", "5"], "--gamma applies"), (["--batch", "500"], "fewer than --batch"),
                     (["--lr", "0"], "--lr")):
        code = main(["train", "-a", "ste", *rp, "--epochs", "1", "-o", str(tmp_path / "x.npz"), *bad])
        err = capsys.readouterr().err
        assert code == 2 and msg in err and "Traceback" not in err
    assert not (tmp_path / "x.npz").exists()


def test_verify_dataset_samples_needs_dataset(capsys):
    code = main(["verify", "inference", "--sizes", "64,8", "--classes", "10", "--dataset-samples", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "--dataset-samples needs --dataset" in err and "Traceback" not in err


def test_sweep_accuracy_uses_the_models_binarization(tmp_path, capsys, monkeypatch):
    """`hwtrain sweep --dataset` scores the model on the bits it was trained on (here fixed:0.5,
    the STE default, not digits' default median): the golden accuracy equals the trainer's."""
    import json
    from hwtrain.args import percent
    from hwtrain.flows import sweep
    out = tmp_path / "d.npz"
    assert main(["train", "-a", "ste", "-d", "digits", "--hidden", "16", "--epochs", "2", "-q", "-o", str(out),
                 "--json", str(tmp_path / "d.json")]) == 0
    acc = json.loads((tmp_path / "d.json").read_text())["test_acc"]
    monkeypatch.setattr(sweep, "run", lambda *a, **k: ("r", []))
    monkeypatch.setattr(sweep, "table", lambda rows: "")
    monkeypatch.setattr(sweep, "write", lambda *a, **k: [])
    capsys.readouterr()
    main(["sweep", "--model", str(out), "--dataset", "digits", "--out", str(tmp_path / "s")])
    assert f"golden test accuracy on digits: {percent(acc)}" in capsys.readouterr().out
