"""Dataset loaders and binarizers (on small files the tests write themselves)."""

import gzip
import io
import pickle
import zipfile

import numpy as np
import pytest

from hwtrain.data import (MedianBinarizer, ThermometerBinarizer, last_window, load_digits, load_idx_dir,
                          load_mnist_pkl, load_ucr, random_prototypes, read_idx)
from hwtrain.errors import HwtrainError
from hwtrain.core import prng


def test_random_prototypes_matches_its_prng_spec():
    d = random_prototypes(n_train=30, n_test=10, k=16, classes=3, p=0.25, seed=4)
    assert d.x_train.shape == (30, 16) and d.x_test.shape == (10, 16)
    x = np.concatenate([d.x_train, d.x_test])
    y = np.concatenate([d.y_train, d.y_test])
    g = prng.Xorshift32(prng.stream_seed(4, 7), 16)
    protos = np.where(g.draws(3) >> np.uint32(31), 1, -1)
    # rebuild the candidates in order, skipping duplicates
    flips = g.draws(d.info["candidates"]).astype(np.uint64) < prng.threshold(0.25)
    labels = np.arange(d.info["candidates"]) % 3
    cand = np.where(flips, -protos[labels], protos[labels])
    seen, rows, labs = set(), [], []
    for r, l in zip(cand, labels):
        if r.tobytes() not in seen and len(rows) < 40:
            seen.add(r.tobytes())
            rows.append(r)
            labs.append(l)
    assert np.array_equal(x, np.array(rows)) and np.array_equal(y, labs)
    assert len({r.tobytes() for r in x}) == 40  # no duplicates across train and test


def test_random_prototypes_discards_duplicates():
    d = random_prototypes(n_train=5, n_test=3, k=3, classes=2, p=0.5, seed=1)  # all 8 patterns
    x = np.concatenate([d.x_train, d.x_test])
    assert len({r.tobytes() for r in x}) == 8
    with pytest.raises(HwtrainError, match="more unique samples"):
        random_prototypes(n_train=9, n_test=0, k=3, classes=2, p=0.5)
    with pytest.raises(HwtrainError, match="could not draw"):
        random_prototypes(n_train=3, n_test=0, k=3, classes=2, p=0.0)  # only the 2 prototypes exist


def test_thermometer_and_median():
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    t = ThermometerBinarizer(bits=3, mode="uniform").fit(x)
    assert t.thresholds.tolist() == [[1.0, 2.0, 3.0]]
    assert t.transform(np.array([[0.5], [2.5], [9.0]])).tolist() == [[-1, -1, -1], [1, 1, -1], [1, 1, 1]]
    seq = np.random.default_rng(0).normal(size=(5, 7, 2))
    assert ThermometerBinarizer(4).fit_transform(seq).shape == (5, 7, 8)
    m = MedianBinarizer().fit(np.array([[1, 10], [2, 20], [3, 30]]))
    assert m.transform(np.array([[2, 25], [3, 5]])).tolist() == [[-1, 1], [1, -1]]
    with pytest.raises(HwtrainError, match="before fit"):
        MedianBinarizer().transform(x)
    with pytest.raises(HwtrainError, match="NaN"):
        MedianBinarizer().fit(np.array([[np.nan]]))


def _idx(arr, dtype_code=0x08):
    head = bytes([0, 0, dtype_code, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def test_idx_directory(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6), ("t10k", 4)):
        imgs = rng.integers(0, 256, (n, 3, 2))
        (tmp_path / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(imgs)))
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(np.arange(n) % 10))
    d = load_idx_dir(tmp_path)
    assert d.x_train.shape == (6, 6) and d.x_test.shape == (4, 6)
    assert d.y_train.tolist() == [0, 1, 2, 3, 4, 5]
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.arange(3)))
    with pytest.raises(HwtrainError, match="4 t10k images but"):
        load_idx_dir(tmp_path)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(HwtrainError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    with pytest.raises(HwtrainError, match="does not exist"):
        load_idx_dir(tmp_path / "nowhere")


def test_mnist_pickle_and_wheel(tmp_path):
    parts = tuple((np.random.default_rng(i).random((n, 4)).astype(np.float32), np.arange(n) % 10)
                  for i, n in enumerate((5, 2, 3)))
    raw = gzip.compress(pickle.dumps(parts))
    (tmp_path / "mnist.pkl.gz").write_bytes(raw)
    d = load_mnist_pkl(tmp_path / "mnist.pkl.gz")
    assert d.x_train.shape == (5, 4) and d.x_test.shape == (3, 4)
    assert load_mnist_pkl(tmp_path / "mnist.pkl.gz", merge_validation=True).x_train.shape == (7, 4)
    with zipfile.ZipFile(tmp_path / "w.whl", "w") as z:
        z.writestr("mnist/data/mnist.pkl.gz", raw)
    assert np.array_equal(load_mnist_pkl(tmp_path / "w.whl").y_test, d.y_test)
    (tmp_path / "evil.pkl.gz").write_bytes(gzip.compress(pickle.dumps(io.StringIO("x"))))
    with pytest.raises(HwtrainError, match="refusing"):
        load_mnist_pkl(tmp_path / "evil.pkl.gz")


TS = """# comment
@problemName Toy
@univariate false
@classLabel true a b
@data
1,2,3:4,5,6:a
1,2:3,4:b
7,8,9:1,1,1:b
"""


def test_ucr_ts_directory_and_wheel(tmp_path):
    for split in ("TRAIN", "TEST"):
        (tmp_path / f"Toy_{split}.ts").write_text(TS)
    d = load_ucr("Toy", tmp_path)
    assert d.classes == 2 and d.y_train.tolist() == [0, 1, 1]
    assert d.x_train[0].shape == (2, 3)
    w = last_window(d.x_train, 3)
    assert w.shape == (3, 3, 2)
    assert w[1].tolist() == [[1, 3], [1, 3], [2, 4]]  # short series padded with its first step
    with zipfile.ZipFile(tmp_path / "aeon.whl", "w") as z:
        for split in ("TRAIN", "TEST"):
            z.writestr(f"aeon/datasets/data/Toy/Toy_{split}.ts", TS)
    assert load_ucr("Toy", tmp_path / "aeon.whl").y_test.tolist() == [0, 1, 1]
    with pytest.raises(HwtrainError, match="cannot find Other_TRAIN.ts"):
        load_ucr("Other", tmp_path)
    (tmp_path / "Bad_TRAIN.ts").write_text("@data\n1,2:3:a\n")
    (tmp_path / "Bad_TEST.ts").write_text(TS)
    with pytest.raises(HwtrainError, match="different lengths"):
        load_ucr("Bad", tmp_path)


def test_digits():
    pytest.importorskip("sklearn")
    d = load_digits()
    assert d.x_train.shape == (1438, 64) and d.classes == 10
